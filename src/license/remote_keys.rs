//! An issuer's keys fetched from its `jwks_url`.
//!
//! The key set is fetched in the background (see [`live`](super::live)) and
//! read by requests without waiting. A token naming a `kid` the set does
//! not have is refused, and asks for a fetch (rate limited by
//! `jwks_min_refetch_seconds`), so a rotated key is accepted on a retry
//! moments later. Keys the verifier cannot use (`use` other than `sig`, an
//! unsupported `kty`, `crv` or `alg`, an RSA key under 2048 bits) are
//! skipped with a log line; a document with no usable key counts as a
//! failed fetch.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::config::IssuerConfig;
use super::error::LicenseConfigError;
use super::keys::{KeyError, KeyTag, TrustedKey, jwk_key};
use super::live::{self, LiveSource, Poller, Schedule, Signal, Slot, Started};
use super::outcome::LicenseDenial;
use super::remote::{self, Client};

/// The `jwks_url` of one issuer, as a trust names it.
pub(crate) struct RemoteKeys {
    issuer: String,
    url: String,
    audience: Option<String>,
    schedule: Schedule,
    /// Issuer, URL, audience (part of each key's cache tag) and schedule.
    key: String,
    slot: Slot<KeySet>,
}

/// What requests read: the last good key set, or why there is none.
pub(crate) struct KeySet {
    state: ArcSwap<State>,
    signal: Arc<Signal>,
}

enum State {
    /// Not fetched yet.
    Pending,
    Fresh(HashMap<String, TrustedKey>),
    /// Past the maximum staleness: the issuer's tokens fail closed.
    Expired(String),
}

impl RemoteKeys {
    pub(crate) fn new(
        config: &IssuerConfig,
        url: &str,
        audience: Option<&str>,
    ) -> Result<Self, LicenseConfigError> {
        let owner = format!("issuer `{}`", config.issuer);
        remote::check_url(&owner, "jwks_url", url)?;
        let schedule = live::schedule(
            &owner,
            [
                ("jwks_refresh_seconds", config.jwks_refresh_seconds),
                ("jwks_max_stale_seconds", config.jwks_max_stale_seconds),
                ("jwks_min_refetch_seconds", config.jwks_min_refetch_seconds),
            ],
        )?;
        remote::require_feature(&owner, "jwks_url")?;
        let key = format!("jwks\0{}\0{url}\0{audience:?}\0{schedule:?}", config.issuer);
        Ok(Self {
            issuer: config.issuer.clone(),
            url: url.to_owned(),
            audience: audience.map(str::to_owned),
            schedule,
            key,
            slot: Slot::new(),
        })
    }

    /// Whether the current key set has a key with `tag`.
    pub(crate) fn has_key(&self, tag: KeyTag) -> bool {
        self.slot
            .get()
            .is_some_and(|set| match &**set.state.load() {
                State::Fresh(keys) => keys.values().any(|k| k.tag() == tag),
                State::Pending | State::Expired(_) => false,
            })
    }

    /// Verifies a token with the fetched key `kid`; asks for a fetch when
    /// there is no such key.
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        kid: &str,
        signing_input: &[u8],
        signature: &str,
    ) -> Result<KeyTag, LicenseDenial> {
        let Some(set) = self.slot.get() else {
            return Err(LicenseDenial::invalid(
                "the issuer's keys (jwks_url) are not being fetched",
            ));
        };
        let state = set.state.load();
        match &**state {
            // The first fetch is under way (or retried on its own).
            State::Pending => Err(LicenseDenial::invalid(
                "the issuer's keys (jwks_url) have not been fetched yet",
            )),
            // A stale set is retried early too, within the same rate limit,
            // while tokens keep coming.
            State::Expired(reason) => {
                set.signal.refetch();
                Err(LicenseDenial::invalid(format!(
                    "the issuer's keys (jwks_url) are stale: {reason}"
                )))
            }
            State::Fresh(keys) => match keys.get(kid) {
                Some(key) => key.check(alg, signing_input, signature),
                None => {
                    set.signal.refetch();
                    Err(LicenseDenial::invalid(
                        "the token's `kid` is not a key of its issuer",
                    ))
                }
            },
        }
    }
}

