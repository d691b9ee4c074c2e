//! The KV store and attention kernels (`kernels/kv_store.wgsl`,
//! `kernels/attention.wgsl`) against the CPU reference (`KvCache::store`'s
//! f16 rounding and `cpu::attention::attend`), natively on wgpu (lavapipe in
//! CI), on seeded random data with the head shapes of the supported models.
//!
//! Everything is compared bit for bit: the stored f16 cache (ties to even,
//! subnormals kept) and the attention output, which follows llama.cpp's f16
//! dot-product order of a one-token step (`DotF16::Single`) or of a batch
//! (`DotF16::Batch`). `the_dot_order_and_bounds_show_in_the_bits` checks that
//! the comparison can fail: the other order, or one position more or fewer,
//! changes some bits of these cases.

use half::f16;
use locus::cpu::attention::{AttentionShape, attend};
use locus::cpu::ggml_numerics::DotF16;
use locus::gpu::GpuContext;
use locus::gpu::attention::attention_step;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

fn random(rng: &mut SmallRng, n: usize, range: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-range..range)).collect()
}

fn shape(heads: usize, kv_heads: usize, head_dim: usize, window: Option<usize>) -> AttentionShape {
    AttentionShape {
        heads,
        kv_heads,
        head_dim,
        value_dim: head_dim,
        scale: 1.0 / (head_dim as f32).sqrt(),
        window,
    }
}

/// One test case: random cache (garbage past the step too, which must not be
/// read), random q/k/v for `n` tokens at `pos0`.
struct Case {
    shape: AttentionShape,
    capacity: usize,
    pos0: usize,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    keys: Vec<f16>,
    values: Vec<f16>,
}

fn case(shape: AttentionShape, n: usize, pos0: usize, capacity: usize, seed: u64) -> Case {
    let mut rng = SmallRng::seed_from_u64(seed);
    let kv_width = shape.kv_heads * shape.head_dim;
    let v_width = shape.kv_heads * shape.value_dim;
    let halves = |v: Vec<f32>| v.into_iter().map(f16::from_f32).collect::<Vec<_>>();
    // Scores of a few units: the weights vary, none dominates.
    let q = random(&mut rng, n * shape.heads * shape.head_dim, 2.0);
    let keys = halves(random(&mut rng, capacity * kv_width, 2.0));
    let values = halves(random(&mut rng, capacity * v_width, 1.0));
    let k = random(&mut rng, n * kv_width, 2.0);
    let v = random(&mut rng, n * v_width, 1.0);
    Case {
        shape,
        capacity,
        pos0,
        q,
        k,
        v,
        keys,
        values,
    }
}

/// The CPU path: store as `KvCache::store` does, then `attend` per token.
fn reference(c: &Case, shape: &AttentionShape) -> (Vec<f32>, Vec<f16>, Vec<f16>) {
    let n = c.k.len() / (c.shape.kv_heads * c.shape.head_dim);
    reference_in(c, shape, if n > 1 { DotF16::Batch } else { DotF16::Single })
}

