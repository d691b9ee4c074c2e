//! Activations rounded as llama.cpp's CPU backend rounds them before each
//! quantised dot product (`kernels/exact/quantize.wgsl`), so the GPU's outputs
//! track llama.cpp's: the 8-bit rounding of activations is what separates
//! llama.cpp's logits from an f32 reference's (by up to ~1 on these models).

use crate::gpu::pass::{self, KernelPass, Rows, check_words, to_u32};
use crate::gpu::{GpuContext, GpuError, Kernel};
use crate::quant::{GgmlType, vec_dot_type};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    cols: u32,
    rows: u32,
    x_offset: u32,
    x_stride: u32,
    y_offset: u32,
    y_stride: u32,
    _pad: [u32; 2],
}

const WG: u32 = 64;

/// The kernel variant that rounds activations for weights of type `ty`, or
/// `None` when they stay f32.
pub fn rounding_flag(ty: GgmlType) -> Result<Option<&'static str>, GpuError> {
    let format = vec_dot_type(ty).map_err(|e| GpuError::Shape(e.to_string()))?;
    Ok(match format {
        GgmlType::Q8_0 | GgmlType::Q8_1 => Some("Q8_0"),
        GgmlType::Q8_K => Some("Q8_K"),
        GgmlType::F16 => Some("F16"),
        GgmlType::BF16 => Some("BF16"),
        _ => None,
    })
}

/// Prepares the rounding of `cols` values per token of `x` into `y` with
/// variant `flag` (see [`rounding_flag`]): this step's tokens, at most
/// `max_tokens`.
pub fn bind_round_activations(
    ctx: &GpuContext,
    flag: &'static str,
    x: Rows<'_>,
    y: Rows<'_>,
    cols: usize,
    step: &wgpu::Buffer,
    max_tokens: u32,
) -> Result<KernelPass, GpuError> {
    let block = match flag {
        "Q8_0" => 32,
        "Q8_K" => 256,
        _ => 1,
    };
    if cols == 0 || !cols.is_multiple_of(block) {
        return Err(GpuError::Shape(format!(
            "activation rounding: {cols} values are not blocks of {block}"
        )));
    }
    let cols32 = to_u32("activation width", cols)?;
    check_words(ctx, "activations in", x.buffer, x.end(max_tokens, cols32))?;
    check_words(ctx, "activations out", y.buffer, y.end(max_tokens, cols32))?;
    let params = Params {
        cols: cols32,
        rows: 0,
        x_offset: x.offset,
        x_stride: x.stride,
        y_offset: y.offset,
        y_stride: y.stride,
        _pad: [0; 2],
    };
    let uniform = pass::uniform(ctx, "quantize params", &params);
    let pipeline = ctx.pipeline(Kernel::Quantize, &[flag])?;
    let bind_group = pass::bind_group(
        ctx,
        &pipeline,
        "quantize",
        &[(0, x.buffer), (1, y.buffer), (2, step), (3, &uniform)],
    );
    let threads = u64::from(max_tokens) * (cols / block) as u64;
    let mut prepared = KernelPass::default();
    prepared.push(
        pipeline,
        bind_group,
        to_u32(
            "quantize workgroups",
            threads.div_ceil(u64::from(WG)) as usize,
        )?,
    );
    Ok(prepared)
}
