//! License quantities across a fleet, over TCP: two "replicas" of an axum
//! provisioning API, each with its own layer and gate, counting on one
//! shared ledger. A 64-accelerator license serves exactly eight 8-GPU
//! instances however the requests race; releases free capacity; failed and
//! abandoned requests leave usage unchanged; retries with one
//! `Idempotency-Key` count once; a ledger that cannot answer fails closed.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod layer_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use layer_support::{LICENSED_CUSTOMER, RawResponse, build_policy, gate_with, license_with};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tower_export_control::ExportControlLayer;
use tower_export_control::ledger::{
    Ledger, LedgerError, LedgerFuture, MemoryLedger, Reservation, ReservationId,
    ReservationRequest, Reserved, Usage,
};

const JTI: &str = "LIC-FLEET-0001";

/// The handler: 201, or 500 when asked, or slow when asked.
async fn create(headers: HeaderMap) -> (StatusCode, String) {
    if headers.contains_key("x-test-fail") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "failed".into());
    }
    if headers.contains_key("x-test-slow") {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let reservation = headers
        .get("x-export-reservation")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (StatusCode::CREATED, reservation)
}

/// One replica: its own gate on the test policy, counting on `ledger`.
async fn replica(ledger: impl Ledger) -> SocketAddr {
    let gate = gate_with(build_policy(None)).with_ledger(ledger);
    let app = Router::new()
        .route("/v1/instances", post(create))
        .layer(ExportControlLayer::new(gate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    addr
}

fn token() -> String {
    license_with(json!({"jti": JTI, "max_accelerators": 64}))
}

fn provision(addr: SocketAddr, token: &str, extra: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut req = Request::post(format!("http://{addr}/v1/instances"))
        .header("content-type", "application/json")
        .header("x-customer-country", "CN")
        .header("x-customer-id", LICENSED_CUSTOMER)
        .header("x-export-license", token);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.body(Full::new(Bytes::from_static(
        br#"{"instance_type":"p5.48xlarge"}"#,
    )))
    .unwrap()
}

async fn send(req: Request<Full<Bytes>>) -> RawResponse {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let res = client.request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    RawResponse {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

async fn usage(ledger: &MemoryLedger) -> Usage {
    ledger.usage(JTI).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_never_over_grant_a_license() {
    let ledger = Arc::new(MemoryLedger::new());
    let replicas = [
        replica(Arc::clone(&ledger)).await,
        replica(Arc::clone(&ledger)).await,
    ];
    let token = token();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let req = provision(replicas[i % 2], &token, &[]);
        tasks.push(tokio::spawn(send(req)));
    }
    let (mut created, mut exhausted) = (0, 0);
    for task in tasks {
        let res = task.await.unwrap();
        match res.status {
            StatusCode::CREATED => created += 1,
            StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS => {
                let body = res.json();
                assert_eq!(body["reason"], "license_quantity_exhausted", "{body}");
                assert_eq!(body["limit"], 64);
                assert_eq!(body["requested"], 8);
                assert!(body["in_use"].as_u64().unwrap() > 56, "{body}");
                exhausted += 1;
            }
            other => panic!("unexpected {other}: {:?}", res.body),
        }
    }
    assert_eq!((created, exhausted), (8, 192));
    let used = usage(&ledger).await;
    assert_eq!((used.active, used.pending), (64, 0));
    assert_eq!(ledger.reservations(JTI).await.unwrap().len(), 8);
}

#[tokio::test]
async fn a_release_frees_capacity_and_failures_count_nothing() {
    let ledger = Arc::new(MemoryLedger::new());
    let addr = replica(Arc::clone(&ledger)).await;
    let token = token();
    let mut ids = Vec::new();
    for _ in 0..8 {
        let res = send(provision(addr, &token, &[])).await;
        assert_eq!(res.status, StatusCode::CREATED);
        // The handler saw the reservation's id; the client is told nothing.
        ids.push(String::from_utf8(res.body.to_vec()).unwrap());
    }
    let full = send(provision(addr, &token, &[])).await;
    assert_eq!(full.json()["reason"], "license_quantity_exhausted");

    // Terminating an instance releases its reservation.
    let id = ReservationId::new(&ids[0]).unwrap();
    assert!(ledger.release(JTI, &id).await.unwrap());
    assert!(!ledger.release(JTI, &id).await.unwrap(), "idempotent");
    assert_eq!(usage(&ledger).await.active, 56);

    // A 500 from the handler: released, nothing counted.
    let failed = send(provision(addr, &token, &[("x-test-fail", "1")])).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(usage(&ledger).await.in_use(), 56);

    // A client that goes away mid-request: released when the request is
    // dropped.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = r#"{"instance_type":"p5.48xlarge"}"#;
    let head = format!(
        "POST /v1/instances HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         x-customer-country: CN\r\nx-customer-id: {LICENSED_CUSTOMER}\r\n\
         x-export-license: {token}\r\nx-test-slow: 1\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Wait until the reservation is pending inside the handler.
    for _ in 0..500 {
        if usage(&ledger).await.pending == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(usage(&ledger).await.pending, 8);
    drop(stream);
    for _ in 0..500 {
        if usage(&ledger).await.pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(usage(&ledger).await, Usage::default().with(56, 0));

    // The freed unit serves the next request.
    let res = send(provision(addr, &token, &[])).await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(usage(&ledger).await.active, 64);
}

/// `Usage` is non-exhaustive: built for comparisons from a real ledger.
trait UsageOf {
    fn with(self, active: u64, pending: u64) -> Usage;
}

impl UsageOf for Usage {
    fn with(mut self, active: u64, pending: u64) -> Usage {
        self.active = active;
        self.pending = pending;
        self
    }
}

#[tokio::test]
async fn a_retried_request_counts_once() {
    let ledger = Arc::new(MemoryLedger::new());
    let addr = replica(Arc::clone(&ledger)).await;
    let token = token();
    let key = [("idempotency-key", "order-7")];
    let first = send(provision(addr, &token, &key)).await;
    let again = send(provision(addr, &token, &key)).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(first.body, again.body, "the same reservation");
    assert_eq!(
        first.body,
        format!("{LICENSED_CUSTOMER}/order-7").as_bytes()
    );
    assert_eq!(usage(&ledger).await.in_use(), 8);
    // A retry that fails does not release the first request's reservation.
    let failed = send(provision(addr, &token, &[key[0], ("x-test-fail", "1")])).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(usage(&ledger).await.active, 8);
    // Without a key, each request is its own reservation.
    send(provision(addr, &token, &[])).await;
    assert_eq!(usage(&ledger).await.active, 16);
}

#[tokio::test]
async fn pending_reservations_lapse() {
    let ledger = MemoryLedger::new().with_pending_ttl(Duration::from_millis(20));
    let id = ReservationId::new("lapsing").unwrap();
    let request = ReservationRequest::new(id.clone(), JTI, "c", "p5.48xlarge", 8, 8);
    assert!(matches!(
        ledger.reserve(request.clone()).await.unwrap(),
        Reserved::Granted(_)
    ));
    assert_eq!(ledger.usage(JTI).await.unwrap().pending, 8);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(ledger.usage(JTI).await.unwrap().in_use(), 0);
    assert!(!ledger.confirm(JTI, &id).await.unwrap(), "lapsed");
    assert!(matches!(
        ledger.reserve(request).await.unwrap(),
        Reserved::Granted(_)
    ));
}

/// A ledger that cannot be reached.
struct Down;

impl Ledger for Down {
    fn reserve(&self, _: ReservationRequest) -> LedgerFuture<'_, Reserved> {
        LedgerFuture::new(async { Err(LedgerError::Timeout(Duration::from_millis(50))) })
    }
    fn confirm<'a>(&'a self, _: &'a str, _: &'a ReservationId) -> LedgerFuture<'a, bool> {
        LedgerFuture::ready(Err(LedgerError::Unavailable("down".into())))
    }
    fn release<'a>(&'a self, _: &'a str, _: &'a ReservationId) -> LedgerFuture<'a, bool> {
        LedgerFuture::ready(Err(LedgerError::Unavailable("down".into())))
    }
    fn usage<'a>(&'a self, _: &'a str) -> LedgerFuture<'a, Usage> {
        LedgerFuture::ready(Err(LedgerError::Unavailable("down".into())))
    }
    fn reservations<'a>(&'a self, _: &'a str) -> LedgerFuture<'a, Vec<Reservation>> {
        LedgerFuture::ready(Err(LedgerError::Unavailable("down".into())))
    }
    fn reconcile<'a>(&'a self, _: &'a str, _: &'a [ReservationId]) -> LedgerFuture<'a, Usage> {
        LedgerFuture::ready(Err(LedgerError::Unavailable("down".into())))
    }
    fn release_detached(&self, _: &str, _: &ReservationId) {}
}

#[tokio::test]
async fn a_ledger_that_cannot_answer_fails_closed() {
    let addr = replica(Down).await;
    let token = token();
    let res = send(provision(addr, &token, &[])).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.header("retry-after"), Some("1"));
    let body = res.json();
    assert_eq!(body["reason"], "ledger_unavailable", "{body}");
    // Requests that need no count are not held up by it.
    let unlicensed = Request::post(format!("http://{addr}/v1/instances"))
        .header("content-type", "application/json")
        .header("x-customer-country", "US")
        .body(Full::new(Bytes::from_static(
            br#"{"instance_type":"p5.48xlarge"}"#,
        )))
        .unwrap();
    assert_eq!(send(unlicensed).await.status, StatusCode::CREATED);
}
