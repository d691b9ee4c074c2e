//! A tiny WGSL preprocessor for kernel variants.
//!
//! A kernel file declares its switches on comment lines:
//!
//! - `//! flags: A B` declares independent on/off flags;
//! - `//! choose: X Y Z` declares a choice group: exactly one of X, Y, Z is
//!   set in every variant (a kernel may have several groups).
//!
//! Lines are kept or dropped with `#if NAME` / `#else` / `#endif` (nestable),
//! where NAME is a flag or a choice.
//!
//! `//! include: NAME` appends `kernels/lib/NAME.wgsl` (functions shared by
//! several kernels) after the kernel's own text; a library that declares
//! switches of its own is expanded with the kernel's switches of those names. WGSL lets a module declare
//! things in any order, so the kernel can call them, and naga's line
//! numbers still point into the kernel file for everything above the end.
//!
//! That is all: no macros, so a kernel still reads as WGSL. `build.rs`
//! includes this file too and validates every variant (every choice
//! combination × every flag subset) with naga.

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

/// A kernel's declared switches: its choice groups and its flags, each in
/// the order of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declarations<'a> {
    /// One entry per `//! choose:` line.
    pub choices: Vec<Vec<&'a str>>,
    /// Every name on the `//! flags:` lines.
    pub flags: Vec<&'a str>,
}

impl Declarations<'_> {
    /// Whether `name` is a declared flag or choice.
    pub fn declares(&self, name: &str) -> bool {
        self.flags.contains(&name) || self.choices.iter().any(|group| group.contains(&name))
    }
}

/// The switches a kernel declares with `//! flags:` and `//! choose:` lines.
pub fn declarations(source: &str) -> Declarations<'_> {
    let mut declared = Declarations::default();
    for line in source.lines().map(str::trim) {
        if let Some(names) = line.strip_prefix("//! flags:") {
            declared.flags.extend(names.split_whitespace());
        } else if let Some(names) = line.strip_prefix("//! choose:") {
            declared.choices.push(names.split_whitespace().collect());
        }
    }
    declared
}

/// Checks the declarations themselves (no name twice, no empty group) and
/// that `enabled` sets exactly one name of every choice group and nothing
/// undeclared.
fn check_variant(source: &str, enabled: &[&str]) -> Result<(), PreprocessError> {
    let mut seen: Vec<&str> = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let error = |message: String| PreprocessError {
            line: index + 1,
            message,
        };
        let line = line.trim();
        let (names, is_choice) = if let Some(names) = line.strip_prefix("//! flags:") {
            (names, false)
        } else if let Some(names) = line.strip_prefix("//! choose:") {
            (names, true)
        } else {
            continue;
        };
        let names: Vec<&str> = names.split_whitespace().collect();
        if is_choice && names.is_empty() {
            return Err(error("`//! choose:` lists no names".into()));
        }
        for name in &names {
            if seen.contains(name) {
                return Err(error(format!("`{name}` is declared twice")));
            }
            seen.push(name);
        }
        if is_choice {
            let set: Vec<&str> = names
                .iter()
                .copied()
                .filter(|name| enabled.contains(name))
                .collect();
            if set.len() != 1 {
                return Err(error(format!(
                    "exactly one of `{}` must be set, got [{}]",
                    names.join(" "),
                    set.join(" ")
                )));
            }
        }
    }
    if let Some(unknown) = enabled.iter().find(|name| !seen.contains(name)) {
        return Err(PreprocessError {
            line: 1,
            message: format!("`{unknown}` is not declared by this kernel"),
        });
    }
    Ok(())
}

/// The shared WGSL files a kernel may include, by name.
const LIBRARY: &[(&str, &str)] = &[
    (
        "ggml_numerics",
        include_str!("../../kernels/lib/ggml_numerics.wgsl"),
    ),
    (
        "ggml_bytes",
        include_str!("../../kernels/lib/ggml_bytes.wgsl"),
    ),
    ("step", include_str!("../../kernels/lib/step.wgsl")),
    (
        "ggml_matvec_io",
        include_str!("../../kernels/lib/ggml_matvec_io.wgsl"),
    ),
    (
        "ggml_blocks",
        include_str!("../../kernels/lib/ggml_blocks.wgsl"),
    ),
    ("dequant8", include_str!("../../kernels/lib/dequant8.wgsl")),
    (
        "gelu_table",
        include_str!("../../kernels/lib/gelu_table.wgsl"),
    ),
];

