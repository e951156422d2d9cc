//! The `tracechain` command line: operator key tools and chain verification
//! today; the embedded all-in-one mode, `serve <service>` and `demo` as the
//! services land.

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
