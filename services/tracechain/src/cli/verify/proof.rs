//! `tracechain verify proof`: one event's RFC 9162 inclusion proof, offline.
//!
//! Inputs are files saved from a ledger's API: the event (the envelope, or
//! the whole `GET /v1/events/{id}` response), the proof (`GET
//! /v1/events/{id}/proof`) and a signed checkpoint note (`GET
//! /v1/checkpoint`, or the proof's own `checkpoint`). Nothing the ledger
//! computed is taken on trust: the checkpoint's signature is checked with
//! the given key, the leaf hash is recomputed from the event's RFC 8785
//! canonical bytes, and the audit path must lead from that leaf at the
//! proof's index to the checkpoint's root for the checkpoint's tree size.
//! The proof's own `leaf_hash`, `root` and `tree_size` only serve to name
//! what disagrees.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use serde_json::Value;
use tracechain_core::{Checkpoint, Hash, NoteVerifier, leaf_hash, verify_inclusion};
use tracechain_ledger::routes::ProofResponse;
use uuid::Uuid;

use super::trust::{ParsedKey, parse_key};

#[derive(Debug, Args)]
pub(crate) struct ProofArgs {
    /// The event: its envelope JSON (the `event` member of GET
    /// /v1/events/{id}), or that whole response.
    #[arg(long, value_name = "FILE")]
    event: PathBuf,
    /// The proof: the response of GET /v1/events/{id}/proof.
    #[arg(long, value_name = "FILE")]
    proof: PathBuf,
    /// The signed checkpoint note to verify against (GET /v1/checkpoint, or
    /// a block's `checkpoint`). Default: the proof's own `checkpoint`,
    /// present when the proof's tree size ends a block.
    #[arg(long, value_name = "NOTE_FILE")]
    checkpoint: Option<PathBuf>,
    /// The key that signs the checkpoints: a C2SP note vkey (the
    /// `note_verifier_key` of /v1/keys), or a public key (SPKI PEM, base64)
    /// for the log named by --origin; the key itself or a file holding it.
    /// Repeatable.
    #[arg(long = "key", value_name = "KEY", required = true)]
    keys: Vec<String>,
    /// The log's origin, which names the checkpoint's signer, for bare
    /// public keys. Default: the checkpoint's first line (the key alone
    /// then decides whom to trust).
    #[arg(long)]
    origin: Option<String>,
}

impl ProofArgs {
    /// The arguments for files and one key, as a caller inside the binary
    /// passes them.
    pub(super) fn new(event: &Path, proof: &Path, checkpoint: &Path, key: &str) -> ProofArgs {
        ProofArgs {
            event: event.to_owned(),
            proof: proof.to_owned(),
            checkpoint: Some(checkpoint.to_owned()),
            keys: vec![key.to_owned()],
            origin: None,
        }
    }
}

