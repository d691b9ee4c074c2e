//! `locus info MODEL`.

use std::collections::BTreeMap;
use std::path::Path;

use locus::chat::ChatTemplate;
use locus::model::ModelConfig;

pub fn run(path: &Path) -> Result<(), String> {
    let (_, file) = super::read_header(path)?;
    let meta = &file.metadata;
    println!(
        "file:          {} ({:.1} MB, GGUF v{})",
        path.display(),
        file.file_len as f64 / 1e6,
        file.version
    );
    // `head -c N MODEL` keeps just the header, enough for `bench --header-only`.
    println!("header:        {} bytes", file.data_offset);
    println!(
        "architecture:  {}",
        meta.str("general.architecture").unwrap_or("(none)")
    );
    if let Ok(name) = meta.str("general.name") {
        println!("name:          {name}");
    }
    let parameters: u64 = file.tensors.iter().map(|t| t.elements()).sum();
    println!(
        "parameters:    {:.1} M in {} tensors",
        parameters as f64 / 1e6,
        file.tensors.len()
    );
    match ModelConfig::from_gguf(&file) {
        Ok(c) => {
            println!(
                "shape:         {} layers, width {}, {} heads / {} KV heads of {}, FFN {}, context {}",
                c.block_count,
                c.embedding_length,
                c.head_count,
                c.head_count_kv,
                c.head_dim,
                c.feed_forward_length,
                c.context_length
            );
            if let Some(window) = c.sliding_window {
                println!(
                    "sliding:       window {window} on {} of every {} layers",
                    c.sliding_pattern - 1,
                    c.sliding_pattern
                );
            }
        }
        Err(error) => println!("supported:     no: {error}"),
    }
    let mut by_type: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for tensor in &file.tensors {
        let entry = by_type.entry(tensor.ty.name()).or_default();
        entry.0 += 1;
        entry.1 += tensor.bytes;
    }
    println!("tensor types:");
    for (name, (count, bytes)) in by_type {
        println!(
            "  {name:<6} {count:>4} tensors {:>9.1} MB",
            bytes as f64 / 1e6
        );
    }
    let template = match ChatTemplate::from_gguf(meta) {
        Ok(t) => t.source().to_string(),
        Err(e) => format!("none ({e})"),
    };
    println!("chat template: {template}");
    Ok(())
}
