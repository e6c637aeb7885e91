//! gRPC provisioning methods are checked whatever the client sends: a
//! provisioning route with `body = "grpc"` needs an instance type, which
//! the layer reads from the call's first message through an
//! `ExtractInstance` (here decoding the prost request), and compares with
//! the metadata when both name one. A tonic server and client over TCP.

// Fixture helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod layer_support;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::uri::PathAndQuery;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tower_export_control::layer::RequestedInstances;
use tower_export_control::policy::DEFAULT_POLICY_TOML;
use tower_export_control::{ExportControlLayer, ExportTags, Policy};

/// `export.test.Compute/CreateInstance` request: what to provision.
#[derive(Clone, PartialEq, prost::Message)]
struct CreateInstanceRequest {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    instance_type: String,
    #[prost(uint32, tag = "3")]
    count: u32,
}

/// What the handler saw in the tags.
#[derive(Clone, PartialEq, prost::Message)]
struct CreateInstanceReply {
    #[prost(string, tag = "1")]
    instance_type: String,
    #[prost(uint32, tag = "2")]
    count: u32,
    #[prost(string, tag = "3")]
    decision: String,
}

const SERVICE: &str = "export.test.Compute";
const METHOD: &str = "/export.test.Compute/CreateInstance";

/// The default policy with the gRPC method as a provisioning route.
fn policy() -> Policy {
    let route = format!(
        "\n[[http.provisioning_routes]]\nmethod = \"POST\"\npath = \"{METHOD}\"\nbody = \"grpc\"\n"
    );
    Policy::from_toml(&format!("{DEFAULT_POLICY_TOML}{route}"), "grpc.toml", None).unwrap()
}

