//! The layer on a bare hyper 1 server (hyper-util's auto builder, HTTP/1
//! and HTTP/2) around a `tower::service_fn`, adapted with
//! `TowerToHyperService`. hyper knows nothing of the layer: the accept loop
//! inserts `ClientAddr(peer)` into each request. Also: readiness is
//! forwarded, and the instance made ready is the one called.

// Fixture helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod layer_support;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use layer_support::*;
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_export_control::layer::RequestBody;
use tower_export_control::{ClientAddr, ExportControl, ExportControlLayer, ExportTags};

/// The application: echoes the tags and `x-export-*` headers it received.
async fn app(req: Request<RequestBody<Incoming>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let collected = body.collect().await.unwrap();
    let trailers: Option<Vec<String>> = collected.trailers().map(|t| {
        t.iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
            .collect()
    });
    let body = collected.to_bytes();
    let tags = parts.extensions.get::<ExportTags>().map(|t| {
        json!({
            "countries": t.verdict().countries().map(|(c, s)| json!([c.as_str(), format!("{s:?}")])).collect::<Vec<_>>(),
            "decision": t.outcome().as_str(),
            "license_id": t.license_id(),
            "accelerator_class": t.accelerator_class().as_str(),
        })
    });
    let export: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-export-"))
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap())))
        .collect();
    let out = json!({
        "version": format!("{:?}", parts.version),
        "tags": tags,
        "export_headers": export,
        "body_sha256": sha256_hex(&body),
        "trailers": trailers,
    });
    Ok(Response::new(Full::new(Bytes::from(out.to_string()))))
}

/// Serves `layer` around [`app`] on `127.0.0.1:0`; with `insert_addr` the
/// accept loop tells the layer the peer address (hyper does not).
async fn serve(layer: ExportControlLayer, insert_addr: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let svc = ServiceBuilder::new()
                .map_request(move |mut req: Request<Incoming>| {
                    if insert_addr {
                        req.extensions_mut().insert(ClientAddr(peer));
                    }
                    req
                })
                .layer(layer.clone())
                .service_fn(app);
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                    .await;
            });
        }
    });
    addr
}

