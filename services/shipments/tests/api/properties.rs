//! A property over random scan sequences against the real service: every
//! answer is what the custody state machine says (accepted, or refused by
//! `custody` / `transition`), the shipment never reaches a state the
//! machine would not, and every accepted scan is published exactly once —
//! no refused one at all.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tracechain_domain::{DomainEvent, TenantId};
use tracechain_shipments::domain::events::ShipmentEvent;
use tracechain_shipments::domain::state::{Custody, ScanKind};

use crate::helpers::spawn_app;

const KINDS: [(&str, ScanKind); 5] = [
    ("pickup", ScanKind::Pickup),
    ("checkpoint", ScanKind::Checkpoint),
    ("handover", ScanKind::Handover),
    ("delivery", ScanKind::Delivery),
    ("exception", ScanKind::Exception),
];
const CARRIERS: [&str; 2] = ["fastfreight", "lastmile"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_scan_sequences_follow_the_state_machine_and_publish_once() {
    let app = spawn_app().await;
    let phones = [
        app.phone("fastfreight", &app.keys.fastfreight).await,
        app.phone("lastmile", &app.keys.lastmile).await,
    ];
    let handle = tokio::runtime::Handle::current();
    let steps = prop::collection::vec((0usize..2, 0usize..5), 1..14);
    let mut runner = TestRunner::new(Config {
        cases: 12,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&steps, |steps| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let (shipment, label) = app.shipment().await;
                let id = shipment["id"].as_str().unwrap().to_owned();
                let mut model = Custody::new(TenantId::parse("fastfreight").unwrap());
                let mut accepted = Vec::new();
                for (actor, kind) in steps {
                    let phone = &phones[actor];
                    let party = TenantId::parse(CARRIERS[actor]).unwrap();
                    let other = CARRIERS[1 - actor];
                    let (name, kind) = KINDS[kind];
                    // Hand-overs go to the other carrier, and are scanned
                    // by either side.
                    let (scan, to) = if kind == ScanKind::Handover {
                        (
                            phone.handover(&label, other),
                            Some(TenantId::parse(other).unwrap()),
                        )
                    } else {
                        (phone.scan(&label, name), None)
                    };
                    let (status, body) = app.post_scan(&scan).await;
                    let receiving = kind == ScanKind::Handover && to.as_ref() == Some(&party);
                    let expected = if party != model.custodian && !receiving {
                        Err("custody")
                    } else {
                        model
                            .apply(kind, &party, to.as_ref())
                            .map_err(|_| "transition")
                    };
                    match expected {
                        Ok(next) => {
                            prop_assert_eq!(status, 202, "{} by {}: {}", name, party, body);
                            prop_assert_eq!(body["state"].as_str(), Some(next.state.as_str()));
                            prop_assert_eq!(
                                body["custodian"].as_str(),
                                Some(next.custodian.as_str())
                            );
                            accepted.push(body["event_id"].as_str().unwrap().to_owned());
                            model = next;
                        }
                        Err(check) => {
                            prop_assert!(
                                status == 403 || status == 409,
                                "{} by {}: {}",
                                name,
                                party,
                                body
                            );
                            prop_assert_eq!(body["check"].as_str(), Some(check), "{}", body);
                        }
                    }
                }
                let read = app.shipment_state(&id).await;
                prop_assert_eq!(read["state"].as_str(), Some(model.state.as_str()));
                prop_assert_eq!(read["custodian"].as_str(), Some(model.custodian.as_str()));
                let published: Vec<String> = app
                    .events()
                    .await
                    .iter()
                    .filter(|e| e.aggregate_id() == id)
                    .filter_map(|e| match ShipmentEvent::read(e) {
                        Ok(Some(ShipmentEvent::ScanRecorded(_))) => Some(e.id().to_string()),
                        _ => None,
                    })
                    .collect();
                prop_assert_eq!(
                    published.len(),
                    accepted.len(),
                    "one event per accepted scan"
                );
                prop_assert_eq!(
                    published.iter().collect::<BTreeSet<_>>(),
                    accepted.iter().collect::<BTreeSet<_>>()
                );
                Ok(())
            })
        })
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
