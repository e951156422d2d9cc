//! `Idempotency-Key` on every registry POST: the shared protocol
//! ([`tracechain_runtime::idempotency`]) with the registry's store and
//! retention.

use std::future::Future;

use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use tracechain_http::Principal;
pub use tracechain_runtime::idempotency::{IDEMPOTENCY_KEY, REPLAYED, Reply};

use crate::error::RegistryError;
use crate::state::AppState;

/// Runs `work` once per `Idempotency-Key`.
pub async fn idempotent<T, F, Fut>(
    state: &AppState,
    principal: &Principal,
    req: &HttpRequest,
    request: &T,
    work: F,
) -> Result<HttpResponse, RegistryError>
where
    T: Serialize,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Reply, RegistryError>>,
{
    tracechain_runtime::idempotency::idempotent(
        state.store.as_ref(),
        state.limits.idempotency_retention(),
        principal,
        req,
        request,
        work,
    )
    .await
}
