//! The element-wise kernels (`kernels/elementwise.wgsl`) against `cpu::ops`
//! and the CPU decoder's formulas, natively on wgpu (lavapipe in CI), on
//! seeded random rows of odd widths.
//!
//! Tolerances, per element:
//! - add, bias, scale: exact (one IEEE operation on both sides);
//! - SiLU · up: |gpu − cpu| ≤ (4 + 2|g|) f32 ulps of |cpu|: WGSL allows
//!   `exp(x)` an error of 3 + 2|x| ulps, and the gates here reach ±100;
//! - GELU · up: ≤ (one f16 ulp of gelu(g) + 0.5 |g| · 8 · 2^-24) · |up|,
//!   plus 2 f32 ulps of |cpu|: the CPU rounds gelu through f16 (ggml's
//!   table), so a `tanh` a few f32 ulps off can tip it to the neighbouring
//!   f16; and for g ≪ 0, 1 + tanh(z) cancels, turning tanh's absolute error
//!   (allowed 8 ulps of 1 here) into 0.5 |g| times that on gelu (on
//!   lavapipe the values that differ all have g in -5..-3.5, i.e. there);
//! - soft-cap: ≤ 4e-7 · cap (a few f32 ulps of the output range: GPU `tanh`).
//!
//! A wrong index, row or formula is off by far more than any of these.

use locus::cpu::ops;
use locus::gpu::GpuContext;
use locus::gpu::elementwise::{Op, RowCount, bind_elementwise, elementwise};
use locus::gpu::pass::Rows;
use locus::gpu::step::{StepUniform, step_buffer, write_step};
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

#[test]
fn silu_times_up_matches_cpu() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(1);
    let mut worst = 0.0f32;
    for (rows, width) in SHAPES {
        // Wide enough that exp(-x) overflows at one end.
        let gate = random(&mut rng, rows * width, 100.0);
        let up = random(&mut rng, rows * width, 3.0);
        let got = run(&ctx, Op::SiluMul, &gate, Some(&up), width);
        for (i, (&g, &u)) in gate.iter().zip(&up).enumerate() {
            let want = ops::silu(g) * u;
            let ulps = (got[i] - want).abs() / (want.abs() * 2f32.powi(-23)).max(1e-38);
            assert!(
                ulps <= 4.0 + 2.0 * g.abs(),
                "silu({g}) · {u}: {} vs {want}",
                got[i]
            );
            worst = worst.max(ulps / (4.0 + 2.0 * g.abs()));
        }
    }
    eprintln!("silu · up: largest error {worst:.2} of the bound");
}

#[test]
fn gelu_times_up_matches_cpu() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(2);
    let (mut worst, mut flips) = (0.0f32, 0);
    for (rows, width) in SHAPES {
        // Past ±10 too, where the CPU skips the table.
        let gate = random(&mut rng, rows * width, 12.0);
        let up = random(&mut rng, rows * width, 3.0);
        let got = run(&ctx, Op::GeluMul, &gate, Some(&up), width);
        for (i, (&g, &u)) in gate.iter().zip(&up).enumerate() {
            let gelu = ops::gelu_tanh(g);
            let want = gelu * u;
            let f16_ulp = (gelu.abs() * 2f32.powi(-10)).max(2f32.powi(-24));
            let tanh_error = 0.5 * g.abs() * 8.0 * 2f32.powi(-24);
            let bound = (f16_ulp + tanh_error) * u.abs() + 2.4e-7 * want.abs();
            let diff = (got[i] - want).abs();
            assert!(diff <= bound, "gelu({g}) · {u}: {} vs {want}", got[i]);
            flips += usize::from(diff > 0.0);
            worst = worst.max(diff / bound.max(1e-30));
        }
    }
    eprintln!("gelu · up: {flips} values off, largest error {worst:.2} of the bound");
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
