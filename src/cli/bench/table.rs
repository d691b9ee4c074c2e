//! The side-by-side table: one row per figure, Locus next to llama.cpp and
//! their ratio (Locus ÷ llama.cpp; above 1 Locus is faster).

use serde::Serialize;

use super::llama::LlamaTest;
use super::stats::Stat;

/// Locus's figures, tokens/s for pp and tg, milliseconds for ttft.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocusFigures {
    pub pp: Option<(usize, Stat)>,
    pub tg: Option<(usize, Stat)>,
    pub depth: usize,
    pub ttft_ms: Option<(usize, Stat)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// llama-bench's test name (`pp512`, `tg128 @ d1024`), or `ttft1500`.
    pub metric: String,
    /// "tokens/s" or "ms".
    pub unit: &'static str,
    /// llama.cpp's flash attention on this row (None: no llama.cpp figure).
    pub flash_attn: Option<bool>,
    pub locus: Option<Stat>,
    pub llama_cpp: Option<Stat>,
    /// Locus ÷ llama.cpp.
    pub ratio: Option<f64>,
}

/// The rows for Locus's figures and llama.cpp's tests: each llama.cpp test
/// beside the Locus figure of the same kind, size and depth; Locus figures
/// llama.cpp has no test for (ttft, or without `--llama-bench`) alone.
pub fn rows(locus: &LocusFigures, llama: &[LlamaTest]) -> Vec<Row> {
    let name = |kind: &str, n: usize| {
        if locus.depth > 0 {
            format!("{kind}{n} @ d{}", locus.depth)
        } else {
            format!("{kind}{n}")
        }
    };
    let mut rows = Vec::new();
    let mut matched_pp = false;
    let mut matched_tg = false;
    for test in llama {
        let (figure, matched) = if test.n_gen == 0 {
            (locus.pp.filter(|p| p.0 == test.n_prompt), &mut matched_pp)
        } else if test.n_prompt == 0 {
            (locus.tg.filter(|t| t.0 == test.n_gen), &mut matched_tg)
        } else {
            (None, &mut false)
        };
        let figure = figure.filter(|_| test.n_depth == locus.depth).map(|f| f.1);
        *matched |= figure.is_some();
        let theirs = Stat {
            mean: test.avg_ts,
            stddev: test.stddev_ts,
        };
        rows.push(Row {
            metric: test.name(),
            unit: "tokens/s",
            flash_attn: Some(test.flash_attention()),
            locus: figure,
            llama_cpp: Some(theirs),
            ratio: figure.map(|f| f.mean / theirs.mean),
        });
    }
    let alone = |metric: String, unit, stat: Stat| Row {
        metric,
        unit,
        flash_attn: None,
        locus: Some(stat),
        llama_cpp: None,
        ratio: None,
    };
    if let Some((n, stat)) = locus.pp.filter(|_| !matched_pp) {
        rows.push(alone(name("pp", n), "tokens/s", stat));
    }
    if let Some((n, stat)) = locus.tg.filter(|_| !matched_tg) {
        rows.push(alone(name("tg", n), "tokens/s", stat));
    }
    if let Some((n, stat)) = locus.ttft_ms {
        rows.push(alone(format!("ttft{n}"), "ms", stat));
    }
    rows
}

