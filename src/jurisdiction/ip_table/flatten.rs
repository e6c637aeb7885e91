//! Resolves overlapping input ranges into disjoint segments.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::jurisdiction::CountryCode;

/// One input row: an inclusive range and its country.
#[derive(Clone, Copy)]
pub(super) struct RawRange<K> {
    pub(super) start: K,
    pub(super) end: K,
    /// Position in load order; among equally small ranges the later wins.
    pub(super) order: usize,
    pub(super) country: Option<CountryCode>,
}

/// Splits the key space into segments, each given by its first key and
/// running up to the next segment's first key. An address belongs to the
/// smallest range containing it, the latest loaded among equals, and to no
/// country outside every range. The first segment starts at zero and
/// neighbouring segments differ in country.
pub(super) fn flatten<K: Key>(mut ranges: Vec<RawRange<K>>) -> Vec<(K, Option<CountryCode>)> {
    ranges.sort_unstable_by_key(|r| (r.start, r.order));

    // Ownership can only change where a range starts or just after one ends.
    let mut boundaries: Vec<K> = Vec::with_capacity(2 * ranges.len() + 1);
    boundaries.push(K::default());
    for r in &ranges {
        boundaries.push(r.start);
        boundaries.extend(r.end.successor());
    }
    boundaries.sort_unstable();
    boundaries.dedup();

    // Ranges covering the current boundary, best on top; ranges that have
    // ended are dropped only once they reach the top.
    let mut open = BinaryHeap::new();
    let mut next = 0;
    let mut segments: Vec<(K, Option<CountryCode>)> = Vec::with_capacity(boundaries.len());
    for at in boundaries {
        while let Some(r) = ranges.get(next)
            && r.start <= at
        {
            open.push((Reverse(K::span(r.start, r.end)), r.order, next));
            next += 1;
        }
        while let Some(&(_, _, i)) = open.peek()
            && ranges.get(i).is_none_or(|r| r.end < at)
        {
            open.pop();
        }
        let country = open
            .peek()
            .and_then(|&(_, _, i)| ranges.get(i))
            .and_then(|r| r.country);
        if segments.last().is_none_or(|&(_, last)| last != country) {
            segments.push((at, country));
        }
    }
    segments
}

/// An address of one family as an unsigned integer.
pub(super) trait Key: Copy + Ord + Default {
    /// The next address, or `None` after the last.
    fn successor(self) -> Option<Self>;

    /// `end - start`: how large an inclusive range is, less one.
    fn span(start: Self, end: Self) -> u128;
}

macro_rules! impl_key {
    ($($t:ty),*) => {$(
        impl Key for $t {
            fn successor(self) -> Option<Self> {
                self.checked_add(1)
            }

            fn span(start: Self, end: Self) -> u128 {
                u128::from(end.saturating_sub(start))
            }
        }
    )*};
}

impl_key!(u32, u128);
