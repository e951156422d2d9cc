//! What every tracechain HTTP service shares, on actix-web 4:
//!
//! - [`problem`]: RFC 9457 problem+json errors and [`ApiError`], the one
//!   place per service where typed errors become HTTP;
//! - [`defaults`]: problem+json instead of actix's plain-text extractor
//!   errors, 404 and 405; [`ProblemResponses`] converts whatever is left;
//! - [`auth`]: API keys (SHA-256 hashed, constant-time lookup) and the
//!   [`Principal`] extractor with role checks;
//! - [`health`]: `/healthz`, `/readyz` with [`ReadinessCheck`]s, `/metrics`;
//! - [`metrics`]: the Prometheus registry handle services register into;
//! - [`request_id`] and [`RequestTelemetry`]: request ids, spans, W3C trace
//!   context, request logs and metrics;
//! - [`server`]: bind (port 0 allowed), run, stop gracefully on a future;
//! - [`openapi`]: the `bearer` scheme, the document built from the routes,
//!   served at `/openapi.json` and rendered at `/docs`;
//! - [`service`]: all of the above started for a service in one call;
//! - [`assets`]: static pages compiled into a binary, served with their CSP;
//! - [`negotiate`]: JSON or HTML for the same URL;
//! - [`allow`]: `Allow` on every 405, from the OpenAPI document.
//!
//! [`app()`] builds an `App` with all of it in one call.

pub mod allow;
pub mod app;
pub mod assets;
pub mod auth;
pub mod defaults;
pub mod gate;
pub mod health;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod problem;
pub mod problem_responses;
pub mod request_id;
pub mod request_telemetry;
pub mod server;
pub mod service;

pub use app::{HttpDefaults, app};
pub use auth::{
    ApiKeyEntry, ApiKeyEntryError, ApiKeyTable, ApiKeyTableError, AuthError, Principal,
    generate_api_key,
};
pub use defaults::{Limits, configure_defaults, method_not_allowed};
pub use gate::ServingGate;
pub use health::{Readiness, ReadinessCheck, check_fn};
pub use metrics::Metrics;
pub use openapi::{ApiDocs, BearerAuth};
pub use problem::{ApiError, FieldError, Problem};
pub use problem_responses::ProblemResponses;
pub use request_id::RequestId;
pub use request_telemetry::RequestTelemetry;
pub use server::{HttpSettings, Server, ServerError, bind, shutdown_signal};
pub use service::start_service;

#[doc(hidden)]
pub mod __private {
    pub use actix_web;
}
