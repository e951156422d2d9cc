//! [`ServingGate`]: answers a service's data routes with 503 while the
//! state they are answered from is known to be partial — a projection
//! being rebuilt after its store lost everything — instead of answering
//! "not found" for records that exist, or accepting what the lost state
//! would have refused.
//!
//! Health, readiness, metrics, API documents and static pages stay
//! served: only paths under the data prefixes (`/v1/`, and the GS1
//! resolvers `/00/` and `/01/`) are gated. The refusal is problem+json with
//! `Retry-After: 1`, like every other passing unavailability.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::StatusCode;

use crate::problem::Problem;

/// The path prefixes a gate closes.
const DATA_PREFIXES: [&str; 3] = ["/v1/", "/00/", "/01/"];

/// Whether data requests may be answered; always open by default.
#[derive(Debug, Clone, Default)]
pub struct ServingGate {
    /// `None`: nothing to wait for. `Some(flag)`: closed while `flag` is true.
    closed: Option<Arc<AtomicBool>>,
}

impl ServingGate {
    /// A gate closed exactly while `partial` is true.
    pub fn closed_while(partial: Arc<AtomicBool>) -> ServingGate {
        ServingGate {
            closed: Some(partial),
        }
    }

    /// The refusal for a request to `path`, or `None` to serve it.
    pub fn refusal(&self, path: &str) -> Option<Problem> {
        let closed = self.closed.as_ref()?;
        if !closed.load(Ordering::Acquire) || !DATA_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return None;
        }
        Some(rebuilding_problem())
    }
}

/// The 503 for a request that needs state being rebuilt: what the gate
/// answers, and what a handler answers when it finds the state partial
/// itself before the gate closed.
pub fn rebuilding_problem() -> Problem {
    Problem::typed(
        StatusCode::SERVICE_UNAVAILABLE,
        "state-rebuilding",
        "State being rebuilt",
    )
    .with_detail("this service is rebuilding its state from the event log; retry shortly")
    .with_header("retry-after", "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_gate_never_refuses() {
        assert!(ServingGate::default().refusal("/v1/products").is_none());
    }

    #[test]
    fn a_closed_gate_refuses_data_routes_only() {
        let flag = Arc::new(AtomicBool::new(true));
        let gate = ServingGate::closed_while(Arc::clone(&flag));
        for path in [
            "/v1/shipments",
            "/00/106141411234567897",
            "/01/09506000134352",
        ] {
            let problem = gate.refusal(path).expect("refused while rebuilding");
            assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/docs",
            "/scan",
        ] {
            assert!(gate.refusal(path).is_none(), "{path} stays served");
        }
        flag.store(false, Ordering::Release);
        assert!(gate.refusal("/v1/shipments").is_none(), "open once rebuilt");
    }
}
