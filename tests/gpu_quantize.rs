//! The activation rounding kernel against the CPU's llama.cpp-style
//! quantisers (`quant::QuantizedRow`): the values the GPU's dot products
//! see must be the CPU's, up to the rare code that WGSL's 2.5-ulp division
//! tips across a rounding boundary.

use locus::gpu::GpuContext;
use locus::gpu::exact::quantize::{bind_round_activations, rounding_flag};
use locus::gpu::pass::Rows;
use locus::gpu::step::StepUniform;
use locus::quant::{GgmlType, QuantizedRow};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wgpu::util::DeviceExt;

#[test]
fn rounding_matches_the_cpu_quantisers() {
    let ctx = pollster::block_on(GpuContext::create()).expect("a Vulkan adapter");
    let mut rng = SmallRng::seed_from_u64(7);
    let (tokens, cols) = (5usize, 768usize);
    let x: Vec<f32> = (0..tokens * cols)
        .map(|_| rng.random_range(-3.0f32..3.0))
        .collect();
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q4_K,
        GgmlType::F16,
        GgmlType::BF16,
    ] {
        let flag = rounding_flag(ty).unwrap().unwrap();
        let input = ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::cast_slice(&x),
                usage: wgpu::BufferUsages::STORAGE,
            });
        let out = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: (x.len() * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let step = StepUniform::new(0, tokens as u32).to_buffer(&ctx);
        let rows = |buffer| Rows {
            buffer,
            offset: 0,
            stride: cols as u32,
        };
        let pass = bind_round_activations(
            &ctx,
            flag,
            rows(&input),
            rows(&out),
            cols,
            &step,
            tokens as u32,
        )
        .unwrap();
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut compute = encoder.begin_compute_pass(&Default::default());
            pass.encode(&mut compute);
        }
        ctx.queue.submit([encoder.finish()]);
        let raw = pollster::block_on(ctx.read_buffer(&out, (x.len() * 4) as u64)).unwrap();
        let got: &[f32] = bytemuck::cast_slice(&raw);
        let mut differ = 0;
        for t in 0..tokens {
            let want = QuantizedRow::quantize(ty, &x[t * cols..(t + 1) * cols])
                .unwrap()
                .dequantize();
            for (g, w) in got[t * cols..(t + 1) * cols].iter().zip(&want) {
                if g != w {
                    differ += 1;
                    // One code: at most the block's scale, amax / 127 ≤ 3 / 127.
                    assert!((g - w).abs() <= 3.0 / 127.0 * 1.01, "{ty}: {g} vs {w}");
                }
            }
        }
        eprintln!(
            "{ty} ({flag}): {differ} of {} values differ by one code",
            x.len()
        );
        assert!(differ * 1000 <= x.len(), "{ty}: {differ} values differ");
    }
}
