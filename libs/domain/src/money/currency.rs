//! ISO 4217 currencies: the alphabetic code and the minor-unit exponent.
//!
//! Only codes in [`TABLE`] parse: the active ISO 4217 currencies in general
//! circulation, with the number of decimal places ISO assigns their minor unit.
//! Deliberately left out: fund and accounting codes (BOV, CHE, CHW, CLF, COU,
//! MXV, USN, UYI, UYW), precious metals and other X-codes without a minor unit
//! (XAU, XDR, XSU, XUA, XTS, XXX, …), and withdrawn codes (HRK, SLL, VEF, MRO,
//! STD, ZWL, ANG — replaced by XCG — and BGN, withdrawn as Bulgaria adopted the
//! euro in 2026).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An active ISO 4217 currency.
///
/// Invariant: `code` and `exponent` are an entry of the table; a `Currency`
/// exists only for codes in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct Currency {
    /// Three uppercase ASCII letters, e.g. `EUR`.
    code: &'static str,
    /// Decimal places of the minor unit, `0..=3`.
    exponent: u8,
}

/// Why a string is not a supported currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    /// Not three uppercase ASCII letters.
    #[error("currency code '{code}' is not three uppercase ascii letters")]
    Malformed {
        /// The input.
        code: String,
    },
    /// Well formed, but not an active ISO 4217 code known to the table.
    #[error("currency code '{code}' is not an active iso 4217 currency")]
    Unknown {
        /// The input.
        code: String,
    },
}

/// Active ISO 4217 alphabetic codes with their minor-unit exponent, sorted by code.
#[rustfmt::skip]
const TABLE: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("AOA", 2), ("ARS", 2), ("AUD", 2),
    ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BHD", 3), ("BIF", 0),
    ("BMD", 2), ("BND", 2), ("BOB", 2), ("BRL", 2), ("BSD", 2), ("BTN", 2), ("BWP", 2),
    ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2), ("CHF", 2), ("CLP", 0), ("CNY", 2),
    ("COP", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0), ("DKK", 2),
    ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2),
    ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0),
    ("GTQ", 2), ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2),
    ("ILS", 2), ("INR", 2), ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3),
    ("JPY", 0), ("KES", 2), ("KGS", 2), ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0),
    ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2), ("LBP", 2), ("LKR", 2), ("LRD", 2),
    ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2), ("MKD", 2), ("MMK", 2),
    ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2), ("MXN", 2),
    ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2), ("NPR", 2),
    ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2), ("PKR", 2),
    ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2), ("RWF", 0),
    ("SAR", 2), ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2), ("SHP", 2),
    ("SLE", 2), ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2), ("SYP", 2),
    ("SZL", 2), ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3), ("TOP", 2), ("TRY", 2),
    ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0), ("USD", 2), ("UYU", 2),
    ("UZS", 2), ("VES", 2), ("VND", 0), ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2),
    ("XCG", 2), ("XOF", 0), ("XPF", 0), ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

impl Currency {
    /// Euro.
    pub const EUR: Currency = Currency::known("EUR", 2);
    /// US dollar.
    pub const USD: Currency = Currency::known("USD", 2);
    /// Pound sterling.
    pub const GBP: Currency = Currency::known("GBP", 2);
    /// Swiss franc.
    pub const CHF: Currency = Currency::known("CHF", 2);
    /// Japanese yen (no minor unit).
    pub const JPY: Currency = Currency::known("JPY", 0);
    /// Kuwaiti dinar (three decimals).
    pub const KWD: Currency = Currency::known("KWD", 3);

    /// For the constants above; a test checks each is in the table.
    const fn known(code: &'static str, exponent: u8) -> Currency {
        Currency { code, exponent }
    }

