//! The `fast` prefill mat-mul (`kernels/fast/matmul.wgsl`): `Y = X·Wᵀ` for
//! `n` tokens, `W` a [`GpuMatrix`] (raw GGUF blocks, the upload every kernel
//! shares), `X` and `Y` f32 [`Rows`], with 128- or 64-row × 64-token
//! workgroup tiles ([`TileRows`]) of 8 × 4 outputs per thread, f16 tiles
//! where the adapter has `shader-f16` ([`TilePrecision`]), and optional
//! epilogues: a bias and `Y += result` (the residual). Its int8 tiles
//! ([`TilePrecision::Int8`]) are a sibling kernel, `gpu::fast::matmul_q8`.
//!
//! [`bind_fast_matmul`] builds the bind groups once (one per row chunk of
//! the matrix) for buffers sized for `max_tokens` tokens; the token count is
//! read at run time from the shared step uniform, like `gpu::matmul`.
//! [`fast_matmul`] is the one-shot helper for tests.

use super::matmul_q8::{Q8MatMulIo, bind_q8_matmul, bind_quantize_q8, int8_weights, q8_buffer};
use crate::gpu::matvec::{GpuMatrix, choice};
use crate::gpu::pass::{self, KernelPass, Rows, check_words, to_u32};
use crate::gpu::step::StepUniform;
use crate::gpu::{GpuContext, GpuError, Kernel, workgroup_grid};
use crate::quant::GgmlType;

/// Rows of `W` (columns of `Y`) per wide workgroup tile (`TILE_ROWS` in
/// the WGSL).
pub const WIDE_ROWS: usize = 128;
/// Rows per narrow tile (`TILE_ROWS` with `NARROW`).
pub const NARROW_ROWS: usize = 64;
/// Wide tiles are chosen where they make at least this many workgroups;
/// fewer would leave a large GPU's cores idle (132 SMs on an H100, two
/// 256-thread workgroups each). A guess until measured on the device.
const WIDE_MIN_WORKGROUPS: usize = 256;
/// Tokens per workgroup tile (`TILE_TOKENS` in the WGSL).
pub const TILE_TOKENS: usize = 64;

/// What the kernel's workgroup tiles hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePrecision {
    /// f32 tiles and accumulators: any adapter.
    F32,
    /// f16 tiles, 16-product partial sums in f16, f32 accumulators: needs
    /// `shader-f16`, and inputs within f16 range.
    F16,
    /// f16 tiles multiplied on cooperative matrices (tensor cores), f32
    /// sums: needs [`Capabilities::cooperative_matrix`]; narrow tiles only
    /// (the wide tile's result staging would pass 48 KiB of workgroup
    /// memory).
    ///
    /// [`Capabilities::cooperative_matrix`]: crate::gpu::Capabilities
    Cooperative,
    /// `X` quantised to Q8 blocks, quantised weights as int8 codes, block
    /// dot products in packed 8-bit integer instructions, scaled in f32
    /// (`gpu::fast::matmul_q8`): needs
    /// [`Capabilities::packed_int8_dot`] and quantised weights
    /// ([`FastMatMulKernel::takes`]). Never [`TilePrecision::best`]: only
    /// the autotune picks it, where it timed it faster.
    ///
    /// [`Capabilities::packed_int8_dot`]: crate::gpu::Capabilities
    Int8,
}

impl TilePrecision {
    /// Cooperative where the device has them, else F16 where it has
    /// `shader-f16`, else F32.
    pub fn best(ctx: &GpuContext) -> TilePrecision {
        if ctx.capabilities.cooperative_matrix {
            TilePrecision::Cooperative
        } else if ctx.capabilities.shader_f16 {
            TilePrecision::F16
        } else {
            TilePrecision::F32
        }
    }
}

/// Rows per workgroup tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileRows {
    /// 128 rows, 256 threads.
    Wide,
    /// 64 rows, 128 threads: twice the workgroups for small matrices.
    Narrow,
}

