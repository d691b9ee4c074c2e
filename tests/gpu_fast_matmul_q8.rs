//! The `fast` mat-mul's int8 tiles (`kernels/fast/matmul_q8.wgsl`, packed
//! 8-bit dot products against Q8 activations from
//! `kernels/fast/quantize_q8.wgsl`), natively on wgpu (Mesa's lavapipe in
//! CI), for every quantised weight type on seeded random GGUF blocks
//! (`gpu_weights`) and odd shapes: rows not a multiple of either tile, 1 to
//! 3 token tiles, several blocks per row.
//!
//! Bounds, on the NMSE = Σ(gpu − ref)² / Σ ref² of each whole product:
//! - against the same math ([`Q8_BOUND`]): the GPU's own Q8 activations
//!   (read back from the quantise pass) dequantised as d·q, times the
//!   CPU-dequantised weights (`quant::dequantize`), summed in f64. The
//!   kernel's block dot products are exact integer sums, so only the f32
//!   rounding of the block scales and of the sum over blocks differs;
//! - against the plain f32 product ([`F32_PRODUCT_BOUND`]): rounding X to 8
//!   bits adds noise of d²/12 per value, d = amax / 127; for X uniform in
//!   [-1, 1) that is an NMSE of about 1 / (4 · 127²) = 1.6e-5.
//!
//! Measured on lavapipe: 3.9e-15 to 4.7e-14 against the same math, 8.1e-6
//! to 3.4e-5 against the f32 product.
//!
//! The quantise pass itself is checked against a CPU quantiser (same
//! formula), and `the_tight_bound_catches_a_wrong_kernel` shows that a Q8
//! scale of amax / 128 (NMSE 3.2e-5 to 3.5e-5: under the looser bound,
//! which is why the tight one exists), a dropped Q4_1 min (1.7e-2), Q6_K's
//! half scales swapped (2.3) or a dropped block (6.8e-2 to 1.4e-1) all fail
//! [`Q8_BOUND`] by five orders of magnitude or more.

mod gpu_weights;

use gpu_weights::{random_matrix, random_x};
use locus::gpu::fast::matmul::{
    FastMatMulIo, FastMatMulKernel, FastMatMulOptions, TilePrecision, TileRows, bind_fast_matmul,
    fast_matmul,
};
use locus::gpu::fast::matmul_q8::{Q8_BLOCK, Q8_BLOCK_BYTES, int8_weights, quantize_q8};
use locus::gpu::matvec::GpuMatrix;
use locus::gpu::pass::Rows;
use locus::gpu::step::{StepUniform, write_step};
use locus::gpu::{GpuContext, GpuError};
use locus::quant::GgmlType;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use wgpu::util::DeviceExt;

/// Against the same math: f32 rounding of scales and block sums only.
const Q8_BOUND: f64 = 1e-10;
/// Against the f32 product: Q8 rounding noise (1.6e-5 expected).
const F32_PRODUCT_BOUND: f64 = 1e-4;

const TYPES: [GgmlType; 8] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

fn context() -> GpuContext {
    let ctx = pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found");
    assert!(
        ctx.capabilities.packed_int8_dot,
        "wgpu reports packed_4x8_integer_dot_product on every native adapter"
    );
    ctx
}

fn int8(tiles: TileRows) -> FastMatMulKernel {
    FastMatMulKernel {
        precision: TilePrecision::Int8,
        tiles,
    }
}

/// One Q8 block as the quantise pass writes it.
#[derive(Debug, Clone, Copy)]
struct Q8Block {
    q: [i8; 32],
    d: f32,
    s: f32,
}

fn q8_blocks(bytes: &[u8]) -> Vec<Q8Block> {
    bytes
        .chunks_exact(Q8_BLOCK_BYTES)
        .map(|b| {
            let f = |at: usize| f32::from_le_bytes(b[at..at + 4].try_into().unwrap());
            Q8Block {
                q: std::array::from_fn(|i| b[i] as i8),
                d: f(32),
                s: f(36),
            }
        })
        .collect()
}

/// The quantise pass's formula on the CPU: d = amax / 127, q = round(x / d)
/// (ties to even), s = d · Σq.
fn cpu_q8(x: &[f32], scale_divisor: f32) -> Vec<Q8Block> {
    x.chunks_exact(Q8_BLOCK)
        .map(|block| {
            let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = amax / scale_divisor;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            let q: [i8; 32] = std::array::from_fn(|i| {
                (block[i] * id).round_ties_even().clamp(-127.0, 127.0) as i8
            });
            let sum: i32 = q.iter().map(|&c| i32::from(c)).sum();
            Q8Block {
                q,
                d,
                s: d * sum as f32,
            }
        })
        .collect()
}

