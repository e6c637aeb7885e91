//! [`LicenseVerifier`]: authenticity, validity and scope of license tokens,
//! with the state that lives while serving.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cache::TokenCache;
use super::claims::LicenseClaims;
use super::live::LiveSources;
use super::outcome::{LicenseDenial, LicenseGrant};
use super::requirement::LicenseRequirement;
use super::trust::LicenseTrust;
use crate::ReasonCode;

/// Verifies export-license tokens against a [`LicenseTrust`] (issuers'
/// keys, audience, leeway, configured revocations), the clock, the
/// revocations made while serving and what a request needs.
///
/// The verifier is the run-time half: it keeps the verified-token cache and
/// the licenses revoked with [`revoke`](Self::revoke), and outlives policy
/// reloads, so an emergency revocation stays in force whatever the next
/// policy file says. The trust is passed to each call: the one of the
/// policy in force. A cached token counts only while that trust still holds
/// the key (and audience) it was verified under.
///
/// It is `Send + Sync`; share one per process. See the [module
/// docs](super) for the checks and their precedence.
pub struct LicenseVerifier {
    /// Copied on write: a revocation is rare, and a check on every core
    /// reads it without touching a shared lock word.
    revoked: ArcSwap<HashSet<Box<str>>>,
    cache: TokenCache,
    /// Key sets and revocation lists fetched while serving.
    live: LiveSources,
}

impl LicenseVerifier {
    /// Longest token accepted, in bytes; longer ones are rejected before any
    /// decoding.
    pub const MAX_TOKEN_LEN: usize = 8 * 1024;

    /// A verifier whose cache holds up to `cache_entries` verified tokens
    /// (0 disables the cache; the policy setting is
    /// [`LicenseTrust::cache_entries`]).
    pub fn new(cache_entries: usize) -> Self {
        Self {
            revoked: ArcSwap::default(),
            cache: TokenCache::new(cache_entries),
            live: LiveSources::default(),
        }
    }

    /// Checks that `token` is an authentic, current, unrevoked license that
    /// covers `requirement` for `customer_id`, at time `now`.
    ///
    /// An empty token is `license_required`. The checks and the order in
    /// which their failures are reported are listed in the
    /// [module docs](super).
    ///
    /// # Errors
    /// A [`LicenseDenial`] with the first failing check's reason code.
    pub fn check(
        &self,
        trust: &LicenseTrust,
        token: &str,
        customer_id: Option<&str>,
        requirement: &LicenseRequirement<'_>,
        now: SystemTime,
    ) -> Result<LicenseGrant, LicenseDenial> {
        let claims = self.verify(trust, token, now)?;
        check_scope(&claims, customer_id, requirement)?;
        Ok(LicenseGrant::new(claims))
    }

    /// Checks authenticity, time validity and revocation, but not what the
    /// license covers.
    ///
    /// # Errors
    /// A [`LicenseDenial`]: `license_required` (empty token),
    /// `license_invalid`, `license_revoked`, `license_expired` or
    /// `license_not_yet_valid`.
    pub fn verify(
        &self,
        trust: &LicenseTrust,
        token: &str,
        now: SystemTime,
    ) -> Result<Arc<LicenseClaims>, LicenseDenial> {
        if token.is_empty() {
            return Err(LicenseDenial::new(
                ReasonCode::LicenseRequired,
                "no license token was presented",
            ));
        }
        if token.len() > Self::MAX_TOKEN_LEN {
            return Err(LicenseDenial::invalid("the token is longer than 8 KiB"));
        }
        let now = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        // Cheap once attached: a trust used here first starts its sources.
        trust.attach(&self.live);
        let key = self.cache.key(token);
        let cached = key.and_then(|key| {
            self.cache
                .get(key, token, now, |tag| trust.still_trusts(tag))
        });
        if let Some(claims) = cached {
            crate::metrics::license_cache_hit();
            self.check_validity(trust, &claims, now)?;
            return Ok(claims);
        }
        let (claims, tag) = trust.authenticate(token)?;
        let claims = Arc::new(claims);
        self.check_validity(trust, &claims, now)?;
        if let Some(key) = key {
            self.cache.insert(key, token, Arc::clone(&claims), tag, now);
        }
        Ok(claims)
    }

    /// Revokes a license number (`jti`) from now on, in addition to the
    /// trust's configured list; cached tokens of that license fail on their
    /// next check. Kept across policy reloads.
    pub fn revoke(&self, jti: &str) {
        self.revoked.rcu(|revoked| {
            let mut revoked = HashSet::clone(revoked);
            revoked.insert(jti.into());
            revoked
        });
    }