impl TileRows {
    pub fn rows(self) -> usize {
        match self {
            TileRows::Wide => WIDE_ROWS,
            TileRows::Narrow => NARROW_ROWS,
        }
    }

    /// Wide where that still makes enough workgroups, else narrow.
    pub fn for_shape(rows: usize, max_tokens: u32) -> TileRows {
        let workgroups = rows.div_ceil(WIDE_ROWS) * (max_tokens as usize).div_ceil(TILE_TOKENS);
        if workgroups >= WIDE_MIN_WORKGROUPS {
            TileRows::Wide
        } else {
            TileRows::Narrow
        }
    }
}

/// Which variant of the kernel runs: tile precision and shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastMatMulKernel {
    pub precision: TilePrecision,
    pub tiles: TileRows,
}

impl FastMatMulKernel {
    /// The best precision of the device and the tile shape for `rows` ×
    /// `max_tokens` outputs.
    pub fn best(ctx: &GpuContext, rows: usize, max_tokens: u32) -> FastMatMulKernel {
        let precision = TilePrecision::best(ctx);
        let tiles = match precision {
            TilePrecision::Cooperative => TileRows::Narrow,
            _ => TileRows::for_shape(rows, max_tokens),
        };
        FastMatMulKernel { precision, tiles }
    }

    /// Whether the device can run this variant: f16 tiles need
    /// `shader-f16`; cooperative-matrix tiles need the feature and narrow
    /// tiles; int8 tiles WGSL's packed integer dot products.
    pub fn runs_on(self, ctx: &GpuContext) -> bool {
        let caps = &ctx.capabilities;
        match self.precision {
            TilePrecision::F32 => true,
            TilePrecision::F16 => caps.shader_f16,
            TilePrecision::Cooperative => caps.cooperative_matrix && self.tiles == TileRows::Narrow,
            TilePrecision::Int8 => caps.packed_int8_dot,
        }
    }

    /// Whether this variant multiplies weights of type `ty`: the float
    /// tiles every type the fast mat-mul decodes, the int8 tiles the
    /// quantised ones.
    pub fn takes(self, ty: GgmlType) -> bool {
        match self.precision {
            TilePrecision::Int8 => int8_weights(ty),
            _ => choice(ty).is_ok(),
        }
    }

    /// Every variant the device can run on weights of type `ty`, `best`'s
    /// choice for `rows` × `max_tokens` first (the autotune times them in
    /// this order).
    pub fn candidates(
        ctx: &GpuContext,
        ty: GgmlType,
        rows: usize,
        max_tokens: u32,
    ) -> Vec<FastMatMulKernel> {
        let best = FastMatMulKernel::best(ctx, rows, max_tokens);
        let mut all = vec![best];
        for precision in [
            TilePrecision::Cooperative,
            TilePrecision::F16,
            TilePrecision::F32,
            TilePrecision::Int8,
        ] {
            for tiles in [TileRows::Wide, TileRows::Narrow] {
                let kernel = FastMatMulKernel { precision, tiles };
                if kernel != best && kernel.runs_on(ctx) && kernel.takes(ty) {
                    all.push(kernel);
                }
            }
        }
        all
    }

    /// The variant's name as the tuning table stores it, e.g.
    /// `cooperative/narrow`, `f16/wide`.
    pub fn name(self) -> String {
        format!("{}/{}", self.precision.name(), self.tiles.name())
    }
}

impl TilePrecision {
    pub fn name(self) -> &'static str {
        match self {
            TilePrecision::F32 => "f32",
            TilePrecision::F16 => "f16",
            TilePrecision::Cooperative => "cooperative",
            TilePrecision::Int8 => "int8",
        }
    }
}

impl TileRows {
    pub fn name(self) -> &'static str {
        match self {
            TileRows::Wide => "wide",
            TileRows::Narrow => "narrow",
        }
    }
}

impl std::fmt::Display for FastMatMulKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// A name that is no [`FastMatMulKernel`] (e.g. one a later build wrote).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fast mat-mul variant `{0}`")]
pub struct UnknownKernel(pub String);

