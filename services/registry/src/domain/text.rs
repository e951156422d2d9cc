//! Checks shared by the free-text fields (names, descriptions, reasons).

/// Why a free-text value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Empty, or only whitespace.
    #[error("must not be empty or blank")]
    Blank,
    /// Longer than allowed.
    #[error("is {len} characters, at most {max} allowed")]
    TooLong {
        /// Characters found.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// Holds a control character (line breaks are allowed where `multiline`).
    #[error("contains the control character U+{code:04X} at position {position}")]
    Control {
        /// The code point.
        code: u32,
        /// Its 1-based character position.
        position: usize,
    },
}

/// Checks that `value` is 1..=`max` characters, not blank, without control
/// characters (except `\n` and `\t` when `multiline`).
pub fn check(value: &str, max: usize, multiline: bool) -> Result<(), TextError> {
    if value.trim().is_empty() {
        return Err(TextError::Blank);
    }
    let len = value.chars().count();
    if len > max {
        return Err(TextError::TooLong { len, max });
    }
    let allowed = |c: char| !c.is_control() || (multiline && matches!(c, '\n' | '\t'));
    if let Some((i, c)) = value.chars().enumerate().find(|(_, c)| !allowed(*c)) {
        return Err(TextError::Control {
            code: u32::from(c),
            position: i + 1,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(check("Widget", 10, false).is_ok());
        assert_eq!(check("  ", 10, false), Err(TextError::Blank));
        assert_eq!(
            check("abcdef", 5, false),
            Err(TextError::TooLong { len: 6, max: 5 })
        );
        assert_eq!(
            check("a\nb", 5, false).unwrap_err().to_string(),
            "contains the control character U+000A at position 2"
        );
        assert!(check("a\nb", 5, true).is_ok());
    }
}
