//! The `fast` attention kernels (`kernels/fast/flash_attention.wgsl` for a
//! batch, `kernels/fast/split_attention.wgsl` for one token) against a
//! straightforward f64 softmax attention over the same f16 KV cache, on
//! seeded random data, natively on wgpu (Mesa's lavapipe in CI): odd token
//! counts, a cache prefix before the batch, grouped-query heads, a sliding
//! window, head widths 64 and 256, several chunks and one.
//!
//! The split kernel's `SplitRope` form (the step between the QKV mat-vec
//! and attention done in the same pass: q/k norms, RoPE, the query scale,
//! the KV store) is checked against rotating on the CPU first, and its
//! stores against the CPU's rotated key and the value, rounded to f16.
//!
//! Bound: NMSE = Σ(gpu − ref)² / Σ ref² ≤ 1e-5 over each whole output. The
//! kernels round the queries to f16 (like the cache) and compute in f32
//! (about 1e-8 measured). A causal mask off by one position or a dropped
//! tile of keys gives an NMSE of order 1e-3 to 1e-1, which
//! `the_bound_catches_a_wrong_kernel` demonstrates.

use half::f16;
use locus::cpu::attention::AttentionShape;
use locus::cpu::rope::Rotation;
use locus::gpu::GpuContext;
use locus::gpu::fast::attention::{
    FastAttention, RopeSpec, SplitChunks, fast_attention_step, split_rope_step,
};
use locus::model::RopeStyle;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const BOUND: f64 = 1e-5;

/// Whether a token at position `pos` attends position `j`.
type Mask = fn(usize, usize) -> bool;

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

fn shape(heads: usize, kv_heads: usize, head_dim: usize, window: Option<usize>) -> AttentionShape {
    AttentionShape {
        heads,
        kv_heads,
        head_dim,
        value_dim: head_dim,
        scale: 1.0 / (head_dim as f32).sqrt(),
        window,
    }
}

fn uniform(rng: &mut SmallRng, n: usize, size: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-size..size)).collect()
}

/// One step's data: the cache before it (random prefix `..pos0`, zeros
/// after), the queries and the new keys and values.
struct Case {
    keys: Vec<f16>,
    values: Vec<f16>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    pos0: usize,
    n: usize,
}

impl Case {
    fn new(shape: &AttentionShape, pos0: usize, n: usize, seed: u64) -> Case {
        let mut rng = SmallRng::seed_from_u64(seed);
        let capacity = pos0 + n + 3;
        let (kw, vw) = (
            shape.kv_heads * shape.head_dim,
            shape.kv_heads * shape.value_dim,
        );
        let mut prefix = |width: usize| -> Vec<f16> {
            let mut cache: Vec<f16> = uniform(&mut rng, pos0 * width, 2.0)
                .into_iter()
                .map(f16::from_f32)
                .collect();
            cache.resize(capacity * width, f16::ZERO);
            cache
        };
        let (keys, values) = (prefix(kw), prefix(vw));
        Case {
            keys,
            values,
            q: uniform(&mut rng, n * shape.heads * shape.head_dim, 2.0),
            k: uniform(&mut rng, n * kw, 2.0),
            v: uniform(&mut rng, n * vw, 2.0),
            pos0,
            n,
        }
    }

    fn run(&self, ctx: &GpuContext, shape: &AttentionShape, kernel: FastAttention) -> Vec<f32> {
        pollster::block_on(fast_attention_step(
            ctx,
            shape,
            (&self.keys, &self.values),
            &self.q,
            &self.k,
            &self.v,
            self.pos0,
            kernel,
        ))
        .unwrap()
    }

