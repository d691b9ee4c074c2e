//! The wgpu backend: device creation, kernels and the ops built on them.
//! The same code runs natively on Vulkan and in the browser on WebGPU.

pub mod argmax;
pub mod attention;
mod context;
pub mod decoder;
pub mod elementwise;
pub mod embedding;
pub mod exact;
pub mod fast;
pub mod kernels;
pub mod matmul;
mod matrix;
pub mod matvec;
mod numerics;
pub mod pass;
pub mod preprocess;
pub mod probe;
mod readback;
pub mod rmsnorm;
pub mod rope;
pub mod step;
pub mod tuning;

pub use context::{Capabilities, GpuContext, GpuError};
pub use kernels::{Kernel, KernelKey};
pub use numerics::{GpuOptions, Numerics, UnknownNumerics};
pub use pass::KernelPass;
pub use step::StepUniform;

/// The dispatch grid for `groups` workgroups: x up to 65535 (WebGPU's limit
/// per dimension), the rest spills into y. Kernels rebuild the flat index as
/// `id.x + id.y * num_workgroups.x` and skip indices past their count.
pub(crate) fn workgroup_grid(groups: u32) -> (u32, u32) {
    const MAX: u32 = 65_535;
    if groups <= MAX {
        (groups.max(1), 1)
    } else {
        (MAX, groups.div_ceil(MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::workgroup_grid;

    #[test]
    fn grid_covers_every_group() {
        for groups in [1u32, 7, 65_535, 65_536, 200_001] {
            let (x, y) = workgroup_grid(groups);
            assert!(x <= 65_535 && u64::from(x) * u64::from(y) >= u64::from(groups));
        }
    }
}
