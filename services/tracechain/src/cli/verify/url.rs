//! `tracechain verify url <LEDGER_URL>`: the chain a running ledger serves,
//! walked block by block through `/v1/blocks/{height}` up to the head it
//! reported when the walk started.
//!
//! Each block is rebuilt from what the API serves — the exact signed header
//! bytes (`signed_header`), the signature, the checkpoint note and the
//! events' leaf hashes — and checked by [`ChainVerifier::apply_leaves`]:
//! height, link, origin, first leaf, signature, root recomputed from the
//! leaf hashes, checkpoint. Everything else the ledger says about a block
//! must agree with those bytes: the `header` JSON, `header_hash`, each
//! event's `leaf_index`, and the `frontier` (which others resume from).
//! Between each block's tree and the next, `/v1/consistency` must prove
//! the log only grew (RFC 9162 §2.1.4), against the roots verified here,
//! not the roots the proof response names.
//!
//! With `--from-checkpoint`, the walk starts at the block that ends at the
//! trusted checkpoint's tree size (found by a binary search over the block
//! listing): that block must commit to the checkpoint's root under a
//! trusted key, and the served frontier must fold to that root — which
//! makes the frontier trustworthy, so the earlier blocks are not fetched.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use serde::de::DeserializeOwned;
use tracechain_chain::{BlockHeader, ChainVerifier, RecordHead};
use tracechain_core::{Hash, Signature, verify_consistency};
use tracechain_ledger::routes::{BlockPage, BlockResponse, ConsistencyResponse, HeadResponse};

use super::Summary;
use super::trust::{TrustArgs, TrustedKeys, open_checkpoint};

const TEMPLATE: &str = "{spinner} verifying {msg:<12} [{wide_bar}] {pos}/{len} blocks ({eta})";

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Args)]
pub(crate) struct UrlArgs {
    /// The ledger's base URL, e.g. http://127.0.0.1:8083.
    #[arg(value_name = "LEDGER_URL")]
    ledger_url: String,
    /// An API key of any role (blocks and proofs need one).
    #[arg(long, env = "TRACECHAIN_API_KEY", hide_env_values = true)]
    api_key: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// Trust this signed checkpoint note (e.g. saved from /v1/checkpoint)
    /// once its signature verifies: start at the block that ends at its
    /// tree size, from the frontier the ledger serves (checked against the
    /// checkpoint's root), and verify every block after it.
    #[arg(long, value_name = "NOTE_FILE")]
    from_checkpoint: Option<PathBuf>,
}

/// The ledger's API, with the API key.
struct Ledger {
    base: String,
    api_key: String,
    client: reqwest::blocking::Client,
}

impl Ledger {
    fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let response = self
            .client
            .get(&url)
            .bearer_auth(&self.api_key)
            .send()
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        if !status.is_success() {
            // Problem+json names what is wrong in `detail` (or `title`).
            let body: serde_json::Value = response.json().unwrap_or_default();
            let detail = body["detail"]
                .as_str()
                .or(body["title"].as_str())
                .unwrap_or("no details");
            bail!("GET {url} answered {status}: {detail}");
        }
        response
            .json()
            .with_context(|| format!("GET {url}: unexpected response body"))
    }

    fn block(&self, height: u64) -> anyhow::Result<BlockResponse> {
        self.get(&format!("/v1/blocks/{height}"))
            .with_context(|| format!("block {height}: cannot fetch it"))
    }

    /// The tree size after block `height`, as listed (unverified: only to
    /// find where to start).
    fn listed_tree_size(&self, height: u64) -> anyhow::Result<u64> {
        let page: BlockPage = self.get(&format!("/v1/blocks?from={height}&limit=1"))?;
        let summary = page
            .blocks
            .first()
            .ok_or_else(|| anyhow!("the block listing has no block {height}"))?;
        summary.header["tree_size"]
            .as_u64()
            .ok_or_else(|| anyhow!("block {height}: the listing's header has no tree_size"))
    }
}

pub(super) fn run(args: UrlArgs) -> anyhow::Result<()> {
    let keys = TrustedKeys::load(&args.trust)?;
    let ledger = Ledger {
        base: args.ledger_url.trim_end_matches('/').to_owned(),
        api_key: args.api_key,
        client: reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("build the HTTP client")?,
    };
    let head: HeadResponse = ledger
        .get("/v1/head")
        .context("cannot read the chain head")?;
    let origin = args.trust.origin.as_deref();

    let mut walk = match &args.from_checkpoint {
        None => {
            let first = ledger.block(0)?;
            let block = Served::check(0, &first)?;
            let origin = keys.origin(origin, &block.head.header.origin)?;
            let verifier = ChainVerifier::from_genesis(origin, keys.ring.clone());
            Walk::new(verifier, None, Some((first, block)))
        }
        Some(note) => {
            let (trusted, origin) = open_checkpoint(note, &keys, origin)?;
            let size = trusted.checkpoint.size();
            let root = *trusted.checkpoint.root_hash();
            if size > head.tree_size {
                bail!(
                    "the ledger's head is at tree size {}, behind the trusted checkpoint's {size}: \
                     it serves an older or another log",
                    head.tree_size
                );
            }
            let height = find_block_ending_at(&ledger, size, head.height)?;
            let response = ledger.block(height)?;
            let anchor = Served::check(height, &response)?;
            let header = &anchor.head.header;
            if header.tree_size != size || header.root != root {
                bail!(
                    "block {height}: commits to tree size {} with root {}, not the trusted checkpoint's {size} with {root}",
                    header.tree_size,
                    header.root
                );
            }
            let verifier = ChainVerifier::resume_after_head(
                origin,
                keys.ring.clone(),
                &anchor.head,
                anchor.frontier.clone(),
            )?;
            Walk::new(verifier, Some((size, response.checkpoint)), None)
        }
    };

    let start = walk.verifier.next_height();
    let bar = super::progress((head.height + 1).saturating_sub(start), TEMPLATE);
    let result = walk.run(&ledger, head.height, &bar);
    bar.finish_and_clear();
    result?;
    walk.summary(start)?.print();
    Ok(())
}

