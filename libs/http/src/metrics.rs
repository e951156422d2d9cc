//! The process's Prometheus registry and the HTTP server metrics recorded by
//! [`crate::RequestTelemetry`].
//!
//! Metric names follow `<namespace>_<name>_<unit>_total`-style rules:
//! `http_server_requests_total` (counter) and
//! `http_server_request_duration_seconds` (histogram), both labelled by
//! `method`, `route` (the matched route pattern such as `/items/{id}`, or
//! `unmatched` — never the raw path, so cardinality stays bounded) and
//! `status`. Methods outside the standard set are labelled `OTHER`.
//!
//! [`Metrics::encode`] writes the Prometheus text format 0.0.4;
//! [`Metrics::encode_openmetrics`] writes OpenMetrics 1.0, which is what
//! `prometheus-client` produces natively.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry, Unit};

/// Content type of the Prometheus text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Content type of the OpenMetrics text format.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds (Prometheus client defaults).
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Labels of the HTTP server metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HttpLabels {
    /// The request method (`GET`, ..., or `OTHER`).
    pub method: String,
    /// The matched route pattern, or `unmatched`.
    pub route: String,
    /// The response status code.
    pub status: u16,
}

/// Labels of the readiness failure counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CheckLabels {
    /// The readiness check's name.
    check: String,
}

type HistogramFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

/// A shared handle on the process's metrics registry; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    /// The registry; locked briefly to register or encode.
    registry: Arc<Mutex<Registry>>,
    /// `http_server_requests_total`.
    requests: Family<HttpLabels, Counter>,
    /// `http_server_request_duration_seconds`.
    durations: HistogramFamily,
    /// `http_readiness_check_failures_total`.
    readiness_failures: Family<CheckLabels, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry holding the HTTP server metrics.
    pub fn new() -> Self {
        let requests = Family::<HttpLabels, Counter>::default();
        let durations: HistogramFamily =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        let readiness_failures = Family::<CheckLabels, Counter>::default();
        let mut registry = Registry::default();
        registry.register(
            "http_server_requests",
            "HTTP requests served, by method, route pattern and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "http_server_request_duration",
            "HTTP request latency, by method, route pattern and status",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "http_readiness_check_failures",
            "Readiness checks that failed or timed out, by check",
            readiness_failures.clone(),
        );
        Self {
            registry: Arc::new(Mutex::new(registry)),
            requests,
            durations,
            readiness_failures,
        }
    }

    /// Registers a service metric. For a counter, give the name without
    /// `_total` (the encoder appends it): `register("ledger_blocks_appended", ...)`.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.lock().register(name, help, metric);
    }

    /// Registers a service metric whose name ends in its unit (e.g. `_seconds`).
    pub fn register_with_unit(&self, name: &str, help: &str, unit: Unit, metric: impl Metric) {
        self.lock().register_with_unit(name, help, unit, metric);
    }

    /// Runs `f` with the registry, e.g. to create a prefixed sub-registry.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.lock())
    }

    /// Records one served request.
    pub fn record_request(&self, labels: HttpLabels, seconds: f64) {
        self.durations.get_or_create(&labels).observe(seconds);
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts one failed readiness check.
    pub fn record_readiness_failure(&self, check: &str) {
        self.readiness_failures
            .get_or_create(&CheckLabels {
                check: check.to_owned(),
            })
            .inc();
    }

    /// The registry in OpenMetrics 1.0 text format.
    pub fn encode_openmetrics(&self) -> Result<String, fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.lock())?;
        Ok(out)
    }

    /// The registry in Prometheus text format 0.0.4.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        Ok(openmetrics_to_prometheus(&self.encode_openmetrics()?))
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock cannot leave the registry half-updated
        // in a way that matters for reading it; keep serving.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The route label for a matched pattern.
pub(crate) fn route_label(pattern: Option<String>) -> String {
    pattern.unwrap_or_else(|| "unmatched".to_owned())
}