impl std::str::FromStr for FastMatMulKernel {
    type Err = UnknownKernel;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownKernel(name.to_string());
        let (precision, tiles) = name.split_once('/').ok_or_else(unknown)?;
        let precision = match precision {
            "f32" => TilePrecision::F32,
            "f16" => TilePrecision::F16,
            "cooperative" => TilePrecision::Cooperative,
            "int8" => TilePrecision::Int8,
            _ => return Err(unknown()),
        };
        let tiles = match tiles {
            "wide" => TileRows::Wide,
            "narrow" => TileRows::Narrow,
            _ => return Err(unknown()),
        };
        Ok(FastMatMulKernel { precision, tiles })
    }
}

/// A bias added to every token's output row: `bias[offset + r]` for row `r`.
#[derive(Debug, Clone, Copy)]
pub struct Bias<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u32,
}

/// Where a fast mat-mul reads `X` and writes `Y`, and how.
#[derive(Debug, Clone, Copy)]
pub struct FastMatMulIo<'a> {
    /// `cols` values per token; offset and stride multiples of 4 (vec4 loads).
    pub x: Rows<'a>,
    /// The matrix's `rows` values per token.
    pub y: Rows<'a>,
    pub bias: Option<Bias<'a>>,
    /// `Y += X·Wᵀ` (a residual) instead of `Y = X·Wᵀ`.
    pub accumulate: bool,
    pub max_tokens: u32,
    /// A step uniform; its `n_tokens` (capped at `max_tokens`) is the
    /// number of tokens each dispatch multiplies.
    pub step: &'a wgpu::Buffer,
}

/// The float kernel's variant: the weight type's choice, then the flags
/// (int8 tiles are another kernel: `matmul_q8::q8_matmul_flags`).
pub fn fast_matmul_flags(
    ty: crate::quant::GgmlType,
    kernel: FastMatMulKernel,
    bias: bool,
    accumulate: bool,
) -> Result<Vec<&'static str>, GpuError> {
    let mut flags = vec![choice(ty).map_err(|_| GpuError::Kernel {
        kernel: Kernel::FastMatMul.name(),
        message: format!("no fast mat-mul for {ty} weights"),
    })?];
    match kernel.precision {
        TilePrecision::F32 => {}
        TilePrecision::F16 => flags.push("HALF"),
        TilePrecision::Cooperative => flags.extend(["HALF", "COOP"]),
        TilePrecision::Int8 => {
            return Err(GpuError::Kernel {
                kernel: Kernel::FastMatMul.name(),
                message: "int8 tiles are the fast_matmul_q8 kernel".into(),
            });
        }
    }
    if kernel.tiles == TileRows::Narrow {
        flags.push("NARROW");
    }
    if accumulate {
        flags.push("ACCUMULATE");
    }
    if bias {
        flags.push("BIAS");
    }
    Ok(flags)
}

/// The workgroup grid of one chunk: (row tiles, spilling into z past 65535)
/// × token tiles in y.
pub(super) fn dispatch_grid(
    rows: usize,
    tiles: TileRows,
    max_tokens: u32,
) -> Result<[u32; 3], GpuError> {
    let row_tiles = u32::try_from(rows.div_ceil(tiles.rows())).unwrap_or(u32::MAX);
    let (gx, gz) = workgroup_grid(row_tiles);
    let gy = max_tokens.div_ceil(TILE_TOKENS as u32);
    if gy > 65_535 || gz > 65_535 {
        return Err(GpuError::Shape(format!(
            "fast mat-mul: {rows} rows × {max_tokens} tokens exceed one dispatch"
        )));
    }
    Ok([gx, gy, gz])
}

/// The kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    row_bytes: u32,
    w_offset: u32,
    x_offset: u32,
    x_stride: u32,
    y_offset: u32,
    y_stride: u32,
    max_tokens: u32,
    bias_offset: u32,
    _pad: [u32; 2],
}

fn shape_error(why: String) -> GpuError {
    GpuError::Shape(format!("fast mat-mul: {why}"))
}

