// Little-endian loads from the `weights` array<u32> of the kernel that
// includes this file (`//! include: ggml_bytes`), at any byte offset (even
// for 16- and 32-bit values: GGUF blocks are 2-byte aligned), and the
// unpacking of bytes and nibbles from a word. f16 through ggml_numerics.

fn load_u8(byte: u32) -> u32 {
    return (weights[byte >> 2u] >> (8u * (byte & 3u))) & 0xffu;
}

// A signed byte, as f32.
fn load_i8(byte: u32) -> f32 {
    return f32(bitcast<i32>(load_u8(byte) << 24u) >> 24u);
}

// `byte` must be even.
fn load_u16(byte: u32) -> u32 {
    return (weights[byte >> 2u] >> (8u * (byte & 2u))) & 0xffffu;
}

// `byte` must be even; a word at 2 mod 4 straddles two array elements.
fn load_u32(byte: u32) -> u32 {
    let i = byte >> 2u;
    if ((byte & 2u) == 0u) {
        return weights[i];
    }
    return (weights[i] >> 16u) | (weights[i + 1u] << 16u);
}

fn load_f16(byte: u32) -> f32 {
    return f16_value(load_u16(byte));
}

// The four bytes of a word, lowest first, unsigned.
fn bytes4(word: u32) -> vec4<i32> {
    return vec4<i32>((vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu));
}

// The four bytes of a word as i8, lowest first.
fn sbytes4(word: u32) -> vec4<i32> {
    return (vec4<i32>(bitcast<i32>(word)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
}

// The four nibbles at bit `shift` (0 or 4) of each byte of a word.
fn nibbles4(word: u32, shift: u32) -> vec4<i32> {
    return bytes4((word >> shift) & 0x0f0f0f0fu);
}

// ggml's get_scale_min_k4: the 6-bit (scale, min) of sub-block j (0..8) of a
// Q4_K/Q5_K super-block whose 12 packed scale bytes start at `s`.
fn scale_min_k4(s: u32, j: u32) -> vec2<f32> {
    if (j < 4u) {
        return vec2<f32>(f32(load_u8(s + j) & 63u), f32(load_u8(s + j + 4u) & 63u));
    }
    let packed = load_u8(s + j + 4u);
    let scale = (packed & 15u) | ((load_u8(s + j - 4u) >> 6u) << 4u);
    let m = (packed >> 4u) | ((load_u8(s + j) >> 6u) << 4u);
    return vec2<f32>(f32(scale), f32(m));
}
