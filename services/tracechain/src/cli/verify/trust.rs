//! What a verification trusts: the public keys (`--key`, or a ledger's
//! `/v1/keys` with `--keys-from`), the chain's origin, and a checkpoint
//! given with `--from-checkpoint` once its signature verifies.
//!
//! A key argument is the key itself or a file holding it, in any form the
//! project prints one: SPKI PEM (`tracechain key show`, `/v1/keys`'s
//! `public_key_pem`; extra lines around the PEM block are ignored, so a
//! saved `key show` output works), the raw 32-byte key in base64 or hex, or
//! a C2SP note verifier key `<name>+<hash>+<base64>` (`note_verifier_key`).
//! A vkey also names the log: its name must then be the chain's origin.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use tracechain_chain::KeyRing;
use tracechain_core::{Checkpoint, KeyId, NoteVerifier, VerifyingKey};
use tracechain_ledger::routes::KeysResponse;

/// `--key`, `--keys-from` and `--origin`, shared by `verify store` and `verify url`.
#[derive(Debug, Args)]
pub(super) struct TrustArgs {
    /// A public key the chain may be signed with: SPKI PEM, raw base64 or
    /// hex, or a C2SP note vkey (`<origin>+<hash>+<key>`, the
    /// `note_verifier_key` of /v1/keys); the key itself or a file holding
    /// it. Repeat it for every key the chain was signed with (rotations).
    #[arg(long = "key", value_name = "KEY")]
    pub(super) keys: Vec<String>,
    /// Also trust the keys the ledger at this URL serves at /v1/keys. Only
    /// shows the chain is consistent with the ledger's own claims: pin keys
    /// with --key when you can (a warning is printed).
    #[arg(long, value_name = "LEDGER_URL")]
    pub(super) keys_from: Option<String>,
    /// The chain's origin (its log identity, the first line of its
    /// checkpoints). Default: the trusted checkpoint's origin with
    /// --from-checkpoint, otherwise block 0's.
    #[arg(long)]
    pub(super) origin: Option<String>,
}

/// The keys a verification trusts, with where their names came from.
#[derive(Debug)]
pub(super) struct TrustedKeys {
    /// Every trusted key, by id.
    pub(super) ring: KeyRing,
    /// Log names that vkeys given with `--key` carry: each must be the origin.
    vkey_names: Vec<(KeyId, String)>,
    /// The origin a ledger's `/v1/keys` named, with its URL.
    served_origin: Option<(String, String)>,
}

impl TrustedKeys {
    /// Loads `--key`s and `--keys-from`; refuses to go on with no key at all.
    pub(super) fn load(args: &TrustArgs) -> anyhow::Result<TrustedKeys> {
        if args.keys.is_empty() && args.keys_from.is_none() {
            bail!(
                "no trusted keys: pass --key with the ledger's public key (as `tracechain key show` \
                 prints it, or /v1/keys serves it, obtained from someone you trust), or --keys-from \
                 <ledger URL> to trust the keys that ledger serves"
            );
        }
        let mut trusted = TrustedKeys {
            ring: KeyRing::default(),
            vkey_names: Vec::new(),
            served_origin: None,
        };
        for arg in &args.keys {
            match parse_key(arg)? {
                ParsedKey::Raw(key) => trusted.ring.insert(key),
                ParsedKey::Note(verifier) => {
                    trusted
                        .vkey_names
                        .push((verifier.key().key_id(), verifier.name().to_owned()));
                    trusted.ring.insert(*verifier.key());
                }
            }
        }
        if let Some(url) = &args.keys_from {
            let (origin, keys) = fetch_keys(url)?;
            eprintln!(
                "warning: trusting {} key(s) served by {url}: this shows the chain is consistent \
                 with what that ledger claims, not that it was signed by the keys you expect \
                 (pin them with --key)",
                keys.len()
            );
            for key in keys {
                trusted.ring.insert(key);
            }
            trusted.served_origin = Some((origin, url.clone()));
        }
        Ok(trusted)
    }

    /// The chain's origin: `--origin`, else `from_data` (block 0's or the
    /// trusted checkpoint's). Refuses an origin the keys were given for
    /// another log.
    pub(super) fn origin(&self, flag: Option<&str>, from_data: &str) -> anyhow::Result<String> {
        let origin = flag.unwrap_or(from_data).to_owned();
        for (id, name) in &self.vkey_names {
            if *name != origin {
                bail!(
                    "--key {id} is the note key of the log {name:?}, but the chain's origin is {origin:?}"
                );
            }
        }
        if let Some((served, url)) = &self.served_origin
            && *served != origin
        {
            bail!("{url} serves keys for the log {served:?}, but the chain's origin is {origin:?}");
        }
        Ok(origin)
    }

