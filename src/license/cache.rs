//! The verified-token cache.
//!
//! Maps a token to its verified claims, so a token presented again skips
//! signature verification. Only tokens that passed every check of
//! [`LicenseVerifier::verify`](super::LicenseVerifier::verify) are
//! inserted; failures are never cached. An entry is dropped once the token's
//! `exp` is reached, even inside the clock leeway (such a token is verified
//! afresh). Time, revocation and scope are re-checked on every call by the
//! verifier, hit or miss.
//!
//! Entries are keyed by the whole token. The map is bucketed by the last 16
//! bytes of the token (the end of its signature, random for genuine tokens)
//! and the whole token is compared within the bucket, so a hit costs one
//! small hash and one `memcmp` instead of a digest of the token. A crafted
//! token can only land in a bucket of genuine, verified tokens, which hold
//! one entry in practice: crafted tokens are never inserted.
//!
//! Hits scale across threads: the cache is split into shards by bucket,
//! each behind a read-write lock that a hit only reads (its one write, the
//! entry's "used" bit, is an atomic that is stored only when it was clear).
//!
//! The cache is bounded in entries, each shard holding its share. A full
//! shard evicts one entry by CLOCK (second chance): the hand passes over
//! the entries, dropping the first one that has expired or was not used
//! since the hand last passed, and clearing the "used" bit of the others.
//! Tokens in use stay; O(1) amortised per insert.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use super::claims::LicenseClaims;
use super::keys::KeyTag;

/// The bucket of a token: its last 16 bytes.
pub(crate) type CacheKey = u128;

/// Shards at most; fewer when the capacity is smaller.
const MAX_SHARDS: usize = 16;

/// A verified token, its claims and the key it was verified under.
struct Entry {
    key: CacheKey,
    token: Box<str>,
    claims: Arc<LicenseClaims>,
    tag: KeyTag,
    /// Set on every hit, cleared by the CLOCK hand.
    used: AtomicBool,
}

/// A shard's lock on cache lines of its own: a hit on one shard takes the
/// lock word, which must not share a line with the next shard's.
#[repr(align(128))]
struct Padded(RwLock<Shard>);

pub(crate) struct TokenCache {
    capacity: usize,
    shards: Box<[Padded]>,
}

/// One shard: its entries in a ring the CLOCK hand walks, and an index from
/// bucket to positions in the ring.
struct Shard {
    capacity: usize,
    entries: Vec<Entry>,
    buckets: HashMap<CacheKey, Vec<usize>>,
    hand: usize,
}

impl TokenCache {
    /// A cache of at most `capacity` entries; 0 disables it.
    pub(crate) fn new(capacity: usize) -> Self {
        let count = capacity.min(MAX_SHARDS);
        let shards = (0..count)
            .map(|i| {
                // The capacity split as evenly as it goes; the sum is `capacity`.
                let share = capacity / count + usize::from(i < capacity % count);
                Padded(RwLock::new(Shard {
                    capacity: share,
                    entries: Vec::new(),
                    buckets: HashMap::new(),
                    hand: 0,
                }))
            })
            .collect();
        Self { capacity, shards }
    }

    /// The bucket for `token`, or `None` when caching is disabled.
    pub(crate) fn key(&self, token: &str) -> Option<CacheKey> {
        if self.capacity == 0 {
            return None;
        }
        let bytes = token.as_bytes();
        let tail = bytes.get(bytes.len().saturating_sub(16)..).unwrap_or(bytes);
        let mut key = [0u8; 16];
        for (slot, b) in key.iter_mut().zip(tail) {
            *slot = *b;
        }
        Some(u128::from_le_bytes(key))
    }

    /// The cached claims for `token`, unless it has expired by `now` (a
    /// duration since the Unix epoch) or the key it was verified under is
    /// no longer `trusted`.
    pub(crate) fn get(
        &self,
        key: CacheKey,
        token: &str,
        now: Duration,
        trusted: impl FnOnce(KeyTag) -> bool,
    ) -> Option<Arc<LicenseClaims>> {
        let lock = self.shard(key)?;
        {
            let shard = read(lock);
            let entry = shard.find(key, token)?;
            if now < entry.claims.expires() && trusted(entry.tag) {
                if !entry.used.load(Ordering::Relaxed) {
                    entry.used.store(true, Ordering::Relaxed);
                }
                return Some(Arc::clone(&entry.claims));
            }
        }
        write(lock).remove(key, token);
        None
    }

    /// Caches verified claims (ignored when they expire by `now`).
    pub(crate) fn insert(
        &self,
        key: CacheKey,
        token: &str,
        claims: Arc<LicenseClaims>,
        tag: KeyTag,
        now: Duration,
    ) {
        if now >= claims.expires() {
            return;
        }
        let Some(lock) = self.shard(key) else {
            return;
        };
        let mut shard = write(lock);
        shard.remove(key, token);
        if shard.entries.len() >= shard.capacity {
            shard.evict(now);
        }
        shard.push(Entry {
            key,
            token: token.into(),
            claims,
            tag,
            used: AtomicBool::new(false),
        });
    }

    /// Entries currently held (expired ones included until evicted).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| read(&s.0).entries.len()).sum()
    }

    /// The configured bound.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The shard of a bucket; `None` when caching is disabled.
    fn shard(&self, key: CacheKey) -> Option<&RwLock<Shard>> {
        // The key is token text (base64url): mix every byte into the choice.
        let folded = (key as u64) ^ ((key >> 64) as u64);
        let mixed = folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        let count = self.shards.len();
        if count == 0 {
            return None;
        }
        self.shards
            .get(usize::try_from(mixed).unwrap_or(0) % count)
            .map(|s| &s.0)
    }
}

