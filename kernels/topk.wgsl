//! choose: FIRST MERGE
// The k largest logits with their indices, best first, ties to the lower
// index (the order of the CPU sampler's stable sort), so that temperature /
// top-p sampling can finish on the host from a few hundred bytes. NaN and
// -inf are never chosen; missing entries (fewer than k candidates) have
// index NONE. Two dispatches:
//   FIRST: workgroup w finds the top k of logits [w * CHUNK, (w + 1) * CHUNK)
//          and writes them as (value bits, index) pairs to `partial`;
//   MERGE: one workgroup finds the top k of all those pairs and writes
//          (index, value bits) pairs to `out`.
// Each of k rounds picks the best candidate ranked after the previous pick
// (order: value descending, then index ascending) with a shared-memory
// reduction; candidates are re-read each round, so nothing is sized by k
// beyond the output.

struct Params {
    count: u32,          // logits (FIRST) or pairs (MERGE)
    k: u32,
    logits_offset: u32,  // index of logit 0 in `logits`
    out_offset: u32,     // word of `out` that receives pair 0
}

#if FIRST
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<u32>;
#endif
#if MERGE
@group(0) @binding(1) var<storage, read> partial: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
#endif
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 256u;
const CHUNK: u32 = 4096u;
const LOWEST: f32 = -3.40282346e38; // -f32::MAX (Tint refuses -3.4028235e38 as out of range)
const NONE: u32 = 0xffffffffu;

var<workgroup> best_value: array<f32, WG>;
var<workgroup> best_index: array<u32, WG>;

fn beats(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    return v > bv || (v == bv && i < bi);
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
#if FIRST
    let w = wid.x + wid.y * groups.x;
    let start = w * CHUNK;
    let end = min(params.count, start + CHUNK);
#endif
#if MERGE
    let start = 0u;
    let end = params.count;
#endif
    var prev_v = LOWEST;
    var prev_i = NONE;
    for (var r = 0u; r < params.k; r++) {
        var bv = LOWEST;
        var bi = NONE;
        for (var c = start + lid; c < end; c += WG) {
#if FIRST
            let v = logits[params.logits_offset + c];
            let i = c;
#endif
#if MERGE
            let v = bitcast<f32>(partial[2u * c]);
            let i = partial[2u * c + 1u];
#endif
            // Ranked after the previous pick (everything, in round 0).
            let after = r == 0u || beats(prev_v, prev_i, v, i);
            if (after && beats(v, i, bv, bi)) {
                bv = v;
                bi = i;
            }
        }
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
        prev_v = best_value[0];
        prev_i = best_index[0];
        if (lid == 0u) {
#if FIRST
            partial[2u * (w * params.k + r)] = bitcast<u32>(prev_v);
            partial[2u * (w * params.k + r) + 1u] = prev_i;
#endif
#if MERGE
            out[params.out_offset + 2u * r] = prev_i;
            out[params.out_offset + 2u * r + 1u] = bitcast<u32>(prev_v);
#endif
        }
        // Everyone has read the pick before the next round overwrites it.
        workgroupBarrier();
    }
}
