//! choose: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K
//! include: ggml_numerics ggml_bytes ggml_blocks step ggml_matvec_io
// The decode step's y[r] = weight row r · one token's packed activations,
// bit for bit as kernels/exact/ggml_matvec.wgsl computes it for a lone token (the
// CPU's vec_dot order; the arithmetic is explained there).
//
// A kernel of its own because one token leaves the general kernel
// latency-bound: its threads walk a row block by block, each block's loads
// waiting on memory before its fused multiply-adds. Only those float chains
// must be sequential; the loads and the exact integer work feeding them are
// independent. So a workgroup takes ROWS rows, in chunks of CHUNK blocks:
// 1. every thread stages ITEMS (row, block, slot) items of the chunk (slot
//    s of the block's 8) into workgroup memory, all loads issued up front,
//    so one memory latency covers the chunk;
// 2. after a barrier the chain threads run their fused multiply-adds over
//    the chunk from workgroup memory, in the CPU's order.
// Legacy types: slot l is AVX2 lane l; thread 8r + l runs row r's lane l
// chain (and the `_1` kinds' `summs`), then lane 0 sums the lanes as
// `hsum_float_8`. K-quants: slot s holds sub-block s's integers (Q6_K: lane
// s's); thread r runs row r's Q4_K/Q5_K chains, Q6_K's run per lane.
// A chunk is 512 values (legacy) or 1024 (K-quants) of each row: a row of
// K values costs about K / 512 memory latencies instead of K / 32 (the
// general kernel's one per block), and K-quants take 2 barriers per 4
// super-blocks instead of per super-block.

// Params and bindings: kernels/lib/ggml_matvec_io.wgsl.

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

const THREADS: u32 = 64u;
// Rows per workgroup: one, so that a small matrix still spreads over many
// workgroups (with 8 the kernel ran about one warp per SM on an H200 and
// was bound by instruction latency; CPU emulators prefer more rows).
const ROWS: u32 = 1u;
// Items per thread per chunk: a legacy item is a few words of loads, a
// K-quant one about 20; the GPU keeps them all in flight at once.
const ITEMS: u32 = select(2u, 1u, KQUANT);
// Blocks per row per chunk.
const CHUNK: u32 = THREADS * ITEMS / (8u * ROWS);
const STAGED: u32 = ROWS * CHUNK * 8u;

// One chunk of staged work: block j of the chunk's row r at rj = r·CHUNK
// + j, its slot s at [8·rj + s]. Legacy: lane sums in ints_a, dx·y.d in
// floats_a, x.m and y.s in floats_b and floats_c. K-quants: slot integers
// in ints_a (and Q4_K/Q5_K's mins term in ints_b), the scale products in
// floats_a (and floats_b).
var<workgroup> ints_a: array<i32, STAGED>;
var<workgroup> ints_b: array<i32, STAGED>;
var<workgroup> floats_a: array<f32, ROWS * CHUNK>;
var<workgroup> floats_b: array<f32, ROWS * CHUNK>;
var<workgroup> floats_c: array<f32, ROWS * CHUNK>;
// The lanes' finished chains, for the horizontal sums.
var<workgroup> lanes: array<f32, THREADS>;

// Slot s of a legacy block as loaded from memory, before any use: a GPU
// thread stalls at the first use of a load, so all of a chunk's loads are
// issued (`fetch_legacy`) before any is used (`stage_legacy`).
struct LegacyItem {
    code: u32, // the lane's code word
    high: u32, // Q5 kinds: the qh word
    x: u32,    // the activation code word
    d: u32,    // f16 bits of x.d (slot 0) or x.m (slot 1)
    yd: u32,   // y.d (slot 0) or y.s (slot 1), f32 bits
}

fn fetch_legacy(b: u32, a: u32, s: u32) -> LegacyItem {
    var item: LegacyItem;
    item.code = load_u32(code_byte(b, s));
    if (TYPE == T_Q5_0 || TYPE == T_Q5_1) {
        item.high = load_u32(high_byte(b));
    }
    item.x = act[a + FIRST_CODE + s];
    if (s < 2u) {
        item.d = load_u16(b + 2u * s);
        item.yd = act[a + s];
    }
    return item;
}

// Stages a fetched slot s as staged block j: its lane sum, and dx·y.d
// (slot 0) or x.m and y.s (slot 1, `_1` kinds).
fn stage_legacy(j: u32, item: LegacyItem, s: u32) {
    ints_a[8u * j + s] = dot(codes_of(item.code, item.high, s), sbytes4(item.x));
    if (s == 0u) {
        floats_a[j] = f16_value(item.d) * bitcast<f32>(item.yd);
    }
    if (OFFSET && s == 1u) {
        floats_b[j] = f16_value(item.d);
        floats_c[j] = bitcast<f32>(item.yd);
    }
}

