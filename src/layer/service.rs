//! The middleware service.

use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::request::Parts;
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
use super::read::{
    BodyFacts, HeaderFacts, is_grpc, merge, read_body, read_headers, strip_export_headers,
};
use super::record;
use crate::audit::DecisionId;
use crate::policy::PolicyHandle;
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
    pub fn new(inner: S, policy: impl Into<PolicyHandle>) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared::new(policy.into())),
        }
    }

    /// A layer that wraps services with `policy`.
    pub fn layer(policy: impl Into<PolicyHandle>) -> super::ExportControlLayer {
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
        let make_denial = || Arc::clone(&self.shared.make_denial);
        let (mut parts, body) = req.into_parts();
        let cx = Ctx {
            policy: self.shared.policy.current(),
            shared: &*self.shared,
            id: DecisionId::next(),
            grpc: is_grpc(&parts.headers),
        };

        let (mut facts, client, route) = match cx.prepare(&mut parts) {
            Ok(prepared) => prepared,
            Err(denial) => return ResponseFuture::denied(*denial, make_denial()),
        };
        let Some(route) = route else {
            return match cx.decide_and_tag(&facts, client, &mut parts) {
                Ok(()) => {
                    let req = Request::from_parts(parts, RequestBody::streaming(body));
                    ResponseFuture::inner(self.inner.call(req))
                }
                Err(denial) => ResponseFuture::denied(*denial, make_denial()),
            };
        };

        // Take the instance that was polled ready; leave a fresh clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let cx = Ctx {
            shared: Arc::clone(&self.shared),
            policy: cx.policy,
            id: cx.id,
            grpc: cx.grpc,
        };
        let future = async move {
            let limit = cx.policy.http().body_limit_bytes;
            let reject = |reason, detail, facts: &HeaderFacts| {
                *cx.reject(reason, detail, Some(facts), client)
            };
            let (bytes, trailers) = match Limited::new(body, limit).collect().await {
                // Trailers travel on with the bytes, as on a streamed body.
                Ok(collected) => {
                    let trailers = collected.trailers().cloned();
                    (collected.to_bytes(), trailers)
                }
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return Err(reject(ReasonCode::BodyTooLarge, TOO_LARGE, &facts));
                }
                Err(_) => {
                    let detail = "The request body could not be read.";
                    return Err(reject(ReasonCode::InvalidBody, detail, &facts));
                }
            };
            let route = cx.policy.http().provisioning_routes.get(route);
            let body_facts = match route.map(|r| read_body(&bytes, r)) {
                Some(Ok(b)) => b,
                Some(Err(reason)) => return Err(reject(reason, body_problem(reason), &facts)),
                None => BodyFacts::default(),
            };
            if let Err(reason) = merge(&mut facts, body_facts, true) {
                return Err(reject(reason, body_problem(reason), &facts));
            }
            cx.decide_and_tag(&facts, client, &mut parts)
                .map_err(|d| *d)?;
            let req = Request::from_parts(parts, RequestBody::buffered(bytes, trailers));
            Ok(inner.call(req).await)
        };
        ResponseFuture::reading(Box::pin(future), make_denial())
    }
}

const TOO_LARGE: &str = "The request body is over the provisioning body limit.";

/// What the header phase found: the facts, the client IP and the
/// provisioning route, if any.
type Prepared = (HeaderFacts, Option<IpAddr>, Option<usize>);

/// One request in flight: the policy in force when it arrived, its
/// decision id, and whether it is gRPC. `S` is `&Shared` while the request
/// is decided in `call`, and `Arc<Shared>` once it moves into a future.
struct Ctx<S> {
    shared: S,
    policy: Arc<Policy>,
    id: DecisionId,
    grpc: bool,
}

impl<S: Deref<Target = Shared>> Ctx<S> {
    /// Reads the headers and the client IP, removes client `x-export-*`
    /// headers, and finds the provisioning route; rejects bad input.
    fn prepare(&self, parts: &mut Parts) -> Result<Prepared, Box<Denial>> {
        let http = self.policy.http();
        let mut facts = read_headers(&parts.headers, http)
            .map_err(|reason| self.reject(reason, header_problem(reason), None, None))?;
        let peer = peer_addr(&parts.extensions);
        let client =
            client_ip(peer, &parts.headers, self.policy.trusted_proxies()).map_err(|reason| {
                let detail = "x-forwarded-for from a trusted proxy is not a list of IP addresses.";
                self.reject(reason, detail, Some(&facts), peer)
            })?;
        // After reading: the license header is itself an `x-export-*` name.
        strip_export_headers(&mut parts.headers);
        let route = http
            .provisioning_routes
            .iter()
            .position(|r| r.matches(&parts.method, parts.uri.path()));
        match route {
            None => merge(&mut facts, BodyFacts::default(), false).map_err(|reason| {
                self.reject(reason, header_problem(reason), Some(&facts), client)
            })?,
            Some(_) => {
                let declared_len = parts
                    .headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let limit = u64::try_from(http.body_limit_bytes).unwrap_or(u64::MAX);
                if declared_len.is_some_and(|n| n > limit) {
                    let reason = ReasonCode::BodyTooLarge;
                    return Err(self.reject(reason, TOO_LARGE, Some(&facts), client));
                }
            }
        }
        Ok((facts, client, route))
    }

    /// Decides; tags the request, or returns the denial. Records either.
    fn decide_and_tag(
        &self,
        facts: &HeaderFacts,
        client: Option<IpAddr>,
        parts: &mut Parts,
    ) -> Result<(), Box<Denial>> {
        // The clock is read once, and only if something needs the time.
        let mut read = None;
        let clock = self.shared.clock;
        let mut now = || *read.get_or_insert_with(clock);
        match evaluate(self.id, &self.policy, facts, client, &mut now, self.grpc) {
            Ok(tags) => {
                if let Some(sink) = &self.shared.audit {
                    sink.record(record::passed(&tags, facts, client, now()));
                }
                tags.write_headers(&mut parts.headers);
                parts.extensions.insert(tags);
                Ok(())
            }
            Err(denial) => {
                if let Some(sink) = &self.shared.audit {
                    sink.record(record::denied(&denial, Some(facts), client, now()));
                }
                Err(denial)
            }
        }
    }

    /// A rejection of malformed input, recorded.
    fn reject(
        &self,
        reason: ReasonCode,
        detail: &str,
        facts: Option<&HeaderFacts>,
        client: Option<IpAddr>,
    ) -> Box<Denial> {
        let denial = Denial::bad_input(self.id, reason, detail.to_owned(), &self.policy, self.grpc);
        tracing::info!(
            target: "tower_export_control::audit",
            decision_id = %self.id,
            outcome = "rejected",
            reason = reason.as_str(),
            "export decision"
        );
        if let Some(sink) = &self.shared.audit {
            sink.record(record::denied(
                &denial,
                facts,
                client,
                (self.shared.clock)(),
            ));
        }
        Box::new(denial)
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
            "The instance type (or count) is given twice: in the header and the body \
             with different values, or twice in the body."
        }
        _ => header_problem(reason),
    }
}