impl LiveSource for RemoteKeys {
    type Cell = KeySet;

    fn key(&self) -> &str {
        &self.key
    }

    fn slot(&self) -> &Slot<KeySet> {
        &self.slot
    }

    fn start(&self) -> Started<KeySet> {
        let signal = Arc::new(Signal::default());
        let cell = Arc::new(KeySet {
            state: ArcSwap::from_pointee(State::Pending),
            signal: Arc::clone(&signal),
        });
        let poller = JwksPoller {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            url: self.url.clone(),
            describe: format!("jwks_url {} (issuer {})", self.url, self.issuer),
            client: Client::new(),
        };
        let schedule = self.schedule;
        let thread_signal = Arc::clone(&signal);
        let work = Box::new(move |weak: Weak<KeySet>| {
            live::run(weak, thread_signal, poller, schedule, false);
        });
        (cell, signal, work)
    }
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.slot.get().map(|set| match &**set.state.load() {
            State::Pending => "pending".to_owned(),
            State::Fresh(keys) => format!("{} keys", keys.len()),
            State::Expired(_) => "expired".to_owned(),
        });
        f.debug_struct("RemoteKeys")
            .field("url", &self.url)
            .field("schedule", &self.schedule)
            .field("keys", &keys)
            .finish()
    }
}

struct JwksPoller {
    issuer: String,
    audience: Option<String>,
    url: String,
    describe: String,
    client: Client,
}

impl Poller for JwksPoller {
    const KIND: &'static str = "jwks";
    type Cell = KeySet;

    fn poll(&mut self, cell: &KeySet) -> Result<Option<Duration>, String> {
        let fetched = self.client.get(&self.url)?;
        let keys = self.parse(&fetched.body)?;
        tracing::debug!(source = %self.describe, keys = keys.len(), "key set fetched");
        cell.state.store(Arc::new(State::Fresh(keys)));
        Ok(fetched.max_age)
    }

    fn expire(&self, cell: &KeySet, reason: &str) {
        cell.state
            .store(Arc::new(State::Expired(reason.to_owned())));
    }

    fn describe(&self) -> &str {
        &self.describe
    }
}

impl JwksPoller {
    /// The usable keys of a JWKS document; the others are logged and
    /// skipped.
    fn parse(&self, body: &[u8]) -> Result<HashMap<String, TrustedKey>, String> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document =
            serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = HashMap::with_capacity(document.keys.len());
        for (index, value) in document.keys.into_iter().enumerate() {
            let bytes = serde_json::to_vec(&value).unwrap_or_default();
            let skip = |why: &str| {
                tracing::warn!(source = %self.describe, index, reason = why, "JWKS key skipped");
            };
            let (kid, alg, material) = match jwk_key(value) {
                Ok(Some(key)) => key,
                Ok(None) => {
                    skip("an encryption key (`use` is `enc`)");
                    continue;
                }
                Err(KeyError::Invalid(detail)) => {
                    skip(&detail);
                    continue;
                }
                Err(KeyError::RsaTooShort { bits }) => {
                    skip(&format!(
                        "RSA key of {bits} bits; at least 2048 are required"
                    ));
                    continue;
                }
            };
            let key = TrustedKey::new(kid, alg, PathBuf::from(&self.url), material, &bytes)
                .tagged(&self.issuer, self.audience.as_deref());
            match keys.entry(key.kid().to_owned()) {
                Entry::Occupied(_) => skip("a key with the same kid comes earlier"),
                Entry::Vacant(slot) => {
                    slot.insert(key);
                }
            }
        }
        if keys.is_empty() {
            return Err("the JWKS document has no usable signing key".into());
        }
        Ok(keys)
    }
}
