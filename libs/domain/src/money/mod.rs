//! Money as exact integer minor units in an ISO 4217 currency.
//!
//! No floating point anywhere: amounts are `i64` counts of the currency's minor
//! unit (cents for EUR, yen for JPY, fils for KWD), decimal strings are parsed
//! exactly ([`Money::parse_decimal`]), and arithmetic is checked (currency
//! mismatch and overflow are errors, never wrap-around or panics).

mod amount;
mod currency;

pub use amount::{AmountParseError, Money, MoneyError};
pub use currency::{Currency, CurrencyError};
