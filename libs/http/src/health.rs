//! Liveness (`/healthz`), readiness (`/readyz`) and metrics (`/metrics`).
//!
//! Liveness says only that the process serves HTTP. Readiness runs every
//! registered [`ReadinessCheck`] concurrently, each bounded by a timeout; any
//! failure answers 503 problem+json naming the failing checks (the error
//! text is logged with `%error` and counted in
//! `http_readiness_check_failures_total`, never sent). Metrics are served in
//! Prometheus text format 0.0.4, or OpenMetrics when the scraper asks for it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, CONTENT_TYPE};
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use futures::future::{BoxFuture, join_all};
use serde::Serialize;

use crate::metrics::{Metrics, OPENMETRICS_TEXT, PROMETHEUS_TEXT};
use crate::problem::Problem;

/// The default time one readiness check may take.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The error a readiness check reports.
pub type CheckError = Box<dyn std::error::Error + Send + Sync>;

/// A dependency the service needs before it can take traffic (broker, store, ...).
pub trait ReadinessCheck: Send + Sync + 'static {
    /// A short stable name, e.g. `broker`; shown to clients and used as a metric label.
    fn name(&self) -> &str;

    /// `Ok` when the dependency is usable.
    fn check(&self) -> BoxFuture<'_, Result<(), CheckError>>;
}

/// A readiness check from a name and an async closure.
pub fn check_fn<F, Fut>(name: impl Into<String>, f: F) -> Arc<dyn ReadinessCheck>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), CheckError>> + Send + 'static,
{
    Arc::new(FnCheck {
        name: name.into(),
        f,
    })
}

struct FnCheck<F> {
    name: String,
    f: F,
}

impl<F, Fut> ReadinessCheck for FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), CheckError>> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> BoxFuture<'_, Result<(), CheckError>> {
        Box::pin((self.f)())
    }
}

/// The checks `/readyz` runs; cheap to clone.
#[derive(Clone)]
pub struct Readiness {
    /// The checks, run concurrently.
    checks: Arc<Vec<Arc<dyn ReadinessCheck>>>,
    /// The most time one check may take before it counts as failed.
    timeout: Duration,
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.checks.iter().map(|c| c.name()).collect();
        f.debug_struct("Readiness")
            .field("checks", &names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            checks: Arc::new(Vec::new()),
            timeout: DEFAULT_CHECK_TIMEOUT,
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The dependency is usable.
    Ok,
    /// The check returned an error.
    Failed,
    /// The check took longer than the timeout.
    Timeout,
}

/// One check's name and outcome, as reported by `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// Its outcome.
    pub status: CheckStatus,
}

impl Readiness {
    /// No checks: always ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check.
    pub fn with_check(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        Arc::make_mut(&mut self.checks).push(check);
        self
    }

    /// Sets the per-check timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs every check concurrently; failures are logged and, with
    /// `metrics`, counted.
    pub async fn run(&self, metrics: Option<&Metrics>) -> Vec<CheckResult> {
        let runs = self.checks.iter().map(|check| async move {
            let status = match tokio::time::timeout(self.timeout, check.check()).await {
                Ok(Ok(())) => CheckStatus::Ok,
                Ok(Err(error)) => {
                    tracing::warn!(check = check.name(), error = %error, "Readiness check failed");
                    CheckStatus::Failed
                }
                Err(_) => {
                    tracing::warn!(
                        check = check.name(),
                        timeout_ms = self.timeout.as_millis() as u64,
                        "Readiness check timed out"
                    );
                    CheckStatus::Timeout
                }
            };
            if status != CheckStatus::Ok
                && let Some(metrics) = metrics
            {
                metrics.record_readiness_failure(check.name());
            }
            CheckResult {
                name: check.name().to_owned(),
                status,
            }
        });
        join_all(runs).await
    }
}

/// Registers `/healthz`, `/readyz` and `/metrics`. `/readyz` uses the
/// `web::Data<Readiness>` app data (none: always ready); `/metrics` the
/// `web::Data<Metrics>` app data (none: 404).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// Liveness: 200 `{"status":"ok"}`.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: 200 with each check's result, or a 503 problem naming the failures.
pub async fn readyz(req: HttpRequest) -> HttpResponse {
    let readiness = req
        .app_data::<web::Data<Readiness>>()
        .map(|r| r.get_ref().clone())
        .unwrap_or_default();
    let metrics = req.app_data::<web::Data<Metrics>>();
    let results = readiness.run(metrics.map(|m| m.get_ref())).await;
    let failing: Vec<&str> = results
        .iter()
        .filter(|r| r.status != CheckStatus::Ok)
        .map(|r| r.name.as_str())
        .collect();
    if failing.is_empty() {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "checks": results }))
    } else {
        Problem::typed(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Service not ready",
        )
        .with_detail(format!("not ready: {} failing", failing.join(", ")))
        .with_extension("checks", serde_json::to_value(&results).unwrap_or_default())
        .to_response()
    }
}

/// Prometheus metrics: text 0.0.4, or OpenMetrics when `Accept` asks for it.
pub async fn metrics(req: HttpRequest) -> HttpResponse {
    let Some(metrics) = req.app_data::<web::Data<Metrics>>() else {
        return Problem::new(StatusCode::NOT_FOUND)
            .with_detail("metrics are not enabled in this service")
            .to_response();
    };
    let wants_openmetrics = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    let (encoded, content_type) = if wants_openmetrics {
        (metrics.encode_openmetrics(), OPENMETRICS_TEXT)
    } else {
        (metrics.encode(), PROMETHEUS_TEXT)
    };
    match encoded {
        Ok(text) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, content_type))
            .body(text),
        Err(error) => {
            tracing::error!(error = %error, "Encoding metrics failed");
            Problem::internal().to_response()
        }
    }
}