    /// Softmax attention in f64 over the cache after the step's store; token
    /// t attends the positions `attends(position, j)` allows.
    fn reference(
        &self,
        shape: &AttentionShape,
        attends: impl Fn(usize, usize) -> bool,
    ) -> Vec<f64> {
        let (hd, vd) = (shape.head_dim, shape.value_dim);
        let (kw, vw) = (shape.kv_heads * hd, shape.kv_heads * vd);
        let mut keys: Vec<f64> = self.keys.iter().map(|x| f64::from(x.to_f32())).collect();
        let mut values: Vec<f64> = self.values.iter().map(|x| f64::from(x.to_f32())).collect();
        let round = |x: &f32| f64::from(f16::from_f32(*x).to_f32());
        for (i, x) in self.k.iter().enumerate() {
            keys[self.pos0 * kw + i] = round(x);
        }
        for (i, x) in self.v.iter().enumerate() {
            values[self.pos0 * vw + i] = round(x);
        }
        let group = shape.heads / shape.kv_heads;
        let mut out = Vec::with_capacity(self.n * shape.heads * vd);
        for t in 0..self.n {
            let pos = self.pos0 + t;
            for h in 0..shape.heads {
                let kv = h / group;
                let q = &self.q[(t * shape.heads + h) * hd..][..hd];
                let scores: Vec<(usize, f64)> = (0..=pos)
                    .filter(|&j| attends(pos, j))
                    .map(|j| {
                        let k = &keys[j * kw + kv * hd..][..hd];
                        let dot: f64 = q.iter().zip(k).map(|(&a, &b)| f64::from(a) * b).sum();
                        (j, dot * f64::from(shape.scale))
                    })
                    .collect();
                let top = scores.iter().map(|s| s.1).fold(f64::MIN, f64::max);
                let weights: Vec<(usize, f64)> =
                    scores.iter().map(|&(j, s)| (j, (s - top).exp())).collect();
                let sum: f64 = weights.iter().map(|w| w.1).sum();
                for c in 0..vd {
                    out.push(
                        weights
                            .iter()
                            .map(|&(j, w)| w * values[j * vw + kv * vd + c])
                            .sum::<f64>()
                            / sum,
                    );
                }
            }
        }
        out
    }
}

/// The positions a token at `pos` attends under `shape`'s window.
fn causal(shape: &AttentionShape) -> impl Fn(usize, usize) -> bool + use<> {
    let window = shape.window;
    move |pos, j| j <= pos && window.is_none_or(|w| j + w > pos)
}

fn nmse(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (err, norm) = got.iter().zip(want).fold((0.0, 0.0), |(e, n), (&g, &w)| {
        (e + (f64::from(g) - w).powi(2), n + w * w)
    });
    err / norm
}

fn check(ctx: &GpuContext, shape: &AttentionShape, case: &Case, kernel: FastAttention) -> f64 {
    let got = case.run(ctx, shape, kernel);
    let error = nmse(&got, &case.reference(shape, causal(shape)));
    eprintln!(
        "{kernel:?}: {}/{} heads × {}, window {:?}, {} tokens at {}: NMSE {error:.2e}",
        shape.heads, shape.kv_heads, shape.head_dim, shape.window, case.n, case.pos0
    );
    assert!(error <= BOUND, "NMSE {error:e} > {BOUND:e}");
    error
}

#[test]
fn flash_attention_matches_the_reference() {
    let ctx = context();
    // Grouped-query: 6 heads over 2 KV heads.
    let gqa = shape(6, 2, 64, None);
    for (n, pos0) in [(1, 0), (3, 0), (17, 0), (33, 0), (17, 21), (3, 40)] {
        check(
            &ctx,
            &gqa,
            &Case::new(&gqa, pos0, n, 1),
            FastAttention::Flash,
        );
    }
    // A sliding window shorter than the batch and the prefix.
    let windowed = shape(4, 2, 64, Some(7));
    for (n, pos0) in [(33, 10), (5, 30)] {
        check(
            &ctx,
            &windowed,
            &Case::new(&windowed, pos0, n, 2),
            FastAttention::Flash,
        );
    }
    // Gemma 3's widths: 256-wide heads, one KV head.
    let wide = shape(2, 1, 256, Some(20));
    check(
        &ctx,
        &wide,
        &Case::new(&wide, 9, 17, 3),
        FastAttention::Flash,
    );
    // Values narrower than keys.
    let mut narrow = shape(3, 3, 48, None);
    narrow.value_dim = 32;
    check(
        &ctx,
        &narrow,
        &Case::new(&narrow, 4, 19, 4),
        FastAttention::Flash,
    );
}

