//! [`Money`]: an exact amount in integer minor units of one currency, and its
//! checked arithmetic and decimal parsing.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::currency::Currency;

/// An amount of money: `minor` units of `currency`'s minor unit
/// (`Money { minor: 1234, currency: EUR }` is 12.34 EUR).
///
/// Every `i64` is a valid amount (negative amounts are credits or refunds), so
/// the fields are public. Serialized as `{"amount_minor": 1234, "currency": "EUR"}`;
/// unknown fields are rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// The amount in minor units (cents for EUR; yen for JPY).
    #[serde(rename = "amount_minor")]
    pub minor: i64,
    /// The currency; it fixes how many decimals one major unit has.
    pub currency: Currency,
}

/// Why an arithmetic operation on [`Money`] has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The operands are in different currencies.
    #[error("cannot combine amounts in {left} and {right}")]
    CurrencyMismatch {
        /// The left operand's currency.
        left: Currency,
        /// The right operand's currency.
        right: Currency,
    },
    /// The result does not fit in an `i64` of minor units.
    #[error("{operation} overflows 64-bit minor units")]
    Overflow {
        /// `addition`, `subtraction`, `multiplication` or `negation`.
        operation: &'static str,
    },
}

/// Why a decimal string is not an amount in the given currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountParseError {
    /// The input is the empty string.
    #[error("amount is empty")]
    Empty,
    /// A character other than a digit, one leading `-` and one `.`.
    #[error(
        "amount contains {ch:?} at position {position}, expected digits with an optional leading '-' and one '.'"
    )]
    InvalidChar {
        /// The first offending character.
        ch: char,
        /// Its 1-based character position in the input.
        position: usize,
    },
    /// No digits before or after the `.` (`.5`, `5.`, `-`).
    #[error("amount '{input}' needs at least one digit on each side of the decimal point")]
    MissingDigits {
        /// The input.
        input: String,
    },
    /// More decimal places than the currency's minor unit has.
    #[error("amount '{input}' has {found} decimal places, {currency} allows at most {allowed}")]
    TooManyDecimals {
        /// The input.
        input: String,
        /// Decimal places given.
        found: usize,
        /// The currency's exponent.
        allowed: u8,
        /// The currency.
        currency: Currency,
    },
    /// The amount does not fit in an `i64` of minor units.
    #[error("amount '{input}' does not fit in 64-bit minor units of {currency}")]
    OutOfRange {
        /// The input.
        input: String,
        /// The currency.
        currency: Currency,
    },
}

