//! A speed sanity check, not a benchmark: one 576 × 1536 mat-mul over 64
//! tokens (SmolLM2-135M's FFN down projection for a 64-token prompt) against
//! 64 mat-vec dispatches of the same matrix, on whatever adapter wgpu picks
//! (lavapipe, a CPU driver, in CI: its ratio says little about a real GPU).
//! Ignored by default; run with
//! `cargo test --test gpu_matmul_speed -- --ignored --nocapture`.

mod gpu_weights;

use std::time::{Duration, Instant};

use gpu_weights::{random_matrix, random_x};
use locus::gpu::GpuContext;
use locus::gpu::matmul::{self, MatMulIo};
use locus::gpu::matvec::{self, GpuMatrix, MatVecIo};
use locus::gpu::step::StepUniform;
use locus::quant::GgmlType;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use wgpu::util::DeviceExt;

const ROWS: usize = 576;
const COLS: usize = 1536;
const TOKENS: usize = 64;

/// Wall time of one submission of what `encode` records, waited for.
fn time_once(ctx: &GpuContext, encode: impl Fn(&mut wgpu::ComputePass<'_>)) -> Duration {
    let start = Instant::now();
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    encode(&mut encoder.begin_compute_pass(&Default::default()));
    ctx.queue.submit([encoder.finish()]);
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    start.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

#[test]
#[ignore = "timing print; run with --ignored --nocapture"]
fn matmul_against_matvecs() {
    let ctx = pollster::block_on(GpuContext::create()).expect("a GPU adapter");
    eprintln!("adapter: {} ({:?})", ctx.info.name, ctx.info.backend);
    for ty in [GgmlType::F32, GgmlType::Q8_0, GgmlType::Q4_K] {
        let mut rng = SmallRng::seed_from_u64(1);
        let bytes = random_matrix(&mut rng, ty, ROWS, COLS);
        let x = random_x(&mut rng, TOKENS * COLS);
        let matrix = GpuMatrix::upload(&ctx, ty, ROWS, COLS, &bytes).unwrap();
        let x = ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("x"),
                contents: bytemuck::cast_slice(&x),
                usage: wgpu::BufferUsages::STORAGE,
            });
        let y = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("y"),
            size: (TOKENS * ROWS * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let step = StepUniform::new(0, TOKENS as u32).to_buffer(&ctx);
        let io = MatMulIo {
            x: &x,
            x_offset: 0,
            y: &y,
            y_offset: 0,
            max_tokens: TOKENS as u32,
            step: &step,
        };
        let mm = matrix
            .bind_matmul(&ctx, &matmul::matmul_flags(ty).unwrap(), io)
            .unwrap();
        let flags = matvec::matvec_flags(&ctx, ty).unwrap();
        let mvs: Vec<_> = (0..TOKENS)
            .map(|t| {
                let io = MatVecIo {
                    x: &x,
                    x_offset: (t * COLS) as u32,
                    y: &y,
                    y_offset: (t * ROWS) as u32,
                };
                matrix.bind(&ctx, &flags, io).unwrap()
            })
            .collect();

        // Alternated, so that load from other processes hits both alike;
        // the first round pays for pipeline compilation and is dropped.
        let (mut mm_times, mut mv_times) = (Vec::new(), Vec::new());
        for round in 0..12 {
            let mm_time = time_once(&ctx, |pass| mm.encode(pass));
            let mv_time = time_once(&ctx, |pass| mvs.iter().for_each(|mv| mv.encode(pass)));
            if round > 0 {
                mm_times.push(mm_time);
                mv_times.push(mv_time);
            }
        }
        let (mm_time, mv_time) = (median(mm_times), median(mv_times));
        let gflops = |t: Duration| 2.0 * (ROWS * COLS * TOKENS) as f64 / t.as_secs_f64() / 1e9;
        eprintln!(
            "{ty} {ROWS}×{COLS}, {TOKENS} tokens: mat-mul {:.2} ms ({:.1} GFLOP/s), \
             {TOKENS} mat-vecs {:.2} ms ({:.1} GFLOP/s): {:.1}× faster",
            mm_time.as_secs_f64() * 1e3,
            gflops(mm_time),
            mv_time.as_secs_f64() * 1e3,
            gflops(mv_time),
            mv_time.as_secs_f64() / mm_time.as_secs_f64()
        );
    }
}
