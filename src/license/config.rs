//! The `[license]` section of a policy file.

use serde::Deserialize;

/// How license tokens are verified: trusted issuers and their keys,
/// audience, clock leeway, revocations and the verified-token cache.
///
/// ```toml
/// [license]
/// audience = "provisioning.example.com"   # optional; checked when set
/// leeway_seconds = 60
/// revoked = ["LIC-2026-0042"]
/// revoked_file = "revoked.txt"             # one jti per line; re-read when it changes
/// # revoked_url = "https://licensing.example.com/revoked.txt"  # needs `remote-jwks`
/// revoked_refresh_seconds = 60
/// revoked_max_stale_seconds = 86400
/// cache_entries = 10000
///
/// [[license.issuers]]
/// issuer = "https://licensing.example.com"
/// jwks_file = "keys/licensing.jwks.json"   # relative to the policy file
/// pem_keys = [{ kid = "2026-11", path = "keys/2026-11.pem", algorithm = "EdDSA" }]
/// # jwks_url = "https://licensing.example.com/.well-known/jwks.json"  # needs `remote-jwks`
/// # jwks_refresh_seconds = 300
/// # jwks_max_stale_seconds = 86400
/// # jwks_min_refetch_seconds = 30
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LicenseConfig {
    /// Issuers whose tokens are accepted, each with its keys.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// Required `aud` value, when set.
    #[serde(default)]
    pub audience: Option<String>,
    /// Leeway for `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway_seconds")]
    pub leeway_seconds: u64,
    /// Revoked license ids (`jti`).
    #[serde(default)]
    pub revoked: Vec<String>,
    /// A file of revoked license ids, one a line (`#` comments allowed),
    /// relative to the policy file.
    #[serde(default)]
    pub revoked_file: Option<String>,
    /// A URL serving revoked license ids as text, one a line (`#` comments
    /// allowed), polled in the background. HTTPS, or plain HTTP to a
    /// loopback address; needs the `remote-jwks` feature.
    #[serde(default)]
    pub revoked_url: Option<String>,
    /// How often `revoked_file` is checked for changes and `revoked_url`
    /// fetched, in seconds.
    #[serde(default = "default_revoked_refresh_seconds")]
    pub revoked_refresh_seconds: u64,
    /// How long the last good copy of `revoked_file` or `revoked_url` is
    /// used while it cannot be read, in seconds; past that every license
    /// is refused (`license_invalid`).
    #[serde(default = "default_max_stale_seconds")]
    pub revoked_max_stale_seconds: u64,
    /// Maximum entries in the verified-token cache (0 disables it).
    #[serde(default = "default_cache_entries")]
    pub cache_entries: usize,
}

impl Default for LicenseConfig {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            audience: None,
            leeway_seconds: default_leeway_seconds(),
            revoked: Vec::new(),
            revoked_file: None,
            revoked_url: None,
            revoked_refresh_seconds: default_revoked_refresh_seconds(),
            revoked_max_stale_seconds: default_max_stale_seconds(),
            cache_entries: default_cache_entries(),
        }
    }
}

/// One trusted issuer and the keys its tokens may be signed with.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// The exact `iss` claim value.
    pub issuer: String,
    /// A JWKS document (RFC 7517), relative to the policy file.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// PEM public keys, each with the `kid` tokens name it by.
    #[serde(default)]
    pub pem_keys: Vec<PemKeyConfig>,
    /// A file holding an HS256 shared secret; HS256 is accepted for this
    /// issuer only when this is set.
    #[serde(default)]
    pub hs256_secret_file: Option<String>,
    /// A JWKS document served over HTTPS (or plain HTTP to a loopback
    /// address), fetched in the background; needs the `remote-jwks`
    /// feature.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// How often `jwks_url` is fetched, in seconds (sooner when the
    /// server's `Cache-Control: max-age` says so).
    #[serde(default = "default_jwks_refresh_seconds")]
    pub jwks_refresh_seconds: u64,
    /// How long the last good key set is used while `jwks_url` cannot be
    /// fetched, in seconds; past that the issuer's tokens are refused
    /// (`license_invalid`).
    #[serde(default = "default_max_stale_seconds")]
    pub jwks_max_stale_seconds: u64,
    /// The shortest time between two fetches of `jwks_url` caused by
    /// tokens naming a `kid` the key set does not have, in seconds.
    #[serde(default = "default_jwks_min_refetch_seconds")]
    pub jwks_min_refetch_seconds: u64,
}

/// A PEM-encoded public key.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PemKeyConfig {
    /// The key id tokens carry in their `kid` header.
    pub kid: String,
    /// The PEM file, relative to the policy file.
    pub path: String,
    /// `EdDSA`, `ES256` or `RS256`.
    pub algorithm: String,
}

impl IssuerConfig {
    /// An issuer whose tokens carry `iss` = `issuer`, with no keys yet.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            jwks_file: None,
            pem_keys: Vec::new(),
            hs256_secret_file: None,
            jwks_url: None,
            jwks_refresh_seconds: default_jwks_refresh_seconds(),
            jwks_max_stale_seconds: default_max_stale_seconds(),
            jwks_min_refetch_seconds: default_jwks_min_refetch_seconds(),
        }
    }
}

impl PemKeyConfig {
    /// The key `kid` in the PEM file `path`, for `algorithm` (`EdDSA`,
    /// `ES256` or `RS256`).
    pub fn new(
        kid: impl Into<String>,
        path: impl Into<String>,
        algorithm: impl Into<String>,
    ) -> Self {
        Self {
            kid: kid.into(),
            path: path.into(),
            algorithm: algorithm.into(),
        }
    }
}

fn default_leeway_seconds() -> u64 {
    60
}

fn default_cache_entries() -> usize {
    10_000
}

fn default_revoked_refresh_seconds() -> u64 {
    60
}

fn default_jwks_refresh_seconds() -> u64 {
    300
}

fn default_jwks_min_refetch_seconds() -> u64 {
    30
}

fn default_max_stale_seconds() -> u64 {
    86_400
}
