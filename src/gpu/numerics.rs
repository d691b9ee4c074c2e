//! Which arithmetic the GPU decoder follows, chosen per run.

use std::fmt;
use std::str::FromStr;

/// The two families of kernels (see `kernels/exact/` and `kernels/fast/`).
///
/// - `Exact` repeats llama.cpp's x86 CPU arithmetic operation for operation:
///   the GPU's logits are the CPU path's bit for bit. It is the oracle the
///   tests pin down.
/// - `Fast` is what users run: whatever arithmetic is fastest on the
///   adapter, measured against `Exact` (logits' NMSE) and against
///   llama.cpp's fixtures (top-1 wherever llama.cpp's own margin is clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Numerics {
    Exact,
    #[default]
    Fast,
}

impl Numerics {
    pub fn name(self) -> &'static str {
        match self {
            Numerics::Exact => "exact",
            Numerics::Fast => "fast",
        }
    }
}

impl fmt::Display for Numerics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown numerics `{0}` (expected `exact` or `fast`)")]
pub struct UnknownNumerics(pub String);

impl FromStr for Numerics {
    type Err = UnknownNumerics;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "exact" => Ok(Numerics::Exact),
            "fast" => Ok(Numerics::Fast),
            other => Err(UnknownNumerics(other.to_string())),
        }
    }
}

/// How a model is laid out on the GPU: the KV cache's positions, the
/// largest batch a prompt is processed in, and the numerics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuOptions {
    pub capacity: usize,
    pub prefill_tokens: usize,
    pub numerics: Numerics,
}

#[cfg(test)]
mod tests {
    use super::Numerics;

    #[test]
    fn names_round_trip() {
        for numerics in [Numerics::Exact, Numerics::Fast] {
            assert_eq!(numerics.name().parse::<Numerics>(), Ok(numerics));
        }
        assert!("fastest".parse::<Numerics>().is_err());
    }
}