impl Money {
    /// `minor` units of `currency`.
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Parses a decimal amount exactly, e.g. `"12.34"` in EUR is 1234 minor
    /// units; `"12.3"` is 1230; `"-0.05"` is -5; `"100"` in JPY is 100.
    ///
    /// Grammar: an optional `-`, one or more digits, and optionally a `.`
    /// followed by one to `currency.exponent()` digits. No sign `+`, no
    /// whitespace, no exponent, no thousands separators; more decimals than the
    /// currency has is an error even if they are zeros (`"1.230"` in EUR).
    ///
    /// ```
    /// use tracechain_domain::money::{Currency, Money};
    /// assert_eq!(Money::parse_decimal("12.34", Currency::EUR).unwrap().minor, 1234);
    /// assert_eq!(
    ///     Money::parse_decimal("1.5", Currency::JPY).unwrap_err().to_string(),
    ///     "amount '1.5' has 1 decimal places, JPY allows at most 0"
    /// );
    /// ```
    pub fn parse_decimal(input: &str, currency: Currency) -> Result<Money, AmountParseError> {
        if input.is_empty() {
            return Err(AmountParseError::Empty);
        }
        let (negative, unsigned) = match input.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, input),
        };
        let mut seen_point = false;
        for (i, ch) in unsigned.chars().enumerate() {
            let ok =
                ch.is_ascii_digit() || (ch == '.' && !std::mem::replace(&mut seen_point, true));
            if !ok {
                return Err(AmountParseError::InvalidChar {
                    ch,
                    position: i + 1 + usize::from(negative),
                });
            }
        }
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (unsigned, ""),
        };
        if whole.is_empty() || (seen_point && fraction.is_empty()) {
            return Err(AmountParseError::MissingDigits {
                input: input.to_owned(),
            });
        }
        let exponent = usize::from(currency.exponent());
        if fraction.len() > exponent {
            return Err(AmountParseError::TooManyDecimals {
                input: input.to_owned(),
                found: fraction.len(),
                allowed: currency.exponent(),
                currency,
            });
        }
        let out_of_range = || AmountParseError::OutOfRange {
            input: input.to_owned(),
            currency,
        };
        // Accumulate the magnitude in i128 (all digits, then pad the fraction
        // with zeros up to the exponent), checking every step.
        let padding = std::iter::repeat_n(b'0', exponent - fraction.len());
        let mut magnitude: i128 = 0;
        for digit in whole.bytes().chain(fraction.bytes()).chain(padding) {
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(digit - b'0')))
                .ok_or_else(out_of_range)?;
        }
        let signed = if negative { -magnitude } else { magnitude };
        let minor = i64::try_from(signed).map_err(|_| out_of_range())?;
        Ok(Money { minor, currency })
    }

    /// `self + other`, if both are in one currency and the sum fits.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.minor
            .checked_add(other.minor)
            .map(|minor| Money { minor, ..self })
            .ok_or(MoneyError::Overflow {
                operation: "addition",
            })
    }

    /// `self - other`, if both are in one currency and the difference fits.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.minor
            .checked_sub(other.minor)
            .map(|minor| Money { minor, ..self })
            .ok_or(MoneyError::Overflow {
                operation: "subtraction",
            })
    }

    /// `self × factor` (e.g. a per-unit fee times a count), if it fits.
    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        self.minor
            .checked_mul(factor)
            .map(|minor| Money { minor, ..self })
            .ok_or(MoneyError::Overflow {
                operation: "multiplication",
            })
    }

    /// `-self`, if it fits (it does not for `i64::MIN`).
    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        self.minor
            .checked_neg()
            .map(|minor| Money { minor, ..self })
            .ok_or(MoneyError::Overflow {
                operation: "negation",
            })
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    /// The amount as an exact decimal without the currency, with exactly
    /// `currency.exponent()` decimals: `12.34`, `-0.05`, `100` (JPY), `1.000` (KWD).
    /// [`parse_decimal`](Self::parse_decimal) reads it back.
    pub fn to_decimal_string(&self) -> String {
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = self.minor.unsigned_abs();
        let exponent = usize::from(self.currency.exponent());
        if exponent == 0 {
            return format!("{sign}{magnitude}");
        }
        let per_major = self.currency.minor_per_major().unsigned_abs();
        let whole = magnitude / per_major;
        let fraction = magnitude % per_major;
        format!("{sign}{whole}.{fraction:0exponent$}")
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }
}

impl fmt::Display for Money {
    /// `12.34 EUR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    #[test]
    fn parse_decimal_is_exact() {
        let p = |s: &str, c: Currency| Money::parse_decimal(s, c).unwrap().minor;
        assert_eq!(p("12.34", Currency::EUR), 1234);
        assert_eq!(p("12.3", Currency::EUR), 1230);
        assert_eq!(p("12", Currency::EUR), 1200);
        assert_eq!(p("0.01", Currency::EUR), 1);
        assert_eq!(p("-0.05", Currency::EUR), -5);
        assert_eq!(p("007.10", Currency::EUR), 710);
        assert_eq!(p("100", Currency::JPY), 100);
        assert_eq!(p("1.234", Currency::KWD), 1234);
        assert_eq!(p("92233720368547758.07", Currency::EUR), i64::MAX);
        assert_eq!(p("-92233720368547758.08", Currency::EUR), i64::MIN);
    }

