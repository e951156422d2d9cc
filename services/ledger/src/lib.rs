//! The ledger service.
pub mod store;
