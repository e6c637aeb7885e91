//! [`LicenseVerifier`]: authenticity, validity and scope of license tokens.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::cache::TokenCache;
use super::claims::LicenseClaims;
use super::config::LicenseConfig;
use super::error::LicenseConfigError;
use super::keys::Issuer;
use super::outcome::{LicenseDenial, LicenseGrant};
use super::requirement::LicenseRequirement;
use crate::ReasonCode;

/// Verifies export-license tokens against trusted issuers' keys, the clock,
/// the revocation list and what a request needs.
///
/// Build one per policy and share it (it is `Send + Sync`; the token cache
/// inside is shared by all callers). See the [module docs](super) for the
/// checks and their precedence.
pub struct LicenseVerifier {
    issuers: Vec<Issuer>,
    audience: Option<String>,
    leeway: Duration,
    revoked: RwLock<HashSet<Box<str>>>,
    cache: TokenCache,
}

impl LicenseVerifier {
    /// Longest token accepted, in bytes; longer ones are rejected before any
    /// decoding.
    pub const MAX_TOKEN_LEN: usize = 8 * 1024;

    /// A verifier that trusts no issuer: every token is `license_invalid`.
    pub fn trust_none() -> Self {
        Self {
            issuers: Vec::new(),
            audience: None,
            leeway: Duration::ZERO,
            revoked: RwLock::default(),
            cache: TokenCache::new(0),
        }
    }