/// Reads the instance type and count from the request message.
fn extract(
    method: &str,
    message: &[u8],
) -> Result<RequestedInstances, tower_export_control::layer::BoxError> {
    assert_eq!(method, METHOD);
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
    const NAME: &'static str = SERVICE;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send>>;

/// Provisions exactly what the tags name, as the handler must.
async fn create_instance(
    calls: Arc<AtomicUsize>,
    req: tonic::Request<CreateInstanceRequest>,
) -> Result<tonic::Response<CreateInstanceReply>, Status> {
    calls.fetch_add(1, Ordering::SeqCst);
    let tags = req
        .extensions()
        .get::<ExportTags>()
        .cloned()
        .ok_or_else(|| Status::internal("no export tags"))?;
    Ok(tonic::Response::new(CreateInstanceReply {
        instance_type: tags.instance_type().unwrap_or_default().to_owned(),
        count: tags.instance_count(),
        decision: tags.outcome().as_str().to_owned(),
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

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match req.uri().path() {
            METHOD => {
                let calls = Arc::clone(&self.calls);
                let method = tower::service_fn(move |r| create_instance(Arc::clone(&calls), r));
                Box::pin(async move {
                    let codec = ProstCodec::<CreateInstanceReply, CreateInstanceRequest>::default();
                    Ok(tonic::server::Grpc::new(codec).unary(method, req).await)
                })
            }
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// Serves the method behind the layer, with or without the extractor.
async fn serve(with_extractor: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ComputeServer::default();
    let calls = Arc::clone(&server.calls);
    let mut layer = ExportControlLayer::new(policy());
    if with_extractor {
        layer = layer.with_instance_extractor(extract);
    }
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

async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn create(
    addr: SocketAddr,
    message: CreateInstanceRequest,
    metadata: &[(&'static str, &str)],
) -> Result<CreateInstanceReply, Status> {
    let mut req = tonic::Request::new(message);
    for (k, v) in metadata {
        req.metadata_mut().insert(*k, v.parse().unwrap());
    }
    let mut client = tonic::client::Grpc::new(channel(addr).await);
    client.ready().await.unwrap();
    let codec = ProstCodec::<CreateInstanceRequest, CreateInstanceReply>::default();
    client
        .unary(req, PathAndQuery::from_static(METHOD), codec)
        .await
        .map(tonic::Response::into_inner)
}

fn asking_for(instance_type: &str, count: u32) -> CreateInstanceRequest {
    CreateInstanceRequest {
        name: "trainer-1".into(),
        instance_type: instance_type.into(),
        count,
    }
}

fn assert_status(result: Result<CreateInstanceReply, Status>, code: Code, reason: &str) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().starts_with(reason), "{status:?}");
}

#[tokio::test]
async fn a_call_without_metadata_is_judged_by_its_message() {
    let (addr, calls) = serve(true).await;
    // From China, asking for 8 x H100 in the message only.
    let denied = create(
        addr,
        asking_for("p5.48xlarge", 1),
        &[("x-customer-country", "CN")],
    )
    .await;
    assert_status(denied, Code::PermissionDenied, "license_required");
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // From the US: passed on, and the tags name what the message asked for.
    let reply = create(
        addr,
        asking_for("p5.48xlarge", 3),
        &[("x-customer-country", "US")],
    )
    .await
    .unwrap();
    assert_eq!(reply.instance_type, "p5.48xlarge");
    assert_eq!(reply.count, 3);
    assert_eq!(reply.decision, "allow");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn metadata_and_message_must_agree() {
    let (addr, calls) = serve(true).await;
    let mismatched = create(
        addr,
        asking_for("p5.48xlarge", 1),
        &[
            ("x-customer-country", "CN"),
            ("x-instance-type", "m7i.large"),
        ],
    )
    .await;
    assert_status(mismatched, Code::InvalidArgument, "ambiguous_instance_type");
    let agreed = create(
        addr,
        asking_for("m7i.large", 1),
        &[
            ("x-customer-country", "CN"),
            ("x-instance-type", "m7i.large"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(agreed.decision, "allow");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_call_naming_no_instance_type_is_refused() {
    for with_extractor in [true, false] {
        let (addr, calls) = serve(with_extractor).await;
        let unnamed = create(addr, asking_for("", 0), &[("x-customer-country", "CN")]).await;
        assert_status(unnamed, Code::InvalidArgument, "instance_type_missing");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
    // Without an extractor the metadata must name it, and the tags say what.
    let (addr, _) = serve(false).await;
    let denied = create(
        addr,
        asking_for("m7i.large", 1),
        &[
            ("x-customer-country", "CN"),
            ("x-instance-type", "p5.48xlarge"),
        ],
    )
    .await;
    assert_status(denied, Code::PermissionDenied, "license_required");
    let reply = create(
        addr,
        asking_for("", 0),
        &[
            ("x-customer-country", "CN"),
            ("x-instance-type", "m7i.large"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(reply.instance_type, "m7i.large");
}

#[tokio::test]
async fn an_undecodable_message_is_invalid_argument() {
    let (addr, _) = serve(true).await;
    let status = raw_call(addr, b"\x00\x00\x00\x00\x03\xff\xff\xff").await;
    assert_eq!(status.0, "3", "{status:?}");
    assert!(status.1.starts_with("invalid_body"), "{status:?}");
}

#[tokio::test]
async fn compressed_messages_are_refused() {
    let (addr, calls) = serve(true).await;
    let message = asking_for("p5.48xlarge", 1).encode_to_vec();
    let mut body = vec![1u8];
    body.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&message);
    let (code, message) = raw_call(addr, &body).await;
    assert_eq!(code, "3");
    assert!(message.starts_with("invalid_body"), "{message}");
    assert!(message.contains("compressed"), "{message}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// A gRPC call with a hand-made body over HTTP/2, from CN; returns
/// `grpc-status` and the decoded `grpc-message`.
async fn raw_call(addr: SocketAddr, body: &[u8]) -> (String, String) {
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let req = http::Request::post(format!("http://{addr}{METHOD}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("x-customer-country", "CN")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let res = client.request(req).await.unwrap();
    let headers = res.headers().clone();
    let collected = res.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let get = |name: &str| {
        headers
            .get(name)
            .or_else(|| trailers.get(name))
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let message = percent_decode(&get("grpc-message"));
    (get("grpc-status"), message)
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        let hex = tail.get(..2).and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(decoded) if b == b'%' => {
                out.push(decoded);
                rest = &tail[2..];
            }
            _ => {
                out.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
