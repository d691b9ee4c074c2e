//! The ggml-exact kernels (`kernels/exact/ggml_quantize.wgsl`,
//! `kernels/exact/ggml_matvec.wgsl`) against the CPU path they must reproduce bit
//! for bit: `QuantizedRow::quantize` for the packed activations and
//! `quant::dot_quantized_rows_ordered` in `cpu::matmul::dot_order`'s order
//! for every output. Every comparison is of `to_bits()`.

mod gpu_weights;

use gpu_weights::random_matrix;
use locus::cpu::matmul::dot_order;
use locus::gpu::GpuContext;
use locus::gpu::exact::ggml_matvec::bind_ggml_linear;
use locus::gpu::exact::ggml_quantize::{activation_words, bind_quantize, pack_quantized_row};
use locus::gpu::matvec::GpuMatrix;
use locus::gpu::pass::Rows;
use locus::gpu::step::StepUniform;
use locus::quant::{self, DotOrder, GgmlType, QuantizedRow};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wgpu::util::DeviceExt;

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

/// Activation-like values: roughly normal with σ ≈ 1, a few outliers up to
/// ±30, some exact zeros and a repeated largest magnitude of both signs.
fn activations(rng: &mut SmallRng, n: usize) -> Vec<f32> {
    let mut x: Vec<f32> = (0..n)
        .map(|_| {
            let v: f32 = (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>() * 0.85;
            match rng.random_range(0..100) {
                0 => v * 10.0,
                1 => 0.0,
                _ => v,
            }
        })
        .collect();
    if n >= 64 {
        // Ties for Q8_K's "first value of largest magnitude".
        x[40] = 31.5;
        x[41] = -31.5;
    }
    x
}

/// GPU outputs for one case: the packed activations and y, token-major.
struct Gpu {
    packed: Vec<u32>,
    y: Vec<f32>,
}

/// Quantises `n` tokens of `x` (cols values each, stored with a stride and
/// offset) and multiplies by `matrix` on the GPU, bound for `max_tokens`.
fn run_gpu(ctx: &GpuContext, matrix: &GpuMatrix, x: &[f32], n: usize, max_tokens: usize) -> Gpu {
    let (cols, rows) = (matrix.cols, matrix.rows);
    let (x_offset, x_stride) = (3usize, cols + 5);
    let mut staged = vec![f32::NAN; x_offset + max_tokens * x_stride];
    for t in 0..n {
        staged[x_offset + t * x_stride..][..cols].copy_from_slice(&x[t * cols..][..cols]);
    }
    let device = &ctx.device;
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let x_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(&staged),
        usage,
    });
    let words = activation_words(matrix.ty, cols).unwrap();
    let q_bytes = (max_tokens * words * 4) as u64;
    let q = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: q_bytes,
        usage,
        mapped_at_creation: false,
    });
    let (y_offset, y_stride) = (7usize, rows + 2);
    let y_bytes = ((y_offset + max_tokens * y_stride) * 4) as u64;
    let y = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: y_bytes,
        usage,
        mapped_at_creation: false,
    });
    let step = StepUniform::new(0, n as u32).to_buffer(ctx);
    let rows_of = |buffer, offset: usize, stride: usize| Rows {
        buffer,
        offset: offset as u32,
        stride: stride as u32,
    };
    let max = max_tokens as u32;
    let quantize = bind_quantize(
        ctx,
        matrix.ty,
        rows_of(&x_buffer, x_offset, x_stride),
        &q,
        cols,
        &step,
        max,
    )
    .unwrap();
    let linear =
        bind_ggml_linear(ctx, matrix, &q, rows_of(&y, y_offset, y_stride), &step, max).unwrap();
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        quantize.encode(&mut pass);
        linear.encode(&mut pass);
    }
    ctx.queue.submit([encoder.finish()]);
    let packed = pollster::block_on(ctx.read_buffer(&q, q_bytes)).unwrap();
    let raw = pollster::block_on(ctx.read_buffer(&y, y_bytes)).unwrap();
    let all: &[f32] = bytemuck::cast_slice(&raw);
    let y = (0..n)
        .flat_map(|t| all[y_offset + t * y_stride..][..rows].to_vec())
        .collect();
    Gpu {
        packed: bytemuck::cast_slice(&packed)[..n * words].to_vec(),
        y,
    }
}

/// The CPU's outputs for token `t` of `n` in `order`.
fn cpu_token(
    ty: GgmlType,
    bytes: &[u8],
    rows: usize,
    act: &QuantizedRow,
    order: DotOrder,
) -> Vec<f32> {
    let mut out = vec![0.0; rows];
    quant::dot_quantized_rows_ordered(ty, bytes, act, order, &mut out).unwrap();
    out
}

