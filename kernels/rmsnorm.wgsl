//! include: ggml_numerics step
// RMSNorm, one workgroup per row, bit for bit as src/cpu/ops.rs `rms_norm`
// (ggml's): the squares rounded in f32 and summed as an f64 (here an f32
// pair, exact enough that the order of the sum does not matter), mean =
// (f32)(sum / dim), scale = 1 / sqrt(mean + eps) correctly rounded, then
//   y[r, i] = (x[r, i] * scale) * w[i]
// Rows come in groups of `per_token` (1 for a hidden state, the head count
// for Gemma 3's per-head q/k norms): row r is group member r % per_token of
// token r / per_token, whose rows start at offset + token * stride. The row
// count is `rows`, or when that is 0 this step's n_tokens × per_token.

struct Params {
    rows: u32,      // 0: step.n_tokens * per_token
    dim: u32,
    eps: f32,
    per_token: u32,
    x_offset: u32,
    x_stride: u32,
    y_offset: u32,
    y_stride: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<uniform> step: Step;

const WG: u32 = 256u;
var<workgroup> partial_hi: array<f32, WG>;
var<workgroup> partial_lo: array<f32, WG>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Rows beyond 65535 spill into the y dimension of the dispatch.
    let row = wid.x + wid.y * groups.x;
    // `row` is uniform across the workgroup, so returning keeps barriers uniform.
    var rows = params.rows;
    if (rows == 0u) {
        rows = step.n_tokens * params.per_token;
    }
    if (row >= rows) {
        return;
    }
    let zero = step.zero;
    let token = row / params.per_token;
    let member = (row % params.per_token) * params.dim;
    let base = params.x_offset + token * params.x_stride + member;
    let out = params.y_offset + token * params.y_stride + member;

    var sum = Double(0.0, 0.0);
    for (var i = lid; i < params.dim; i += WG) {
        let v = x[base + i];
        sum = double_add(sum, v * v, zero);
    }
    partial_hi[lid] = sum.hi;
    partial_lo[lid] = sum.lo;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            let a = Double(partial_hi[lid], partial_lo[lid]);
            let b = double_add(a, partial_hi[lid + stride], zero);
            let c = double_add(b, partial_lo[lid + stride], zero);
            partial_hi[lid] = c.hi;
            partial_lo[lid] = c.lo;
        }
        workgroupBarrier();
    }

    let mean = double_div_to_f32(Double(partial_hi[0], partial_lo[0]), f32(params.dim));
    let scale = div_rn(1.0, sqrt_rn(mean + params.eps));
    for (var i = lid; i < params.dim; i += WG) {
        y[out + i] = (x[base + i] * scale) * w[i];
    }
}