/// The library files named on `//! include:` lines, in order.
fn included(source: &str) -> Result<Vec<&'static str>, PreprocessError> {
    let mut texts = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let Some(names) = line.trim().strip_prefix("//! include:") else {
            continue;
        };
        for name in names.split_whitespace() {
            let text = LIBRARY
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, text)| *text)
                .ok_or_else(|| PreprocessError {
                    line: index + 1,
                    message: format!("no kernels/lib/{name}.wgsl to include"),
                })?;
            texts.push(text);
        }
    }
    Ok(texts)
}

/// Expands `source` with the names in `enabled` switched on (one of each
/// choice group, any flags), then appends its includes. Directive lines
/// become blank lines so that naga's line numbers still point into the
/// original file.
pub fn expand(source: &str, enabled: &[&str]) -> Result<String, PreprocessError> {
    let mut out = expand_own(source, enabled)?;
    for text in included(source)? {
        // A library with switches of its own (the same names as the
        // kernel's, e.g. the weight-type choice) is expanded with those.
        let declared = declarations(text);
        if declared.choices.is_empty() && declared.flags.is_empty() {
            out.push_str(text);
        } else {
            let own: Vec<&str> = enabled
                .iter()
                .copied()
                .filter(|name| declared.declares(name))
                .collect();
            out.push_str(&expand_own(text, &own)?);
        }
    }
    Ok(out)
}

