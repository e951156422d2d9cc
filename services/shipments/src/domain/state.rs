//! The custody state machine of a shipment.
//!
//! ```text
//! created ──pickup──▶ picked_up ──checkpoint──▶ in_transit ◀──checkpoint── handed_over
//!                        │  └──────handover────────┐ │ └──handover──▶ (handed_over)
//!                        └──────delivery──────▶ delivered ◀──delivery──┘
//! exception: from any open state; afterwards the shipment goes on as from
//! the state it was in; nothing after delivered.
//! ```
//!
//! Who may scan: the current custodian (the assigned carrier until a
//! hand-over, then the party it was handed to); a hand-over may also be
//! scanned by the receiving party. Invariants, checked by a property test:
//! a refused scan changes nothing; `delivered` is final; the custodian is
//! always the assigned carrier or a party some accepted hand-over named.

use serde::{Deserialize, Serialize};
use tracechain_domain::TenantId;

/// Where a shipment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentState {
    /// Registered by the manufacturer, not picked up yet.
    Created,
    /// The carrier took it.
    PickedUp,
    /// Moving (a checkpoint was scanned).
    InTransit,
    /// Handed from one party to another.
    HandedOver,
    /// Something went wrong (damage, delay, refused delivery…); the
    /// shipment stays open.
    Exception,
    /// Delivered: final.
    Delivered,
}

impl ShipmentState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentState::Created => "created",
            ShipmentState::PickedUp => "picked_up",
            ShipmentState::InTransit => "in_transit",
            ShipmentState::HandedOver => "handed_over",
            ShipmentState::Exception => "exception",
            ShipmentState::Delivered => "delivered",
        }
    }

    /// Whether scans may still change it.
    pub fn is_open(self) -> bool {
        self != ShipmentState::Delivered
    }
}

/// What a scan records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanKind {
    /// The carrier takes the shipment from the shipper.
    Pickup,
    /// Custody passes to another party (`to_party`).
    Handover,
    /// Seen on the way.
    Checkpoint,
    /// Handed to the consignee.
    Delivery,
    /// A problem is reported.
    Exception,
}

impl ScanKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanKind::Pickup => "pickup",
            ScanKind::Handover => "handover",
            ScanKind::Checkpoint => "checkpoint",
            ScanKind::Delivery => "delivery",
            ScanKind::Exception => "exception",
        }
    }
}

/// A shipment's custody: its state, who holds it, and where an exception
/// left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Custody {
    /// The current state.
    pub state: ShipmentState,
    /// The party holding the shipment (the assigned carrier until a hand-over).
    pub custodian: TenantId,
    /// The state an exception interrupted: the shipment goes on from it.
    pub resume: Option<ShipmentState>,
}

/// Why a scan does not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The shipment is delivered; nothing applies any more.
    #[error("shipment is already delivered; no scan applies after delivery")]
    AlreadyDelivered,
    /// The scan kind is not legal in the current state.
    #[error("a {kind} scan is not allowed in state {state}")]
    Illegal {
        /// The scan kind.
        kind: &'static str,
        /// The state.
        state: &'static str,
    },
    /// The scanning party does not hold the shipment.
    #[error("{party} is not the custodian of this shipment ({custodian} is)")]
    NotCustodian {
        /// The scanning party.
        party: String,
        /// The custodian.
        custodian: String,
    },
    /// A hand-over needs a receiving party other than the custodian.
    #[error("a handover needs to_party naming another party than the custodian")]
    HandoverWithoutParty,
}

impl Custody {
    /// A new shipment assigned to `carrier`.
    pub fn new(carrier: TenantId) -> Custody {
        Custody {
            state: ShipmentState::Created,
            custodian: carrier,
            resume: None,
        }
    }

