//! The registry's own metrics, registered in the process's Prometheus
//! registry beside the HTTP server metrics and served at `/metrics`:
//!
//! - `registry_events_published_total{event_type}`: events acknowledged by the broker;
//! - `registry_items_serialized_total`: items in acknowledged `items.serialized` events;
//! - `registry_resolutions_total{level,format}`: resolver answers (200s only).
//!
//! Each is counted where its log line is written.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tracechain_http::Metrics;

/// Labels of `registry_events_published_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EventLabels {
    /// The event type, e.g. `product.registered`.
    pub event_type: String,
}

/// Labels of `registry_resolutions_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResolutionLabels {
    /// `product`, `lot` or `item`.
    pub level: String,
    /// `json` or `html`.
    pub format: String,
}

/// The registry's counters; cheap to clone (they share their values).
#[derive(Debug, Clone, Default)]
pub struct RegistryMetrics {
    /// `registry_events_published_total`.
    pub events_published: Family<EventLabels, Counter>,
    /// `registry_items_serialized_total`.
    pub items_serialized: Counter,
    /// `registry_resolutions_total`.
    pub resolutions: Family<ResolutionLabels, Counter>,
    /// The six resolution counters, `[level][json]`, looked up once (the
    /// resolver is the hot path; a family lookup hashes and allocates).
    resolution_counters: [[Counter; 2]; 3],
}

/// The resolution levels, in `resolution_counters` order.
const LEVELS: [&str; 3] = ["product", "lot", "item"];

impl RegistryMetrics {
    /// New counters, registered in `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let mut this = RegistryMetrics::default();
        metrics.register(
            "registry_events_published",
            "Registry events acknowledged by the broker, by type",
            this.events_published.clone(),
        );
        metrics.register(
            "registry_items_serialized",
            "Items serialised (in acknowledged items.serialized events)",
            this.items_serialized.clone(),
        );
        metrics.register(
            "registry_resolutions",
            "Digital Link resolutions answered, by level and format",
            this.resolutions.clone(),
        );
        for (l, level) in LEVELS.iter().enumerate() {
            for (f, format) in ["html", "json"].iter().enumerate() {
                this.resolution_counters[l][f] = this
                    .resolutions
                    .get_or_create(&ResolutionLabels {
                        level: (*level).to_owned(),
                        format: (*format).to_owned(),
                    })
                    .clone();
            }
        }
        this
    }

    /// Counts one published event of `event_type`.
    pub fn published(&self, event_type: &str) {
        self.events_published
            .get_or_create(&EventLabels {
                event_type: event_type.to_owned(),
            })
            .inc();
    }

    /// Counts one resolution at `level` (`product`, `lot` or `item`).
    pub fn resolved(&self, level: &str, json: bool) {
        if let Some(l) = LEVELS.iter().position(|x| *x == level) {
            self.resolution_counters[l][usize::from(json)].inc();
        }
    }
}
