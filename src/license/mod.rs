//! Export-license tokens: what a license must cover, and how tokens are
//! verified.

mod config;
mod requirement;

pub use config::{IssuerConfig, LicenseConfig, PemKeyConfig};
pub use requirement::{LicenseRequirement, RequiredCountry};