    /// Note verifiers for checkpoints of the log `origin`.
    pub(super) fn note_verifiers(&self, origin: &str) -> anyhow::Result<Vec<NoteVerifier>> {
        self.ring
            .iter()
            .map(|(_, key)| {
                NoteVerifier::new(origin, *key)
                    .with_context(|| format!("{origin:?} is not a valid checkpoint origin"))
            })
            .collect()
    }
}

/// A key given on the command line.
#[derive(Debug)]
pub(super) enum ParsedKey {
    /// A bare public key.
    Raw(VerifyingKey),
    /// A C2SP note verifier key: a public key and the log name it signs for.
    Note(NoteVerifier),
}

/// Parses a `--key` argument (see the module docs).
pub(super) fn parse_key(arg: &str) -> anyhow::Result<ParsedKey> {
    let path = Path::new(arg);
    let (text, source) = if path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--key: cannot read {}", path.display()))?;
        (text, format!("--key file {}", path.display()))
    } else {
        (arg.to_owned(), format!("--key {arg:?}"))
    };
    let text = text.trim();
    if text.contains("PRIVATE KEY-----") {
        bail!(
            "{source} is a private key: pass its public key (`tracechain key show <file>` prints it)"
        );
    }
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    if let Some(start) = text.find(BEGIN) {
        let end = text[start..]
            .find(END)
            .map(|i| start + i + END.len())
            .with_context(|| format!("{source}: the PEM block has no {END} line"))?;
        let key = VerifyingKey::from_public_key_pem(&text[start..end])
            .with_context(|| format!("{source}: not an ed25519 SPKI public key"))?;
        return Ok(ParsedKey::Raw(key));
    }
    // A vkey's name never contains '+' and its hash is 8 hex digits, so a
    // base64 key (which may contain '+') is not mistaken for one.
    let vkey_error = match NoteVerifier::parse(text) {
        Ok(verifier) => return Ok(ParsedKey::Note(verifier)),
        Err(error) => error,
    };
    if let Ok(key) = VerifyingKey::from_base64(text) {
        return Ok(ParsedKey::Raw(key));
    }
    if let Ok(key) = VerifyingKey::from_hex(text) {
        return Ok(ParsedKey::Raw(key));
    }
    if text.contains('+') {
        bail!("{source}: not a note verifier key ({vkey_error}), nor a base64 public key");
    }
    bail!(
        "{source}: not a public key (expected SPKI PEM, a 32-byte ed25519 key in base64 or hex, \
         or a C2SP vkey <name>+<hash>+<key>)"
    )
}

