//! `locus tokenize MODEL TEXT [--json]`.

use std::path::Path;

use locus::tokenizer::Tokenizer;

pub fn run(path: &Path, text: &str, json: bool) -> Result<(), String> {
    let (_, file) = super::read_header(path)?;
    let tokenizer = Tokenizer::from_gguf(&file.metadata).map_err(|e| e.to_string())?;
    let ids = tokenizer
        .encode(text, true, true)
        .map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&ids).map_err(|e| e.to_string())?
        );
    } else {
        for id in ids {
            println!(
                "{id:>7}  {:?}",
                tokenizer.token_text(id).unwrap_or_default()
            );
        }
    }
    Ok(())
}
