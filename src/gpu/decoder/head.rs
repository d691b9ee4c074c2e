//! The head of a step: from the last token's hidden state to the logits,
//! and the greedy or top-k pick from them.

use super::plan::{Bindings, Passes, rows};
use crate::gpu::GpuError;
use crate::gpu::argmax::{bind_argmax, bind_top_k};
use crate::gpu::elementwise::{Op, RowCount, bind_elementwise};
use crate::gpu::pass::KernelPass;

impl Bindings<'_> {
    /// From `acts.last` (the last token's hidden state) to the logits.
    pub fn logits(&self) -> Result<Passes, GpuError> {
        let a = self.acts;
        let c = self.config;
        let d = c.embedding_length;
        let mut passes: Passes = Vec::new();
        passes.push(self.norm(
            &a.last,
            &a.last_normed,
            &self.weights.output_norm,
            d,
            1,
            1,
            Some(1),
        )?);
        let output = self.weights.matrices.output_matrix();
        // The head always computes one token, in llama.cpp's one-token order.
        let output_rows = [(output, &a.logits)];
        self.linears(
            &mut passes,
            &a.last_normed,
            d,
            &output_rows,
            1,
            self.head_step,
        )?;
        if let Some(cap) = c.final_logit_softcap {
            let logits = rows(&a.logits, output.rows);
            passes.push(bind_elementwise(
                self.ctx,
                Op::SoftCap(cap),
                logits,
                None,
                output.rows as u32,
                RowCount::Fixed(1),
                self.step,
            )?);
        }
        Ok(passes)
    }

    /// The greedy pick: the argmax of the logits into `acts.picked[0]`.
    pub fn argmax(&self) -> Result<KernelPass, GpuError> {
        let vocab = self.weights.matrices.output_matrix().rows;
        let subgroups = self.ctx.capabilities.subgroups;
        bind_argmax(
            self.ctx,
            &self.acts.logits,
            0,
            vocab,
            &self.acts.picked,
            0,
            subgroups,
        )
    }

    /// The `k` best (index, logit) pairs into `acts.picked`, for sampling.
    pub fn top_k(&self, k: usize) -> Result<KernelPass, GpuError> {
        let vocab = self.weights.matrices.output_matrix().rows;
        bind_top_k(
            self.ctx,
            &self.acts.logits,
            0,
            vocab,
            k,
            &self.acts.picked,
            0,
        )
    }
}
