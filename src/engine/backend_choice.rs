//! Which backend `auto` runs on. A hardware GPU is used when the browser
//! offers one; a software renderer (SwiftShader, llvmpipe: a CPU pretending to
//! be a GPU) only when this device's own benchmark measured it faster than
//! the CPU path. In the browser SwiftShader ran SmolLM2 at 0.1–0.2 tokens/s
//! (session 3) where the WASM CPU path decodes several tokens a second.

use serde::{Deserialize, Serialize};

/// What the user (or a benchmark) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preference {
    /// The faster backend for this device.
    #[default]
    Auto,
    /// WebGPU whenever an adapter passes the self-test.
    Webgpu,
    /// The CPU path.
    Cpu,
}

/// What the browser says about its WebGPU adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdapterFacts {
    pub vendor: String,
    pub architecture: String,
    pub description: String,
    pub is_fallback_adapter: bool,
}

impl AdapterFacts {
    /// The name of the software renderer behind this adapter, if it is one.
    pub fn software_renderer(&self) -> Option<&'static str> {
        const KNOWN: [(&str, &str); 4] = [
            ("swiftshader", "SwiftShader"),
            ("llvmpipe", "llvmpipe"),
            ("lavapipe", "lavapipe"),
            ("warp", "WARP"),
        ];
        let text =
            format!("{} {} {}", self.vendor, self.architecture, self.description).to_lowercase();
        let named = KNOWN
            .iter()
            .find(|(needle, _)| {
                text.split(|c: char| !c.is_alphanumeric())
                    .any(|w| w == *needle)
            })
            .map(|(_, name)| *name);
        named.or(self.is_fallback_adapter.then_some("a fallback adapter"))
    }

    /// The key a benchmark of this adapter is cached under.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.vendor.trim(),
            self.architecture.trim(),
            self.description.trim()
        )
    }
}

/// A benchmark of this device's two backends on one model, kept between
/// runs (the extension keeps it in OPFS, keyed by [`AdapterFacts::key`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceBench {
    /// [`AdapterFacts::key`] of the adapter that was measured.
    pub adapter: String,
    pub model: String,
    /// Seconds for the reference task (a prompt then a short answer).
    pub webgpu_seconds: f64,
    pub cpu_seconds: f64,
}

/// The reference task the verdict compares: what a page tool does, a
/// prompt read and a short answer written.
pub const TASK_PROMPT_TOKENS: f64 = 256.0;
pub const TASK_ANSWER_TOKENS: f64 = 64.0;

/// Seconds the reference task takes at these speeds (tokens/s).
pub fn task_seconds(prompt_tokens_per_second: f64, answer_tokens_per_second: f64) -> f64 {
    TASK_PROMPT_TOKENS / prompt_tokens_per_second.max(1e-9)
        + TASK_ANSWER_TOKENS / answer_tokens_per_second.max(1e-9)
}

/// Where the models run, and why when it is not the GPU.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    Webgpu,
    Cpu { reason: String },
}

/// The backend for `preference` on an adapter described by `facts` (a
/// usable WebGPU adapter exists), given this device's cached benchmark.
pub fn choose(preference: Preference, facts: &AdapterFacts, bench: Option<&DeviceBench>) -> Choice {
    match preference {
        Preference::Webgpu => return Choice::Webgpu,
        Preference::Cpu => {
            return Choice::Cpu {
                reason: "the CPU was asked for".into(),
            };
        }
        Preference::Auto => {}
    }
    let Some(renderer) = facts.software_renderer() else {
        return Choice::Webgpu;
    };
    let measured = bench.filter(|b| b.adapter == facts.key() && b.cpu_seconds > 0.0);
    match measured {
        Some(b) if b.webgpu_seconds < b.cpu_seconds => Choice::Webgpu,
        Some(b) => Choice::Cpu {
            reason: format!(
                "the only GPU is a software renderer ({renderer}), {} slower here",
                times(b.webgpu_seconds / b.cpu_seconds)
            ),
        },
        None => Choice::Cpu {
            reason: format!("the only GPU is a software renderer ({renderer})"),
        },
    }
}

/// A ratio as people say it: `3×`, `1.4×`.
fn times(ratio: f64) -> String {
    if ratio >= 10.0 {
        format!("{ratio:.0}×")
    } else {
        format!("{ratio:.1}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swiftshader() -> AdapterFacts {
        // What Chromium 156's headless SwiftShader adapter reports.
        AdapterFacts {
            vendor: "google".into(),
            architecture: "swiftshader".into(),
            description: String::new(),
            is_fallback_adapter: true,
        }
    }

    fn hardware() -> AdapterFacts {
        AdapterFacts {
            vendor: "nvidia".into(),
            architecture: "hopper".into(),
            description: "NVIDIA H100".into(),
            is_fallback_adapter: false,
        }
    }

    fn bench(facts: &AdapterFacts, webgpu_seconds: f64, cpu_seconds: f64) -> DeviceBench {
        DeviceBench {
            adapter: facts.key(),
            model: "smollm2".into(),
            webgpu_seconds,
            cpu_seconds,
        }
    }

    #[test]
    fn a_hardware_gpu_is_used() {
        assert_eq!(choose(Preference::Auto, &hardware(), None), Choice::Webgpu);
    }

    #[test]
    fn a_software_renderer_is_skipped_until_measured_faster() {
        let facts = swiftshader();
        let Choice::Cpu { reason } = choose(Preference::Auto, &facts, None) else {
            panic!("SwiftShader chosen without a benchmark");
        };
        assert_eq!(reason, "the only GPU is a software renderer (SwiftShader)");
        let slower = bench(&facts, 300.0, 100.0);
        let Choice::Cpu { reason } = choose(Preference::Auto, &facts, Some(&slower)) else {
            panic!("SwiftShader chosen though measured slower");
        };
        assert_eq!(
            reason,
            "the only GPU is a software renderer (SwiftShader), 3.0× slower here"
        );
        let faster = bench(&facts, 50.0, 100.0);
        assert_eq!(
            choose(Preference::Auto, &facts, Some(&faster)),
            Choice::Webgpu
        );
    }

    #[test]
    fn a_benchmark_of_another_adapter_does_not_count() {
        let facts = swiftshader();
        let other = bench(&hardware(), 1.0, 100.0);
        assert!(matches!(
            choose(Preference::Auto, &facts, Some(&other)),
            Choice::Cpu { .. }
        ));
    }

    #[test]
    fn software_renderers_are_recognised_by_name_or_flag() {
        let llvmpipe = AdapterFacts {
            description: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            ..AdapterFacts::default()
        };
        assert_eq!(llvmpipe.software_renderer(), Some("llvmpipe"));
        let flagged = AdapterFacts {
            is_fallback_adapter: true,
            ..AdapterFacts::default()
        };
        assert_eq!(flagged.software_renderer(), Some("a fallback adapter"));
        // A word inside another is not a match.
        let warped = AdapterFacts {
            description: "Warpspeed 9000".into(),
            ..AdapterFacts::default()
        };
        assert_eq!(warped.software_renderer(), None);
        assert_eq!(hardware().software_renderer(), None);
    }

    #[test]
    fn explicit_preferences_win() {
        assert_eq!(
            choose(Preference::Webgpu, &swiftshader(), None),
            Choice::Webgpu
        );
        assert!(matches!(
            choose(Preference::Cpu, &hardware(), None),
            Choice::Cpu { .. }
        ));
    }

    #[test]
    fn the_task_weighs_prompt_and_answer() {
        assert!((task_seconds(256.0, 64.0) - 2.0).abs() < 1e-9);
    }
}
