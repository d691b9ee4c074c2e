// The quantised block formats of the ggml mat-vec kernels
// (`//! include: ggml_blocks`, with ggml_bytes and ggml_numerics): each
// type's constants and the exact integer work on one block, as llama.cpp's
// x86 kernels do it (src/quant/legacy.rs, k_quants.rs). The including kernel
// declares `const TYPE: u32` (one of the T_* below), `weights` (raw GGUF
// blocks) and `act` (activations packed by kernels/exact/ggml_quantize.wgsl).
// Branches on TYPE are on a constant: the compiler keeps only the live one.

const T_Q4_0: u32 = 0u;
const T_Q4_1: u32 = 1u;
const T_Q5_0: u32 = 2u;
const T_Q5_1: u32 = 3u;
const T_Q8_0: u32 = 4u;
const T_Q4_K: u32 = 5u;
const T_Q5_K: u32 = 6u;
const T_Q6_K: u32 = 7u;

// Bytes per weight block (32 values; K-quants 256), indexed by type.
const BLOCK_BYTES: u32 = array<u32, 8>(18u, 20u, 22u, 24u, 34u, 144u, 176u, 210u)[TYPE];
// A `_1` kind (with x.m and y.s), a K-quant.
const OFFSET: bool = TYPE == T_Q4_1 || TYPE == T_Q5_1;
const KQUANT: bool = TYPE >= T_Q4_K;
// Packed activation words per block: y.d (and y.s), 8 code words; Q8_K:
// d, 64 code words, 8 words of bsum pairs.
const ACT_BLOCK_WORDS: u32 = select(select(9u, 10u, OFFSET), 73u, KQUANT);
// The activation block's first code word (legacy).
const FIRST_CODE: u32 = select(1u, 2u, OFFSET);

// ---- Legacy types: lane l (AVX2's lane, values 4l..4l+4) of a block.

