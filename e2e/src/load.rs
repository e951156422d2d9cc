//! A fleet of phones scanning many shipments at once, as the whole-system
//! fault tests need it: each shipment's scans in order (its custody
//! chain), many shipments in flight, and a scan whose answer was lost or
//! refused for a passing reason sent again BYTE FOR BYTE, as a phone's
//! offline queue does.
//!
//! Every scan ends with the event id the platform recorded it under: the
//! 202's, or — when the first attempt was published but its answer lost —
//! the one a `nonce-replayed` refusal names. A scan that cannot finish
//! within the deadline, or gets any other answer, fails the test.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

use crate::client::{AnchoredEvent, Api, Phone};

/// One step of every shipment's journey: who scans, and what kind of scan.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The phone that scans (it must hold custody at that point).
    pub phone: &'a Phone,
    /// `pickup`, `checkpoint`, `handover` or `delivery`.
    pub kind: &'static str,
}

/// The same phone scanning each of `kinds` in turn.
pub fn steps<'a>(phone: &'a Phone, kinds: &[&'static str]) -> Vec<Step<'a>> {
    kinds.iter().map(|&kind| Step { phone, kind }).collect()
}

/// How one scan ended.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    /// The shipment scanned.
    pub shipment: String,
    /// The step's kind.
    pub kind: &'static str,
    /// The event id it is recorded under.
    pub event_id: String,
    /// Whether the FIRST attempt got a 202: an acknowledgement the
    /// platform must never lose.
    pub acknowledged_first: bool,
    /// Attempts it took.
    pub attempts: u32,
    /// The signed scan, as sent (every attempt sent these bytes).
    pub body: Value,
}

/// Counters the test can watch while the load runs (to time its faults).
#[derive(Debug, Default)]
pub struct Progress {
    /// Scans answered 202 so far.
    pub acknowledged: AtomicUsize,
    /// Attempts that got no answer or a passing refusal.
    pub retried: AtomicUsize,
}

impl Progress {
    /// Scans answered 202 so far.
    pub fn acknowledged(&self) -> usize {
        self.acknowledged.load(Ordering::Relaxed)
    }
}

/// Scans every shipment (`(id, label URI)`) through `steps` in order, with
/// `concurrency` shipments in flight; each scan retried until it is
/// recorded, for at most `deadline` per scan.
pub async fn scan_all(
    api: &Api,
    shipments_url: &str,
    shipments: &[(String, String)],
    steps: &[Step<'_>],
    concurrency: usize,
    deadline: Duration,
    progress: Arc<Progress>,
) -> Vec<ScanOutcome> {
    let journeys = futures::stream::iter(shipments.iter())
        .map(|(id, label)| {
            let progress = Arc::clone(&progress);
            async move {
                let mut outcomes = Vec::with_capacity(steps.len());
                for step in steps {
                    let scan = step.phone.scan(label, step.kind);
                    let (event_id, acknowledged_first, attempts) =
                        record(api, shipments_url, &scan, deadline, &progress).await;
                    outcomes.push(ScanOutcome {
                        shipment: id.clone(),
                        kind: step.kind,
                        event_id,
                        acknowledged_first,
                        attempts,
                        body: scan,
                    });
                }
                outcomes
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    journeys.into_iter().flatten().collect()
}

/// Posts `scan` until it is recorded; its event id, whether the first
/// attempt was acknowledged, and the attempts taken.
async fn record(
    api: &Api,
    url: &str,
    scan: &Value,
    deadline: Duration,
    progress: &Progress,
) -> (String, bool, u32) {
    let until = Instant::now() + deadline;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let answer = api
            .send(api.client.post(format!("{url}/v1/scans")).json(scan))
            .await;
        match &answer {
            Some((202, body)) => {
                progress.acknowledged.fetch_add(1, Ordering::Relaxed);
                let id = body["event_id"].as_str().expect("a 202 names its event");
                return (id.to_owned(), attempts == 1, attempts);
            }
            Some((409, body)) if problem_type(body) == "nonce-replayed" => {
                // An earlier attempt was published; its answer was lost.
                assert!(attempts > 1, "a first attempt cannot be a replay: {body}");
                let id = body["event_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a replay refusal names the original: {body}"));
                return (id.to_owned(), false, attempts);
            }
            // Passing: the process is down or restarting, the broker is
            // away, or a dead process's lease on this nonce or shipment
            // has not lapsed yet.
            None | Some((503, _)) => {}
            Some((409, body))
                if matches!(problem_type(body), "nonce-in-flight" | "shipment-busy") => {}
            Some((status, body)) => panic!("scan {scan} answered {status}: {body}"),
        }
        progress.retried.fetch_add(1, Ordering::Relaxed);
        assert!(
            Instant::now() < until,
            "scan not recorded within {deadline:?} ({attempts} attempts); last answer {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The last segment of a problem's `type` URI.
fn problem_type(body: &Value) -> &str {
    body["type"]
        .as_str()
        .and_then(|t| t.rsplit('/').next())
        .unwrap_or_default()
}

/// Waits up to `within` until every scan of `outcomes` is anchored by the
/// ledger at `ledger`, then checks it with [`assert_anchored_once`].
pub async fn assert_all_anchored_once(
    api: &Api,
    ledger: &str,
    auditor_key: &str,
    outcomes: &[ScanOutcome],
    within: Duration,
) {
    let deadline = Instant::now() + within;
    let anchored = loop {
        let anchored = crate::client::anchored_events(api, ledger, auditor_key).await;
        if outcomes.iter().all(|o| anchored.contains_key(&o.event_id)) || Instant::now() > deadline
        {
            break anchored;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_anchored_once(outcomes, &anchored);
}

/// Checks what the ledger anchored against what the load recorded: every
/// scan's event id anchored in exactly one block, and no other
/// `scan.recorded` (a scan recorded twice under two ids would show here).
pub fn assert_anchored_once(outcomes: &[ScanOutcome], anchored: &BTreeMap<String, AnchoredEvent>) {
    let mut problems = Vec::new();
    for outcome in outcomes {
        match anchored.get(&outcome.event_id) {
            None => problems.push(format!(
                "{} {} of shipment {} (acknowledged first: {}) is not anchored",
                outcome.kind, outcome.event_id, outcome.shipment, outcome.acknowledged_first
            )),
            Some(event) if event.heights.len() != 1 => problems.push(format!(
                "{} is anchored in blocks {:?}",
                outcome.event_id, event.heights
            )),
            Some(_) => {}
        }
    }
    let ours: std::collections::BTreeSet<&str> =
        outcomes.iter().map(|o| o.event_id.as_str()).collect();
    assert_eq!(
        ours.len(),
        outcomes.len(),
        "every scan has its own event id"
    );
    let scans_anchored = anchored
        .iter()
        .filter(|(_, e)| e.event_type == "scan.recorded")
        .count();
    for (id, event) in anchored {
        if event.event_type == "scan.recorded" && !ours.contains(id.as_str()) {
            problems.push(format!("{id} is a scan.recorded no phone sent"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} scans wrong ({scans_anchored} scan.recorded anchored):\n{}",
        problems.len(),
        outcomes.len(),
        problems.join("\n")
    );
}
