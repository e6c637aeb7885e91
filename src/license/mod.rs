//! Export-license tokens: what a license must cover, and how tokens are
//! verified.
//!
//! A license token is a JWT (RFC 7519) in compact JWS form, signed by a
//! trusted issuer, that names the customer (`sub`), the license number
//! (`jti`), its validity (`exp`, optional `nbf`) and its scope: `countries`,
//! optional `accelerator_classes`, `instance_types` and `max_accelerators`
//! (see [`LicenseClaims`]).
//!
//! # Checks, in the order their failures are reported
//!
//! 1. `license_required`: the token is empty.
//! 2. `license_invalid`: anything structural or cryptographic: longer than
//!    [`LicenseVerifier::MAX_TOKEN_LEN`] (checked before any decoding), not a
//!    compact JWS, bad base64url or JSON, `alg: none` or an unsupported
//!    algorithm, a `crit` header, claims missing or of the wrong JSON type,
//!    an untrusted `iss`, a `kid` that is not a key *of that issuer*, an
//!    `alg` other than the key's, a signature that does not verify, an empty
//!    `jti`, or an `aud` without the configured audience.
//! 3. `license_revoked`: the `jti` is in the configured revocation list or
//!    was revoked since with [`LicenseVerifier::revoke`] (a revoked license
//!    is reported as such even when it has also expired).
//! 4. `license_expired`: `now ≥ exp + leeway`.
//! 5. `license_not_yet_valid`: `now + leeway < nbf`.
//! 6. `license_wrong_customer`: `sub` is not the request's customer id (or
//!    the request has none).
//! 7. `jurisdiction_unknown`: the requirement names no country (none of
//!    the customer's is known), so no license can be matched to it;
//!    `license_country_not_covered`: a country that triggered the
//!    requirement (or, when none did, a country known of the customer) is
//!    not in `countries` (an alias such as `HK` is covered by its target,
//!    `CN`; see [`RequiredCountry::is_covered_by`]).
//! 8. `license_class_not_covered`: `accelerator_classes` is present and
//!    lacks the requested class.
//! 9. `license_instance_type_not_covered`: `instance_types` is present and
//!    lacks the requested instance type (or the type is unknown).
//! 10. `license_quantity_exceeded`: the request needs more accelerators than
//!     `max_accelerators`.
//!
//! Steps 2–5 are [`LicenseVerifier::verify`]; [`LicenseVerifier::check`]
//! adds 6–10. Time is always passed in: the verifier never reads the clock.
//!
//! # What is trusted, and what lives while serving
//!
//! [`LicenseTrust`] is what the policy's `[license]` section describes:
//! issuers, keys, audience, leeway and the configured revocation list. It
//! is replaced with the policy. [`LicenseVerifier`] is the run-time state:
//! the verified-token cache and the licenses revoked with
//! [`LicenseVerifier::revoke`]. It outlives reloads, so a revocation made
//! while serving is never undone by one, and a cached token counts only
//! while the trust in force still holds the key and audience it was
//! verified under.
//!
//! # Keys and algorithms
//!
//! Each issuer has keys from a JWKS file, PEM files and (with the
//! `remote-jwks` feature) a `jwks_url`, selected by the token's `kid`
//! (several at once, so keys rotate without downtime), and optionally an
//! HS256 shared secret. `EdDSA` (Ed25519), `ES256` and `RS256`
//! are accepted; `HS256` only for an issuer with `hs256_secret_file`. A key
//! is bound to its algorithm when loaded, and a token must use exactly that
//! algorithm, so a public key can never be used as an HMAC secret.
//!
//! # Live sources
//!
//! A `jwks_url`, a `revoked_file` and a `revoked_url` change while
//! serving. Each is kept current by a background thread (fetched on an
//! interval or the server's `max-age`, a file re-read when it changes) and
//! read by requests without waiting. The copies are run-time state of the
//! verifier, keyed by source, so a reload naming the same source keeps
//! them; the thread stops when no verifier uses the source
//! ([`refresh_threads`] counts them). A token naming a `kid` the fetched
//! set lacks asks for a rate-limited refetch; a copy older than its
//! maximum staleness fails closed (`license_invalid`).
//!
//! # Cache
//!
//! Verifying a signature dominates the cost of a check, and a customer
//! presents the same token on every request. The verifier keeps the claims
//! of tokens that passed [`verify`](LicenseVerifier::verify), keyed by the
//! whole token, bounded by `cache_entries` (0 disables it). An entry
//! lives until the token's `exp` at the latest; revocation, time and scope
//! are checked again on every call, so a cached token still fails once it
//! expires or is revoked. When the cache is full, expired entries are
//! dropped first, then an arbitrary half of the rest.

mod cache;
mod claims;
mod config;
mod error;
mod keys;
mod live;
mod outcome;
mod remote;
mod remote_keys;
mod requirement;
mod revocation;
mod trust;
mod verifier;

pub use claims::LicenseClaims;
pub use config::{IssuerConfig, LicenseConfig, PemKeyConfig};
pub use error::LicenseConfigError;
pub use live::refresh_threads;
pub use outcome::{LicenseDenial, LicenseGrant};
pub use requirement::{LicenseRequirement, RequiredCountry};
pub use trust::LicenseTrust;
pub(crate) use trust::printable;
pub use verifier::LicenseVerifier;
