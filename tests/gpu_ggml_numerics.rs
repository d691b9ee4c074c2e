//! The shared WGSL library `kernels/lib/ggml_numerics.wgsl` against the
//! CPU's arithmetic, bit for bit, on seeded inputs over the ranges the
//! decoder meets (and beyond: f16 subnormals and overflow, exp's saturation).
//! Also checks the assumption everything rests on: WGSL `fma` rounds once.

use half::f16;
use locus::cpu::ggml_numerics;
use locus::gpu::GpuContext;
use locus::gpu::preprocess::expand;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wgpu::util::DeviceExt;

const FUNCTIONS: usize = 9;
const NAMES: [&str; FUNCTIONS] = [
    "div_rn",
    "sqrt_rn",
    "round_f16",
    "f16_bits",
    "ggml_expf",
    "ggml_silu",
    "fma_rn",
    "double_div_to_f32",
    "double_recip_to_f32",
];

/// What the CPU computes for function `f` of `(x, y)`.
fn expected(f: usize, x: f32, y: f32) -> f32 {
    let sum = f64::from(x * x) + f64::from(y * y);
    match f {
        0 => x / y,
        1 => x.abs().sqrt(),
        2 => f16::from_f32(x).to_f32(),
        3 => f32::from_bits(u32::from(f16::from_f32(x).to_bits())),
        4 => ggml_numerics::expf::<true>(x),
        5 => ggml_numerics::silu::<true>(x),
        6 => x.mul_add(y, -1.0),
        7 => (sum / 576.0) as f32,
        _ => (1.0 / sum) as f32,
    }
}

/// Inputs over several magnitudes, both signs.
fn inputs(rng: &mut SmallRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let magnitude = match i % 6 {
                0 => rng.random_range(0.0f32..2.0),
                1 => rng.random_range(0.0f32..90.0),
                2 => 10f32.powf(rng.random_range(-9.0f32..-3.0)), // f16 subnormals
                3 => 10f32.powf(rng.random_range(3.0f32..6.0)),   // f16 overflow
                4 => 1.0 + f32::EPSILON * rng.random_range(0.0f32..8.0),
                _ => 10f32.powf(rng.random_range(-3.0f32..3.0)),
            };
            if rng.random_bool(0.5) {
                magnitude
            } else {
                -magnitude
            }
        })
        .collect()
}

#[test]
fn library_functions_match_the_cpu_bit_for_bit() {
    let ctx = pollster::block_on(GpuContext::create()).expect("a Vulkan adapter");
    eprintln!(
        "{}: fma fused: {}",
        ctx.info.name, ctx.capabilities.fused_fma
    );
    // The integer fused multiply-add everywhere; the device's where it is fused.
    check_library(&ctx, false);
    if ctx.capabilities.fused_fma {
        check_library(&ctx, true);
    }
}

fn check_library(ctx: &GpuContext, native_fma: bool) {
    let mut rng = SmallRng::seed_from_u64(11);
    let n = 12_000;
    let mut a = inputs(&mut rng, n);
    let b = inputs(&mut rng, n);
    // Exact halfway cases of f16 rounding (ties go to even).
    for (i, bits) in [0x3c00_1000u32, 0x3c00_3000, 0x3380_0000, 0x3300_0000]
        .into_iter()
        .enumerate()
    {
        a[i] = f32::from_bits(bits);
    }
    let source = expand(include_str!("shaders/ggml_numerics_check.wgsl"), &[]).unwrap();
    let module = ctx
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("ggml numerics check"),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
    let pipeline = ctx
        .device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: None,
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[("NATIVE_FMA", f64::from(u8::from(native_fma)))],
                ..Default::default()
            },
            cache: None,
        });
    let storage = |data: &[f32]| {
        ctx.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE,
            })
    };
    let (a_buf, b_buf) = (storage(&a), storage(&b));
    let out_bytes = (n * FUNCTIONS * 4) as u64;
    let out = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: out_bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let params = ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(&[n as u32, 0, 0, 0]),
            usage: wgpu::BufferUsages::UNIFORM,
        });
    let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[(0, &a_buf), (1, &b_buf), (2, &out), (3, &params)].map(|(binding, buffer)| {
            wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            }
        }),
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups((n as u32).div_ceil(64), 1, 1);
    }
    ctx.queue.submit([encoder.finish()]);
    let raw = pollster::block_on(ctx.read_buffer(&out, out_bytes)).unwrap();
    ctx.check().unwrap();
    let got: &[f32] = bytemuck::cast_slice(&raw);
    let mut failures = Vec::new();
    for f in 0..FUNCTIONS {
        let mut differ = 0;
        for i in 0..n {
            let want = expected(f, a[i], b[i]);
            let have = got[i * FUNCTIONS + f];
            let same = have.to_bits() == want.to_bits() || (have.is_nan() && want.is_nan());
            if !same {
                if differ < 3 {
                    eprintln!(
                        "{}({:e}, {:e}): GPU {have:e} ({:#x}), CPU {want:e} ({:#x})",
                        NAMES[f],
                        a[i],
                        b[i],
                        have.to_bits(),
                        want.to_bits()
                    );
                }
                differ += 1;
            }
        }
        if differ > 0 {
            failures.push(format!(
                "{} (native fma: {native_fma}): {differ} of {n} differ",
                NAMES[f]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