/// The method label: standard methods as-is, anything else `OTHER`.
pub(crate) fn method_label(method: &actix_web::http::Method) -> String {
    match method.as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE"
        | "PATCH") => m.to_owned(),
        _ => "OTHER".to_owned(),
    }
}

/// Converts OpenMetrics text to Prometheus 0.0.4 text.
///
/// Differences handled: counter families are named with their `_total`
/// suffix in `HELP`/`TYPE`; `_created` samples, `# UNIT` and `# EOF` are
/// dropped; exemplars are removed; `info` becomes a `gauge` named `<name>_info`;
/// `stateset`, `gaugehistogram` and `unknown` become `untyped`.
fn openmetrics_to_prometheus(text: &str) -> String {
    let mut types: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, kind)) = rest.split_once(' ')
        {
            types.insert(name, kind);
        }
    }
    let renamed = |name: &str| -> String {
        match types.get(name) {
            Some(&"counter") => format!("{name}_total"),
            Some(&"info") => format!("{name}_info"),
            _ => name.to_owned(),
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut counter_family: Option<&str> = None;
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(&format!("# HELP {} {help}\n", renamed(name)));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            counter_family = (kind == "counter").then_some(name);
            let kind = match kind {
                "counter" | "gauge" | "histogram" | "summary" => kind,
                "info" => "gauge",
                _ => "untyped",
            };
            out.push_str(&format!("# TYPE {} {kind}\n", renamed(name)));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some(family) = counter_family
            && line.starts_with(&format!("{family}_created"))
        {
            continue;
        }
        // Exemplars follow ` # ` on a sample line.
        let sample = line.split(" # ").next().unwrap_or(line);
        out.push_str(sample);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_prometheus_text_with_counter_suffix() {
        let metrics = Metrics::new();
        metrics.record_request(
            HttpLabels {
                method: "GET".to_owned(),
                route: "/items/{id}".to_owned(),
                status: 200,
            },
            0.003,
        );
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("# TYPE http_server_requests_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"http_server_requests_total{method="GET",route="/items/{id}",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE http_server_request_duration_seconds histogram\n"));
        assert!(text.contains(
            r#"http_server_request_duration_seconds_bucket{le="0.005",method="GET",route="/items/{id}",status="200"} 1"#
        ) || text.contains(
            r#"http_server_request_duration_seconds_bucket{method="GET",route="/items/{id}",status="200",le="0.005"} 1"#
        ), "{text}");
        assert!(!text.contains("# EOF"));
        assert!(!text.contains("# UNIT"));
        assert!(metrics.encode_openmetrics().unwrap().ends_with("# EOF\n"));
    }

    #[test]
    fn services_register_their_own_metrics() {
        let metrics = Metrics::new();
        let blocks = Counter::<u64>::default();
        metrics.register("ledger_blocks_appended", "Blocks appended", blocks.clone());
        blocks.inc_by(3);
        let text = metrics.encode().unwrap();
        assert!(text.contains("# TYPE ledger_blocks_appended_total counter"));
        assert!(text.contains("ledger_blocks_appended_total 3"));
    }

    #[test]
    fn converts_info_and_drops_created_and_exemplars() {
        let om = "# HELP build Build.\n# TYPE build info\nbuild_info{v=\"1\"} 1\n\
                  # HELP c C.\n# TYPE c counter\nc_total 2 # {id=\"x\"} 1.0\nc_created 1.5\n# EOF\n";
        assert_eq!(
            openmetrics_to_prometheus(om),
            "# HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{v=\"1\"} 1\n\
             # HELP c_total C.\n# TYPE c_total counter\nc_total 2\n"
        );
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(method_label(&actix_web::http::Method::GET), "GET");
        let custom = actix_web::http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&custom), "OTHER");
        assert_eq!(route_label(None), "unmatched");
    }
}
