//! The middleware service.

use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response, header};
use http_body::Body;
use tower_service::Service;

use super::body::{RequestBody, ResponseBody};
use super::builder::Shared;
use super::client_ip::{client_ip, peer_addr};
use super::collect::{CollectError, collect};
use super::decision::{Denied, InFlight};
use super::future::ResponseFuture;
use super::grpc::{RequestedInstances, read_first_message};
use super::quantity::count;
use super::read::{
    BodyFacts, HeaderFacts, MAX_COUNT, Protocol, merge, read_body, read_headers, visible_ascii,
};
use crate::Policy;
use crate::license::printable;
use crate::policy::{ProvisioningRoute, RouteBody};
use crate::{Gate, ReasonCode};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The export-control middleware; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct ExportControl<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S> ExportControl<S> {
    /// Wraps `inner` with a [`Policy`](crate::Policy) or a [`Gate`] and
    /// the default denial responses.
    pub fn new(inner: S, gate: impl Into<Gate>) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared::new(gate.into())),
        }
    }

    /// A layer that wraps services with a policy or gate.
    pub fn layer(gate: impl Into<Gate>) -> super::ExportControlLayer {
        super::ExportControlLayer::new(gate)
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
        let (mut parts, body) = req.into_parts();
        let mut r = InFlight::new(&self.shared, self.shared.gate.policy());
        let (mut facts, route) = match prepare(&mut r, &mut parts) {
            Ok(prepared) => prepared,
            Err(denied) => return ResponseFuture::denied(denied),
        };
        let body_kind = route
            .and_then(|i| r.policy.http().provisioning_routes.get(i))
            .map(|route| route.body);

        // Decided on the headers alone: in place, unless a ledger must
        // count it first.
        let mut reads = None;
        if matches!(body_kind, None | Some(RouteBody::None)) {
            let verdict = r.evaluate(&facts);
            let counted = body_kind.is_some() && verdict.to_count().is_some();
            let ledger = counted.then(|| self.shared.gate.ledger()).flatten();
            let Some(ledger) = ledger else {
                return match r.act(verdict, &facts, &mut parts) {
                    Ok(()) => {
                        let body = RequestBody::streaming(body, &r.policy);
                        let req = Request::from_parts(parts, body);
                        ResponseFuture::inner(self.inner.call(req))
                    }
                    Err(denied) => ResponseFuture::denied(denied),
                };
            };
            reads = Some((verdict, ledger));
        }

        // Give up what readiness reserved (a concurrency-limit permit, a
        // buffer slot) while the client sends its body or the ledger
        // counts, so nothing inside is held meanwhile; a clone is made ready
        // afterwards.
        let fresh = self.inner.clone();
        drop(std::mem::replace(&mut self.inner, fresh));
        let mut inner = self.inner.clone();
        let shared = Arc::clone(&self.shared);
        let (policy, client) = (r.policy, r.client);
        let future = async move {
            let mut r = InFlight::new(&shared, policy);
            r.client = client;
            let (verdict, body) = match reads {
                Some((verdict, _)) => (verdict, RequestBody::streaming(body, &r.policy)),
                None => {
                    let route = route.and_then(|i| r.policy.http().provisioning_routes.get(i));
                    let read = match body_kind {
                        Some(RouteBody::Grpc) => read_grpc(&shared, body, &r.policy, &parts).await,
                        _ => read_json(body, &r.policy, route).await,
                    };
                    let (body, body_facts) = match read {
                        Ok(read) => read,
                        Err((reason, detail)) => {
                            return Err(r.reject(reason, &detail, Some(&facts), &parts));
                        }
                    };
                    if let Err(reason) = merge(&mut facts, body_facts, true) {
                        let detail = body_problem(reason);
                        return Err(r.reject(reason, detail, Some(&facts), &parts));
                    }
                    // Decided on the policy in force now: a reload while the
                    // body was uploading reaches this request too.
                    r.policy = shared.gate.policy();
                    (r.evaluate(&facts), body)
                }
            };
            let (verdict, held) = match shared.gate.ledger() {
                Some(ledger) => count(&ledger, verdict, facts.customer_id(), &parts.headers).await,
                None => (verdict, None),
            };
            r.act(verdict, &facts, &mut parts)?;
            if let Err(e) = std::future::poll_fn(|cx| inner.poll_ready(cx)).await {
                return Ok((Err(e), held));
            }
            let response = inner.call(Request::from_parts(parts, body)).await;
            Ok((response, held))
        };
        ResponseFuture::reading(Box::pin(future))
    }
}

const TOO_LARGE: &str = "The request body is over the provisioning body limit.";

