//! The `fast` one-token mat-vec (`kernels/fast/matvec.wgsl`) against the CPU
//! on seeded random weights of every type, odd shapes, with each fused
//! piece (RMSNorm of the input, bias, residual add, SiLU/GELU gating) and
//! both reductions (subgroups, shared memory).
//!
//! The reference dequantises on the CPU (`quant::dequantize`) and computes
//! in f64; the kernel sums in f32 in another order, so the bound is on the
//! normalised mean squared error: NMSE = Σ(got − want)² / Σ want² ≤ 1e-9
//! (f32 rounding gives about 1e-13 here). A kernel that reads x one value
//! off, or a block's neighbour's scale, is off by far more (checked below).
//!
//! `COMBINE` (the output projection reading split attention's chunks) is
//! checked against the same mat-vec over the reduce pass's output, on a
//! real split attention step: the same bound, and a combine that drops a
//! chunk fails it.

mod gpu_weights;

use gpu_weights::{col_cases, random_matrix, random_x};
use locus::cpu::attention::AttentionShape;
use locus::cpu::ops::gelu_tanh;
use locus::gpu::GpuContext;
use locus::gpu::fast::attention::{RopeSpec, SplitChunks, split_rope_step};
use locus::gpu::fast::matvec::{Combine, Epilogue, FastInputs, WIDE_FROM_ROWS, fast_matvec};
use locus::gpu::matvec::GpuMatrix;
use locus::model::RopeStyle;
use locus::quant::GgmlType;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const MAX_NMSE: f64 = 1e-9;
const EPS: f32 = 1e-5;

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

fn nmse(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let err: f64 = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (f64::from(g) - w).powi(2))
        .sum();
    let norm: f64 = want.iter().map(|w| w * w).sum();
    err / norm.max(1e-300)
}

/// One case's inputs, generated from a seed.
struct Case {
    ty: GgmlType,
    /// Rows of the matrix (twice the outputs when gated).
    rows: usize,
    cols: usize,
    bytes: Vec<u8>,
    x: Vec<f32>,
    norm: Option<Vec<f32>>,
    bias: Option<Vec<f32>>,
    y: Vec<f32>,
    epilogue: Epilogue,
}

impl Case {
    fn new(
        ty: GgmlType,
        outputs: usize,
        cols: usize,
        epilogue: Epilogue,
        norm: bool,
        bias: bool,
    ) -> Case {
        let mut rng = SmallRng::seed_from_u64((outputs * 7919 + cols) as u64 ^ ty.id() as u64);
        let rows = if epilogue.is_gated() {
            2 * outputs
        } else {
            outputs
        };
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        // Hidden states are larger than 1 and uneven: the norm matters.
        let x: Vec<f32> = random_x(&mut rng, cols).iter().map(|v| 3.0 * v).collect();
        let norm = norm.then(|| (0..cols).map(|_| rng.random_range(0.5..1.5)).collect());
        let bias = bias.then(|| random_x(&mut rng, outputs));
        let y = random_x(&mut rng, outputs);
        Case {
            ty,
            rows,
            cols,
            bytes,
            x,
            norm,
            bias,
            y,
            epilogue,
        }
    }

    /// The CPU's answer for weights `bytes` and input `x`.
    fn reference(&self, bytes: &[u8], x: &[f32]) -> Vec<f64> {
        self.answers(bytes, x)
            .into_iter()
            .map(|a| a.value)
            .collect()
    }

