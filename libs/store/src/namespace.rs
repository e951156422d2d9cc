//! The key prefix that keeps one service's (or one test's) state apart from
//! every other's on a shared Redis.
//!
//! A namespace is a list of segments rendered as `tc:{service}:{child}:…:`.
//! Segments are drawn from `[A-Za-z0-9_-]`, so a namespace is safe to put in a
//! Redis `SCAN MATCH` pattern and in a file name without escaping. Stores put
//! their keys at `{namespace}#{kind}:{key}`; since `#` cannot appear in a
//! segment, the keys of `tc:registry:` and of its child `tc:registry:t1:` never
//! share a prefix, and clearing one leaves the other alone.

use std::fmt;

use crate::error::StoreError;

/// The first segment of every namespace built by [`Namespace::service`].
const ROOT: &str = "tc";
/// The longest namespace accepted, in bytes.
const MAX_LEN: usize = 256;

/// A validated key prefix such as `tc:registry:` or `tc:registry:0190a1b2…:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace {
    /// The rendered prefix. Invariant: one or more segments of
    /// `[A-Za-z0-9_-]`, each followed by `:`, at most [`MAX_LEN`] bytes.
    prefix: String,
}

impl Namespace {
    /// The namespace of a service: `tc:{service}:`.
    pub fn service(service: &str) -> Result<Self, StoreError> {
        check_segment(service, service)?;
        Self::parse(&format!("{ROOT}:{service}:"))
    }

    /// A namespace nested in this one: `{self}{segment}:` (per test, per
    /// tenant...). Its keys never collide with the parent's.
    pub fn child(&self, segment: &str) -> Result<Self, StoreError> {
        check_segment(segment, segment)?;
        Self::parse(&format!("{}{segment}:", self.prefix))
    }

    /// Parses a rendered prefix, as found in configuration. The trailing `:`
    /// may be omitted.
    pub fn parse(prefix: &str) -> Result<Self, StoreError> {
        let body = prefix.strip_suffix(':').unwrap_or(prefix);
        if body.is_empty() {
            return Err(StoreError::invalid("namespace", prefix, "is empty"));
        }
        if body.len() + 1 > MAX_LEN {
            return Err(StoreError::invalid(
                "namespace",
                prefix,
                format!("is longer than {MAX_LEN} bytes"),
            ));
        }
        for segment in body.split(':') {
            check_segment(segment, prefix)?;
        }
        Ok(Namespace {
            prefix: format!("{body}:"),
        })
    }

    /// The rendered prefix, ending in `:`.
    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    /// The segments, without separators.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.prefix.trim_end_matches(':').split(':')
    }
}

/// Checks one segment; `shown` is what the error quotes.
fn check_segment(segment: &str, shown: &str) -> Result<(), StoreError> {
    if segment.is_empty() {
        return Err(StoreError::invalid(
            "namespace",
            shown,
            "has an empty segment",
        ));
    }
    match segment
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        Some(bad) => Err(StoreError::invalid(
            "namespace",
            shown,
            format!("segment {segment:?} holds {bad:?}; only [A-Za-z0-9_-] is allowed"),
        )),
        None => Ok(()),
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix)
    }
}

impl std::str::FromStr for Namespace {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_and_child_render_with_trailing_colon() {
        let ns = Namespace::service("registry").unwrap();
        assert_eq!(ns.as_str(), "tc:registry:");
        let child = ns.child("t-01_a").unwrap();
        assert_eq!(child.as_str(), "tc:registry:t-01_a:");
        assert_eq!(
            child.segments().collect::<Vec<_>>(),
            ["tc", "registry", "t-01_a"]
        );
    }

    #[test]
    fn parse_accepts_missing_trailing_colon() {
        assert_eq!(Namespace::parse("tc:x").unwrap().as_str(), "tc:x:");
        assert_eq!(Namespace::parse("tc:x:").unwrap().as_str(), "tc:x:");
    }

    #[test]
    fn parse_refuses_glob_and_separator_characters() {
        for bad in [
            "", ":", "tc::x", "tc:*:", "tc:a b:", "tc:[x]:", "tc:a#b:", "tc:é:", "tc:a.b:",
        ] {
            let err = Namespace::parse(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::InvalidInput {
                        what: "namespace",
                        ..
                    }
                ),
                "{bad:?} gave {err:?}"
            );
        }
        assert!(Namespace::service("a:b").is_err());
        assert!(Namespace::service("x").unwrap().child("").is_err());
        assert!(Namespace::service("x").unwrap().child("a:b").is_err());
        assert!(Namespace::parse(&"a".repeat(300)).is_err());
    }
}
