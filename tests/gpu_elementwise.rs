//! The element-wise kernels (`kernels/elementwise.wgsl`) against `cpu::ops`
//! and the CPU decoder's formulas, natively on wgpu (lavapipe in CI), on
//! seeded random rows of odd widths.
//!
//! - SiLU · up and GELU · up: bit for bit `ops::glu` (ggml's exp polynomial,
//!   ggml's f16 GELU table); each test also shows that the obvious
//!   alternative (libm's exp, GELU without the table) changes some bits;
//! - add, bias, scale: exact (one IEEE operation on both sides);
//! - soft-cap: ≤ 4e-7 · cap (a few f32 ulps of the output range: GPU `tanh`).
//!
//! A wrong index, row or formula is off by far more than any of these.

use locus::cpu::ops;
use locus::gpu::GpuContext;
use locus::gpu::elementwise::{Op, RowCount, bind_elementwise, elementwise};
use locus::gpu::pass::Rows;
use locus::gpu::step::{StepUniform, step_buffer, write_step};
use locus::model::Activation;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wgpu::util::DeviceExt;

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

fn random(rng: &mut SmallRng, n: usize, range: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-range..range)).collect()
}

/// (rows, width): one value, odd widths, more than one workgroup per row.
const SHAPES: [(usize, usize); 4] = [(1, 1), (7, 37), (3, 513), (5, 2049)];

fn run(ctx: &GpuContext, op: Op, a: &[f32], b: Option<&[f32]>, width: usize) -> Vec<f32> {
    pollster::block_on(elementwise(ctx, op, a, b, width)).unwrap()
}

/// How many values differ in their bits, and the first that does.
fn mismatches(got: &[f32], want: &[f32]) -> (usize, Option<(usize, f32, f32)>) {
    assert_eq!(got.len(), want.len());
    let mut differ = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (a, b))| a.to_bits() != b.to_bits());
    let first = differ.next().map(|(i, (&a, &b))| (i, a, b));
    (first.map_or(0, |_| 1 + differ.count()), first)
}

/// Gates across the range, with the edges spliced in: exp(-x) overflowing,
/// GELU's ±10 cut-offs, f16 ties, zeros.
fn gates(rng: &mut SmallRng, n: usize, range: f32) -> Vec<f32> {
    let mut g = random(rng, n, range);
    let edges = [
        -100.0,
        -88.8,
        -88.7,
        -87.0,
        88.0,
        100.0,
        0.0,
        -0.0,
        -10.0,
        10.0,
        -9.999,
        9.999,
        1.0 + 2f32.powi(-11),
        -1.998_720_6,
        3.0e-8,
    ];
    let k = edges.len().min(n);
    g[..k].copy_from_slice(&edges[..k]);
    g
}

fn check_glu(activation: Activation, shapes: &[(usize, usize)], seed: u64) {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(seed);
    let op = match activation {
        Activation::Silu => Op::SiluMul,
        Activation::GeluTanh => Op::GeluMul,
    };
    for &(rows, width) in shapes {
        let gate = gates(&mut rng, rows * width, 12.0);
        let up = random(&mut rng, rows * width, 3.0);
        let got = run(&ctx, op, &gate, Some(&up), width);
        let mut want = gate.clone();
        ops::glu(activation, &mut want, &up, width);
        let (count, first) = mismatches(&got, &want);
        assert!(
            count == 0,
            "{op:?} {rows}×{width}: {count} differ, first (index, gpu, cpu) {first:?}"
        );
    }
}

#[test]
fn silu_times_up_matches_cpu_bit_for_bit() {
    check_glu(
        Activation::Silu,
        &[(1, 16), (7, 48), (3, 528), (5, 2048)],
        1,
    );
    // libm's exp (ggml's scalar SiLU) differs in some bits from ggml's
    // polynomial on these gates, so a kernel using it would fail.
    let g = gates(&mut SmallRng::seed_from_u64(1), 4096, 12.0);
    let differ = g
        .iter()
        .filter(|&&x| {
            ops::silu(x).to_bits() != locus::cpu::ggml_numerics::silu::<true>(x).to_bits()
        })
        .count();
    assert!(differ > 0, "libm's SiLU agrees everywhere");
}