    /// The CPU's answers, each with the other value a correct kernel may
    /// give: GELU reads ggml's table at the gate rounded to f16, and where
    /// the gate lies within f32 summation error of an f16 rounding midpoint
    /// the kernel's f32 gate may round to the neighbouring entry.
    fn answers(&self, bytes: &[u8], x: &[f32]) -> Vec<Answer> {
        let w = gpu_weights::dequantize(self.ty, bytes, self.cols);
        let mut xn: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        if let Some(norm) = &self.norm {
            let mean = xn.iter().map(|v| v * v).sum::<f64>() / self.cols as f64;
            let scale = 1.0 / (mean + f64::from(EPS)).sqrt();
            for (v, &n) in xn.iter_mut().zip(norm) {
                *v *= scale * f64::from(n);
            }
        }
        let terms = |row: usize| w[row * self.cols..][..self.cols].iter().zip(&xn);
        let dot = |row: usize| -> f64 { terms(row).map(|(&w, x)| f64::from(w) * x).sum() };
        let outputs = self.y.len();
        (0..outputs)
            .map(|r| {
                let mut v = dot(r);
                if let Some(bias) = &self.bias {
                    v += f64::from(bias[r]);
                }
                let up = if self.epilogue.is_gated() {
                    dot(r + outputs)
                } else {
                    0.0
                };
                let value = |v: f64| match self.epilogue {
                    Epilogue::Store => v,
                    Epilogue::Add => f64::from(self.y[r]) + v,
                    Epilogue::SiluMul => v / (1.0 + (-v).exp()) * up,
                    // ggml's GELU goes through its f16 table, and so
                    // does the kernel's.
                    Epilogue::GeluMul => f64::from(gelu_tanh(v as f32)) * up,
                };
                let answer = value(v);
                let mut alternative = None;
                if self.epilogue == Epilogue::GeluMul {
                    // f32 sums of these lengths stay well within 2^-20 of
                    // the sum of the terms' magnitudes.
                    let slack = terms(r)
                        .map(|(&w, x)| (f64::from(w) * x).abs())
                        .sum::<f64>()
                        * 2f64.powi(-20);
                    let (low, high) = (value(v - slack), value(v + slack));
                    let other = if low == answer { high } else { low };
                    alternative = (other != answer).then_some(other);
                }
                Answer {
                    value: answer,
                    alternative,
                }
            })
            .collect()
    }

    fn run(&self, ctx: &GpuContext, no_subgroups: bool) -> Vec<f32> {
        let matrix = GpuMatrix::upload(ctx, self.ty, self.rows, self.cols, &self.bytes).unwrap();
        let inputs = FastInputs {
            x: &self.x,
            epilogue: self.epilogue,
            norm: self.norm.as_deref().map(|n| (n, EPS)),
            bias: self.bias.as_deref(),
            y: Some(&self.y),
            no_subgroups,
            combine: None,
        };
        pollster::block_on(fast_matvec(ctx, &matrix, inputs)).unwrap()
    }
}

/// One output's CPU answer, and the other a correct kernel may give.
struct Answer {
    value: f64,
    alternative: Option<f64>,
}

/// Per output, the answer nearer `got`, and how many were alternatives.
fn nearer(got: &[f32], answers: &[Answer]) -> (Vec<f64>, usize) {
    let mut alternatives = 0;
    let want = got
        .iter()
        .zip(answers)
        .map(|(&g, answer)| match answer.alternative {
            Some(other) if (f64::from(g) - other).abs() < (f64::from(g) - answer.value).abs() => {
                alternatives += 1;
                other
            }
            _ => answer.value,
        })
        .collect();
    (want, alternatives)
}

fn check(ctx: &GpuContext, case: &Case) {
    let answers = case.answers(&case.bytes, &case.x);
    let reductions: &[bool] = if ctx.capabilities.subgroups {
        &[false, true]
    } else {
        &[true]
    };
    for &no_subgroups in reductions {
        let got = case.run(ctx, no_subgroups);
        let (want, alternatives) = nearer(&got, &answers);
        let error = nmse(&got, &want);
        let worst = (0..got.len())
            .max_by(|&a, &b| {
                let e = |i: usize| (f64::from(got[i]) - want[i]).abs();
                e(a).total_cmp(&e(b))
            })
            .unwrap_or(0);
        assert!(
            error <= MAX_NMSE,
            "{} {:?} {} × {} (norm {}, bias {}, subgroups {}): NMSE {error:e}; \
             worst output {worst}: {} against {} ({alternatives} answers were \
             the neighbouring GELU table entry's)",
            case.ty,
            case.epilogue,
            case.rows,
            case.cols,
            case.norm.is_some(),
            case.bias.is_some(),
            !no_subgroups,
            got[worst],
            want[worst],
        );
        if alternatives > 0 {
            eprintln!(
                "{} {:?} {} × {}: {alternatives} of {} outputs matched the gate's other f16 rounding",
                case.ty,
                case.epilogue,
                case.rows,
                case.cols,
                got.len()
            );
        }
    }
}

const TYPES: [GgmlType; 11] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

#[test]
fn every_type_with_norm_and_bias_matches_the_cpu() {
    let ctx = context();
    for ty in TYPES {
        for &cols in col_cases(ty) {
            // 37 rows: not a multiple of the workgroup's rows.
            check(&ctx, &Case::new(ty, 37, cols, Epilogue::Store, true, true));
        }
    }
}

