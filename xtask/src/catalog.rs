//! Checks `extension/catalog.json`, the models the Models tab offers: every
//! Hugging Face entry names a fixed revision (`resolve/<commit>/` in its URL,
//! the same commit in `revision`), hashes are well formed, and every entry
//! whose file `cargo xtask models` has cached has that file's size and
//! SHA-256. Cheap: it hashes only local files (about 100 MB today).
//!
//! xtask has no dependencies, so this module carries a small JSON reader.

use std::collections::BTreeMap;
use std::path::Path;

use crate::paths;
use crate::shell::{self, Result};

/// Checks the catalog against the models cached under `~/.cache/locus/models`.
pub fn check_cached() -> Result {
    let catalog_path = paths::repo_root().join("extension").join("catalog.json");
    let text = std::fs::read_to_string(&catalog_path)
        .map_err(|e| format!("{}: {e}", catalog_path.display()))?;
    let models = paths::cache().join("models");
    let report = check(&text, |name| cached_file(&models.join(name)))?;
    for line in &report {
        println!("  {line}");
    }
    Ok(())
}

/// A cached file's size and SHA-256, when it is there.
fn cached_file(path: &Path) -> Option<(u64, String)> {
    let size = std::fs::metadata(path).ok()?.len();
    Some((size, shell::sha256(path)?))
}

