//! The `tracechain` command line: `up` (every service in one process),
//! `serve <service>`, `demo` (the story against a running system), and the
//! operator's key tools and chain verification.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
