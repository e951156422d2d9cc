//! The ledger's HTTP API, registered through `utoipa-actix-web` so every
//! route is in the OpenAPI document.
//!
//! Public: `/v1/keys` and `/v1/checkpoint` (what witnesses and verifiers
//! start from). Every other route needs an API key of any role: headers,
//! hashes and proofs are readable by every authenticated principal; an
//! event's body only by a principal entitled to it ([`may_read`]).
//!
//! Hashes are lowercase hex; signatures and public keys base64; times UTC
//! RFC 3339.

use std::sync::Arc;

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use tracechain_chain::{Block, BlockHeader};
use tracechain_domain::{Envelope, Role};
use tracechain_http::{Principal, Problem};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::error::LedgerError;
use crate::state::LedgerState;

/// Registers every documented route.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(get_head)
        .service(get_checkpoint)
        .service(get_keys)
        .service(list_blocks)
        .service(get_block)
        .service(get_event)
        .service(event_proof)
        .service(get_consistency)
        .service(get_status);
}

/// Default page size of the block listing.
const DEFAULT_LIMIT: u64 = 20;
/// Largest page size of the block listing.
const MAX_LIMIT: u64 = 100;

/// The chain head.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeadResponse {
    /// The chain's origin.
    pub origin: String,
    /// Height of the newest block.
    pub height: u64,
    /// Leaves in the log.
    pub tree_size: u64,
    /// RFC 9162 root (hex).
    pub root: String,
    /// When the block was cut.
    pub time: String,
    /// The signing key's id.
    pub key_id: String,
    /// SHA-256 of the header's canonical bytes (hex).
    pub header_hash: String,
    /// ed25519 signature over the header's canonical bytes (base64).
    pub signature: String,
}

/// One public key of the chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyResponse {
    /// First 8 bytes of SHA-256(public key), hex: what headers name.
    pub key_id: String,
    /// Always `ed25519`.
    pub algorithm: String,
    /// The raw 32-byte public key, base64.
    pub public_key: String,
    /// The public key as SPKI PEM.
    pub public_key_pem: String,
    /// The C2SP note verifier key for checkpoints (`<origin>+<hash>+<key>`).
    pub note_verifier_key: String,
    /// Whether new blocks are signed with it.
    pub current: bool,
}

/// The chain's public keys.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeysResponse {
    /// The chain's origin.
    pub origin: String,
    /// Every key whose blocks verify, current first.
    pub keys: Vec<KeyResponse>,
}

/// A block without its events.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockSummary {
    /// The header as JSON.
    #[schema(value_type = Object)]
    pub header: serde_json::Value,
    /// SHA-256 of the header's canonical bytes (hex).
    pub header_hash: String,
    /// ed25519 signature over the header's canonical bytes (base64).
    pub signature: String,
}

/// A page of blocks in height order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockPage {
    /// The blocks.
    pub blocks: Vec<BlockSummary>,
    /// `from` of the next page; absent on the last.
    pub next_from: Option<u64>,
}

/// An event's place in a block.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockEvent {
    /// The event id.
    pub event_id: Option<Uuid>,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Its leaf index.
    pub leaf_index: u64,
    /// Its RFC 6962 leaf hash (hex).
    pub leaf_hash: String,
}

/// A whole block: what a verifier needs, without the event bodies.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockResponse {
    /// The header as JSON.
    #[schema(value_type = Object)]
    pub header: serde_json::Value,
    /// The header's exact canonical bytes (RFC 8785), which the signature covers.
    pub signed_header: String,
    /// SHA-256 of `signed_header` (hex).
    pub header_hash: String,
    /// ed25519 signature over `signed_header` (base64).
    pub signature: String,
    /// The C2SP tlog-checkpoint signed note for the block's tree.
    pub checkpoint: String,
    /// Where the block sits in `ledger.blocks`.
    pub topic_offset: i64,
    /// The block's events in leaf order.
    pub events: Vec<BlockEvent>,
    /// The log's frontier after the block (hex): the perfect subtrees that
    /// fold to `root`; lets a verifier continue from this block.
    pub frontier: Vec<String>,
}

/// An anchored event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventResponse {
    /// The event id.
    pub event_id: Uuid,
    /// Its leaf index (its global sequence number).
    pub leaf_index: u64,
    /// The height of its block.
    pub block_height: u64,
    /// Its leaf hash: SHA-256(0x00 ‖ canonical bytes), hex.
    pub leaf_hash: String,
    /// The event envelope, for principals entitled to it.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

/// An RFC 9162 inclusion proof.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProofResponse {
    /// The event id.
    pub event_id: Uuid,
    /// The leaf index.
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The leaf hash (hex).
    pub leaf_hash: String,
    /// The root at `tree_size` (hex).
    pub root: String,
    /// The audit path, leaf to root (hex).
    pub path: Vec<String>,
    /// The signed checkpoint for `tree_size` when a block ends there.
    pub checkpoint: Option<String>,
}

