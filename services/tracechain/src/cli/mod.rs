//! Command-line parsing and dispatch. Each subcommand lives in its own module
//! and returns `anyhow::Result`, so `main` prints one error chain and exits 1.

mod apikey;
mod key;

use clap::{Parser, Subcommand};

/// Supply-chain traceability: registry, shipments, ledger and settlement.
#[derive(Debug, Parser)]
#[command(name = "tracechain", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// API keys: create a key and its entry in the key table file.
    #[command(subcommand)]
    Apikey(apikey::ApikeyCommand),
    /// Ed25519 signing keys (the ledger's block key, test phones).
    #[command(subcommand)]
    Key(key::KeyCommand),
}

impl Cli {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Apikey(command) => command.run(),
            Command::Key(command) => command.run(),
        }
    }
}
