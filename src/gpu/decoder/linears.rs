//! The linear layers of a step: the passes computing `y = W·x`. In `exact`
//! numerics through the ggml-exact kernels (activations quantised as
//! llama.cpp quantises them) where the weight type has them, the f32
//! mat-vec/mat-mul on activations rounded the same way otherwise; in `fast`
//! numerics through `gpu::fast`.

use super::plan::{Bindings, Passes, rows};
use crate::gpu::exact::ggml_matvec::bind_ggml_linear;
use crate::gpu::exact::ggml_quantize::{bind_quantize, is_exact};
use crate::gpu::exact::quantize::{bind_round_activations, rounding_flag};
use crate::gpu::fast::linears::{LinearInput, bind_linears};
use crate::gpu::matvec::GpuMatrix;
use crate::gpu::{GpuError, Numerics};
use crate::quant::vec_dot_type;

impl Bindings<'_> {
    /// `y = W·x` for each (W, y) of `outputs`, all reading `x` (`cols`
    /// values per token), for the tokens `step` says, in the plan's numerics.
    pub(super) fn linears(
        &self,
        passes: &mut Passes,
        x: &wgpu::Buffer,
        cols: usize,
        outputs: &[(&GpuMatrix, &wgpu::Buffer)],
        max_tokens: u32,
        step: &wgpu::Buffer,
    ) -> Result<(), GpuError> {
        match self.numerics {
            Numerics::Exact => self.exact_linears(passes, x, cols, outputs, max_tokens, step),
            Numerics::Fast => {
                // `rounded` is the exact path's; fast numerics quantise
                // int8 tiles' inputs there (1.5 bytes a value, it has 4).
                let input = LinearInput {
                    x,
                    max_tokens,
                    step,
                    q8: &self.acts.rounded,
                };
                passes.extend(bind_linears(self.ctx, &input, outputs, self.matmul)?);
                Ok(())
            }
        }
    }

    /// [`Self::linears`] in `exact` numerics. Weights the
    /// ggml-exact kernels handle get `x` quantised and packed as llama.cpp
    /// quantises it (once per activation format) and dotted in llama.cpp's
    /// order, bit for bit; the others (float and the rarer K-quants) take
    /// the f32 kernels on activations rounded the same way.
    fn exact_linears(
        &self,
        passes: &mut Passes,
        x: &wgpu::Buffer,
        cols: usize,
        outputs: &[(&GpuMatrix, &wgpu::Buffer)],
        max_tokens: u32,
        step: &wgpu::Buffer,
    ) -> Result<(), GpuError> {
        let format = |m: &GpuMatrix| vec_dot_type(m.ty).map_err(|e| GpuError::Shape(e.to_string()));
        let mut exact = Vec::new();
        let mut rounded = Vec::new();
        for &(m, y) in outputs {
            if is_exact(m.ty) {
                exact.push((format(m)?, m, y));
            } else {
                rounded.push((rounding_flag(m.ty)?, m, y));
            }
        }
        let packed = &self.acts.rounded;
        while let Some(&(first_format, first, _)) = exact.first() {
            passes.push(bind_quantize(
                self.ctx,
                first.ty,
                rows(x, cols),
                packed,
                cols,
                step,
                max_tokens,
            )?);
            for &(_, matrix, y) in exact.iter().filter(|e| e.0 == first_format) {
                let y = rows(y, matrix.rows);
                passes.push(bind_ggml_linear(
                    self.ctx, matrix, packed, y, step, max_tokens,
                )?);
            }
            exact.retain(|e| e.0 != first_format);
        }
        while let Some(&(flag, ..)) = rounded.first() {
            let input = match flag {
                Some(flag) => {
                    passes.push(bind_round_activations(
                        self.ctx,
                        flag,
                        rows(x, cols),
                        rows(packed, cols),
                        cols,
                        step,
                        max_tokens,
                    )?);
                    packed
                }
                None => x,
            };
            for &(_, matrix, y) in rounded.iter().filter(|p| p.0 == flag) {
                passes.push(matrix.bind_linear(self.ctx, input, y, max_tokens, step)?);
            }
            rounded.retain(|p| p.0 != flag);
        }
        Ok(())
    }
}
