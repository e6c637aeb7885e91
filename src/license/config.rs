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
/// revoked_file = "revoked.txt"             # one jti per line; optional
/// cache_entries = 10000
///
/// [[license.issuers]]
/// issuer = "https://licensing.example.com"
/// jwks_file = "keys/licensing.jwks.json"   # relative to the policy file
/// pem_keys = [{ kid = "2026-11", path = "keys/2026-11.pem", algorithm = "EdDSA" }]
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
