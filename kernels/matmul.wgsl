//! choose: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K
//! include: step ggml_bytes ggml_numerics dequant8
// Mat-mul for prefill: Y[t, r] = sum_c W[r, c] * X[t, c], i.e. Y = X·Wᵀ for
// n tokens at once (X is n × cols, Y is n × rows, both token-major).
//
// W is stored exactly as for the mat-vec (kernels/matvec.wgsl): raw GGUF
// blocks read from an array<u32> with the same loaders (kept identical by a
// test in src/gpu/matmul.rs), f16 read with unpack2x16float.
//
// Tiling: a workgroup computes a TILE_ROWS × TILE_TOKENS tile of Y. It walks
// K in steps of TILE_K = 32 values (a legacy block, one sub-block of a
// K-quant super-block, 32 floats). Each step, the 256 threads dequantise the
// 64 × 32 slice of W once into workgroup memory (8 values each) and copy the
// 64 × 32 slice of X beside it; then each thread accumulates a 4 × 4 block of
// outputs (4 rows × 4 tokens) in f32 registers, reading both slices as vec4.
// The two slices are 8 KiB each: exactly WebGPU's guaranteed 16 KiB.
// Loops over local arrays have constant trip counts (bounds checks inside),
// so drivers can unroll them and keep the arrays in registers.
//
// The token count is read from the shared Step uniform, so one bind (sized
// for `max_tokens`) serves every prompt length; token tiles past it return.
// No subgroup variant: nothing here is reduced across threads.

struct Params {
    rows: u32,       // rows in this dispatch (one chunk of the matrix)
    cols: u32,       // values per row (a whole number of blocks)
    row_bytes: u32,  // bytes per row
    w_offset: u32,   // byte offset of row 0 in `weights` (even)
    x_offset: u32,   // index of X[0, 0] in `x`
    y_offset: u32,   // index of Y[0, 0] (this dispatch's row 0) in `y`
    y_stride: u32,   // elements between tokens in `y` (the matrix's rows)
    max_tokens: u32, // tokens the buffers were bound for
}

// Shared by the per-step kernels; only n_tokens is used here.

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<uniform> step: Step;

const TILE_ROWS: u32 = 64u;
const TILE_TOKENS: u32 = 64u;
const TILE_K: u32 = 32u;

// K-major slices: w_tile[k * 16 + i] holds rows 4i..4i+4 at column k of the
// step, x_tile[k * 16 + i] tokens 4i..4i+4; a thread reads one vec4 of each.
var<workgroup> w_tile: array<vec4<f32>, 512>; // TILE_K * TILE_ROWS / 4
var<workgroup> x_tile: array<vec4<f32>, 512>; // TILE_K * TILE_TOKENS / 4

// Loaders: little-endian values at a byte offset into `weights`
// (kernels/lib/ggml_bytes.wgsl).

// ---- The kernel.

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = min(step.n_tokens, params.max_tokens);
    // Row tiles beyond 65535 spill into z (see gpu::workgroup_grid).
    let row0 = (wid.x + wid.z * groups.x) * TILE_ROWS;
    let tok0 = wid.y * TILE_TOKENS;
    // Uniform across the workgroup, so returning keeps barriers uniform.
    if (row0 >= params.rows || tok0 >= n) {
        return;
    }

    // Loading: thread lid fills row (and token) lid / 4 of the tiles, values
    // 8p..8p+8 of the step's 32 with p = lid % 4.
    let lane = lid / 4u;
    let p = lid % 4u;
    let w_row = row0 + lane;
    let row_start = params.w_offset + w_row * params.row_bytes;
    let x_tok = tok0 + lane;
    let x_start = params.x_offset + x_tok * params.cols;
    let store = lane / 4u;
    let comp = lane % 4u;

    // Computing: thread lid owns rows 4(lid % 16).. and tokens 4(lid / 16)..;
    // acc[j] holds the 4 rows of token j.
    let tr = lid % 16u;
    let tt = lid / 16u;
    var acc = array<vec4<f32>, 4>();

    let units = (params.cols + TILE_K - 1u) / TILE_K;
    for (var u = 0u; u < units; u++) {
        var w = array<f32, 8>();
        if (w_row < params.rows) {
            w = dequant8(row_start, u, p);
        }
        var xs = array<f32, 8>();
        let first = u * TILE_K + 8u * p;
        if (x_tok < n) {
            for (var i = 0u; i < 8u; i++) {
                if (first + i < params.cols) {
                    xs[i] = x[x_start + first + i];
                }
            }
        }
        for (var i = 0u; i < 8u; i++) {
            let at = (8u * p + i) * 16u + store;
            w_tile[at][comp] = w[i];
            x_tile[at][comp] = xs[i];
        }
        workgroupBarrier();
        for (var k = 0u; k < TILE_K; k++) {
            let a = w_tile[k * 16u + tr];
            let t = x_tile[k * 16u + tt];
            acc[0] += a * t.x;
            acc[1] += a * t.y;
            acc[2] += a * t.z;
            acc[3] += a * t.w;
        }
        workgroupBarrier();
    }

    let r = row0 + 4u * tr;
    for (var j = 0u; j < 4u; j++) {
        let t = tok0 + 4u * tt + j;
        if (t < n) {
            let out = params.y_offset + t * params.y_stride + r;
            for (var i = 0u; i < 4u; i++) {
                if (r + i < params.rows) {
                    y[out + i] = acc[j][i];
                }
            }
        }
    }
}