/// Runs one case and checks every packed word and every output bitwise.
/// Returns the GPU's y and the CPU's activations, for further checks.
fn check(
    ctx: &GpuContext,
    matrix: &GpuMatrix,
    bytes: &[u8],
    n: usize,
    seed: u64,
) -> (Vec<f32>, Vec<QuantizedRow>) {
    check_bound(ctx, matrix, bytes, n, n + 2, seed)
}

/// [`check`] with the kernels bound for `max_tokens` (1: the decode kernel).
fn check_bound(
    ctx: &GpuContext,
    matrix: &GpuMatrix,
    bytes: &[u8],
    n: usize,
    max_tokens: usize,
    seed: u64,
) -> (Vec<f32>, Vec<QuantizedRow>) {
    let (ty, rows, cols) = (matrix.ty, matrix.rows, matrix.cols);
    let mut rng = SmallRng::seed_from_u64(seed);
    let x = activations(&mut rng, n * cols);
    let gpu = run_gpu(ctx, matrix, &x, n, max_tokens);
    let words = activation_words(ty, cols).unwrap();
    let mut acts = Vec::new();
    for t in 0..n {
        let act = QuantizedRow::quantize(ty, &x[t * cols..][..cols]).unwrap();
        let want = pack_quantized_row(&act).unwrap();
        let got = &gpu.packed[t * words..][..words];
        if let Some(i) = (0..words).find(|&i| got[i] != want[i]) {
            panic!(
                "{ty} {rows}×{cols}, token {t}/{n}: packed word {i} is {:#010x}, CPU {:#010x}",
                got[i], want[i]
            );
        }
        let order = dot_order(ty, rows, n, t);
        let want = cpu_token(ty, bytes, rows, &act, order);
        for (r, (g, w)) in gpu.y[t * rows..][..rows].iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{ty} {rows}×{cols}, token {t}/{n} ({order:?}), row {r}: GPU {g:e}, CPU {w:e}"
            );
        }
        acts.push(act);
    }
    (gpu.y, acts)
}

const LEGACY: [GgmlType; 5] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
];
const K_QUANTS: [GgmlType; 3] = [GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K];

#[test]
fn legacy_types_match_the_cpu_bit_for_bit() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(11);
    for ty in LEGACY {
        for (rows, cols) in [(37, 96), (300, 608), (67, 2080)] {
            let bytes = random_matrix(&mut rng, ty, rows, cols);
            let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
            for n in [1, 3, 5, 8, 9] {
                check(&ctx, &matrix, &bytes, n, rows as u64 * 31 + n as u64);
            }
        }
    }
}

#[test]
fn k_quants_match_the_cpu_in_every_order() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(12);
    // 72 and 296 rows are multiples of 8: Q4_K's repacked gemm order.
    for ty in K_QUANTS {
        for (rows, cols) in [(37, 256), (72, 768), (296, 1280), (67, 512)] {
            let bytes = random_matrix(&mut rng, ty, rows, cols);
            let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
            for n in [1, 3, 5, 8, 9] {
                check(&ctx, &matrix, &bytes, n, rows as u64 * 17 + n as u64);
            }
        }
    }
}

/// Bound for one token (decode), every type takes the one-token kernel:
/// rows of one chunk and of several (2048 values a chunk for the legacy
/// types, 8192 for K-quants), bit for bit.
#[test]
fn one_token_bindings_match_the_cpu() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(17);
    for ty in LEGACY {
        for (rows, cols) in [(37, 96), (67, 2080), (40, 4864)] {
            let bytes = random_matrix(&mut rng, ty, rows, cols);
            let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
            check_bound(&ctx, &matrix, &bytes, 1, 1, rows as u64 * 7 + 1);
        }
    }
    for ty in K_QUANTS {
        for (rows, cols) in [(37, 256), (72, 4864), (9, 8448)] {
            let bytes = random_matrix(&mut rng, ty, rows, cols);
            let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
            check_bound(&ctx, &matrix, &bytes, 1, 1, rows as u64 * 7 + 2);
        }
    }
}

/// The test can fail: the batched orders differ from the single-token one
/// in some bit, and the GPU follows the batched one where the CPU does.
#[test]
fn a_wrong_order_changes_some_bit() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(13);
    for (ty, rows, n) in [(GgmlType::Q4_K, 296, 8), (GgmlType::Q6_K, 300, 9)] {
        let cols = 1280;
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
        let (gpu, acts) = check(&ctx, &matrix, &bytes, n, 99);
        let mut differ = 0;
        for (t, act) in acts.iter().enumerate() {
            assert_eq!(dot_order(ty, rows, n, t), DotOrder::Gemm);
            let vec_dot = cpu_token(ty, &bytes, rows, act, DotOrder::VecDot);
            differ += gpu[t * rows..][..rows]
                .iter()
                .zip(&vec_dot)
                .filter(|(g, w)| g.to_bits() != w.to_bits())
                .count();
        }
        eprintln!(
            "{ty}: {differ} of {} outputs differ in the vec_dot order",
            n * rows
        );
        assert!(differ > 0, "{ty}: the orders never differ here");
    }
}

