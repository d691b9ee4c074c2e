//! choose: Q8_0 Q8_1 Q8_K
//! include: ggml_numerics step
// f32 activation rows quantised exactly as llama.cpp's x86 CPU backend does
// (src/quant/activations.rs), packed for kernels/exact/ggml_matvec.wgsl. Per token
// row, block after block (words):
//   Q8_0  9 per 32 values:  d (f32 bits of the f16 value), 8 words of codes
//   Q8_1 10 per 32 values:  d, s (f32 bits of the f16 values), 8 words of codes
//   Q8_K 73 per 256 values: d (f32), 64 words of codes, 8 words of bsums
//                           (bsums 2w in the low half of word w, 2w+1 high)
// Codes are i8, four to a word, lowest value in the lowest byte.
// A workgroup takes 256 values of one token (8 Q8_0/Q8_1 blocks or one
// Q8_K block), 4 values per thread: the maxima and sums are exact in any
// order, so they are shared through workgroup memory.

struct Params {
    cols: u32,       // values per token (whole blocks)
    x_offset: u32,   // index of token 0's first value in `x`
    x_stride: u32,   // values between tokens in `x`
    words: u32,      // packed words per token in `q`
    max_tokens: u32, // tokens the buffers hold
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> q: array<u32>;
@group(0) @binding(2) var<uniform> step: Step;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> maxima: array<f32, 64>;
var<workgroup> firsts: array<u32, 64>;
var<workgroup> sums: array<i32, 64>;

// Four i8 codes as one word, lowest first.
fn pack_codes(c: vec4<i32>) -> u32 {
    let b = (bitcast<vec4<u32>>(c) & vec4<u32>(0xffu)) << vec4<u32>(0u, 8u, 16u, 24u);
    return b.x | b.y | b.z | b.w;
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    let token = wid.y;
    if (token >= min(step.n_tokens, params.max_tokens)) {
        return;
    }
    let first = wid.x * 256u + tid * 4u;
    let live = first < params.cols;
    let row = params.x_offset + token * params.x_stride;
    var v = vec4<f32>(0.0);
    if (live) {
        let i = row + first;
        v = vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
    }
    let a = abs(v);
    maxima[tid] = max(max(a.x, a.y), max(a.z, a.w));
    workgroupBarrier();
    let out = token * params.words;
#if Q8_K
    var amax = 0.0;
    for (var i = 0u; i < 64u; i++) {
        amax = max(amax, maxima[i]);
    }
    // The first value of largest magnitude, sign kept.
    var hit = 256u;
    for (var i = 0u; i < 4u; i++) {
        if (a[i] == amax && hit == 256u) {
            hit = tid * 4u + i;
        }
    }
    firsts[tid] = hit;
    workgroupBarrier();
    var top = 256u;
    for (var i = 0u; i < 64u; i++) {
        top = min(top, firsts[i]);
    }
    var iscale = 0.0;
    var d = 0.0;
    if (amax != 0.0) {
        iscale = div_rn(-127.0, x[row + wid.x * 256u + top]);
        d = div_rn(1.0, iscale);
    }
    let c = min(vec4<i32>(round(iscale * v)), vec4<i32>(127));
    let base = out + wid.x * 73u;
    q[base + 1u + tid] = pack_codes(c);
    sums[tid] = c.x + c.y + c.z + c.w;
    workgroupBarrier();
    if (tid < 8u) {
        // bsums 2·tid and 2·tid + 1: values 32·tid.. of threads 8·tid..
        var lo = 0;
        var hi = 0;
        for (var i = 0u; i < 4u; i++) {
            lo += sums[8u * tid + i];
            hi += sums[8u * tid + 4u + i];
        }
        q[base + 65u + tid] = (bitcast<u32>(lo) & 0xffffu) | (bitcast<u32>(hi) << 16u);
    }
    if (tid == 0u) {
        q[base] = bitcast<u32>(d);
    }
#else
    // 8 threads per 32-value block.
    let lane = tid % 8u;
    let group = tid - lane;
    var amax = 0.0;
    for (var i = 0u; i < 8u; i++) {
        amax = max(amax, maxima[group + i]);
    }
    let d = div_rn(amax, 127.0);
    var id = 0.0;
    if (amax != 0.0) {
        id = div_rn(127.0, amax);
    }
    let c = clamp(vec4<i32>(round(v * id)), vec4<i32>(-128), vec4<i32>(127));
    let block = wid.x * 8u + tid / 8u;
#if Q8_1
    let base = out + block * 10u;
    sums[tid] = c.x + c.y + c.z + c.w;
    workgroupBarrier();
    if (live) {
        q[base + 2u + lane] = pack_codes(c);
        if (lane == 0u) {
            var sum = 0;
            for (var i = 0u; i < 8u; i++) {
                sum += sums[group + i];
            }
            q[base] = bitcast<u32>(round_f16(d));
            // s = f16(d · Σq) with the unrounded d.
            q[base + 1u] = bitcast<u32>(round_f16(d * f32(sum)));
        }
    }
#else
    let base = out + block * 9u;
    if (live) {
        q[base + 1u + lane] = pack_codes(c);
        if (lane == 0u) {
            q[base] = bitcast<u32>(round_f16(d));
        }
    }
#endif
#endif
}