    /// Whether `jti` was revoked with [`revoke`](Self::revoke).
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked.load().contains(jti)
    }

    /// Keeps the live sources (`jwks_url`, `revoked_file`, `revoked_url`)
    /// of `trusts`, starting those not running yet, and stops the others:
    /// what a reload that names the same sources keeps, and one that drops
    /// them ends.
    pub(crate) fn track(&self, trusts: &[&LicenseTrust]) {
        for trust in trusts {
            trust.attach(&self.live);
        }
        let keep: Vec<&str> = trusts.iter().flat_map(|t| t.live_keys()).collect();
        self.live.retain(&keep);
    }

    /// Tokens in the verified-token cache (expired ones included until they
    /// are evicted or looked up).
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Revocation, then expiry, then not-before; re-run on every call.
    fn check_validity(
        &self,
        trust: &LicenseTrust,
        claims: &LicenseClaims,
        now: Duration,
    ) -> Result<(), LicenseDenial> {
        let jti = claims.jti.as_str();
        if self.is_revoked(jti) {
            return Err(LicenseDenial::revoked(jti));
        }
        trust.check_revocation(jti)?;
        let leeway = trust.leeway();
        if now >= claims.expires().saturating_add(leeway) {
            return Err(LicenseDenial::new(
                ReasonCode::LicenseExpired,
                format!("the license expired at {} (Unix time)", claims.exp),
            ));
        }
        if let Some(nbf) = claims.nbf
            && now.saturating_add(leeway) < Duration::from_secs(nbf)
        {
            return Err(LicenseDenial::new(
                ReasonCode::LicenseNotYetValid,
                format!("the license is valid from {nbf} (Unix time)"),
            ));
        }
        Ok(())
    }
}

impl Default for LicenseVerifier {
    /// A verifier with the default cache size (10,000 tokens).
    fn default() -> Self {
        Self::new(LicenseTrust::none().cache_entries())
    }
}

/// Customer, countries, class, instance type, quantity: in that order.
fn check_scope(
    claims: &LicenseClaims,
    customer_id: Option<&str>,
    requirement: &LicenseRequirement<'_>,
) -> Result<(), LicenseDenial> {
    match customer_id {
        Some(customer) if customer == claims.sub => {}
        Some(_) => {
            return Err(LicenseDenial::new(
                ReasonCode::LicenseWrongCustomer,
                "the license was issued to another customer",
            ));
        }
        None => {
            return Err(LicenseDenial::new(
                ReasonCode::LicenseWrongCustomer,
                "the request names no customer, and a license is bound to one",
            ));
        }
    }
    if requirement.countries().next().is_none() {
        return Err(LicenseDenial::new(
            ReasonCode::JurisdictionUnknown,
            "no country of the customer is known, so no license can be matched to it",
        ));
    }
    if let Some(missing) = requirement
        .countries()
        .find(|country| !country.is_covered_by(&claims.countries))
    {
        return Err(LicenseDenial::new(
            ReasonCode::LicenseCountryNotCovered,
            format!("the license does not cover {}", missing.country),
        ));
    }
    if let Some(classes) = &claims.accelerator_classes
        && !classes.contains(&requirement.class)
    {
        return Err(LicenseDenial::new(
            ReasonCode::LicenseClassNotCovered,
            format!(
                "the license does not cover accelerator class {}",
                requirement.class
            ),
        ));
    }
    if let Some(types) = &claims.instance_types
        && !requirement
            .instance_type
            .is_some_and(|wanted| types.iter().any(|t| t == wanted))
    {
        return Err(LicenseDenial::new(
            ReasonCode::LicenseInstanceTypeNotCovered,
            "the license does not cover the requested instance type",
        ));
    }
    if let Some(max) = claims.max_accelerators
        && requirement.accelerators > max
    {
        return Err(LicenseDenial::new(
            ReasonCode::LicenseQuantityExceeded,
            format!(
                "the request needs {} accelerators; the license allows {max}",
                requirement.accelerators
            ),
        ));
    }
    Ok(())
}

impl fmt::Debug for LicenseVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LicenseVerifier")
            .field("revoked", &self.revoked.load().len())
            .field("cache_capacity", &self.cache.capacity())
            .field("cache_len", &self.cache.len())
            .field("live_sources", &self.live.len())
            .finish()
    }
}
