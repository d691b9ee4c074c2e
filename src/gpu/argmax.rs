//! Greedy sampling on the GPU (`kernels/argmax.wgsl`): the index of the
//! largest logit as `engine::sampler::argmax` picks it (ties to the lowest
//! index, NaN never, 0 when nothing beats -inf), written as a u32 into a
//! buffer, e.g. the token buffer the next step's embedding reads, so that
//! only a few bytes ever come back to the host; and the top k logits
//! (`kernels/topk.wgsl`) for sampling with a temperature on the host.

use crate::gpu::pass::{self, KernelPass, check_words, to_u32};
use crate::gpu::{GpuContext, GpuError, Kernel};

/// Logits per first-stage workgroup (`CHUNK` in the WGSL).
pub const CHUNK: usize = 4096;

/// The kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    count: u32,
    logits_offset: u32,
    out_offset: u32,
    _pad: u32,
}

/// The variant flags of a stage (`"PARTIAL"` or `"FINAL"`).
fn flags(stage: &'static str, subgroups: bool) -> Vec<&'static str> {
    let mut flags = vec![stage];
    if subgroups {
        flags.push("SUBGROUPS");
    }
    flags
}

/// Prepares the two dispatches writing the argmax of `logits[logits_offset..]
/// [..count]` to word `out_offset` of `out`. `subgroups` picks the subgroup
/// reduction (the device must have them) over the shared-memory one.
pub fn bind_argmax(
    ctx: &GpuContext,
    logits: &wgpu::Buffer,
    logits_offset: u32,
    count: usize,
    out: &wgpu::Buffer,
    out_offset: u32,
    subgroups: bool,
) -> Result<KernelPass, GpuError> {
    if count == 0 {
        return Err(GpuError::Shape("argmax of no logits".into()));
    }
    if subgroups && !ctx.capabilities.subgroups {
        return Err(GpuError::Kernel {
            kernel: Kernel::Argmax.name(),
            message: "the SUBGROUPS variant needs a device with subgroups".into(),
        });
    }
    let count32 = to_u32("logits", count)?;
    check_words(
        ctx,
        "argmax logits",
        logits,
        u64::from(logits_offset) + count as u64,
    )?;
    check_words(ctx, "argmax out", out, u64::from(out_offset) + 1)?;
    let groups = to_u32("argmax workgroups", count.div_ceil(CHUNK))?;
    let partial = pass::storage_zeroed(ctx, "argmax partial", u64::from(groups) * 8);

    let stage = |stage, params: Params, buffers: &[(u32, &wgpu::Buffer)]| {
        let pipeline = ctx.pipeline(Kernel::Argmax, &flags(stage, subgroups))?;
        let uniform = pass::uniform(ctx, "argmax params", &params);
        let mut entries = buffers.to_vec();
        entries.push((3, &uniform));
        let bind_group = pass::bind_group(ctx, &pipeline, "argmax", &entries);
        Ok::<_, GpuError>((pipeline, bind_group))
    };
    let first = Params {
        count: count32,
        logits_offset,
        out_offset,
        _pad: 0,
    };
    let (pipeline, bind_group) = stage("PARTIAL", first, &[(0, logits), (1, &partial)])?;
    let mut prepared = KernelPass::default();
    prepared.push(pipeline, bind_group, groups);
    let second = Params {
        count: groups,
        ..first
    };
    let (pipeline, bind_group) = stage("FINAL", second, &[(1, &partial), (2, out)])?;
    prepared.push(pipeline, bind_group, 1);
    Ok(prepared)
}

/// One shot: the argmax of `logits`. For tests.
pub async fn argmax(ctx: &GpuContext, logits: &[f32], subgroups: bool) -> Result<u32, GpuError> {
    if logits.is_empty() {
        return Err(GpuError::Shape("argmax of no logits".into()));
    }
    let buffer = pass::storage_init(ctx, "logits", bytemuck::cast_slice(logits));
    let out = pass::storage_zeroed(ctx, "argmax out", 4);
    let prepared = bind_argmax(ctx, &buffer, 0, logits.len(), &out, 0, subgroups)?;
    let raw = pass::run_and_read(ctx, &[&prepared], &out, 4).await?;
    Ok(bytemuck::cast_slice::<u8, u32>(&raw)[0])
}

/// The most candidates [`bind_top_k`] returns.
pub const MAX_K: usize = 64;

/// Marks a missing top-k entry (fewer than k logits above -inf).
pub const NONE: u32 = u32::MAX;

/// The kernel's uniform block; layout matches `Params` in topk.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TopKParams {
    count: u32,
    k: u32,
    logits_offset: u32,
    out_offset: u32,
}