/// The origin and keys a ledger serves at `/v1/keys`, each checked against
/// the key id served with it.
fn fetch_keys(url: &str) -> anyhow::Result<(String, Vec<VerifyingKey>)> {
    let base = url.trim_end_matches('/');
    let keys_url = if base.ends_with("/v1/keys") {
        base.to_owned()
    } else {
        format!("{base}/v1/keys")
    };
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("build the HTTP client")?
        .get(&keys_url)
        .send()
        .with_context(|| format!("--keys-from: GET {keys_url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("--keys-from: GET {keys_url} answered {status}");
    }
    let served: KeysResponse = response
        .json()
        .with_context(|| format!("--keys-from: {keys_url} did not answer a key list"))?;
    let mut keys = Vec::with_capacity(served.keys.len());
    for served_key in &served.keys {
        let key = VerifyingKey::from_base64(&served_key.public_key).with_context(|| {
            format!(
                "--keys-from: key {} is not a base64 ed25519 key",
                served_key.key_id
            )
        })?;
        if key.key_id().to_string() != served_key.key_id {
            bail!(
                "--keys-from: {keys_url} names key id {} for a key whose id is {}",
                served_key.key_id,
                key.key_id()
            );
        }
        keys.push(key);
    }
    if keys.is_empty() {
        bail!("--keys-from: {keys_url} serves no keys");
    }
    Ok((served.origin, keys))
}

/// A checkpoint whose signature verified under the trusted keys.
#[derive(Debug)]
pub(super) struct TrustedCheckpoint {
    /// The checkpoint (origin, size, root).
    pub(super) checkpoint: Checkpoint,
}

/// Reads the signed checkpoint note at `path` and checks its signature
/// under `keys` for the log `origin` (`--origin`, or the note's own first
/// line). Returns it with the origin to verify the chain under.
pub(super) fn open_checkpoint(
    path: &Path,
    keys: &TrustedKeys,
    origin: Option<&str>,
) -> anyhow::Result<(TrustedCheckpoint, String)> {
    let note = std::fs::read_to_string(path)
        .with_context(|| format!("--from-checkpoint: cannot read {}", path.display()))?;
    let named = note.split('\n').next().unwrap_or_default();
    let origin = keys.origin(origin, named)?;
    let verifiers = keys.note_verifiers(&origin)?;
    let (checkpoint, _) = Checkpoint::open(note.as_bytes(), &verifiers).with_context(|| {
        format!(
            "--from-checkpoint {}: not a checkpoint of {origin:?} signed by a trusted key",
            path.display()
        )
    })?;
    if checkpoint.origin() != origin {
        bail!(
            "--from-checkpoint {}: the checkpoint names the log {:?}, not {origin:?}",
            path.display(),
            checkpoint.origin()
        );
    }
    if checkpoint.size() == 0 {
        bail!(
            "--from-checkpoint {}: the checkpoint is of the empty log, which no block ends at",
            path.display()
        );
    }
    Ok((TrustedCheckpoint { checkpoint }, origin))
}

#[cfg(test)]
mod tests {
    use tracechain_core::{NoteSigner, SigningKey};

    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[4; 32])
    }

    fn raw(arg: &str) -> VerifyingKey {
        match parse_key(arg).unwrap() {
            ParsedKey::Raw(key) => key,
            ParsedKey::Note(verifier) => panic!("{arg} parsed as a vkey {}", verifier.to_vkey()),
        }
    }

    #[test]
    fn a_key_is_read_in_every_form_the_project_prints() {
        let public = key().verifying_key();
        let pem = public.to_public_key_pem().unwrap();
        assert_eq!(raw(&pem), public);
        assert_eq!(raw(&public.to_base64()), public);
        assert_eq!(raw(&public.to_hex()), public);
        // A file holding `tracechain key show`'s whole output.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key-show.txt");
        let shown = format!(
            "key_id:     {}\npublic_key: {}\n{pem}",
            public.key_id(),
            public.to_base64()
        );
        std::fs::write(&path, shown).unwrap();
        assert_eq!(raw(path.to_str().unwrap()), public);

        let vkey = NoteSigner::new("example.com/log", key())
            .unwrap()
            .verifier()
            .to_vkey();
        match parse_key(&vkey).unwrap() {
            ParsedKey::Note(verifier) => {
                assert_eq!(verifier.name(), "example.com/log");
                assert_eq!(verifier.key(), &public);
            }
            ParsedKey::Raw(_) => panic!("a vkey parsed as a bare key"),
        }
    }

    #[test]
    fn what_is_not_a_public_key_is_refused_with_a_reason() {
        let private = key().to_pkcs8_pem().unwrap();
        let err = parse_key(&private).unwrap_err().to_string();
        assert!(err.contains("is a private key"), "{err}");
        let err = parse_key("not a key").unwrap_err().to_string();
        assert!(err.contains("not a public key"), "{err}");
        // A vkey whose hash does not match its key.
        let vkey = NoteSigner::new("example.com/log", key())
            .unwrap()
            .verifier()
            .to_vkey();
        let (name, rest) = vkey.split_once('+').unwrap();
        let tampered = format!("{name}+00000000{}", &rest[8..]);
        let err = parse_key(&tampered).unwrap_err().to_string();
        assert!(err.contains("not a note verifier key"), "{err}");
    }

    #[test]
    fn the_origin_must_match_the_log_a_vkey_names() {
        let vkey = NoteSigner::new("example.com/log", key())
            .unwrap()
            .verifier()
            .to_vkey();
        let args = TrustArgs {
            keys: vec![vkey],
            keys_from: None,
            origin: None,
        };
        let keys = TrustedKeys::load(&args).unwrap();
        assert_eq!(
            keys.origin(None, "example.com/log").unwrap(),
            "example.com/log"
        );
        let err = keys
            .origin(Some("other.example/log"), "example.com/log")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is the note key of the log"), "{err}");
        let none = TrustArgs {
            keys: Vec::new(),
            keys_from: None,
            origin: None,
        };
        let err = TrustedKeys::load(&none).unwrap_err().to_string();
        assert!(err.starts_with("no trusted keys"), "{err}");
    }
}