/// The height of the block whose tree size is `size` or the first beyond
/// it, by binary search over the listing (heads only, O(log n) requests).
fn find_block_ending_at(ledger: &Ledger, size: u64, head_height: u64) -> anyhow::Result<u64> {
    let (mut low, mut high) = (0u64, head_height);
    while low < high {
        let mid = low + (high - low) / 2;
        if ledger.listed_tree_size(mid)? < size {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    Ok(low)
}

/// A block as served, parsed and checked against its own signed bytes.
struct Served {
    head: RecordHead,
    leaves: Vec<Hash>,
    frontier: Vec<Hash>,
}

impl Served {
    /// Rebuilds block `height` from `response`; every field the ledger
    /// serves beside the signed bytes must agree with them.
    fn check(height: u64, response: &BlockResponse) -> anyhow::Result<Served> {
        let bad = |what: String| anyhow!("block {height}: {what}");
        let signature = Signature::from_base64(&response.signature)
            .map_err(|e| bad(format!("signature: {e}")))?;
        let head = RecordHead::from_parts(
            response.signed_header.clone().into_bytes(),
            signature,
            response.checkpoint.clone(),
        )
        .map_err(|e| bad(format!("signed_header: {e}")))?;
        let header_json =
            serde_json::to_value(&head.header).map_err(|e| bad(format!("header: {e}")))?;
        if header_json != response.header {
            return Err(bad(
                "the header JSON differs from the signed header bytes".to_owned()
            ));
        }
        if response.header_hash != head.hash().to_hex() {
            return Err(bad(format!(
                "header_hash {} is not the SHA-256 of the signed header ({})",
                response.header_hash,
                head.hash()
            )));
        }
        let header: &BlockHeader = &head.header;
        let mut leaves = Vec::with_capacity(response.events.len());
        for (i, event) in response.events.iter().enumerate() {
            let want = header.first_leaf + i as u64;
            if event.leaf_index != want {
                return Err(bad(format!(
                    "event {i} has leaf_index {}, but the block's leaves start at {}",
                    event.leaf_index, header.first_leaf
                )));
            }
            leaves.push(
                Hash::from_hex(&event.leaf_hash)
                    .map_err(|e| bad(format!("leaf {want}: leaf_hash: {e}")))?,
            );
        }
        let frontier = response
            .frontier
            .iter()
            .map(|h| Hash::from_hex(h).map_err(|e| bad(format!("frontier: {e}"))))
            .collect::<anyhow::Result<Vec<Hash>>>()?;
        Ok(Served {
            head,
            leaves,
            frontier,
        })
    }
}

/// The state of a walk: the verifier and what the summary needs.
struct Walk {
    verifier: ChainVerifier,
    /// The trusted checkpoint's size, when the walk started there.
    trusted_size: Option<u64>,
    /// The checkpoint note of the newest verified block.
    checkpoint: String,
    /// Block 0, already fetched to learn the origin.
    pending: Option<(BlockResponse, Served)>,
    blocks: u64,
    events: u64,
}

impl Walk {
    fn new(
        verifier: ChainVerifier,
        trusted: Option<(u64, String)>,
        pending: Option<(BlockResponse, Served)>,
    ) -> Walk {
        let (trusted_size, checkpoint) = match trusted {
            Some((size, note)) => (Some(size), note),
            None => (None, String::new()),
        };
        Walk {
            verifier,
            trusted_size,
            checkpoint,
            pending,
            blocks: 0,
            events: 0,
        }
    }

    /// Verifies every block after the verifier's head up to `last`.
    fn run(
        &mut self,
        ledger: &Ledger,
        last: u64,
        bar: &indicatif::ProgressBar,
    ) -> anyhow::Result<()> {
        while self.verifier.next_height() <= last {
            let height = self.verifier.next_height();
            bar.set_message(format!("block {height}"));
            let (response, served) = match self.pending.take() {
                Some(fetched) => fetched,
                None => {
                    let response = ledger.block(height)?;
                    let served = Served::check(height, &response)?;
                    (response, served)
                }
            };
            let before = self.verifier.head().cloned();
            let head = self
                .verifier
                .apply_leaves(&served.head, &served.leaves)?
                .clone();
            if served.frontier != self.verifier.frontier() {
                bail!(
                    "block {height}: the served frontier is not the one recomputed from the leaves"
                );
            }
            // The log only grew: a consistency proof from the previous
            // verified tree to this one, against the verified roots.
            if let Some(previous) = before {
                let proof: ConsistencyResponse = ledger
                    .get(&format!(
                        "/v1/consistency?from={}&to={}",
                        previous.tree_size, head.tree_size
                    ))
                    .with_context(|| {
                        format!("block {height}: cannot fetch its consistency proof")
                    })?;
                let served_roots = (proof.from_root.as_str(), proof.to_root.as_str());
                if served_roots != (&previous.root.to_hex(), &head.root.to_hex()) {
                    bail!(
                        "block {height}: the consistency proof names roots {} and {}, \
                         not the verified {} (tree size {}) and {} (tree size {})",
                        proof.from_root,
                        proof.to_root,
                        previous.root,
                        previous.tree_size,
                        head.root,
                        head.tree_size
                    );
                }
                let path = proof
                    .path
                    .iter()
                    .map(|h| Hash::from_hex(h))
                    .collect::<Result<Vec<Hash>, _>>()
                    .map_err(|e| anyhow!("block {height}: consistency proof: {e}"))?;
                verify_consistency(
                    previous.tree_size,
                    head.tree_size,
                    &previous.root,
                    &head.root,
                    &path,
                )
                .map_err(|e| {
                    anyhow!(
                        "block {height}: the consistency proof from tree size {} to {} does not verify: {e}",
                        previous.tree_size,
                        head.tree_size
                    )
                })?;
            }
            self.blocks += 1;
            self.events += served.head.header.count;
            self.checkpoint = response.checkpoint;
            bar.inc(1);
        }
        Ok(())
    }

    fn summary(&self, first_height: u64) -> anyhow::Result<Summary> {
        let head = self
            .verifier
            .head()
            .cloned()
            .ok_or_else(|| anyhow!("no block was verified"))?;
        Ok(Summary {
            origin: self.verifier.origin().to_owned(),
            first_height,
            blocks: self.blocks,
            events: self.events,
            head,
            checkpoint: self.checkpoint.clone(),
            trusted_size: self.trusted_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use tracechain_chain::{Block, KeyRing};
    use tracechain_core::SigningKey;
    use tracechain_ledger::routes::BlockEvent;

    use super::*;

    /// A real two-block chain and block 1 as the ledger's API serves it.
    fn served() -> (Block, BlockResponse) {
        let key = SigningKey::from_bytes(&[6; 32]);
        let mut writer = ChainVerifier::from_genesis("example.com/log", KeyRing::default());
        let time = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
        let event = |i: usize| format!(r#"{{"n":{i}}}"#).into_bytes();
        writer
            .seal_next(vec![event(0)], Default::default(), time, &key)
            .unwrap();
        let block = writer
            .seal_next(vec![event(1), event(2)], Default::default(), time, &key)
            .unwrap();
        let header = block.header();
        let response = BlockResponse {
            header: serde_json::to_value(header).unwrap(),
            signed_header: String::from_utf8(block.header_bytes().to_vec()).unwrap(),
            header_hash: block.hash().to_hex(),
            signature: block.signature().to_base64(),
            checkpoint: block.checkpoint().to_owned(),
            topic_offset: 1,
            events: block
                .leaves()
                .iter()
                .enumerate()
                .map(|(i, leaf)| BlockEvent {
                    event_id: None,
                    event_type: None,
                    leaf_index: header.first_leaf + i as u64,
                    leaf_hash: leaf.to_hex(),
                })
                .collect(),
            frontier: writer.frontier().iter().map(Hash::to_hex).collect(),
        };
        (block, response)
    }

    #[test]
    fn a_served_block_is_rebuilt_from_its_signed_bytes() {
        let (block, response) = served();
        let rebuilt = Served::check(1, &response).unwrap();
        assert_eq!(rebuilt.head.header_bytes, block.header_bytes());
        assert_eq!(rebuilt.leaves, block.leaves());
        assert_eq!(rebuilt.frontier.len(), 2);
    }

    #[test]
    fn fields_that_disagree_with_the_signed_bytes_are_refused() {
        type Change = fn(&mut BlockResponse);
        let cases: [(&str, Change); 5] = [
            ("the header JSON differs", |r| r.header["count"] = 3.into()),
            ("header_hash", |r| r.header_hash = "00".repeat(32)),
            ("has leaf_index 7", |r| r.events[1].leaf_index = 7),
            ("signed_header", |r| {
                r.signed_header = r.signed_header.replace("{\"count\"", "{ \"count\"");
            }),
            ("signature", |r| r.signature = "AAAA".to_owned()),
        ];
        for (want, change) in cases {
            let (_, mut response) = served();
            change(&mut response);
            let err = Served::check(1, &response).err().unwrap().to_string();
            assert!(err.starts_with("block 1: "), "{want}: {err}");
            assert!(err.contains(want), "{want}: {err}");
        }
    }
}