/// An RFC 9162 consistency proof.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyResponse {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// Root at `from` (hex).
    pub from_root: String,
    /// Root at `to` (hex).
    pub to_root: String,
    /// The proof (hex).
    pub path: Vec<String>,
}

/// What this instance is doing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusResponse {
    /// `writer` or `standby`.
    pub role: String,
    /// Whether it has read the blocks topic to its end at least once.
    pub caught_up: bool,
    /// Whether the block store failed (the instance must be restarted).
    pub failed: bool,
    /// Height of the stored head.
    pub height: Option<u64>,
    /// Leaves stored.
    pub tree_size: u64,
    /// Times this instance started writing.
    pub writer_terms: u64,
}

fn header_json(header: &BlockHeader) -> serde_json::Value {
    serde_json::to_value(header).unwrap_or(serde_json::Value::Null)
}

fn parse_u64(parameter: &'static str, text: Option<&str>) -> Result<Option<u64>, LedgerError> {
    text.map(|t| {
        t.parse::<u64>().map_err(|_| {
            LedgerError::parameter(parameter, format!("{t:?} is not a non-negative integer"))
        })
    })
    .transpose()
}

fn parse_event_id(text: &str) -> Result<Uuid, LedgerError> {
    Uuid::try_parse(text)
        .map_err(|_| LedgerError::parameter("event_id", format!("{text:?} is not a UUID")))
}

/// Whether `principal` may read `envelope`'s body: auditors and admins all;
/// everyone else — finance included — the events naming their tenant among
/// its parties. (Freight charges between other tenants are their commercial
/// business: a finance team reconciles its own tenant's postings only.)
pub fn may_read(principal: &Principal, envelope: &Envelope) -> bool {
    match principal.role {
        Role::Auditor | Role::Admin => true,
        _ => envelope.is_visible_to(&principal.tenant),
    }
}

/// The latest signed head.
#[utoipa::path(
    tag = "chain",
    responses(
        (status = 200, description = "The newest block's commitments.", body = HeadResponse),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No block yet.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/head")]
pub(crate) async fn get_head(
    state: web::Data<LedgerState>,
    _principal: Principal,
) -> Result<HttpResponse, LedgerError> {
    let head = state.store.head().ok_or(LedgerError::EmptyChain)?;
    Ok(HttpResponse::Ok().json(HeadResponse {
        origin: head.header.origin.clone(),
        height: head.header.height,
        tree_size: head.header.tree_size,
        root: head.header.root.to_hex(),
        time: head.header.time.clone(),
        key_id: head.header.key_id.to_string(),
        header_hash: head.hash.to_hex(),
        signature: head.signature.to_base64(),
    }))
}

/// The latest C2SP tlog-checkpoint signed note (public).
#[utoipa::path(
    tag = "chain",
    responses(
        (status = 200, description = "The signed note.", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "No block yet.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/checkpoint")]
pub(crate) async fn get_checkpoint(
    state: web::Data<LedgerState>,
) -> Result<HttpResponse, LedgerError> {
    let head = state.store.head().ok_or(LedgerError::EmptyChain)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(head.checkpoint.clone()))
}

/// The public keys that sign the chain (public).
#[utoipa::path(
    tag = "chain",
    responses((status = 200, description = "Keys by id.", body = KeysResponse)),
)]
#[get("/v1/keys")]
pub(crate) async fn get_keys(state: web::Data<LedgerState>) -> HttpResponse {
    HttpResponse::Ok().json(&*state.keys)
}

/// `from` and `limit` of the block listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BlockListQuery {
    /// First height (default 0).
    #[param(value_type = Option<u64>)]
    pub from: Option<String>,
    /// Blocks per page, 1 to 100 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// Blocks in height order, without their events.
#[utoipa::path(
    tag = "blocks",
    params(BlockListQuery),
    responses(
        (status = 200, description = "A page of blocks.", body = BlockPage),
        (status = 400, description = "A parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/blocks")]
