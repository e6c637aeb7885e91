//! Heap allocations per request through the layer, counted by an
//! instrumenting global allocator: for each request kind, the allocations
//! a layered service makes beyond a bare one given the same request. The
//! counts are deterministic (a single-threaded call, polled in place), so
//! they are asserted as upper bounds; they are printed with `--nocapture`.
//! One test in its own binary: the allocator counts every thread.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod demo_issuer;

use std::alloc::System;
use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Layer, Service};
use tower_export_control::{ClientAddr, ExportControlLayer, Gate, Policy};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ROUNDS: usize = 100;

/// A demo-issuer license for `acme-cn` in CN, valid for a day.
fn token() -> String {
    demo_issuer::license("LIC-ALLOC-0001", Some(64)).unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `GET /v1/info`, a US customer: headers only, allowed.
    Get,
    /// `POST /v1/instances` with a JSON body, a US customer, `m7i.large`.
    Post,
    /// `POST /v1/instances` for `p5.48xlarge` from CN with a license the
    /// verifier has seen (a cache hit).
    License,
}

fn request(kind: Kind, token: &str) -> Request<Full<Bytes>> {
    let (b, body) = match kind {
        Kind::Get => (
            Request::get("/v1/info").header("x-customer-country", "US"),
            "",
        ),
        Kind::Post => (
            Request::post("/v1/instances")
                .header("x-customer-country", "US")
                .header("content-type", "application/json"),
            r#"{"instance_type":"m7i.large","count":1}"#,
        ),
        Kind::License => (
            Request::post("/v1/instances")
                .header("x-customer-country", "CN")
                .header("x-customer-id", "acme-cn")
                .header("content-type", "application/json")
                .header("x-export-license", token),
            r#"{"instance_type":"p5.48xlarge","count":1}"#,
        ),
    };
    // As a server hands it on: room for a few more headers.
    let mut req = b
        .header("content-length", body.len())
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    req.headers_mut().reserve(16);
    req.extensions_mut()
        .insert(ClientAddr("127.0.0.1:50000".parse().unwrap()));
    req
}

/// An empty 200, whatever the request (dropped inside the count).
fn app<B>(req: Request<B>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    drop(black_box(req));
    std::future::ready(Ok(Response::new(Full::new(Bytes::new()))))
}

/// Calls the service and polls the answer once (every case completes at
/// once: the bodies are in memory); its status.
fn call<S, B>(svc: &mut S, req: Request<Full<Bytes>>) -> StatusCode
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
    let fut = pin!(svc.call(req));
    match fut.poll(&mut cx) {
        Poll::Ready(res) => res.unwrap().status(),
        Poll::Pending => panic!("the service did not complete at once"),
    }
}

/// Allocations and bytes allocated per request, on average over `ROUNDS`
/// requests built before counting.
fn per_request<S, B>(svc: &mut S, kind: Kind, token: &str) -> (f64, f64)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
{
    let requests: Vec<_> = (0..ROUNDS).map(|_| request(kind, token)).collect();
    let region = Region::new(GLOBAL);
    for req in requests {
        assert_eq!(call(svc, req), StatusCode::OK, "{kind:?}");
    }
    let change = region.change();
    let n = ROUNDS as f64;
    (
        (change.allocations + change.reallocations) as f64 / n,
        change.bytes_allocated as f64 / n,
    )
}

#[test]
fn allocations_per_request_stay_within_bounds() {
    let trust = demo_issuer::trust().unwrap();
    let gate = Gate::new(Policy::embedded_default()).with_license_trust(trust);
    let token = token();
    let mut bare = tower::service_fn(app::<Full<Bytes>>);
    let mut layered = ExportControlLayer::new(gate).layer(tower::service_fn(app));
    // Warm: the token cache, the tag values, lazily built tables.
    for kind in [Kind::Get, Kind::Post, Kind::License] {
        assert_eq!(call(&mut layered, request(kind, &token)), StatusCode::OK);
    }

    // Upper bounds on the allocations the layer adds to each kind of
    // request; lower them as the path gets cheaper.
    // With the `metrics` feature the facade builds each labelled metric's
    // label list (one allocation) before it looks for a recorder: the
    // decision, and for a licensed request the license check too.
    let labelled = |n: f64| if cfg!(feature = "metrics") { n } else { 0.0 };
    let bounds = [
        (Kind::Get, 1.0 + labelled(1.0)),
        (Kind::Post, 4.0 + labelled(1.0)),
        (Kind::License, 7.0 + labelled(2.0)),
    ];
    let mut over = Vec::new();
    for (kind, bound) in bounds {
        let (bare_n, bare_bytes) = per_request(&mut bare, kind, &token);
        let (layered_n, layered_bytes) = per_request(&mut layered, kind, &token);
        let added = layered_n - bare_n;
        println!(
            "{kind:?}: bare {bare_n:.1} allocations ({bare_bytes:.0} B), layered \
             {layered_n:.1} ({layered_bytes:.0} B): the layer adds {added:.1} \
             allocations, {:.0} B",
            layered_bytes - bare_bytes
        );
        if added > bound {
            over.push(format!("{kind:?}: {added:.1} > {bound}"));
        }
    }
    assert!(over.is_empty(), "over the bound: {over:?}");
}
