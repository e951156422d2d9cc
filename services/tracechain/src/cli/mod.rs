//! Command-line parsing and dispatch. Each subcommand lives in its own module
//! and returns `anyhow::Result`, so `main` prints one error chain and exits 1.

mod apikey;
mod key;
mod verify;

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
    /// Verify a ledger's chain (from its block store or its API) or one
    /// event's inclusion proof, trusting only the public keys you give.
    #[command(subcommand)]
    Verify(verify::VerifyCommand),
}

impl Cli {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Apikey(command) => command.run(),
            Command::Key(command) => command.run(),
            Command::Verify(command) => command.run(),
        }
    }
}