/// Checks catalog `text`; `cached` gives (size, sha256) of a file by name.
/// Returns one line per entry, or every problem found.
fn check(text: &str, cached: impl Fn(&str) -> Option<(u64, String)>) -> Result<Vec<String>> {
    let catalog = Json::parse(text)?;
    let entries = catalog
        .get("models")
        .and_then(Json::as_array)
        .ok_or("the catalog has no `models` list")?;
    let mut problems = Vec::new();
    let mut report = Vec::new();
    for entry in entries {
        let id = entry.get("id").and_then(Json::as_str).unwrap_or("(no id)");
        let mut problem = |what: String| problems.push(format!("{id}: {what}"));
        let Some(url) = entry.get("url").and_then(Json::as_str) else {
            problem("no url".into());
            continue;
        };
        let sha256 = entry.get("sha256").and_then(Json::as_str);
        let bytes = entry.get("bytes").and_then(Json::as_u64);
        if url.starts_with("https://huggingface.co/") {
            let pinned = pinned_revision(url);
            let revision = entry.get("revision").and_then(Json::as_str);
            match (pinned, revision) {
                (None, _) => problem(format!(
                    "{url} does not name a fixed revision (resolve/<commit>/)"
                )),
                (Some(commit), Some(revision)) if commit == revision => {}
                (Some(commit), _) => problem(format!(
                    "`revision` must be {commit}, the commit in its URL"
                )),
            }
        } else if !url.starts_with("https://") {
            problem(format!("{url} is not https"));
        }
        if let Some(sum) = sha256 {
            if sum.len() != 64
                || !sum
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                problem(format!("sha256 {sum} is not 64 lowercase hex digits"));
            }
            if bytes.is_none() {
                problem("an entry with a sha256 gives its `bytes` too".into());
            }
        }
        let file = url.rsplit('/').next().unwrap_or_default();
        let file = file.split(['?', '#']).next().unwrap_or_default();
        match (cached(file), sha256) {
            (Some((size, sum)), Some(expected)) => {
                if bytes != Some(size) {
                    problem(format!("bytes {bytes:?}, but the cached {file} has {size}"));
                }
                if sum != expected {
                    problem(format!("sha256 {expected}, but the cached {file} has {sum}"));
                }
                report.push(format!("{id}: size and sha256 match the cached {file}"));
            }
            (Some(_), None) => report.push(format!(
                "{id}: {file} is cached; the entry could give its sha256 (shown as unverified until then)"
            )),
            (None, Some(_)) => report.push(format!("{id}: no cached {file} to check its sha256 against")),
            (None, None) => report.push(format!("{id}: unverified (no sha256 known)")),
        }
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(format!(
            "extension/catalog.json:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// The 40-hex commit in a Hugging Face `…/resolve/<commit>/…` URL.
fn pinned_revision(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("/resolve/")?;
    let commit = rest.split('/').next()?;
    (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()) && rest.len() > 41)
        .then_some(commit)
}

/// A JSON value; numbers are kept as f64 (the catalog's sizes fit exactly).
#[derive(Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl Json {
    fn parse(text: &str) -> Result<Json> {
        let mut reader = Reader {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = reader.value()?;
        reader.space();
        if reader.at != reader.bytes.len() {
            return Err(reader.error("trailing characters"));
        }
        Ok(value)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(map) => map.get(key),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 9e15 => Some(*n as u64),
            _ => None,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn error(&self, what: &str) -> String {
        format!("catalog.json: {what} at byte {}", self.at)
    }

    fn space(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        let found = self.bytes.get(self.at) == Some(&byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn value(&mut self) -> Result<Json> {
        self.space();
        match self.bytes.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut map = BTreeMap::new();
                if self.eat(b'}') {
                    return Ok(Json::Object(map));
                }
                loop {
                    self.space();
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return Err(self.error("expected ':'"));
                    }
                    map.insert(key, self.value()?);
                    if self.eat(b'}') {
                        return Ok(Json::Object(map));
                    }
                    if !self.eat(b',') {
                        return Err(self.error("expected ',' or '}'"));
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    if self.eat(b']') {
                        return Ok(Json::Array(items));
                    }
                    if !self.eat(b',') {
                        return Err(self.error("expected ',' or ']'"));
                    }
                }
            }
            Some(b'"') => self.string().map(Json::String),
            Some(_) => self.word(),
            None => Err(self.error("unexpected end")),
        }
    }

    fn string(&mut self) -> Result<String> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return Err(self.error("expected a string"));
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.bytes.get(self.at).copied() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.at += 1;
                    return String::from_utf8(out).map_err(|_| self.error("bad UTF-8"));
                }
                Some(b'\\') => {
                    let escaped = self.bytes.get(self.at + 1).copied();
                    self.at += 2;
                    let ch = match escaped {
                        Some(b'n') => '\n',
                        Some(b't') => '\t',
                        Some(b'r') => '\r',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'u') => {
                            let hex = self
                                .bytes
                                .get(self.at..self.at + 4)
                                .ok_or_else(|| self.error("short \\u"))?;
                            self.at += 4;
                            let code =
                                u32::from_str_radix(std::str::from_utf8(hex).unwrap_or("x"), 16)
                                    .map_err(|_| self.error("bad \\u"))?;
                            char::from_u32(code).unwrap_or('\u{fffd}')
                        }
                        Some(other) => other as char,
                        None => return Err(self.error("unterminated escape")),
                    };
                    let mut buffer = [0; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buffer).as_bytes());
                }
                Some(byte) => {
                    out.push(byte);
                    self.at += 1;
                }
            }
        }
    }

    fn word(&mut self) -> Result<Json> {
        let start = self.at;
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
        {
            self.at += 1;
        }
        let word = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or_default();
        match word {
            "null" => Ok(Json::Null),
            "true" => Ok(Json::Bool(true)),
            "false" => Ok(Json::Bool(false)),
            _ => word
                .parse()
                .map(Json::Number)
                .map_err(|_| self.error("bad value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
    const COMMIT: &str = "a6b7826ed969c3926a98359e39912af137b464cb";

    fn catalog(url: &str, revision: &str, extra: &str) -> String {
        format!(r#"{{"models": [{{"id": "m", "url": "{url}", "revision": "{revision}"{extra}}}]}}"#)
    }

    fn hf(commit: &str) -> String {
        format!("https://huggingface.co/o/r/resolve/{commit}/M.gguf")
    }

    #[test]
    fn reads_json() {
        let value =
            Json::parse(r#" {"a": [1, 2.5, "x\"\u00e9", true, null, {}], "b": {"c": []}} "#)
                .unwrap();
        let a = value.get("a").and_then(Json::as_array).unwrap();
        assert_eq!(a[0].as_u64(), Some(1));
        assert_eq!(a[2].as_str(), Some("x\"é"));
        assert_eq!(a[3], Json::Bool(true));
        assert!(Json::parse(r#"{"a": 1,}"#).is_err());
        assert!(Json::parse(r#"{"a": 1} x"#).is_err());
    }

    #[test]
    fn a_pinned_entry_with_the_cached_hash_passes() {
        let text = catalog(
            &hf(COMMIT),
            COMMIT,
            &format!(r#", "bytes": 5, "sha256": "{SHA}""#),
        );
        let report = check(&text, |name| {
            (name == "M.gguf").then(|| (5, SHA.to_string()))
        })
        .unwrap();
        assert!(report[0].contains("match"), "{report:?}");
    }

    #[test]
    fn an_unpinned_or_mismatched_entry_fails() {
        let unpinned = catalog("https://huggingface.co/o/r/resolve/main/M.gguf", "main", "");
        assert!(
            check(&unpinned, |_| None)
                .unwrap_err()
                .contains("fixed revision")
        );
        let other = catalog(&hf(COMMIT), &"0".repeat(40), "");
        assert!(
            check(&other, |_| None)
                .unwrap_err()
                .contains("`revision` must be")
        );
        let wrong = catalog(
            &hf(COMMIT),
            COMMIT,
            &format!(r#", "bytes": 5, "sha256": "{SHA}""#),
        );
        let error = check(&wrong, |_| Some((6, "0".repeat(64)))).unwrap_err();
        assert!(
            error.contains("bytes Some(5)") && error.contains("sha256"),
            "{error}"
        );
    }

    #[test]
    fn the_real_catalog_is_pinned() {
        let text =
            std::fs::read_to_string(paths::repo_root().join("extension/catalog.json")).unwrap();
        check(&text, |_| None).unwrap();
    }
}