// Stages slot s of the super-block at byte `b` (activations at word `a`)
// as staged block j, with the scale products each type's chain uses.
fn stage_kquant(j: u32, b: u32, a: u32, s: u32) {
    var codes = slot_codes(b, s);
    let v = slot_ints(&codes, b, s, a);
    ints_a[8u * j + s] = v.x;
    ints_b[8u * j + s] = v.y;
    if (s != 0u) {
        return;
    }
    let yd = bitcast<f32>(act[a]);
    switch (TYPE) {
        case T_Q4_K: {
            floats_a[j] = load_f16(b) * yd;
            floats_b[j] = load_f16(b + 2u) * yd;
        }
        case T_Q5_K: {
            floats_a[j] = yd * load_f16(b);
            floats_b[j] = -yd * load_f16(b + 2u);
        }
        default: {
            floats_a[j] = load_f16(b + 208u) * yd;
        }
    }
}

// The exact integer sums of the 8 slots of staged block j: (Σ ints_a,
// Σ ints_b).
fn slot_totals(j: u32) -> vec2<i32> {
    var total = vec2<i32>(0);
    for (var s = 0u; s < 8u; s++) {
        total += vec2<i32>(ints_a[8u * j + s], ints_b[8u * j + s]);
    }
    return total;
}

// Whether this thread runs a chain: the 8 lanes of each row, or (Q4_K,
// Q5_K) the row's own.
fn is_chain(tid: u32) -> bool {
    return tid < select(8u * ROWS, ROWS, TYPE == T_Q4_K || TYPE == T_Q5_K);
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    if (min(step.n_tokens, params.max_tokens) == 0u) {
        return;
    }
    let row0 = (wid.x + wid.z * groups.x) * ROWS;
    // The chains: lane tid % 8 of row tid / 8 (legacy, Q6_K) or row tid's
    // (Q4_K/Q5_K), and one beside it (`summs` of Q4_1/Q5_1, K's mins).
    let chain_row = select(tid / 8u, tid, TYPE == T_Q4_K || TYPE == T_Q5_K);
    let lane = tid % 8u;
    var acc = 0.0;
    var acc2 = 0.0;
    for (var c0 = 0u; c0 < params.blocks; c0 += CHUNK) {
        let count = min(CHUNK, params.blocks - c0);
        // 1. Stage item i = tid + 64k: slot i % 8 of block j = (i / 8) % count
        // of row (i / 8) / count, so consecutive threads read consecutive
        // words, and a short last chunk leaves whole threads idle.
        var fetched: array<LegacyItem, ITEMS>;
        for (var k = 0u; k < ITEMS; k++) {
            let i = tid + THREADS * k;
            if (i < 8u * ROWS * count) {
                let r = i / 8u / count;
                let j = i / 8u % count;
                // Rows past the end stage the last row's blocks, unused.
                let row = min(row0 + r, params.rows - 1u);
                let b = params.w_offset + row * params.row_bytes + (c0 + j) * BLOCK_BYTES;
                let a = (c0 + j) * ACT_BLOCK_WORDS;
                if (KQUANT) {
                    stage_kquant(r * CHUNK + j, b, a, i % 8u);
                } else {
                    fetched[k] = fetch_legacy(b, a, i % 8u);
                }
            }
        }
        if (!KQUANT) {
            for (var k = 0u; k < ITEMS; k++) {
                let i = tid + THREADS * k;
                if (i < 8u * ROWS * count) {
                    let j = i / 8u % count;
                    stage_legacy(i / 8u / count * CHUNK + j, fetched[k], i % 8u);
                }
            }
        }
        workgroupBarrier();
        // 2. The chains, block by block.
        if (is_chain(tid)) {
            for (var j = 0u; j < count; j++) {
                let rj = chain_row * CHUNK + j;
                if (TYPE == T_Q4_K || TYPE == T_Q5_K) {
                    let total = slot_totals(rj);
                    acc = fma_rn(f32(total.x), floats_a[rj], acc);
                    acc2 = fma_rn(f32(total.y), floats_b[rj], acc2);
                } else {
                    acc = fma_rn(floats_a[rj], f32(ints_a[8u * rj + lane]), acc);
                    if (OFFSET) {
                        acc2 = fma_rn(floats_b[rj], floats_c[rj], acc2);
                    }
                }
            }
        }
        workgroupBarrier();
    }
    var result: f32;
    var writes: bool;
    switch (TYPE) {
        case T_Q4_K: {
            result = acc - acc2;
            writes = tid < ROWS;
        }
        case T_Q5_K: {
            result = acc + acc2;
            writes = tid < ROWS;
        }
        default: {
            lanes[tid] = acc;
            workgroupBarrier();
            var x: array<f32, 8>;
            for (var l = 0u; l < 8u; l++) {
                x[l] = lanes[8u * chain_row + l];
            }
            result = hsum8(x);
            if (OFFSET) {
                result = result + acc2;
            }
            writes = lane == 0u && is_chain(tid);
        }
    }
    let row = row0 + chain_row;
    if (writes && row < params.rows) {
        y[params.y_offset + row] = result;
    }
}
