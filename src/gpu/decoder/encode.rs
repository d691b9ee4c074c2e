//! One interface over the different prepared passes (kernel passes,
//! mat-vecs, mat-muls), so a step's plan is a plain list.

use crate::gpu::matmul::MatMulPass;
use crate::gpu::matvec::MatVecPass;
use crate::gpu::pass::KernelPass;

/// Anything that records prepared dispatches into a compute pass.
pub trait Encode {
    fn encode(&self, pass: &mut wgpu::ComputePass<'_>);
}

impl Encode for KernelPass {
    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        KernelPass::encode(self, pass);
    }
}

impl Encode for MatVecPass {
    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        MatVecPass::encode(self, pass);
    }
}

impl Encode for MatMulPass {
    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        MatMulPass::encode(self, pass);
    }
}

/// A step's passes, recorded in order.
pub type Passes = Vec<Box<dyn Encode>>;
