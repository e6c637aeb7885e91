//! Attacks on the layer, the gate and the license check, as an adversary
//! with control of the request (or a careless operator) would try them.
//!
//! Tests named `closed_*` reproduce ways around the gate that were found
//! and closed; each failed before its fix. Tests named `held_*` are attacks
//! the gate withstood from the start.

// Fixture helpers outside `#[test]` functions fail loudly, like the tests;
// the attack tables are tuples of what is sent and what must come back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod layer_support;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use layer_support::*;
use prost::Message;
use serde_json::json;
use tonic::Status;
use tonic::server::NamedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_prost::ProstCodec;
use tower::{ServiceBuilder, ServiceExt};
use tower_export_control::layer::{RequestBody, RequestedInstances};
use tower_export_control::policy::DEFAULT_POLICY_TOML;
use tower_export_control::{
    CountryCode, ExportControlLayer, ExportTags, Facts, Gate, Outcome, Policy, ReasonCode,
};

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

fn cc(code: &str) -> CountryCode {
    CountryCode::parse(code).unwrap()
}

/// A body that yields one data frame, then (optionally) trailers.
struct TrailerBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl TrailerBody {
    fn new(data: impl Into<Bytes>, trailers: Option<HeaderMap>) -> Self {
        Self {
            data: Some(data.into()),
            trailers,
        }
    }
}

impl Body for TrailerBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

/// A body fed from a channel: each message one data frame.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// What the in-process inner service saw, or the layer's answer.
#[derive(Debug)]
struct Seen {
    status: StatusCode,
    /// Called: the request headers it received and the tags.
    inner: Option<serde_json::Value>,
}

/// Sends `req` through `layer` to an echo service.
async fn send<B>(layer: ExportControlLayer, req: Request<B>) -> Seen
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let svc =
        ServiceBuilder::new()
            .layer(layer)
            .service_fn(|req: Request<RequestBody<B>>| async move {
                let headers: serde_json::Map<_, _> = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("<bytes>"))))
                    .collect();
                let tags = req.extensions().get::<ExportTags>().map(|t| {
                    json!({
                        "instance_type": t.instance_type(),
                        "decision": t.outcome().as_str(),
                        "class": t.accelerator_class().as_str(),
                    })
                });
                let body = json!({"headers": headers, "tags": tags});
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body.to_string()))))
            });
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    let called = res
        .extensions()
        .get::<tower_export_control::Denial>()
        .is_none();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let inner = called.then(|| serde_json::from_slice(&bytes).unwrap());
    Seen { status, inner }
}

