//! choose: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K
//! flags: HALF NARROW ACCUMULATE BIAS COOP
//! include: step ggml_bytes ggml_numerics dequant8
// The `fast` prefill mat-mul: Y[t, r] = sum_c W[r, c] * X[t, c] (Y = X·Wᵀ)
// for n tokens, X and Y token-major f32 rows, W raw GGUF blocks.
//
// Tiling: a workgroup computes a TILE_ROWS × 64-token tile of Y (128 rows
// with 256 threads; NARROW: 64 rows with 128 threads, for matrices whose
// wide tiles would leave the GPU idle), each thread 8 rows × 4 tokens (32
// f32 accumulators). K is walked STEP_K values at a time: the threads
// dequantise the TILE_ROWS × STEP_K slice of W into workgroup memory (8
// values per `dequant8`, from kernels/lib/dequant8.wgsl, which
// kernels/matmul.wgsl includes too) and copy the 64 × STEP_K
// slice of X beside it with vec4 loads.
//
// HALF (adapters with shader-f16): the tiles hold f16, STEP_K is 32 (64
// with COOP), and each step's products per output are summed in f16
// before joining the f32 accumulator; inputs must stay within f16 range. Without HALF the
// tiles and sums are f32 and STEP_K is 16 (12 KiB of workgroup memory at
// most, under WebGPU's guaranteed 16 KiB).
//
// COOP (with HALF; native Vulkan adapters with cooperative matrices of
// 16×16×16 f16 → f32 and 32-wide subgroups): the same tiles, stored row by
// row, multiplied by the tensor cores: each subgroup owns a 32-row ×
// 32-token block of the tile as four 16×16 f32 accumulators, and the
// result goes through workgroup memory to the epilogue. Products are
// summed in f32 (no f16 partial sums).
//
// ACCUMULATE adds the result to Y (a residual); BIAS adds bias[r].
// The token count is read from the shared Step uniform (capped at
// max_tokens): one bind serves every prompt length.

#if COOP
enable wgpu_cooperative_matrix;
#endif
#if HALF
enable f16;
alias T = f16;
#if COOP
// Twice the values per step: half the barriers, twice the loads in flight.
const STEP_K: u32 = 64u;
#else
const STEP_K: u32 = 32u;
#endif
#else
alias T = f32;
const STEP_K: u32 = 16u;
#endif
#if NARROW
const TILE_ROWS: u32 = 64u;
#else
const TILE_ROWS: u32 = 128u;
#endif
const TILE_TOKENS: u32 = 64u;
const TILE_K: u32 = 32u; // values per dequantisation unit (dequant8's u)
const WG: u32 = 2u * TILE_ROWS;
const ROW_THREADS: u32 = TILE_ROWS / 8u; // threads side by side along rows
const ROW_VECS: u32 = TILE_ROWS / 4u;    // vec4s per k in w_tile
const W_PARTS: u32 = STEP_K / 16u;       // dequant8 calls per thread and step
const X_VECS: u32 = TILE_TOKENS * STEP_K / (4u * WG); // vec4s of X per thread and step

struct Params {
    rows: u32,        // rows in this dispatch (one chunk of the matrix)
    cols: u32,        // values per row (a multiple of 4)
    row_bytes: u32,   // bytes per row
    w_offset: u32,    // byte offset of row 0 in `weights` (even)
    x_offset: u32,    // vec4 index of X[0, 0] in `x`
    x_stride: u32,    // vec4s between tokens in `x`
    y_offset: u32,    // index of Y[0, 0] (this dispatch's row 0) in `y`
    y_stride: u32,    // elements between tokens in `y`
    max_tokens: u32,  // tokens the buffers were bound for
    bias_offset: u32, // index of this dispatch's row 0 in `bias`
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<uniform> step: Step;
#if BIAS
@group(0) @binding(5) var<storage, read> bias: array<f32>;
#endif

#if COOP
// Row-major slices padded by 8 values (16 bytes: rows stay 16-byte
// aligned for the cooperative loads; STEP_K is 64 here): w_tile[r * TILE_STRIDE + k] is row
// r at column k of the step, x_tile[t * TILE_STRIDE + k] token t. The
// result tile is token-major: out_tile[t * OUT_STRIDE + r].
const TILE_STRIDE: u32 = STEP_K + 8u;
const OUT_STRIDE: u32 = TILE_ROWS + 4u;
var<workgroup> w_tile: array<T, TILE_ROWS * TILE_STRIDE>;
var<workgroup> x_tile: array<T, TILE_TOKENS * TILE_STRIDE>;
var<workgroup> out_tile: array<f32, TILE_TOKENS * OUT_STRIDE>;
#else
// K-major slices: w_tile[k * ROW_VECS + i] holds rows 4i..4i+4 at column k
// of the step, x_tile[k * 16 + i] tokens 4i..4i+4.
var<workgroup> w_tile: array<vec4<T>, STEP_K * TILE_ROWS / 4u>;
var<workgroup> x_tile: array<vec4<T>, STEP_K * TILE_TOKENS / 4u>;
#endif

// ---- The kernel.

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = min(step.n_tokens, params.max_tokens);
    // Row tiles beyond 65535 spill into z (see gpu::workgroup_grid).
    let row0 = (wid.x + wid.z * groups.x) * TILE_ROWS;
    let tok0 = wid.y * TILE_TOKENS;
    let idle = row0 >= params.rows || tok0 >= n;
#if COOP
    // naga wants cooperative operations after no return at all: an idle
    // workgroup walks no steps and writes nothing instead.
#else
    // Uniform across the workgroup, so returning keeps barriers uniform.
    if (idle) {
        return;
    }
#endif

