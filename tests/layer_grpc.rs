//! The layer in front of a tonic 0.14 gRPC server, called by a tonic
//! client, over real TCP. No protoc: the message is a hand-written prost
//! struct and the service is written the way tonic's generated code is
//! (`tonic::server::Grpc::unary` with `tonic_prost::ProstCodec`). The
//! method carries the customer country and instance type in metadata.
//!
//! tonic does not know the layer either, but its server puts the peer into
//! each request's extensions as `TcpConnectInfo`: a `map_request` in front
//! of the layer copies it into `ClientAddr`, which the layer reads.

// Fixture helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod layer_support;

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use layer_support::*;
use tonic::server::NamedService;
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tower::{Service, ServiceBuilder};
use tower_export_control::{ClientAddr, ExportControlLayer, ExportTags, Policy};

/// `export.test.Provisioning/CreateInstance` request.
#[derive(Clone, PartialEq, prost::Message)]
struct CreateInstanceRequest {
    #[prost(string, tag = "1")]
    name: String,
}

/// What the handler saw.
#[derive(Clone, PartialEq, prost::Message)]
struct CreateInstanceReply {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    decision: String,
    #[prost(string, tag = "3")]
    accelerator_class: String,
    #[prost(string, repeated, tag = "4")]
    countries: Vec<String>,
    #[prost(string, optional, tag = "5")]
    license_id: Option<String>,
    /// `name=value` of each `x-export-*` metadata entry.
    #[prost(string, repeated, tag = "6")]
    export_metadata: Vec<String>,
}

const SERVICE: &str = "export.test.Provisioning";
const METHOD: &str = "/export.test.Provisioning/CreateInstance";

/// The hand-written server, shaped like tonic-build's output.
#[derive(Clone, Default)]
struct ProvisioningServer {
    calls: Arc<AtomicUsize>,
}

impl NamedService for ProvisioningServer {
    const NAME: &'static str = SERVICE;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send>>;

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
    let mut export_metadata: Vec<String> = req
        .metadata()
        .iter()
        .filter_map(|kv| match kv {
            tonic::metadata::KeyAndValueRef::Ascii(k, v) => Some((k, v)),
            tonic::metadata::KeyAndValueRef::Binary(..) => None,
        })
        .filter(|(k, _)| k.as_str().starts_with("x-export-"))
        .map(|(k, v)| format!("{}={}", k.as_str(), v.to_str().unwrap()))
        .collect();
    export_metadata.sort();
    Ok(tonic::Response::new(CreateInstanceReply {
        name: req.into_inner().name,
        decision: tags.outcome().as_str().to_owned(),
        accelerator_class: tags.accelerator_class().as_str().to_owned(),
        countries: tags
            .verdict()
            .countries()
            .map(|(c, s)| format!("{c}:{s:?}"))
            .collect(),
        license_id: tags.license_id().map(str::to_owned),
        export_metadata,
    }))
}

impl<B> Service<http::Request<B>> for ProvisioningServer
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
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
                // Any `Service<tonic::Request<M>>` is a `UnaryService<M>`.
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

/// Copies tonic's `TcpConnectInfo` into the `ClientAddr` the layer reads.
/// Put it in front of (outside) the layer.
fn client_addr_from_tonic<B>(mut req: http::Request<B>) -> http::Request<B> {
    let peer = req
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr);
    if let Some(peer) = peer {
        req.extensions_mut().insert(ClientAddr(peer));
    }
    req
}

