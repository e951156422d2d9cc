//! Domain types every tracechain service shares.
//!
//! Pure: no I/O; the one impurity is [`Envelope::new`], which reads the clock
//! and draws a random UUIDv7. Every type is built through a validating `parse`
//! (also behind `FromStr`, `TryFrom<String>` and serde), so a value in hand is
//! valid and invalid input cannot be deserialized. Parsing never panics, whatever the input; errors are typed and
//! their lowercase messages name exactly what is wrong.
//!
//! - [`gs1`]: GTIN, SSCC, GLN, lot and serial, with the mod-10 check digit;
//! - [`digital_link`]: GS1 Digital Link URIs, built and parsed;
//! - [`money`]: ISO 4217 currencies and exact integer minor-unit amounts;
//! - [`tenancy`]: tenant ids and roles;
//! - [`envelope`]: the one event envelope of the system, with its canonical
//!   bytes and Merkle leaf hash;
//! - [`topics`]: the Kafka topic names.

pub mod digital_link;
pub mod envelope;
pub mod gs1;
pub mod money;
mod newtype;
pub mod tenancy;
pub mod topics;

pub use digital_link::{DigitalLink, DigitalLinkError, ParsedDigitalLink};
pub use envelope::{DomainEvent, Envelope, EnvelopeError, EventError, EventType, EventTypeError};
pub use gs1::{Gln, Gtin, KeyError, Lot, Serial, Sscc, TextError};
pub use money::{AmountParseError, Currency, CurrencyError, Money, MoneyError};
pub use tenancy::{Role, RoleError, TenantId, TenantIdError};
