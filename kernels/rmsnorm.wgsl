//! flags: SUBGROUPS
// RMSNorm, one workgroup per row:
//   y[r, i] = x[r, i] / sqrt(mean_j(x[r, j]^2) + eps) * w[i]
// The sum of squares is reduced with subgroupAdd where the adapter has
// subgroups, and with a shared-memory tree otherwise. (No `enable subgroups;`
// here: naga rejects it, so the runtime adds it for browsers, see GpuContext.)

struct Params {
    rows: u32,
    dim: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

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
    if (row >= params.rows) {
        return;
    }
    let base = row * params.dim;

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
        y[base + i] = x[base + i] * scale * w[i];
    }
}