    // Loading W: thread lid fills tile row lid / 2 with the step's values
    // 8 W_PARTS h.. (W_PARTS runs of 8), h = lid % 2.
    let w_lane = lid / 2u;
    let h = lid % 2u;
    let w_row = row0 + w_lane;
    let row_start = params.w_offset + w_row * params.row_bytes;

    // Computing: thread lid owns rows 4 tr.. and TILE_ROWS / 2 + 4 tr..
    // (neighbouring threads read neighbouring vec4s: no bank conflicts),
    // tokens 4 tt..; acc[2j + i] holds row group i of token j.
    let tr = lid % ROW_THREADS;
    let tt = lid / ROW_THREADS;
    var acc = array<vec4<f32>, 8>();
#if COOP
    // Subgroup s (32 threads) owns rows sr.. and tokens st.. of the tile.
    let sub = lid / 32u;
    let sr = (sub % (TILE_ROWS / 32u)) * 32u;
    let st = (sub / (TILE_ROWS / 32u)) * 32u;
    // Workgroup memory starts zeroed: the accumulators start from it.
    var c00 = coopLoad<coop_mat16x16<f32, C>>(&out_tile[0], OUT_STRIDE);
    var c01 = c00;
    var c10 = c00;
    var c11 = c00;
    workgroupBarrier();
#endif