#[test]
fn silu_needs_rows_of_whole_lanes() {
    let ctx = context();
    let result = pollster::block_on(elementwise(
        &ctx,
        Op::SiluMul,
        &[1.0; 37],
        Some(&[1.0; 37]),
        37,
    ));
    assert!(
        matches!(result, Err(locus::gpu::GpuError::Shape(_))),
        "{result:?}"
    );
}

#[test]
fn gelu_times_up_matches_cpu_bit_for_bit() {
    check_glu(Activation::GeluTanh, &SHAPES, 2);
    // GELU in f32 without the table's f16 rounding differs in some bits.
    let g = gates(&mut SmallRng::seed_from_u64(2), 4096, 12.0);
    let differ = g
        .iter()
        .filter(|&&x| {
            let direct = 0.5 * x * (1.0 + (0.797_884_6 * x * (1.0 + 0.044_715 * x * x)).tanh());
            x.abs() < 10.0 && direct.to_bits() != ops::gelu_tanh(x).to_bits()
        })
        .count();
    assert!(differ > 0, "GELU without the table agrees everywhere");
}

#[test]
fn add_bias_and_scale_are_exact() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(3);
    for (rows, width) in SHAPES {
        let a = random(&mut rng, rows * width, 10.0);
        let b = random(&mut rng, rows * width, 10.0);
        let mut want = a.clone();
        ops::add_into(&mut want, &b);
        assert_eq!(
            run(&ctx, Op::Add, &a, Some(&b), width),
            want,
            "add {rows}×{width}"
        );

        let bias = random(&mut rng, width, 1.0);
        let mut want = a.clone();
        ops::add_bias_rows(&mut want, &bias);
        assert_eq!(
            run(&ctx, Op::Add, &a, Some(&bias), width),
            want,
            "bias {rows}×{width}"
        );

        let want: Vec<f32> = a.iter().map(|x| x * 0.125_f32.sqrt()).collect();
        let got = run(&ctx, Op::Scale(0.125_f32.sqrt()), &a, None, width);
        assert_eq!(got, want, "scale {rows}×{width}");
    }
}

#[test]
fn softcap_matches_cpu() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(4);
    let mut worst = 0.0f32;
    for cap in [30.0f32, 15.0] {
        for (rows, width) in SHAPES {
            // Logits well inside and far outside the cap.
            let a = random(&mut rng, rows * width, 200.0);
            let got = run(&ctx, Op::SoftCap(cap), &a, None, width);
            for (&x, &g) in a.iter().zip(&got) {
                let want = cap * (x / cap).tanh();
                let error = (g - want).abs() / cap;
                assert!(error <= 4e-7, "softcap {cap} of {x}: {g} vs {want}");
                worst = worst.max(error);
            }
        }
    }
    eprintln!("softcap: largest error {worst:.2e} of the cap");
}

/// Prepared once over a batch of 7 rows at an offset with padded strides:
/// a step of 5 tokens leaves rows 5 and 6 (and the padding) untouched, and a
/// fixed count ignores the step.
#[test]
fn rows_follow_the_step_or_a_fixed_count() {
    let ctx = context();
    let (width, stride, offset, max) = (37u32, 40u32, 3u32, 7u32);
    let len = (offset + max * stride) as usize;
    let a: Vec<f32> = (0..len).map(|i| i as f32).collect();
    let storage = |data: &[f32]| {
        ctx.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            })
    };
    let step = step_buffer(&ctx);
    write_step(&ctx, &step, StepUniform::new(11, 5));
    for (rows, touched) in [(RowCount::Step { max }, 5), (RowCount::Fixed(2), 2)] {
        let buffer = storage(&a);
        let rows_of = Rows {
            buffer: &buffer,
            offset,
            stride,
        };
        let prepared =
            bind_elementwise(&ctx, Op::Scale(2.0), rows_of, None, width, rows, &step).unwrap();
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            prepared.encode(&mut pass);
        }
        ctx.queue.submit([encoder.finish()]);
        let raw = pollster::block_on(ctx.read_buffer(&buffer, len as u64 * 4)).unwrap();
        let got: &[f32] = bytemuck::cast_slice(&raw);
        for (i, (&g, &x)) in got.iter().zip(&a).enumerate() {
            let inside =
                i >= offset as usize && (i - offset as usize) % (stride as usize) < width as usize;
            let row = i.saturating_sub(offset as usize) / stride as usize;
            let want = if inside && row < touched { 2.0 * x } else { x };
            assert_eq!(g, want, "{rows:?}: element {i}");
        }
    }
}
