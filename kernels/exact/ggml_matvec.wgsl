//! choose: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K
//! include: ggml_numerics ggml_bytes ggml_blocks step ggml_matvec_io
// y[t][r] = weight row r · token t's activations, quantised and packed by
// kernels/exact/ggml_quantize.wgsl, bit for bit as llama.cpp's x86 CPU backend
// computes it (src/quant/dot.rs, legacy.rs, k_quants.rs, batched.rs):
// exact integer sums per block, then the f32 scale products, fused
// multiply-adds (`fma_rn`: WGSL's `fma` may round twice) and final sums in
// ggml's order.
//
// A workgroup takes ROWS rows × TILE tokens; each row has 8 threads
// ("slots"). Weights are raw GGUF blocks read from an array<u32> at any even
// byte offset.
// - Legacy types: slot l is AVX2 lane l (values 4l..4l+4 of every block):
//   it runs its lane's fused multiply-add chain over the blocks for each
//   token on its own; at the end slot s sums token s's 8 lanes as
//   `hsum_float_8` does (Q4_1/Q5_1: plus its `summs` chain).
// - K-quants: per super-block every slot leaves exact integers in workgroup
//   memory (Q4_K/Q5_K: sub-block s; Q6_K: lane s), then slot s runs token
//   s's float chain, in the order `dot_order` picks for that token.

// Params and bindings: kernels/lib/ggml_matvec_io.wgsl.

const ROWS: u32 = 8u; // rows per workgroup
const TILE: u32 = 8u; // tokens per workgroup (= slots per row)

// [row][token][slot]: legacy lane results, K-quant integers.
var<workgroup> lanes_f: array<f32, 512>;
var<workgroup> ints_a: array<i32, 512>;
var<workgroup> ints_b: array<i32, 512>;

// ---- The type (kernels/lib/ggml_blocks.wgsl: its formats and integer work).

#if Q4_0
const TYPE: u32 = T_Q4_0;
#endif
#if Q4_1
const TYPE: u32 = T_Q4_1;
#endif
#if Q5_0
const TYPE: u32 = T_Q5_0;
#endif
#if Q5_1
const TYPE: u32 = T_Q5_1;
#endif
#if Q8_0
const TYPE: u32 = T_Q8_0;
#endif
#if Q4_K
const TYPE: u32 = T_Q4_K;
#endif
#if Q5_K
const TYPE: u32 = T_Q5_K;
#endif
#if Q6_K
const TYPE: u32 = T_Q6_K;
#endif