/// Prepares the two dispatches writing the `k` (≤ [`MAX_K`]) largest of
/// `logits[logits_offset..][..count]` to `out` from word `out_offset`: `k`
/// pairs (index, f32 bits of the logit), best first, ties to the lower
/// index; index [`NONE`] where fewer than `k` logits beat -inf.
pub fn bind_top_k(
    ctx: &GpuContext,
    logits: &wgpu::Buffer,
    logits_offset: u32,
    count: usize,
    k: usize,
    out: &wgpu::Buffer,
    out_offset: u32,
) -> Result<KernelPass, GpuError> {
    if count == 0 || k == 0 || k > MAX_K {
        return Err(GpuError::Shape(format!(
            "top-{k} of {count} logits (k in 1..={MAX_K})"
        )));
    }
    let count32 = to_u32("logits", count)?;
    check_words(
        ctx,
        "top-k logits",
        logits,
        u64::from(logits_offset) + count as u64,
    )?;
    check_words(ctx, "top-k out", out, u64::from(out_offset) + 2 * k as u64)?;
    let groups = to_u32("top-k workgroups", count.div_ceil(CHUNK))?;
    let pairs = u64::from(groups) * k as u64;
    let partial = pass::storage_zeroed(ctx, "top-k partial", pairs * 8);
    let stage = |stage, params: TopKParams, buffers: &[(u32, &wgpu::Buffer)]| {
        let pipeline = ctx.pipeline(Kernel::TopK, &[stage])?;
        let uniform = pass::uniform(ctx, "top-k params", &params);
        let mut entries = buffers.to_vec();
        entries.push((3, &uniform));
        let bind_group = pass::bind_group(ctx, &pipeline, "top-k", &entries);
        Ok::<_, GpuError>((pipeline, bind_group))
    };
    let first = TopKParams {
        count: count32,
        k: k as u32,
        logits_offset,
        out_offset,
    };
    let (pipeline, bind_group) = stage("FIRST", first, &[(0, logits), (1, &partial)])?;
    let mut prepared = KernelPass::default();
    prepared.push(pipeline, bind_group, groups);
    let merge = TopKParams {
        count: to_u32("top-k candidates", pairs as usize)?,
        ..first
    };
    let (pipeline, bind_group) = stage("MERGE", merge, &[(1, &partial), (2, out)])?;
    prepared.push(pipeline, bind_group, 1);
    Ok(prepared)
}

/// One shot: the `k` largest logits as (index, logit), best first, without
/// the [`NONE`] entries. For tests.
pub async fn top_k(
    ctx: &GpuContext,
    logits: &[f32],
    k: usize,
) -> Result<Vec<(u32, f32)>, GpuError> {
    if logits.is_empty() {
        return Err(GpuError::Shape("top-k of no logits".into()));
    }
    let buffer = pass::storage_init(ctx, "logits", bytemuck::cast_slice(logits));
    let bytes = (k * 8) as u64;
    let out = pass::storage_zeroed(ctx, "top-k out", bytes);
    let prepared = bind_top_k(ctx, &buffer, 0, logits.len(), k, &out, 0)?;
    let raw = pass::run_and_read(ctx, &[&prepared], &out, bytes).await?;
    Ok(bytemuck::cast_slice::<u8, u32>(&raw)
        .chunks_exact(2)
        .filter(|pair| pair[0] != NONE)
        .map(|pair| (pair[0], f32::from_bits(pair[1])))
        .collect())
}