/// [`reference`] with the dot products in `order`.
fn reference_in(c: &Case, shape: &AttentionShape, order: DotF16) -> (Vec<f32>, Vec<f16>, Vec<f16>) {
    let (mut keys, mut values) = (c.keys.clone(), c.values.clone());
    let kv_width = c.shape.kv_heads * c.shape.head_dim;
    let v_width = c.shape.kv_heads * c.shape.value_dim;
    let n = c.k.len() / kv_width;
    for t in 0..n {
        let pos = c.pos0 + t;
        for (dst, &src) in keys[pos * kv_width..][..kv_width]
            .iter_mut()
            .zip(&c.k[t * kv_width..])
        {
            *dst = f16::from_f32(src);
        }
        for (dst, &src) in values[pos * v_width..][..v_width]
            .iter_mut()
            .zip(&c.v[t * v_width..])
        {
            *dst = f16::from_f32(src);
        }
    }
    let q_width = shape.heads * shape.head_dim;
    let out_width = shape.heads * shape.value_dim;
    let mut out = vec![0.0; n * out_width];
    for t in 0..n {
        attend(
            shape,
            &c.q[t * q_width..(t + 1) * q_width],
            &keys,
            &values,
            c.pos0 + t,
            order,
            &mut out[t * out_width..(t + 1) * out_width],
        );
    }
    (out, keys, values)
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

fn run(ctx: &GpuContext, c: &Case) {
    let (got, keys, values) = pollster::block_on(attention_step(
        ctx,
        &c.shape,
        (&c.keys, &c.values),
        &c.q,
        &c.k,
        &c.v,
        c.pos0,
    ))
    .unwrap();
    let (want, want_keys, want_values) = reference(c, &c.shape);
    let bits = |v: &[f16]| v.iter().map(|h| h.to_bits()).collect::<Vec<_>>();
    assert!(
        bits(&keys) == bits(&want_keys),
        "stored keys differ from f16::from_f32"
    );
    assert!(bits(&values) == bits(&want_values), "stored values differ");
    let s = &c.shape;
    let what = format!(
        "heads {}/{} dim {} window {:?} n {} pos0 {} capacity {}",
        s.heads,
        s.kv_heads,
        s.head_dim,
        s.window,
        c.k.len() / (s.kv_heads * s.head_dim),
        c.pos0,
        c.capacity
    );
    let (count, first) = mismatches(&got, &want);
    assert!(
        count == 0,
        "{what}: {count} of {} outputs differ from the CPU, first (index, gpu, cpu) {first:?}",
        got.len()
    );
}

/// (heads, kv_heads, head_dim): SmolLM2-135M, Qwen2.5-0.5B, Gemma 3 270M,
/// and an 80-wide head.
const HEADS: [(usize, usize, usize); 4] = [(9, 3, 64), (14, 2, 64), (4, 1, 256), (4, 2, 80)];

#[test]
fn decode_one_token_matches_cpu() {
    let ctx = context();
    for (i, &(h, kv, d)) in HEADS.iter().enumerate() {
        // 1 and 37 positions, 513 (more than a workgroup's 256 threads),
        // and 64 and 65 (one and just over one 64-position round).
        for (j, pos0) in [0, 36, 512, 63, 64].into_iter().enumerate() {
            run(
                &ctx,
                &case(shape(h, kv, d, None), 1, pos0, 600, (i * 10 + j) as u64),
            );
        }
    }
}

#[test]
fn prefill_many_tokens_matches_cpu() {
    let ctx = context();
    for (i, &(h, kv, d)) in HEADS.iter().enumerate() {
        // Fresh prompts, and a batch after a long prefix.
        for n in [7, 8, 9, 17] {
            run(&ctx, &case(shape(h, kv, d, None), n, 0, 40, 100 + i as u64));
        }
        run(
            &ctx,
            &case(shape(h, kv, d, None), 7, 506, 517, 200 + i as u64),
        );
        run(
            &ctx,
            &case(shape(h, kv, d, None), 130, 3, 140, 300 + i as u64),
        );
    }
}

#[test]
fn sliding_window_matches_cpu() {
    let ctx = context();
    for (i, &(h, kv, d)) in HEADS.iter().enumerate() {
        let seed = 400 + 10 * i as u64;
        // Window shorter than the sequence, longer than it, and of one position.
        run(&ctx, &case(shape(h, kv, d, Some(5)), 7, 30, 40, seed));
        run(
            &ctx,
            &case(shape(h, kv, d, Some(128)), 1, 512, 513, seed + 1),
        );
        run(
            &ctx,
            &case(shape(h, kv, d, Some(128)), 9, 120, 200, seed + 2),
        );
        run(
            &ctx,
            &case(shape(h, kv, d, Some(1000)), 3, 36, 40, seed + 3),
        );
        run(&ctx, &case(shape(h, kv, d, Some(1)), 3, 10, 40, seed + 4));
    }
}

/// The stored values round to nearest-even at exact ties, like the CPU cache,
/// subnormal f16 values included, and attention reads them back exactly.
#[test]
fn the_store_rounds_ties_to_even_and_keeps_subnormals() {
    let ctx = context();
    let mut c = case(shape(2, 1, 64, None), 1, 3, 8, 9);
    let ulp = 2f32.powi(-10);
    let sub = 2f32.powi(-24); // the smallest f16 subnormal
    // Halfway cases between f16 neighbours (down to even, up to even),
    // values just past a half, and the same among subnormals: 0.5 → 0,
    // 1.5 → 2, 2.5 → 2 units, 1023.5 units → the smallest normal.
    let ties = [
        1.0 + ulp / 2.0,
        1.0 + 1.5 * ulp,
        -(1.0 + ulp / 2.0),
        2048.0 + 1.0,
        3.0e-5,
        1.0 + ulp * 0.5001,
        0.5 * sub,
        1.5 * sub,
        -2.5 * sub,
        0.5001 * sub,
        1023.5 * sub,
        -7.0 * sub,
        65519.0,
    ];
    c.k[..ties.len() - 1].copy_from_slice(&ties[..ties.len() - 1]);
    c.v[..ties.len()].copy_from_slice(&ties);
    // A whole key row of subnormals, and a query that rounds to them.
    let kw = c.shape.kv_heads * c.shape.head_dim;
    c.keys[..kw]
        .iter_mut()
        .enumerate()
        .for_each(|(i, k)| *k = f16::from_bits(1 + i as u16 * 7));
    c.q[..ties.len() - 1].copy_from_slice(&ties[..ties.len() - 1]);
    run(&ctx, &c);
}

/// Bitwise comparison can fail: on these cases the other dot-product order,
/// or attending one position more or fewer (causal bound, window), changes
/// some bits of the output.
#[test]
fn the_dot_order_and_bounds_show_in_the_bits() {
    for (pos0, n, window) in [
        (512, 1, None),
        (300, 1, Some(100)),
        (506, 7, None),
        (120, 9, Some(128)),
        (60, 7, Some(40)),
    ] {
        let c = case(shape(9, 3, 64, window), n, pos0, 600, 77);
        let (want, _, _) = reference(&c, &c.shape);
        let other = if n > 1 { DotF16::Single } else { DotF16::Batch };
        let (got, _, _) = reference_in(&c, &c.shape, other);
        let (count, _) = mismatches(&got, &want);
        eprintln!("pos0 {pos0} n {n} window {window:?}: {count} differ in the other order");
        assert!(count > 0, "pos0 {pos0} n {n}: the orders agree");
        // Token 0 drops its oldest position; with a window, also one more.
        let mut wrong = vec![window.map_or(pos0, |w| w - 1)];
        wrong.extend(window.map(|w| w + 1));
        for w in wrong {
            let (got, _, _) = reference(&c, &shape(9, 3, 64, Some(w)));
            let (count, _) = mismatches(&got, &want);
            assert!(count > 0, "pos0 {pos0} n {n} window {window:?} vs {w}");
        }
    }
}

/// The decoder's way: passes bound once (one buffer holding the cache of two
/// layers, keys and values interleaved per token in one input buffer, q and
/// out at offsets with padded strides, a scratch for fewer tokens than the
/// batch), then a prefill step and two decode
/// steps that only rewrite the step uniform and the inputs.
#[test]
fn prepared_passes_follow_the_step_uniform() {
    use locus::gpu::attention::{
        KvCacheView, Rows, attention_scratch, bind_attention, bind_kv_store, kv_words,
    };
    use locus::gpu::step::{StepUniform, step_buffer, write_step};
    use wgpu::util::DeviceExt;

    let ctx = context();
    let s = shape(9, 3, 64, Some(6));
    let (kw, vw) = (kv_words(&s).0 as u32, kv_words(&s).1 as u32);
    let (capacity, max_tokens, layer) = (16u32, 7u32, 1u32);
    let q_width = (s.heads * s.head_dim) as u32;
    let (q_off, q_stride, kv_stride) = (5u32, q_width + 3, 2 * (kw + vw) + 1);
    let layer_words = capacity * (kw + vw);
    let storage = |label, bytes: u64| {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    };
    let cache = ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("cache"),
            contents: &vec![0xabu8; (2 * layer_words * 4) as usize],
            usage: wgpu::BufferUsages::STORAGE,
        });
    let q = storage("q", u64::from(q_off + max_tokens * q_stride) * 4);
    let kv = storage("kv", u64::from(max_tokens * kv_stride) * 4);
    let out = storage("out", u64::from(2 + max_tokens * q_width) * 4);
    let step = step_buffer(&ctx);
    let view = KvCacheView {
        keys: &cache,
        k_offset: layer * layer_words,
        values: &cache,
        v_offset: layer * layer_words + capacity * kw,
        capacity,
    };
    let rows = |buffer, offset, stride| Rows {
        buffer,
        offset,
        stride,
    };
    let store = bind_kv_store(
        &ctx,
        &s,
        &view,
        rows(&kv, 0, kv_stride),
        rows(&kv, 2 * kw, kv_stride),
        &step,
        max_tokens,
    )
    .unwrap();
    // Room for 3 tokens' scores: the batch of 7 is split into 3 dispatches.
    let scratch = attention_scratch(&ctx, s.heads, capacity, 3).unwrap();
    let attend = bind_attention(
        &ctx,
        &s,
        &view,
        rows(&q, q_off, q_stride),
        rows(&out, 2, q_width),
        &scratch,
        &step,
        max_tokens,
    )
    .unwrap();
    assert_eq!(attend.dispatch_count(), 3);

    let mut rng = SmallRng::seed_from_u64(3);
    let mut keys = vec![f16::ZERO; (capacity * 2 * kw) as usize];
    let mut values = vec![f16::ZERO; (capacity * 2 * vw) as usize];
    let mut pos0 = 0u32;
    for n in [7u32, 1, 1] {
        let c = Case {
            q: random(&mut rng, (n * q_width) as usize, 2.0),
            k: random(&mut rng, (n * 2 * kw) as usize, 2.0),
            v: random(&mut rng, (n * 2 * vw) as usize, 1.0),
            keys: keys.clone(),
            values: values.clone(),
            shape: shape(9, 3, 64, Some(6)),
            capacity: capacity as usize,
            pos0: pos0 as usize,
        };
        let (want, new_keys, new_values) = reference(&c, &c.shape);
        (keys, values) = (new_keys, new_values);
        // Lay the inputs out with the strides bound above.
        let mut q_data = vec![f32::NAN; (q_off + n * q_stride) as usize];
        let mut kv_data = vec![f32::NAN; (n * kv_stride) as usize];
        for t in 0..n as usize {
            let qs = q_off as usize + t * q_stride as usize;
            q_data[qs..][..q_width as usize]
                .copy_from_slice(&c.q[t * q_width as usize..][..q_width as usize]);
            let ks = t * kv_stride as usize;
            let (k2, v2) = (2 * kw as usize, 2 * vw as usize);
            kv_data[ks..][..k2].copy_from_slice(&c.k[t * k2..][..k2]);
            kv_data[ks + k2..][..v2].copy_from_slice(&c.v[t * v2..][..v2]);
        }
        ctx.queue.write_buffer(&q, 0, bytemuck::cast_slice(&q_data));
        ctx.queue
            .write_buffer(&kv, 0, bytemuck::cast_slice(&kv_data));
        write_step(&ctx, &step, StepUniform::new(pos0, n));
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            store.encode(&mut pass);
            attend.encode(&mut pass);
        }
        ctx.queue.submit([encoder.finish()]);
        let raw =
            pollster::block_on(ctx.read_buffer(&out, u64::from(2 + n * q_width) * 4)).unwrap();
        let got: Vec<f32> = bytemuck::cast_slice(&raw)[2..].to_vec();
        let (count, first) = mismatches(&got, &want);
        assert!(
            count == 0,
            "step at {pos0} of {n}: {count} differ, first {first:?}"
        );
        pos0 += n;
    }
}
