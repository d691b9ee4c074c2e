//! The backend report: which device runs the models and what it can do.
//! Shown by the popup's backend indicator, `locus report` and the main job.

use serde::Serialize;

use crate::gpu::GpuContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Gpu,
    Cpu,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendReport {
    pub backend: BackendKind,
    /// "WebGPU", "Vulkan", or "CPU".
    pub api: String,
    pub adapter: Option<AdapterReport>,
    pub features: Option<FeatureReport>,
    pub limits: Option<LimitReport>,
    /// Why the CPU path is in use, when it is.
    pub fallback_reason: Option<String>,
    /// The WebGPU adapter `auto` passed over for the CPU (a software
    /// renderer that measured slower, or was never measured).
    pub skipped_adapter: Option<AdapterReport>,
    pub self_test: Option<SelfTestReport>,
    /// The subgroup kernels' check, where the device granted subgroups.
    pub subgroup_test: Option<SelfTestReport>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdapterReport {
    pub name: String,
    pub vendor: String,
    pub architecture: String,
    pub device_type: String,
    pub driver: String,
    pub is_fallback_adapter: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureReport {
    pub shader_f16: bool,
    pub subgroups: bool,
    /// The fast mat-mul multiplies on cooperative matrices (tensor cores).
    pub cooperative_matrix: bool,
    /// WGSL `fma` rounds once on this device.
    pub fused_fma: bool,
    /// The kernels reproduce llama.cpp's arithmetic bit for bit here.
    pub bit_exact: bool,
    pub subgroup_min_size: u32,
    pub subgroup_max_size: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitReport {
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_storage_buffers_per_shader_stage: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfTestReport {
    pub kernel: String,
    pub variant: String,
    pub elements: usize,
    pub max_abs_error: f32,
    pub passed: bool,
}

impl BackendReport {
    pub fn gpu(
        ctx: &GpuContext,
        adapter: AdapterReport,
        self_test: SelfTestReport,
        subgroup_test: Option<SelfTestReport>,
    ) -> Self {
        let api = match ctx.info.backend {
            wgpu::Backend::BrowserWebGpu => "WebGPU",
            wgpu::Backend::Vulkan => "Vulkan",
            wgpu::Backend::Metal => "Metal",
            wgpu::Backend::Dx12 => "Direct3D 12",
            wgpu::Backend::Gl => "OpenGL",
            wgpu::Backend::Noop => "none",
        };
        let limits = &ctx.limits;
        BackendReport {
            backend: BackendKind::Gpu,
            api: api.into(),
            adapter: Some(adapter),
            features: Some(FeatureReport {
                shader_f16: ctx.capabilities.shader_f16,
                subgroups: ctx.capabilities.subgroups,
                cooperative_matrix: ctx.capabilities.cooperative_matrix,
                fused_fma: ctx.capabilities.fused_fma,
                bit_exact: ctx.capabilities.bit_exact(),
                subgroup_min_size: ctx.info.subgroup_min_size,
                subgroup_max_size: ctx.info.subgroup_max_size,
            }),
            limits: Some(LimitReport {
                max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
                max_buffer_size: limits.max_buffer_size,
                max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
                max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
                max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
            }),
            fallback_reason: None,
            skipped_adapter: None,
            self_test: Some(self_test),
            subgroup_test,
        }
    }

    pub fn cpu(reason: impl Into<String>) -> Self {
        BackendReport {
            backend: BackendKind::Cpu,
            api: "CPU".into(),
            adapter: None,
            features: None,
            limits: None,
            fallback_reason: Some(reason.into()),
            skipped_adapter: None,
            self_test: None,
            subgroup_test: None,
        }
    }

    /// The CPU, chosen over `skipped` (a WebGPU adapter) for `reason`.
    pub fn cpu_over(skipped: AdapterReport, reason: impl Into<String>) -> Self {
        BackendReport {
            skipped_adapter: Some(skipped),
            ..BackendReport::cpu(reason)
        }
    }

    /// One line for an indicator, e.g. `WebGPU · SwiftShader (fallback adapter)`.
    pub fn summary(&self) -> String {
        match (&self.adapter, &self.fallback_reason) {
            (Some(adapter), _) => {
                let mut line = format!("{} · {}", self.api, adapter.display_name());
                if adapter.is_fallback_adapter {
                    line.push_str(" (fallback adapter)");
                }
                line
            }
            (None, Some(reason)) if self.skipped_adapter.is_some() => format!("CPU — {reason}"),
            (None, Some(reason)) => format!("CPU (no WebGPU adapter: {reason})"),
            (None, None) => "CPU".into(),
        }
    }

    /// The report as readable lines, for terminals and the on-page panel.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("Backend: {}", self.summary())];
        if let Some(skipped) = &self.skipped_adapter {
            lines.push(format!(
                "Passed over: WebGPU adapter {} (vendor {}, architecture {})",
                skipped.display_name(),
                or_unknown(&skipped.vendor),
                or_unknown(&skipped.architecture)
            ));
        }
        if let Some(adapter) = &self.adapter {
            lines.push(format!(
                "Adapter: vendor {}, architecture {}, type {}{}",
                or_unknown(&adapter.vendor),
                or_unknown(&adapter.architecture),
                adapter.device_type,
                if adapter.driver.is_empty() {
                    String::new()
                } else {
                    format!(", driver {}", adapter.driver)
                }
            ));
        }
        if let Some(features) = &self.features {
            let yes_no = |b: bool| if b { "yes" } else { "no" };
            let mut line = format!(
                "Features: shader-f16 {}, subgroups {}",
                yes_no(features.shader_f16),
                yes_no(features.subgroups)
            );
            if features.subgroups {
                line.push_str(&format!(
                    " (size {}–{})",
                    features.subgroup_min_size, features.subgroup_max_size
                ));
            }
            if features.cooperative_matrix {
                line.push_str(", cooperative matrices yes");
            }
            lines.push(line);
            lines.push(format!(
                "Arithmetic: fma rounds once {}; llama.cpp's logits bit for bit {}",
                yes_no(features.fused_fma),
                yes_no(features.bit_exact)
            ));
        }
        if let Some(limits) = &self.limits {
            lines.push(format!(
                "Limits: storage binding {}, buffer {}, workgroup memory {}, {} invocations per workgroup",
                mib(limits.max_storage_buffer_binding_size),
                mib(limits.max_buffer_size),
                kib(u64::from(limits.max_compute_workgroup_storage_size)),
                limits.max_compute_invocations_per_workgroup
            ));
        }
        for test in self.self_test.iter().chain(&self.subgroup_test) {
            lines.push(format!(
                "Self-test: {} [{}] on {} values, max error {:.2e}: {}",
                test.kernel,
                if test.variant.is_empty() {
                    "base"
                } else {
                    &test.variant
                },
                test.elements,
                test.max_abs_error,
                if test.passed { "passed" } else { "FAILED" }
            ));
        }
        lines
    }
}

impl AdapterReport {
    pub fn from_wgpu(info: &wgpu::AdapterInfo) -> Self {
        AdapterReport {
            name: info.name.clone(),
            vendor: if info.vendor == 0 {
                String::new()
            } else {
                format!("0x{:04x}", info.vendor)
            },
            architecture: String::new(),
            device_type: format!("{:?}", info.device_type).to_lowercase(),
            driver: [info.driver.as_str(), info.driver_info.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
            is_fallback_adapter: info.device_type == wgpu::DeviceType::Cpu,
        }
    }

    fn display_name(&self) -> String {
        if !self.name.is_empty() {
            self.name.clone()
        } else if !self.vendor.is_empty() || !self.architecture.is_empty() {
            format!("{} {}", self.vendor, self.architecture)
                .trim()
                .to_string()
        } else {
            "unnamed adapter".into()
        }
    }
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "unknown" } else { s }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

fn kib(bytes: u64) -> String {
    format!("{} KiB", bytes >> 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_indicator_says_why_a_gpu_was_passed_over() {
        let swiftshader = AdapterReport {
            vendor: "google".into(),
            architecture: "swiftshader".into(),
            is_fallback_adapter: true,
            ..AdapterReport::default()
        };
        let report = BackendReport::cpu_over(
            swiftshader,
            "the only GPU is a software renderer (SwiftShader), 3.0× slower here",
        );
        assert_eq!(
            report.summary(),
            "CPU — the only GPU is a software renderer (SwiftShader), 3.0× slower here"
        );
        assert!(report.lines()[1].starts_with("Passed over: WebGPU adapter google swiftshader"));
        // Without an adapter at all, the old wording.
        let none = BackendReport::cpu("navigator.gpu is missing");
        assert_eq!(
            none.summary(),
            "CPU (no WebGPU adapter: navigator.gpu is missing)"
        );
    }
}
