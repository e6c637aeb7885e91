//! The middleware service.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use tower_service::Service;

use super::body::{RequestBody, ResponseBody};
use super::builder::Shared;
use super::client_ip::{client_ip, peer_addr};
use super::decision::evaluate;
use super::denial::Denial;
use super::future::ResponseFuture;
use super::read::{BodyFacts, is_grpc, merge, read_body, read_headers, strip_export_headers};
use crate::{Policy, ReasonCode};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The export-control middleware; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct ExportControl<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S> ExportControl<S> {
    /// Wraps `inner` with `policy` and the default denial responses.
    pub fn new(inner: S, policy: impl Into<Arc<Policy>>) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared::new(policy.into())),
        }
    }

    /// A layer that wraps services with `policy`.
    pub fn layer(policy: impl Into<Arc<Policy>>) -> super::ExportControlLayer {
        super::ExportControlLayer::new(policy)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ExportControl<S>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        let make_denial = Arc::clone(&shared.make_denial);
        let policy = &*shared.policy;
        let (mut parts, body) = req.into_parts();
        let grpc = is_grpc(&parts.headers);
        let bad = |reason: ReasonCode, detail: &str| {
            ResponseFuture::denied(
                Denial::bad_input(reason, detail.to_owned(), policy, grpc),
                Arc::clone(&make_denial),
            )
        };

        let mut facts = match read_headers(&parts.headers, policy.http()) {
            Ok(f) => f,
            Err(reason) => return bad(reason, header_problem(reason)),
        };
        let peer = peer_addr(&parts.extensions);
        let client = match client_ip(peer, &parts.headers, policy.trusted_proxies()) {
            Ok(ip) => ip,
            Err(reason) => {
                return bad(
                    reason,
                    "x-forwarded-for from a trusted proxy is not a list of IP addresses.",
                );
            }
        };
        // After reading: the license header is itself an `x-export-*` name.
        strip_export_headers(&mut parts.headers);

        let routes = &policy.http().provisioning_routes;
        let Some(route) = routes
            .iter()
            .position(|r| r.matches(&parts.method, parts.uri.path()))
        else {
            if let Err(reason) = merge(&mut facts, BodyFacts::default(), false) {
                return bad(reason, header_problem(reason));
            }
            return match evaluate(policy, &facts, client, (shared.clock)(), grpc) {
                Ok(tags) => {
                    tags.write_headers(&mut parts.headers);
                    parts.extensions.insert(tags);
                    let req = Request::from_parts(parts, RequestBody::streaming(body));
                    ResponseFuture::inner(self.inner.call(req), make_denial)
                }
                Err(denial) => ResponseFuture::denied(*denial, make_denial),
            };
        };

        let limit = policy.http().body_limit_bytes;
        let declared_len = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_len.is_some_and(|n| n > limit as u64) {
            return bad(
                ReasonCode::BodyTooLarge,
                "The request body is over the provisioning body limit.",
            );
        }
        // Take the instance that was polled ready; leave a fresh clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let future = async move {
            let policy = &*shared.policy;
            let bad = |reason: ReasonCode, detail: &str| {
                Denial::bad_input(reason, detail.to_owned(), policy, grpc)
            };
            let bytes = match Limited::new(body, limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return Err(bad(
                        ReasonCode::BodyTooLarge,
                        "The request body is over the provisioning body limit.",
                    ));
                }
                Err(_) => {
                    return Err(bad(
                        ReasonCode::InvalidBody,
                        "The request body could not be read.",
                    ));
                }
            };
            let route = policy.http().provisioning_routes.get(route);
            let body_facts = match route.map(|r| read_body(&bytes, r)) {
                Some(Ok(b)) => b,
                Some(Err(reason)) => return Err(bad(reason, body_problem(reason))),
                None => BodyFacts::default(),
            };
            if let Err(reason) = merge(&mut facts, body_facts, true) {
                return Err(bad(reason, body_problem(reason)));
            }
            let tags = evaluate(policy, &facts, client, (shared.clock)(), grpc).map_err(|d| *d)?;
            tags.write_headers(&mut parts.headers);
            parts.extensions.insert(tags);
            let req = Request::from_parts(parts, RequestBody::buffered(bytes));
            Ok(inner.call(req).await)
        };
        ResponseFuture::reading(Box::pin(future), make_denial)
    }
}

fn header_problem(reason: ReasonCode) -> &'static str {
    match reason {
        ReasonCode::InvalidCountry => {
            "A country header is not an assigned ISO 3166-1 alpha-2 code."
        }
        ReasonCode::InvalidCustomerId => {
            "The customer id must be 1 to 128 visible ASCII characters."
        }
        ReasonCode::AmbiguousHeader => "A header that must appear once appears more than once.",
        ReasonCode::InvalidCount => "The instance count must be an integer from 1 to 100000.",
        ReasonCode::InstanceTypeMissing => {
            "The instance type must be 1 to 128 visible ASCII characters."
        }
        _ => "The request is malformed.",
    }
}

fn body_problem(reason: ReasonCode) -> &'static str {
    match reason {
        ReasonCode::InvalidBody => {
            "The provisioning request body is not JSON of the expected shape."
        }
        ReasonCode::InvalidCount => "The instance count must be an integer from 1 to 100000.",
        ReasonCode::InstanceTypeMissing => "The provisioning request names no instance type.",
        ReasonCode::AmbiguousInstanceType => {
            "The instance type header and the body name different instance types."
        }
        _ => header_problem(reason),
    }
}