#[test]
fn split_attention_matches_the_reference() {
    let ctx = context();
    let gqa = shape(6, 2, 64, None);
    let many = FastAttention::Split(SplitChunks {
        min_chunk: 8,
        max_chunks: 16,
    });
    for pos0 in [0, 5, 100, 300] {
        let case = Case::new(&gqa, pos0, 1, 5);
        // Several chunks (up to 16 of at least 8 positions), and the default
        // split, one chunk for these short contexts.
        check(&ctx, &gqa, &case, many);
        let default = SplitChunks::for_capacity((pos0 + 4) as u32);
        check(&ctx, &gqa, &case, FastAttention::Split(default));
    }
    let windowed = shape(4, 1, 64, Some(50));
    check(&ctx, &windowed, &Case::new(&windowed, 300, 1, 6), many);
    let wide = shape(2, 1, 256, None);
    check(&ctx, &wide, &Case::new(&wide, 77, 1, 7), many);
}

#[test]
fn the_bound_catches_a_wrong_kernel() {
    let ctx = context();
    let gqa = shape(6, 2, 64, None);
    let case = Case::new(&gqa, 40, 17, 8);
    let got = case.run(&ctx, &gqa, FastAttention::Flash);
    assert!(nmse(&got, &case.reference(&gqa, causal(&gqa))) <= BOUND);
    let wrong: [(&str, Mask); 3] = [
        ("mask one position short", |pos, j| j < pos),
        ("a dropped tile", |pos, j| {
            j <= pos && !(16..32).contains(&j)
        }),
        ("position 0 dropped", |pos, j| j <= pos && j > 0),
    ];
    for (what, attends) in wrong {
        let error = nmse(&got, &case.reference(&gqa, attends));
        eprintln!("{what}: NMSE {error:.2e}");
        assert!(error > 100.0 * BOUND, "{what}: NMSE {error:e}");
    }
}

#[test]
fn split_attention_takes_one_token() {
    let ctx = context();
    let gqa = shape(6, 2, 64, None);
    let case = Case::new(&gqa, 3, 2, 9);
    let kernel = FastAttention::Split(SplitChunks::for_capacity(8));
    let result = pollster::block_on(fast_attention_step(
        &ctx,
        &gqa,
        (&case.keys, &case.values),
        &case.q,
        &case.k,
        &case.v,
        case.pos0,
        kernel,
    ));
    assert!(
        matches!(result, Err(locus::gpu::GpuError::Shape(_))),
        "{result:?}"
    );
}

/// Gemma 3's per-head RMSNorm on the CPU (f32, as the kernel).
fn head_norm(heads: &mut [f32], head_dim: usize, weights: &[f32], eps: f32) {
    for head in heads.chunks_exact_mut(head_dim) {
        let mean = head.iter().map(|v| v * v).sum::<f32>() / head_dim as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for (v, w) in head.iter_mut().zip(weights) {
            *v *= scale * w;
        }
    }
}

/// One `SplitRope` step against the CPU: the case's q and k (as the QKV
/// mat-vec wrote them) normalised, rotated and scaled on the CPU, then the
/// reference attention; and the cache after the step. Returns the output's
/// NMSE against `reference_rotation` (the right one, or a wrong one to
/// show the bound catches it).
fn check_rope(
    ctx: &GpuContext,
    shape: &AttentionShape,
    case: &Case,
    rope: &RopeSpec<'_>,
    chunks: SplitChunks,
    reference_pos: usize,
) -> f64 {
    let qkv: Vec<f32> = [&case.q[..], &case.k, &case.v].concat();
    let got = pollster::block_on(split_rope_step(
        ctx,
        shape,
        (&case.keys, &case.values),
        &qkv,
        case.pos0,
        rope,
        chunks,
    ))
    .unwrap();
    let rotation = Rotation::new(rope.dims, reference_pos, rope.base, 1.0);
    let mut rotated = Case {
        keys: case.keys.clone(),
        values: case.values.clone(),
        q: case.q.clone(),
        k: case.k.clone(),
        v: case.v.clone(),
        pos0: case.pos0,
        n: 1,
    };
    if let Some((q_norm, k_norm, eps)) = rope.norms {
        head_norm(&mut rotated.q, shape.head_dim, q_norm, eps);
        head_norm(&mut rotated.k, shape.head_dim, k_norm, eps);
    }
    rotation.rotate(&mut rotated.q, shape.head_dim, rope.style);
    rotation.rotate(&mut rotated.k, shape.head_dim, rope.style);
    rotated.q.iter_mut().for_each(|v| *v *= rope.q_scale);
    let error = nmse(&got.out, &rotated.reference(shape, causal(shape)));
    // The cache: the token's rotated key and its value at pos0, rounded
    // to f16 (a rounding apart at most: the GPU may fuse the rotation's
    // multiply-adds differently), every other position as it was.
    let kw = shape.kv_heads * shape.head_dim;
    let vw = shape.kv_heads * shape.value_dim;
    for (cache, before, new, width) in [
        (&got.keys, &case.keys, &rotated.k, kw),
        (&got.values, &case.values, &rotated.v, vw),
    ] {
        for (i, (g, b)) in cache.iter().zip(before.iter()).enumerate() {
            if i / width != case.pos0 {
                assert_eq!(g.to_bits(), b.to_bits(), "cache word {i} changed");
            } else if reference_pos == case.pos0 {
                let want = new[i % width];
                let ulp = f32::from(half::f16::from_f32(want.abs())).max(6e-5) / 1024.0;
                assert!(
                    (g.to_f32() - want).abs() <= ulp * 1.01,
                    "stored {} for {want} at {i}",
                    g.to_f32()
                );
            }
        }
    }
    eprintln!(
        "rope {:?} {} dims, norms {}: {}/{} heads × {}, window {:?}, at {}, {} chunks: NMSE {error:.2e}",
        rope.style,
        rope.dims,
        rope.norms.is_some(),
        shape.heads,
        shape.kv_heads,
        shape.head_dim,
        shape.window,
        case.pos0,
        got.scratch[0],
    );
    error
}

