//! A throughput print, not a test: the `fast` prefill kernels on one
//! SmolLM2-135M-shaped and one Qwen2.5-0.5B-shaped layer for a 512-token
//! prompt (the seven linears with the model's weight types, flash attention
//! over the batch), each against the shared f32 kernel it replaces
//! (`gpu::matmul`, `gpu::attention`), and one-token split attention over a
//! 4,096-position cache against the shared one-token kernel. Prints ms,
//! GFLOP/s and the layer's tokens/s; each linear also with f16 tiles (where
//! `best` is another precision) and int8 tiles (`matmul_q8`: the mat-mul
//! alone, the Q8 quantise pass of its input beside it), and the layer's
//! total with the faster of the int8 tiles and `best` per linear, one
//! quantise pass per shared input (q/k/v, gate/up). `decode_matvec_time` times the
//! one-token `fast` mat-vec on each of those layers' matrices and the
//! Qwen2.5 head (µs a dispatch and the weight bytes read per second),
//! beside a 4 × 32 one whose time is the per-dispatch floor. Ignored by default (lavapipe's numbers
//! say nothing about a GPU); run with
//! `cargo test --release --test gpu_fast_speed -- --ignored --nocapture`
//! (`LOCUS_SPEED_TOKENS=16` for a quick smoke run on a CPU driver).

mod gpu_weights;

use std::time::{Duration, Instant};

use gpu_weights::{random_matrix, random_x};
use locus::cpu::attention::AttentionShape;
use locus::gpu::attention::{KvCacheView, attention_scratch, bind_attention, kv_words};
use locus::gpu::fast::attention::{
    SplitChunks, bind_flash_attention, bind_split_attention, split_attention_scratch,
};
use locus::gpu::fast::matmul::{
    FastMatMulIo, FastMatMulKernel, TilePrecision, TileRows, bind_fast_matmul,
};
use locus::gpu::fast::matmul_q8::{
    Q8MatMulIo, bind_q8_matmul, bind_quantize_q8, int8_weights, q8_buffer,
};
use locus::gpu::fast::matvec::{Epilogue, FastLinear, bind_fast_linear};
use locus::gpu::matmul::{MatMulIo, matmul_flags};
use locus::gpu::matvec::GpuMatrix;
use locus::gpu::pass::Rows;
use locus::gpu::step::StepUniform;
use locus::gpu::{GpuContext, KernelPass};
use locus::quant::GgmlType;
use rand::SeedableRng;
use rand::rngs::SmallRng;