/// [`expand`] without the includes.
fn expand_own(source: &str, enabled: &[&str]) -> Result<String, PreprocessError> {
    check_variant(source, enabled)?;
    let declared = declarations(source);
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
        if let Some(name) = directive.strip_prefix("#if ") {
            let name = name.trim();
            if !declared.declares(name) {
                return Err(error(format!(
                    "`{name}` is not declared in `//! flags:` or `//! choose:`"
                )));
            }
            stack.push((live && enabled.contains(&name), live));
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

/// Every variant of a kernel: one name from each choice group (in every
/// combination) times every subset of the flags, so
/// `Π |group| × 2^flags` variants, each listing its choices then its flags.
pub fn all_variants<'a>(declared: &Declarations<'a>) -> Vec<Vec<&'a str>> {
    let mut variants: Vec<Vec<&'a str>> = vec![Vec::new()];
    for group in &declared.choices {
        variants = variants
            .iter()
            .flat_map(|variant| {
                group.iter().map(move |&choice| {
                    let mut next = variant.clone();
                    next.push(choice);
                    next
                })
            })
            .collect();
    }
    let flags = &declared.flags;
    variants
        .into_iter()
        .flat_map(|variant| {
            (0..1u32 << flags.len()).map(move |mask| {
                let mut next = variant.clone();
                next.extend(
                    flags
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, f)| *f),
                );
                next
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str =
        "//! flags: A B\nx\n#if A\na\n#if B\nab\n#else\na_not_b\n#endif\n#else\nnot_a\n#endif\ny\n";

    fn kept(source: &str, enabled: &[&str]) -> Vec<String> {
        expand(source, enabled)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("//!"))
            .map(String::from)
            .collect()
    }

    #[test]
    fn expands_nested_branches() {
        assert_eq!(kept(SRC, &[]), ["x", "not_a", "y"]);
        assert_eq!(kept(SRC, &["A"]), ["x", "a", "a_not_b", "y"]);
        assert_eq!(kept(SRC, &["A", "B"]), ["x", "a", "ab", "y"]);
        assert_eq!(kept(SRC, &["B"]), ["x", "not_a", "y"]);
    }

    #[test]
    fn keeps_line_numbers() {
        assert_eq!(
            expand(SRC, &[]).unwrap().lines().count(),
            SRC.lines().count()
        );
        let expanded = expand(CHOICES, &["Q8", "HI", "FAST"]).unwrap();
        assert_eq!(expanded.lines().count(), CHOICES.lines().count());
        // `hi` is on line 12 of the source and stays there.
        assert_eq!(expanded.lines().nth(11), Some("hi"));
    }

    #[test]
    fn a_library_with_switches_is_expanded_with_the_kernels() {
        let expanded = expand(
            "//! choose: Q4_0 Q8_0\n//! flags: HALF\n//! include: dequant8\n",
            &["Q8_0", "HALF"],
        )
        .unwrap();
        assert!(expanded.contains("// 34 bytes: d: f16, qs: [i8; 32]."));
        assert!(!expanded.contains("// 18 bytes: d: f16, qs: [u8; 16]."));
    }

    #[test]
    fn appends_includes_after_the_kernel() {
        let source = "//! include: ggml_numerics\nfn main() {}\n";
        let expanded = expand(source, &[]).unwrap();
        assert!(expanded.starts_with("//! include: ggml_numerics\nfn main() {}\n"));
        assert!(expanded.contains("fn ggml_expf("));
        let error = expand("x\n//! include: nothing_here\n", &[]).unwrap_err();
        assert_eq!(error.line, 2);
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

    /// Two choice groups and a flag, with `#if` on choices, nested in flags.
    const CHOICES: &str = "//! choose: Q4 Q8 F32\n\
                           //! flags: FAST\n\
                           //! choose: LO HI\n\
                           #if Q4\n\
                           q4\n\
                           #endif\n\
                           #if Q8\n\
                           q8\n\
                           #endif\n\
                           #if FAST\n\
                           #if HI\n\
                           hi\n\
                           #else\n\
                           lo\n\
                           #endif\n\
                           #endif\n\
                           end\n";

    #[test]
    fn parses_choice_groups() {
        let declared = declarations(CHOICES);
        assert_eq!(
            declared.choices,
            [vec!["Q4", "Q8", "F32"], vec!["LO", "HI"]]
        );
        assert_eq!(declared.flags, ["FAST"]);
        assert!(declared.declares("HI") && declared.declares("FAST"));
        assert!(!declared.declares("Q5"));
    }

    #[test]
    fn expands_choices_like_flags() {
        assert_eq!(kept(CHOICES, &["Q4", "LO"]), ["q4", "end"]);
        assert_eq!(kept(CHOICES, &["Q8", "HI", "FAST"]), ["q8", "hi", "end"]);
        assert_eq!(kept(CHOICES, &["FAST", "F32", "LO"]), ["lo", "end"]);
    }

    #[test]
    fn every_group_needs_exactly_one_choice() {
        // None of the first group (declared on line 1).
        let error = expand(CHOICES, &["LO"]).unwrap_err();
        assert_eq!(error.line, 1);
        assert!(
            error.message.contains("exactly one of `Q4 Q8 F32`"),
            "{error}"
        );
        // Two of the second group (line 3).
        let error = expand(CHOICES, &["Q4", "LO", "HI"]).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.message.contains("got [LO HI]"), "{error}");
        // Names the kernel does not declare are refused, not ignored.
        let error = expand(CHOICES, &["Q4", "LO", "SUBGROUPS"]).unwrap_err();
        assert!(
            error.message.contains("`SUBGROUPS` is not declared"),
            "{error}"
        );
    }

    #[test]
    fn reports_bad_declarations() {
        let error = expand("//! choose: A B\n//! flags: B\n", &["A"]).unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("declared twice"), "{error}");
        assert!(expand("//! choose:\n", &[]).is_err());
    }

    #[test]
    fn enumerates_variants() {
        assert_eq!(all_variants(&declarations(SRC)).len(), 4);
        assert_eq!(
            all_variants(&Declarations::default()),
            vec![Vec::<&str>::new()]
        );
        // 3 × 2 choices × 2 flag subsets, all distinct, and all expandable.
        let variants = all_variants(&declarations(CHOICES));
        assert_eq!(variants.len(), 12);
        assert_eq!(variants[0], ["Q4", "LO"]);
        assert_eq!(variants[1], ["Q4", "LO", "FAST"]);
        assert_eq!(variants[11], ["F32", "HI", "FAST"]);
        for (i, variant) in variants.iter().enumerate() {
            assert!(!variants[..i].contains(variant));
            expand(CHOICES, variant).unwrap();
        }
    }
}
