//! flags: SUBGROUPS
// RMSNorm, one workgroup per row:
//   y[r, i] = x[r, i] / sqrt(mean_j(x[r, j]^2) + eps) * w[i]
// Rows come in groups of `per_token` (1 for a hidden state, the head count
// for Gemma 3's per-head q/k norms): row r is group member r % per_token of
// token r / per_token, whose rows start at offset + token * stride. The row
// count is `rows`, or when that is 0 this step's n_tokens × per_token.
// The sum of squares is reduced with subgroupAdd where the adapter has
// subgroups, and with a shared-memory tree otherwise. (No `enable subgroups;`
// here: naga rejects it, so the runtime adds it for browsers, see GpuContext.)

struct Step {
    pos0: u32,
    n_tokens: u32,
    kv_len: u32,
    _pad: u32,
}

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
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
#if SUBGROUPS
    @builtin(subgroup_size) sg_size: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
#endif
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
    let token = row / params.per_token;
    let member = (row % params.per_token) * params.dim;
    let base = params.x_offset + token * params.x_stride + member;
    let out = params.y_offset + token * params.y_stride + member;

    var sum = 0.0;
    for (var i = lid; i < params.dim; i += WG) {
        let v = x[base + i];
        sum += v * v;
    }

#if SUBGROUPS
    // One partial per subgroup; subgroups tile a 1-D workgroup in index order.
    sum = subgroupAdd(sum);
    if (sg_lane == 0u) {
        partial[lid / sg_size] = sum;
    }
    workgroupBarrier();
    var total = 0.0;
    for (var s = 0u; s < WG / sg_size; s++) {
        total += partial[s];
    }
#else
    partial[lid] = sum;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
#endif

    let scale = inverseSqrt(total / f32(params.dim) + params.eps);
    for (var i = lid; i < params.dim; i += WG) {
        y[out + i] = x[base + i] * scale * w[i];
    }
}
