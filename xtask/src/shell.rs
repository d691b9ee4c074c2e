//! Running commands: printed before they run, with the tool paths and the
//! shared cargo target directory in their environment.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::Instant;

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

    /// Runs, echoing stdout and stderr line by line to the terminal and
    /// each line to `on_line` (stderr's once the command has ended:
    /// cargo-nextest writes its summary there).
    pub fn run_watching(mut self, mut on_line: impl FnMut(&str)) -> Result {
        println!("$ {}", self.shown);
        let mut child = self
            .command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start `{}`: {e}", self.shown))?;
        let stderr = child.stderr.take().map(|stderr| {
            std::thread::spawn(move || {
                let lines = BufReader::new(stderr)
                    .lines()
                    .map_while(std::result::Result::ok);
                lines
                    .inspect(|line| eprintln!("{line}"))
                    .collect::<Vec<_>>()
            })
        });
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
        for line in stderr.and_then(|echo| echo.join().ok()).unwrap_or_default() {
            on_line(&line);
        }
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{}` failed ({status})", self.shown))
        }
    }

    /// Starts in the background with stdout and stderr in `log`, to be
    /// shown when it has finished ([`Background::finish`]).
    pub fn spawn_logged(mut self, log: &Path) -> Result<Background> {
        println!("$ {} (in the background: {})", self.shown, log.display());
        let file = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let copy = file.try_clone().map_err(|e| e.to_string())?;
        let mut child = self
            .command
            .stdout(copy)
            .stderr(file)
            .spawn()
            .map_err(|e| format!("could not start `{}`: {e}", self.shown))?;
        let started = Instant::now();
        // Waited for here, so that its seconds are its own, not the time
        // until someone asks.
        let waiter = std::thread::spawn(move || {
            let status = child.wait().map_err(|e| e.to_string());
            (status, started.elapsed().as_secs_f64())
        });
        Ok(Background {
            waiter,
            log: log.to_path_buf(),
            shown: self.shown,
        })
    }
}

/// A command started by [`Cmd::spawn_logged`].
pub struct Background {
    waiter: JoinHandle<(Result<ExitStatus>, f64)>,
    log: PathBuf,
    shown: String,
}

impl Background {
    /// Waits for the command, prints its output and gives each line to
    /// `on_line`; returns its seconds since it started, or why it failed.
    pub fn finish(self, mut on_line: impl FnMut(&str)) -> Result<f64> {
        let (status, seconds) = self
            .waiter
            .join()
            .map_err(|_| format!("waiting for `{}` panicked", self.shown))?;
        println!("$ {} (ran in the background, {seconds:.0} s)", self.shown);
        let mut output = Vec::new();
        File::open(&self.log)
            .and_then(|mut file| file.read_to_end(&mut output))
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        for line in String::from_utf8_lossy(&output).lines() {
            println!("{line}");
            on_line(line);
        }
        match status? {
            status if status.success() => Ok(seconds),
            status => Err(format!("`{}` failed ({status})", self.shown)),
        }
    }
}

/// The SHA-256 of a file, in hex (`sha256sum`); None if it cannot be read.
pub fn sha256(path: &Path) -> Option<String> {
    let sum = Cmd::new("sha256sum").arg(path).read()?;
    Some(sum.split_whitespace().next()?.to_string())
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

#[cfg(test)]
mod tests {
    use super::Cmd;

    #[test]
    fn a_background_command_gives_its_output_and_status_when_finished() {
        let log = std::env::temp_dir().join(format!("xtask-background-{}.log", std::process::id()));
        let script = "echo out; echo err >&2; exit 3";
        let background = Cmd::new("sh")
            .args(["-c", script])
            .spawn_logged(&log)
            .unwrap();
        let mut lines = Vec::new();
        let result = background.finish(|line| lines.push(line.to_string()));
        assert_eq!(lines, ["out", "err"]);
        assert!(result.unwrap_err().contains("exit status: 3"));
        // Its seconds are its own, not the time until it is asked for.
        let quick = Cmd::new("true").spawn_logged(&log).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(quick.finish(|_| {}).unwrap() < 0.25);
        let _ = std::fs::remove_file(log);
    }

    #[test]
    fn a_watched_command_gives_stderr_lines_too() {
        let mut lines = Vec::new();
        let script = "echo out; echo 'Summary [ 1.0s] 1 test run: 1 passed' >&2";
        Cmd::new("sh")
            .args(["-c", script])
            .run_watching(|line| lines.push(line.to_string()))
            .unwrap();
        assert_eq!(lines, ["out", "Summary [ 1.0s] 1 test run: 1 passed"]);
    }
}
