//! GS1 identification keys and attribute values.
//!
//! Every type here is built only through a validating `parse` (also reached
//! through `FromStr`, `TryFrom<String>` and serde), so a value in hand is always
//! well formed:
//!
//! - [`Gtin`]: a trade item number, stored as GTIN-14 with a verified check digit;
//! - [`Sscc`]: a logistic unit (pallet, parcel) number, 18 digits with check digit;
//! - [`Gln`]: a location or party number, 13 digits with check digit;
//! - [`Lot`] (AI 10) and [`Serial`] (AI 21): 1 to 20 characters from GS1 AI
//!   encodable character set 82 ([`cset82`]).
//!
//! The mod-10 check digit shared by the numeric keys is [`check_digit`].

mod check_digit;
pub mod cset82;
mod gln;
mod gtin;
mod key;
mod lot;
mod serial;
mod sscc;

pub use check_digit::check_digit;
pub use cset82::{TextError, TextKind};
pub use gln::Gln;
pub use gtin::Gtin;
pub use key::{KeyError, KeyKind};
pub use lot::Lot;
pub use serial::Serial;
pub use sscc::{Sscc, SsccBodyError};
