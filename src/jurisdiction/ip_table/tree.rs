//! A static search tree over sorted keys, one cache line a node.
//!
//! Leaves hold up to `N` keys next to their one-byte codes, so the last step
//! of a lookup reads a single cache line. Inner levels hold the first key of
//! every node below them, `M` keys a node. A lookup finds, on each level, how
//! many keys of one node are `<=` the address; that count is branch-free and
//! picks the child.

use super::key::Key;
use super::palette::NO_COUNTRY;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Leaf<K, const N: usize> {
    keys: [K; N],
    codes: [u8; N],
}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Inner<K, const M: usize> {
    keys: [K; M],
}

struct Level<K, const M: usize> {
    nodes: Vec<Inner<K, M>>,
    /// Keys on this level without the padding: one per node of the level
    /// below.
    keys: usize,
}

/// Maps every key to the code of the last entry at or below it.
pub(super) struct Tree<K, const N: usize, const M: usize> {
    leaves: Vec<Leaf<K, N>>,
    /// Inner levels, the one just above the leaves first.
    levels: Vec<Level<K, M>>,
    entries: usize,
}

impl<K: Key, const N: usize, const M: usize> Tree<K, N, M> {
    /// Builds the tree from entries sorted by strictly increasing key.
    /// Addresses below the first key map to [`NO_COUNTRY`].
    pub(super) fn new(entries: &[(K, u8)]) -> Self {
        // Starting at the zero key means every lookup finds an entry.
        let floor = match entries.first() {
            Some(&(key, _)) if key == K::default() => None,
            _ => Some((K::default(), NO_COUNTRY)),
        };
        let entries: Vec<(K, u8)> = floor.into_iter().chain(entries.iter().copied()).collect();

        let leaves: Vec<Leaf<K, N>> = entries.chunks(N).map(leaf).collect();
        let mut firsts: Vec<K> = leaves.iter().map(|l| first(&l.keys)).collect();
        let mut levels = Vec::new();
        while firsts.len() > 1 {
            let nodes: Vec<Inner<K, M>> = firsts
                .chunks(M)
                .map(|chunk| Inner {
                    keys: padded(chunk.iter().copied()),
                })
                .collect();
            let next = nodes.iter().map(|n| first(&n.keys)).collect();
            levels.push(Level {
                nodes,
                keys: firsts.len(),
            });
            firsts = next;
        }
        Self {
            leaves,
            levels,
            entries: entries.len(),
        }
    }

    /// The code of the last entry whose key is `<= key`.
    #[inline]
    pub(super) fn find(&self, key: K) -> u8 {
        let mut child = 0;
        for level in self.levels.iter().rev() {
            let Some(node) = level.nodes.get(child) else {
                return NO_COUNTRY;
            };
            // Padding keys are `K::MAX`, so clamp for the largest key.
            child = (child * M + count_le(&node.keys, key))
                .saturating_sub(1)
                .min(level.keys.saturating_sub(1));
        }
        let Some(leaf) = self.leaves.get(child) else {
            return NO_COUNTRY;
        };
        // Padding codes repeat the last real code, so no clamp is needed.
        let position = count_le(&leaf.keys, key).saturating_sub(1);
        leaf.codes.get(position).copied().unwrap_or(NO_COUNTRY)
    }

    /// Number of entries, including the zero-key floor.
    pub(super) fn len(&self) -> usize {
        self.entries
    }

    pub(super) fn heap_bytes(&self) -> usize {
        let leaves = self.leaves.capacity() * size_of::<Leaf<K, N>>();
        let inner: usize = self
            .levels
            .iter()
            .map(|l| l.nodes.capacity() * size_of::<Inner<K, M>>())
            .sum();
        leaves + inner + self.levels.capacity() * size_of::<Level<K, M>>()
    }
}

fn leaf<K: Key, const N: usize>(chunk: &[(K, u8)]) -> Leaf<K, N> {
    let last_code = chunk.last().map_or(NO_COUNTRY, |&(_, code)| code);
    let mut codes = [last_code; N];
    for (slot, &(_, code)) in codes.iter_mut().zip(chunk) {
        *slot = code;
    }
    Leaf {
        keys: padded(chunk.iter().map(|&(key, _)| key)),
        codes,
    }
}

fn padded<K: Key, const W: usize>(keys: impl Iterator<Item = K>) -> [K; W] {
    let mut out = [K::MAX; W];
    for (slot, key) in out.iter_mut().zip(keys) {
        *slot = key;
    }
    out
}

fn first<K: Key, const W: usize>(keys: &[K; W]) -> K {
    keys.first().copied().unwrap_or(K::MAX)
}

#[inline]
fn count_le<K: Key, const W: usize>(keys: &[K; W], key: K) -> usize {
    keys.iter().map(|&k| usize::from(k <= key)).sum()
}