#[test]
fn split_attention_with_rope_matches_rotating_first() {
    let ctx = context();
    let many = SplitChunks {
        min_chunk: 8,
        max_chunks: 16,
    };
    let rope = |style, dims| RopeSpec {
        style,
        dims,
        base: 10_000.0,
        norms: None,
        q_scale: 1.0,
    };
    let gqa = shape(6, 2, 64, None);
    for pos0 in [0, 5, 100, 300] {
        let case = Case::new(&gqa, pos0, 1, 10 + pos0 as u64);
        for style in [RopeStyle::Normal, RopeStyle::Neox] {
            for chunks in [many, SplitChunks::for_capacity((pos0 + 4) as u32)] {
                let error = check_rope(&ctx, &gqa, &case, &rope(style, 64), chunks, pos0);
                assert!(error <= BOUND, "NMSE {error:e}");
            }
        }
    }
    // Partial rotation (Phi-like), a window, and Gemma 3's form: 256-wide
    // heads, q/k norms and the query scale.
    let case = Case::new(&gqa, 50, 1, 11);
    let error = check_rope(&ctx, &gqa, &case, &rope(RopeStyle::Neox, 32), many, 50);
    assert!(error <= BOUND, "NMSE {error:e}");
    let windowed = shape(4, 1, 64, Some(50));
    let case = Case::new(&windowed, 300, 1, 12);
    let error = check_rope(
        &ctx,
        &windowed,
        &case,
        &rope(RopeStyle::Normal, 64),
        many,
        300,
    );
    assert!(error <= BOUND, "NMSE {error:e}");
    let mut gemma = shape(4, 1, 256, Some(20));
    gemma.scale = 1.0;
    let mut rng = SmallRng::seed_from_u64(13);
    let (q_norm, k_norm) = (uniform(&mut rng, 256, 2.0), uniform(&mut rng, 256, 2.0));
    let gemma_rope = RopeSpec {
        norms: Some((&q_norm, &k_norm, 1e-6)),
        q_scale: 0.0625,
        ..rope(RopeStyle::Neox, 256)
    };
    for pos0 in [7, 77] {
        let case = Case::new(&gemma, pos0, 1, 14);
        let error = check_rope(&ctx, &gemma, &case, &gemma_rope, many, pos0);
        assert!(error <= BOUND, "NMSE {error:e}");
    }
}

#[test]
fn the_rope_bound_catches_a_wrong_rotation() {
    let ctx = context();
    let gqa = shape(6, 2, 64, None);
    let case = Case::new(&gqa, 100, 1, 15);
    let rope = RopeSpec {
        style: RopeStyle::Normal,
        dims: 64,
        base: 10_000.0,
        norms: None,
        q_scale: 1.0,
    };
    let chunks = SplitChunks {
        min_chunk: 8,
        max_chunks: 16,
    };
    // The token rotated as if one position later.
    let error = check_rope(&ctx, &gqa, &case, &rope, chunks, 101);
    assert!(
        error > 100.0 * BOUND,
        "a position off by one passes: {error:e}"
    );
}
