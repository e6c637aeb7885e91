//! Errors building a [`LicenseTrust`](super::LicenseTrust) from its
//! configuration.

use std::io;
use std::path::PathBuf;

/// Why a license configuration could not be loaded. Every variant names the
/// file (or issuer) at fault and what was wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LicenseConfigError {
    /// A file named by the configuration could not be read.
    #[error("cannot read {what} `{}`: {source}", path.display())]
    Read {
        /// What the file was for (`JWKS`, `PEM key`, …).
        what: &'static str,
        /// The resolved path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A license configuration file is not valid TOML or does not match the
    /// `[license]` schema.
    #[error("invalid license configuration `{}`: {detail}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// The parser's message.
        detail: String,
    },
    /// A JWKS document is not valid JSON, or one of its keys is unusable.
    #[error("malformed JWKS `{}`: {detail}", path.display())]
    Jwks {
        /// The JWKS file.
        path: PathBuf,
        /// What is wrong, naming the key by position and `kid`.
        detail: String,
    },
    /// A PEM key file does not hold a public key of the configured algorithm.
    #[error("malformed PEM key `{}` (kid `{kid}`): {detail}", path.display())]
    Pem {
        /// The PEM file.
        path: PathBuf,
        /// The key id it was configured under.
        kid: String,
        /// What is wrong.
        detail: String,
    },
    /// A PEM key is configured with an algorithm this verifier does not
    /// support.
    #[error(
        "PEM key `{}` (kid `{kid}`): unknown algorithm `{algorithm}` (expected EdDSA, ES256 or RS256)",
        path.display()
    )]
    UnknownAlgorithm {
        /// The PEM file.
        path: PathBuf,
        /// The key id it was configured under.
        kid: String,
        /// The configured algorithm string.
        algorithm: String,
    },
    /// An RSA key (from a PEM file or a JWKS) with a modulus shorter than
    /// 2048 bits.
    #[error(
        "RSA key (kid `{kid}`) in `{}` is {bits} bits; at least 2048 are required",
        path.display()
    )]
    RsaKeyTooShort {
        /// The PEM or JWKS file.
        path: PathBuf,
        /// The key id (as configured for a PEM key, from the JWK in a JWKS).
        kid: String,
        /// The modulus length in bits.
        bits: usize,
    },
    /// An HS256 secret file is unusable (too short).
    #[error("HS256 secret `{}`: {detail}", path.display())]
    Hs256Secret {
        /// The secret file.
        path: PathBuf,
        /// What is wrong (never the secret itself).
        detail: String,
    },
    /// Two keys of one issuer share a `kid`, so tokens could not select one.
    #[error(
        "issuer `{issuer}`: key id `{kid}` is defined twice (`{}` and `{}`)",
        first.display(),
        second.display()
    )]
    DuplicateKid {
        /// The issuer.
        issuer: String,
        /// The repeated key id.
        kid: String,
        /// Where it was first defined.
        first: PathBuf,
        /// Where it was defined again.
        second: PathBuf,
    },
    /// The same issuer appears twice in the configuration.
    #[error("issuer `{issuer}` is configured twice")]
    DuplicateIssuer {
        /// The issuer.
        issuer: String,
    },
    /// An issuer has no key to verify its tokens with.
    #[error(
        "issuer `{issuer}` has no keys (set jwks_file, jwks_url, pem_keys or hs256_secret_file)"
    )]
    NoKeys {
        /// The issuer.
        issuer: String,
    },
    /// A `jwks_url` or `revoked_url` that may not be fetched: not a URL,
    /// not HTTPS, or plain HTTP to a host that is not a loopback address.
    #[error("{owner}: {field} `{url}`: {detail}")]
    RemoteUrl {
        /// `issuer `…`` or `[license]`.
        owner: String,
        /// `jwks_url` or `revoked_url`.
        field: &'static str,
        /// The configured URL.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A `jwks_url` or `revoked_url` in a build without the `remote-jwks`
    /// cargo feature.
    #[error(
        "{owner}: {field} needs the `remote-jwks` cargo feature, which this build does not enable"
    )]
    RemoteDisabled {
        /// `issuer `…`` or `[license]`.
        owner: String,
        /// `jwks_url` or `revoked_url`.
        field: &'static str,
    },
    /// A refresh or staleness setting out of range.
    #[error("{owner}: {field} = {value}: {detail}")]
    Setting {
        /// `issuer `…`` or `[license]`.
        owner: String,
        /// The setting.
        field: &'static str,
        /// Its configured value.
        value: u64,
        /// The accepted range.
        detail: String,
    },
}

impl LicenseConfigError {
    /// The `[license]` field the error is about, when it is one of the
    /// live-source settings (`jwks_url`, `revoked_url`, their intervals).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::RemoteUrl { field, .. }
            | Self::RemoteDisabled { field, .. }
            | Self::Setting { field, .. } => Some(field),
            _ => None,
        }
    }
}