#[test]
fn every_type_plain_matches_the_cpu() {
    let ctx = context();
    for ty in TYPES {
        let cols = col_cases(ty)[1];
        check(&ctx, &Case::new(ty, 5, cols, Epilogue::Store, false, false));
    }
}

#[test]
fn epilogues_match_the_cpu() {
    let ctx = context();
    for ty in [
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
    ] {
        let cols = col_cases(ty)[1];
        for epilogue in [Epilogue::Add, Epilogue::SiluMul, Epilogue::GeluMul] {
            check(&ctx, &Case::new(ty, 19, cols, epilogue, true, false));
            check(&ctx, &Case::new(ty, 3, cols, epilogue, false, false));
        }
    }
}

/// Tall matrices (heads) take the `WIDE` variant (4 rows per thread
/// group), except Q4_K and Q5_K (their 64-value units leave no room);
/// odd row counts leave a partial last workgroup.
#[test]
fn wide_matrices_match_the_cpu() {
    let ctx = context();
    let rows = WIDE_FROM_ROWS + 3;
    for ty in [
        GgmlType::Q8_0,
        GgmlType::Q5_0,
        GgmlType::Q6_K,
        GgmlType::F16,
    ] {
        let cols = col_cases(ty)[1];
        check(
            &ctx,
            &Case::new(ty, rows, cols, Epilogue::Store, true, false),
        );
    }
    let cols = col_cases(GgmlType::Q6_K)[0];
    check(
        &ctx,
        &Case::new(GgmlType::Q6_K, rows, cols, Epilogue::SiluMul, true, false),
    );
    check(
        &ctx,
        &Case::new(GgmlType::Q6_K, rows + 2, cols, Epilogue::Add, false, true),
    );
    for ty in [GgmlType::Q4_K, GgmlType::Q5_K] {
        check(
            &ctx,
            &Case::new(ty, rows, 768, Epilogue::Store, true, false),
        );
    }
}

/// The bound must reject wrong kernels: the correct GPU result against
/// the CPU answers for x shifted by one, each block read one block late,
/// a neighbour's scale, and no norm weights.
#[test]
fn the_bound_catches_wrong_kernels() {
    let ctx = context();
    let case = Case::new(GgmlType::Q4_K, 33, 768, Epilogue::SiluMul, true, false);
    let got = case.run(&ctx, false);
    let correct = nmse(&got, &case.reference(&case.bytes, &case.x));
    assert!(correct <= MAX_NMSE, "the kernel itself is off: {correct:e}");

    let (row_bytes, block) = (case.ty.row_bytes(case.cols).unwrap(), case.ty.type_size());
    let mut shifted = case.x.clone();
    shifted.rotate_left(1);
    let mut late = case.bytes.clone();
    for row in late.chunks_exact_mut(row_bytes) {
        row.rotate_left(block);
    }
    let mut wrong_scale = case.bytes.clone();
    for row in wrong_scale.chunks_exact_mut(row_bytes) {
        let d = [row[0], row[1]];
        row[block..block + 2].copy_from_slice(&d);
    }
    let unnormed = Case {
        norm: Some(vec![1.0; case.cols]),
        ..Case::new(GgmlType::Q4_K, 33, 768, Epilogue::SiluMul, true, false)
    };
    let wrongs = [
        ("x shifted by one", case.reference(&case.bytes, &shifted)),
        ("blocks off by one", case.reference(&late, &case.x)),
        ("a neighbour's scale", case.reference(&wrong_scale, &case.x)),
        (
            "norm weights ignored",
            unnormed.reference(&case.bytes, &case.x),
        ),
    ];
    for (what, wrong) in wrongs {
        let error = nmse(&got, &wrong);
        eprintln!("bound check, {what}: NMSE {error:.2e} (bound {MAX_NMSE:e})");
        assert!(
            error > 1000.0 * MAX_NMSE,
            "a kernel with `{what}` would pass: {error:e}"
        );
    }
    // GELU's alternatives are only neighbouring table entries: a kernel
    // gating with SiLU instead still fails (f16 weights: gates of a few
    // units, where the two differ).
    let gelu = Case::new(GgmlType::F16, 33, 96, Epilogue::GeluMul, true, false);
    let got = gelu.run(&ctx, false);
    let (want, _) = nearer(&got, &gelu.answers(&gelu.bytes, &gelu.x));
    assert!(nmse(&got, &want) <= MAX_NMSE);
    let silu = Case {
        epilogue: Epilogue::SiluMul,
        ..Case::new(GgmlType::F16, 33, 96, Epilogue::GeluMul, true, false)
    };
    let (wrong, _) = nearer(&got, &silu.answers(&gelu.bytes, &gelu.x));
    let error = nmse(&got, &wrong);
    eprintln!("bound check, SiLU for GELU: NMSE {error:.2e}");
    assert!(
        error > 1000.0 * MAX_NMSE,
        "SiLU for GELU would pass: {error:e}"
    );
}