/// The rows as an aligned text table.
pub fn render(rows: &[Row]) -> String {
    let cell = |s: Option<Stat>| match s {
        Some(s) if s.mean >= 100.0 => format!("{:.0} ± {:.0}", s.mean, s.stddev),
        Some(s) => format!("{:.2} ± {:.2}", s.mean, s.stddev),
        None => "—".into(),
    };
    let mut lines = vec![[
        "metric".to_string(),
        "Locus".into(),
        "llama.cpp".into(),
        "ratio".into(),
    ]];
    for row in rows {
        let fa = match row.flash_attn {
            Some(true) => ", fa",
            _ => "",
        };
        lines.push([
            format!("{} ({}{fa})", row.metric, row.unit),
            cell(row.locus),
            cell(row.llama_cpp),
            row.ratio.map_or("—".into(), |r| format!("{r:.2}")),
        ]);
    }
    let width = |col: usize| {
        lines
            .iter()
            .map(|l| l[col].chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2), width(3)];
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w - s.chars().count()));
    let padl = |s: &str, w: usize| format!("{}{s}", " ".repeat(w - s.chars().count()));
    lines
        .iter()
        .map(|l| {
            format!(
                "{}  {}  {}  {}",
                pad(&l[0], widths[0]),
                padl(&l[1], widths[1]),
                padl(&l[2], widths[2]),
                padl(&l[3], widths[3])
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::super::llama::parse;
    use super::*;

    const FIXTURE: &str = include_str!("../../../tests/fixtures/llama_bench/smollm2_fa01.json");

    fn stat(mean: f64) -> Stat {
        Stat { mean, stddev: 1.0 }
    }

    #[test]
    fn each_llama_test_sits_beside_the_same_locus_figure() {
        let llama = parse(FIXTURE).unwrap();
        let (pp, tg) = (llama[0].n_prompt, llama[1].n_gen);
        let locus = LocusFigures {
            pp: Some((pp, stat(2.0 * llama[0].avg_ts))),
            tg: Some((tg, stat(0.5 * llama[1].avg_ts))),
            depth: 0,
            ttft_ms: Some((1500, stat(40.0))),
        };
        let rows = rows(&locus, &llama);
        let metrics: Vec<_> = rows
            .iter()
            .map(|r| (r.metric.as_str(), r.flash_attn))
            .collect();
        let (pp_name, tg_name) = (format!("pp{pp}"), format!("tg{tg}"));
        assert_eq!(
            metrics,
            [
                (pp_name.as_str(), Some(false)),
                (tg_name.as_str(), Some(false)),
                (pp_name.as_str(), Some(true)),
                (tg_name.as_str(), Some(true)),
                ("ttft1500", None),
            ]
        );
        assert!((rows[0].ratio.unwrap() - 2.0).abs() < 1e-9);
        assert!((rows[1].ratio.unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(
            rows[2].locus, rows[0].locus,
            "one Locus pp for both fa rows"
        );
        assert_eq!(rows[4].ratio, None);

        let text = render(&rows);
        assert_eq!(text.lines().count(), 6, "{text}");
        let header = text.lines().next().unwrap();
        assert!(
            header.starts_with("metric") && header.ends_with("ratio"),
            "{text}"
        );
        assert!(text.lines().nth(1).unwrap().ends_with("2.00"), "{text}");
        assert!(text.contains(", fa)"), "{text}");
        assert!(
            text.lines().last().unwrap().contains("40.00 ± 1.00"),
            "{text}"
        );
    }

    #[test]
    fn a_depth_or_size_mismatch_is_not_compared() {
        let mut llama = parse(FIXTURE).unwrap();
        llama.truncate(2);
        llama[0].n_depth = 512;
        let locus = LocusFigures {
            pp: Some((llama[0].n_prompt, stat(10.0))),
            tg: Some((llama[1].n_gen + 1, stat(10.0))),
            depth: 0,
            ttft_ms: None,
        };
        let rows = rows(&locus, &llama);
        assert!(rows.iter().all(|r| r.ratio.is_none()), "{rows:?}");
        // Locus's own figures still get rows of their own.
        assert_eq!(rows.len(), 4);
    }

    #[test]
    fn without_llama_cpp_the_rows_are_locus_s_alone() {
        let locus = LocusFigures {
            pp: Some((512, stat(1000.0))),
            tg: Some((128, stat(100.0))),
            depth: 256,
            ttft_ms: None,
        };
        let rows = rows(&locus, &[]);
        let metrics: Vec<_> = rows.iter().map(|r| r.metric.as_str()).collect();
        assert_eq!(metrics, ["pp512 @ d256", "tg128 @ d256"]);
        assert!(render(&rows).contains("1000 ± 1"));
    }
}
