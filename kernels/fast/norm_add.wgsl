//! include: step
// The `fast` post-norm residual (Gemma 3): hidden += rmsnorm(x) * w, for
// this step's tokens, one 256-thread workgroup per token.

struct Params {
    width: u32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> hidden: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<uniform> step: Step;

const WG: u32 = 256u;
var<workgroup> squares: array<f32, WG>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = wid.x;
    // Uniform across the workgroup, so returning keeps barriers uniform.
    if (t >= step.n_tokens) {
        return;
    }
    let base = t * params.width;
    var ss = 0.0;
    for (var i = lid; i < params.width; i += WG) {
        let v = x[base + i];
        ss += v * v;
    }
    squares[lid] = ss;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            squares[lid] += squares[lid + stride];
        }
        workgroupBarrier();
    }
    let scale = inverseSqrt(squares[0] / f32(params.width) + params.eps);
    for (var i = lid; i < params.width; i += WG) {
        hidden[base + i] += x[base + i] * scale * w[i];
    }
}
