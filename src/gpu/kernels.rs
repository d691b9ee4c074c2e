//! The WGSL kernels shipped in `kernels/`, embedded at compile time.

use crate::gpu::preprocess::{self, PreprocessError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    RmsNorm,
}

impl Kernel {
    pub const ALL: [Kernel; 1] = [Kernel::RmsNorm];

    pub fn name(self) -> &'static str {
        match self {
            Kernel::RmsNorm => "rmsnorm",
        }
    }

    fn raw_source(self) -> &'static str {
        match self {
            Kernel::RmsNorm => include_str!("../../kernels/rmsnorm.wgsl"),
        }
    }

    pub fn declared_flags(self) -> Vec<&'static str> {
        preprocess::declared_flags(self.raw_source())
    }

    /// The WGSL of one variant.
    pub fn source(self, flags: &[&str]) -> Result<String, PreprocessError> {
        preprocess::expand(self.raw_source(), flags)
    }
}

/// Identifies one compiled variant: the kernel and its switched-on flags, sorted.
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
