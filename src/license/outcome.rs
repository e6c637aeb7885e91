//! What a license check returns.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::claims::LicenseClaims;
use crate::ReasonCode;

/// A license token that covers the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenseGrant {
    claims: Arc<LicenseClaims>,
}

impl LicenseGrant {
    pub(crate) fn new(claims: Arc<LicenseClaims>) -> Self {
        Self { claims }
    }

    /// The license number (`jti`), for audit records.
    pub fn jti(&self) -> &str {
        &self.claims.jti
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.claims.iss
    }

    /// All verified claims.
    pub fn claims(&self) -> &LicenseClaims {
        &self.claims
    }

    /// The verified claims, shared with the verifier's cache.
    pub fn into_claims(self) -> Arc<LicenseClaims> {
        self.claims
    }
}

/// Why a license token does not let a request through.
///
/// [`reason`](Self::reason) is the stable code; [`detail`](Self::detail) is
/// a short human explanation that never contains the token, key material or
/// the customer id, so it may be shown to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenseDenial {
    reason: ReasonCode,
    detail: Cow<'static, str>,
}

impl LicenseDenial {
    pub(crate) fn new(reason: ReasonCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }

    pub(crate) fn revoked(jti: &str) -> Self {
        Self::new(
            ReasonCode::LicenseRevoked,
            format!("license {jti:?} has been revoked"),
        )
    }

    pub(crate) fn invalid(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ReasonCode::LicenseInvalid, detail)
    }

    /// The reason code (`license_invalid`, `license_expired`, …).
    pub fn reason(&self) -> ReasonCode {
        self.reason
    }

    /// A human explanation.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for LicenseDenial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

impl std::error::Error for LicenseDenial {}