/// The attention scratch and reduced output of one split step with `chunks`
/// (8 heads over 2 KV heads of 64, position `pos0`: 512 columns, whole
/// K-quant super-blocks).
fn attention_step(pos0: usize, chunks: SplitChunks) -> (AttentionShape, Vec<f32>, Vec<f32>) {
    let ctx = context();
    let shape = AttentionShape {
        heads: 8,
        kv_heads: 2,
        head_dim: 64,
        value_dim: 64,
        scale: 0.125,
        window: None,
    };
    let mut rng = SmallRng::seed_from_u64(pos0 as u64);
    let capacity = pos0 + 2;
    let mut cache = |width: usize| -> Vec<half::f16> {
        (0..capacity * width)
            .map(|_| half::f16::from_f32(rng.random_range(-2.0..2.0)))
            .collect()
    };
    let (keys, values) = (cache(128), cache(128));
    let qkv: Vec<f32> = (0..8 * 64 + 2 * 128)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let rope = RopeSpec {
        style: RopeStyle::Normal,
        dims: 64,
        base: 10_000.0,
        norms: None,
        q_scale: 1.0,
    };
    let step = pollster::block_on(split_rope_step(
        &ctx,
        &shape,
        (&keys, &values),
        &qkv,
        pos0,
        &rope,
        chunks,
    ))
    .unwrap();
    (shape, step.scratch, step.out)
}

#[test]
fn combine_reads_split_attention_as_the_reduce_pass_does() {
    let ctx = context();
    let few = SplitChunks {
        min_chunk: 8,
        max_chunks: 16,
    };
    // 151 chunks of 8 heads: more chunk weights than the kernel keeps in
    // workgroup memory, so each value rescales its chunks itself.
    let many = SplitChunks {
        min_chunk: 1,
        max_chunks: 256,
    };
    for (pos0, chunks) in [(3, few), (40, few), (200, few), (300, many)] {
        let (shape, scratch, reduced) = attention_step(pos0, chunks);
        let combine = Combine {
            heads: shape.heads as u32,
            width: shape.value_dim as u32,
            chunks: chunks.max_chunks,
        };
        let used = scratch[0];
        for (ty, outputs) in [(GgmlType::Q4_K, 37), (GgmlType::Q8_0, 5)] {
            let case = Case {
                x: reduced.clone(),
                ..Case::new(
                    ty,
                    outputs,
                    shape.heads * shape.value_dim,
                    Epilogue::Store,
                    false,
                    false,
                )
            };
            let want = case.reference(&case.bytes, &case.x);
            let matrix = GpuMatrix::upload(&ctx, ty, case.rows, case.cols, &case.bytes).unwrap();
            let run = |x: &[f32], no_subgroups: bool| {
                let inputs = FastInputs {
                    x,
                    epilogue: case.epilogue,
                    norm: None,
                    bias: None,
                    y: Some(&case.y),
                    no_subgroups,
                    combine: Some(combine),
                };
                pollster::block_on(fast_matvec(&ctx, &matrix, inputs)).unwrap()
            };
            let error = nmse(&run(&scratch, false), &want);
            eprintln!("{ty} at {pos0}, {used} chunks: NMSE {error:.2e}");
            assert!(error <= MAX_NMSE, "{ty} at {pos0}: NMSE {error:e}");
            if !ctx.capabilities.subgroups {
                continue;
            }
            let error = nmse(&run(&scratch, true), &want);
            assert!(
                error <= MAX_NMSE,
                "{ty} at {pos0}, shared memory: NMSE {error:e}"
            );
            // A combine that misses the last chunk (the one holding the
            // token itself) is far off.
            let mut dropped = scratch.clone();
            dropped[0] -= 1.0;
            if dropped[0] >= 1.0 {
                let error = nmse(&run(&dropped, false), &want);
                eprintln!("  last chunk dropped: NMSE {error:.2e}");
                assert!(
                    error > 1000.0 * MAX_NMSE,
                    "a dropped chunk passes: {error:e}"
                );
            }
        }
        assert!(used >= 1.0 && used <= chunks.max_chunks as f32);
    }
}
