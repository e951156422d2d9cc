//! `tracechain apikey new`: a fresh random API key and its key-table entry.
//!
//! The secret is printed once and never stored; the table keeps only its
//! SHA-256. With `--table` the entry is added to that file (created if
//! missing), which is the file a service loads (and a Kubernetes Secret holds).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use tracechain_domain::{Role, TenantId};
use tracechain_http::auth::{ApiKeyTable, generate_api_key};

use tracechain_runtime::secrets::write_secret;

#[derive(Debug, Subcommand)]
pub(crate) enum ApikeyCommand {
    /// Create a random key bound to a role and a tenant; print it and its entry.
    New(NewArgs),
}

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// manufacturer, carrier, finance, auditor or admin.
    #[arg(long)]
    role: Role,
    /// The tenant the key acts for (lowercase letters, digits and '-').
    #[arg(long)]
    tenant: TenantId,
    /// A name for operators and logs (default: "<tenant>-<role>").
    #[arg(long)]
    label: Option<String>,
    /// Add the entry to this key-table file (created if missing).
    #[arg(long)]
    table: Option<PathBuf>,
}

impl ApikeyCommand {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self {
            ApikeyCommand::New(args) => new_key(args),
        }
    }
}

fn new_key(args: NewArgs) -> anyhow::Result<()> {
    let label = args
        .label
        .unwrap_or_else(|| format!("{}-{}", args.tenant, args.role.as_str()));
    let (secret, entry) =
        generate_api_key(args.role, args.tenant, label).context("generate api key")?;
    if let Some(path) = &args.table {
        let mut entries = if path.exists() {
            ApiKeyTable::load(path)
                .with_context(|| format!("load key table {}", path.display()))?
                .entries()
                .to_vec()
        } else {
            Vec::new()
        };
        entries.push(entry.clone());
        let table = ApiKeyTable::from_entries(entries).context("add the entry")?;
        let mut text = table.to_json_pretty();
        text.push('\n');
        write_secret(path, text.as_bytes(), true)?;
        eprintln!("added {} to {}", entry.label(), path.display());
    }
    println!("key:   {secret}");
    println!("entry: {}", entry.to_json());
    eprintln!("the key is shown only now; the table stores its SHA-256");
    Ok(())
}
