//! `locus detect MODEL`: one `code<TAB>confidence` line per stdin line, for
//! batch checks; the count and speed go to stderr.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use locus::lid::LanguageDetector;

pub fn run(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let detector =
        LanguageDetector::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let started = web_time::Instant::now();
    let mut lines = 0u64;
    // Lines as bytes: a stray invalid byte is replaced, not fatal.
    for line in stdin.split(b'\n') {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let best = &detector.detect(text)[0];
        writeln!(out, "{}\t{:.4}", best.language, best.confidence)
            .map_err(|e| format!("stdout: {e}"))?;
        lines += 1;
    }
    out.flush().map_err(|e| format!("stdout: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{lines} lines in {:.3} s ({:.0} lines/s)",
        seconds,
        lines as f64 / seconds.max(1e-9)
    );
    Ok(())
}
