//! Tower middleware that enforces U.S. AI-chip export controls in front of a
//! cloud provisioning API.
#![forbid(unsafe_code)]

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod accelerator;
pub mod jurisdiction;
pub mod layer;
pub mod license;
pub mod policy;
mod reason;

pub use accelerator::AcceleratorClass;
pub use jurisdiction::{CountryCode, IpTable};
pub use layer::{ClientAddr, Denial, ExportControl, ExportControlLayer, ExportTags};
pub use policy::{Decision, Facts, Outcome, Policy, PolicyError, decide};
pub use reason::ReasonCode;
