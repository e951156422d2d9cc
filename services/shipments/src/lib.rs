//! The shipments service (in progress): so far its domain core —
//! [`domain::state`] (the custody state machine), [`domain::sscc`] (issuing SSCC labels), [`domain::events`] (the events on `shipment.events`), [`domain::scan`] (what a
//! phone signs and how the signature is checked) and [`domain::epcis`] (the
//! EPCIS 2.0 ObjectEvent each accepted scan carries).

pub mod domain;