async fn send_with(
    client: &Client<HttpConnector, Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> RawResponse {
    let res = client.request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    RawResponse {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

fn client(local: IpAddr, http2: bool) -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_local_address(Some(local));
    Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .build(connector)
}

fn provision(addr: SocketAddr, headers: &[(&str, &str)], body: &Value) -> Request<Full<Bytes>> {
    let mut b = Request::post(format!("http://{addr}/v1/instances"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

fn p5() -> Value {
    json!({ "instance_type": "p5.48xlarge", "count": 1 })
}

#[tokio::test]
async fn allowed_denied_and_licensed_over_http1_and_http2() {
    let addr = serve(ExportControlLayer::new(gate()), true).await;
    for http2 in [false, true] {
        let us = client(US_PEER, http2);
        // Allowed.
        let res = send_with(&us, provision(addr, &[("x-customer-country", "US")], &p5())).await;
        assert_eq!(res.status, StatusCode::OK);
        let v = res.json();
        assert_eq!(v["version"], if http2 { "HTTP/2.0" } else { "HTTP/1.1" });
        assert_eq!(v["tags"]["decision"], "allow");
        assert_eq!(
            v["tags"]["countries"],
            json!([["US", "Declared"], ["US", "Network"]])
        );
        assert_eq!(v["export_headers"]["x-export-decision"], "allow");
        assert_eq!(v["body_sha256"], sha256_hex(p5().to_string().as_bytes()));

        // Denied: a US customer connecting from CN.
        let res = send_with(
            &client(CN_PEER, http2),
            provision(addr, &[("x-customer-country", "US")], &p5()),
        )
        .await;
        assert_eq!(res.status.as_u16(), 451);
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
        let v = res.json();
        assert_eq!(v["reason"], "license_required");
        assert_eq!(v["network_country"], "CN");

        // Licensed.
        let token = license("LIC-HYPER-0001");
        let res = send_with(
            &us,
            provision(
                addr,
                &[
                    ("x-customer-country", "CN"),
                    ("x-customer-id", LICENSED_CUSTOMER),
                    ("x-export-license", &token),
                ],
                &p5(),
            ),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        let v = res.json();
        assert_eq!(v["tags"]["decision"], "allow-licensed");
        assert_eq!(v["tags"]["license_id"], "LIC-HYPER-0001");
        assert_eq!(v["export_headers"]["x-export-license-id"], "LIC-HYPER-0001");
        assert_eq!(v["export_headers"].get("x-export-license"), None);
    }
}

#[tokio::test]
async fn without_client_addr_the_network_country_is_unknown() {
    let addr = serve(ExportControlLayer::new(gate()), false).await;
    // From a CN address, but the layer is not told.
    let cn = client(CN_PEER, false);
    let res = send_with(
        &cn,
        Request::get(format!("http://{addr}/healthz"))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let v = res.json();
    assert_eq!(v["tags"]["countries"], json!([]));
    assert_eq!(v["export_headers"]["x-export-country"], "unknown");

    // A declared US customer is then judged on the declaration alone.
    let res = send_with(&cn, provision(addr, &[("x-customer-country", "US")], &p5())).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["tags"]["countries"], json!([["US", "Declared"]]));

    // No country at all: controlled classes fail closed.
    let res = send_with(&cn, provision(addr, &[], &p5())).await;
    assert_eq!(res.status.as_u16(), 451);
    let v = res.json();
    assert_eq!(v["reason"], "jurisdiction_unknown");
    assert_eq!(v["country"], Value::Null);
    assert_eq!(v["network_country"], Value::Null);
    // x-forwarded-for means nothing without a peer to trust.
    let res = send_with(
        &cn,
        Request::get(format!("http://{addr}/healthz"))
            .header("x-forwarded-for", "10.1.0.5")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(res.json()["export_headers"]["x-export-country"], "unknown");
}

#[tokio::test]
async fn request_trailers_reach_the_handler_on_every_route() {
    // A chunked body with a trailer: the layer reads a provisioning body in
    // full, and must hand on its trailers with the bytes, as it does for
    // bodies it streams.
    let addr = serve(ExportControlLayer::new(gate()), true).await;
    let json = br#"{"instance_type": "p5.48xlarge"}"#;
    let body = [
        format!("{:x}\r\n", json.len()).as_bytes(),
        json,
        b"\r\n0\r\nx-checksum: abc\r\n\r\n",
    ]
    .concat();
    for path in ["/v1/instances", "/v1/other"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\nx-customer-country: US\r\n\
             te: trailers\r\ntrailer: x-checksum\r\ntransfer-encoding: chunked"
        );
        let res = raw_request(US_PEER, addr, &head, &[&body]).await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        let v = res.json();
        assert_eq!(v["tags"]["decision"], "allow", "{path}");
        assert_eq!(v["body_sha256"], sha256_hex(json), "{path}");
        assert_eq!(v["trailers"], json!(["x-checksum: abc"]), "{path}");
    }
}

// ---------------------------------------------------------------------------
// Readiness: the instance polled ready is the one called (tower-http #561)
// ---------------------------------------------------------------------------

/// Records which clone was made ready and which was called. Each clone has
/// its own id and starts not ready; `call` on a clone that was not made
/// ready is the bug this guards against.
#[derive(Debug)]
struct Tracker {
    id: usize,
    ready: bool,
    next_id: Arc<AtomicUsize>,
    open: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Tracker {
    fn new() -> Self {
        Self {
            id: 0,
            ready: false,
            next_id: Arc::new(AtomicUsize::new(1)),
            open: Arc::new(AtomicBool::new(true)),
            log: Arc::default(),
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Clone for Tracker {
    fn clone(&self) -> Self {
        Self {
            id: self.next_id.fetch_add(1, Ordering::SeqCst),
            ready: false,
            next_id: Arc::clone(&self.next_id),
            open: Arc::clone(&self.open),
            log: Arc::clone(&self.log),
        }
    }
}

impl<B> Service<Request<B>> for Tracker {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if !self.open.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        self.ready = true;
        self.log.lock().unwrap().push(format!("ready {}", self.id));
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        let ready = std::mem::replace(&mut self.ready, false);
        self.log
            .lock()
            .unwrap()
            .push(format!("call {} ready={ready}", self.id));
        std::future::ready(Ok(Response::new(Full::new(Bytes::new()))))
    }
}

type Tracked = ExportControl<Tracker>;

async fn ready(svc: &mut Tracked) -> &mut Tracked {
    ServiceExt::<Request<Full<Bytes>>>::ready(svc)
        .await
        .unwrap()
}

fn tracked_request(path: &str, body: &str) -> Request<Full<Bytes>> {
    let mut req = Request::post(path)
        .header("x-customer-country", "US")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    req.extensions_mut()
        .insert(ClientAddr("127.0.0.1:40000".parse().unwrap()));
    req
}

#[tokio::test]
async fn poll_ready_is_forwarded_and_the_ready_instance_is_called() {
    let tracker = Tracker::new();
    let mut svc: ExportControl<Tracker> = ExportControlLayer::new(gate()).layer(tracker.clone());
    let log = || tracker.log();

    // Not ready inside: not ready outside.
    tracker.open.store(false, Ordering::SeqCst);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        Service::<Request<Full<Bytes>>>::poll_ready(&mut svc, &mut cx).is_pending(),
        "poll_ready not forwarded"
    );
    tracker.open.store(true, Ordering::SeqCst);

    // A provisioning request: the body is read in a future. The instance
    // made ready is released (a slow upload must hold no permit inside),
    // and a clone is made ready once the body is in, then called.
    let ready_id = svc.get_ref().id;
    let res = ready(&mut svc)
        .await
        .call(tracked_request("/v1/instances", &p5().to_string()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let entries = log();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert_eq!(entries[0], format!("ready {ready_id}"));
    let called = entries[1].strip_prefix("ready ").unwrap().to_owned();
    assert_ne!(
        called,
        ready_id.to_string(),
        "the released instance is not called"
    );
    assert_eq!(entries[2], format!("call {called} ready=true"));

    // The service left behind is a fresh clone: it must be made ready
    // before its own call.
    let second = svc.get_ref().id;
    assert_ne!(second, ready_id);
    ready(&mut svc)
        .await
        .call(tracked_request("/v1/instances", &p5().to_string()))
        .await
        .unwrap();
    assert_eq!(log()[3], format!("ready {second}"));
    assert!(log()[5].ends_with("ready=true"), "{:?}", log());
    // Off the provisioning routes: the instance made ready is called in place.
    let third = svc.get_ref().id;
    ready(&mut svc)
        .await
        .call(tracked_request("/healthz", ""))
        .await
        .unwrap();
    assert_eq!(svc.get_ref().id, third, "called in place");
    assert_eq!(
        log()[6..],
        [format!("ready {third}"), format!("call {third} ready=true"),]
    );

    // Denials call nothing, whichever way they are decided.
    let before = log().len();
    let mut denied = tracked_request("/v1/instances", &p5().to_string());
    denied
        .headers_mut()
        .insert("x-customer-country", "CN".parse().unwrap());
    let res = ready(&mut svc).await.call(denied).await.unwrap();
    assert_eq!(res.status().as_u16(), 451);
    let res = ready(&mut svc)
        .await
        .call(tracked_request("/v1/instances", "{"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        log()[before..].iter().all(|e| e.starts_with("ready ")),
        "{:?}",
        &log()[before..]
    );
}

// ---------------------------------------------------------------------------
// Compile-time checks: these only need to type-check.
// ---------------------------------------------------------------------------

/// The layer around a `service_fn`, served by hyper.
async fn _assert_hyper(stream: tokio::net::TcpStream, peer: SocketAddr) {
    let svc = ServiceBuilder::new()
        .map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ClientAddr(peer));
            req
        })
        .layer(ExportControlLayer::new(
            tower_export_control::Policy::embedded_default(),
        ))
        .service_fn(app);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
        .await;
}

fn assert_clone_send_sync<T: Clone + Send + Sync + 'static>() {}

#[test]
fn service_is_clone_send_sync() {
    type App = tower::util::ServiceFn<
        fn(
            Request<RequestBody<Incoming>>,
        ) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>,
    >;
    assert_clone_send_sync::<ExportControl<App>>();
    assert_clone_send_sync::<ExportControl<Tracker>>();
}
