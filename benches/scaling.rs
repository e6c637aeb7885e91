//! Multi-core scaling: license cache hits and whole layered calls on 1 and 2
//! threads (and more with `SCALING_THREADS=1,2,4`), each thread running the
//! same work at once (criterion `iter_custom` over scoped threads).
//! Criterion's "thrpt" is calls per second summed over the threads: with
//! perfect scaling it doubles from 1 to 2 threads.
//!
//! `cargo bench --bench scaling`. Figures need idle cores: on a machine
//! busy with other work they measure the other work.
// Benchmark setup: a panic is a broken benchmark.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/demo_issuer/mod.rs"]
mod demo_issuer;

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_main};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, Service};
use tower_export_control::AcceleratorClass;
use tower_export_control::license::{
    LicenseRequirement, LicenseTrust, LicenseVerifier, RequiredCountry,
};
use tower_export_control::{ClientAddr, ExportControlLayer, Gate, Policy};

fn trust() -> LicenseTrust {
    demo_issuer::trust().unwrap()
}

fn token(jti: &str) -> String {
    demo_issuer::license(jti, Some(64)).unwrap()
}

fn threads() -> Vec<usize> {
    std::env::var("SCALING_THREADS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2])
}

/// Runs `work(thread, iters)` on `n` threads started together; the time
/// from the start to the last one finishing.
fn parallel<F>(n: usize, iters: u64, work: F) -> Duration
where
    F: Fn(usize, u64) + Sync,
{
    let barrier = Barrier::new(n + 1);
    std::thread::scope(|s| {
        for t in 0..n {
            let (barrier, work) = (&barrier, &work);
            s.spawn(move || {
                barrier.wait();
                work(t, iters);
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins every thread before returning.
        start
    })
    .elapsed()
}

fn cache_hits(c: &mut Criterion) {
    let trust = trust();
    let verifier = LicenseVerifier::new(10_000);
    let shared = token("LIC-SCALE-SHARED");
    let own: Vec<String> = (0..8).map(|i| token(&format!("LIC-SCALE-{i}"))).collect();
    let requirement = LicenseRequirement::new(AcceleratorClass::Eccn3A090a, Some("p5.48xlarge"), 8)
        .with_country(RequiredCountry {
            country: "CN".parse().unwrap(),
            alias_of: None,
        });
    let now = SystemTime::now();
    for t in own.iter().chain([&shared]) {
        verifier
            .check(&trust, t, Some("acme-cn"), &requirement, now)
            .unwrap();
    }
    let mut group = c.benchmark_group("scaling/license-cache-hit");
    for n in threads() {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("one token, {n} threads"), |b| {
            b.iter_custom(|iters| {
                parallel(n, iters, |_, iters| {
                    for _ in 0..iters {
                        let ok = verifier.check(
                            &trust,
                            black_box(&shared),
                            Some("acme-cn"),
                            &requirement,
                            now,
                        );
                        assert!(ok.is_ok());
                    }
                })
            });
        });
        group.bench_function(format!("a token per thread, {n} threads"), |b| {
            b.iter_custom(|iters| {
                parallel(n, iters, |t, iters| {
                    let token = &own[t % own.len()];
                    for _ in 0..iters {
                        let ok = verifier.check(
                            &trust,
                            black_box(token),
                            Some("acme-cn"),
                            &requirement,
                            now,
                        );
                        assert!(ok.is_ok());
                    }
                })
            });
        });
    }
    group.finish();
}

fn request(licensed: Option<&str>) -> Request<Full<Bytes>> {
    let b = match licensed {
        None => Request::get("/v1/info").header("x-customer-country", "US"),
        Some(token) => Request::post("/v1/instances")
            .header("x-customer-country", "CN")
            .header("x-customer-id", "acme-cn")
            .header("x-instance-type", "p5.48xlarge")
            .header("x-export-license", token),
    };
    let mut req = b.body(Full::new(Bytes::new())).unwrap();
    req.extensions_mut()
        .insert(ClientAddr("127.0.0.1:50000".parse().unwrap()));
    req
}

fn app<B>(req: Request<B>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    drop(black_box(req));
    std::future::ready(Ok(Response::new(Full::new(Bytes::new()))))
}

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

fn layer(c: &mut Criterion) {
    let gate = Gate::new(Policy::embedded_default()).with_license_trust(trust());
    let layered = ExportControlLayer::new(gate).layer(tower::service_fn(app));
    let token = token("LIC-SCALE-LAYER");
    assert_eq!(
        call(&mut layered.clone(), request(Some(&token))),
        StatusCode::OK
    );
    let mut group = c.benchmark_group("scaling/layer");
    for n in threads() {
        group.throughput(Throughput::Elements(n as u64));
        for (name, licensed) in [
            ("headers-only GET", None),
            ("licensed, cache hit", Some(&token)),
        ] {
            group.bench_function(format!("{name}, {n} threads"), |b| {
                b.iter_custom(|iters| {
                    parallel(n, iters, |_, iters| {
                        let mut svc = layered.clone();
                        for _ in 0..iters {
                            let req = request(licensed.map(String::as_str));
                            assert_eq!(call(&mut svc, req), StatusCode::OK);
                        }
                    })
                });
            });
        }
    }
    group.finish();
}

/// `criterion_group!` generates an undocumented public function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::cache_hits, super::layer);
}

criterion_main!(group::benches);
