
// This step's tokens (src/gpu/step.rs `StepUniform`): `n_tokens` tokens at
// positions pos0.., attending `kv_len` cached positions. `zero` is always 0:
// `unfused` (ggml_numerics) xors with it to hide values from the compiler.
struct Step {
    pos0: u32,
    n_tokens: u32,
    kv_len: u32,
    zero: u32,
}
