//! Issuing SSCCs: extension digit ‖ GS1 company prefix ‖ serial reference ‖
//! check digit, with the serial reference taken from a sequence the service
//! advances atomically — so two shipments never share a label.

use tracechain_domain::gs1::Sscc;

/// Why an SSCC cannot be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsccIssueError {
    /// The configured prefix or extension digit is invalid.
    #[error("invalid SSCC settings: {0}")]
    Settings(String),
    /// Every serial reference under this prefix and extension digit is used.
    #[error(
        "serial references under company prefix {prefix} (extension {extension}) are exhausted at {capacity}"
    )]
    Exhausted {
        /// The company prefix.
        prefix: String,
        /// The extension digit.
        extension: u8,
        /// How many references there are.
        capacity: u64,
    },
}

/// Issues SSCCs for one company prefix and extension digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsccIssuer {
    extension_digit: u8,
    company_prefix: String,
}

impl SsccIssuer {
    /// An issuer, after checking `company_prefix` (4 to 12 digits) and
    /// `extension_digit` (0 to 9) by issuing the first SSCC.
    pub fn new(extension_digit: u8, company_prefix: &str) -> Result<SsccIssuer, SsccIssueError> {
        let issuer = SsccIssuer {
            extension_digit,
            company_prefix: company_prefix.to_owned(),
        };
        issuer
            .issue(0)
            .map_err(|e| SsccIssueError::Settings(e.to_string()))?;
        Ok(issuer)
    }

    /// Digits left for the serial reference.
    fn reference_digits(&self) -> usize {
        16 - self.company_prefix.len()
    }

    /// How many SSCCs this issuer can issue.
    pub fn capacity(&self) -> u64 {
        10u64.pow(self.reference_digits() as u32)
    }

    /// The SSCC with serial reference `sequence`.
    pub fn issue(&self, sequence: u64) -> Result<Sscc, SsccIssueError> {
        if sequence >= self.capacity() {
            return Err(SsccIssueError::Exhausted {
                prefix: self.company_prefix.clone(),
                extension: self.extension_digit,
                capacity: self.capacity(),
            });
        }
        let reference = format!("{sequence:0width$}", width = self.reference_digits());
        Sscc::from_body(self.extension_digit, &self.company_prefix, &reference)
            .map_err(|e| SsccIssueError::Settings(e.to_string()))
    }

    /// Names this issuer's sequence: the extension digit and the prefix.
    pub fn key(&self) -> String {
        format!("{}{}", self.extension_digit, self.company_prefix)
    }

    /// The sequence number `sscc` was issued under, if this issuer (same
    /// extension digit and prefix) issued it; how a rebuilt store learns
    /// where the sequence stands.
    pub fn sequence_of(&self, sscc: &Sscc) -> Option<u64> {
        let digits = sscc.as_str();
        let prefix_end = 1 + self.company_prefix.len();
        if digits.as_bytes().first() != Some(&(b'0' + self.extension_digit))
            || digits.get(1..prefix_end) != Some(self.company_prefix.as_str())
        {
            return None;
        }
        digits.get(prefix_end..17)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_the_gs1_example_and_distinct_labels() {
        // GS1 General Specifications' example: 1 0614141 234567890 8.
        let issuer = SsccIssuer::new(1, "0614141").unwrap();
        assert_eq!(
            issuer.issue(234_567_890).unwrap().as_str(),
            "106141412345678908"
        );
        let a = issuer.issue(1).unwrap();
        let b = issuer.issue(2).unwrap();
        assert_ne!(a, b);
        // What it issues parses back with its check digit.
        assert_eq!(Sscc::parse(a.as_str()).unwrap(), a);
        assert_eq!(issuer.sequence_of(&a), Some(1));
        assert_eq!(
            issuer.sequence_of(&Sscc::parse("106141412345678908").unwrap()),
            Some(234_567_890)
        );
        let other = SsccIssuer::new(0, "0614141").unwrap();
        assert_eq!(other.sequence_of(&a), None);
    }

    #[test]
    fn refuses_bad_settings_and_exhaustion() {
        assert!(matches!(
            SsccIssuer::new(10, "0614141"),
            Err(SsccIssueError::Settings(_))
        ));
        assert!(matches!(
            SsccIssuer::new(0, "061"),
            Err(SsccIssueError::Settings(_))
        ));
        assert!(matches!(
            SsccIssuer::new(0, "06141x1"),
            Err(SsccIssueError::Settings(_))
        ));
        let issuer = SsccIssuer::new(0, "061414112345").unwrap();
        assert_eq!(issuer.capacity(), 10_000);
        assert!(issuer.issue(9_999).is_ok());
        let err = issuer.issue(10_000).unwrap_err().to_string();
        assert!(err.contains("exhausted at 10000"), "{err}");
    }
}