/// Prepares `Y (+)= X·Wᵀ (+ bias)` for up to `io.max_tokens` tokens with
/// the `kernel` variant (F16 needs `shader-f16`: see
/// [`FastMatMulKernel::best`]). `Y` must not share a buffer with `X` or the
/// bias. Int8 tiles quantise `X` first, into a buffer of their own (the
/// prefill's linears share one quantisation: `gpu::fast::linears`).
pub fn bind_fast_matmul(
    ctx: &GpuContext,
    matrix: &GpuMatrix,
    kernel: FastMatMulKernel,
    io: FastMatMulIo<'_>,
) -> Result<KernelPass, GpuError> {
    if kernel.precision == TilePrecision::F16 && !ctx.capabilities.shader_f16 {
        return Err(GpuError::Kernel {
            kernel: Kernel::FastMatMul.name(),
            message: "f16 tiles need a device with shader-f16".into(),
        });
    }
    if kernel.precision == TilePrecision::Cooperative
        && (!ctx.capabilities.cooperative_matrix || kernel.tiles != TileRows::Narrow)
    {
        return Err(GpuError::Kernel {
            kernel: Kernel::FastMatMul.name(),
            message: "cooperative-matrix tiles need a device with them, and narrow tiles".into(),
        });
    }
    if kernel.precision == TilePrecision::Int8 {
        return bind_int8(ctx, matrix, kernel.tiles, io);
    }
    let flags = fast_matmul_flags(matrix.ty, kernel, io.bias.is_some(), io.accumulate)?;
    if io.max_tokens == 0 {
        return Err(shape_error("bound for zero tokens".into()));
    }
    if !matrix.cols.is_multiple_of(4)
        || !io.x.offset.is_multiple_of(4)
        || !io.x.stride.is_multiple_of(4)
    {
        return Err(shape_error(format!(
            "X is read as vec4: cols {}, offset {} and stride {} must be multiples of 4",
            matrix.cols, io.x.offset, io.x.stride
        )));
    }
    let cols = to_u32("mat-mul cols", matrix.cols)?;
    let rows = to_u32("mat-mul rows", matrix.rows)?;
    check_words(ctx, "mat-mul X", io.x.buffer, io.x.end(io.max_tokens, cols))?;
    check_words(ctx, "mat-mul Y", io.y.buffer, io.y.end(io.max_tokens, rows))?;
    // The kernel indexes with u32.
    if io.y.end(io.max_tokens, rows) > u64::from(u32::MAX) {
        return Err(shape_error("Y indices overflow u32".into()));
    }
    if let Some(bias) = io.bias {
        check_words(
            ctx,
            "mat-mul bias",
            bias.buffer,
            u64::from(bias.offset) + u64::from(rows),
        )?;
    }
    if io.step.size() < size_of::<StepUniform>() as u64 {
        return Err(shape_error("the step buffer is short".into()));
    }

    let pipeline = ctx.pipeline(Kernel::FastMatMul, &flags)?;
    let layout = pipeline.get_bind_group_layout(0);
    let mut prepared = KernelPass::default();
    for chunk in &matrix.chunks {
        let chunk_rows = chunk.rows.len();
        let start = to_u32("chunk start", chunk.rows.start)?;
        let params = Params {
            rows: to_u32("chunk rows", chunk_rows)?,
            cols,
            row_bytes: to_u32("row bytes", matrix.row_bytes)?,
            w_offset: u32::try_from(chunk.byte_offset)
                .map_err(|_| shape_error("weights offset overflows u32".into()))?,
            x_offset: io.x.offset / 4,
            x_stride: io.x.stride / 4,
            // Checked above: every index of Y fits a u32.
            y_offset: io.y.offset + start,
            y_stride: io.y.stride,
            max_tokens: io.max_tokens,
            bias_offset: io.bias.map_or(0, |b| b.offset + start),
            _pad: [0; 2],
        };
        let uniform = pass::uniform(ctx, "fast matmul params", &params);
        let weights_end =
            (chunk.byte_offset + (chunk_rows * matrix.row_bytes) as u64).next_multiple_of(4);
        let bind_group = chunk_bind_group(
            ctx,
            &layout,
            "fast matmul",
            ChunkBuffers {
                weights: &chunk.buffer,
                weights_end,
                input: io.x.buffer,
                y: io.y.buffer,
                params: &uniform,
                step: io.step,
                bias: io.bias.map(|b| b.buffer),
            },
        );
        prepared.push_grid(
            pipeline.clone(),
            bind_group,
            dispatch_grid(chunk_rows, kernel.tiles, io.max_tokens)?,
        );
    }
    Ok(prepared)
}

