//! The Tower middleware: reads the facts of each request, decides, and
//! either passes the request on, tagged, or answers the denial itself.
//!
//! # What it reads
//!
//! The identity headers (`x-customer-country`, `x-customer-headquarters`,
//! `x-customer-id`; renamable in the policy's `[http]` section), the
//! instance type and count (headers, and on the policy's provisioning
//! routes the JSON body, read up to a limit), the license token
//! (`x-export-license`), and the client address: [`ClientAddr`] in the
//! request extensions, or axum's `ConnectInfo<SocketAddr>` with the `axum`
//! feature. `x-forwarded-for` is believed only from a peer inside the
//! policy's `trusted_proxies`, taking the right-most address that is not
//! itself a trusted proxy. Malformed input is answered with 400 or 413 and
//! a [`ReasonCode`](crate::ReasonCode); the inner service is not called.
//!
//! # What it does
//!
//! A request that is allowed (or covered by a license) is passed on with
//! an [`ExportTags`] extension and `x-export-*` headers; any `x-export-*`
//! header the client sent is removed first. A denied request is answered
//! with 451 and an `application/problem+json` body, or for gRPC a
//! trailers-only answer (`grpc-status` 7 or 3), and the typed [`Denial`] is
//! put into the response extensions. [`ExportControlLayer::with_denial_response`]
//! replaces the response. In report-only mode would-be denials are passed
//! on, tagged `report-only-deny`, and logged as "would deny".
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Empty;
//! use bytes::Bytes;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_export_control::policy::Mode;
//! use tower_export_control::{ExportControlLayer, ExportTags, Policy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::embedded_default().with_mode(Mode::ReportOnly);
//! let service = ServiceBuilder::new()
//!     .layer(ExportControlLayer::new(policy))
//!     .service_fn(|req: Request<_>| async move {
//!         let tags = req.extensions().get::<ExportTags>().cloned();
//!         let decision = tags.map_or("untagged", |t| t.outcome().as_str());
//!         Ok::<_, std::convert::Infallible>(
//!             Response::builder().header("seen", decision).body(Empty::<Bytes>::new()).unwrap(),
//!         )
//!     });
//!
//! let request = Request::get("/v1/instances")
//!     .header("x-customer-country", "CN")
//!     .header("x-instance-type", "p5.48xlarge")
//!     .header("x-export-decision", "allow") // forged: removed
//!     .body(Empty::<Bytes>::new())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["seen"], "report-only-deny");
//! # Ok(())
//! # }
//! ```
//!
//! # Placement
//!
//! After request-id and tracing layers, before body limits and handlers;
//! CORS outside it, so preflights are answered without a decision. The
//! identity headers must come from your identity gateway: strip them from
//! end-user traffic at the edge.

mod body;
mod body_json;
mod builder;
mod client_ip;
mod collect;
mod decision;
mod denial;
mod future;
mod grpc;
mod json_flat;
mod quantity;
mod read;
mod service;
mod tags;

pub use body::{RequestBody, ResponseBody};
pub use builder::ExportControlLayer;
pub use client_ip::ClientAddr;
pub use denial::{Denial, MakeDenialResponse};
pub use future::ResponseFuture;
pub use grpc::{BoxError, ExtractInstance, RequestedInstances};
pub use service::ExportControl;
pub use tags::{
    ExportTags, TAG_ACCELERATOR_CLASS, TAG_COUNTRY, TAG_COUNTRY_GROUPS, TAG_DECISION,
    TAG_LICENSE_ID, TAG_POLICY, TAG_RESERVATION,
};
