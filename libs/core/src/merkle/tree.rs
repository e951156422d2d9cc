//! Index arithmetic of RFC 9162 trees: which subtrees a proof consists of, and
//! which stored perfect nodes make up a subtree.
//!
//! A *range* `[begin, end)` here is always a subtree of the RFC 9162 recursive
//! decomposition (or a prefix `[0, n)`), so `begin` is a multiple of the
//! smallest power of two `>= end - begin`. Such a range's Merkle Tree Hash is
//! the right fold of the perfect nodes named by the set bits of its length,
//! largest first. Nothing here hashes or panics: every shift is bounded below
//! 64 and every subtraction is guarded by the comparison before it.

use super::store::NodeId;

/// The largest power of two strictly below `n`, for `n >= 2`.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    // For n >= 2, n - 1 >= 1, so leading_zeros <= 63 and the shift is < 64.
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Number of hashes in the inclusion proof of leaf `index` in a tree of
/// `size` leaves, for `index < size`: the siblings below the point where the
/// leaf's path leaves the right edge (`inner`), plus the left siblings above
/// it (`border`).
pub(crate) fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (inner, border) = decompose_inclusion(index, size);
    (inner + border) as usize
}

/// `(inner, border)` as in [`inclusion_proof_len`].
pub(crate) fn decompose_inclusion(index: u64, size: u64) -> (u32, u32) {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    // `inner` can be 64, where a plain shift would overflow.
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

/// Appends the perfect nodes covering the aligned range `[begin, end)`, left to
/// right (largest first).
pub(crate) fn push_range_nodes(begin: u64, end: u64, out: &mut Vec<NodeId>) {
    let mut at = begin;
    while at < end {
        let remaining = end - at;
        let by_length = 63 - remaining.leading_zeros();
        let level = if at == 0 {
            by_length
        } else {
            at.trailing_zeros().min(by_length)
        };
        out.push(NodeId::new(level as u8, at >> level));
        at += 1u64 << level;
    }
}

/// Subtree ranges whose hashes form the inclusion proof of leaf `index` in the
/// tree `[0, size)`, in proof order (nearest the leaf first): RFC 9162 §2.1.3.1
/// `PATH(m, D[n])`. Requires `index < size`.
pub(crate) fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(64);
    let (mut begin, mut end) = (0u64, size);
    // Walk from the root down; record the sibling range at each split, then
    // reverse so the list runs leaf-upwards.
    while end - begin > 1 {
        let k = split_point(end - begin);
        if index < begin + k {
            out.push((begin + k, end));
            end = begin + k;
        } else {
            out.push((begin, begin + k));
            begin += k;
        }
    }
    out.reverse();
    out
}

/// Subtree ranges whose hashes form the consistency proof from tree size
/// `old` to `new`, in proof order: RFC 9162 §2.1.4.1 `PROOF(m, D[n])`.
/// Requires `0 < old < new`.
pub(crate) fn consistency_ranges(old: u64, new: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(64);
    // SUBPROOF(m, D[begin:end], b), unrolled from the root down.
    let (mut begin, mut end, mut m, mut whole_old_tree) = (0u64, new, old, true);
    loop {
        let n = end - begin;
        if m == n {
            if !whole_old_tree {
                out.push((begin, end));
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            out.push((begin + k, end));
            end = begin + k;
        } else {
            out.push((begin, begin + k));
            begin += k;
            m -= k;
            whole_old_tree = false;
        }
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn range_nodes_of_prefixes() {
        let mut nodes = Vec::new();
        push_range_nodes(0, 7, &mut nodes);
        assert_eq!(
            nodes,
            vec![NodeId::new(2, 0), NodeId::new(1, 2), NodeId::new(0, 6)]
        );
        nodes.clear();
        push_range_nodes(8, 11, &mut nodes);
        assert_eq!(nodes, vec![NodeId::new(1, 4), NodeId::new(0, 10)]);
    }

    #[test]
    fn proof_lengths_at_the_extremes() {
        assert_eq!(inclusion_proof_len(0, 1), 0);
        assert_eq!(inclusion_proof_len(u64::MAX - 1, u64::MAX), 63);
        assert_eq!(inclusion_proof_len(0, u64::MAX), 64);
    }
}
