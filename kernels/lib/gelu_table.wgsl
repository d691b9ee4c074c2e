
// ---- gelu_table: GELU (tanh approximation) as ggml's CPU backend computes
// it, from `ggml_table_gelu_f16` (src/cpu/ops.rs `gelu_table`): f16 bits
// of gelu(x) by the f16 bits of x, two per word, low half first. Kernels
// that include this bind the table at 6 (it is 128 KiB, uploaded once per
// device). A table rather than tanh: drivers' tanh differs (on an H100,
// GELU from its tanh, rounded to f16, landed a step off ggml's entries),
// and the table makes every driver's GELU ggml's, bit for bit, like
// `ops::gelu_tanh`. Needs ggml_numerics (f16_bits, f16_value).
@group(0) @binding(6) var<storage, read> gelu_table: array<u32>;

// `ops::gelu_tanh`: the table for |x| < 10, else 0 or x.
fn gelu_tanh(x: f32) -> f32 {
    if (x <= -10.0) {
        return 0.0;
    }
    if (x >= 10.0) {
        return x;
    }
    let h = f16_bits(x);
    return f16_value((gelu_table[h / 2u] >> ((h % 2u) * 16u)) & 0xffffu);
}
