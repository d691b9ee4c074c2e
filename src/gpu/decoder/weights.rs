//! A model's weights on the GPU: every matrix uploaded as raw GGUF blocks the
//! moment it is read (one tensor in host memory at a time), the small vectors
//! (norms, biases) as f32 storage buffers.

use wgpu::util::DeviceExt;

use crate::gguf::{ByteSource, GgufFile};
use crate::gpu::matvec::GpuMatrix;
use crate::gpu::{GpuContext, GpuError};
use crate::model::{LayerWeights, ModelConfig, ModelError, QTensor, Weights};

/// One block's f32 vectors on the GPU; `None` where the architecture has none.
pub struct LayerVectors {
    pub attn_norm: wgpu::Buffer,
    pub ffn_norm: wgpu::Buffer,
    pub bq: Option<wgpu::Buffer>,
    pub bk: Option<wgpu::Buffer>,
    pub bv: Option<wgpu::Buffer>,
    pub q_norm: Option<wgpu::Buffer>,
    pub k_norm: Option<wgpu::Buffer>,
    pub post_attn_norm: Option<wgpu::Buffer>,
    pub post_ffn_norm: Option<wgpu::Buffer>,
}

pub struct GpuWeights {
    pub matrices: Weights<GpuMatrix>,
    pub layers: Vec<LayerVectors>,
    pub output_norm: wgpu::Buffer,
    /// Bytes of every weight buffer, for the memory report.
    pub bytes: u64,
}

impl GpuWeights {
    /// Streams every tensor from `source` to the GPU. `on_tensor` hears the
    /// name of each matrix once it is on the device (for progress).
    pub fn upload<S: ByteSource>(
        ctx: &GpuContext,
        file: &GgufFile,
        source: &mut S,
        config: &ModelConfig,
        on_tensor: &mut dyn FnMut(&str),
    ) -> Result<GpuWeights, GpuLoadError> {
        let mut bytes = 0u64;
        let matrices = Weights::load_with(file, source, config, &mut |tensor: QTensor| {
            let matrix = GpuMatrix::upload(ctx, tensor.ty, tensor.rows, tensor.cols, &tensor.data)?;
            bytes += tensor.data.len() as u64;
            on_tensor(&tensor.name);
            Ok::<_, GpuLoadError>(matrix)
        })?;
        let vector_bytes = std::cell::Cell::new(0u64);
        let vector = |label: &str, values: &[f32]| {
            vector_bytes.set(vector_bytes.get() + std::mem::size_of_val(values) as u64);
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::cast_slice(values),
                    usage: wgpu::BufferUsages::STORAGE,
                })
        };
        let layers = matrices
            .layers
            .iter()
            .map(|l: &LayerWeights<GpuMatrix>| LayerVectors {
                attn_norm: vector("attn_norm", &l.attn_norm),
                ffn_norm: vector("ffn_norm", &l.ffn_norm),
                bq: l.bq.as_deref().map(|b| vector("bq", b)),
                bk: l.bk.as_deref().map(|b| vector("bk", b)),
                bv: l.bv.as_deref().map(|b| vector("bv", b)),
                q_norm: l.q_norm.as_deref().map(|b| vector("q_norm", b)),
                k_norm: l.k_norm.as_deref().map(|b| vector("k_norm", b)),
                post_attn_norm: l
                    .post_attn_norm
                    .as_deref()
                    .map(|b| vector("post_attn_norm", b)),
                post_ffn_norm: l
                    .post_ffn_norm
                    .as_deref()
                    .map(|b| vector("post_ffn_norm", b)),
            })
            .collect();
        let output_norm = vector("output_norm", &matrices.output_norm);
        Ok(GpuWeights {
            matrices,
            layers,
            output_norm,
            bytes: bytes + vector_bytes.get(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GpuLoadError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
}
