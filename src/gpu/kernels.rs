//! The WGSL kernels shipped in `kernels/`, embedded at compile time.

use crate::gpu::preprocess::{self, Declarations, PreprocessError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    RmsNorm,
    /// `y = W·x` for a weight matrix stored as raw GGUF blocks; one variant
    /// per tensor type (see `gpu::matvec`).
    MatVec,
    /// `Y = X·Wᵀ` for several tokens (prefill), same weights as `MatVec`
    /// (see `gpu::matmul`).
    MatMul,
    /// Activations rounded as llama.cpp rounds them for quantised dots.
    Quantize,
    /// Writes a step's keys and values into the f16 KV cache.
    KvStore,
    /// Causal grouped-query attention over the f16 KV cache.
    Attention,
    /// Rotary position embeddings from a cos/sin table.
    Rope,
    /// Activations, residual and bias adds, scaling, logit soft-capping.
    Elementwise,
    /// Token rows of a raw GGUF tensor, one variant per tensor type.
    Embedding,
    /// Greedy sampling: the index of the largest logit, in two stages.
    Argmax,
    /// The k largest logits with their indices, in two stages.
    TopK,
    /// Activations quantised and packed as llama.cpp quantises them (see
    /// `gpu::exact::ggml_quantize`).
    GgmlQuantize,
    /// Quantised weights times packed activations, bit for bit llama.cpp's
    /// CPU dot products (see `gpu::exact::ggml_matvec`).
    GgmlMatVec,
    /// `GgmlMatVec` for one token (decode): a workgroup per row, the loads
    /// and integer work ahead of the float chains (see `gpu::exact::ggml_matvec`).
    GgmlMatVecDecode,
    /// The `fast` one-token mat-vec with its neighbours fused in: RMSNorm
    /// of the input, bias, residual add or gated activation (see
    /// `gpu::fast::matvec`).
    FastMatVec,
    /// The `fast` post-norm residual: hidden += rmsnorm(x) · w.
    FastNormAdd,
    /// `fast` prefill mat-mul: bigger register tiles, f16 tiles where the
    /// adapter has `shader-f16` (see `gpu::fast::matmul`).
    FastMatMul,
    /// `fast` prefill mat-mul in packed 8-bit dot products against Q8
    /// activations (see `gpu::fast::matmul_q8`).
    FastMatMulQ8,
    /// Activations quantised to Q8 blocks for `FastMatMulQ8`.
    FastQuantizeQ8,
    /// `fast` causal flash attention of a batch over the f16 KV cache (see
    /// `gpu::fast::attention`).
    FlashAttention,
    /// `fast` one-token attention split over chunks of positions, and its
    /// reduce pass (see `gpu::fast::attention`).
    SplitAttention,
}

impl Kernel {
    pub const ALL: [Kernel; 21] = [
        Kernel::RmsNorm,
        Kernel::MatVec,
        Kernel::MatMul,
        Kernel::Quantize,
        Kernel::KvStore,
        Kernel::Attention,
        Kernel::Rope,
        Kernel::Elementwise,
        Kernel::Embedding,
        Kernel::Argmax,
        Kernel::TopK,
        Kernel::GgmlQuantize,
        Kernel::GgmlMatVec,
        Kernel::GgmlMatVecDecode,
        Kernel::FastMatVec,
        Kernel::FastNormAdd,
        Kernel::FastMatMul,
        Kernel::FastMatMulQ8,
        Kernel::FastQuantizeQ8,
        Kernel::FlashAttention,
        Kernel::SplitAttention,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kernel::RmsNorm => "rmsnorm",
            Kernel::MatVec => "matvec",
            Kernel::MatMul => "matmul",
            Kernel::Quantize => "quantize",
            Kernel::KvStore => "kv_store",
            Kernel::Attention => "attention",
            Kernel::Rope => "rope",
            Kernel::Elementwise => "elementwise",
            Kernel::Embedding => "embedding",
            Kernel::Argmax => "argmax",
            Kernel::TopK => "topk",
            Kernel::GgmlQuantize => "ggml_quantize",
            Kernel::GgmlMatVec => "ggml_matvec",
            Kernel::GgmlMatVecDecode => "ggml_matvec_decode",
            Kernel::FastMatVec => "fast_matvec",
            Kernel::FastNormAdd => "fast_norm_add",
            Kernel::FastMatMul => "fast_matmul",
            Kernel::FastMatMulQ8 => "fast_matmul_q8",
            Kernel::FastQuantizeQ8 => "fast_quantize_q8",
            Kernel::FlashAttention => "flash_attention",
            Kernel::SplitAttention => "split_attention",
        }
    }

    fn raw_source(self) -> &'static str {
        match self {
            Kernel::RmsNorm => include_str!("../../kernels/rmsnorm.wgsl"),
            Kernel::MatVec => include_str!("../../kernels/matvec.wgsl"),
            Kernel::MatMul => include_str!("../../kernels/matmul.wgsl"),
            Kernel::Quantize => include_str!("../../kernels/exact/quantize.wgsl"),
            Kernel::KvStore => include_str!("../../kernels/kv_store.wgsl"),
            Kernel::Attention => include_str!("../../kernels/attention.wgsl"),
            Kernel::Rope => include_str!("../../kernels/rope.wgsl"),
            Kernel::Elementwise => include_str!("../../kernels/elementwise.wgsl"),
            Kernel::Embedding => include_str!("../../kernels/embedding.wgsl"),
            Kernel::Argmax => include_str!("../../kernels/argmax.wgsl"),
            Kernel::TopK => include_str!("../../kernels/topk.wgsl"),
            Kernel::GgmlQuantize => include_str!("../../kernels/exact/ggml_quantize.wgsl"),
            Kernel::GgmlMatVec => include_str!("../../kernels/exact/ggml_matvec.wgsl"),
            Kernel::GgmlMatVecDecode => include_str!("../../kernels/exact/ggml_matvec_decode.wgsl"),
            Kernel::FastMatVec => include_str!("../../kernels/fast/matvec.wgsl"),
            Kernel::FastNormAdd => include_str!("../../kernels/fast/norm_add.wgsl"),
            Kernel::FastMatMul => include_str!("../../kernels/fast/matmul.wgsl"),
            Kernel::FastMatMulQ8 => include_str!("../../kernels/fast/matmul_q8.wgsl"),
            Kernel::FastQuantizeQ8 => include_str!("../../kernels/fast/quantize_q8.wgsl"),
            Kernel::FlashAttention => include_str!("../../kernels/fast/flash_attention.wgsl"),
            Kernel::SplitAttention => include_str!("../../kernels/fast/split_attention.wgsl"),
        }
    }

    /// The kernel's switches: its `//! choose:` groups and `//! flags:`.
    /// `preprocess::all_variants` of this lists every variant.
    pub fn declared_flags(self) -> Declarations<'static> {
        preprocess::declarations(self.raw_source())
    }

    /// The WGSL of one variant: one name of each choice group plus any
    /// flags (anything else is an error).
    pub fn source(self, flags: &[&str]) -> Result<String, PreprocessError> {
        preprocess::expand(self.raw_source(), flags)
    }
}

/// Identifies one compiled variant: the kernel and its switched-on names
/// (choices and flags), sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelKey {
    pub kernel: Kernel,
    pub flags: Vec<&'static str>,
}

impl KernelKey {
    pub fn new(kernel: Kernel, flags: &[&'static str]) -> Self {
        let mut flags = flags.to_vec();
        flags.sort_unstable();
        flags.dedup();
        KernelKey { kernel, flags }
    }
}