/// Prompt tokens: 512, or `LOCUS_SPEED_TOKENS`.
fn prompt_tokens() -> usize {
    std::env::var("LOCUS_SPEED_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}
/// Dispatches of one op per submission, so submission cost is amortised.
const REPEATS: usize = 10;

struct Layer {
    name: &'static str,
    hidden: usize,
    ffn: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    /// Weight types of q, k, v, o, gate, up, down.
    types: [GgmlType; 7],
}

const LAYERS: [Layer; 2] = [
    Layer {
        name: "SmolLM2-135M Q4_1",
        hidden: 576,
        ffn: 1536,
        heads: 9,
        kv_heads: 3,
        head_dim: 64,
        types: [GgmlType::Q4_1; 7],
    },
    Layer {
        name: "Qwen2.5-0.5B Q4_K_M",
        hidden: 896,
        ffn: 4864,
        heads: 14,
        kv_heads: 2,
        head_dim: 64,
        // Its 896-wide rows are no whole K-quant blocks: legacy types
        // there, K-quants only in the FFN down projection.
        types: [
            GgmlType::Q5_0,
            GgmlType::Q5_0,
            GgmlType::Q8_0,
            GgmlType::Q5_0,
            GgmlType::Q5_0,
            GgmlType::Q5_0,
            GgmlType::Q4_K,
        ],
    },
];

/// Median wall time of one dispatch of `pass`, `REPEATS` per submission.
fn time(ctx: &GpuContext, pass: &KernelPass) -> Duration {
    let mut times = Vec::new();
    for round in 0..8 {
        let start = Instant::now();
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut compute = encoder.begin_compute_pass(&Default::default());
            for _ in 0..REPEATS {
                pass.encode(&mut compute);
            }
        }
        ctx.queue.submit([encoder.finish()]);
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap();
        // The first round pays for compilation.
        if round > 0 {
            times.push(start.elapsed() / REPEATS as u32);
        }
    }
    times.sort_unstable();
    times[times.len() / 2]
}

fn storage(ctx: &GpuContext, floats: usize) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("speed"),
        size: (floats * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

fn ms(t: Duration) -> f64 {
    t.as_secs_f64() * 1e3
}

#[test]
#[ignore = "timing print; run with --release --ignored --nocapture"]
fn prefill_layer_throughput() {
    let ctx = pollster::block_on(GpuContext::create()).expect("a GPU adapter");
    eprintln!(
        "adapter: {} ({:?}), shader-f16 {}, packed int8 dot {}",
        ctx.info.name,
        ctx.info.backend,
        ctx.capabilities.shader_f16,
        ctx.capabilities.packed_int8_dot
    );
    let precision = TilePrecision::best(&ctx);
    let tokens = prompt_tokens();
    let step = StepUniform::new(0, tokens as u32).to_buffer(&ctx);
    for layer in &LAYERS {
        let (d, kvd) = (layer.hidden, layer.kv_heads * layer.head_dim);
        let shapes = [
            ("q", d, d),
            ("k", kvd, d),
            ("v", kvd, d),
            ("o", d, d),
            ("gate", layer.ffn, d),
            ("up", layer.ffn, d),
            ("down", d, layer.ffn),
        ];
        let x = storage(&ctx, tokens * layer.ffn.max(d));
        ctx.queue.write_buffer(
            &x,
            0,
            bytemuck::cast_slice(&random_x(
                &mut SmallRng::seed_from_u64(2),
                tokens * layer.ffn.max(d),
            )),
        );
        let y = storage(&ctx, tokens * layer.ffn.max(d));
        let q8 = q8_buffer(&ctx, layer.ffn.max(d), tokens as u32);
        let (mut fast_total, mut shared_total) = (Duration::ZERO, Duration::ZERO);
        // `best` or int8 tiles per linear, whichever is faster, and the
        // quantise passes (q and gate quantise for k, v and up too).
        let mut mixed_total = Duration::ZERO;
        let mut quantised = [false; 4];
        eprintln!(
            "{} layer, {tokens} tokens, {precision:?} tiles:",
            layer.name
        );
        for (&(name, rows, cols), &ty) in shapes.iter().zip(&layer.types) {
            let mut rng = SmallRng::seed_from_u64(1);
            let bytes = random_matrix(&mut rng, ty, rows, cols);
            let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
            let rows_of = |buffer, stride: usize| Rows {
                buffer,
                offset: 0,
                stride: stride as u32,
            };
            let fast = |tiles| {
                let kernel = FastMatMulKernel { precision, tiles };
                let io = FastMatMulIo {
                    x: rows_of(&x, cols),
                    y: rows_of(&y, rows),
                    bias: None,
                    accumulate: false,
                    max_tokens: tokens as u32,
                    step: &step,
                };
                bind_fast_matmul(&ctx, &matrix, kernel, io).unwrap()
            };
            let chosen = FastMatMulKernel::best(&ctx, rows, tokens as u32).tiles;
            let shared = matrix
                .bind_matmul(
                    &ctx,
                    &matmul_flags(ty).unwrap(),
                    MatMulIo {
                        x: &x,
                        x_offset: 0,
                        y: &y,
                        y_offset: 0,
                        max_tokens: tokens as u32,
                        step: &step,
                    },
                )
                .unwrap();
            let t_narrow = time(&ctx, &fast(TileRows::Narrow));
            // Cooperative-matrix tiles come only narrow.
            let t_wide = match precision {
                TilePrecision::Cooperative => t_narrow,
                _ => time(&ctx, &fast(TileRows::Wide)),
            };
            let t_shared = time(&ctx, &shared);
            let t_fast = if chosen == TileRows::Wide {
                t_wide
            } else {
                t_narrow
            };
            fast_total += t_fast;
            shared_total += t_shared;
            let gflops = |t: Duration| 2.0 * (rows * cols * tokens) as f64 / t.as_secs_f64() / 1e9;
            eprintln!(
                "  {name:>4} {ty} {rows}×{cols}: fast wide {:.3} ms ({:.0} GFLOP/s), \
                 narrow {:.3} ms ({:.0} GFLOP/s), chosen {chosen:?}; shared {:.3} ms ({:.0} GFLOP/s)",
                ms(t_wide),
                gflops(t_wide),
                ms(t_narrow),
                gflops(t_narrow),
                ms(t_shared),
                gflops(t_shared)
            );
            let f16 = FastMatMulKernel {
                precision: TilePrecision::F16,
                tiles: chosen,
            };
            if precision != TilePrecision::F16 && f16.runs_on(&ctx) {
                let io = FastMatMulIo {
                    x: rows_of(&x, cols),
                    y: rows_of(&y, rows),
                    bias: None,
                    accumulate: false,
                    max_tokens: tokens as u32,
                    step: &step,
                };
                let run = |tiles| {
                    let kernel = FastMatMulKernel { tiles, ..f16 };
                    time(&ctx, &bind_fast_matmul(&ctx, &matrix, kernel, io).unwrap())
                };
                let (wide, narrow) = (run(TileRows::Wide), run(TileRows::Narrow));
                eprintln!(
                    "         f16 tiles: wide {:.3} ms ({:.0} GFLOP/s), narrow {:.3} ms ({:.0} GFLOP/s)",
                    ms(wide),
                    gflops(wide),
                    ms(narrow),
                    gflops(narrow)
                );
            }
            let mut t_mixed = t_fast;
            if ctx.capabilities.packed_int8_dot && int8_weights(ty) {
                let quantize =
                    bind_quantize_q8(&ctx, rows_of(&x, cols), cols, &q8, tokens as u32, &step)
                        .unwrap();
                let run = |tiles| {
                    let io = Q8MatMulIo {
                        q8: &q8,
                        y: rows_of(&y, rows),
                        bias: None,
                        accumulate: false,
                        max_tokens: tokens as u32,
                        step: &step,
                    };
                    time(&ctx, &bind_q8_matmul(&ctx, &matrix, tiles, io).unwrap())
                };
                let (wide, narrow, t_quantize) = (
                    run(TileRows::Wide),
                    run(TileRows::Narrow),
                    time(&ctx, &quantize),
                );
                eprintln!(
                    "        int8 tiles: wide {:.3} ms ({:.0} GFLOP/s), narrow {:.3} ms ({:.0} GFLOP/s); \
                     quantising X {:.3} ms",
                    ms(wide),
                    gflops(wide),
                    ms(narrow),
                    gflops(narrow),
                    ms(t_quantize)
                );
                let int8 = wide.min(narrow);
                if int8 < t_fast {
                    // One quantise pass per input: q, k and v read one,
                    // gate and up another.
                    let input = match name {
                        "q" | "k" | "v" => 0,
                        "o" => 1,
                        "gate" | "up" => 2,
                        _ => 3,
                    };
                    t_mixed = int8;
                    if !std::mem::replace(&mut quantised[input], true) {
                        t_mixed += t_quantize;
                    }
                }
            }
            mixed_total += t_mixed;
        }

        let shape = AttentionShape {
            heads: layer.heads,
            kv_heads: layer.kv_heads,
            head_dim: layer.head_dim,
            value_dim: layer.head_dim,
            scale: 1.0 / (layer.head_dim as f32).sqrt(),
            window: None,
        };
        let (kw, vw) = kv_words(&shape);
        let capacity = tokens as u32;
        let keys = storage(&ctx, tokens * kw);
        let values = storage(&ctx, tokens * vw);
        let cache = KvCacheView {
            keys: &keys,
            k_offset: 0,
            values: &values,
            v_offset: 0,
            capacity,
        };
        let q_width = layer.heads * layer.head_dim;
        let q = Rows {
            buffer: &x,
            offset: 0,
            stride: q_width as u32,
        };
        let out = Rows {
            buffer: &y,
            offset: 0,
            stride: q_width as u32,
        };
        let flash =
            bind_flash_attention(&ctx, &shape, &cache, q, out, &step, tokens as u32).unwrap();
        let scratch = attention_scratch(&ctx, shape.heads, capacity, tokens as u32).unwrap();
        let shared =
            bind_attention(&ctx, &shape, &cache, q, out, &scratch, &step, tokens as u32).unwrap();
        let (t_flash, t_shared) = (time(&ctx, &flash), time(&ctx, &shared));
        fast_total += t_flash;
        mixed_total += t_flash;
        shared_total += t_shared;
        // Causal: about half the n² score and value products.
        let flops = 2.0 * 2.0 * (tokens * tokens / 2 * q_width) as f64;
        eprintln!(
            "  attention: flash {:.3} ms ({:.0} GFLOP/s), shared {:.3} ms",
            ms(t_flash),
            flops / t_flash.as_secs_f64() / 1e9,
            ms(t_shared)
        );
        let tokens_per_s = |t: Duration| tokens as f64 / t.as_secs_f64();
        eprintln!(
            "  layer (linears + attention): fast {:.3} ms = {:.0} tokens/s, shared {:.3} ms = {:.0} tokens/s ({:.1}×)",
            ms(fast_total),
            tokens_per_s(fast_total),
            ms(shared_total),
            tokens_per_s(shared_total),
            shared_total.as_secs_f64() / fast_total.as_secs_f64()
        );
        if ctx.capabilities.packed_int8_dot {
            eprintln!(
                "  layer with int8 tiles where faster (quantising included): {:.3} ms = {:.0} tokens/s ({:.2}× fast)",
                ms(mixed_total),
                tokens_per_s(mixed_total),
                fast_total.as_secs_f64() / mixed_total.as_secs_f64()
            );
        }

        // One token over a long cache.
        let long = 4096u32;
        let keys = storage(&ctx, long as usize * kw);
        let values = storage(&ctx, long as usize * vw);
        let cache = KvCacheView {
            keys: &keys,
            k_offset: 0,
            values: &values,
            v_offset: 0,
            capacity: long,
        };
        for positions in [128u32, 2048, 4096] {
            let one = StepUniform::new(positions - 1, 1).to_buffer(&ctx);
            let chunks = SplitChunks::for_capacity(long);
            let scratch = split_attention_scratch(&ctx, &shape, chunks).unwrap();
            let split =
                bind_split_attention(&ctx, &shape, &cache, q, out, &scratch, &one, chunks, None)
                    .unwrap()
                    .both();
            let shared_scratch = attention_scratch(&ctx, shape.heads, long, 1).unwrap();
            let shared =
                bind_attention(&ctx, &shape, &cache, q, out, &shared_scratch, &one, 1).unwrap();
            eprintln!(
                "  one token over {positions} positions: split {:.3} ms, shared {:.3} ms",
                ms(time(&ctx, &split)),
                ms(time(&ctx, &shared))
            );
        }
    }
}

#[test]
#[ignore = "timing print; run with --release --ignored --nocapture"]
fn decode_matvec_time() {
    let ctx = pollster::block_on(GpuContext::create()).expect("a GPU adapter");
    eprintln!("{} ({:?})", ctx.info.name, ctx.info.backend);
    let mut rng = SmallRng::seed_from_u64(7);
    let norm = storage(&ctx, 8192);
    let x = storage(&ctx, 8192);
    let y = storage(&ctx, 160_000);
    let mut shapes: Vec<(String, GgmlType, usize, usize, Epilogue, bool)> =
        vec![("floor".into(), GgmlType::F32, 4, 32, Epilogue::Store, false)];
    for l in &LAYERS {
        let [q, _, _, o, gate, _, down] = l.types;
        let qkv = (l.heads + 2 * l.kv_heads) * l.head_dim;
        shapes.extend([
            (
                format!("{} qkv", l.name),
                q,
                qkv,
                l.hidden,
                Epilogue::Store,
                true,
            ),
            (
                format!("{} o", l.name),
                o,
                l.hidden,
                l.hidden,
                Epilogue::Add,
                false,
            ),
            (
                format!("{} gate+up", l.name),
                gate,
                2 * l.ffn,
                l.hidden,
                Epilogue::SiluMul,
                true,
            ),
            (
                format!("{} down", l.name),
                down,
                l.hidden,
                l.ffn,
                Epilogue::Add,
                false,
            ),
        ]);
    }
    shapes.push((
        "Qwen2.5 head".into(),
        GgmlType::Q8_0,
        151_936,
        896,
        Epilogue::Store,
        true,
    ));
    for (name, ty, rows, cols, epilogue, with_norm) in shapes {
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
        let linear = FastLinear {
            matrix: &matrix,
            x: &x,
            x_offset: 0,
            y: &y,
            y_offset: 0,
            epilogue,
            norm: with_norm.then_some((&norm, 1e-6)),
            bias: None,
            combine: None,
        };
        let pass = bind_fast_linear(&ctx, &linear).unwrap();
        let t = time(&ctx, &pass);
        eprintln!(
            "  {name}: {ty} {rows} × {cols}: {:.1} µs, {:.0} GB/s of weights",
            t.as_secs_f64() * 1e6,
            bytes.len() as f64 / t.as_secs_f64() / 1e9
        );
    }
}

/// What one dispatch costs in a chain, apart from its work: the per-dispatch
/// floor that bounds decode (about 5 passes a layer). One-workgroup kernels,
/// `DISPATCHES` of them in one compute pass, each reading and writing one
/// buffer (so wgpu puts a pipeline barrier between each two, as between a
/// model's passes), unless `independent` (each its own buffer: no barrier):
/// - `bump`: one thread adds 1 to a float;
/// - `bump, 1,024 workgroups`: the same over a grid as wide as a mat-vec's;
/// - `128 threads, 16 KiB shared`: a workgroup the size of the fast
///   mat-vec's with as much workgroup memory (which WGSL zero-initialises);
/// - `+ 4 barriers`: the same with four workgroup barriers;
/// - `+ 16 dependent loads`: one thread chasing 16 indices through global
///   memory (latency per round trip = the difference ÷ 16);
/// - `+ 4 subgroupAdd`: four subgroup reductions (where the adapter has subgroups);
/// - `staging 2,048 values`: the fast mat-vec's staging of x into workgroup
///   memory (16 loads a thread), on one workgroup and on 512.
///
/// Compare with llama.cpp's time per graph node on the same GPU.
#[test]
#[ignore = "timing print; run with --release --ignored --nocapture"]
fn dispatch_chain_cost() {
    const DISPATCHES: usize = 512;
    let ctx = pollster::block_on(GpuContext::create()).expect("a GPU adapter");
    eprintln!("{} ({:?})", ctx.info.name, ctx.info.backend);
    let device = &ctx.device;
    let buffers: Vec<wgpu::Buffer> = (0..DISPATCHES).map(|_| storage(&ctx, 4096)).collect();
    let time = |body: &str, size: u32, independent: bool, workgroups: u32| {
        let source = format!(
            "@group(0) @binding(0) var<storage, read_write> v: array<u32>;
             var<workgroup> shared_mem: array<vec4<u32>, 1024>;
             @compute @workgroup_size({size})
             fn main(@builtin(local_invocation_index) lid: u32{}) {{ {body} }}",
            if body.contains("subgroup") {
                ", @builtin(subgroup_invocation_id) lane: u32"
            } else {
                ""
            }
        );
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("floor"),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("floor"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        let groups: Vec<wgpu::BindGroup> = buffers
            .iter()
            .map(|buffer| {
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &layout,
                    entries: &[wgpu::BindGroupEntry {
                        binding: 0,
                        resource: buffer.as_entire_binding(),
                    }],
                })
            })
            .collect();
        let mut times = Vec::new();
        for round in 0..8 {
            let start = Instant::now();
            let mut encoder = device.create_command_encoder(&Default::default());
            {
                let mut compute = encoder.begin_compute_pass(&Default::default());
                compute.set_pipeline(&pipeline);
                for i in 0..DISPATCHES {
                    compute.set_bind_group(0, &groups[if independent { i } else { 0 }], &[]);
                    compute.dispatch_workgroups(workgroups, 1, 1);
                }
            }
            ctx.queue.submit([encoder.finish()]);
            device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
            if round > 0 {
                times.push(start.elapsed() / DISPATCHES as u32);
            }
        }
        times.sort_unstable();
        times[times.len() / 2].as_secs_f64() * 1e6
    };
    let bump = "if (lid == 0u) { v[0] = v[0] + 1u; }";
    let shared = "shared_mem[lid] = vec4<u32>(lid); workgroupBarrier();
                  if (lid == 0u) { v[0] = v[0] + shared_mem[5].x; }";
    let barriers = "shared_mem[lid] = vec4<u32>(lid); workgroupBarrier(); workgroupBarrier();
                    workgroupBarrier(); workgroupBarrier();
                    if (lid == 0u) { v[0] = v[0] + shared_mem[5].x; }";
    // v[i] holds 0 (the buffers start zeroed), so the chain reads v[0] 16 times.
    let loads = "shared_mem[lid] = vec4<u32>(lid); workgroupBarrier();
                 if (lid == 0u) { var i = 1u; for (var k = 0u; k < 16u; k++) { i = v[i & 63u]; }
                 v[0] = v[0] + i + shared_mem[5].x; }";
    let subgroups = "shared_mem[lid] = vec4<u32>(lid); workgroupBarrier();
                     var s = lid; for (var k = 0u; k < 4u; k++) { s = subgroupAdd(s + k); }
                     if (lid == 0u) { v[0] = v[0] + s + shared_mem[5].x; }";
    // The fast mat-vec's staging of x: 2,048 values, 16 a thread.
    let staging =
        "for (var i = lid; i < 2048u; i += 128u) { shared_mem[i / 4u][i % 4u] = v[i + 1u]; }
                   workgroupBarrier();
                   if (lid == 0u) { v[0] = v[0] + shared_mem[5].x; }";
    let mut cases = vec![
        ("bump", bump, 64, false, 1),
        ("bump, independent", bump, 64, true, 1),
        ("bump, 1,024 workgroups", bump, 64, false, 1024),
        ("128 threads, 16 KiB shared", shared, 128, false, 1),
        ("+ 4 barriers", barriers, 128, false, 1),
        ("+ 16 dependent loads", loads, 128, false, 1),
        ("128 threads staging 2,048 values", staging, 128, false, 1),
        (
            "128 threads staging 2,048 values, 512 workgroups",
            staging,
            128,
            false,
            512,
        ),
    ];
    if ctx.capabilities.subgroups {
        cases.push(("+ 4 subgroupAdd", subgroups, 128, false, 1));
    }
    for (name, body, size, independent, workgroups) in cases {
        eprintln!(
            "  {name}: {:.2} µs a dispatch",
            time(body, size, independent, workgroups)
        );
    }
}
