//! `locus`: the native command-line front end to the runtime.

use std::process::ExitCode;

use locus::runtime::Runtime;

const USAGE: &str = "usage: locus report [--json]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["report"] => report(false),
        ["report", "--json"] => report(true),
        ["--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("locus: {USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Prints the backend report of the runtime started on this machine.
fn report(json: bool) -> ExitCode {
    let runtime = pollster::block_on(Runtime::start());
    let report = runtime.report();
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("locus: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        for line in report.lines() {
            println!("{line}");
        }
    }
    ExitCode::SUCCESS
}
