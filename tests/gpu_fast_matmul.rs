//! The `fast` prefill mat-mul (`kernels/fast/matmul.wgsl`) against a CPU
//! reference (`quant::dequantize`, then f64 sums), for every tensor type and
//! both tile precisions and both tile shapes, natively on wgpu (Mesa's lavapipe in CI, which has
//! `shader-f16`). Weights are seeded random GGUF blocks (`gpu_weights`).
//!
//! Bounds, on the NMSE = Σ(gpu − cpu)² / Σ cpu² of each whole product:
//! - f32 tiles: 1e-9. The weights dequantise exactly and sums are f32, so
//!   the error is a few ulps (2e-14 to 3e-13 measured);
//! - f16 tiles: 5e-4, ggml's own bound for mat-mul in its backend tests.
//!   Weights and activations are rounded to f16 and 32-term partial sums
//!   are f16 (6e-7 to 2e-6 measured).
//!
//! A dropped block or a shifted token gives an NMSE of order 1e-2 to 1,
//! which `the_bounds_catch_a_wrong_product` demonstrates. The int8 tiles
//! have their own tests (gpu_fast_matmul_q8.rs).

mod gpu_weights;

use gpu_weights::{random_matrix, random_x};
use locus::gpu::fast::matmul::{
    FastMatMulIo, FastMatMulKernel, FastMatMulOptions, TilePrecision, TileRows, bind_fast_matmul,
    fast_matmul,
};
use locus::gpu::matvec::GpuMatrix;
use locus::gpu::pass::Rows;
use locus::gpu::step::{StepUniform, write_step};
use locus::gpu::{GpuContext, GpuError};
use locus::quant::GgmlType;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use wgpu::util::DeviceExt;

const F32_BOUND: f64 = 1e-9;
const F16_BOUND: f64 = 5e-4;

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

fn bound(kernel: FastMatMulKernel) -> f64 {
    match kernel.precision {
        TilePrecision::F32 => F32_BOUND,
        TilePrecision::F16 => F16_BOUND,
        // f16 inputs, f32 sums: tighter than F16's f16 partial sums.
        TilePrecision::Cooperative => F16_BOUND,
        // Rounds X to 8 bits: its own file, gpu_fast_matmul_q8.rs, checks
        // it against the same math and bounds it against the f32 product.
        TilePrecision::Int8 => 1e-4,
    }
}

/// Every variant the device runs (f16 tiles need `shader-f16`), with its bound.
fn kernels(ctx: &GpuContext) -> Vec<(FastMatMulKernel, f64)> {
    let mut precisions = vec![TilePrecision::F32];
    if ctx.capabilities.shader_f16 {
        precisions.push(TilePrecision::F16);
    }
    let mut kernels: Vec<_> = precisions
        .into_iter()
        .flat_map(|precision| {
            [TileRows::Wide, TileRows::Narrow].map(|tiles| {
                let kernel = FastMatMulKernel { precision, tiles };
                (kernel, bound(kernel))
            })
        })
        .collect();
    // Tensor cores (not on lavapipe: run on a GPU that has them).
    if ctx.capabilities.cooperative_matrix {
        let kernel = FastMatMulKernel {
            precision: TilePrecision::Cooperative,
            tiles: TileRows::Narrow,
        };
        kernels.push((kernel, bound(kernel)));
    }
    kernels
}

