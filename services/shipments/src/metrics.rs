//! The shipments service's own metrics, beside the HTTP server's at
//! `/metrics`:
//!
//! - `shipments_events_published_total{event_type}`: events acknowledged by the broker;
//! - `shipments_scans_accepted_total{kind}`: scans published;
//! - `shipments_scans_refused_total{check}`: scans refused, by the check that failed.
//!
//! The scan counters are looked up once (the scan path is the hot one; a
//! family lookup hashes and allocates).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tracechain_http::Metrics;

use crate::domain::state::ScanKind;

/// Labels of `shipments_events_published_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EventLabels {
    /// The event type.
    pub event_type: String,
}

/// Labels of `shipments_scans_accepted_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabels {
    /// The scan kind.
    pub kind: String,
}

/// Labels of `shipments_scans_refused_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CheckLabels {
    /// The failed check.
    pub check: String,
}

/// The checks, in the order they run.
pub const CHECKS: [&str; 8] = [
    "format",
    "device",
    "signature",
    "nonce",
    "skew",
    "code",
    "custody",
    "transition",
];

const KINDS: [ScanKind; 5] = [
    ScanKind::Pickup,
    ScanKind::Checkpoint,
    ScanKind::Handover,
    ScanKind::Delivery,
    ScanKind::Exception,
];

/// The service's counters; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ShipmentsMetrics {
    events_published: Family<EventLabels, Counter>,
    accepted: [Counter; 5],
    refused: [Counter; 8],
}

impl ShipmentsMetrics {
    /// New counters, registered in `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let this = ShipmentsMetrics::default();
        metrics.register(
            "shipments_events_published",
            "Shipments events acknowledged by the broker, by type",
            this.events_published.clone(),
        );
        let accepted: Family<KindLabels, Counter> = Family::default();
        let refused: Family<CheckLabels, Counter> = Family::default();
        metrics.register(
            "shipments_scans_accepted",
            "Scans accepted and published, by kind",
            accepted.clone(),
        );
        metrics.register(
            "shipments_scans_refused",
            "Scans refused, by the check that failed",
            refused.clone(),
        );
        let accepted = KINDS.map(|kind| {
            accepted
                .get_or_create(&KindLabels {
                    kind: kind.as_str().to_owned(),
                })
                .clone()
        });
        let refused = CHECKS.map(|check| {
            refused
                .get_or_create(&CheckLabels {
                    check: check.to_owned(),
                })
                .clone()
        });
        ShipmentsMetrics {
            accepted,
            refused,
            ..this
        }
    }

    /// Counts one published event.
    pub fn published(&self, event_type: &str) {
        self.events_published
            .get_or_create(&EventLabels {
                event_type: event_type.to_owned(),
            })
            .inc();
    }

    /// Counts one accepted scan.
    pub fn accepted(&self, kind: ScanKind) {
        if let Some(i) = KINDS.iter().position(|k| *k == kind) {
            self.accepted[i].inc();
        }
    }

    /// Counts one refused scan.
    pub fn refused(&self, check: &str) {
        if let Some(i) = CHECKS.iter().position(|c| *c == check) {
            self.refused[i].inc();
        }
    }
}