// ggml's `hsum_float_8` of the 8 lanes at lanes_f[at..].
fn hsum8_at(at: u32) -> f32 {
    var x: array<f32, 8>;
    for (var i = 0u; i < 8u; i++) {
        x[i] = lanes_f[at + i];
    }
    return hsum8(x);
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    let n = min(step.n_tokens, params.max_tokens);
    let t0 = wid.y * TILE;
    if (t0 >= n) {
        return;
    }
    let nt = min(TILE, n - t0);
    let slot = tid % 8u;
    let local_row = tid / 8u;
    let row = (wid.x + wid.z * groups.x) * ROWS + local_row;
    // Rows past the end still take part in the barriers, on the last row.
    let row_start = params.w_offset + min(row, params.rows - 1u) * params.row_bytes;
    let own = t0 + slot; // the token whose float chain this thread runs
    let chain = slot < nt && row < params.rows;
    let at = (local_row * TILE + slot) * 8u; // this chain's 8 slots in workgroup memory
#if Q4_K
    let gemm = params.matrix_rows % 8u == 0u && own < n - n % 4u;
#endif
#if Q6_K
    let gemm = n >= 8u;
#endif
    var result = 0.0;
#if Q4_K
    var acc = 0.0;
    var acc_m = 0.0;
#endif
#if Q5_K
    var acc = 0.0;
    var acc_m = 0.0;
#endif
#if Q6_K
    var acc = 0.0;
    var acc8: array<f32, 8>;
#endif
    if (KQUANT) {
        for (var blk = 0u; blk < params.blocks; blk++) {
            let b = row_start + blk * BLOCK_BYTES;
            var codes = slot_codes(b, slot);
            for (var t = 0u; t < nt; t++) {
                let v = slot_ints(&codes, b, slot, (t0 + t) * params.act_words + blk * 73u);
                let i = (local_row * TILE + t) * 8u + slot;
                ints_a[i] = v.x;
                ints_b[i] = v.y;
            }
            workgroupBarrier();
            if (chain) {
                let yd = bitcast<f32>(act[own * params.act_words + blk * 73u]);
#if Q4_K
                let d = load_f16(b) * yd;
                let dmin = load_f16(b + 2u) * yd;
                if (gemm) {
                    // ggml_gemm_q4_K_8x8_q8_K: one chain step per sub-block pair.
                    for (var p = 0u; p < 8u; p += 2u) {
                        let sum = ints_a[at + p] + ints_a[at + p + 1u];
                        let mins = ints_b[at + p] + ints_b[at + p + 1u];
                        acc = fma_rn(f32(sum), d, acc);
                        acc_m = fma_rn(f32(mins), dmin, acc_m);
                    }
                } else {
                    var sum = 0;
                    var mins = 0;
                    for (var j = 0u; j < 8u; j++) {
                        sum += ints_a[at + j];
                        mins += ints_b[at + j];
                    }
                    acc = fma_rn(f32(sum), d, acc);
                    acc_m = fma_rn(f32(mins), dmin, acc_m);
                }
#endif
#if Q5_K
                var sum = 0;
                var mins = 0;
                for (var j = 0u; j < 8u; j++) {
                    sum += ints_a[at + j];
                    mins += ints_b[at + j];
                }
                acc = fma_rn(yd * load_f16(b), f32(sum), acc);
                acc_m = fma_rn(-yd * load_f16(b + 2u), f32(mins), acc_m);
#endif
#if Q6_K
                let d = load_f16(b + 208u);
                if (gemm) {
                    // The tiled path: the block's exact total, times d, then y.d.
                    var total = 0;
                    for (var j = 0u; j < 8u; j++) {
                        total += ints_a[at + j];
                    }
                    acc = fma_rn(f32(total) * d, yd, acc);
                } else {
                    let dd = d * yd;
                    for (var j = 0u; j < 8u; j++) {
                        acc8[j] = fma_rn(dd, f32(ints_a[at + j]), acc8[j]);
                    }
                }
#endif
            }
            workgroupBarrier();
        }
#if Q4_K
        result = acc - acc_m;
#endif
#if Q5_K
        result = acc + acc_m;
#endif
#if Q6_K
        if (gemm) {
            result = acc;
        } else {
            for (var j = 0u; j < 8u; j++) {
                lanes_f[at + j] = acc8[j];
            }
            result = hsum8_at(at);
        }
#endif
    } else {
        // Legacy: lane `slot` of every token in the tile, block by block.
        var acc: array<f32, 8>;
        var summs = 0.0;
        let bw = select(9u, 10u, OFFSET);
        let first_code = select(1u, 2u, OFFSET);
        for (var blk = 0u; blk < params.blocks; blk++) {
            let b = row_start + blk * BLOCK_BYTES;
            let codes = lane_codes(b, slot);
            let dx = load_f16(b);
            for (var t = 0u; t < nt; t++) {
                let a = (t0 + t) * params.act_words + blk * bw;
                let lane = dot(codes, sbytes4(act[a + first_code + slot]));
                acc[t] = fma_rn(dx * bitcast<f32>(act[a]), f32(lane), acc[t]);
            }
            if (OFFSET && slot < nt) {
                let a = own * params.act_words + blk * bw;
                summs = fma_rn(load_f16(b + 2u), bitcast<f32>(act[a + 1u]), summs);
            }
        }
        for (var t = 0u; t < nt; t++) {
            lanes_f[(local_row * TILE + t) * 8u + slot] = acc[t];
        }
        workgroupBarrier();
        result = hsum8_at(at);
        if (OFFSET) {
            result = result + summs;
        }
    }
    if (chain) {
        y[params.y_offset + own * params.y_stride + row] = result;
    }
}