/// Why a provisioning body was refused: the reason and a sentence.
type Refusal = (ReasonCode, Cow<'static, str>);

/// Reads a JSON provisioning body whole (up to the limit) and finds what it
/// names at the route's pointers.
async fn read_json<B>(
    body: B,
    policy: &Arc<Policy>,
    route: Option<&ProvisioningRoute>,
) -> Result<(RequestBody<B>, BodyFacts), Refusal>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limit = policy.http().body_limit_bytes;
    // Trailers travel on with the bytes, as on a streamed body.
    let (bytes, trailers) = match collect(body, limit).await {
        Ok(read) => read,
        Err(CollectError::TooLarge) => {
            return Err((ReasonCode::BodyTooLarge, TOO_LARGE.into()));
        }
        Err(CollectError::Read) => {
            let detail = "The request body could not be read.";
            return Err((ReasonCode::InvalidBody, detail.into()));
        }
    };
    let body_facts = match route.map(|route| read_body(&bytes, route)) {
        Some(Ok(b)) => b,
        Some(Err(reason)) => return Err((reason, body_problem(reason).into())),
        None => BodyFacts::default(),
    };
    Ok((RequestBody::buffered(bytes, trailers, policy), body_facts))
}

/// Reads a gRPC call up to the end of its first message and has the
/// layer's extractor read it; the rest of the call streams on.
async fn read_grpc<B>(
    shared: &Shared,
    body: B,
    policy: &Arc<Policy>,
    parts: &Parts,
) -> Result<(RequestBody<B>, BodyFacts), Refusal>
where
    B: Body<Data = Bytes>,
{
    let mut body = Box::pin(body);
    let limit = policy.http().body_limit_bytes;
    let first = read_first_message(&mut body, limit)
        .await
        .map_err(|(reason, detail)| (reason, Cow::Borrowed(detail)))?;
    let requested = match (first.message(), &shared.extract_instance) {
        (Some(message), Some(extract)) => {
            extract.extract(parts.uri.path(), message).map_err(|e| {
                let detail = format!(
                    "The first gRPC message could not be decoded: {}",
                    printable(&e.to_string())
                );
                (ReasonCode::InvalidBody, Cow::Owned(detail))
            })?
        }
        // Without an extractor, or a message, the header must say.
        _ => RequestedInstances::unnamed(),
    };
    let body_facts =
        body_facts(requested).map_err(|reason| (reason, body_problem(reason).into()))?;
    let body = match first.ended {
        Some(trailers) => RequestBody::buffered(first.read, trailers, policy),
        None => RequestBody::prefixed(first.read, body, Arc::clone(policy)),
    };
    Ok((body, body_facts))
}

/// An extractor's answer, checked as a JSON body's would be.
fn body_facts(requested: RequestedInstances) -> Result<BodyFacts, ReasonCode> {
    let (instance_type, count) = requested.into_parts();
    if instance_type
        .as_deref()
        .is_some_and(|t| !visible_ascii(t.as_bytes()))
    {
        return Err(ReasonCode::InstanceTypeMissing);
    }
    if count.is_some_and(|n| !(1..=MAX_COUNT).contains(&n)) {
        return Err(ReasonCode::InvalidCount);
    }
    Ok(BodyFacts {
        instance_type,
        count,
    })
}

/// Reads the headers and the client IP, removes client `x-export-*`
/// headers, and finds the provisioning route; rejects bad input.
fn prepare(
    r: &mut InFlight<'_>,
    parts: &mut Parts,
) -> Result<(HeaderFacts, Option<usize>), Denied> {
    let http = r.policy.http();
    let read = match read_headers(&parts.headers, http) {
        Ok(read) => read,
        Err(reason) => return Err(r.reject(reason, header_problem(reason), None, parts)),
    };
    // After reading: the license header is itself an `x-export-*` name.
    read.strip(&mut parts.headers, http);
    let mut facts = read.facts;
    let peer = peer_addr(&parts.extensions);
    r.client = peer;
    r.client = match client_ip(peer, &parts.headers, r.policy.trusted_proxies()) {
        Ok(client) => client,
        Err(reason) => {
            let detail = "x-forwarded-for from a trusted proxy is not a list of IP addresses.";
            return Err(r.reject(reason, detail, Some(&facts), parts));
        }
    };
    let grpc = read.protocol != Protocol::Http;
    let route = http.provisioning_routes.iter().position(|route| {
        // gRPC servers dispatch on the path whatever the method: a gRPC
        // call on a route's path is on the route.
        route.matches(&parts.method, parts.uri.path())
            || (grpc && route.matches_path(parts.uri.path()))
    });
    let body = route
        .and_then(|i| http.provisioning_routes.get(i))
        .map(|route| route.body);
    if matches!(body, None | Some(RouteBody::None)) {
        // Off the provisioning routes, or on one whose body is not read:
        // decided on the headers alone.
        if let Err(reason) = merge(&mut facts, BodyFacts::default(), body.is_some()) {
            let detail = match body {
                Some(_) => body_problem(reason),
                None => header_problem(reason),
            };
            return Err(r.reject(reason, detail, Some(&facts), parts));
        }
        return Ok((facts, route));
    }
    if body == Some(RouteBody::Json) {
        let declared_len = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let limit = u64::try_from(http.body_limit_bytes).unwrap_or(u64::MAX);
        if declared_len.is_some_and(|n| n > limit) {
            let reason = ReasonCode::BodyTooLarge;
            return Err(r.reject(reason, TOO_LARGE, Some(&facts), parts));
        }
    }
    Ok((facts, route))
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
