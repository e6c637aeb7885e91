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
//! The cache is bounded in entries. Inserting into a full cache first drops
//! expired entries and then, if it is still full, an arbitrary half of the
//! rest: O(1) amortised, with no bookkeeping on the hit path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::claims::LicenseClaims;
use super::keys::KeyTag;

/// The bucket of a token: its last 16 bytes.
pub(crate) type CacheKey = u128;

type Bucket = Vec<Entry>;

/// A verified token, its claims and the key it was verified under.
struct Entry {
    token: Box<str>,
    claims: Arc<LicenseClaims>,
    tag: KeyTag,
}

pub(crate) struct TokenCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    buckets: HashMap<CacheKey, Bucket>,
    len: usize,
}

impl TokenCache {
    /// A cache of at most `capacity` entries; 0 disables it.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(Entries::default()),
        }
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
        let mut entries = self.lock();
        let bucket = entries.buckets.get(&key)?;
        let entry = bucket.iter().find(|e| *e.token == *token)?;
        if now < entry.claims.expires() && trusted(entry.tag) {
            return Some(Arc::clone(&entry.claims));
        }
        entries.remove(key, token);
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
        let mut entries = self.lock();
        entries.remove(key, token);
        if entries.len >= self.capacity {
            entries.retain(|c| now < c.expires());
            if entries.len >= self.capacity {
                let mut keep = false;
                entries.retain(|_| {
                    keep = !keep;
                    !keep
                });
            }
        }
        entries.buckets.entry(key).or_default().push(Entry {
            token: token.into(),
            claims,
            tag,
        });
        entries.len += 1;
    }

    /// Entries currently held (expired ones included until evicted).
    pub(crate) fn len(&self) -> usize {
        self.lock().len
    }

    /// The configured bound.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // The map is consistent after any panic (no multi-step updates), so
        // a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Entries {
    fn remove(&mut self, key: CacheKey, token: &str) {
        if let Some(bucket) = self.buckets.get_mut(&key) {
            let before = bucket.len();
            bucket.retain(|e| *e.token != *token);
            self.len -= before - bucket.len();
            if bucket.is_empty() {
                self.buckets.remove(&key);
            }
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&LicenseClaims) -> bool) {
        let mut len = 0;
        self.buckets.retain(|_, bucket| {
            bucket.retain(|e| keep(&e.claims));
            len += bucket.len();
            !bucket.is_empty()
        });
        self.len = len;
    }
}
