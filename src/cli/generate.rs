//! `locus generate MODEL --prompt TEXT [--chat] [--max-tokens N] [--temperature T] [--seed S]`.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use clap::Args;

use locus::chat::ChatTemplate;
use locus::engine::{CpuSession, GenerateOptions, Generation, SamplingParams, generate_on};
use locus::protocol::{ChatMessage, Role};
use locus::tokenizer::Tokenizer;

use super::backend::{Backend, Loaded, NumericsArg, Placement};

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
    /// Where the model runs: the GPU (wgpu on Vulkan), the CPU, or the GPU
    /// when there is one.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
    /// The GPU kernels' arithmetic: `exact` repeats llama.cpp's CPU
    /// arithmetic bit for bit, `fast` is the product's.
    #[arg(long, value_enum, default_value_t = NumericsArg::Fast)]
    numerics: NumericsArg,
}

pub fn run(args: GenerateArgs) -> Result<(), String> {
    let placement = Placement {
        backend: args.backend,
        numerics: args.numerics.into(),
        capacity: args.context,
        retune: false,
    };
    let mut loaded = super::backend::load(&args.model, placement)?;
    let (tokenizer, chat) = loaded.text();
    let ids = prompt_ids(tokenizer, chat, &args.prompt, args.chat)?;
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
        ..GenerateOptions::default()
    };
    let mut stdout = std::io::stdout();
    let mut print = |text: &str| {
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
        ControlFlow::Continue(())
    };
    let generation: Generation = match &mut loaded {
        Loaded::Cpu(model) => {
            let mut cache = model.new_cache(args.context);
            let mut session = CpuSession {
                decoder: &model.decoder,
                cache: &mut cache,
            };
            pollster::block_on(generate_on(
                &mut session,
                &model.tokenizer,
                &ids,
                &options,
                &mut print,
            ))
        }
        Loaded::Gpu(model, _) => pollster::block_on(generate_on(
            &mut model.decoder,
            &model.tokenizer,
            &ids,
            &options,
            &mut print,
        )),
    }
    .map_err(|e| e.to_string())?;
    eprintln!(
        "\nbackend: {}; prompt: {} tokens, {:.1} tokens/s; generation: {} tokens, {:.1} tokens/s; stopped: {:?}",
        loaded.describe(),
        generation.prompt_tokens,
        generation.prompt_tokens_per_second(),
        generation.tokens.len(),
        generation.tokens_per_second(),
        generation.stop
    );
    Ok(())
}

/// The prompt's token ids, wrapped as a user turn when `chat` is set. BOS
/// is added when the model's metadata asks for it, as llama.cpp does.
fn prompt_ids(
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    prompt: &str,
    chat: bool,
) -> Result<Vec<u32>, String> {
    let text = if chat {
        let template = template.ok_or("this model has no chat template")?;
        let messages = [ChatMessage {
            role: Role::User,
            content: prompt.to_string(),
        }];
        template
            .render(&messages, true)
            .map_err(|e| e.to_string())?
    } else {
        prompt.to_string()
    };
    tokenizer
        .encode(&text, true, true)
        .map_err(|e| e.to_string())
}
