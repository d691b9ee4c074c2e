//! choose: Q8_0 Q8_K F16 BF16
//! include: step
// Activations rounded the way llama.cpp's CPU backend rounds them before a
// dot product with quantised weights (see src/quant/activations.rs), written
// back as f32: y = d * q. The mat-vec and mat-mul then see the very values
// llama.cpp's integer dot products see, so the GPU's logits track
// llama.cpp's instead of an f32 reference's.
//   Q8_0  32-value blocks: d = f16(amax / 127), q = round(x * 127 / amax)
//         (also Q8_1's values: its extra block sum is not modelled)
//   Q8_K  256-value blocks: max = the value of largest magnitude,
//         q = min(127, round(x * -127 / max)), d = 1 / (-127 / max) in f32
//   F16   x rounded to f16;  BF16  x rounded to bf16 (nearest even)
// One thread per block (per value for F16/BF16). Rows: `rows`, or when 0
// this step's n_tokens.

struct Params {
    cols: u32,
    rows: u32,      // 0: step.n_tokens
    x_offset: u32,
    x_stride: u32,
    y_offset: u32,
    y_stride: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> step: Step;
@group(0) @binding(3) var<uniform> params: Params;

#if Q8_0
const BLOCK: u32 = 32u;
#endif
#if Q8_K
const BLOCK: u32 = 256u;
#endif
#if F16
const BLOCK: u32 = 1u;
#endif
#if BF16
const BLOCK: u32 = 1u;
#endif

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let index = gid.x + gid.y * groups.x * WG;
    var rows = params.rows;
    if (rows == 0u) {
        rows = step.n_tokens;
    }
    let per_row = params.cols / BLOCK;
    if (index >= rows * per_row) {
        return;
    }
    let row = index / per_row;
    let start = (index % per_row) * BLOCK;
    let src = params.x_offset + row * params.x_stride + start;
    let dst = params.y_offset + row * params.y_stride + start;

#if Q8_0
    var amax = 0.0;
    for (var i = 0u; i < BLOCK; i++) {
        amax = max(amax, abs(x[src + i]));
    }
    let d = unpack2x16float(pack2x16float(vec2<f32>(amax / 127.0, 0.0))).x;
    var id = 0.0;
    if (amax != 0.0) {
        id = 127.0 / amax;
    }
    for (var i = 0u; i < BLOCK; i++) {
        y[dst + i] = round(x[src + i] * id) * d;
    }
#endif
#if Q8_K
    var amax = 0.0;
    var top = 0.0;
    for (var i = 0u; i < BLOCK; i++) {
        let v = x[src + i];
        if (abs(v) > amax) {
            amax = abs(v);
            top = v;
        }
    }
    if (amax == 0.0) {
        for (var i = 0u; i < BLOCK; i++) {
            y[dst + i] = 0.0;
        }
        return;
    }
    let iscale = -127.0 / top;
    let d = 1.0 / iscale;
    for (var i = 0u; i < BLOCK; i++) {
        y[dst + i] = min(127.0, round(iscale * x[src + i])) * d;
    }
#endif
#if F16
    y[dst] = unpack2x16float(pack2x16float(vec2<f32>(x[src], 0.0))).x;
#endif
#if BF16
    // Round to nearest even on the top 16 bits (NaN is not expected here).
    let bits = bitcast<u32>(x[src]);
    let rounded = (bits + 0x7fffu + ((bits >> 16u) & 1u)) & 0xffff0000u;
    y[dst] = bitcast<f32>(rounded);
#endif
}
