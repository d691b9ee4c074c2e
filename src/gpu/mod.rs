//! The wgpu backend: device creation, kernels and the ops built on them.
//! The same code runs natively on Vulkan and in the browser on WebGPU.

mod context;
pub mod kernels;
pub mod matvec;
pub mod preprocess;
mod readback;
pub mod rmsnorm;

pub use context::{GpuContext, GpuError};
pub use kernels::{Kernel, KernelKey};
