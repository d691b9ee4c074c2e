//! `locus generate MODEL --prompt TEXT [--chat] [--max-tokens N] [--temperature T] [--seed S]`.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use clap::Args;

use locus::engine::{GenerateOptions, SamplingParams, generate};
use locus::protocol::{ChatMessage, Role};

#[derive(Args)]
pub struct GenerateArgs {
    model: PathBuf,
    #[arg(long)]
    prompt: String,
    /// Wrap the prompt as a user turn in the model's chat template.
    #[arg(long)]
    chat: bool,
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    #[arg(long, default_value_t = 0.05)]
    min_p: f32,
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// KV cache size in tokens.
    #[arg(long, default_value_t = 2048)]
    context: usize,
}

pub fn run(args: GenerateArgs) -> Result<(), String> {
    let model = super::load_model(&args.model)?;
    let prompt = if args.chat {
        let template = model
            .chat
            .as_ref()
            .ok_or("this model has no chat template")?;
        let messages = [ChatMessage {
            role: Role::User,
            content: args.prompt.clone(),
        }];
        template
            .render(&messages, true)
            .map_err(|e| e.to_string())?
    } else {
        args.prompt.clone()
    };
    // BOS is added when the model's metadata asks for it, as llama.cpp does.
    let ids = model
        .tokenizer
        .encode(&prompt, true, true)
        .map_err(|e| e.to_string())?;
    let options = GenerateOptions {
        max_tokens: args.max_tokens,
        sampling: SamplingParams {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repeat_penalty: args.repeat_penalty,
            seed: args.seed,
            ..SamplingParams::default()
        },
        stop_strings: Vec::new(),
    };
    let mut cache = model.new_cache(args.context);
    let mut stdout = std::io::stdout();
    let generation = generate(
        &model.decoder,
        &model.tokenizer,
        &mut cache,
        &ids,
        &options,
        &mut |text| {
            let _ = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush());
            ControlFlow::Continue(())
        },
    )
    .map_err(|e| e.to_string())?;
    eprintln!(
        "\nprompt: {} tokens, {:.1} tokens/s; generation: {} tokens, {:.1} tokens/s; stopped: {:?}",
        generation.prompt_tokens,
        generation.prompt_tokens_per_second(),
        generation.tokens.len(),
        generation.tokens_per_second(),
        generation.stop
    );
    Ok(())
}
