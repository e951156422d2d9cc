//! Kafka topic names: the contract between services (see DESIGN.md,
//! "Contracts between services"). Domain topics are keyed by aggregate id;
//! `ledger.blocks` by block height.

/// Events about manufacturers, products, lots and serials (registry).
pub const REGISTRY_EVENTS: &str = "registry.events";
/// Events about shipments, carriers, devices and scans (shipments).
pub const SHIPMENT_EVENTS: &str = "shipment.events";
/// Events about rate agreements and settlements (settlement).
pub const SETTLEMENT_EVENTS: &str = "settlement.events";
/// Signed blocks of the ledger: the authoritative chain.
pub const LEDGER_BLOCKS: &str = "ledger.blocks";

/// The domain topics the ledger orders into blocks, in a fixed order.
pub const DOMAIN_TOPICS: [&str; 3] = [REGISTRY_EVENTS, SHIPMENT_EVENTS, SETTLEMENT_EVENTS];
