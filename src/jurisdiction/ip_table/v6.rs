//! The IPv6 table: a coarse table keyed by /64 block, and a fine table for
//! the few blocks that hold more than one country.

use super::buckets::Buckets;
use super::palette::{NO_COUNTRY, SEE_FINE};

/// A /64 block and its code.
type CoarseEntry = (u64, u8);
/// A full address and its code.
type FineEntry = (u128, u8);

pub(super) struct V6Table {
    /// Keyed by /64 block, grouped by /16.
    coarse: Buckets<u64>,
    /// Keyed by full address, in one group: it is small.
    fine: Buckets<u128>,
}

impl V6Table {
    /// Builds the table from segments sorted by first address (see
    /// [`flatten`](super::flatten::flatten)), countries already coded.
    pub(super) fn new(segments: &[(u128, u8)]) -> Self {
        let (mut coarse, mut fine) = split(segments);
        coarse.dedup_by(|later, earlier| later.1 == earlier.1);
        fine.dedup_by(|later, earlier| later.1 == earlier.1);
        let coarse = coarse
            .into_iter()
            .map(|(block, code)| (coarse_bucket(block), block, code));
        let fine = fine.into_iter().map(|(start, code)| (0, start, code));
        Self {
            coarse: Buckets::new(coarse, 1 << 16),
            fine: Buckets::new(fine, 1),
        }
    }

    #[inline]
    pub(super) fn find(&self, address: u128) -> u8 {
        let block = block(address);
        match self.coarse.find(coarse_bucket(block), block) {
            SEE_FINE => self.fine.find(0, address),
            code => code,
        }
    }

    /// Entries in the coarse and the fine table.
    pub(super) fn len(&self) -> (usize, usize) {
        (self.coarse.len(), self.fine.len())
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.coarse.heap_bytes() + self.fine.heap_bytes()
    }
}

/// The /16 of a /64 block.
fn coarse_bucket(block: u64) -> usize {
    (block >> 48) as usize
}

/// The /64 block of an address: its high 64 bits.
fn block(address: u128) -> u64 {
    (address >> 64) as u64
}

fn is_block_start(address: u128) -> bool {
    address as u64 == 0
}

/// A block where only one segment starts, at its first address, goes to the
/// coarse table with that segment's code; any other block where a segment
/// starts is marked [`SEE_FINE`] and its segments go to the fine table,
/// preceded by an entry at the block start.
fn split(segments: &[(u128, u8)]) -> (Vec<CoarseEntry>, Vec<FineEntry>) {
    let mut coarse = Vec::with_capacity(segments.len());
    let mut fine = Vec::new();
    let mut code_before = NO_COUNTRY;
    let mut rest = segments;
    while let Some(&(first_start, _)) = rest.first() {
        let here = block(first_start);
        let count = rest
            .iter()
            .take_while(|&&(start, _)| block(start) == here)
            .count();
        let (in_block, after) = rest.split_at_checked(count).unwrap_or((rest, &[]));
        let last_code = in_block.last().map_or(code_before, |&(_, code)| code);
        match in_block {
            [(start, code)] if is_block_start(*start) => coarse.push((here, *code)),
            _ => {
                coarse.push((here, SEE_FINE));
                let code_at_block_start = match in_block.first() {
                    Some(&(start, code)) if is_block_start(start) => code,
                    _ => code_before,
                };
                fine.push((u128::from(here) << 64, code_at_block_start));
                fine.extend(
                    in_block
                        .iter()
                        .filter(|&&(start, _)| !is_block_start(start)),
                );
                // The block's last segment may run on into the following
                // blocks; keep lookups there in the coarse table.
                if let Some(following) = here.checked_add(1)
                    && after
                        .first()
                        .is_none_or(|&(start, _)| block(start) > following)
                {
                    coarse.push((following, last_code));
                }
            }
        }
        code_before = last_code;
        rest = after;
    }
    (coarse, fine)
}