/// [`bind_fast_matmul`] with int8 tiles: `X` quantised into a buffer of
/// its own, then the int8 mat-mul.
fn bind_int8(
    ctx: &GpuContext,
    matrix: &GpuMatrix,
    tiles: TileRows,
    io: FastMatMulIo<'_>,
) -> Result<KernelPass, GpuError> {
    if !ctx.capabilities.packed_int8_dot {
        return Err(GpuError::Kernel {
            kernel: Kernel::FastMatMulQ8.name(),
            message: "int8 tiles need WGSL's packed_4x8_integer_dot_product".into(),
        });
    }
    if !int8_weights(matrix.ty) {
        return Err(GpuError::Kernel {
            kernel: Kernel::FastMatMulQ8.name(),
            message: format!("no int8 mat-mul for {} weights", matrix.ty),
        });
    }
    let q8 = q8_buffer(ctx, matrix.cols, io.max_tokens);
    let quantize = bind_quantize_q8(ctx, io.x, matrix.cols, &q8, io.max_tokens, io.step)?;
    let q8_io = Q8MatMulIo {
        q8: &q8,
        y: io.y,
        bias: io.bias,
        accumulate: io.accumulate,
        max_tokens: io.max_tokens,
        step: io.step,
    };
    Ok(quantize.then(bind_q8_matmul(ctx, matrix, tiles, q8_io)?))
}

/// Inputs of the one-shot [`fast_matmul`] beyond `X`.
#[derive(Debug, Clone, Copy)]
pub struct FastMatMulOptions<'a> {
    pub kernel: FastMatMulKernel,
    pub bias: Option<&'a [f32]>,
    /// `Y`'s values before the product, added to (ACCUMULATE).
    pub accumulate_onto: Option<&'a [f32]>,
}

/// `X·Wᵀ` (+ bias, + a previous `Y`), one shot: `x` holds `x.len() / cols`
/// tokens of `cols` values; uploads, dispatches and reads `Y` (tokens ×
/// rows) back. For tests and checks, not the prefill loop.
pub async fn fast_matmul(
    ctx: &GpuContext,
    matrix: &GpuMatrix,
    x: &[f32],
    options: FastMatMulOptions<'_>,
) -> Result<Vec<f32>, GpuError> {
    if x.is_empty() || !x.len().is_multiple_of(matrix.cols) {
        return Err(shape_error(format!(
            "{} values are not whole tokens of {} columns",
            x.len(),
            matrix.cols
        )));
    }
    let n = to_u32("tokens", x.len() / matrix.cols)?;
    let y_len = x.len() / matrix.cols * matrix.rows;
    let y_init = match options.accumulate_onto {
        Some(y) if y.len() != y_len => {
            return Err(shape_error(format!(
                "Y has {} values, not {y_len}",
                y.len()
            )));
        }
        Some(y) => y.to_vec(),
        None => vec![0.0; y_len],
    };
    let x_buffer = pass::storage_init(ctx, "fast matmul x", bytemuck::cast_slice(x));
    let y_buffer = pass::storage_init(ctx, "fast matmul y", bytemuck::cast_slice(&y_init));
    let bias_buffer = options
        .bias
        .map(|b| pass::storage_init(ctx, "fast matmul bias", bytemuck::cast_slice(b)));
    let step = StepUniform::new(0, n).to_buffer(ctx);
    let prepared = bind_fast_matmul(
        ctx,
        matrix,
        options.kernel,
        FastMatMulIo {
            x: Rows::from_start(&x_buffer, to_u32("cols", matrix.cols)?),
            y: Rows::from_start(&y_buffer, to_u32("rows", matrix.rows)?),
            bias: bias_buffer
                .as_ref()
                .map(|buffer| Bias { buffer, offset: 0 }),
            accumulate: options.accumulate_onto.is_some(),
            max_tokens: n,
            step: &step,
        },
    )?;
    let raw = pass::run_and_read(ctx, &[&prepared], &y_buffer, (y_len * 4) as u64).await?;
    Ok(bytemuck::cast_slice(&raw).to_vec())
}