/// X as the kernel sees it: d·q per value, token-major.
fn dequantized(blocks: &[Q8Block]) -> Vec<f64> {
    blocks
        .iter()
        .flat_map(|b| b.q.map(|q| f64::from(b.d) * f64::from(q)))
        .collect()
}

/// Y = X·Wᵀ (n × rows, token-major) in f64.
fn reference(w: &[f32], cols: usize, x: &[f64]) -> Vec<f64> {
    x.chunks_exact(cols)
        .flat_map(|token| {
            w.chunks_exact(cols)
                .map(move |row| row.iter().zip(token).map(|(&w, &x)| f64::from(w) * x).sum())
        })
        .collect()
}

fn nmse(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (err, norm) = got.iter().zip(want).fold((0.0, 0.0), |(e, n), (&g, &w)| {
        (e + (f64::from(g) - w).powi(2), n + w * w)
    });
    err / norm
}

fn run(ctx: &GpuContext, matrix: &GpuMatrix, x: &[f32], kernel: FastMatMulKernel) -> Vec<f32> {
    let options = FastMatMulOptions {
        kernel,
        bias: None,
        accumulate_onto: None,
    };
    pollster::block_on(fast_matmul(ctx, matrix, x, options)).unwrap()
}

/// The GPU's Q8 activations of `x`, and X dequantised from them.
fn gpu_q8(ctx: &GpuContext, x: &[f32], cols: usize) -> (Vec<Q8Block>, Vec<f64>) {
    let blocks = q8_blocks(&pollster::block_on(quantize_q8(ctx, x, cols)).unwrap());
    let x_hat = dequantized(&blocks);
    (blocks, x_hat)
}

/// Columns per type: several blocks, not a power of two.
fn cols(ty: GgmlType) -> usize {
    match ty.block_size() {
        32 => 96 + 64 * 3,
        _ => 768,
    }
}

#[test]
fn the_quantise_pass_matches_the_cpu_formula() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(20);
    let (n, cols) = (37, 320);
    let mut x = random_x(&mut rng, n * cols);
    // An all-zero block and one of a single outlier.
    x[64..96].fill(0.0);
    x[130] = 40.0;
    let (got, _) = gpu_q8(&ctx, &x, cols);
    let want = cpu_q8(&x, 127.0);
    assert_eq!(got.len(), n * cols / Q8_BLOCK);
    let mut off_by_one = 0;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g.d - w.d).abs() <= 1e-6 * w.d,
            "block {i}: d {} vs {}",
            g.d,
            w.d
        );
        for (&a, &b) in g.q.iter().zip(&w.q) {
            // 1 / d is not correctly rounded everywhere: a tie may round
            // either way.
            assert!(
                (i32::from(a) - i32::from(b)).abs() <= 1,
                "block {i}: {a} vs {b}"
            );
            off_by_one += usize::from(a != b);
        }
        let sum: i32 = g.q.iter().map(|&c| i32::from(c)).sum();
        assert!((g.s - g.d * sum as f32).abs() <= 1e-6 * g.d.abs() * 32.0 * 127.0);
    }
    eprintln!("{off_by_one} of {} codes off by one", n * cols);
    assert!(off_by_one * 1000 <= n * cols, "{off_by_one} codes differ");
    assert_eq!(got[2].d, 0.0);
    assert_eq!(got[2].q, [0; 32]);
    assert_eq!(got[4].q[2], 127);
}

#[test]
fn every_quantised_type_matches_the_reference() {
    let ctx = context();
    // 130 rows: a whole 128-row tile (two 64-row ones) and a ragged one.
    let rows = 130;
    let mut worst = Vec::new();
    for ty in TYPES {
        assert!(int8_weights(ty));
        let cols = cols(ty);
        let mut rng = SmallRng::seed_from_u64(21);
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let w = gpu_weights::dequantize(ty, &bytes, cols);
        let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
        let (mut same, mut plain) = (0.0f64, 0.0f64);
        // 1 token, a ragged tile, and three tiles (the last ragged).
        for n in [1, 17, 150] {
            let x = random_x(&mut rng, n * cols);
            let (_, x_hat) = gpu_q8(&ctx, &x, cols);
            let want = reference(&w, cols, &x_hat);
            let exact_x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let f32_product = reference(&w, cols, &exact_x);
            for tiles in [TileRows::Wide, TileRows::Narrow] {
                let got = run(&ctx, &matrix, &x, int8(tiles));
                let (error, loose) = (nmse(&got, &want), nmse(&got, &f32_product));
                eprintln!(
                    "{ty} {rows}×{cols}, {n} tokens, {tiles:?}: NMSE {error:.2e} against the \
                     same math, {loose:.2e} against the f32 product"
                );
                assert!(error <= Q8_BOUND, "{ty} n={n} {tiles:?}: NMSE {error:e}");
                assert!(
                    loose <= F32_PRODUCT_BOUND,
                    "{ty} n={n} {tiles:?}: NMSE {loose:e} against the f32 product"
                );
                same = same.max(error);
                plain = plain.max(loose);
            }
        }
        worst.push(format!("{ty} {same:.1e}/{plain:.1e}"));
    }
    eprintln!("worst NMSE (same math / f32 product): {}", worst.join(", "));
}

