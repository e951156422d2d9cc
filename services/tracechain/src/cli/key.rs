//! `tracechain key generate|show`: ed25519 signing keys as PKCS#8 PEM files.
//!
//! `show` prints what others need to verify our signatures: the key id that
//! block headers name, the raw public key, the SPKI PEM, and the C2SP
//! signed-note verifier key (`vkey`) that transparency-log tooling takes.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use tracechain_core::{NoteSigner, SigningKey};

use tracechain_runtime::secrets::write_secret;

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create a new ed25519 key and write it as PKCS#8 PEM (mode 0600).
    Generate(GenerateArgs),
    /// Print a key file's public parts: key id, public key, SPKI PEM, note vkey.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Where to write the private key.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
    /// The signed-note name (log origin) for the printed vkey.
    #[arg(long, default_value = "tracechain.local/ledger")]
    note_name: String,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// A PKCS#8 PEM private key file.
    path: PathBuf,
    /// The signed-note name (log origin) for the printed vkey.
    #[arg(long, default_value = "tracechain.local/ledger")]
    note_name: String,
}

impl KeyCommand {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self {
            KeyCommand::Generate(args) => {
                let key = SigningKey::generate();
                let pem = key.to_pkcs8_pem().context("encode key as PKCS#8 PEM")?;
                write_secret(&args.out, pem.as_bytes(), args.force)?;
                eprintln!("wrote {}", args.out.display());
                print_public(&key, &args.note_name)
            }
            KeyCommand::Show(args) => {
                let pem = std::fs::read_to_string(&args.path)
                    .with_context(|| format!("read {}", args.path.display()))?;
                let key = SigningKey::from_pkcs8_pem(&pem).with_context(|| {
                    format!("{} is not a PKCS#8 ed25519 key", args.path.display())
                })?;
                print_public(&key, &args.note_name)
            }
        }
    }
}

fn print_public(key: &SigningKey, note_name: &str) -> anyhow::Result<()> {
    let public = key.verifying_key();
    let signer = NoteSigner::new(note_name, key.clone()).context("note signer name")?;
    println!("key_id:     {}", public.key_id());
    println!("public_key: {}", public.to_base64());
    println!("vkey:       {}", signer.verifier().to_vkey());
    print!(
        "{}",
        public
            .to_public_key_pem()
            .context("encode public key PEM")?
    );
    Ok(())
}
