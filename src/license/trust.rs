//! [`LicenseTrust`]: whom license tokens are accepted from, as a policy
//! file describes it.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::claims::LicenseClaims;
use super::config::LicenseConfig;
use super::error::LicenseConfigError;
use super::keys::{Issuer, KeyTag};
use super::live::{LiveSource, LiveSources};
use super::outcome::LicenseDenial;
use super::revocation::LiveRevocations;

/// The trusted issuers and their keys, the audience, the clock leeway and
/// the configured revocation list: everything the `[license]` section of a
/// policy file describes. Immutable; a policy reload brings a new one.
/// What changes while serving (revocations made at run time, the
/// verified-token cache) lives in a [`LicenseVerifier`](super::LicenseVerifier).
pub struct LicenseTrust {
    issuers: Vec<Issuer>,
    audience: Option<String>,
    leeway: Duration,
    /// The inline `revoked` list.
    revoked: HashSet<Box<str>>,
    /// `revoked_file` and `revoked_url`, read while serving.
    live_revoked: Vec<LiveRevocations>,
    cache_entries: usize,
}

impl LicenseTrust {
    /// Trusts no issuer: every token is `license_invalid`.
    pub fn none() -> Self {
        Self {
            issuers: Vec::new(),
            audience: None,
            leeway: Duration::ZERO,
            revoked: HashSet::new(),
            live_revoked: Vec::new(),
            cache_entries: LicenseConfig::default().cache_entries,
        }
    }

    /// Loads the issuers' keys and the revocation list named by `config`,
    /// resolving relative paths against `base_dir` (the policy file's
    /// directory).
    ///
    /// # Errors
    /// A [`LicenseConfigError`] naming the file that is missing or
    /// malformed, or the issuer whose configuration is inconsistent.
    pub fn from_config(
        config: &LicenseConfig,
        base_dir: &Path,
    ) -> Result<Self, LicenseConfigError> {
        let audience = config.audience.as_deref();
        let mut issuers: Vec<Issuer> = Vec::with_capacity(config.issuers.len());
        for issuer in &config.issuers {
            if issuers.iter().any(|i| i.name() == issuer.issuer) {
                return Err(LicenseConfigError::DuplicateIssuer {
                    issuer: issuer.issuer.clone(),
                });
            }
            issuers.push(Issuer::load(issuer, base_dir, audience)?);
        }
        let revoked: HashSet<Box<str>> = config
            .revoked
            .iter()
            .map(|jti| jti.as_str().into())
            .collect();
        let mut live_revoked = Vec::new();
        if let Some(file) = &config.revoked_file {
            live_revoked.push(LiveRevocations::file(config, base_dir.join(file))?);
        }
        if let Some(url) = &config.revoked_url {
            live_revoked.push(LiveRevocations::url(config, url)?);
        }
        Ok(Self {
            issuers,
            audience: config.audience.clone(),
            leeway: Duration::from_secs(config.leeway_seconds),
            revoked,
            live_revoked,
            cache_entries: config.cache_entries,
        })
    }

    /// Reads the `[license]` table of a TOML file (a standalone license
    /// file or a whole policy file; other tables are ignored), with paths
    /// relative to that file.
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

    /// Whether any issuer is trusted.
    pub fn has_issuers(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// The issuers' `iss` values.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.issuers.iter().map(Issuer::name)
    }

    /// The required `aud`, if any.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// Leeway for `exp` and `nbf`.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Whether the configured revocation lists name `jti`: `revoked`, and
    /// `revoked_file` and `revoked_url` as last read.
    pub fn is_revoked(&self, jti: &str) -> bool {
        matches!(
            self.check_revocation(jti),
            Err(denial) if denial.reason() == crate::ReasonCode::LicenseRevoked
        )
    }

    /// `license_revoked` when a configured list names `jti`;
    /// `license_invalid` when a live list (`revoked_file`, `revoked_url`)
    /// cannot be trusted to be current (not fetched yet, or stale).
    pub(crate) fn check_revocation(&self, jti: &str) -> Result<(), LicenseDenial> {
        if self.revoked.contains(jti) {
            return Err(LicenseDenial::revoked(jti));
        }
        self.live_revoked
            .iter()
            .try_for_each(|list| list.check(jti))
    }

    /// Points this trust's live sources (`jwks_url`, `revoked_file`,
    /// `revoked_url`) at `live`'s copies, starting those it lacks.
    pub(crate) fn attach(&self, live: &LiveSources) {
        for remote in self.issuers.iter().filter_map(Issuer::remote) {
            live.attach(remote);
        }
        for list in &self.live_revoked {
            live.attach(list);
        }
    }

    /// The keys of this trust's live sources in a [`LiveSources`].
    pub(crate) fn live_keys(&self) -> impl Iterator<Item = &str> {
        let keys = self
            .issuers
            .iter()
            .filter_map(Issuer::remote)
            .map(LiveSource::key);
        keys.chain(self.live_revoked.iter().map(LiveSource::key))
    }

    /// The `cache_entries` setting: the size a verifier built for this
    /// trust gives its cache.
    pub fn cache_entries(&self) -> usize {
        self.cache_entries
    }

    /// Whether a token accepted under `tag` is still accepted: its issuer,
    /// key and audience are unchanged.
    pub(crate) fn still_trusts(&self, tag: KeyTag) -> bool {
        self.issuers.iter().any(|i| i.has_key(tag))
    }

    /// Structure, issuer, key, algorithm, signature and audience: the checks
    /// whose outcome cannot change while this trust is in force, so their
    /// success may be cached (under the returned tag).
    pub(crate) fn authenticate(
        &self,
        token: &str,
    ) -> Result<(LicenseClaims, KeyTag), LicenseDenial> {
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
        let tag = issuer.verify(
            header.alg,
            header.kid.as_deref(),
            signing_input.as_bytes(),
            signature,
        )?;
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
        Ok((claims, tag))
    }
}

impl Default for LicenseTrust {
    fn default() -> Self {
        Self::none()
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

/// Messages that quote request data (parser errors on token content, a
/// user extractor's error) reach logs: keep them on one line and short.
pub(crate) fn printable(message: &str) -> String {
    message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

impl fmt::Debug for LicenseTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LicenseTrust")
            .field("issuers", &self.issuers)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("revoked", &self.revoked.len())
            .field("live_revoked", &self.live_revoked)
            .field("cache_entries", &self.cache_entries)
            .finish()
    }
}
