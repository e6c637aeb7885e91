//! A slow upload does not hold the inner service: the layer reads a
//! provisioning body before the inner service is made ready, so a client
//! that trickles its body occupies no concurrency-limit permit, and other
//! requests are served meanwhile.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod layer_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use layer_support::gate;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimitLayer;
use tower_export_control::layer::RequestBody;
use tower_export_control::{ClientAddr, ExportControlLayer};

async fn app(_req: Request<RequestBody<Incoming>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"created"))))
}

/// The layer around a one-at-a-time inner service, shared by every
/// connection (clones of `ConcurrencyLimit` share its permits).
async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = ServiceBuilder::new()
        .layer(ExportControlLayer::new(gate()))
        .layer(ConcurrencyLimitLayer::new(1))
        .service_fn(app);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let svc = ServiceBuilder::new()
                .map_request(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(ClientAddr(peer));
                    req
                })
                .service(svc.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                    .await;
            });
        }
    });
    addr
}

/// Sends a whole request on a new connection and reads the status line.
async fn status_of(addr: SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_status(&mut stream).await
}

async fn read_status(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    text.lines().next().unwrap().to_owned()
}

#[tokio::test]
async fn a_trickled_body_does_not_hold_the_inner_service() {
    let addr = serve().await;
    let body = r#"{"instance_type":"p5.48xlarge","count":1}"#;
    let (first, rest) = body.split_at(10);

    // A client starts a provisioning request and stops halfway through its body.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/instances HTTP/1.1\r\nhost: x\r\nx-customer-country: US\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{first}",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.flush().await.unwrap();
    // Let the server take the request and start reading its body.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Others are served while it waits: with the permit held inside, this
    // would wait for the slow body, which waits for this: a deadlock the
    // timeout turns into a failure.
    for path in ["/v1/instances", "/healthz"] {
        let quick = format!(
            "GET {path} HTTP/1.1\r\nhost: x\r\nx-customer-country: US\r\nconnection: close\r\n\r\n"
        );
        let status = tokio::time::timeout(Duration::from_secs(20), status_of(addr, &quick))
            .await
            .expect("a request was held up behind a slow upload");
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    }
    let provision = format!(
        "POST /v1/instances HTTP/1.1\r\nhost: x\r\nx-customer-country: US\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let status = tokio::time::timeout(Duration::from_secs(20), status_of(addr, &provision))
        .await
        .expect("a provisioning request was held up behind a slow upload");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");

    // The slow client finishes and is served too.
    slow.write_all(rest.as_bytes()).await.unwrap();
    let status = read_status(&mut slow).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
}