/// Y = X·Wᵀ (n × rows, token-major) in f64 from dequantised weights.
fn reference(w: &[f32], cols: usize, x: &[f32]) -> Vec<f64> {
    x.chunks_exact(cols)
        .flat_map(|token| {
            w.chunks_exact(cols)
                .map(|row| gpu_weights::dot(row, token).0)
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

/// Columns per type: whole blocks, not powers of two; for float types not
/// a multiple of the kernel's 16-value step either.
fn cols(ty: GgmlType) -> usize {
    match ty.block_size() {
        1 => 100,
        32 => 96,
        _ => 512,
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
fn every_type_and_precision_matches_the_reference() {
    let ctx = context();
    // 130 rows: a whole 128-row tile and a ragged one.
    let rows = 130;
    for ty in TYPES {
        let cols = cols(ty);
        let mut rng = SmallRng::seed_from_u64(7);
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let w = gpu_weights::dequantize(ty, &bytes, cols);
        let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
        for n in [1, 3, 17, 33] {
            let x = random_x(&mut rng, n * cols);
            let want = reference(&w, cols, &x);
            for (kernel, bound) in kernels(&ctx) {
                let options = FastMatMulOptions {
                    kernel,
                    bias: None,
                    accumulate_onto: None,
                };
                let got = pollster::block_on(fast_matmul(&ctx, &matrix, &x, options)).unwrap();
                let error = nmse(&got, &want);
                eprintln!("{ty} {rows}×{cols}, {n} tokens, {kernel:?}: NMSE {error:.2e}");
                assert!(
                    error <= bound,
                    "{ty} n={n} {kernel:?}: NMSE {error:e} > {bound:e}"
                );
            }
        }
    }
}

#[test]
fn token_tiles_past_the_first_and_many_row_tiles() {
    let ctx = context();
    let (ty, rows, cols, n) = (GgmlType::Q8_0, 300, 64, 70);
    let mut rng = SmallRng::seed_from_u64(8);
    let bytes = random_matrix(&mut rng, ty, rows, cols);
    let w = gpu_weights::dequantize(ty, &bytes, cols);
    let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
    let x = random_x(&mut rng, n * cols);
    let want = reference(&w, cols, &x);
    for (kernel, bound) in kernels(&ctx) {
        let options = FastMatMulOptions {
            kernel,
            bias: None,
            accumulate_onto: None,
        };
        let got = pollster::block_on(fast_matmul(&ctx, &matrix, &x, options)).unwrap();
        let error = nmse(&got, &want);
        eprintln!("{ty} {rows}×{cols}, {n} tokens, {kernel:?}: NMSE {error:.2e}");
        assert!(error <= bound, "{kernel:?}: NMSE {error:e}");
    }
}

#[test]
fn bias_and_accumulate_epilogues() {
    let ctx = context();
    let (ty, rows, cols, n) = (GgmlType::Q4_K, 70, 256, 5);
    let mut rng = SmallRng::seed_from_u64(9);
    let bytes = random_matrix(&mut rng, ty, rows, cols);
    let w = gpu_weights::dequantize(ty, &bytes, cols);
    let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
    let x = random_x(&mut rng, n * cols);
    let product = reference(&w, cols, &x);
    // Bias and previous Y of the product's size, so that each matters.
    let rms = (product.iter().map(|p| p * p).sum::<f64>() / product.len() as f64).sqrt() as f32;
    let sized = |v: Vec<f32>| v.into_iter().map(|b| b * rms).collect::<Vec<f32>>();
    let bias = sized(random_x(&mut rng, rows));
    let before = sized(random_x(&mut rng, n * rows));
    for (kernel, bound) in kernels(&ctx) {
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
                kernel,
                bias: with_bias.then_some(&bias[..]),
                accumulate_onto: accumulate.then_some(&before[..]),
            };
            let got = pollster::block_on(fast_matmul(&ctx, &matrix, &x, options)).unwrap();
            let error = nmse(&got, &want);
            eprintln!("bias {with_bias}, accumulate {accumulate}, {kernel:?}: NMSE {error:.2e}");
            assert!(error <= bound, "{kernel:?}: NMSE {error:e}");
            // Without the epilogue's terms the result is far off.
            let without = nmse(&got, &product);
            eprintln!("  against the bare product: NMSE {without:.2e}");
            assert!(without > 10.0 * F16_BOUND, "NMSE {without:e}");
        }
    }
}

#[test]
fn the_bounds_catch_a_wrong_product() {
    let ctx = context();
    let (ty, rows, cols, n) = (GgmlType::Q4_0, 40, 256, 17);
    let mut rng = SmallRng::seed_from_u64(10);
    let bytes = random_matrix(&mut rng, ty, rows, cols);
    let w = gpu_weights::dequantize(ty, &bytes, cols);
    let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
    let x = random_x(&mut rng, n * cols);
    // A kernel that dropped one block of 32 in every row...
    let mut dropped = w.clone();
    for row in dropped.chunks_exact_mut(cols) {
        row[64..96].fill(0.0);
    }
    // ... or read each token's neighbour.
    let mut shifted = x.clone();
    shifted.rotate_left(cols);
    for (kernel, bound) in kernels(&ctx) {
        let options = FastMatMulOptions {
            kernel,
            bias: None,
            accumulate_onto: None,
        };
        let got = pollster::block_on(fast_matmul(&ctx, &matrix, &x, options)).unwrap();
        assert!(nmse(&got, &reference(&w, cols, &x)) <= bound);
        for (what, want) in [
            ("dropped block", reference(&dropped, cols, &x)),
            ("shifted token", reference(&w, cols, &shifted)),
        ] {
            let error = nmse(&got, &want);
            eprintln!("{what}, {kernel:?}: NMSE {error:.2e}");
            assert!(error > 100.0 * F16_BOUND, "{what}: NMSE {error:e}");
        }
    }
}

#[test]
fn the_step_uniform_sets_the_token_count() {
    let ctx = context();
    let (ty, rows, cols, max_tokens) = (GgmlType::Q5_0, 50, 64, 33usize);
    let mut rng = SmallRng::seed_from_u64(11);
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
    let kernel = FastMatMulKernel::best(&ctx, rows, max_tokens as u32);
    let prepared = bind_fast_matmul(
        &ctx,
        &matrix,
        kernel,
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
    let n = 17;
    write_step(&ctx, &step, StepUniform::new(0, n as u32));
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    prepared.encode(&mut encoder.begin_compute_pass(&Default::default()));
    ctx.queue.submit([encoder.finish()]);
    let raw = pollster::block_on(ctx.read_buffer(&y_buffer, (y_len * 4) as u64)).unwrap();
    let y: &[f32] = bytemuck::cast_slice(&raw);
    let want = reference(&w, cols, &x[..n * cols]);
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
    assert!(nmse(&got, &want) <= bound(kernel));
}

#[test]
fn unaligned_activations_are_a_shape_error() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(12);
    let bytes = random_matrix(&mut rng, GgmlType::F32, 4, 13);
    let matrix = GpuMatrix::upload(&ctx, GgmlType::F32, 4, 13, &bytes).unwrap();
    let options = FastMatMulOptions {
        kernel: FastMatMulKernel {
            precision: TilePrecision::F32,
            tiles: TileRows::Wide,
        },
        bias: None,
        accumulate_onto: None,
    };
    let result = pollster::block_on(fast_matmul(&ctx, &matrix, &[0.5; 26], options));
    assert!(matches!(result, Err(GpuError::Shape(_))), "{result:?}");
}