/// A matrix split into several row chunks (a lowered binding limit), and one
/// at an offset of 2 mod 4 in a shared buffer (straddling word loads).
#[test]
fn split_and_offset_matrices_match() {
    let mut ctx = context();
    let mut rng = SmallRng::seed_from_u64(14);
    let real_limit = ctx.limits.max_storage_buffer_binding_size;
    for (ty, cols) in [
        (GgmlType::Q8_0, 96),
        (GgmlType::Q5_1, 160),
        (GgmlType::Q6_K, 256),
    ] {
        let rows = 257;
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        ctx.limits.max_storage_buffer_binding_size = 4096;
        let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
        // The matrix stays split; the activations and outputs need more.
        ctx.limits.max_storage_buffer_binding_size = real_limit;
        assert!(matrix.chunks.len() > 2, "{ty}");
        check(&ctx, &matrix, &bytes, 3, 5);
        check_bound(&ctx, &matrix, &bytes, 1, 1, 7);

        let offset = 6;
        let mut padded = vec![0u8; offset];
        padded.extend(&bytes);
        padded.resize(padded.len().next_multiple_of(4), 0);
        let buffer = ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: &padded,
                usage: wgpu::BufferUsages::STORAGE,
            });
        let matrix = GpuMatrix::in_buffer(&ctx, ty, rows, cols, &buffer, offset as u64).unwrap();
        check(&ctx, &matrix, &bytes, 9, 6);
        check_bound(&ctx, &matrix, &bytes, 1, 1, 8);
    }
}

/// Past-the-end tokens are left alone: a step of fewer tokens than bound.
#[test]
fn only_this_steps_tokens_are_written() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(15);
    let (ty, rows, cols) = (GgmlType::Q4_0, 40, 64);
    let bytes = random_matrix(&mut rng, ty, rows, cols);
    let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
    let x = activations(&mut rng, 2 * cols);
    let gpu = run_gpu(&ctx, &matrix, &x, 2, 17);
    assert_eq!(gpu.y.len(), 2 * rows);
    assert!(gpu.y.iter().all(|v| v.is_finite()));
}

/// Mat-vec latency: µs per call bound for one token (decode: its own
/// kernel) and for 8 (prefill), over 200 dispatches in one pass, for
/// SmolLM2's 576×576 Q4_1 and Qwen2.5's 896×4864 Q4_K ffn_down. A print,
/// not a check: on lavapipe (a CPU) it says little about a GPU, where
/// memory latency rather than arithmetic dominates. Run with
/// `cargo test --test gpu_ggml_matvec -- --ignored --nocapture`.
#[test]
#[ignore = "timing print; run with --ignored --nocapture"]
fn decode_timing() {
    const CALLS: usize = 200;
    let ctx = context();
    eprintln!("adapter: {} ({:?})", ctx.info.name, ctx.info.backend);
    let mut rng = SmallRng::seed_from_u64(16);
    for (ty, rows, cols) in [(GgmlType::Q4_1, 576, 576), (GgmlType::Q4_K, 896, 4864)] {
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
        let device = &ctx.device;
        for tokens in [1, 8] {
            let x = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::cast_slice(&activations(&mut rng, tokens * cols)),
                usage: wgpu::BufferUsages::STORAGE,
            });
            let storage = |size: usize| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: size as u64 * 4,
                    usage: wgpu::BufferUsages::STORAGE,
                    mapped_at_creation: false,
                })
            };
            let q = storage(tokens * activation_words(ty, cols).unwrap());
            let y = storage(tokens * rows);
            let step = StepUniform::new(0, tokens as u32).to_buffer(&ctx);
            let rows_of = |buffer, stride: usize| Rows {
                buffer,
                offset: 0,
                stride: stride as u32,
            };
            let max = tokens as u32;
            let quantize = bind_quantize(&ctx, ty, rows_of(&x, cols), &q, cols, &step, max);
            let linear = bind_ggml_linear(&ctx, &matrix, &q, rows_of(&y, rows), &step, max);
            let (quantize, linear) = (quantize.unwrap(), linear.unwrap());
            let submit = |calls: usize| {
                let start = std::time::Instant::now();
                let mut encoder = device.create_command_encoder(&Default::default());
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    quantize.encode(&mut pass);
                    for _ in 0..calls {
                        linear.encode(&mut pass);
                    }
                }
                ctx.queue.submit([encoder.finish()]);
                device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
                start.elapsed()
            };
            submit(1);
            let base = submit(0);
            let total = submit(CALLS);
            let per_call = total.saturating_sub(base).as_secs_f64() * 1e6 / CALLS as f64;
            eprintln!("{ty} {rows}×{cols}, {tokens} token(s): {per_call:.1} µs per call");
        }
    }
}
