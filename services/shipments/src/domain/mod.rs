//! The shipments domain: pure logic, no I/O.

pub mod epcis;
pub mod events;
pub mod scan;
pub mod sscc;
pub mod state;
