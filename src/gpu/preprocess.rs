//! A tiny WGSL preprocessor for kernel variants.
//!
//! A kernel file declares its switches on a line `//! flags: A B`, and uses
//! `#if A` / `#else` / `#endif` (nestable) around lines. That is all: no
//! macros, no includes, so a kernel still reads as WGSL. `build.rs` includes
//! this file too and validates every combination of flags with naga.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreprocessError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for PreprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for PreprocessError {}

/// The flags a kernel declares with `//! flags: ...`.
pub fn declared_flags(source: &str) -> Vec<&str> {
    source
        .lines()
        .filter_map(|line| line.trim().strip_prefix("//! flags:"))
        .flat_map(str::split_whitespace)
        .collect()
}

/// Expands `source` with `enabled` flags switched on. Directive lines become
/// blank lines so that naga's line numbers still point into the original file.
pub fn expand(source: &str, enabled: &[&str]) -> Result<String, PreprocessError> {
    let declared = declared_flags(source);
    // Each open `#if` pushes (is this branch live, was the enclosing one live).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut out = String::with_capacity(source.len());
    for (index, line) in source.lines().enumerate() {
        let line_no = index + 1;
        let error = |message: String| PreprocessError {
            line: line_no,
            message,
        };
        let live = stack.last().is_none_or(|&(branch, _)| branch);
        let directive = line.trim_start();
        if let Some(flag) = directive.strip_prefix("#if ") {
            let flag = flag.trim();
            if !declared.contains(&flag) {
                return Err(error(format!(
                    "flag `{flag}` is not declared in `//! flags:`"
                )));
            }
            stack.push((live && enabled.contains(&flag), live));
        } else if directive.starts_with("#else") {
            let (branch, parent) = stack
                .pop()
                .ok_or_else(|| error("#else without #if".into()))?;
            stack.push((parent && !branch, parent));
        } else if directive.starts_with("#endif") {
            stack
                .pop()
                .ok_or_else(|| error("#endif without #if".into()))?;
        } else if directive.starts_with('#') {
            return Err(error(format!("unknown directive `{}`", directive.trim())));
        } else if live {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !stack.is_empty() {
        return Err(PreprocessError {
            line: source.lines().count(),
            message: "unclosed #if".into(),
        });
    }
    Ok(out)
}

/// Every combination of a kernel's declared flags (2^n variants).
pub fn all_variants<'a>(flags: &[&'a str]) -> Vec<Vec<&'a str>> {
    (0..1u32 << flags.len())
        .map(|mask| {
            flags
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, f)| *f)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str =
        "//! flags: A B\nx\n#if A\na\n#if B\nab\n#else\na_not_b\n#endif\n#else\nnot_a\n#endif\ny\n";

    fn kept(enabled: &[&str]) -> Vec<String> {
        expand(SRC, enabled)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .skip(1)
            .map(String::from)
            .collect()
    }

    #[test]
    fn expands_nested_branches() {
        assert_eq!(kept(&[]), ["x", "not_a", "y"]);
        assert_eq!(kept(&["A"]), ["x", "a", "a_not_b", "y"]);
        assert_eq!(kept(&["A", "B"]), ["x", "a", "ab", "y"]);
        assert_eq!(kept(&["B"]), ["x", "not_a", "y"]);
    }

    #[test]
    fn keeps_line_numbers() {
        assert_eq!(
            expand(SRC, &[]).unwrap().lines().count(),
            SRC.lines().count()
        );
    }

    #[test]
    fn reports_bad_directives() {
        assert_eq!(expand("#endif\n", &[]).unwrap_err().line, 1);
        assert!(expand("//! flags: A\n#if A\n", &[]).is_err());
        assert!(
            expand("#if C\n#endif\n", &[])
                .unwrap_err()
                .message
                .contains("not declared")
        );
        assert!(expand("#define X\n", &[]).is_err());
    }

    #[test]
    fn enumerates_variants() {
        assert_eq!(all_variants(&["A", "B"]).len(), 4);
        assert_eq!(all_variants(&[]), vec![Vec::<&str>::new()]);
    }
}