    #[test]
    fn parse_decimal_errors() {
        let msg = |s: &str, c: Currency| Money::parse_decimal(s, c).unwrap_err().to_string();
        assert_eq!(msg("", Currency::EUR), "amount is empty");
        assert_eq!(
            msg("12.345", Currency::EUR),
            "amount '12.345' has 3 decimal places, EUR allows at most 2"
        );
        assert_eq!(
            msg("1.230", Currency::EUR),
            "amount '1.230' has 3 decimal places, EUR allows at most 2"
        );
        assert_eq!(
            msg("1.5", Currency::JPY),
            "amount '1.5' has 1 decimal places, JPY allows at most 0"
        );
        assert_eq!(
            msg("1,5", Currency::EUR),
            "amount contains ',' at position 2, expected digits with an optional leading '-' and one '.'"
        );
        assert_eq!(
            msg("-1.2.3", Currency::EUR),
            "amount contains '.' at position 5, expected digits with an optional leading '-' and one '.'"
        );
        assert!(msg("+1", Currency::EUR).contains("'+' at position 1"));
        assert!(msg("--1", Currency::EUR).contains("'-' at position 2"));
        assert!(msg(" 1", Currency::EUR).contains("' ' at position 1"));
        assert!(msg("1e3", Currency::EUR).contains("'e' at position 2"));
        for s in [".5", "5.", "-", "-.5", "."] {
            assert_eq!(
                msg(s, Currency::EUR),
                format!("amount '{s}' needs at least one digit on each side of the decimal point")
            );
        }
        assert_eq!(
            msg("92233720368547758.08", Currency::EUR),
            "amount '92233720368547758.08' does not fit in 64-bit minor units of EUR"
        );
        assert!(msg(&"9".repeat(100), Currency::EUR).contains("does not fit"));
    }

    #[test]
    fn display() {
        assert_eq!(eur(1234).to_string(), "12.34 EUR");
        assert_eq!(eur(5).to_string(), "0.05 EUR");
        assert_eq!(eur(-5).to_string(), "-0.05 EUR");
        assert_eq!(eur(0).to_string(), "0.00 EUR");
        assert_eq!(eur(i64::MIN).to_string(), "-92233720368547758.08 EUR");
        assert_eq!(Money::new(100, Currency::JPY).to_string(), "100 JPY");
        assert_eq!(Money::new(1000, Currency::KWD).to_string(), "1.000 KWD");
    }

    #[test]
    fn arithmetic() {
        assert_eq!(eur(1234).checked_add(eur(66)), Ok(eur(1300)));
        assert_eq!(eur(1234).checked_sub(eur(1300)), Ok(eur(-66)));
        assert_eq!(eur(250).checked_mul(3), Ok(eur(750)));
        assert_eq!(eur(5).checked_neg(), Ok(eur(-5)));
        let usd = Money::new(1, Currency::USD);
        assert_eq!(
            eur(1).checked_add(usd).unwrap_err().to_string(),
            "cannot combine amounts in EUR and USD"
        );
        assert!(eur(1).checked_sub(usd).is_err());
        assert_eq!(
            eur(i64::MAX).checked_add(eur(1)).unwrap_err().to_string(),
            "addition overflows 64-bit minor units"
        );
        assert!(eur(i64::MIN).checked_sub(eur(1)).is_err());
        assert!(eur(i64::MAX).checked_mul(2).is_err());
        assert!(eur(i64::MIN).checked_neg().is_err());
        assert!(eur(0).is_zero() && eur(-1).is_negative());
    }

    #[test]
    fn serde_shape() {
        let json = serde_json::to_string(&eur(1234)).unwrap();
        assert_eq!(json, r#"{"amount_minor":1234,"currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), eur(1234));
        assert!(serde_json::from_str::<Money>(r#"{"amount_minor":1,"currency":"EURO"}"#).is_err());
        let err = serde_json::from_str::<Money>(r#"{"amount_minor":1,"currency":"EUR","x":1}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        assert!(serde_json::from_str::<Money>(r#"{"amount_minor":1.5,"currency":"EUR"}"#).is_err());
    }
}
