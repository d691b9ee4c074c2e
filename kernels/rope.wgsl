//! choose: NORMAL NEOX
//! include: ggml_numerics step
// Rotary position embeddings, in place, for this step's tokens.
//
// Token t is at position p = step.pos0 + t. The angles come from a table of
// (cos, sin) per (position, pair) that the host builds with the CPU code
// (src/cpu/rope.rs), so they are the CPU's bit for bit: GPU sin/cos of
// angles in the thousands of radians are far less accurate than the host's.
// The rotation is the CPU's too: x0' = fma(x0, cos, -(x1 sin)),
// x1' = fma(x0, sin, x1 cos).
//
// NORMAL (Llama) pairs dimensions (2i, 2i + 1); NEOX (Qwen2, Gemma 3) pairs
// (i, i + rope_dims / 2). Dimensions past rope_dims are left as they are.
// One thread per (token, head, pair); the dispatch covers the largest batch
// and threads past step.n_tokens do nothing.

struct Params {
    heads: u32,
    head_dim: u32,
    pairs: u32,      // rope_dims / 2
    offset: u32,     // index of token 0, head 0 in `x`
    stride: u32,     // elements between tokens in `x`
    positions: u32,  // rows of the table; later positions are left unrotated
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(2) var<uniform> step: Step;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let index = (wid.x + wid.y * groups.x) * 64u + lid;
    let per_token = params.heads * params.pairs;
    let t = index / per_token;
    let h = (index % per_token) / params.pairs;
    let i = index % params.pairs;
    let pos = step.pos0 + t;
    if (t >= step.n_tokens || pos >= params.positions) {
        return;
    }
    let cs = table[pos * params.pairs + i];
    let base = params.offset + t * params.stride + h * params.head_dim;
#if NORMAL
    let a = base + 2u * i;
    let b = a + 1u;
#endif
#if NEOX
    let a = base + i;
    let b = a + params.pairs;
#endif
    let x0 = x[a];
    let x1 = x[b];
    // As ggml's x86 build computes them (see src/cpu/rope.rs): one rounding
    // after x0·cos (x0·sin), with a multiply-add that rounds once everywhere.
    x[a] = fma_rn(x0, cs.x, -(x1 * cs.y));
    x[b] = fma_rn(x0, cs.y, x1 * cs.x);
}
