//! The GS1 mod-10 check digit (GS1 General Specifications §7.9.1).
//!
//! Used by every numeric GS1 key (GTIN, SSCC, GLN, …): counting from the digit
//! just left of the check digit, digits are weighted 3, 1, 3, 1, …; the check
//! digit brings the weighted sum up to the next multiple of ten. Leading zeros
//! therefore never change the check digit, which is why a GTIN-13 and its
//! zero-padded GTIN-14 share one.

/// Computes the GS1 mod-10 check digit of `body` (the key without its check digit).
///
/// Returns the digit as a number `0..=9`, or `None` if `body` is empty or holds
/// anything other than ASCII digits.
///
/// ```
/// // SSCC 106141412345678908: body of 17 digits, check digit 8.
/// assert_eq!(tracechain_domain::gs1::check_digit("10614141234567890"), Some(8));
/// assert_eq!(tracechain_domain::gs1::check_digit("12a"), None);
/// ```
pub fn check_digit(body: &str) -> Option<u8> {
    if body.is_empty() {
        return None;
    }
    let mut sum: u32 = 0;
    for (i, b) in body.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let weight = if i % 2 == 0 { 3 } else { 1 };
        // Each term is at most 27, so even a body of 100 million digits stays far
        // below u32::MAX; wrapping keeps arbitrarily long input panic-free anyway.
        sum = sum.wrapping_add(u32::from(b - b'0') * weight) % 10;
    }
    // `sum` is in 0..10, so the result is in 0..10 and fits in u8.
    Some(((10 - sum) % 10) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_examples() {
        // GTIN 09506000134352 (GS1 Digital Link standard examples).
        assert_eq!(check_digit("0950600013435"), Some(2));
        // SSCC 106141412345678908 (GS1 General Specifications).
        assert_eq!(check_digit("10614141234567890"), Some(8));
        // GLN 0614141000005 (GS1 example company prefix 0614141, location 00000).
        assert_eq!(check_digit("061414100000"), Some(5));
    }

    #[test]
    fn leading_zeros_do_not_change_it() {
        assert_eq!(check_digit("950600013435"), check_digit("0950600013435"));
        assert_eq!(check_digit("0"), Some(0));
    }

    #[test]
    fn rejects_empty_and_non_digits() {
        assert_eq!(check_digit(""), None);
        assert_eq!(check_digit("12 3"), None);
        assert_eq!(check_digit("١٢٣"), None);
    }
}