    /// Loads the issuers' keys and the revocation list named by `config`,
    /// resolving relative paths against `base_dir` (the policy file's
    /// directory).
    ///
    /// # Errors
    /// A [`LicenseConfigError`] naming the file that is missing or malformed,
    /// or the issuer whose configuration is inconsistent.
    pub fn from_config(
        config: &LicenseConfig,
        base_dir: &Path,
    ) -> Result<Self, LicenseConfigError> {
        let mut issuers: Vec<Issuer> = Vec::with_capacity(config.issuers.len());
        for issuer in &config.issuers {
            if issuers.iter().any(|i| i.name() == issuer.issuer) {
                return Err(LicenseConfigError::DuplicateIssuer {
                    issuer: issuer.issuer.clone(),
                });
            }
            issuers.push(Issuer::load(issuer, base_dir)?);
        }
        let mut revoked: HashSet<Box<str>> = config
            .revoked
            .iter()
            .map(|jti| jti.as_str().into())
            .collect();
        if let Some(file) = &config.revoked_file {
            let path = base_dir.join(file);
            let text =
                std::fs::read_to_string(&path).map_err(|source| LicenseConfigError::Read {
                    what: "revocation list",
                    path: path.clone(),
                    source,
                })?;
            revoked.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty() && !line.starts_with('#'))
                    .map(Box::from),
            );
        }
        Ok(Self {
            issuers,
            audience: config.audience.clone(),
            leeway: Duration::from_secs(config.leeway_seconds),
            revoked: RwLock::new(revoked),
            cache: TokenCache::new(config.cache_entries),
        })
    }

    /// Reads the `[license]` table of a TOML file (a standalone license
    /// file or a whole policy file; other tables are ignored) and builds a
    /// verifier with paths relative to that file.
    ///
    /// # Errors
    /// As [`from_config`](Self::from_config), plus an unreadable or invalid
    /// file, or one without a `[license]` table.
    pub fn from_toml_path(path: impl AsRef<Path>) -> Result<Self, LicenseConfigError> {
        #[derive(Deserialize)]
        struct File {
            license: Option<LicenseConfig>,
        }
        let path = path.as_ref();
        let invalid = |detail: String| LicenseConfigError::Config {
            path: path.to_owned(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|source| LicenseConfigError::Read {
            what: "license configuration",
            path: path.to_owned(),
            source,
        })?;
        let file: File = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let config = file
            .license
            .ok_or_else(|| invalid("no [license] table".into()))?;
        Self::from_config(&config, path.parent().unwrap_or_else(|| Path::new("")))
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
        token: &str,
        customer_id: Option<&str>,
        requirement: &LicenseRequirement<'_>,
        now: SystemTime,
    ) -> Result<LicenseGrant, LicenseDenial> {
        let claims = self.verify(token, now)?;
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
        let key = self.cache.key(token);
        if let Some(claims) = key.and_then(|key| self.cache.get(key, token, now)) {
            self.check_validity(&claims, now)?;
            return Ok(claims);
        }
        let claims = Arc::new(self.authenticate(token)?);
        self.check_validity(&claims, now)?;
        if let Some(key) = key {
            self.cache.insert(key, token, Arc::clone(&claims), now);
        }
        Ok(claims)
    }

    /// Revokes a license number (`jti`) from now on, in addition to the
    /// configured list; cached tokens of that license fail on their next
    /// check.
    pub fn revoke(&self, jti: &str) {
        self.revoked
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(jti.into());
    }

    /// Tokens in the verified-token cache (expired ones included until they
    /// are evicted or looked up).
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Structure, issuer, key, algorithm, signature and audience: the checks
    /// whose outcome cannot change while the verifier lives, so their
    /// success may be cached.
    fn authenticate(&self, token: &str) -> Result<LicenseClaims, LicenseDenial> {
        let not_jws =
            || LicenseDenial::invalid("the token is not a compact JWS (header.payload.signature)");
        let (signing_input, signature) = token.rsplit_once('.').ok_or_else(not_jws)?;
        let (header, payload) = signing_input.split_once('.').ok_or_else(not_jws)?;
        if payload.contains('.') {
            return Err(not_jws());
        }
        let header: JoseHeader = decode_json(header).ok_or_else(|| {
            LicenseDenial::invalid(
                "the token header is malformed or names an unsupported algorithm",
            )
        })?;
        if header.crit.is_some() {
            return Err(LicenseDenial::invalid(
                "the token header lists critical extensions (`crit`); none are supported",
            ));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LicenseDenial::invalid("the token payload is not base64url"))?;
        // Parsed before the signature is checked because the issuer selects
        // the key; the claims are trusted only once it verifies.
        let claims: LicenseClaims = serde_json::from_slice(&payload).map_err(|e| {
            LicenseDenial::invalid(format!(
                "the token claims are malformed: {}",
                printable(&e.to_string())
            ))
        })?;
        let issuer = self
            .issuers
            .iter()
            .find(|issuer| issuer.name() == claims.iss)
            .ok_or_else(|| LicenseDenial::invalid("the token's issuer (`iss`) is not trusted"))?;
        let key = issuer
            .key_for(header.alg, header.kid.as_deref())
            .map_err(LicenseDenial::invalid)?;
        if !key.verify(signing_input.as_bytes(), signature) {
            return Err(LicenseDenial::invalid(
                "the token signature does not verify",
            ));
        }
        if claims.jti.is_empty() {
            return Err(LicenseDenial::invalid(
                "the license number (`jti`) is empty",
            ));
        }
        if let Some(audience) = &self.audience
            && !claims.aud.iter().any(|aud| aud == audience)
        {
            return Err(LicenseDenial::invalid(
                "the token is not for this audience (`aud`)",
            ));
        }
        Ok(claims)
    }

    /// Revocation, then expiry, then not-before; re-run on every call.
    fn check_validity(&self, claims: &LicenseClaims, now: Duration) -> Result<(), LicenseDenial> {
        let revoked = self
            .revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(claims.jti.as_str());
        if revoked {
            return Err(LicenseDenial::new(
                ReasonCode::LicenseRevoked,
                format!("license {:?} has been revoked", claims.jti),
            ));
        }
        if now >= claims.expires().saturating_add(self.leeway) {
            return Err(LicenseDenial::new(
                ReasonCode::LicenseExpired,
                format!("the license expired at {} (Unix time)", claims.exp),
            ));
        }
        if let Some(nbf) = claims.nbf
            && now.saturating_add(self.leeway) < Duration::from_secs(nbf)
        {
            return Err(LicenseDenial::new(
                ReasonCode::LicenseNotYetValid,
                format!("the license is valid from {nbf} (Unix time)"),
            ));
        }
        Ok(())
    }
}

/// The JOSE header members the verifier acts on (RFC 7515 §4.1); others are
/// ignored, and keys are never taken from the token (`jwk`, `jku`, `x5u`).
#[derive(Deserialize)]
struct JoseHeader {
    /// jsonwebtoken's algorithm names; `none` is not among them.
    alg: Algorithm,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// A base64url JSON part of a token, or `None`.
fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
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

/// Parser messages can quote token content: keep them on one line and short.
fn printable(message: &str) -> String {
    message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

impl fmt::Debug for LicenseVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LicenseVerifier")
            .field("issuers", &self.issuers)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field(
                "revoked",
                &self.revoked.read().map_or(0, |revoked| revoked.len()),
            )
            .field("cache_capacity", &self.cache.capacity())
            .field("cache_len", &self.cache.len())
            .finish()
    }
}