    /// Parses an ISO 4217 alphabetic code (uppercase, e.g. `EUR`).
    ///
    /// ```
    /// use tracechain_domain::money::Currency;
    /// assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
    /// assert_eq!(
    ///     Currency::parse("eur").unwrap_err().to_string(),
    ///     "currency code 'eur' is not three uppercase ascii letters"
    /// );
    /// ```
    pub fn parse(s: &str) -> Result<Currency, CurrencyError> {
        if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CurrencyError::Malformed { code: s.to_owned() });
        }
        TABLE
            .binary_search_by(|(code, _)| (*code).cmp(s))
            .map(|i| Currency {
                code: TABLE[i].0,
                exponent: TABLE[i].1,
            })
            .map_err(|_| CurrencyError::Unknown { code: s.to_owned() })
    }

    /// The alphabetic code, e.g. `EUR`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Decimal places of the minor unit: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    /// Minor units per major unit: `10^exponent` (1, 10, 100 or 1000).
    pub fn minor_per_major(&self) -> i64 {
        10_i64.pow(u32::from(self.exponent))
    }

    /// Every supported currency, in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        TABLE
            .iter()
            .map(|&(code, exponent)| Currency { code, exponent })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl std::str::FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = CurrencyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl TryFrom<&str> for Currency {
    type Error = CurrencyError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

/// Hand-written because the derive would demand `'de: 'static` for the
/// `&'static str` field; goes through [`Currency::parse`] like every other path.
impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_well_formed() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        for (code, exponent) in TABLE {
            assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(*exponent <= 3);
        }
    }

    #[test]
    fn constants_are_in_the_table() {
        for c in [
            Currency::EUR,
            Currency::USD,
            Currency::GBP,
            Currency::CHF,
            Currency::JPY,
            Currency::KWD,
        ] {
            assert_eq!(Currency::parse(c.code()).unwrap(), c);
        }
    }

    #[test]
    fn required_codes_and_exponents() {
        #[rustfmt::skip]
        let expected = [
            ("EUR", 2), ("USD", 2), ("GBP", 2), ("CHF", 2), ("JPY", 0), ("KWD", 3),
            ("BHD", 3), ("SEK", 2), ("NOK", 2), ("DKK", 2), ("PLN", 2), ("CZK", 2),
            ("HUF", 2), ("CAD", 2), ("AUD", 2), ("NZD", 2), ("CNY", 2), ("INR", 2),
            ("BRL", 2), ("MXN", 2), ("ZAR", 2), ("SGD", 2), ("HKD", 2), ("KRW", 0),
            ("TRY", 2), ("AED", 2), ("SAR", 2), ("ILS", 2), ("THB", 2), ("TWD", 2),
            ("IDR", 2), ("MYR", 2), ("PHP", 2), ("VND", 0), ("CLP", 0), ("ISK", 0),
            ("JOD", 3), ("OMR", 3), ("TND", 3), ("XOF", 0),
        ];
        for (code, exponent) in expected {
            assert_eq!(
                Currency::parse(code).unwrap().exponent(),
                exponent,
                "{code}"
            );
        }
        assert_eq!(Currency::KWD.minor_per_major(), 1000);
        assert_eq!(Currency::JPY.minor_per_major(), 1);
    }

    #[test]
    fn errors() {
        let msg = |s: &str| Currency::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("XYZ"),
            "currency code 'XYZ' is not an active iso 4217 currency"
        );
        assert_eq!(
            msg("HRK"),
            "currency code 'HRK' is not an active iso 4217 currency"
        );
        assert_eq!(
            msg("EU"),
            "currency code 'EU' is not three uppercase ascii letters"
        );
        assert_eq!(
            msg("EURO"),
            "currency code 'EURO' is not three uppercase ascii letters"
        );
        assert_eq!(
            msg("É1"),
            "currency code 'É1' is not three uppercase ascii letters"
        );
    }

    #[test]
    fn serde_is_the_code() {
        assert_eq!(serde_json::to_string(&Currency::EUR).unwrap(), "\"EUR\"");
        assert_eq!(
            serde_json::from_str::<Currency>("\"JPY\"").unwrap(),
            Currency::JPY
        );
        assert!(serde_json::from_str::<Currency>("\"XXX\"").is_err());
    }
}
