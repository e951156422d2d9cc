//! Infrastructure failures as HTTP problems.
//!
//! A publish the broker did not acknowledge, or a store call that did not
//! complete, is a 503 with `Retry-After`: the client may retry (with its
//! `Idempotency-Key`), and nothing was reported done that is not. The
//! details of the failure are logged, not sent.

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use tracechain_bus::BusError;
use tracechain_http::Problem;
use tracechain_store::StoreError;

/// Seconds a client is asked to wait before retrying.
const RETRY_AFTER_SECS: &str = "2";

fn unavailable(slug: &str, title: &str, detail: &str) -> Problem {
    Problem::typed(StatusCode::SERVICE_UNAVAILABLE, slug, title)
        .with_detail(detail)
        .with_header(RETRY_AFTER.as_str(), RETRY_AFTER_SECS)
}

/// The problem for a bus failure: the event was not acknowledged, so
/// nothing happened; retry later.
pub fn bus_problem(error: &BusError) -> Problem {
    tracing::warn!(%error, "Event bus unavailable");
    unavailable(
        "event-bus-unavailable",
        "Event bus unavailable",
        "the event could not be recorded because the event bus did not acknowledge it; nothing was changed, retry later",
    )
}

/// The problem for a store failure.
pub fn store_problem(error: &StoreError) -> Problem {
    tracing::warn!(%error, "State store unavailable");
    unavailable(
        "state-store-unavailable",
        "State store unavailable",
        "the state store did not answer; nothing was changed, retry later",
    )
}
