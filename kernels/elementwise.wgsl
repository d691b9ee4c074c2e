//! choose: SILU_MUL GELU_MUL ADD SCALE SOFTCAP
//! include: ggml_numerics step gelu_table
// Element-wise operations on rows of `width` values, in place on `a`:
//   SILU_MUL  a = silu(a) * b              (SwiGLU: a is the gate, b up)
//   GELU_MUL  a = gelu_tanh(a) * b         (GeGLU, through ggml's f16 table)
//   ADD       a = a + b                    (residual; b_stride 0: a bias)
//   SCALE     a = a * value
//   SOFTCAP   a = value * tanh(a / value)  (Gemma's final logit soft-cap)
// Formulas and operation order are those of src/cpu/ops.rs and the CPU
// decoder; the activations are bit for bit `ops::glu`'s: SiLU with ggml's
// exp polynomial (`ggml_silu`; rows are multiples of 16 wide, so no value
// takes ggml's libm tail), GELU from ggml's table of every f16 input. Rows: params.rows if non-zero, else this step's n_tokens (the
// dispatch then covers the largest batch and threads past it do nothing).

struct Params {
    width: u32,
    rows: u32,      // 0: step.n_tokens
    a_offset: u32,
    a_stride: u32,  // elements between rows of `a`
    b_offset: u32,
    b_stride: u32,
    value: f32,     // SCALE's factor, SOFTCAP's cap
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> a: array<f32>;
#if SILU_MUL
@group(0) @binding(1) var<storage, read> b: array<f32>;
#endif
#if GELU_MUL
@group(0) @binding(1) var<storage, read> b: array<f32>;
#endif
#if ADD
@group(0) @binding(1) var<storage, read> b: array<f32>;
#endif
@group(0) @binding(2) var<uniform> step: Step;
@group(0) @binding(3) var<uniform> params: Params;

// tanh of a clamped argument: |x| >= 15 gives ±1 in f32 anyway, and some
// drivers compute tanh from exp, which overflows for large |x|.
fn safe_tanh(x: f32) -> f32 {
    return tanh(clamp(x, -15.0, 15.0));
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let index = (wid.x + wid.y * groups.x) * 256u + lid;
    let r = index / params.width;
    let c = index % params.width;
    let rows = select(step.n_tokens, params.rows, params.rows != 0u);
    if (r >= rows) {
        return;
    }
    let i = params.a_offset + r * params.a_stride + c;
    let x = a[i];
#if SILU_MUL
    a[i] = ggml_silu(x, step.zero) * b[params.b_offset + r * params.b_stride + c];
#endif
#if GELU_MUL
    a[i] = gelu_tanh(x) * b[params.b_offset + r * params.b_stride + c];
#endif
#if ADD
    a[i] = x + b[params.b_offset + r * params.b_stride + c];
#endif
#if SCALE
    a[i] = x * params.value;
#endif
#if SOFTCAP
    a[i] = params.value * safe_tanh(x / params.value);
#endif
}
