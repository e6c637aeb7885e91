//! The IPv4 table: segments grouped by /16 block.

use super::buckets::Buckets;

pub(super) struct V4Table {
    /// Keyed by the lower 16 bits within each /16.
    segments: Buckets<u16>,
}

impl V4Table {
    /// Builds the table from segments sorted by first address (see
    /// [`flatten`](super::flatten::flatten)), countries already coded.
    pub(super) fn new(segments: &[(u32, u8)]) -> Self {
        let starts = segments
            .iter()
            .map(|&(start, code)| (bucket(start), start as u16, code));
        Self {
            segments: Buckets::new(starts, 1 << 16),
        }
    }

    #[inline]
    pub(super) fn find(&self, address: u32) -> u8 {
        self.segments.find(bucket(address), address as u16)
    }

    pub(super) fn len(&self) -> usize {
        self.segments.len()
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.segments.heap_bytes()
    }
}

/// The /16 block of an address.
fn bucket(address: u32) -> usize {
    (address >> 16) as usize
}
