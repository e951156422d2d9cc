//! `tracechain verify store <DATA_DIR>`: every block of a ledger's block
//! store, read from its segment files by [`StoreScan`] (read-only, without
//! the index) and checked by [`ChainVerifier::apply`]: height, `prev_hash`
//! link, origin, first leaf, header signature, the root recomputed from the
//! stored events' leaf hashes, and the checkpoint note. Topic offsets must
//! increase, as a ledger stores blocks in `ledger.blocks` order.
//!
//! # `--from-checkpoint`
//!
//! Verifying from a trusted checkpoint needs the Merkle frontier at its tree
//! size. A store holds that frontier only in its index, which this command
//! does not trust, so the frontier is recomputed from the events of the
//! blocks before the checkpoint. Those blocks get every check that needs no
//! key — height, `prev_hash` link, first leaf, root recomputed from their
//! events — but not their signatures or checkpoint notes: the trusted
//! checkpoint vouches for them instead, since their leaves must fold to its
//! root. The block that ends at the checkpoint's size must commit to that
//! root under a trusted key, and the blocks after it are verified in full.
//! So the option saves the signature checks of the earlier blocks, not the
//! reading of them: it is for chains whose early blocks were signed with
//! keys no longer at hand, or that were verified before. (`verify url`
//! takes the frontier from the ledger instead, checked the same way against
//! the trusted root, and does not fetch the earlier blocks at all.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::Args;
use indicatif::ProgressBar;
use tracechain_chain::{ChainVerifier, GENESIS_PREV_HASH};
use tracechain_core::MerkleAccumulator;
use tracechain_ledger::store::{ScanError, ScannedBlock, StoreScan};

use super::Summary;
use super::trust::{TrustArgs, TrustedKeys, open_checkpoint};

/// How long to wait for a final frame a running ledger may be appending.
const TAIL_WAIT: Duration = Duration::from_secs(2);

const TEMPLATE: &str =
    "{spinner} verifying {msg:<12} [{wide_bar}] {binary_bytes}/{binary_total_bytes} ({eta})";

#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The ledger's data directory (its `chain.data_dir`, which holds
    /// `blocks/`), or that `blocks/` directory.
    #[arg(value_name = "DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// Trust this signed checkpoint note (e.g. saved from /v1/checkpoint)
    /// once its signature verifies: verify in full only the blocks after the
    /// one that ends at its tree size. Earlier blocks are checked without
    /// their signatures: links and roots, which must lead to the
    /// checkpoint's root.
    #[arg(long, value_name = "NOTE_FILE")]
    from_checkpoint: Option<PathBuf>,
}

pub(super) fn run(args: StoreArgs) -> anyhow::Result<()> {
    let keys = TrustedKeys::load(&args.trust)?;
    let dir = store_dir(&args.data_dir);
    let scan = StoreScan::open(&dir)?.with_tail_wait(TAIL_WAIT);
    let bar = super::progress(scan.total_bytes(), TEMPLATE);
    let mut blocks = Blocks {
        scan,
        bar: &bar,
        height: 0,
        last_topic_offset: None,
    };
    let result = match &args.from_checkpoint {
        None => from_genesis(&mut blocks, &keys, args.trust.origin.as_deref(), &dir),
        Some(note) => from_checkpoint(&mut blocks, &keys, args.trust.origin.as_deref(), note),
    };
    bar.finish_and_clear();
    result?.print();
    Ok(())
}

/// The store directory: `path` itself, or its parent when `path` is the
/// `blocks/` directory.
fn store_dir(path: &Path) -> PathBuf {
    let holds_segments = path.join("seg-00000000.tcb").is_file();
    match path.parent() {
        Some(parent) if holds_segments && !path.join("blocks").is_dir() => parent.to_owned(),
        _ => path.to_owned(),
    }
}

/// The scanned blocks, with the checks that need only the frames.
struct Blocks<'a> {
    scan: StoreScan,
    bar: &'a ProgressBar,
    /// Height of the next block: the number of frames read so far.
    height: u64,
    last_topic_offset: Option<i64>,
}

impl Blocks<'_> {
    /// The next block and its height, or `None` at the end of the store.
    fn next(&mut self) -> anyhow::Result<Option<(u64, ScannedBlock)>> {
        let height = self.height;
        let scanned = match self.scan.next() {
            None => return Ok(None),
            Some(Ok(scanned)) => scanned,
            // Its message already starts with `block N:`.
            Some(Err(ScanError::BadFrame(bad))) => return Err(anyhow!(bad)),
            Some(Err(error)) => return Err(anyhow!("block {height}: {error}")),
        };
        if let Some(previous) = self.last_topic_offset
            && scanned.topic_offset <= previous
        {
            bail!(
                "block {height}: its offset in ledger.blocks ({}) is not after block {}'s ({previous})",
                scanned.topic_offset,
                height - 1
            );
        }
        self.last_topic_offset = Some(scanned.topic_offset);
        self.height += 1;
        self.bar.set_position(self.scan.bytes_read());
        self.bar.set_message(format!("block {height}"));
        Ok(Some((height, scanned)))
    }
}

