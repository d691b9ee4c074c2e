//! A speed sanity check, not a benchmark: the attention kernel with
//! SmolLM2-135M's heads (9 query heads over 3 KV heads, 64 wide) for one
//! decode token at 64 and 512 cached positions, and a 128-token prefill, on
//! whatever adapter wgpu picks (lavapipe, a CPU driver, in CI: it says how
//! much work a pass does, little about a real GPU's latency). Each sample is
//! one submission of `REPEATS` dispatches of the same bound pass (they write
//! the same output, so they run one after another). Ignored by default; run
//! with `cargo test --test gpu_attention_speed -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use locus::cpu::attention::AttentionShape;
use locus::gpu::GpuContext;
use locus::gpu::attention::{KvCacheView, Rows, attention_scratch, bind_attention, kv_words};
use locus::gpu::step::StepUniform;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wgpu::util::DeviceExt;

const CAPACITY: u32 = 640;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

/// Median wall time per dispatch of attention for `n` tokens at `pos0`.
fn time_attention(ctx: &GpuContext, pos0: u32, n: u32, repeats: usize) -> Duration {
    let shape = AttentionShape {
        heads: 9,
        kv_heads: 3,
        head_dim: 64,
        value_dim: 64,
        scale: 0.125,
        window: None,
    };
    let mut rng = SmallRng::seed_from_u64(5);
    let mut f32s =
        |len: usize| -> Vec<f32> { (0..len).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let (kw, vw) = kv_words(&shape);
    let init = |label, data: &[f32]| {
        ctx.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE,
            })
    };
    // Random f32 bits make finite f16 pairs often enough; only the time counts.
    let halves: Vec<f32> = f32s(CAPACITY as usize * (kw + vw))
        .iter()
        .map(|x| f32::from_bits(u32::from(half::f16::from_f32(*x).to_bits()) * 0x10001))
        .collect();
    let cache = init("cache", &halves);
    let q_width = shape.heads * shape.head_dim;
    let q = init("q", &f32s(n as usize * q_width));
    let out = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("out"),
        size: u64::from(n) * q_width as u64 * 4,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let step = StepUniform::new(pos0, n).to_buffer(ctx);
    let view = KvCacheView {
        keys: &cache,
        k_offset: 0,
        values: &cache,
        v_offset: CAPACITY * kw as u32,
        capacity: CAPACITY,
    };
    let rows = |buffer| Rows {
        buffer,
        offset: 0,
        stride: q_width as u32,
    };
    let scratch = attention_scratch(ctx, shape.heads, CAPACITY, n).unwrap();
    let pass =
        bind_attention(ctx, &shape, &view, rows(&q), rows(&out), &scratch, &step, n).unwrap();
    let once = || {
        let start = Instant::now();
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut cpass = encoder.begin_compute_pass(&Default::default());
            for _ in 0..repeats {
                pass.encode(&mut cpass);
            }
        }
        ctx.queue.submit([encoder.finish()]);
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap();
        start.elapsed() / repeats as u32
    };
    once(); // compile and warm up
    median((0..5).map(|_| once()).collect())
}

#[test]
#[ignore = "timing print; run with --ignored --nocapture"]
fn attention_decode_and_prefill() {
    let ctx = pollster::block_on(GpuContext::create()).expect("a GPU adapter");
    eprintln!("adapter: {} ({:?})", ctx.info.name, ctx.info.backend);
    for pos0 in [63, 511] {
        let t = time_attention(&ctx, pos0, 1, 200);
        eprintln!("decode at {} positions: {t:?} per dispatch", pos0 + 1);
    }
    let t = time_attention(&ctx, 0, 128, 4);
    eprintln!("prefill of 128 tokens: {t:?} per pass");
}
