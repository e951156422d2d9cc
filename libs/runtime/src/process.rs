//! The edges of a service's process that every service shares: its one
//! argument (`--config <file>`), the signals that stop it, and waiting for
//! its background tasks when it stops.

use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The command line was not `[--config <file>]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("usage: {program} [--config <settings.toml>]")]
pub struct UsageError {
    /// The binary's name, for the usage line.
    pub program: String,
}

/// `--config <file>`, the only argument a service binary takes, read from
/// this process's command line; `None` without arguments. `program` names
/// the binary in the usage error (`env!("CARGO_BIN_NAME")`).
pub fn config_file_argument(program: &str) -> Result<Option<PathBuf>, UsageError> {
    config_file_from(std::env::args().skip(1), program)
}

/// [`config_file_argument`] over `args` (without the program name).
pub fn config_file_from(
    args: impl IntoIterator<Item = String>,
    program: &str,
) -> Result<Option<PathBuf>, UsageError> {
    let mut args = args.into_iter();
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => Ok(None),
        (Some("--config"), Some(file), None) => Ok(Some(PathBuf::from(file))),
        _ => Err(UsageError {
            program: program.to_owned(),
        }),
    }
}

/// Cancels `token` on SIGTERM (Unix) or Ctrl-C, from a task of its own:
/// `main` hands it the application's shutdown token.
pub fn cancel_on_shutdown_signal(token: CancellationToken) {
    tokio::spawn(async move {
        tracechain_http::shutdown_signal().await;
        token.cancel();
    });
}

/// Waits for each of `tasks` (already told to stop) for at most `timeout`,
/// in order; one that does not finish in time is logged and left behind,
/// so a stuck part cannot hang the exit.
pub async fn join_background_tasks(tasks: Vec<JoinHandle<()>>, timeout: Duration) {
    for task in tasks {
        if tokio::time::timeout(timeout, task).await.is_err() {
            tracing::warn!("A background task did not stop in time");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn no_argument_or_one_config_file() {
        assert_eq!(config_file_from(args(&[]), "svc"), Ok(None));
        assert_eq!(
            config_file_from(args(&["--config", "svc.toml"]), "svc"),
            Ok(Some(PathBuf::from("svc.toml")))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn background_tasks_are_awaited_but_a_stuck_one_does_not_hang_the_exit() {
        let done = tokio::spawn(async {});
        let stuck = tokio::spawn(std::future::pending::<()>());
        let started = tokio::time::Instant::now();
        join_background_tasks(vec![done, stuck], Duration::from_secs(15)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(15));
    }

    #[test]
    fn anything_else_is_a_usage_error_naming_the_program() {
        for bad in [
            &["--config"][..],
            &["svc.toml"],
            &["--config", "a.toml", "b.toml"],
            &["--conf", "a.toml"],
        ] {
            let error = config_file_from(args(bad), "tracechain-svc").unwrap_err();
            assert_eq!(
                error.to_string(),
                "usage: tracechain-svc [--config <settings.toml>]",
                "{bad:?}"
            );
        }
    }
}
