//! Where each kind of state lives under a namespace: `{namespace}#{kind}:{…}`.
//!
//! | kind | Redis type | holds |
//! |------|------------|-------|
//! | `#p:{key}` | hash `{v, d}` | a projection: version and bytes |
//! | `#ix:{index}` | sorted set (all scores 0) | index entries `{score:016x}:{member}` |
//! | `#is:{index}` | hash member → `{score:016x}` | each member's current score |
//! | `#id:{key}` | string, with TTL | idempotency: `p` in flight, `c{response}` completed |
//! | `#n:{len(scope)}:{scope}:{nonce}` | string, with TTL | a nonce seen |
//! | `#rl:{principal}` | integer, with TTL | requests in the current window |
//!
//! The `#` after the namespace cannot occur in a namespace segment, so the
//! keys of one namespace all match `{namespace}#*` and no other namespace's
//! keys do. The scope of a nonce is length-prefixed so that (`a:b`, `c`) and
//! (`a`, `b:c`) stay distinct.

use crate::namespace::Namespace;

/// The key of a projection.
pub(crate) fn projection(ns: &Namespace, key: &str) -> String {
    format!("{ns}#p:{key}")
}

/// The sorted set of an index.
pub(crate) fn index_entries(ns: &Namespace, index: &str) -> String {
    format!("{ns}#ix:{index}")
}

/// The member → score hash of an index.
pub(crate) fn index_scores(ns: &Namespace, index: &str) -> String {
    format!("{ns}#is:{index}")
}

/// The key of an idempotency record.
pub(crate) fn idempotency(ns: &Namespace, key: &str) -> String {
    format!("{ns}#id:{key}")
}

/// The key of a nonce within a scope.
pub(crate) fn nonce(ns: &Namespace, scope: &str, nonce: &str) -> String {
    format!("{ns}#n:{}:{scope}:{nonce}", scope.len())
}

/// The counter of a principal's rate limit.
pub(crate) fn rate_limit(ns: &Namespace, principal: &str) -> String {
    format!("{ns}#rl:{principal}")
}

/// The `SCAN MATCH` pattern of every key of the namespace. Namespaces hold no
/// glob characters, so nothing needs escaping.
pub(crate) fn all(ns: &Namespace) -> String {
    format!("{ns}#*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_scopes_cannot_bleed_into_nonces() {
        let ns = Namespace::service("shipments").unwrap();
        assert_ne!(nonce(&ns, "a:b", "c"), nonce(&ns, "a", "b:c"));
    }

    #[test]
    fn a_child_namespace_is_not_matched_by_its_parent_pattern() {
        let parent = Namespace::service("registry").unwrap();
        let child = parent.child("p").unwrap();
        let pattern = all(&parent);
        let prefix = pattern.trim_end_matches('*');
        assert!(projection(&parent, "k").starts_with(prefix));
        assert!(!projection(&child, "k").starts_with(prefix));
        // A parent key that spells the child's prefix still differs from it.
        assert_ne!(projection(&parent, "p:#p:k"), projection(&child, "k"));
    }
}