pub(super) fn run(args: ProofArgs) -> anyhow::Result<()> {
    let proof: ProofResponse =
        serde_json::from_str(&read(&args.proof, "--proof")?).with_context(|| {
            format!(
                "--proof {}: not an inclusion proof from GET /v1/events/{{id}}/proof",
                args.proof.display()
            )
        })?;
    let note = match &args.checkpoint {
        Some(path) => read(path, "--checkpoint")?,
        None => proof.checkpoint.clone().ok_or_else(|| {
            anyhow!(
                "the proof carries no checkpoint (its tree size ends no block): pass --checkpoint"
            )
        })?,
    };
    let checkpoint = open(&note, &args.keys, args.origin.as_deref())?;
    let (size, root) = (checkpoint.size(), *checkpoint.root_hash());

    let event = read(&args.event, "--event")?;
    let (envelope, response_meta) =
        envelope(&event).with_context(|| format!("--event {}", args.event.display()))?;
    if let Some(id) = envelope.get("id").and_then(Value::as_str)
        && id.parse::<Uuid>().ok() != Some(proof.event_id)
    {
        bail!(
            "the event file holds event {id}, but the proof is for event {}",
            proof.event_id
        );
    }
    if let Some((id, leaf_index)) = response_meta
        && (id != Some(proof.event_id) || leaf_index != Some(proof.leaf_index))
    {
        bail!(
            "the event response says event {} at leaf {}, but the proof is for event {} at leaf {}",
            id.map_or("?".to_owned(), |id| id.to_string()),
            leaf_index.map_or("?".to_owned(), |i| i.to_string()),
            proof.event_id,
            proof.leaf_index
        );
    }
    let bytes = tracechain_core::canonicalize(&envelope)
        .context("the event has no RFC 8785 canonical form")?;
    let leaf = leaf_hash(&bytes);
    if proof.leaf_hash != leaf.to_hex() {
        bail!(
            "the event's leaf hash is {leaf}, but the proof is for leaf hash {}: \
             the event is not the one that was anchored",
            proof.leaf_hash
        );
    }
    if proof.tree_size != size {
        bail!(
            "the proof is for tree size {}, but the checkpoint is for tree size {size}: \
             fetch the proof with ?tree_size={size}",
            proof.tree_size
        );
    }
    let path = proof
        .path
        .iter()
        .map(|h| Hash::from_hex(h))
        .collect::<Result<Vec<Hash>, _>>()
        .map_err(|e| anyhow!("the proof's path: {e}"))?;
    verify_inclusion(&leaf, proof.leaf_index, size, &path, &root).map_err(|e| {
        anyhow!(
            "the inclusion proof of leaf {} does not lead to the checkpoint's root: {e}",
            proof.leaf_index
        )
    })?;

    println!(
        "verified:   event {} is leaf {} of the log {} at tree size {size}",
        proof.event_id,
        proof.leaf_index,
        checkpoint.origin()
    );
    println!("leaf hash:  {leaf}");
    println!("tree size:  {size}");
    println!("root:       {root}");
    Ok(())
}

fn read(path: &Path, flag: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{flag}: cannot read {}", path.display()))
}

/// The `(event_id, leaf_index)` a whole `/v1/events/{id}` response states.
type ResponseMeta = Option<(Option<Uuid>, Option<u64>)>;

/// The envelope in an event file: the whole document, or the `event`
/// member of a `/v1/events/{id}` response (recognised by its `event` object
/// beside `event_id` and `leaf_hash`, members no envelope has).
fn envelope(text: &str) -> anyhow::Result<(Value, ResponseMeta)> {
    // Strict: duplicate member names would make "the" event ambiguous.
    let mut value = tracechain_core::canonical::parse_strict(text).context("not JSON")?;
    let is_response = value.get("event").is_some_and(Value::is_object)
        && value.get("event_id").is_some()
        && value.get("leaf_hash").is_some();
    if !is_response {
        return Ok((value, None));
    }
    let id = value["event_id"].as_str().and_then(|s| s.parse().ok());
    let leaf_index = value["leaf_index"].as_u64();
    let event = value["event"].take();
    Ok((event, Some((id, leaf_index))))
}

/// Opens the signed checkpoint `note` with the keys: each vkey under its
/// own name, each bare key under `--origin` or the note's first line. The
/// note must be signed under the name of the log it names, as a ledger
/// signs its checkpoints.
fn open(note: &str, keys: &[String], origin: Option<&str>) -> anyhow::Result<Checkpoint> {
    let named = note.split('\n').next().unwrap_or_default();
    if let Some(origin) = origin
        && origin != named
    {
        bail!("the checkpoint names the log {named:?}, not {origin:?} (--origin)");
    }
    let mut verifiers = Vec::with_capacity(keys.len());
    for arg in keys {
        verifiers.push(match parse_key(arg)? {
            ParsedKey::Note(verifier) => verifier,
            ParsedKey::Raw(key) => NoteVerifier::new(named, key)
                .with_context(|| format!("{named:?} is not a valid log origin"))?,
        });
    }
    let (checkpoint, verified) = Checkpoint::open(note.as_bytes(), &verifiers)
        .context("the checkpoint is not signed by a given key")?;
    if !verified
        .signatures
        .iter()
        .any(|s| s.name == checkpoint.origin())
    {
        bail!(
            "the checkpoint names the log {:?} but is signed only under other names",
            checkpoint.origin()
        );
    }
    Ok(checkpoint)
}
