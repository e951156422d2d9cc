//! `tracechain verify store|url|proof`: check a ledger's chain, or one
//! event's inclusion in it, trusting nothing but the public keys given.
//!
//! - [`store`]: every block of a ledger's block store directory, from
//!   genesis or from a trusted checkpoint, with every leaf recomputed from
//!   the stored events. Reads the segment files only (never the index).
//! - [`url`]: every block a running ledger serves, from its leaf hashes, and
//!   the consistency proof between each block's tree and the next.
//! - [`proof`]: one event's inclusion proof, offline, from files.
//!
//! What is trusted is decided in [`trust`]: keys come from `--key` (or, with
//! a printed warning, from a ledger's `/v1/keys`); a checkpoint given with
//! `--from-checkpoint` is trusted only once its signature verifies under
//! those keys. The data being verified never supplies its own keys.
//!
//! Every refusal is an error whose message starts `block N: ` naming the
//! first bad block (or says what else is wrong), so the process exits 1
//! through `main`. Success prints a summary on stdout; progress goes to
//! stderr, and only when stderr is a terminal.

mod proof;
mod store;
mod trust;
mod url;

use std::io::IsTerminal;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracechain_chain::VerifiedHead;

/// Verifies one event's inclusion proof from files, as `tracechain verify
/// proof` does (the demo's last step).
pub(crate) fn verify_proof_files(
    event: &std::path::Path,
    proof: &std::path::Path,
    checkpoint: &std::path::Path,
    key: &str,
) -> anyhow::Result<()> {
    proof::run(proof::ProofArgs::new(event, proof, checkpoint, key))
}

#[derive(Debug, Subcommand)]
pub(crate) enum VerifyCommand {
    /// Verify a ledger's block store directory block by block: signatures,
    /// prev hashes, roots recomputed from the stored events, checkpoints.
    ///
    /// Reads the segment files only: the index is not opened or trusted,
    /// and nothing is written, so it runs beside a live ledger (verifying
    /// the blocks stored when it starts). Exits 1 naming the first bad block.
    #[command(after_long_help = STORE_EXAMPLES)]
    Store(store::StoreArgs),
    /// Verify the chain a running ledger serves: every block's signature,
    /// link, root (recomputed from the served leaf hashes) and checkpoint,
    /// and a consistency proof between each block's tree and the next.
    ///
    /// Exits 1 naming the first bad block.
    #[command(after_long_help = URL_EXAMPLES)]
    Url(url::UrlArgs),
    /// Verify one event's inclusion proof offline, from files: the event's
    /// leaf hash is recomputed from its RFC 8785 canonical bytes and its
    /// audit path must lead to the root of a checkpoint signed by the key.
    #[command(after_long_help = PROOF_EXAMPLES)]
    Proof(proof::ProofArgs),
}

const STORE_EXAMPLES: &str = "Examples:
  tracechain verify store ./data/ledger --key ledger-public.pem
  tracechain verify store ./data/ledger --key ledger-public.pem --from-checkpoint checkpoint.txt";

const URL_EXAMPLES: &str = "Examples:
  export TRACECHAIN_API_KEY=...   # any role
  tracechain verify url https://ledger.example --key \"$(cat ledger.vkey)\"
  tracechain verify url https://ledger.example --key ledger-public.pem --from-checkpoint checkpoint.txt";

const PROOF_EXAMPLES: &str = "Examples (the checkpoint first, then the proof for its tree size):
  curl -s $LEDGER/v1/checkpoint > checkpoint.txt
  SIZE=$(sed -n 2p checkpoint.txt)
  curl -s -H \"Authorization: Bearer $KEY\" $LEDGER/v1/events/$ID > event.json
  curl -s -H \"Authorization: Bearer $KEY\" \"$LEDGER/v1/events/$ID/proof?tree_size=$SIZE\" > proof.json
  tracechain verify proof --event event.json --proof proof.json --checkpoint checkpoint.txt --key \"$(cat ledger.vkey)\"";

impl VerifyCommand {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self {
            VerifyCommand::Store(args) => store::run(args),
            VerifyCommand::Url(args) => url::run(args),
            VerifyCommand::Proof(args) => proof::run(args),
        }
    }
}

/// A progress bar on stderr when it is a terminal; hidden otherwise, so
/// logs and CI output stay clean.
fn progress(len: u64, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    // The templates are constants of this module; a typo falls back to the
    // default bar rather than failing a verification.
    bar.set_style(
        ProgressStyle::with_template(template)
            .map(|style| style.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// What a successful chain verification prints.
#[derive(Debug)]
struct Summary {
    origin: String,
    /// Height of the first block verified in full.
    first_height: u64,
    /// Blocks verified in full.
    blocks: u64,
    /// Events (leaves) those blocks hold.
    events: u64,
    /// The verified head.
    head: VerifiedHead,
    /// The head block's signed checkpoint note.
    checkpoint: String,
    /// The trusted checkpoint's tree size, when the walk started there.
    trusted_size: Option<u64>,
}

impl Summary {
    fn print(&self) {
        let last = self.head.height;
        match self.trusted_size {
            Some(size) if self.blocks == 0 => println!(
                "verified:   no blocks after the trusted checkpoint at tree size {size} (block {last}): it is the head"
            ),
            Some(size) => println!(
                "verified:   blocks {}..={last} ({} blocks, {} events) after the trusted checkpoint at tree size {size}",
                self.first_height, self.blocks, self.events
            ),
            None => println!(
                "verified:   blocks {}..={last} ({} blocks, {} events)",
                self.first_height, self.blocks, self.events
            ),
        }
        println!("origin:     {}", self.origin);
        println!("height:     {last}");
        println!("tree size:  {}", self.head.tree_size);
        println!("root:       {}", self.head.root);
        println!("head hash:  {}", self.head.hash);
        println!("checkpoint:");
        print!("{}", self.checkpoint);
    }
}
