//! Property tests of the domain types: parsing never panics, valid values
//! round-trip, invalid ones are refused.

mod digital_link;
mod envelope;
mod gs1;
mod money;
mod strategies;
mod tenancy;