pub(crate) async fn list_blocks(
    state: web::Data<LedgerState>,
    _principal: Principal,
    query: web::Query<BlockListQuery>,
) -> Result<HttpResponse, LedgerError> {
    let from = parse_u64("from", query.from.as_deref())?.unwrap_or(0);
    let limit = parse_u64("limit", query.limit.as_deref())?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(LedgerError::parameter(
            "limit",
            format!("must be 1 to {MAX_LIMIT}"),
        ));
    }
    let store = Arc::clone(&state.store);
    let page = web::block(move || -> Result<BlockPage, LedgerError> {
        let next_height = store.head().map_or(0, |h| h.header.height + 1);
        let end = from.saturating_add(limit).min(next_height);
        let mut blocks = Vec::new();
        for height in from..end {
            let stored = store
                .block_head(height)?
                .ok_or(LedgerError::BlockNotFound(height))?;
            blocks.push(BlockSummary {
                header: header_json(&stored.head.header),
                header_hash: stored.head.hash().to_hex(),
                signature: stored.head.signature.to_base64(),
            });
        }
        Ok(BlockPage {
            blocks,
            next_from: (end < next_height).then_some(end),
        })
    })
    .await
    .map_err(|_| {
        LedgerError::Store(crate::store::StoreError::Index("worker failed".to_owned()))
    })??;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Deserialize)]
struct IdAndType {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
}

fn block_response(block: &Block, topic_offset: i64, frontier: Vec<String>) -> BlockResponse {
    let header = block.header();
    let events = block
        .events()
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let meta = serde_json::from_slice::<IdAndType>(bytes).ok();
            BlockEvent {
                event_id: meta.as_ref().map(|m| m.id),
                event_type: meta.map(|m| m.event_type),
                leaf_index: header.first_leaf + i as u64,
                leaf_hash: tracechain_core::leaf_hash(bytes).to_hex(),
            }
        })
        .collect();
    BlockResponse {
        header: header_json(header),
        signed_header: String::from_utf8_lossy(block.header_bytes()).into_owned(),
        header_hash: block.hash().to_hex(),
        signature: block.signature().to_base64(),
        checkpoint: block.checkpoint().to_owned(),
        topic_offset,
        events,
        frontier,
    }
}

/// One block: header, signature, checkpoint, leaf hashes and event ids.
#[utoipa::path(
    tag = "blocks",
    params(("height" = u64, Path, description = "The block's height.")),
    responses(
        (status = 200, description = "The block.", body = BlockResponse),
        (status = 400, description = "The height is not a number.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No block at this height.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/blocks/{height}")]
pub(crate) async fn get_block(
    state: web::Data<LedgerState>,
    _principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, LedgerError> {
    let height = parse_u64("height", Some(&path))?.unwrap_or_default();
    let store = Arc::clone(&state.store);
    let response = web::block(move || -> Result<BlockResponse, LedgerError> {
        let block = store
            .block(height)?
            .ok_or(LedgerError::BlockNotFound(height))?;
        let offset = store.topic_offset(height)?.unwrap_or(-1);
        let frontier = store
            .frontier(block.header().tree_size)?
            .iter()
            .map(|h| h.to_hex())
            .collect();
        Ok(block_response(&block, offset, frontier))
    })
    .await
    .map_err(|_| {
        LedgerError::Store(crate::store::StoreError::Index("worker failed".to_owned()))
    })??;
    Ok(HttpResponse::Ok().json(response))
}

/// The stored event `id`, if the caller may read it.
fn readable_event(
    state: &LedgerState,
    principal: &Principal,
    id: Uuid,
) -> Result<(crate::store::StoredEvent, Envelope), LedgerError> {
    let not_found = || LedgerError::EventNotFound(id.to_string());
    let stored = state.store.event(id)?.ok_or_else(not_found)?;
    let envelope: Envelope = serde_json::from_slice(&stored.bytes).map_err(|_| not_found())?;
    if !may_read(principal, &envelope) {
        return Err(not_found());
    }
    Ok((stored, envelope))
}

/// An anchored event with its leaf index and block height.
#[utoipa::path(
    tag = "events",
    params(("event_id" = Uuid, Path, description = "The event id.")),
    responses(
        (status = 200, description = "The event.", body = EventResponse),
        (status = 400, description = "Not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not anchored, or not readable by the caller.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/events/{event_id}")]
pub(crate) async fn get_event(
    state: web::Data<LedgerState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, LedgerError> {
    let id = parse_event_id(&path)?;
    let (stored, _) = readable_event(&state, &principal, id)?;
    let event: serde_json::Value = serde_json::from_slice(&stored.bytes)
        .map_err(|_| LedgerError::EventNotFound(id.to_string()))?;
    Ok(HttpResponse::Ok().json(EventResponse {
        event_id: id,
        leaf_index: stored.leaf_index,
        block_height: stored.height,
        leaf_hash: tracechain_core::leaf_hash(&stored.bytes).to_hex(),
        event,
    }))
}

/// `tree_size` of a proof.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// The tree size to prove against (default: the latest).
    #[param(value_type = Option<u64>)]
    pub tree_size: Option<String>,
}

/// RFC 9162 inclusion proof of an event against a tree size (for every
/// authenticated principal: it carries the leaf hash, not the body).
#[utoipa::path(
    tag = "events",
    params(("event_id" = Uuid, Path, description = "The event id."), ProofQuery),
    responses(
        (status = 200, description = "The proof.", body = ProofResponse),
        (status = 400, description = "Not a UUID, or a tree size that does not contain the event or is beyond the log.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not anchored.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/events/{event_id}/proof")]
pub(crate) async fn event_proof(
    state: web::Data<LedgerState>,
    _principal: Principal,
    path: web::Path<String>,
    query: web::Query<ProofQuery>,
) -> Result<HttpResponse, LedgerError> {
    let id = parse_event_id(&path)?;
    // Proofs, like hashes and headers, are for every authenticated
    // principal: a proof reveals the leaf hash, never the body.
    let stored = state
        .store
        .event(id)?
        .ok_or_else(|| LedgerError::EventNotFound(id.to_string()))?;
    let size = match parse_u64("tree_size", query.tree_size.as_deref())? {
        Some(size) => size,
        None => state.store.tree_size(),
    };
    if size <= stored.leaf_index {
        return Err(LedgerError::parameter(
            "tree_size",
            format!(
                "a tree of {size} leaves does not contain leaf {}",
                stored.leaf_index
            ),
        ));
    }
    // Inline, not on the blocking pool: a proof reads a few tiles (tens of
    // microseconds), less than the hop to another thread costs.
    let store = &state.store;
    let response = {
        let (proof, root) = store.inclusion_proof_and_root(stored.leaf_index, size)?;
        let checkpoint = match store.head() {
            Some(head) if head.header.tree_size == size => Some(head.checkpoint.clone()),
            _ => match store.height_of_leaf(size - 1)? {
                Some(height) => store
                    .block_head(height)?
                    .filter(|b| b.head.header.tree_size == size)
                    .map(|b| b.head.checkpoint),
                None => None,
            },
        };
        ProofResponse {
            event_id: id,
            leaf_index: stored.leaf_index,
            tree_size: size,
            leaf_hash: tracechain_core::leaf_hash(&stored.bytes).to_hex(),
            root: root.to_hex(),
            path: proof.path.iter().map(|h| h.to_hex()).collect(),
            checkpoint,
        }
    };
    Ok(HttpResponse::Ok().json(response))
}

/// `from` and `to` of a consistency proof.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size (at least 1).
    #[param(value_type = u64)]
    pub from: Option<String>,
    /// The newer tree size (default: the latest).
    #[param(value_type = Option<u64>)]
    pub to: Option<String>,
}

