//! Repeated timings and their mean and standard deviation, computed the way
//! llama-bench computes its `avg_ts` and `stddev_ts`: per-run tokens/s,
//! then their mean and sample standard deviation (n − 1).

use serde::Serialize;

/// Mean and sample standard deviation of some runs' values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub stddev: f64,
}

impl Stat {
    /// Of `values`; the deviation is 0 for fewer than two.
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len() as f64;
        if values.is_empty() {
            return Stat {
                mean: 0.0,
                stddev: 0.0,
            };
        }
        let mean = values.iter().sum::<f64>() / n;
        let stddev = if values.len() < 2 {
            0.0
        } else {
            let squares = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
            (squares / (n - 1.0)).sqrt()
        };
        Stat { mean, stddev }
    }
}

/// The seconds each timed run of one test took, for `tokens` tokens a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runs {
    pub tokens: usize,
    pub seconds: Vec<f64>,
}

impl Runs {
    /// Tokens per second of each run.
    pub fn tokens_per_second_each(&self) -> Vec<f64> {
        self.seconds
            .iter()
            .map(|s| self.tokens as f64 / s.max(1e-12))
            .collect()
    }

    /// Mean and deviation of the runs' tokens per second.
    pub fn tokens_per_second(&self) -> Stat {
        Stat::of(&self.tokens_per_second_each())
    }

    /// Mean and deviation of the runs' milliseconds.
    pub fn milliseconds(&self) -> Stat {
        let ms: Vec<f64> = self.seconds.iter().map(|s| s * 1e3).collect();
        Stat::of(&ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_deviation() {
        let stat = Stat::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(stat.mean, 5.0);
        // Sample (n − 1) deviation, as llama-bench's `stdev`: √(32 / 7).
        assert!((stat.stddev - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(Stat::of(&[3.0]).stddev, 0.0);
        assert_eq!(Stat::of(&[]).mean, 0.0);
    }

    #[test]
    fn tokens_per_second_is_averaged_per_run_like_llama_bench() {
        // 100 tokens in 1 s and in 0.5 s: 100 and 200 tokens/s, mean 150
        // (not 200 / 1.5 s = 133).
        let runs = Runs {
            tokens: 100,
            seconds: vec![1.0, 0.5],
        };
        assert_eq!(runs.tokens_per_second_each(), vec![100.0, 200.0]);
        assert_eq!(runs.tokens_per_second().mean, 150.0);
        assert_eq!(runs.milliseconds().mean, 750.0);
    }
}
