//! Commands of the `locus` binary. Each returns a one-line error message.

mod backend;
mod bench;
mod detect;
mod generate;
mod info;
mod tokenize;

use std::fs::File;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use locus::gguf::GgufFile;
use locus::runtime::Runtime;

#[derive(Parser)]
#[command(
    name = "locus",
    version,
    about = "On-device language models: inspect, tokenize, generate, detect languages, benchmark."
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Architecture, size, tensors by type and chat template of a GGUF model.
    Info { model: PathBuf },
    /// Token ids of TEXT (special-token text is parsed; BOS as the model wants).
    Tokenize {
        model: PathBuf,
        text: String,
        /// Print one JSON array of token ids.
        #[arg(long)]
        json: bool,
    },
    /// Generate text; only the generated text goes to stdout, statistics to stderr.
    Generate(generate::GenerateArgs),
    /// Benchmark: prompt processing and generation tokens/s, memory, bandwidth.
    Bench(bench::BenchArgs),
    /// Language of each line of stdin: `code<TAB>confidence` per line (top-1;
    /// `und` when there is nothing to tell). MODEL is a fastText `.ftz`/`.bin`.
    Detect { model: PathBuf },
    /// The backend this machine's GPU (or CPU) gives the runtime.
    Report {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args) -> Result<(), String> {
    match args.command {
        Command::Info { model } => info::run(&model),
        Command::Tokenize { model, text, json } => tokenize::run(&model, &text, json),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Detect { model } => detect::run(&model),
        Command::Report { json } => report(json),
    }
}

fn open(path: &Path) -> Result<File, String> {
    File::open(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_header(path: &Path) -> Result<(File, GgufFile), String> {
    let mut file = open(path)?;
    let header = GgufFile::read(&mut file).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((file, header))
}

fn report(json: bool) -> Result<(), String> {
    let runtime = pollster::block_on(Runtime::start());
    let report = runtime.report();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).map_err(|e| e.to_string())?
        );
    } else {
        report.lines().iter().for_each(|line| println!("{line}"));
    }
    Ok(())
}