    /// The custody after `party` scans `kind` (with `to_party` for a
    /// hand-over), or why it does not apply. `self` is never changed.
    pub fn apply(
        &self,
        kind: ScanKind,
        party: &TenantId,
        to_party: Option<&TenantId>,
    ) -> Result<Custody, TransitionError> {
        use ShipmentState as S;
        if self.state == S::Delivered {
            return Err(TransitionError::AlreadyDelivered);
        }
        // Transitions are judged from the state an exception interrupted.
        let from = match self.state {
            S::Exception => self.resume.unwrap_or(S::Created),
            other => other,
        };
        let receiving = kind == ScanKind::Handover && to_party == Some(party);
        if *party != self.custodian && !receiving {
            return Err(TransitionError::NotCustodian {
                party: party.to_string(),
                custodian: self.custodian.to_string(),
            });
        }
        let illegal = || TransitionError::Illegal {
            kind: kind.as_str(),
            state: self.state.as_str(),
        };
        let mut next = self.clone();
        next.resume = None;
        match kind {
            ScanKind::Pickup if from == S::Created => next.state = S::PickedUp,
            ScanKind::Checkpoint if matches!(from, S::PickedUp | S::InTransit | S::HandedOver) => {
                next.state = S::InTransit;
            }
            ScanKind::Handover if matches!(from, S::PickedUp | S::InTransit | S::HandedOver) => {
                let to = to_party
                    .filter(|to| **to != self.custodian)
                    .ok_or(TransitionError::HandoverWithoutParty)?;
                next.state = S::HandedOver;
                next.custodian = to.clone();
            }
            ScanKind::Delivery if matches!(from, S::PickedUp | S::InTransit | S::HandedOver) => {
                next.state = S::Delivered;
            }
            ScanKind::Exception => {
                next.state = S::Exception;
                next.resume = Some(from);
            }
            _ => return Err(illegal()),
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t(name: &str) -> TenantId {
        TenantId::parse(name).unwrap()
    }

    #[test]
    fn the_happy_path_with_a_handover() {
        let c = Custody::new(t("fastfreight"));
        let c = c.apply(ScanKind::Pickup, &t("fastfreight"), None).unwrap();
        let c = c
            .apply(ScanKind::Checkpoint, &t("fastfreight"), None)
            .unwrap();
        // The receiving party scans the hand-over.
        let c = c
            .apply(ScanKind::Handover, &t("lastmile"), Some(&t("lastmile")))
            .unwrap();
        assert_eq!(
            (c.state, c.custodian.as_str()),
            (ShipmentState::HandedOver, "lastmile")
        );
        let err = c
            .apply(ScanKind::Checkpoint, &t("fastfreight"), None)
            .unwrap_err();
        assert!(matches!(err, TransitionError::NotCustodian { .. }), "{err}");
        let c = c.apply(ScanKind::Checkpoint, &t("lastmile"), None).unwrap();
        let c = c.apply(ScanKind::Delivery, &t("lastmile"), None).unwrap();
        assert_eq!(c.state, ShipmentState::Delivered);
        assert_eq!(
            c.apply(ScanKind::Exception, &t("lastmile"), None),
            Err(TransitionError::AlreadyDelivered)
        );
    }

    #[test]
    fn illegal_transitions_name_kind_and_state() {
        let c = Custody::new(t("fastfreight"));
        let err = c
            .apply(ScanKind::Delivery, &t("fastfreight"), None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a delivery scan is not allowed in state created"
        );
        let picked = c.apply(ScanKind::Pickup, &t("fastfreight"), None).unwrap();
        let err = picked
            .apply(ScanKind::Pickup, &t("fastfreight"), None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a pickup scan is not allowed in state picked_up"
        );
        assert_eq!(
            picked.apply(ScanKind::Handover, &t("fastfreight"), None),
            Err(TransitionError::HandoverWithoutParty)
        );
        assert_eq!(
            picked.apply(
                ScanKind::Handover,
                &t("fastfreight"),
                Some(&t("fastfreight"))
            ),
            Err(TransitionError::HandoverWithoutParty)
        );
    }

    #[test]
    fn after_an_exception_the_shipment_goes_on_from_where_it_was() {
        let c = Custody::new(t("fastfreight"));
        let c = c
            .apply(ScanKind::Exception, &t("fastfreight"), None)
            .unwrap();
        assert_eq!(
            (c.state, c.resume),
            (ShipmentState::Exception, Some(ShipmentState::Created))
        );
        assert!(
            c.apply(ScanKind::Delivery, &t("fastfreight"), None)
                .is_err()
        );
        let c = c.apply(ScanKind::Pickup, &t("fastfreight"), None).unwrap();
        let c = c
            .apply(ScanKind::Exception, &t("fastfreight"), None)
            .unwrap();
        let c = c
            .apply(ScanKind::Exception, &t("fastfreight"), None)
            .unwrap();
        assert_eq!(c.resume, Some(ShipmentState::PickedUp));
        let c = c
            .apply(ScanKind::Delivery, &t("fastfreight"), None)
            .unwrap();
        assert_eq!(c.state, ShipmentState::Delivered);
    }

    fn kind() -> impl Strategy<Value = ScanKind> {
        prop_oneof![
            Just(ScanKind::Pickup),
            Just(ScanKind::Handover),
            Just(ScanKind::Checkpoint),
            Just(ScanKind::Delivery),
            Just(ScanKind::Exception),
        ]
    }

    proptest! {
        /// Over random scan sequences by random parties: a refused scan
        /// changes nothing, nothing follows delivery, the custodian is always
        /// a party the history named, and every state is reachable only the
        /// documented way.
        #[test]
        fn the_machine_never_reaches_an_illegal_state(
            scans in prop::collection::vec((kind(), 0usize..3, prop::option::of(0usize..3)), 0..40)
        ) {
            let parties = [t("carrier-a"), t("carrier-b"), t("carrier-c")];
            let mut custody = Custody::new(parties[0].clone());
            let mut named = vec![parties[0].clone()];
            let mut delivered = false;
            for (kind, by, to) in scans {
                let before = custody.clone();
                match custody.apply(kind, &parties[by], to.map(|i| &parties[i])) {
                    Ok(next) => {
                        prop_assert!(!delivered, "a scan applied after delivery");
                        prop_assert!(
                            parties[by] == before.custodian
                                || (kind == ScanKind::Handover && to == Some(by)),
                            "accepted from a party that does not hold it"
                        );
                        let from = if before.state == ShipmentState::Exception {
                            before.resume.unwrap()
                        } else {
                            before.state
                        };
                        let legal = matches!(
                            (from, kind, next.state),
                            (ShipmentState::Created, ScanKind::Pickup, ShipmentState::PickedUp)
                                | (ShipmentState::PickedUp | ShipmentState::InTransit | ShipmentState::HandedOver,
                                   ScanKind::Checkpoint, ShipmentState::InTransit)
                                | (ShipmentState::PickedUp | ShipmentState::InTransit | ShipmentState::HandedOver,
                                   ScanKind::Handover, ShipmentState::HandedOver)
                                | (ShipmentState::PickedUp | ShipmentState::InTransit | ShipmentState::HandedOver,
                                   ScanKind::Delivery, ShipmentState::Delivered)
                                | (_, ScanKind::Exception, ShipmentState::Exception)
                        );
                        prop_assert!(legal, "{:?} --{:?}--> {:?}", from, kind, next.state);
                        prop_assert_eq!(next.resume.is_some(), next.state == ShipmentState::Exception);
                        if kind == ScanKind::Handover {
                            prop_assert_ne!(&next.custodian, &before.custodian);
                            named.push(next.custodian.clone());
                        } else {
                            prop_assert_eq!(&next.custodian, &before.custodian);
                        }
                        delivered = next.state == ShipmentState::Delivered;
                        custody = next;
                    }
                    Err(_) => prop_assert_eq!(&custody, &before),
                }
                prop_assert!(named.contains(&custody.custodian));
            }
        }
    }
}