#[test]
fn float_weights_are_refused() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(22);
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16] {
        assert!(!int8_weights(ty));
        assert!(!int8(TileRows::Wide).takes(ty));
        let bytes = random_matrix(&mut rng, ty, 4, 64);
        let matrix = GpuMatrix::upload(&ctx, ty, 4, 64, &bytes).unwrap();
        let options = FastMatMulOptions {
            kernel: int8(TileRows::Wide),
            bias: None,
            accumulate_onto: None,
        };
        let result = pollster::block_on(fast_matmul(&ctx, &matrix, &[0.5; 128], options));
        assert!(matches!(result, Err(GpuError::Kernel { .. })), "{result:?}");
        let candidates = FastMatMulKernel::candidates(&ctx, ty, 4, 128);
        assert!(
            candidates
                .iter()
                .all(|k| k.precision != TilePrecision::Int8),
            "{ty}: {candidates:?}"
        );
    }
    let candidates = FastMatMulKernel::candidates(&ctx, GgmlType::Q4_0, 4, 128);
    assert!(candidates.contains(&int8(TileRows::Wide)), "{candidates:?}");
    assert!(
        candidates.contains(&int8(TileRows::Narrow)),
        "{candidates:?}"
    );
    // Never picked untimed.
    assert_ne!(
        FastMatMulKernel::best(&ctx, 4, 128).precision,
        TilePrecision::Int8
    );
}

#[test]
fn bias_and_accumulate_epilogues() {
    let ctx = context();
    let (ty, rows, cols, n) = (GgmlType::Q5_K, 70, 256, 5);
    let mut rng = SmallRng::seed_from_u64(23);
    let bytes = random_matrix(&mut rng, ty, rows, cols);
    let w = gpu_weights::dequantize(ty, &bytes, cols);
    let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
    let x = random_x(&mut rng, n * cols);
    let (_, x_hat) = gpu_q8(&ctx, &x, cols);
    let product = reference(&w, cols, &x_hat);
    // Bias and previous Y of the product's size, so that each matters.
    let rms = (product.iter().map(|p| p * p).sum::<f64>() / product.len() as f64).sqrt() as f32;
    let sized = |v: Vec<f32>| v.into_iter().map(|b| b * rms).collect::<Vec<f32>>();
    let bias = sized(random_x(&mut rng, rows));
    let before = sized(random_x(&mut rng, n * rows));
    for tiles in [TileRows::Wide, TileRows::Narrow] {
        for (with_bias, accumulate) in [(true, false), (false, true), (true, true)] {
            let want: Vec<f64> = product
                .iter()
                .enumerate()
                .map(|(i, &p)| {
                    p + if with_bias {
                        f64::from(bias[i % rows])
                    } else {
                        0.0
                    } + if accumulate {
                        f64::from(before[i])
                    } else {
                        0.0
                    }
                })
                .collect();
            let options = FastMatMulOptions {
                kernel: int8(tiles),
                bias: with_bias.then_some(&bias[..]),
                accumulate_onto: accumulate.then_some(&before[..]),
            };
            let got = pollster::block_on(fast_matmul(&ctx, &matrix, &x, options)).unwrap();
            let error = nmse(&got, &want);
            let without = nmse(&got, &product);
            eprintln!(
                "bias {with_bias}, accumulate {accumulate}, {tiles:?}: NMSE {error:.2e}, \
                 {without:.2e} against the bare product"
            );
            assert!(error <= Q8_BOUND, "{tiles:?}: NMSE {error:e}");
            assert!(without > 1e-2, "NMSE {without:e}");
        }
    }
}

/// Weights of `ty` with every block edited by `edit` (e.g. a Q4_1 min set
/// to 0), dequantised: the weights a wrong kernel would have used.
fn with_field(ty: GgmlType, bytes: &[u8], cols: usize, edit: impl Fn(&mut [u8])) -> Vec<f32> {
    let mut edited = bytes.to_vec();
    edited.chunks_exact_mut(ty.type_size()).for_each(edit);
    gpu_weights::dequantize(ty, &edited, cols)
}

