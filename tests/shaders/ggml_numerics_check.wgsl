//! include: ggml_numerics
// Runs each function of kernels/lib/ggml_numerics.wgsl on pairs of inputs
// (a[i], b[i]) for tests/gpu_ggml_numerics.rs; `zero` is 0 at run time.

struct Params {
    count: u32,
    zero: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const FUNCTIONS: u32 = 9u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= params.count) {
        return;
    }
    let x = a[i];
    let y = b[i];
    let z = params.zero;
    var results: array<f32, 9>;
    results[0] = div_rn(x, y);
    results[1] = sqrt_rn(abs(x));
    results[2] = round_f16(x);
    results[3] = bitcast<f32>(f16_bits(x));
    results[4] = ggml_expf(x, z);
    results[5] = ggml_silu(x, z);
    results[6] = fma_rn(x, y, -1.0);
    // As RMSNorm and the softmax use it: rounded products summed in "f64".
    let sum = double_add(double_add(Double(0.0, 0.0), x * x, z), y * y, z);
    results[7] = double_div_to_f32(sum, 576.0);
    results[8] = double_recip_to_f32(sum);
    for (var f = 0u; f < FUNCTIONS; f++) {
        out[i * FUNCTIONS + f] = results[f];
    }
}