/// RFC 9162 consistency proof between two tree sizes.
#[utoipa::path(
    tag = "chain",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof.", body = ConsistencyResponse),
        (status = 400, description = "Sizes missing, out of order or beyond the log.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/consistency")]
pub(crate) async fn get_consistency(
    state: web::Data<LedgerState>,
    _principal: Principal,
    query: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, LedgerError> {
    let from = parse_u64("from", query.from.as_deref())?
        .ok_or_else(|| LedgerError::parameter("from", "is required"))?;
    let to = parse_u64("to", query.to.as_deref())?.unwrap_or_else(|| state.store.tree_size());
    if from == 0 || from > to {
        return Err(LedgerError::parameter(
            "from",
            format!("must be 1 to `to` ({to})"),
        ));
    }
    let have = state.store.tree_size();
    if to > have {
        return Err(LedgerError::parameter(
            "to",
            format!("the log holds {have} leaves"),
        ));
    }
    let store = Arc::clone(&state.store);
    let response = web::block(move || -> Result<ConsistencyResponse, LedgerError> {
        let proof = store.consistency_proof(from, to)?;
        Ok(ConsistencyResponse {
            from,
            to,
            from_root: store.root_at(from)?.to_hex(),
            to_root: store.root_at(to)?.to_hex(),
            path: proof.path.iter().map(|h| h.to_hex()).collect(),
        })
    })
    .await
    .map_err(|_| {
        LedgerError::Store(crate::store::StoreError::Index("worker failed".to_owned()))
    })??;
    Ok(HttpResponse::Ok().json(response))
}

/// This instance's role and progress.
#[utoipa::path(
    tag = "chain",
    responses(
        (status = 200, description = "The status.", body = StatusResponse),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/status")]
pub(crate) async fn get_status(
    state: web::Data<LedgerState>,
    _principal: Principal,
) -> HttpResponse {
    let head = state.store.head();
    HttpResponse::Ok().json(StatusResponse {
        role: if state.status.is_writer() {
            "writer"
        } else {
            "standby"
        }
        .to_owned(),
        caught_up: state.status.is_caught_up(),
        failed: state.status.has_failed(),
        height: head.as_ref().map(|h| h.header.height),
        tree_size: head.map_or(0, |h| h.header.tree_size),
        writer_terms: state.status.writer_terms(),
    })
}