#[test]
fn the_tight_bound_catches_a_wrong_kernel() {
    let ctx = context();
    let n = 33;
    for (ty, cols) in [
        (GgmlType::Q4_0, 256),
        (GgmlType::Q4_1, 256),
        (GgmlType::Q6_K, 512),
    ] {
        let rows = 40;
        let mut rng = SmallRng::seed_from_u64(24);
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let w = gpu_weights::dequantize(ty, &bytes, cols);
        let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
        let x = random_x(&mut rng, n * cols);
        let (_, x_hat) = gpu_q8(&ctx, &x, cols);
        let got = run(&ctx, &matrix, &x, int8(TileRows::Narrow));
        assert!(nmse(&got, &reference(&w, cols, &x_hat)) <= Q8_BOUND);
        let mut wrong: Vec<(&str, Vec<f64>)> = Vec::new();
        // A Q8 scale of amax / 128: every product 0.8 % small.
        wrong.push((
            "Q8 scale amax / 128",
            reference(&w, cols, &dequantized(&cpu_q8(&x, 128.0))),
        ));
        // A block of 32 left out of every row.
        let mut dropped = w.clone();
        for row in dropped.chunks_exact_mut(cols) {
            row[64..96].fill(0.0);
        }
        wrong.push(("dropped block", reference(&dropped, cols, &x_hat)));
        match ty {
            GgmlType::Q4_1 => {
                let no_min = with_field(ty, &bytes, cols, |b| b[2..4].fill(0));
                wrong.push(("Q4_1 without its min", reference(&no_min, cols, &x_hat)));
            }
            GgmlType::Q6_K => {
                // Each sub-block's two 16-value halves take each other's scale.
                let swapped = with_field(ty, &bytes, cols, |b| {
                    for pair in b[192..208].chunks_exact_mut(2) {
                        pair.swap(0, 1);
                    }
                });
                wrong.push((
                    "Q6_K halves' scales swapped",
                    reference(&swapped, cols, &x_hat),
                ));
            }
            _ => {}
        }
        for (what, want) in wrong {
            let error = nmse(&got, &want);
            eprintln!("{ty}, {what}: NMSE {error:.2e}");
            assert!(error > 1e4 * Q8_BOUND, "{ty} {what}: NMSE {error:e}");
        }
    }
}

#[test]
fn the_step_uniform_sets_the_token_count() {
    let ctx = context();
    let (ty, rows, cols, max_tokens) = (GgmlType::Q8_0, 50, 96, 70usize);
    let mut rng = SmallRng::seed_from_u64(25);
    let bytes = random_matrix(&mut rng, ty, rows, cols);
    let w = gpu_weights::dequantize(ty, &bytes, cols);
    let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
    let x = random_x(&mut rng, max_tokens * cols);
    let buffer = |label, data: &[f32]| {
        ctx.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            })
    };
    // X and Y sit at offsets inside bigger buffers, Y's rows padded.
    let (x_offset, y_offset, y_stride) = (8u32, 3u32, rows as u32 + 5);
    let mut x_padded = vec![0.0; x_offset as usize];
    x_padded.extend(&x);
    let x_buffer = buffer("x", &x_padded);
    let y_len = y_offset as usize + max_tokens * y_stride as usize;
    let y_buffer = buffer("y", &vec![7.0; y_len]);
    let step = StepUniform::new(0, max_tokens as u32).to_buffer(&ctx);
    let prepared = bind_fast_matmul(
        &ctx,
        &matrix,
        int8(TileRows::Wide),
        FastMatMulIo {
            x: Rows {
                buffer: &x_buffer,
                offset: x_offset,
                stride: cols as u32,
            },
            y: Rows {
                buffer: &y_buffer,
                offset: y_offset,
                stride: y_stride,
            },
            bias: None,
            accumulate: false,
            max_tokens: max_tokens as u32,
            step: &step,
        },
    )
    .unwrap();
    // Past the first token tile, short of the second's end.
    let n = 66;
    write_step(&ctx, &step, StepUniform::new(0, n as u32));
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    prepared.encode(&mut encoder.begin_compute_pass(&Default::default()));
    ctx.queue.submit([encoder.finish()]);
    let raw = pollster::block_on(ctx.read_buffer(&y_buffer, (y_len * 4) as u64)).unwrap();
    let y: &[f32] = bytemuck::cast_slice(&raw);
    let (_, x_hat) = gpu_q8(&ctx, &x[..n * cols], cols);
    let want = reference(&w, cols, &x_hat);
    let mut got = Vec::new();
    for (i, &value) in y.iter().enumerate() {
        let (t, r) = (
            (i as isize - y_offset as isize).div_euclid(y_stride as isize),
            (i as isize - y_offset as isize).rem_euclid(y_stride as isize),
        );
        if t >= 0 && (t as usize) < n && (r as usize) < rows {
            got.push(value);
        } else {
            assert_eq!(value, 7.0, "element {i} (token {t}, row {r}) was written");
        }
    }
    let error = nmse(&got, &want);
    assert!(error <= Q8_BOUND, "NMSE {error:e}");
}