// A shard is consistent after any panic (no multi-step update can be
// interrupted by one), so a poisoned lock is still usable.
fn read(lock: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(lock: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Shard {
    fn find(&self, key: CacheKey, token: &str) -> Option<&Entry> {
        self.buckets
            .get(&key)?
            .iter()
            .filter_map(|&i| self.entries.get(i))
            .find(|e| *e.token == *token)
    }

    fn push(&mut self, entry: Entry) {
        let at = self.entries.len();
        self.buckets.entry(entry.key).or_default().push(at);
        self.entries.push(entry);
    }

    fn remove(&mut self, key: CacheKey, token: &str) {
        let at = self.buckets.get(&key).and_then(|bucket| {
            bucket
                .iter()
                .copied()
                .find(|&i| self.entries.get(i).is_some_and(|e| *e.token == *token))
        });
        if let Some(at) = at {
            self.remove_at(at);
        }
    }

    /// Removes the entry at `at`; the last entry moves into its place.
    fn remove_at(&mut self, at: usize) {
        if at >= self.entries.len() {
            return;
        }
        let removed = self.entries.swap_remove(at);
        if let Some(bucket) = self.buckets.get_mut(&removed.key) {
            bucket.retain(|&i| i != at);
            if bucket.is_empty() {
                self.buckets.remove(&removed.key);
            }
        }
        let moved_from = self.entries.len();
        if let Some(moved) = self.entries.get(at)
            && let Some(bucket) = self.buckets.get_mut(&moved.key)
        {
            for i in bucket.iter_mut().filter(|i| **i == moved_from) {
                *i = at;
            }
        }
    }

    /// Drops one entry: the first, from the hand on, that has expired or
    /// was not used since the hand last passed it.
    fn evict(&mut self, now: Duration) {
        let len = self.entries.len();
        // Two turns at most: the first clears every bit it passes.
        for _ in 0..=2 * len {
            if self.hand >= self.entries.len() {
                self.hand = 0;
            }
            let Some(entry) = self.entries.get(self.hand) else {
                return;
            };
            let used = entry.used.swap(false, Ordering::Relaxed);
            if !used || now >= entry.claims.expires() {
                self.remove_at(self.hand);
                return;
            }
            self.hand += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    const NOW: Duration = Duration::from_secs(1_000);

    fn claims(jti: &str, exp: u64) -> Arc<LicenseClaims> {
        Arc::new(LicenseClaims::new("iss", "sub", jti, exp, Vec::new()))
    }

    fn token(i: usize) -> String {
        format!("header.payload.signature-{i:08}")
    }

    fn put(cache: &TokenCache, t: &str, exp: u64) {
        let key = cache.key(t).unwrap();
        cache.insert(key, t, claims(t, exp), KeyTag::default(), NOW);
    }

    fn hit(cache: &TokenCache, t: &str) -> bool {
        let key = cache.key(t).unwrap();
        cache.get(key, t, NOW, |_| true).is_some()
    }

    #[test]
    fn holds_at_most_its_capacity_and_finds_what_it_holds() {
        for capacity in [1, 3, 16, 17, 100] {
            let cache = TokenCache::new(capacity);
            for i in 0..capacity * 3 {
                put(&cache, &token(i), 2_000);
                assert!(cache.len() <= capacity);
                assert!(hit(&cache, &token(i)), "just inserted {i}");
            }
        }
    }

    #[test]
    fn a_token_in_use_survives_a_stream_of_new_ones() {
        let cache = TokenCache::new(32);
        put(&cache, "hot", 2_000);
        for i in 0..1_000 {
            assert!(hit(&cache, "hot"), "evicted after {i} inserts");
            put(&cache, &token(i), 2_000);
        }
    }

    #[test]
    fn expired_entries_go_first_and_are_not_returned() {
        let cache = TokenCache::new(1);
        put(&cache, "old", 1_001);
        let key = cache.key("old").unwrap();
        let later = Duration::from_secs(1_001);
        assert!(cache.get(key, "old", later, |_| true).is_none());
        assert_eq!(cache.len(), 0);
        put(&cache, "a", 1_001);
        assert!(hit(&cache, "a"));
        // Full, and "a" was used; it has expired by the time "b" comes.
        let key = cache.key("b").unwrap();
        cache.insert(key, "b", claims("b", 5_000), KeyTag::default(), later);
        assert_eq!(cache.len(), 1);
        assert!(hit(&cache, "b"));
    }

    #[test]
    fn tokens_sharing_a_bucket_are_told_apart() {
        // Two entries per shard: a bucket lives in one shard.
        let cache = TokenCache::new(2 * MAX_SHARDS);
        // Same last 16 bytes, different tokens.
        let (a, b) = ("a.0123456789abcdef", "b.0123456789abcdef");
        assert_eq!(cache.key(a), cache.key(b));
        put(&cache, a, 2_000);
        assert!(!hit(&cache, b));
        put(&cache, b, 2_000);
        assert!(hit(&cache, a) && hit(&cache, b));
        let key = cache.key(a).unwrap();
        assert!(cache.get(key, a, NOW, |_| false).is_none());
        assert!(!hit(&cache, a) && hit(&cache, b));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let cache = TokenCache::new(0);
        assert!(cache.key("t").is_none());
        assert_eq!(cache.len(), 0);
    }
}
