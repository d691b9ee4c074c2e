//! What the `fast` decode plan adds to a model's weights: per layer, the
//! Q/K/V matrices and the gate/up matrices moved together where they share
//! a type (`concat`), Qwen2's three biases as one vector, and the buffer the
//! fused QKV mat-vec writes.

use super::concat::concat_rows;
use crate::gpu::decoder::GpuWeights;
use crate::gpu::matvec::GpuMatrix;
use crate::gpu::pass::storage_init;
use crate::gpu::{GpuContext, GpuError};
use crate::model::ModelConfig;

/// One mat-vec of a layer's QKV: a matrix (Q, K, V, or several of them back
/// to back) and where its rows go in the `qkv` buffer.
#[derive(Debug)]
pub struct QkvPart {
    pub matrix: GpuMatrix,
    /// Index of the matrix's first output in a token's q | k | v row (also
    /// its first bias).
    pub offset: u32,
}

/// A layer's matrices as the fast plan dispatches them.
#[derive(Debug)]
pub struct FusedLayer {
    /// One part where Q, K and V share a type, else one per run of a type.
    pub qkv: Vec<QkvPart>,
    /// q | k | v biases (zeros where a matrix has none); `None` without biases.
    pub qkv_bias: Option<wgpu::Buffer>,
    /// Gate rows then up rows, where the two share a type.
    pub gate_up: Option<GpuMatrix>,
}

/// The fast plan's weights and its one extra buffer.
#[derive(Debug)]
pub struct FastWeights {
    pub layers: Vec<FusedLayer>,
    /// One token's q | k | v, as the QKV mat-vec writes them.
    pub qkv: wgpu::Buffer,
}

impl FastWeights {
    /// Moves each layer's matrices together where they can be (the
    /// originals in `weights` become views of the moved bytes, so they keep
    /// working for the other passes) and builds the fused biases.
    pub fn prepare(
        ctx: &GpuContext,
        weights: &mut GpuWeights,
        config: &ModelConfig,
    ) -> Result<FastWeights, GpuError> {
        let (qw, kw, vw) = (config.q_width(), config.kv_width(), config.v_width());
        let offsets = [0, qw, qw + kw];
        let mut layers = Vec::with_capacity(weights.matrices.layers.len());
        for lw in &mut weights.matrices.layers {
            let qkv = {
                let mut parts: Vec<(&mut GpuMatrix, usize)> = vec![
                    (&mut lw.wq, offsets[0]),
                    (&mut lw.wk, offsets[1]),
                    (&mut lw.wv, offsets[2]),
                ];
                let mut fused = Vec::new();
                // Runs of one type are contiguous in the output.
                while !parts.is_empty() {
                    let ty = parts[0].0.ty;
                    let run = parts.iter().take_while(|(m, _)| m.ty == ty).count();
                    let rest = parts.split_off(run);
                    let offset = to_u32(parts[0].1)?;
                    let mut run_matrices: Vec<&mut GpuMatrix> =
                        parts.into_iter().map(|(m, _)| m).collect();
                    match concat_rows(ctx, &mut run_matrices)? {
                        Some(matrix) => fused.push(QkvPart { matrix, offset }),
                        None => {
                            let mut at = offset;
                            for m in run_matrices {
                                fused.push(QkvPart {
                                    matrix: m.clone(),
                                    offset: at,
                                });
                                at += to_u32(m.rows)?;
                            }
                        }
                    }
                    parts = rest;
                }
                fused
            };
            let qkv_bias = if lw.bq.is_some() || lw.bk.is_some() || lw.bv.is_some() {
                let mut all = vec![0f32; qw + kw + vw];
                for (bias, start, width) in [
                    (&lw.bq, offsets[0], qw),
                    (&lw.bk, offsets[1], kw),
                    (&lw.bv, offsets[2], vw),
                ] {
                    if let Some(b) = bias {
                        if b.len() != width {
                            return Err(GpuError::Shape(format!(
                                "a QKV bias of {} values for {width} rows",
                                b.len()
                            )));
                        }
                        all[start..start + width].copy_from_slice(b);
                    }
                }
                Some(storage_init(ctx, "qkv bias", bytemuck::cast_slice(&all)))
            } else {
                None
            };
            let gate_up = concat_rows(ctx, &mut [&mut lw.gate, &mut lw.up])?;
            layers.push(FusedLayer {
                qkv,
                qkv_bias,
                gate_up,
            });
        }
        let qkv = crate::gpu::pass::storage_zeroed(ctx, "qkv", ((qw + kw + vw) * 4) as u64);
        Ok(FastWeights { layers, qkv })
    }
}

fn to_u32(value: usize) -> Result<u32, GpuError> {
    crate::gpu::pass::to_u32("qkv offset", value)
}
