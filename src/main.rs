//! `locus`: the native command-line front end to the runtime.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("locus: {message}");
            ExitCode::FAILURE
        }
    }
}
