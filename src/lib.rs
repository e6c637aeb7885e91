//! Tower middleware that enforces U.S. export controls on advanced AI chips
//! (ECCN 3A090 / 4A090) in front of a cloud provisioning API.
//!
//! For every request, [`ExportControlLayer`] works out the customer's
//! jurisdiction (declared, headquarters and network countries, and their
//! export-control country groups) and the accelerator class of the
//! requested instance type (computed from chip specifications), decides by
//! a [`Policy`], and either passes the request on tagged with
//! [`ExportTags`] or answers the denial itself (451 with a problem
//! document, 400/413 for bad input, or a gRPC status).
//!
//! The pieces can be used on their own:
//!
//! - [`decide`]: the pure decision function over a [`Policy`] and the
//!   [`Facts`] of a request;
//! - [`policy`]: the TOML policy, its validation and the embedded default
//!   ([`Policy::embedded_default`], an example to adapt, not legal advice);
//! - [`accelerator`]: chip specs, TPP and performance density, the
//!   classification [`Regime`](accelerator::Regime)s and the catalog;
//! - [`jurisdiction`]: [`CountryCode`], country groups, and the IP table;
//! - [`license`]: verification and scope checks of export-license tokens;
//! - [`layer`]: the Tower middleware.
//!
//! ```
//! use http::{Request, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_export_control::{ExportControlLayer, Policy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = ServiceBuilder::new()
//!     .layer(ExportControlLayer::new(Policy::embedded_default()))
//!     .service_fn(|_req: Request<_>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//!     });
//!
//! let request = Request::post("/v1/instances")
//!     .header("x-customer-id", "acme-cn")
//!     .header("x-customer-country", "CN")
//!     .header("content-type", "application/json")
//!     .body(http_body_util::Full::new(bytes::Bytes::from(
//!         r#"{"instance_type": "p5.48xlarge", "count": 1}"#,
//!     )))?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod accelerator;
pub mod audit;
#[cfg(feature = "cli")]
pub mod cli;
mod gate;
pub mod jurisdiction;
pub mod layer;
pub mod ledger;
pub mod license;
pub mod metrics;
pub mod policy;
mod reason;
pub mod verdict;
mod watch;

pub use accelerator::AcceleratorClass;
pub use gate::{Gate, ReloadStats};
pub use jurisdiction::{CountryCode, IpTable};
pub use layer::{ClientAddr, Denial, ExportControl, ExportControlLayer, ExportTags};
pub use policy::{Decision, Facts, Policy, PolicyError, decide};
pub use reason::ReasonCode;
pub use verdict::{Outcome, Verdict};
pub use watch::{PolicyWatcher, WatchOptions};
