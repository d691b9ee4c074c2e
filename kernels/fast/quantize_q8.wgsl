//! include: step
// Activations quantised for the `fast` int8 mat-mul
// (kernels/fast/matmul_q8.wgsl), once per linear input and batch: each
// block of 32 values of a token's row becomes 32 int8 codes
// q = round(x / d) (ties to even), d = amax / 127 (0 for an all-zero
// block), packed 4 to a word lowest byte first, beside d and
// s = d · Σq, which the weight types with a min need (their products
// carry a term m · Σx). A block is 3 vec4<u32>: codes 0..16, codes
// 16..32, then (bits of d, bits of s, 0, 0); token t's block b is vec4
// 3 (t · blocks + b) of `q`, tokens packed densely.
//
// One thread per block; the token count is the Step uniform's (capped at
// max_tokens), like the mat-muls'.

requires packed_4x8_integer_dot_product;

struct Params {
    blocks: u32,     // blocks per token (cols / 32)
    x_offset: u32,   // vec4 index of X[0, 0] in `x`
    x_stride: u32,   // vec4s between tokens in `x`
    max_tokens: u32, // tokens the buffers were bound for
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> q: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<uniform> step: Step;

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // Workgroups beyond 65535 spill into y (see gpu::workgroup_grid).
    let index = gid.x + gid.y * groups.x * WG;
    let n = min(step.n_tokens, params.max_tokens);
    if (index >= n * params.blocks) {
        return;
    }
    let t = index / params.blocks;
    let first = params.x_offset + t * params.x_stride + 8u * (index % params.blocks);
    var v = array<vec4<f32>, 8>();
    var amax = 0.0;
    for (var i = 0u; i < 8u; i++) {
        v[i] = x[first + i];
        let a = abs(v[i]);
        amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
    }
    let d = amax / 127.0;
    let id = select(0.0, 1.0 / d, d > 0.0);
    var words = array<u32, 8>();
    var sum = 0;
    for (var i = 0u; i < 8u; i++) {
        // Within ±127 but for the rounding of 1 / d: clamped.
        let c = clamp(vec4<i32>(round(v[i] * id)), vec4<i32>(-127), vec4<i32>(127));
        sum += c.x + c.y + c.z + c.w;
        words[i] = pack4xI8(c);
    }
    let out = 3u * index;
    q[out] = vec4<u32>(words[0], words[1], words[2], words[3]);
    q[out + 1u] = vec4<u32>(words[4], words[5], words[6], words[7]);
    q[out + 2u] = vec4<u32>(bitcast<u32>(d), bitcast<u32>(d * f32(sum)), 0u, 0u);
}
