//! The verified-token cache.
//!
//! Maps the SHA-256 of a token to its verified claims, so a token presented
//! again skips signature verification. Only tokens that passed every check
//! of [`LicenseVerifier::verify`](super::LicenseVerifier::verify) are
//! inserted; failures are never cached. An entry is dropped once the token's
//! `exp` is reached, even inside the clock leeway (such a token is verified
//! afresh). Time, revocation and scope are re-checked on every call by the
//! verifier, hit or miss.
//!
//! The cache is bounded in entries. Inserting into a full cache first drops
//! expired entries and then, if it is still full, an arbitrary half of the
//! rest: O(1) amortised, with no bookkeeping on the hit path. Keying by
//! digest bounds memory per entry whatever the token size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::claims::LicenseClaims;

/// A cache key: the SHA-256 of the token.
pub(crate) type CacheKey = [u8; 32];

pub(crate) struct TokenCache {
    capacity: usize,
    entries: Mutex<HashMap<CacheKey, Arc<LicenseClaims>>>,
}

impl TokenCache {
    /// A cache of at most `capacity` entries; 0 disables it.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The key for `token`, or `None` when caching is disabled.
    pub(crate) fn key(&self, token: &str) -> Option<CacheKey> {
        (self.capacity > 0).then(|| Sha256::digest(token.as_bytes()).into())
    }

    /// The cached claims for `key`, unless the token has expired by `now`
    /// (a duration since the Unix epoch).
    pub(crate) fn get(&self, key: &CacheKey, now: Duration) -> Option<Arc<LicenseClaims>> {
        let mut entries = self.lock();
        let claims = entries.get(key)?;
        if now < claims.expires() {
            return Some(Arc::clone(claims));
        }
        entries.remove(key);
        None
    }

    /// Caches verified claims (ignored when they expire by `now`).
    pub(crate) fn insert(&self, key: CacheKey, claims: Arc<LicenseClaims>, now: Duration) {
        if now >= claims.expires() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, c| now < c.expires());
            if entries.len() >= self.capacity {
                let mut keep = false;
                entries.retain(|_, _| {
                    keep = !keep;
                    !keep
                });
            }
        }
        entries.insert(key, claims);
    }

    /// Entries currently held (expired ones included until evicted).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The configured bound.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, Arc<LicenseClaims>>> {
        // The map is consistent after any panic (no multi-step updates), so
        // a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
