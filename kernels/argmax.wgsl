//! choose: PARTIAL FINAL
//! flags: SUBGROUPS
// Greedy sampling on the GPU: the index of the largest logit, ties to the
// lowest index, NaN never chosen, and 0 when no logit beats -inf: what the
// CPU sampler's `argmax` returns. Two dispatches:
//   PARTIAL: workgroup w reduces logits [w * CHUNK, (w + 1) * CHUNK) to one
//            (value, index) pair in `partial`;
//   FINAL:   one workgroup reduces the pairs and writes the index (u32) to
//            `out`, e.g. the token buffer the next step's embedding reads.
// Within a workgroup the pairs are reduced with subgroupMax/subgroupMin
// where the adapter has subgroups, with a shared-memory tree otherwise.

struct Params {
    count: u32,          // logits (PARTIAL) or pairs (FINAL) to reduce
    logits_offset: u32,  // index of logit 0 in `logits`
    out_offset: u32,     // word of `out` that receives the index
    _pad: u32,
}

#if PARTIAL
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<u32>;
#endif
#if FINAL
@group(0) @binding(1) var<storage, read> partial: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
#endif
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 256u;
const CHUNK: u32 = 4096u;     // logits per PARTIAL workgroup
const LOWEST: f32 = -3.40282346e38; // -f32::MAX (Tint refuses -3.4028235e38 as out of range)
const NONE: u32 = 0xffffffffu;

var<workgroup> best_value: array<f32, WG>;
var<workgroup> best_index: array<u32, WG>;

// Whether (v, i) beats (bv, bi): larger, or equal with a lower index. NaN
// never beats anything, and -inf never beats the initial LOWEST.
fn beats(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    return v > bv || (v == bv && i < bi);
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
#if SUBGROUPS
    @builtin(subgroup_size) sg_size: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
#endif
) {
    var bv = LOWEST;
    var bi = NONE;
#if PARTIAL
    let w = wid.x + wid.y * groups.x;
    let end = min(params.count, (w + 1u) * CHUNK);
    for (var i = w * CHUNK + lid; i < end; i += WG) {
        let v = logits[params.logits_offset + i];
        if (beats(v, i, bv, bi)) {
            bv = v;
            bi = i;
        }
    }
#endif
#if FINAL
    for (var p = lid; p < params.count; p += WG) {
        let v = bitcast<f32>(partial[2u * p]);
        let i = partial[2u * p + 1u];
        if (beats(v, i, bv, bi)) {
            bv = v;
            bi = i;
        }
    }
#endif

#if SUBGROUPS
    // Subgroup best, then one entry per subgroup (they tile the workgroup
    // in index order), reduced by thread 0.
    let top = subgroupMax(bv);
    let index = subgroupMin(select(NONE, bi, bv == top));
    if (sg_lane == 0u) {
        best_value[lid / sg_size] = top;
        best_index[lid / sg_size] = index;
    }
    workgroupBarrier();
    if (lid == 0u) {
        for (var s = 1u; s < WG / sg_size; s++) {
            if (beats(best_value[s], best_index[s], best_value[0], best_index[0])) {
                best_value[0] = best_value[s];
                best_index[0] = best_index[s];
            }
        }
    }
#else
    best_value[lid] = bv;
    best_index[lid] = bi;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride && beats(best_value[lid + stride], best_index[lid + stride], best_value[lid], best_index[lid])) {
            best_value[lid] = best_value[lid + stride];
            best_index[lid] = best_index[lid + stride];
        }
        workgroupBarrier();
    }
#endif

    if (lid == 0u) {
#if PARTIAL
        partial[2u * w] = bitcast<u32>(best_value[0]);
        partial[2u * w + 1u] = best_index[0];
#endif
#if FINAL
        out[params.out_offset] = select(best_index[0], 0u, best_index[0] == NONE);
#endif
    }
}
