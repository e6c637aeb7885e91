//! Sorted segment starts grouped by their top bits, each group found through
//! a direct index.

use super::palette::NO_COUNTRY;

/// Maps a key, given as its bucket and the bits below the bucket, to the
/// code of the last segment starting at or below it.
pub(super) struct Buckets<L> {
    /// `firsts[b]` is the number of segments in buckets below `b`: the
    /// segments of bucket `b` are `firsts[b]..firsts[b + 1]`.
    firsts: Vec<u32>,
    /// Each segment's first key without its bucket bits.
    lows: Vec<L>,
    codes: Vec<u8>,
}

impl<L: Copy + Ord> Buckets<L> {
    /// Builds from `(bucket, low, code)` segment starts sorted by
    /// `(bucket, low)`, every bucket below `bucket_count`. Keys below the
    /// first start map to [`NO_COUNTRY`].
    pub(super) fn new(
        starts: impl IntoIterator<Item = (usize, L, u8)>,
        bucket_count: usize,
    ) -> Self {
        let mut firsts = vec![0_u32; bucket_count + 1];
        let mut lows = Vec::new();
        let mut codes = Vec::new();
        for (bucket, low, code) in starts {
            if let Some(count) = firsts.get_mut(bucket + 1) {
                // More than 2^32 segments would need far more memory than
                // any machine has.
                *count = count.saturating_add(1);
                lows.push(low);
                codes.push(code);
            }
        }
        let mut total = 0_u32;
        for first in &mut firsts {
            total = total.saturating_add(*first);
            *first = total;
        }
        if lows.is_empty() {
            // Every lookup falls through to NO_COUNTRY; skip the index.
            firsts = Vec::new();
        }
        lows.shrink_to_fit();
        codes.shrink_to_fit();
        Self {
            firsts,
            lows,
            codes,
        }
    }

    #[inline]
    pub(super) fn find(&self, bucket: usize, low: L) -> u8 {
        let (Some(&first), Some(&end)) = (self.firsts.get(bucket), self.firsts.get(bucket + 1))
        else {
            return NO_COUNTRY;
        };
        let (first, end) = (first as usize, end as usize);
        let lows = self.lows.get(first..end).unwrap_or_default();
        // When no segment of this bucket starts at or below the key, the
        // key lies in the last segment of an earlier bucket.
        (first + lows.partition_point(|&l| l <= low))
            .checked_sub(1)
            .and_then(|position| self.codes.get(position))
            .copied()
            .unwrap_or(NO_COUNTRY)
    }

    /// Number of segment starts.
    pub(super) fn len(&self) -> usize {
        self.codes.len()
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.firsts.capacity() * size_of::<u32>()
            + self.lows.capacity() * size_of::<L>()
            + self.codes.capacity()
    }
}
