//! Command-line parsing and dispatch. Each subcommand lives in its own module
//! and returns `anyhow::Result`, so `main` prints one error chain and exits 1.

mod apikey;
mod demo;
mod key;
mod serve;
mod up;
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
    /// Run every service in one process on the embedded bus and store
    /// (data in ./data); the first start creates demo API keys.
    Up(up::UpArgs),
    /// Walk the story against a running system, printing each step:
    /// products, a shipment, signed scans, and the delivery's inclusion
    /// proof verified here.
    Demo(demo::DemoArgs),
    /// Run one service against Kafka and Redis, configured by
    /// `--config <file>` and `TRACECHAIN_*` environment variables.
    Serve(serve::ServeArgs),
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
            Command::Up(args) => args.run(),
            Command::Serve(args) => args.run(),
            Command::Demo(args) => args.run(),
        }
    }
}
