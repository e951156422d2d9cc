//! Processes a test starts: a [`ChildProcess`] is killed and reaped when it
//! is dropped, so a failing test leaves nothing running; a
//! [`CommandOutput`] is what a command that ran to its end printed.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A process of the test's own, killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct ChildProcess {
    /// The process; always ours, so killing it touches nothing else.
    child: Child,
    /// Where its stdout and stderr go, when [`spawn_logged`](Self::spawn_logged)
    /// started it.
    log: Option<PathBuf>,
}

impl ChildProcess {
    /// Starts `command` as it is configured; panics naming the program when
    /// it cannot start.
    pub fn spawn(command: &mut Command) -> ChildProcess {
        let child = command.spawn().unwrap_or_else(|error| {
            panic!("cannot start {}: {error}", command.get_program().display())
        });
        Self::from_child(child)
    }

    /// Takes charge of `child`, started by the caller.
    pub fn from_child(child: Child) -> ChildProcess {
        ChildProcess { child, log: None }
    }

    /// Starts `command` with stdout and stderr appended to the file `log`
    /// (created when missing, so a restarted process keeps one log).
    pub fn spawn_logged(command: &mut Command, log: &Path) -> ChildProcess {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|error| panic!("cannot open {}: {error}", log.display()));
        let stderr = file
            .try_clone()
            .unwrap_or_else(|error| panic!("cannot share {}: {error}", log.display()));
        let mut process = Self::spawn(
            command
                .stdout(Stdio::from(file))
                .stderr(Stdio::from(stderr)),
        );
        process.log = Some(log.to_owned());
        process
    }

    /// The operating system's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The log file its output goes to, if any.
    pub fn log(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// Kills it (SIGKILL) and waits for it; nothing when it already exited.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends it `signal` (a name `kill` knows: `TERM`, `STOP`, `CONT`…).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.id().to_string())
            .status()
            .unwrap_or_else(|error| panic!("cannot run kill -{signal}: {error}"));
        assert!(status.success(), "kill -{signal} {}", self.id());
    }

    /// Its exit status if it has exited, without waiting.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|error| panic!("cannot check process {}: {error}", self.id()))
    }

    /// Waits up to `within` for it to exit (blocking the thread); `None`
    /// when it is still running then.
    pub fn wait_for_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How a command that ran to its end exited and what it printed.
#[derive(Debug)]
pub struct CommandOutput {
    /// The exit code; -1 when a signal ended it.
    pub code: i32,
    /// Standard output (invalid UTF-8 replaced).
    pub stdout: String,
    /// Standard error (invalid UTF-8 replaced).
    pub stderr: String,
}

impl CommandOutput {
    /// Runs `command` to its end, capturing both outputs; panics naming the
    /// program when it cannot start.
    pub fn run(command: &mut Command) -> CommandOutput {
        let out = command.output().unwrap_or_else(|error| {
            panic!("cannot run {}: {error}", command.get_program().display())
        });
        CommandOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Asserts exit code 0; returns stdout.
    #[track_caller]
    pub fn passed(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts exit code 1 (a command's refusal) with `want` in stderr.
    #[track_caller]
    pub fn failed_with(&self, want: &str) {
        assert_eq!(self.code, 1, "expected failure with {want:?}: {self:#?}");
        assert!(
            self.stderr.contains(want),
            "expected {want:?} in stderr: {self:#?}"
        );
    }
}

/// The value of the first line of `text` that starts with `name` (what
/// follows `name`, trimmed); panics when no line does.
#[track_caller]
pub fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} line in {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_output_tells_success_from_refusal() {
        let out = CommandOutput::run(Command::new("sh").args(["-c", "echo 'size: 7 '"]));
        assert!(out.success());
        assert_eq!(field(out.passed(), "size:"), "7");
        let out = CommandOutput::run(Command::new("sh").args(["-c", "echo no >&2; exit 1"]));
        assert!(!out.success());
        out.failed_with("no");
    }

    #[test]
    #[should_panic(expected = "no height: line")]
    fn a_missing_field_names_itself() {
        field("size: 1\n", "height:");
    }

    #[test]
    fn a_child_process_is_logged_signalled_and_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("child.log");
        let mut child = ChildProcess::spawn_logged(
            Command::new("sh").args(["-c", "echo started; exec sleep 30"]),
            &log,
        );
        assert_eq!(child.log(), Some(log.as_path()));
        // Signal only once the shell has written its line: a SIGTERM that
        // lands before `echo` runs would leave the log empty.
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("started")
        {
            assert!(
                std::time::Instant::now() < until,
                "the child never wrote its line"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(child.try_wait().is_none());
        child.signal("TERM");
        let status = child
            .wait_for_exit(Duration::from_secs(10))
            .expect("SIGTERM ends sleep");
        assert!(!status.success());
        assert!(std::fs::read_to_string(&log).unwrap().contains("started"));
    }
}