// Bits `4l..4l+4` of `qh`, each moved to bit 4 (the Q5 high bits of lane l).
fn high4(qh: u32, l: u32) -> vec4<i32> {
    return vec4<i32>(((vec4<u32>(qh >> (4u * l)) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) << vec4<u32>(4u));
}

// Where lane l's code word of the legacy block at byte `b` starts (4-bit
// kinds: value j < 16 in the low nibble of qs[j], j + 16 in the high one).
fn code_byte(b: u32, l: u32) -> u32 {
    let nibble = 4u * (l & 3u);
    switch (TYPE) {
        case T_Q4_0: {
            return b + 2u + nibble;
        }
        case T_Q4_1: {
            return b + 4u + nibble;
        }
        case T_Q5_0: {
            return b + 6u + nibble;
        }
        case T_Q5_1: {
            return b + 8u + nibble;
        }
        default: {
            return b + 2u + 4u * l;
        }
    }
}

// Where the Q5 kinds' high bits (qh) start; unused by the others.
fn high_byte(b: u32) -> u32 {
    return b + select(2u, 4u, TYPE == T_Q5_1);
}

// Lane l's weight codes from its code word and (Q5 kinds) the qh word.
fn codes_of(word: u32, qh: u32, l: u32) -> vec4<i32> {
    let shift = 4u * (l >> 2u);
    switch (TYPE) {
        case T_Q4_0: {
            return nibbles4(word, shift) - vec4<i32>(8);
        }
        case T_Q4_1: {
            return nibbles4(word, shift);
        }
        case T_Q5_0: {
            return (nibbles4(word, shift) | high4(qh, l)) - vec4<i32>(16);
        }
        case T_Q5_1: {
            return nibbles4(word, shift) | high4(qh, l);
        }
        default: {
            return sbytes4(word);
        }
    }
}

// The weight codes of lane l of the legacy block at byte b.
fn lane_codes(b: u32, l: u32) -> vec4<i32> {
    var qh = 0u;
    if (TYPE == T_Q5_0 || TYPE == T_Q5_1) {
        qh = load_u32(high_byte(b));
    }
    return codes_of(load_u32(code_byte(b, l)), qh, l);
}

// Lane l's exact integer sum: the weight block at byte `b` times the
// activation block at word `a`.
fn lane_sum(b: u32, a: u32, l: u32) -> i32 {
    return dot(lane_codes(b, l), sbytes4(act[a + FIRST_CODE + l]));
}

// ---- K-quants: slot s (of 8) of the super-block at byte `b`.

// ggml's get_scale_min_k4 for sub-block j; scale bytes at `s`.
fn scale_min_k4_i32(s: u32, j: u32) -> vec2<i32> {
    if (j < 4u) {
        return vec2<i32>(i32(load_u8(s + j) & 63u), i32(load_u8(s + j + 4u) & 63u));
    }
    let packed = load_u8(s + j + 4u);
    let scale = (packed & 15u) | ((load_u8(s + j - 4u) >> 6u) << 4u);
    let m = (packed >> 4u) | ((load_u8(s + j) >> 6u) << 4u);
    return vec2<i32>(i32(scale), i32(m));
}

// A packed pair of i16 bsums, added.
fn bsum_pair(word: u32) -> i32 {
    let w = bitcast<i32>(word);
    return ((w << 16u) >> 16u) + (w >> 16u);
}

fn bsum_lo(word: u32) -> i32 {
    return (bitcast<i32>(word) << 16u) >> 16u;
}

fn bsum_hi(word: u32) -> i32 {
    return bitcast<i32>(word) >> 16u;
}

fn i8_value(byte: u32) -> i32 {
    return (bitcast<i32>(byte) << 24u) >> 24u;
}

// The 32 codes slot `s` multiplies (as 8 words' worth), and their scale and
// min (Q6_K: per group of 4 words, `scales` holds the 8 scales instead).
struct SlotCodes {
    codes: array<vec4<i32>, 8>,
    scales: array<i32, 8>,
    m: i32,
}

// Q4_K/Q5_K: sub-block s's codes, scale and min. Q6_K: lane s's codes.
fn slot_codes(b: u32, s: u32) -> SlotCodes {
    var out: SlotCodes;
    if (TYPE == T_Q6_K) {
        // Group g = 4h + k (half h, 32-value group k): lane s's four values.
        for (var g = 0u; g < 8u; g++) {
            let h = g >> 2u;
            let k = g & 3u;
            let src = load_u32(b + 64u * h + 32u * (k & 1u) + 4u * s);
            let qh = load_u32(b + 128u + 32u * h + 4u * s);
            let code = ((src >> (4u * (k >> 1u))) & 0x0f0f0f0fu) | (((qh >> (2u * k)) & 0x03030303u) << 4u);
            out.codes[g] = bytes4(code);
            out.scales[g] = i8_value(load_u8(b + 192u + 8u * h + 2u * k + select(0u, 1u, s >= 4u)));
        }
        return out;
    }
    let sm = scale_min_k4_i32(b + 4u, s);
    out.scales[0] = sm.x;
    out.m = sm.y;
    for (var w = 0u; w < 8u; w++) {
        if (TYPE == T_Q4_K) {
            out.codes[w] = nibbles4(load_u32(b + 16u + 32u * (s >> 1u) + 4u * w), 4u * (s & 1u));
        } else {
            let low = nibbles4(load_u32(b + 48u + 32u * (s >> 1u) + 4u * w), 4u * (s & 1u));
            let qh = (load_u32(b + 16u + 4u * w) >> s) & 0x01010101u;
            out.codes[w] = low | bytes4(qh << 4u);
        }
    }
    return out;
}

// Slot s's exact integers against the activation block at word `a`:
// Q4_K/Q5_K (scale · Σq·q8, min · Σq8) of sub-block s; Q6_K (lane s, 0).
fn slot_ints(c: ptr<function, SlotCodes>, b: u32, s: u32, a: u32) -> vec2<i32> {
    if (TYPE == T_Q6_K) {
        var lane = 0;
        for (var g = 0u; g < 8u; g++) {
            lane += (*c).scales[g] * dot((*c).codes[g], sbytes4(act[a + 1u + 8u * g + s]));
        }
        let bs = act[a + 65u + s];
        let s0 = i8_value(load_u8(b + 192u + 2u * s));
        let s1 = i8_value(load_u8(b + 193u + 2u * s));
        return vec2<i32>(lane - 32 * (s0 * bsum_lo(bs) + s1 * bsum_hi(bs)), 0);
    }
    var sum = 0;
    for (var w = 0u; w < 8u; w++) {
        sum += dot((*c).codes[w], sbytes4(act[a + 1u + 8u * s + w]));
    }
    return vec2<i32>((*c).scales[0] * sum, (*c).m * bsum_pair(act[a + 65u + s]));
}

// ggml's `hsum_float_8` of 8 lanes:
// ((x0 + x4) + (x2 + x6)) + ((x1 + x5) + (x3 + x7)).
fn hsum8(x: array<f32, 8>) -> f32 {
    var r: array<f32, 4>;
    for (var i = 0u; i < 4u; i++) {
        r[i] = x[i + 4u] + x[i];
    }
    return (r[0] + r[2]) + (r[1] + r[3]);
}