    let steps = select((params.cols + STEP_K - 1u) / STEP_K, 0u, idle);
    for (var s = 0u; s < steps; s++) {
        for (var part = 0u; part < W_PARTS; part++) {
            let k0 = 8u * (W_PARTS * h + part);
            let value = s * STEP_K + k0;
            var w = array<f32, 8>();
            // Past `cols` (a step longer than the row's last block) stays 0.
            if (w_row < params.rows && value < params.cols) {
                w = dequant8(row_start, value / TILE_K, (value % TILE_K) / 8u);
            }
            for (var i = 0u; i < 8u; i++) {
#if COOP
                w_tile[w_lane * TILE_STRIDE + k0 + i] = T(w[i]);
#else
                w_tile[(k0 + i) * ROW_VECS + w_lane / 4u][w_lane % 4u] = T(w[i]);
#endif
            }
        }
        // Loading X: vec4 `at` of the slice is token at / (STEP_K / 4),
        // values 4 (at % (STEP_K / 4)).. of the step.
        for (var v = 0u; v < X_VECS; v++) {
            let at = lid + WG * v;
            let tok = at / (STEP_K / 4u);
            let k0 = 4u * (at % (STEP_K / 4u));
            let first = s * STEP_K + k0;
            var xv = vec4<f32>();
            if (tok0 + tok < n && first < params.cols) {
                xv = x[params.x_offset + (tok0 + tok) * params.x_stride + first / 4u];
            }
            for (var i = 0u; i < 4u; i++) {
#if COOP
                x_tile[tok * TILE_STRIDE + k0 + i] = T(xv[i]);
#else
                x_tile[(k0 + i) * 16u + tok / 4u][tok % 4u] = T(xv[i]);
#endif
            }
        }
        workgroupBarrier();
#if COOP
        for (var kk = 0u; kk < STEP_K; kk += 16u) {
            let a0 = coopLoadT<coop_mat16x16<T, A>>(&w_tile[sr * TILE_STRIDE + kk], TILE_STRIDE);
            let a1 = coopLoadT<coop_mat16x16<T, A>>(&w_tile[(sr + 16u) * TILE_STRIDE + kk], TILE_STRIDE);
            let b0 = coopLoad<coop_mat16x16<T, B>>(&x_tile[st * TILE_STRIDE + kk], TILE_STRIDE);
            let b1 = coopLoad<coop_mat16x16<T, B>>(&x_tile[(st + 16u) * TILE_STRIDE + kk], TILE_STRIDE);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c11 = coopMultiplyAdd(a1, b1, c11);
        }
#else
#if HALF
        var part = array<vec4<f16>, 8>();
        for (var k = 0u; k < STEP_K; k++) {
            let a0 = w_tile[k * ROW_VECS + tr];
            let a1 = w_tile[k * ROW_VECS + ROW_THREADS + tr];
            let t = x_tile[k * 16u + tt];
            part[0] = fma(a0, vec4<f16>(t.x), part[0]);
            part[1] = fma(a1, vec4<f16>(t.x), part[1]);
            part[2] = fma(a0, vec4<f16>(t.y), part[2]);
            part[3] = fma(a1, vec4<f16>(t.y), part[3]);
            part[4] = fma(a0, vec4<f16>(t.z), part[4]);
            part[5] = fma(a1, vec4<f16>(t.z), part[5]);
            part[6] = fma(a0, vec4<f16>(t.w), part[6]);
            part[7] = fma(a1, vec4<f16>(t.w), part[7]);
        }
        for (var i = 0u; i < 8u; i++) {
            acc[i] += vec4<f32>(part[i]);
        }
#else
        for (var k = 0u; k < STEP_K; k++) {
            let a0 = w_tile[k * ROW_VECS + tr];
            let a1 = w_tile[k * ROW_VECS + ROW_THREADS + tr];
            let t = x_tile[k * 16u + tt];
            acc[0] = fma(a0, vec4<f32>(t.x), acc[0]);
            acc[1] = fma(a1, vec4<f32>(t.x), acc[1]);
            acc[2] = fma(a0, vec4<f32>(t.y), acc[2]);
            acc[3] = fma(a1, vec4<f32>(t.y), acc[3]);
            acc[4] = fma(a0, vec4<f32>(t.z), acc[4]);
            acc[5] = fma(a1, vec4<f32>(t.z), acc[5]);
            acc[6] = fma(a0, vec4<f32>(t.w), acc[6]);
            acc[7] = fma(a1, vec4<f32>(t.w), acc[7]);
        }
#endif
#endif
        workgroupBarrier();
    }

#if COOP
    // C(i, j) is row sr + i, token st + j: column-major, token-major tile.
    coopStore(c00, &out_tile[st * OUT_STRIDE + sr], OUT_STRIDE);
    coopStore(c01, &out_tile[(st + 16u) * OUT_STRIDE + sr], OUT_STRIDE);
    coopStore(c10, &out_tile[st * OUT_STRIDE + sr + 16u], OUT_STRIDE);
    coopStore(c11, &out_tile[(st + 16u) * OUT_STRIDE + sr + 16u], OUT_STRIDE);
    workgroupBarrier();
    for (var i = lid; i < TILE_ROWS * TILE_TOKENS; i += WG) {
        let t = tok0 + i / TILE_ROWS;
        let r = row0 + i % TILE_ROWS;
        if (t < n && r < params.rows) {
            let out = params.y_offset + t * params.y_stride + r;
            var v = out_tile[(i / TILE_ROWS) * OUT_STRIDE + i % TILE_ROWS];
#if BIAS
            v += bias[params.bias_offset + r];
#endif
#if ACCUMULATE
            v += y[out];
#endif
            y[out] = v;
        }
    }
#else

    for (var j = 0u; j < 4u; j++) {
        let t = tok0 + 4u * tt + j;
        if (t < n) {
            for (var i = 0u; i < 8u; i++) {
                let r = row0 + (i / 4u) * (TILE_ROWS / 2u) + 4u * tr + i % 4u;
                if (r < params.rows) {
                    let out = params.y_offset + t * params.y_stride + r;
                    var v = acc[2u * j + i / 4u][i % 4u];
#if BIAS
                    v += bias[params.bias_offset + r];
#endif
#if ACCUMULATE
                    v += y[out];
#endif
                    y[out] = v;
                }
            }
        }
    }
#endif
}
