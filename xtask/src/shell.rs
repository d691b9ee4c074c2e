//! Running commands: printed before they run, with the tool paths and the
//! shared cargo target directory in their environment.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::paths;

pub type Result<T = ()> = std::result::Result<T, String>;

/// Prints a step heading.
pub fn step(title: &str) {
    println!("\n==> {title}");
}

pub struct Cmd {
    command: Command,
    shown: String,
}

impl Cmd {
    pub fn new(program: &str) -> Cmd {
        let mut command = Command::new(program);
        command.current_dir(paths::repo_root());
        command.env("PATH", tool_path());
        command.env("CARGO_TARGET_DIR", paths::cargo_target());
        Cmd {
            command,
            shown: program.to_string(),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.shown.push(' ');
        self.shown.push_str(&arg.as_ref().to_string_lossy());
        self.command.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(self, args: I) -> Cmd {
        args.into_iter().fold(self, Cmd::arg)
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Cmd {
        self.command.env(key, value);
        self
    }

    /// Runs with inherited output; fails on a non-zero exit.
    pub fn run(mut self) -> Result {
        println!("$ {}", self.shown);
        let status = self
            .command
            .status()
            .map_err(|e| format!("could not start `{}`: {e}", self.shown))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{}` failed ({status})", self.shown))
        }
    }

    /// Runs and returns its stdout, quietly; None when it cannot run or fails.
    pub fn read(mut self) -> Option<String> {
        let output = self.command.stderr(Stdio::null()).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs, echoing stdout line by line to the terminal and to `on_line`.
    pub fn run_watching(mut self, mut on_line: impl FnMut(&str)) -> Result {
        println!("$ {}", self.shown);
        let mut child = self
            .command
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start `{}`: {e}", self.shown))?;
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::result::Result::ok)
            {
                println!("{line}");
                on_line(&line);
            }
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{}` failed ({status})", self.shown))
        }
    }
}

/// PATH with our npm binaries (a current wasm-opt) and cargo-installed tools first.
fn tool_path() -> std::ffi::OsString {
    let mut dirs = vec![
        paths::repo_root().join("node_modules/.bin"),
        paths::tools().join("bin"),
    ];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}