fn post_json(path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    let mut req = Request::post(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Full::new(body.into())).unwrap()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The default policy with the gRPC method as a provisioning route.
const GRPC_SERVICE: &str = "export.test.Compute";
const GRPC_METHOD: &str = "/export.test.Compute/CreateInstance";

fn grpc_policy() -> Policy {
    let route = format!(
        "\n[[http.provisioning_routes]]\nmethod = \"POST\"\npath = \"{GRPC_METHOD}\"\nbody = \"grpc\"\n"
    );
    Policy::from_toml(&format!("{DEFAULT_POLICY_TOML}{route}"), "grpc.toml", None).unwrap()
}

#[derive(Clone, PartialEq, prost::Message)]
struct CreateInstanceRequest {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    instance_type: String,
    #[prost(uint32, tag = "3")]
    count: u32,
}

/// What the gRPC handler saw: the message, the typed tags and the metadata.
#[derive(Clone, PartialEq, prost::Message)]
struct GrpcSeen {
    #[prost(string, tag = "1")]
    message_instance_type: String,
    #[prost(string, tag = "2")]
    tags_instance_type: String,
    #[prost(string, tag = "3")]
    tags_decision: String,
    #[prost(string, tag = "4")]
    meta_decision: String,
    #[prost(string, tag = "5")]
    meta_license_id: String,
    #[prost(string, tag = "6")]
    meta_customer_country: String,
    #[prost(string, tag = "7")]
    tags_country: String,
    #[prost(string, tag = "8")]
    meta_country_tag: String,
    #[prost(string, tag = "9")]
    meta_instance_type: String,
}

fn extract(
    _method: &str,
    message: &[u8],
) -> Result<RequestedInstances, tower_export_control::layer::BoxError> {
    let req = CreateInstanceRequest::decode(message)?;
    let requested = match req.instance_type.as_str() {
        "" => RequestedInstances::unnamed(),
        t => RequestedInstances::new(t),
    };
    Ok(match req.count {
        0 => requested,
        n => requested.with_count(n),
    })
}

#[derive(Clone, Default)]
struct ComputeServer {
    calls: Arc<AtomicUsize>,
}

impl NamedService for ComputeServer {
    const NAME: &'static str = GRPC_SERVICE;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send>>;

async fn create_instance(
    calls: Arc<AtomicUsize>,
    req: tonic::Request<CreateInstanceRequest>,
) -> Result<tonic::Response<GrpcSeen>, Status> {
    calls.fetch_add(1, Ordering::SeqCst);
    let meta = |k: &str| {
        req.metadata()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let tags = req.extensions().get::<ExportTags>().cloned();
    Ok(tonic::Response::new(GrpcSeen {
        message_instance_type: req.get_ref().instance_type.clone(),
        tags_instance_type: tags
            .as_ref()
            .and_then(|t| t.instance_type().map(str::to_owned))
            .unwrap_or_default(),
        tags_decision: tags
            .as_ref()
            .map(|t| t.outcome().as_str().to_owned())
            .unwrap_or_default(),
        meta_decision: meta("x-export-decision"),
        meta_license_id: meta("x-export-license-id"),
        meta_customer_country: meta("x-customer-country"),
        tags_country: tags
            .as_ref()
            .and_then(|t| t.country())
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        meta_country_tag: meta("x-export-country"),
        meta_instance_type: meta("x-instance-type"),
    }))
}

impl<B> tower::Service<http::Request<B>> for ComputeServer
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    // Dispatches on the path alone, as tonic-generated servers do.
    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match req.uri().path() {
            GRPC_METHOD => {
                let calls = Arc::clone(&self.calls);
                let method = tower::service_fn(move |r| create_instance(Arc::clone(&calls), r));
                Box::pin(async move {
                    let codec = ProstCodec::<GrpcSeen, CreateInstanceRequest>::default();
                    Ok(tonic::server::Grpc::new(codec).unary(method, req).await)
                })
            }
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// A tonic server with the layer (and the extractor) in front.
async fn serve_grpc() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ComputeServer::default();
    let calls = Arc::clone(&server.calls);
    let layer = ExportControlLayer::new(grpc_policy()).with_instance_extractor(extract);
    tokio::spawn(async move {
        Server::builder()
            .layer(layer)
            .add_service(server)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (addr, calls)
}

/// One gRPC frame (uncompressed) holding `message`.
fn grpc_frame(message: &CreateInstanceRequest) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&bytes);
    out
}

fn asking_for(instance_type: &str, count: u32) -> CreateInstanceRequest {
    CreateInstanceRequest {
        name: "trainer".into(),
        instance_type: instance_type.into(),
        count,
    }
}

#[derive(Debug)]
struct GrpcAnswer {
    grpc_status: String,
    #[allow(dead_code)]
    grpc_message: String,
    seen: Option<GrpcSeen>,
}

/// A hand-made gRPC call over HTTP/2 with any method, body and trailers.
async fn raw_grpc(
    addr: SocketAddr,
    method: &str,
    content_type: &str,
    body: Vec<u8>,
    trailers: Option<HeaderMap>,
    metadata: &[(&str, &str)],
) -> GrpcAnswer {
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<TrailerBody>();
    let mut req = http::Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(format!("http://{addr}{GRPC_METHOD}"))
        .header("content-type", content_type)
        .header("te", "trailers");
    for (k, v) in metadata {
        req = req.header(*k, *v);
    }
    let req = req.body(TrailerBody::new(body, trailers)).unwrap();
    let res = client.request(req).await.unwrap();
    let headers = res.headers().clone();
    let collected = res.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let bytes = collected.to_bytes();
    let get = |name: &str| {
        headers
            .get(name)
            .or_else(|| trailers.get(name))
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let seen = (get("grpc-status") == "0" && bytes.len() >= 5)
        .then(|| GrpcSeen::decode(&bytes[5..]).unwrap());
    GrpcAnswer {
        grpc_status: get("grpc-status"),
        grpc_message: get("grpc-message"),
        seen,
    }
}

/// The test policy text with a rule inserted before the first rule.
fn policy_text_with_rule(rule: &str) -> String {
    let text = policy_text(None);
    assert!(text.contains("[[rules]]"));
    text.replacen("[[rules]]", &format!("{rule}\n[[rules]]"), 1)
}

fn cn_p5_facts() -> Facts<'static> {
    Facts::new()
        .with_declared_country(cc("CN"))
        .with_instance_type("p5.48xlarge")
        .with_customer_id(LICENSED_CUSTOMER)
}

// ---------------------------------------------------------------------------
// Findings (these tests fail on the reviewed code)
// ---------------------------------------------------------------------------

/// F1. A `body = "grpc"` provisioning route is matched on method AND path,
/// but gRPC servers (tonic's `Routes` use `route_service`, generated
/// servers dispatch on `uri().path()` alone) ignore the HTTP method. A call
/// sent as `PUT` (or `PATCH`, `GET`, lowercase `post`, ...) is off the
/// route for the layer: no instance type is required, the message is never
/// read, the request is allowed with class `none`; tonic then decodes the
/// message and the handler provisions 8 x H100 for a customer in China.
#[tokio::test]
async fn closed_grpc_route_bypassed_with_another_http_method() {
    let (addr, calls) = serve_grpc().await;
    let body = grpc_frame(&asking_for("p5.48xlarge", 1));
    let cn = [("x-customer-country", "CN")];
    // Baseline: a POST call is refused.
    let post = raw_grpc(addr, "POST", "application/grpc", body.clone(), None, &cn).await;
    assert_eq!(post.grpc_status, "7", "{post:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let mut bypassed = Vec::new();
    for method in ["PUT", "PATCH", "GET", "post"] {
        let answer = raw_grpc(addr, method, "application/grpc", body.clone(), None, &cn).await;
        if let Some(seen) = answer.seen {
            bypassed.push(format!(
                "{method}: handler got message {:?}, tags instance type {:?}, decision {:?}",
                seen.message_instance_type, seen.tags_instance_type, seen.tags_decision
            ));
        }
    }
    assert!(
        bypassed.is_empty(),
        "p5.48xlarge provisioned for CN without a license:\n{}",
        bypassed.join("\n")
    );
}

/// F2. Request trailers are passed to the inner service untouched, and
/// tonic merges a unary call's trailers into the request metadata with
/// `HeaderMap::extend`, which REPLACES same-named entries. A client can so
/// overwrite the layer's `x-export-*` tags (and the identity headers the
/// layer judged) in what the handler reads as metadata.
#[tokio::test]
async fn closed_grpc_trailers_forge_tags_in_handler_metadata() {
    let (addr, calls) = serve_grpc().await;
    let body = grpc_frame(&asking_for("m7i.large", 1));
    let mut trailers = HeaderMap::new();
    for (k, v) in [
        ("x-export-decision", "allow-licensed"),
        ("x-export-license-id", "LIC-FORGED-0001"),
        ("x-export-country", "US"),
        ("x-customer-country", "US"),
        ("x-instance-type", "p5.48xlarge"),
    ] {
        trailers.insert(k, HeaderValue::from_static(v));
    }
    let answer = raw_grpc(
        addr,
        "POST",
        "application/grpc",
        body,
        Some(trailers),
        &[("x-customer-country", "CN")],
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "{answer:?}");
    let seen = answer.seen.unwrap();
    // The typed tags are intact ...
    assert_eq!(seen.tags_decision, "allow");
    assert_eq!(seen.tags_country, "CN");
    // ... but the header tags and the identity the handler reads are forged.
    assert_eq!(
        (
            seen.meta_decision.as_str(),
            seen.meta_license_id.as_str(),
            seen.meta_country_tag.as_str(),
            seen.meta_customer_country.as_str(),
            seen.meta_instance_type.as_str()
        ),
        ("allow", "", "CN", "CN", ""),
        "forged by request trailers: {seen:?}"
    );
}

/// F3. A policy whose `[license]` section names no issuer is served with
/// the gate's `LicenseTrust` (set with `Gate::with_license_trust`) IN
/// WHOLE: the policy file's own `revoked`, `revoked_file`, `audience` and
/// `leeway_seconds` are silently ignored. An operator who revokes a
/// license (or sets an audience) in the policy file and reloads changes
/// nothing.
#[test]
fn closed_policy_license_settings_ignored_when_the_gate_supplies_issuers() {
    let now = SystemTime::now();
    let facts = cn_p5_facts();

    // Revocation in the reloaded policy file.
    let gate = gate_with(build_policy(None));
    let token = license("LIC-ATK-POLICY-REVOKED");
    assert_eq!(
        gate.evaluate(&facts, Some(&token), now).outcome(),
        Outcome::AllowLicensed
    );
    let text = format!(
        "{}\n[license]\nrevoked = [\"LIC-ATK-POLICY-REVOKED\"]\n",
        policy_text(None)
    );
    gate.replace(Policy::from_toml(&text, "reloaded.toml", None).unwrap());
    let v = gate.evaluate(&facts, Some(&token), now);
    let revoked = (v.outcome(), v.reason());

    assert_eq!(
        revoked,
        (Outcome::Deny, Some(ReasonCode::LicenseRevoked)),
        "policy-file revocation not applied"
    );

    // An audience in a section without issuers could not apply to the
    // gate's: the policy is refused rather than silently weaker.
    let text = format!(
        "{}\n[license]\naudience = \"https://provisioning.example\"\n",
        policy_text(None)
    );
    let err = Policy::from_toml(&text, "aud.toml", None).unwrap_err();
    assert!(err.to_string().contains("audience"), "{err}");
}

/// F4. A provisioning request is decided on the policy (and license
/// trust) in force when its headers arrived, however long its body takes.
/// A client that starts an upload before a reload (an emergency embargo,
/// or removing a compromised issuer key) and trickles the body is judged
/// by the old policy, without bound inside the layer.
#[tokio::test]
async fn closed_a_reload_does_not_reach_a_request_still_uploading() {
    let gate = gate_with(build_policy(None));
    let layer = ExportControlLayer::new(gate.clone());
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let req = Request::post("/v1/instances")
        .header("x-customer-country", "US")
        .body(ChannelBody(rx))
        .unwrap();
    let pending = tokio::spawn(send(layer.clone(), req));
    tx.send(Bytes::from_static(b"{\"instance_type\":"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The emergency reload: nothing for US customers any more.
    let rule = "[[rules]]\nid = \"emergency-us\"\ncountries = [\"US\"]\naction = \"deny\"\n";
    gate.replace(Policy::from_toml(&policy_text_with_rule(rule), "emergency.toml", None).unwrap());
    let fresh = send(
        layer.clone(),
        post_json(
            "/v1/instances",
            &[("x-customer-country", "US")],
            r#"{"instance_type":"p5.48xlarge"}"#,
        ),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);

    tx.send(Bytes::from_static(b"\"p5.48xlarge\"}"))
        .await
        .unwrap();
    drop(tx);
    let late = pending.await.unwrap();
    assert_eq!(
        late.status,
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        "decided by the replaced policy: {:?}",
        late.inner
    );
}

/// F5 (operator). A provisioning route path written the way the router
/// writes it (`{project}` in axum 0.8, `:project` in axum 0.7) or with a
/// trailing slash is accepted by `Policy::from_toml` and matches nothing:
/// every provisioning request is then off-route, its body is never read,
/// and 8 x H100 for China goes through. The policy should be refused at
/// load (or such a segment treated as `*`).
#[tokio::test]
async fn closed_route_paths_that_match_nothing_are_accepted() {
    let cases = [
        (
            "/v1/projects/{project}/instances",
            "/v1/projects/p1/instances",
        ),
        (
            "/v1/projects/:project/instances",
            "/v1/projects/p1/instances",
        ),
        ("/v1/instances/", "/v1/instances"),
        ("/v1//instances", "/v1/instances"),
    ];
    let mut passed = Vec::new();
    for (route, path) in cases {
        let text = DEFAULT_POLICY_TOML.replacen(
            "path = \"/v1/instances\"",
            &format!("path = \"{route}\""),
            1,
        );
        let Ok(policy) = Policy::from_toml(&text, "routes.toml", None) else {
            continue; // refused at load: fixed
        };
        let seen = send(
            ExportControlLayer::new(policy),
            post_json(
                path,
                &[("x-customer-country", "CN")],
                r#"{"instance_type":"p5.48xlarge"}"#,
            ),
        )
        .await;
        if seen.inner.is_some() {
            passed.push(format!(
                "route {route:?}: {path} passed with {}",
                seen.status
            ));
        }
    }
    assert!(passed.is_empty(), "{}", passed.join("\n"));
}

/// F6 (operator, low). Two input headers configured with one name are
/// accepted; only the first of them is ever read (`singles` takes the
/// first position), so e.g. the ultimate parent's country is silently
/// never considered.
#[test]
fn closed_duplicate_input_header_names_are_accepted() {
    let text = DEFAULT_POLICY_TOML.replacen(
        "[http]\n",
        "[http]\nparent_country_header = \"x-customer-headquarters\"\n",
        1,
    );
    assert!(
        Policy::from_toml(&text, "headers.toml", None).is_err(),
        "two inputs read from one header name"
    );
}

// ---------------------------------------------------------------------------
// What held
// ---------------------------------------------------------------------------

/// JSON body tricks on `POST /v1/instances` from a customer in China.
#[tokio::test]
async fn held_json_body_tricks() {
    let layer = ExportControlLayer::new(gate());
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let cases: Vec<(&str, Vec<u8>, Option<&str>, u16)> = vec![
        (
            "duplicate",
            br#"{"instance_type":"m7i.large","instance_type":"p5.48xlarge"}"#.to_vec(),
            None,
            400,
        ),
        (
            "escaped duplicate",
            br#"{"instance_type":"m7i.large","instance\u005ftype":"p5.48xlarge"}"#.to_vec(),
            None,
            400,
        ),
        (
            "escaped value",
            br#"{"instance_type":"p5\u002e48xlarge"}"#.to_vec(),
            None,
            451,
        ),
        (
            "bom",
            [&b"\xef\xbb\xbf"[..], br#"{"instance_type":"p5.48xlarge"}"#].concat(),
            None,
            400,
        ),
        (
            "header disagrees",
            br#"{"instance_type":"p5.48xlarge"}"#.to_vec(),
            Some("m7i.large"),
            400,
        ),
        (
            "count string",
            br#"{"instance_type":"p5.48xlarge","count":"2"}"#.to_vec(),
            None,
            400,
        ),
        (
            "count float",
            br#"{"instance_type":"m7i.large","count":1.0}"#.to_vec(),
            None,
            400,
        ),
        (
            "count negative",
            br#"{"instance_type":"m7i.large","count":-1}"#.to_vec(),
            None,
            400,
        ),
        (
            "count exponent",
            br#"{"instance_type":"m7i.large","count":1e2}"#.to_vec(),
            None,
            400,
        ),
        (
            "count zero",
            br#"{"instance_type":"m7i.large","count":0}"#.to_vec(),
            None,
            400,
        ),
        (
            "count huge",
            br#"{"instance_type":"m7i.large","count":18446744073709551617}"#.to_vec(),
            None,
            400,
        ),
        (
            "count twice",
            br#"{"instance_type":"m7i.large","count":1,"count":100}"#.to_vec(),
            None,
            400,
        ),
        // Skipped values are checked for syntax only (serde_json's ignore
        // path), as a handler's serde struct would skip them: no p5 here.
        (
            "huge number elsewhere",
            br#"{"x":1e999,"instance_type":"m7i.large"}"#.to_vec(),
            None,
            200,
        ),
        (
            "non-utf8 value",
            b"{\"instance_type\":\"p5.48xlarge\xff\"}".to_vec(),
            None,
            400,
        ),
        (
            "lone surrogate",
            br#"{"instance_type":"p5.48xlarge\ud800"}"#.to_vec(),
            None,
            400,
        ),
        (
            "trailing space",
            br#"{"instance_type":"p5.48xlarge "}"#.to_vec(),
            None,
            400,
        ),
        (
            "upper case",
            br#"{"instance_type":"P5.48XLARGE"}"#.to_vec(),
            None,
            451,
        ),
        (
            "gzip",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03".to_vec(),
            Some("m7i.large"),
            400,
        ),
        ("deep, skipped", deep.into_bytes(), Some("m7i.large"), 200),
        (
            "two documents",
            br#"{"instance_type":"m7i.large"}{"instance_type":"p5.48xlarge"}"#.to_vec(),
            None,
            400,
        ),
        (
            "array",
            br#"[{"instance_type":"p5.48xlarge"}]"#.to_vec(),
            None,
            400,
        ),
        (
            "comment",
            br#"/**/{"instance_type":"p5.48xlarge"}"#.to_vec(),
            None,
            400,
        ),
        (
            "duplicate off the way",
            br#"{"instance_type":"p5.48xlarge","x":1,"x":2}"#.to_vec(),
            None,
            451,
        ),
        (
            "over limit",
            [
                br#"{"instance_type":"m7i.large","pad":""#.as_slice(),
                &[b'a'; 2000],
                b"\"}",
            ]
            .concat(),
            None,
            413,
        ),
    ];
    let mut wrong = Vec::new();
    for (name, body, header, want) in cases {
        let mut headers = vec![("x-customer-country", "CN")];
        if let Some(h) = header {
            headers.push(("x-instance-type", h));
        }
        if name == "gzip" {
            headers.push(("content-encoding", "gzip"));
        }
        let seen = send(layer.clone(), post_json("/v1/instances", &headers, body)).await;
        let leaked = seen
            .inner
            .as_ref()
            .is_some_and(|i| i["tags"]["instance_type"] != "m7i.large");
        if seen.status.as_u16() != want || (want != 200 && seen.inner.is_some()) || leaked {
            wrong.push(format!("{name}: {} {:?}", seen.status, seen.inner));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Header tricks on an off-route request naming the instance type.
#[tokio::test]
async fn held_header_tricks() {
    let layer = ExportControlLayer::new(gate());
    let get = |headers: &[(&str, &str)]| {
        let mut req = Request::get("/v1/quotes");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(Full::new(Bytes::new())).unwrap()
    };
    let p5 = ("x-instance-type", "p5.48xlarge");
    let cases: Vec<(&str, Vec<(&str, &str)>, u16)> = vec![
        (
            "duplicate country",
            vec![
                ("x-customer-country", "CN"),
                ("x-customer-country", "US"),
                p5,
            ],
            400,
        ),
        (
            "underscore twin",
            vec![
                ("x_customer_country", "US"),
                ("x-customer-country", "CN"),
                p5,
            ],
            451,
        ),
        ("lower case", vec![("x-customer-country", "cn"), p5], 451),
        (
            "headquarters",
            vec![
                ("x-customer-country", "DE"),
                ("x-customer-headquarters", "cn"),
                p5,
            ],
            451,
        ),
        (
            "parent via alias",
            vec![
                ("x-customer-country", "DE"),
                ("x-customer-parent-country", "HK"),
                p5,
            ],
            451,
        ),
        ("macau", vec![("x-customer-country", "MO"), p5], 451),
        ("unassigned", vec![("x-customer-country", "UK"), p5], 400),
        ("empty", vec![("x-customer-country", ""), p5], 400),
        (
            "duplicate type",
            vec![
                ("x-customer-country", "CN"),
                ("x-instance-type", "m7i.large"),
                p5,
            ],
            400,
        ),
        (
            "type with space",
            vec![
                ("x-customer-country", "CN"),
                ("x-instance-type", "p5.48xlarge x"),
            ],
            400,
        ),
        (
            "forged xff from untrusted",
            vec![
                ("x-customer-country", "US"),
                ("x-forwarded-for", "192.0.2.1"),
                p5,
            ],
            200,
        ),
        ("no country", vec![p5], 451),
        (
            "duplicate license",
            vec![
                ("x-customer-country", "CN"),
                ("x-export-license", "a"),
                ("x-export-license", "b"),
                p5,
            ],
            400,
        ),
        (
            "hq from us",
            vec![
                ("x-customer-country", "US"),
                ("x-customer-headquarters", "CN"),
                p5,
            ],
            200,
        ),
    ];
    let mut wrong = Vec::new();
    for (name, headers, want) in cases {
        let seen = send(layer.clone(), get(&headers)).await;
        if seen.status.as_u16() != want {
            wrong.push(format!("{name}: {} {:?}", seen.status, seen.inner));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Forged tags, underscore twins and Connection tokens never reach the
    // inner service.
    let seen = send(
        layer.clone(),
        get(&[
            ("x-customer-country", "US"),
            ("x-export-decision", "allow-licensed"),
            ("X-Export-License-Id", "LIC-FORGED"),
            ("x_export_class", "none"),
            ("x_instance_type", "p5.48xlarge"),
            (
                "connection",
                "keep-alive, x-customer-country, X-Export-Decision, x_customer_id",
            ),
        ]),
    )
    .await;
    let headers = &seen.inner.as_ref().unwrap()["headers"];
    assert_eq!(headers["x-export-decision"], "allow");
    assert!(headers.get("x-export-license-id").is_none());
    assert!(headers.get("x_export_class").is_none());
    assert!(headers.get("x_instance_type").is_none());
    assert_eq!(headers["connection"], "keep-alive");
}

/// Method and path variants against an axum router: nothing the router
/// routes to the provisioning handler escapes the layer's route match.
#[tokio::test]
async fn held_method_and_path_variants_against_axum() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = Router::new()
        .route(
            "/v1/instances",
            post(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { "provisioned" }
            }),
        )
        .layer(ExportControlLayer::new(gate()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });

    let body = br#"{"instance_type":"p5.48xlarge"}"#;
    let mut passed = Vec::new();
    for target in [
        "POST /v1/instances/",
        "POST //v1/instances",
        "POST /v1//instances",
        "POST /v1/%69nstances",
        "POST /v1/instances%2F",
        "POST /V1/instances",
        "POST /v1/./instances",
        "POST /v1/x/../instances",
        "post /v1/instances",
        "Post /v1/instances",
        "POST /v1/instances?instance_type=m7i.large",
        "POST /v1/instances;x",
        "POST http://localhost/v1/instances",
        "PUT /v1/instances",
        "HEAD /v1/instances",
    ] {
        let head = format!(
            "{target} HTTP/1.1\r\nhost: localhost\r\nx-customer-country: CN\r\ncontent-type: application/json\r\ncontent-length: {}",
            body.len()
        );
        let before = calls.load(Ordering::SeqCst);
        let res = raw_request(US_PEER, addr, &head, &[body]).await;
        if calls.load(Ordering::SeqCst) != before {
            passed.push(format!("{target}: {}", res.status));
        }
    }
    assert!(passed.is_empty(), "{}", passed.join("\n"));
}

/// gRPC body tricks on the provisioning method (sent as POST).
#[tokio::test]
async fn held_grpc_body_tricks() {
    let (addr, calls) = serve_grpc().await;
    let cn = [("x-customer-country", "CN")];
    let p5 = grpc_frame(&asking_for("p5.48xlarge", 1));
    let m7 = grpc_frame(&asking_for("m7i.large", 1));
    let mut compressed = p5.clone();
    compressed[0] = 1;
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(&p5)
            .into_bytes()
    };
    let mut huge = vec![0u8];
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    let cases: Vec<(&str, &str, Vec<u8>, &[(&str, &str)], &str)> = vec![
        ("compressed flag", "application/grpc", compressed, &cn, "3"),
        ("grpc-web-text", "application/grpc-web-text", b64, &cn, "3"),
        (
            "grpc-web binary",
            "application/grpc-web+proto",
            p5.clone(),
            &cn,
            "7",
        ),
        ("empty body", "application/grpc", Vec::new(), &cn, "3"),
        (
            "empty message",
            "application/grpc",
            vec![0, 0, 0, 0, 0],
            &cn,
            "3",
        ),
        ("length over limit", "application/grpc", huge, &cn, "3"),
        (
            "truncated",
            "application/grpc",
            p5[..p5.len() - 2].to_vec(),
            &cn,
            "3",
        ),
        (
            "metadata disagrees",
            "application/grpc",
            p5.clone(),
            &[
                ("x-customer-country", "CN"),
                ("x-instance-type", "m7i.large"),
            ],
            "3",
        ),
        (
            "p5 after m7i",
            "application/grpc",
            [m7.clone(), p5.clone()].concat(),
            &cn,
            "0",
        ),
        ("text content type", "text/plain", p5.clone(), &cn, ""),
    ];
    let mut wrong = Vec::new();
    for (name, ct, body, meta, want) in cases {
        let before = calls.load(Ordering::SeqCst);
        let answer = raw_grpc(addr, "POST", ct, body, None, meta).await;
        let called = calls.load(Ordering::SeqCst) != before;
        let bad_call = called
            && answer
                .seen
                .as_ref()
                .is_none_or(|s| s.message_instance_type != "m7i.large");
        // grpc-web denials carry grpc-status in the headers; a 413 for the
        // over-limit length has no grpc-status on plain gRPC requests.
        let status_ok = answer.grpc_status == want || (name == "length over limit" && !called);
        if bad_call || !status_ok {
            wrong.push(format!("{name}: {answer:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// License tricks: every one refused with the right reason.
#[test]
fn held_license_tricks() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let gate = gate_with(build_policy(None));
    let now = SystemTime::now();
    let t = now_secs();
    let check = |facts: &Facts<'_>, token: &str| {
        let v = gate.evaluate(facts, Some(token), now);
        (v.outcome(), v.reason())
    };
    let cn = cn_p5_facts();
    let good = license("LIC-HELD-GOOD");
    assert_eq!(check(&cn, &good).0, Outcome::AllowLicensed);

    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let header = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let hs256 = {
        let jwks = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/demo-issuer/demo-issuer.jwks.json"),
        )
        .unwrap();
        let key = jsonwebtoken::EncodingKey::from_secret(&jwks);
        let mut hd = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        hd.kid = Some(DEMO_KID.into());
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        jsonwebtoken::encode(&hd, &claims, &key).unwrap()
    };
    let invalid = (Outcome::Deny, Some(ReasonCode::LicenseInvalid));
    let cases: Vec<(&str, Facts<'_>, String, (Outcome, Option<ReasonCode>))> = vec![
        ("padding", cn, format!("{good}="), invalid),
        ("whitespace", cn, format!(" {good}"), invalid),
        (
            "alg none",
            cn,
            format!("{}.{p}.", header(json!({"alg":"none","kid":DEMO_KID}))),
            invalid,
        ),
        (
            "alg none empty sig",
            cn,
            format!("{}.{p}.{s}", header(json!({"alg":"none"}))),
            invalid,
        ),
        ("hs256 with the public key", cn, hs256, invalid),
        (
            "other kid",
            cn,
            format!("{}.{p}.{s}", header(json!({"alg":"EdDSA","kid":"other"}))),
            invalid,
        ),
        (
            "crit",
            cn,
            format!(
                "{}.{p}.{s}",
                header(json!({"alg":"EdDSA","kid":DEMO_KID,"crit":["x"]}))
            ),
            invalid,
        ),
        ("jws json", cn, format!("{h}..{p}.{s}"), invalid),
        (
            "too long",
            cn,
            format!("{good}{}", "A".repeat(9000)),
            invalid,
        ),
        (
            "wrong customer",
            cn.with_customer_id("someone-else"),
            good.clone(),
            (Outcome::Deny, Some(ReasonCode::LicenseWrongCustomer)),
        ),
        (
            "hk license for cn",
            cn,
            license_with(json!({"jti":"L-HK","countries":["HK"]})),
            (Outcome::Deny, Some(ReasonCode::LicenseCountryNotCovered)),
        ),
        (
            "cn license for hk",
            Facts::new()
                .with_declared_country(cc("HK"))
                .with_instance_type("p5.48xlarge")
                .with_customer_id(LICENSED_CUSTOMER),
            good.clone(),
            (Outcome::AllowLicensed, None),
        ),
        (
            "parent cn, licensed for sg",
            Facts::new()
                .with_declared_country(cc("SG"))
                .with_headquarters(cc("SG"))
                .with_parent_country(cc("CN"))
                .with_instance_type("p5.48xlarge")
                .with_customer_id(LICENSED_CUSTOMER),
            license_with(json!({"jti":"L-SG","countries":["SG"]})),
            (Outcome::Deny, Some(ReasonCode::LicenseCountryNotCovered)),
        ),
        (
            "macau with cn license",
            Facts::new()
                .with_declared_country(cc("MO"))
                .with_instance_type("p5.48xlarge")
                .with_customer_id(LICENSED_CUSTOMER),
            good.clone(),
            (Outcome::Deny, Some(ReasonCode::LicenseCountryNotCovered)),
        ),
        (
            "expired beyond leeway",
            cn,
            license_with(json!({"jti":"L-EXP","exp": t - 61})),
            (Outcome::Deny, Some(ReasonCode::LicenseExpired)),
        ),
        (
            "nbf beyond leeway",
            cn,
            license_with(json!({"jti":"L-NBF","nbf": t + 120})),
            (Outcome::Deny, Some(ReasonCode::LicenseNotYetValid)),
        ),
        ("empty jti", cn, license_with(json!({"jti":""})), invalid),
        (
            "class b only",
            cn,
            license_with(json!({"jti":"L-B","accelerator_classes":["3A090.b"]})),
            (Outcome::Deny, Some(ReasonCode::LicenseClassNotCovered)),
        ),
        (
            "quantity",
            cn.with_instance_count(9),
            good.clone(),
            (Outcome::Deny, Some(ReasonCode::LicenseQuantityExceeded)),
        ),
        (
            "unknown type, max set",
            Facts::new()
                .with_declared_country(cc("CN"))
                .with_instance_type("p9.mystery")
                .with_customer_id(LICENSED_CUSTOMER),
            good.clone(),
            (Outcome::Deny, Some(ReasonCode::LicenseQuantityExceeded)),
        ),
        (
            "no location",
            Facts::new()
                .with_instance_type("p5.48xlarge")
                .with_customer_id(LICENSED_CUSTOMER),
            good.clone(),
            (Outcome::Deny, Some(ReasonCode::JurisdictionUnknown)),
        ),
        (
            "other issuer",
            cn,
            license_with(json!({"jti":"L-ISS","iss":"https://evil.invalid"})),
            invalid,
        ),
    ];
    let mut wrong = Vec::new();
    for (name, facts, token, want) in cases {
        let got = check(&facts, &token);
        if got != want {
            wrong.push(format!("{name}: {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // A cached token is revoked at once, and stays revoked across reloads.
    gate.revoke("LIC-HELD-GOOD");
    assert_eq!(check(&cn, &good).1, Some(ReasonCode::LicenseRevoked));
    gate.replace(build_policy(None));
    assert_eq!(check(&cn, &good).1, Some(ReasonCode::LicenseRevoked));
}

/// A reload that drops the issuer drops its cached tokens; a reload that
/// keeps the key but changes the audience does too.
#[test]
fn held_cache_after_reload() {
    let dir = std::env::temp_dir().join(format!("attack-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/demo-issuer/demo-issuer.jwks.json");
    let with_issuer = |aud: &str| {
        format!(
            "{}\n[license]\n{aud}\n[[license.issuers]]\nissuer = \"{DEMO_ISSUER}\"\njwks_file = {:?}\n",
            policy_text(None),
            jwks.to_str().unwrap()
        )
    };
    let policy = Policy::from_toml(&with_issuer(""), "p.toml", Some(dir.clone())).unwrap();
    let gate = Gate::new(policy);
    let token = license("LIC-CACHE");
    let facts = cn_p5_facts();
    let now = SystemTime::now();
    assert_eq!(
        gate.evaluate(&facts, Some(&token), now).outcome(),
        Outcome::AllowLicensed
    );
    assert_eq!(gate.license_verifier().cache_len(), 1);
    gate.replace(build_policy(None)); // no issuer at all
    assert_eq!(
        gate.evaluate(&facts, Some(&token), now).reason(),
        Some(ReasonCode::LicenseInvalid)
    );
    let aud = Policy::from_toml(&with_issuer("audience = \"x\""), "p.toml", Some(dir)).unwrap();
    gate.replace(aud);
    assert_eq!(
        gate.evaluate(&facts, Some(&token), now).reason(),
        Some(ReasonCode::LicenseInvalid)
    );
}

/// Hostile sizes: no panic, no hang, bounded work.
#[tokio::test]
async fn held_hostile_sizes() {
    let layer = ExportControlLayer::new(gate());
    // 100k trusted hops in x-forwarded-for from a trusted peer.
    let xff = vec!["10.9.0.1"; 100_000].join(", ");
    let mut req = Request::get("/v1/quotes")
        .header("x-customer-country", "US")
        .header("x-forwarded-for", xff)
        .header("x-instance-type", "p5.48xlarge")
        .body(Full::new(Bytes::new()))
        .unwrap();
    req.extensions_mut()
        .insert(tower_export_control::ClientAddr(SocketAddr::new(
            US_PEER, 1,
        )));
    let started = std::time::Instant::now();
    let seen = send(layer.clone(), req).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(seen.status, StatusCode::OK);
    // A megabyte instance type, a 1 MiB license.
    let big = "p".repeat(1 << 20);
    let req = Request::get("/v1/quotes")
        .header("x-customer-country", "CN")
        .header("x-instance-type", big.as_str())
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        send(layer.clone(), req).await.status,
        StatusCode::BAD_REQUEST
    );
    let req = Request::get("/v1/quotes")
        .header("x-customer-country", "CN")
        .header("x-customer-id", LICENSED_CUSTOMER)
        .header("x-instance-type", "p5.48xlarge")
        .header("x-export-license", big.as_str())
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        send(layer.clone(), req).await.status,
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
    );
    // 65,000 nested arrays at the pointed-at member (built strictly) and
    // elsewhere (skipped): no stack overflow, 400 or skipped.
    let layer = ExportControlLayer::new(Policy::embedded_default());
    for body in [
        format!("{{\"instance_type\":{}", "[".repeat(65_000)),
        format!("{{\"x\":{}", "[".repeat(65_000)),
    ] {
        let seen = send(
            layer.clone(),
            post_json("/v1/instances", &[("x-customer-country", "CN")], body),
        )
        .await;
        assert_eq!(seen.status, StatusCode::BAD_REQUEST);
    }
}

/// A run-time revocation reaches a request whose body is still arriving
/// (the verifier is shared; only the policy is fixed at arrival).
#[tokio::test]
async fn held_runtime_revocation_reaches_an_upload_in_flight() {
    let gate = gate_with(build_policy(None));
    let layer = ExportControlLayer::new(gate.clone());
    let token = license("LIC-INFLIGHT");
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let req = Request::post("/v1/instances")
        .header("x-customer-country", "CN")
        .header("x-customer-id", LICENSED_CUSTOMER)
        .header("x-export-license", token.as_str())
        .body(ChannelBody(rx))
        .unwrap();
    let pending = tokio::spawn(send(layer, req));
    tx.send(Bytes::from_static(b"{\"instance_type\":"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    gate.revoke("LIC-INFLIGHT");
    tx.send(Bytes::from_static(b"\"p5.48xlarge\"}"))
        .await
        .unwrap();
    drop(tx);
    assert_eq!(
        pending.await.unwrap().status,
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
    );
}