/// The buffers one row chunk of either fast mat-mul kernel binds (the float
/// tiles read X, the int8 tiles X quantised to Q8).
pub(super) struct ChunkBuffers<'a> {
    pub weights: &'a wgpu::Buffer,
    /// Bytes of `weights` the chunk's rows end at (a multiple of 4).
    pub weights_end: u64,
    pub input: &'a wgpu::Buffer,
    pub y: &'a wgpu::Buffer,
    pub params: &'a wgpu::Buffer,
    pub step: &'a wgpu::Buffer,
    pub bias: Option<&'a wgpu::Buffer>,
}

/// The bind group of one row chunk: bindings 0-4 as both kernels declare
/// them, 5 the bias where there is one.
pub(super) fn chunk_bind_group(
    ctx: &GpuContext,
    layout: &wgpu::BindGroupLayout,
    label: &str,
    buffers: ChunkBuffers<'_>,
) -> wgpu::BindGroup {
    let mut entries = vec![
        wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: buffers.weights,
                offset: 0,
                size: wgpu::BufferSize::new(buffers.weights_end),
            }),
        },
        wgpu::BindGroupEntry {
            binding: 1,
            resource: buffers.input.as_entire_binding(),
        },
        wgpu::BindGroupEntry {
            binding: 2,
            resource: buffers.y.as_entire_binding(),
        },
        wgpu::BindGroupEntry {
            binding: 3,
            resource: buffers.params.as_entire_binding(),
        },
        wgpu::BindGroupEntry {
            binding: 4,
            resource: buffers.step.as_entire_binding(),
        },
    ];
    if let Some(bias) = buffers.bias {
        entries.push(wgpu::BindGroupEntry {
            binding: 5,
            resource: bias.as_entire_binding(),
        });
    }
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::preprocess;
    use crate::quant::GgmlType;

    /// The text from `fn name(` in `source` up to its closing `}` line.
    fn function<'a>(source: &'a str, name: &str) -> &'a str {
        let start = source
            .find(&format!("\nfn {name}("))
            .unwrap_or_else(|| panic!("no `fn {name}`"));
        let end = source[start..].find("\n}\n").expect("closing brace") + start;
        &source[start..end]
    }

    #[test]
    fn dequantisers_match_the_shared_matmul() {
        for choice in Kernel::MatMul.declared_flags().choices[0].clone() {
            let shared = Kernel::MatMul.source(&[choice]).unwrap();
            let fast = Kernel::FastMatMul.source(&[choice]).unwrap();
            for name in [
                "dequant8",
                "scale_min_k4",
                "nibbles8",
                "fifth_bits8",
                "eight",
            ] {
                if shared.contains(&format!("\nfn {name}(")) {
                    assert_eq!(
                        function(&shared, name),
                        function(&fast, name),
                        "{choice}: `{name}` differs"
                    );
                }
            }
        }
    }

    #[test]
    fn variants_cover_every_type_and_epilogue() {
        let declared = Kernel::FastMatMul.declared_flags();
        assert_eq!(declared.choices, Kernel::MatMul.declared_flags().choices);
        assert_eq!(
            declared.flags,
            ["HALF", "NARROW", "ACCUMULATE", "BIAS", "COOP"]
        );
        assert_eq!(preprocess::all_variants(&declared).len(), 11 * 32);
        let kernel = FastMatMulKernel {
            precision: TilePrecision::F16,
            tiles: TileRows::Narrow,
        };
        let flags = fast_matmul_flags(GgmlType::Q4_K, kernel, true, true).unwrap();
        assert_eq!(flags, ["Q4_K", "HALF", "NARROW", "ACCUMULATE", "BIAS"]);
        Kernel::FastMatMul.source(&flags).unwrap();
        let kernel = FastMatMulKernel {
            precision: TilePrecision::Cooperative,
            tiles: TileRows::Narrow,
        };
        let flags = fast_matmul_flags(GgmlType::Q5_0, kernel, false, false).unwrap();
        assert_eq!(flags, ["Q5_0", "HALF", "COOP", "NARROW"]);
        Kernel::FastMatMul.source(&flags).unwrap();
        let kernel = FastMatMulKernel {
            precision: TilePrecision::F32,
            tiles: TileRows::Wide,
        };
        assert_eq!(
            fast_matmul_flags(GgmlType::Q8_0, kernel, false, false).unwrap(),
            ["Q8_0"]
        );
        assert!(matches!(
            fast_matmul_flags(GgmlType::Q2_K, kernel, false, false),
            Err(GpuError::Kernel {
                kernel: "fast_matmul",
                ..
            })
        ));
    }

    #[test]
    fn tile_sizes_match_the_kernel() {
        for (flags, rows) in [
            (vec!["Q8_0"], WIDE_ROWS),
            (vec!["Q8_0", "NARROW"], NARROW_ROWS),
        ] {
            let source = Kernel::FastMatMul.source(&flags).unwrap();
            // The `#if` branch not taken is blanked.
            for line in [
                format!("const TILE_ROWS: u32 = {rows}u;"),
                format!("const TILE_TOKENS: u32 = {TILE_TOKENS}u;"),
            ] {
                assert_eq!(source.matches(&line).count(), 1, "{flags:?}: `{line}`");
            }
        }
    }

    #[test]
    fn grid_covers_rows_and_tokens() {
        use TileRows::{Narrow, Wide};
        assert_eq!(dispatch_grid(1, Wide, 1).unwrap(), [1, 1, 1]);
        assert_eq!(dispatch_grid(129, Wide, 65).unwrap(), [2, 2, 1]);
        assert_eq!(dispatch_grid(129, Narrow, 65).unwrap(), [3, 2, 1]);
        assert_eq!(dispatch_grid(151_936, Wide, 512).unwrap(), [1187, 8, 1]);
        assert!(dispatch_grid(1, Wide, u32::MAX).is_err());
    }

    #[test]
    fn variant_names_round_trip() {
        for precision in [
            TilePrecision::F32,
            TilePrecision::F16,
            TilePrecision::Cooperative,
            TilePrecision::Int8,
        ] {
            for tiles in [TileRows::Wide, TileRows::Narrow] {
                let kernel = FastMatMulKernel { precision, tiles };
                assert_eq!(kernel.name().parse::<FastMatMulKernel>(), Ok(kernel));
            }
        }
        assert_eq!(
            FastMatMulKernel {
                precision: TilePrecision::Cooperative,
                tiles: TileRows::Narrow
            }
            .name(),
            "cooperative/narrow"
        );
        for bad in ["", "f16", "f16/", "bf16/wide", "f32/tall", "f32/wide/x"] {
            assert!(bad.parse::<FastMatMulKernel>().is_err(), "{bad}");
        }
    }

    #[test]
    fn small_matrices_take_narrow_tiles() {
        // SmolLM2's 576-wide projections for a 512-token prompt: 40 wide
        // workgroups; Qwen2.5-0.5B's 4864-row FFN: 304.
        assert_eq!(TileRows::for_shape(576, 512), TileRows::Narrow);
        assert_eq!(TileRows::for_shape(4864, 512), TileRows::Wide);
        assert_eq!(TileRows::for_shape(151_936, 1), TileRows::Wide);
    }
}