fn from_genesis(
    blocks: &mut Blocks<'_>,
    keys: &TrustedKeys,
    origin: Option<&str>,
    dir: &Path,
) -> anyhow::Result<Summary> {
    let Some((_, first)) = blocks.next()? else {
        bail!("{} holds no blocks", dir.display());
    };
    let origin = keys.origin(origin, &first.block.header().origin)?;
    let verifier = ChainVerifier::from_genesis(origin, keys.ring.clone());
    verify_rest(blocks, verifier, Some(first), None)
}

fn from_checkpoint(
    blocks: &mut Blocks<'_>,
    keys: &TrustedKeys,
    origin: Option<&str>,
    note: &Path,
) -> anyhow::Result<Summary> {
    let (trusted, origin) = open_checkpoint(note, keys, origin)?;
    let size = trusted.checkpoint.size();
    let root = *trusted.checkpoint.root_hash();
    // The frontier at the checkpoint, from the earlier blocks' events (see
    // the module docs for why not from the index).
    let mut log = MerkleAccumulator::new();
    let mut prev_hash = GENESIS_PREV_HASH;
    let (height, anchor) = loop {
        let Some((height, scanned)) = blocks.next()? else {
            bail!(
                "the store ends at tree size {}, before the trusted checkpoint's {size}: \
                 it lacks blocks the ledger anchored, or holds another log",
                log.size()
            );
        };
        // What can be checked without keys: height, link, first leaf, and
        // the root recomputed from the events (which names the first block
        // whose events changed, rather than only the checkpoint's block).
        let header = scanned.block.header();
        if header.height != height {
            bail!("block {height}: its header says height {}", header.height);
        }
        if header.prev_hash != prev_hash {
            bail!(
                "block {height}: prev_hash {} is not the hash of the previous header ({prev_hash})",
                header.prev_hash
            );
        }
        if header.first_leaf != log.size() {
            bail!(
                "block {height}: first_leaf is {} but the blocks before it end at leaf {}",
                header.first_leaf,
                log.size()
            );
        }
        for leaf in scanned.block.leaves() {
            log.append(*leaf)
                .map_err(|e| anyhow!("block {height}: {e}"))?;
        }
        if log.root() != header.root {
            bail!(
                "block {height}: root recomputed from the events is {} but the header says {}",
                log.root(),
                header.root
            );
        }
        prev_hash = scanned.block.hash();
        if log.size() >= size {
            break (height, scanned);
        }
    };
    let header = anchor.block.header();
    if header.tree_size != size {
        bail!(
            "block {height}: holds leaves {}..{}, so no block ends at the trusted checkpoint's tree size {size}",
            header.first_leaf,
            header.tree_size
        );
    }
    if log.root() != root {
        bail!(
            "block {height}: the events up to tree size {size} give root {}, but the trusted checkpoint says {root}",
            log.root()
        );
    }
    let verifier = ChainVerifier::resume_after(
        origin,
        keys.ring.clone(),
        &anchor.block,
        log.frontier().to_vec(),
    )?;
    let checkpoint = anchor.block.checkpoint().to_owned();
    verify_rest(blocks, verifier, None, Some((size, checkpoint)))
}

/// Applies `first` (if any) and every remaining block to `verifier`.
/// `trusted` is the trusted checkpoint's size and its block's note when the
/// verifier resumed after it.
fn verify_rest(
    blocks: &mut Blocks<'_>,
    mut verifier: ChainVerifier,
    first: Option<ScannedBlock>,
    trusted: Option<(u64, String)>,
) -> anyhow::Result<Summary> {
    let first_height = verifier.next_height();
    let (trusted_size, mut checkpoint) = match trusted {
        Some((size, note)) => (Some(size), note),
        None => (None, String::new()),
    };
    let (mut count, mut events) = (0u64, 0u64);
    let mut pending = first;
    loop {
        let scanned = match pending.take() {
            Some(scanned) => scanned,
            None => match blocks.next()? {
                Some((_, scanned)) => scanned,
                None => break,
            },
        };
        verifier.apply(&scanned.block)?;
        count += 1;
        events += scanned.block.header().count;
        checkpoint = scanned.block.checkpoint().to_owned();
    }
    let head = verifier
        .head()
        .cloned()
        .ok_or_else(|| anyhow!("no block was verified"))?;
    Ok(Summary {
        origin: verifier.origin().to_owned(),
        first_height,
        blocks: count,
        events,
        head,
        checkpoint,
        trusted_size,
    })
}
