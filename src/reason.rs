//! Stable reason codes for decisions and rejections.

use std::fmt;

/// Why a request was denied, needs a license, or was rejected as bad input.
///
/// The string forms ([`ReasonCode::as_str`]) are a stable contract: they
/// appear in problem bodies, `grpc-message`, tags and audit records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReasonCode {
    /// A rule denies all provisioning for the jurisdiction (E:1, E:2).
    Embargoed,
    /// An export license is required and none was presented.
    LicenseRequired,
    /// The license token is malformed, unsigned, signed by an unknown key or
    /// issuer, or otherwise fails verification.
    LicenseInvalid,
    /// The license token has expired.
    LicenseExpired,
    /// The license token is not valid yet (`nbf` in the future).
    LicenseNotYetValid,
    /// The license has been revoked.
    LicenseRevoked,
    /// The license was issued to another customer.
    LicenseWrongCustomer,
    /// The license does not cover a country that triggered the requirement.
    LicenseCountryNotCovered,
    /// The license does not cover the accelerator class.
    LicenseClassNotCovered,
    /// The license does not cover the instance type.
    LicenseInstanceTypeNotCovered,
    /// The request asks for more accelerators than the license allows.
    LicenseQuantityExceeded,
    /// The license's quantity, counted across the fleet by a ledger, is
    /// used up: what is in use plus what is asked exceeds it.
    LicenseQuantityExhausted,
    /// The license ledger could not be reached in time; the request is
    /// refused rather than passed on uncounted (503).
    LedgerUnavailable,
    /// No country is known for the customer and the policy does not allow that.
    JurisdictionUnknown,
    /// The instance type is not in the catalog and the policy does not allow that.
    InstanceTypeUnknown,
    /// A country header is not an assigned ISO 3166-1 alpha-2 code.
    InvalidCountry,
    /// The customer id header is not 1–128 visible ASCII characters.
    InvalidCustomerId,
    /// `x-forwarded-for` from a trusted proxy cannot be parsed.
    InvalidForwarded,
    /// A header that must appear once appears more than once.
    AmbiguousHeader,
    /// The header and the body name different instance types.
    AmbiguousInstanceType,
    /// A provisioning request names no instance type.
    InstanceTypeMissing,
    /// The instance count is not an integer in 1–100000.
    InvalidCount,
    /// The provisioning request body is not JSON.
    InvalidBody,
    /// The provisioning request body is over the configured limit.
    BodyTooLarge,
}

impl ReasonCode {
    /// Every reason code.
    pub const ALL: [ReasonCode; 24] = [
        Self::Embargoed,
        Self::LicenseRequired,
        Self::LicenseInvalid,
        Self::LicenseExpired,
        Self::LicenseNotYetValid,
        Self::LicenseRevoked,
        Self::LicenseWrongCustomer,
        Self::LicenseCountryNotCovered,
        Self::LicenseClassNotCovered,
        Self::LicenseInstanceTypeNotCovered,
        Self::LicenseQuantityExceeded,
        Self::LicenseQuantityExhausted,
        Self::LedgerUnavailable,
        Self::JurisdictionUnknown,
        Self::InstanceTypeUnknown,
        Self::InvalidCountry,
        Self::InvalidCustomerId,
        Self::InvalidForwarded,
        Self::AmbiguousHeader,
        Self::AmbiguousInstanceType,
        Self::InstanceTypeMissing,
        Self::InvalidCount,
        Self::InvalidBody,
        Self::BodyTooLarge,
    ];

    /// The stable snake_case string, e.g. `license_required`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Embargoed => "embargoed",
            Self::LicenseRequired => "license_required",
            Self::LicenseInvalid => "license_invalid",
            Self::LicenseExpired => "license_expired",
            Self::LicenseNotYetValid => "license_not_yet_valid",
            Self::LicenseRevoked => "license_revoked",
            Self::LicenseWrongCustomer => "license_wrong_customer",
            Self::LicenseCountryNotCovered => "license_country_not_covered",
            Self::LicenseClassNotCovered => "license_class_not_covered",
            Self::LicenseInstanceTypeNotCovered => "license_instance_type_not_covered",
            Self::LicenseQuantityExceeded => "license_quantity_exceeded",
            Self::LicenseQuantityExhausted => "license_quantity_exhausted",
            Self::LedgerUnavailable => "ledger_unavailable",
            Self::JurisdictionUnknown => "jurisdiction_unknown",
            Self::InstanceTypeUnknown => "instance_type_unknown",
            Self::InvalidCountry => "invalid_country",
            Self::InvalidCustomerId => "invalid_customer_id",
            Self::InvalidForwarded => "invalid_forwarded",
            Self::AmbiguousHeader => "ambiguous_header",
            Self::AmbiguousInstanceType => "ambiguous_instance_type",
            Self::InstanceTypeMissing => "instance_type_missing",
            Self::InvalidCount => "invalid_count",
            Self::InvalidBody => "invalid_body",
            Self::BodyTooLarge => "body_too_large",
        }
    }

    /// A short human title for problem bodies.
    pub const fn title(self) -> &'static str {
        match self {
            Self::Embargoed => "Destination under embargo",
            Self::LicenseRequired => "Export license required",
            Self::LicenseInvalid => "Export license invalid",
            Self::LicenseExpired => "Export license expired",
            Self::LicenseNotYetValid => "Export license not yet valid",
            Self::LicenseRevoked => "Export license revoked",
            Self::LicenseWrongCustomer => "Export license issued to another customer",
            Self::LicenseCountryNotCovered => "Export license does not cover the country",
            Self::LicenseClassNotCovered => "Export license does not cover the accelerator class",
            Self::LicenseInstanceTypeNotCovered => {
                "Export license does not cover the instance type"
            }
            Self::LicenseQuantityExceeded => "Export license quantity exceeded",
            Self::LicenseQuantityExhausted => "Export license quantity used up",
            Self::LedgerUnavailable => "License ledger unavailable",
            Self::JurisdictionUnknown => "Customer jurisdiction unknown",
            Self::InstanceTypeUnknown => "Instance type unknown",
            Self::InvalidCountry => "Invalid country code",
            Self::InvalidCustomerId => "Invalid customer id",
            Self::InvalidForwarded => "Invalid forwarded header",
            Self::AmbiguousHeader => "Header repeated",
            Self::AmbiguousInstanceType => "Instance type given twice with different values",
            Self::InstanceTypeMissing => "Instance type missing",
            Self::InvalidCount => "Invalid instance count",
            Self::InvalidBody => "Invalid request body",
            Self::BodyTooLarge => "Request body too large",
        }
    }

    /// Whether this is a rejection of malformed input (400/413) rather than a
    /// legal block (451).
    pub const fn is_bad_input(self) -> bool {
        matches!(
            self,
            Self::InvalidCountry
                | Self::InvalidCustomerId
                | Self::InvalidForwarded
                | Self::AmbiguousHeader
                | Self::AmbiguousInstanceType
                | Self::InstanceTypeMissing
                | Self::InvalidCount
                | Self::InvalidBody
                | Self::BodyTooLarge
        )
    }

    /// The HTTP status a denial with this reason gets: 413 for
    /// `body_too_large`, 400 for other bad input, 503 for
    /// `ledger_unavailable`, 451 for legal blocks.
    pub fn http_status(self) -> http::StatusCode {
        match self {
            Self::BodyTooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            Self::LedgerUnavailable => http::StatusCode::SERVICE_UNAVAILABLE,
            r if r.is_bad_input() => http::StatusCode::BAD_REQUEST,
            _ => http::StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