async fn serve() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ProvisioningServer::default();
    let calls = Arc::clone(&server.calls);
    let layers = ServiceBuilder::new()
        .map_request(client_addr_from_tonic::<tonic::body::Body>)
        .layer(ExportControlLayer::new(gate()));
    tokio::spawn(async move {
        Server::builder()
            .layer(layers)
            .add_service(server)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (addr, calls)
}

async fn channel(addr: SocketAddr, local: IpAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .local_address(Some(local))
        .connect()
        .await
        .unwrap()
}

/// Calls the method with the given metadata.
async fn create(
    channel: &Channel,
    metadata: &[(&'static str, &str)],
) -> Result<CreateInstanceReply, Status> {
    let mut req = tonic::Request::new(CreateInstanceRequest {
        name: "trainer-1".into(),
    });
    for (k, v) in metadata {
        req.metadata_mut().insert(*k, v.parse().unwrap());
    }
    let mut client = tonic::client::Grpc::new(channel.clone());
    client.ready().await.unwrap();
    let codec = ProstCodec::<CreateInstanceRequest, CreateInstanceReply>::default();
    client
        .unary(req, PathAndQuery::from_static(METHOD), codec)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn allowed_call_reaches_the_handler_with_tags() {
    let (addr, calls) = serve().await;
    let ch = channel(addr, US_PEER).await;
    let reply = create(
        &ch,
        &[
            ("x-customer-country", "US"),
            ("x-instance-type", "p5.48xlarge"),
            // Forged: never reaches the handler.
            ("x-export-decision", "allow-licensed"),
            ("x-export-license-id", "FORGED"),
            ("x-export-decision-id", "00000000000000000000000000000001"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(reply.name, "trainer-1");
    assert_eq!(reply.decision, "allow");
    assert_eq!(reply.accelerator_class, "3A090.a");
    assert_eq!(reply.countries, ["US:Declared", "US:Network"]);
    assert_eq!(reply.license_id, None);
    assert_eq!(
        reply.export_metadata,
        [
            "x-export-accelerator-class=3A090.a",
            "x-export-country-groups=",
            "x-export-country=US",
            "x-export-decision=allow",
            &format!("x-export-policy={}", policy().digest()),
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn denied_call_is_permission_denied_with_the_reason() {
    let (addr, calls) = serve().await;
    let ch = channel(addr, US_PEER).await;
    let status = create(
        &ch,
        &[
            ("x-customer-country", "CN"),
            ("x-instance-type", "p5.48xlarge"),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().starts_with("license_required: "),
        "{status:?}"
    );
    // percent-decoded by the client: the detail reads as written.
    assert!(
        status
            .message()
            .contains("requires an export license for customers in CN (groups D:1"),
        "{status:?}"
    );

    // Connecting from CN, declared US: the network country decides.
    let cn = channel(addr, CN_PEER).await;
    let status = create(
        &cn,
        &[
            ("x-customer-country", "US"),
            ("x-instance-type", "p5.48xlarge"),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("connecting from CN"),
        "{status:?}"
    );

    // Embargoed, no instance type at all.
    let status = create(&ch, &[("x-customer-country", "IR")])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().starts_with("embargoed: "), "{status:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn bad_input_is_invalid_argument() {
    let (addr, calls) = serve().await;
    let ch = channel(addr, US_PEER).await;
    for (metadata, reason) in [
        (&[("x-customer-country", "ZZ")][..], "invalid_country"),
        (&[("x-instance-count", "0")][..], "invalid_count"),
        (&[("x-customer-id", "has space")][..], "invalid_customer_id"),
    ] {
        let status = create(&ch, metadata).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with(&format!("{reason}: ")),
            "{status:?}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn licensed_call_succeeds() {
    let (addr, calls) = serve().await;
    let ch = channel(addr, US_PEER).await;
    let token = license("LIC-GRPC-0001");
    let reply = create(
        &ch,
        &[
            ("x-customer-country", "CN"),
            ("x-customer-id", LICENSED_CUSTOMER),
            ("x-instance-type", "p5.48xlarge"),
            ("x-export-license", &token),
        ],
    )
    .await
    .unwrap();
    assert_eq!(reply.decision, "allow-licensed");
    assert_eq!(reply.license_id.as_deref(), Some("LIC-GRPC-0001"));
    assert!(
        reply
            .export_metadata
            .contains(&"x-export-license-id=LIC-GRPC-0001".to_owned())
    );
    assert!(
        !reply
            .export_metadata
            .iter()
            .any(|m| m.starts_with("x-export-license="))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------
// Compile-time checks: these only need to type-check.
// ---------------------------------------------------------------------------

/// The layer alone on a tonic server, served.
async fn _assert_tonic_serve(addr: SocketAddr) -> Result<(), tonic::transport::Error> {
    Server::builder()
        .layer(ExportControlLayer::new(Policy::embedded_default()))
        .add_service(ProvisioningServer::default())
        .serve(addr)
        .await
}

/// With the `ClientAddr` shim in front, as in these tests.
async fn _assert_tonic_stack(addr: SocketAddr) -> Result<(), tonic::transport::Error> {
    Server::builder()
        .layer(
            ServiceBuilder::new()
                .map_request(client_addr_from_tonic::<tonic::body::Body>)
                .layer(ExportControlLayer::new(Policy::embedded_default())),
        )
        .add_service(ProvisioningServer::default())
        .serve(addr)
        .await
}

fn assert_clone_send_sync<T: Clone + Send + Sync + 'static>() {}

#[test]
fn service_over_tonic_routes_is_clone_send_sync() {
    assert_clone_send_sync::<tower_export_control::ExportControl<tonic::service::Routes>>();
}
