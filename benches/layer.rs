//! The layer's cost: added latency per request over a bare `service_fn`
//! (criterion, futures polled directly with a no-op waker), and requests per
//! second through a real hyper HTTP/1.1 server on loopback, with and without
//! the layer.
//!
//! `cargo bench --bench layer`; figures are recorded in BENCHMARKS.md.
//! Cases, each against a bare service given the same request:
//!
//! - `headers-no-token`: `GET /v1/instances` with `x-customer-country: US`
//!   and `x-instance-type: p5.48xlarge` (not a provisioning route, allowed);
//! - `licensed-cache-hit`: a CN customer with a license token the verifier
//!   has already seen (warmed before measuring);
//! - `provisioning-post`: `POST /v1/instances` with a small JSON body, read
//!   by the layer.
//!
//! Every request carries a `ClientAddr`, looked up in a small IP table.
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
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use criterion::Criterion;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::{Layer, Service, ServiceBuilder};
use tower_export_control::{ClientAddr, ExportControlLayer, Gate, IpTable, Policy};

const CUSTOMER: &str = "acme-cn";

/// The default policy with the demo license issuer and a small IP table.
fn gate() -> Gate {
    let trust = demo_issuer::trust().unwrap();
    let mut table = IpTable::builder();
    table
        .add_reader(
            "bench",
            "127.0.0.0/8,US\n192.0.2.0/24,US\n10.1.0.0/16,CN\n".as_bytes(),
        )
        .unwrap();
    Gate::new(Policy::embedded_default())
        .with_license_trust(trust)
        .with_ip_table(table.build())
}

/// A demo-issuer license for `acme-cn` in CN, valid for a day.
fn token() -> String {
    demo_issuer::license("LIC-BENCH-0001", Some(64)).unwrap()
}

const PEER: &str = "192.0.2.7:50000";
const BODY: &str = r#"{"instance_type":"p5.48xlarge","count":1}"#;

/// The three request shapes.
#[derive(Clone, Copy)]
enum Case {
    HeadersNoToken,
    LicensedCacheHit,
    ProvisioningPost,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Self::HeadersNoToken => "headers-no-token",
            Self::LicensedCacheHit => "licensed-cache-hit",
            Self::ProvisioningPost => "provisioning-post",
        }
    }

    fn request(self, token: &str) -> Request<Full<Bytes>> {
        let b = Request::builder().uri("/v1/instances");
        let b = match self {
            Self::HeadersNoToken => b
                .header("x-customer-country", "US")
                .header("x-instance-type", "p5.48xlarge"),
            Self::LicensedCacheHit => b
                .header("x-customer-country", "CN")
                .header("x-customer-id", CUSTOMER)
                .header("x-instance-type", "p5.48xlarge")
                .header("x-export-license", token),
            Self::ProvisioningPost => b
                .method("POST")
                .header("content-type", "application/json")
                .header("content-length", BODY.len())
                .header("x-customer-country", "US"),
        };
        let body = match self {
            Self::ProvisioningPost => Full::new(Bytes::from_static(BODY.as_bytes())),
            _ => Full::new(Bytes::new()),
        };
        let mut req = b.body(body).unwrap();
        req.extensions_mut()
            .insert(ClientAddr(PEER.parse().unwrap()));
        req
    }

    /// The decision header the layer must add.
    fn expected(self) -> &'static str {
        match self {
            Self::LicensedCacheHit => "allow-licensed",
            _ => "allow",
        }
    }
}

/// The application: an empty 200, whatever the request.
fn echo<B>(req: Request<B>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    drop(black_box(req));
    std::future::ready(Ok(Response::new(Full::new(Bytes::new()))))
}

/// `poll_ready` + `call` + poll the future once: every case completes
/// without waiting (the bodies are in memory).
fn call_once<S, R>(svc: &mut S, req: R) -> S::Response
where
    S: Service<R>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
    let fut = pin!(svc.call(req));
    match fut.poll(&mut cx) {
        Poll::Ready(res) => res.unwrap(),
        Poll::Pending => panic!("the service did not complete at once"),
    }
}

fn micro(c: &mut Criterion) {
    let gate = gate();
    let token = token();
    let mut bare = tower::service_fn(echo::<Full<Bytes>>);
    let mut layered = ExportControlLayer::new(gate.clone()).layer(tower::service_fn(echo::<_>));

    let mut group = c.benchmark_group("layer");
    for case in [
        Case::HeadersNoToken,
        Case::LicensedCacheHit,
        Case::ProvisioningPost,
    ] {
        // Check the layered service allows it (and warm the token cache).
        let mut probe =
            ExportControlLayer::new(gate.clone()).layer(tower::service_fn(|req: Request<_>| {
                let mut res = Response::new(Full::new(Bytes::new()));
                if let Some(d) = req.headers().get("x-export-decision") {
                    res.headers_mut().insert("x-seen", d.clone());
                }
                std::future::ready(Ok::<_, Infallible>(res))
            }));
        let res = call_once(&mut probe, case.request(&token));
        assert_eq!(
            res.headers().get("x-seen").map(|v| v.to_str().unwrap()),
            Some(case.expected()),
            "{}",
            case.name()
        );

        group.bench_function(format!("bare/{}", case.name()), |b| {
            b.iter(|| call_once(&mut bare, case.request(&token)));
        });
        group.bench_function(format!("layered/{}", case.name()), |b| {
            b.iter(|| call_once(&mut layered, case.request(&token)));
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// End to end: a hyper HTTP/1.1 server on loopback
// ---------------------------------------------------------------------------

/// Serves on `127.0.0.1:0`, with or without the layer in front of the
/// same handler.
async fn serve(layer: Option<ExportControlLayer>) -> SocketAddr {
    async fn app<B>(_req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
        Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            let io = TokioIo::new(stream);
            let http = hyper::server::conn::http1::Builder::new();
            match &layer {
                None => {
                    let svc = TowerToHyperService::new(tower::service_fn(app::<Incoming>));
                    tokio::spawn(async move { http.serve_connection(io, svc).await });
                }
                Some(layer) => {
                    let svc = ServiceBuilder::new()
                        .map_request(move |mut req: Request<Incoming>| {
                            req.extensions_mut().insert(ClientAddr(peer));
                            req
                        })
                        .layer(layer.clone())
                        .service_fn(app);
                    let svc = TowerToHyperService::new(svc);
                    tokio::spawn(async move { http.serve_connection(io, svc).await });
                }
            }
        }
    });
    addr
}

/// Sends `total` requests over `connections` concurrent keep-alive
/// connections; returns requests per second.
async fn load(addr: SocketAddr, case: Case, token: &str, connections: usize, total: usize) -> f64 {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections)
        .build_http();
    let uri: http::Uri = format!("http://{addr}/v1/instances").parse().unwrap();
    let make = {
        let token = token.to_owned();
        move || {
            let mut req = case.request(&token);
            req.extensions_mut().clear();
            *req.uri_mut() = uri.clone();
            req
        }
    };
    // Open the connections before timing.
    let warm: Vec<_> = (0..connections)
        .map(|_| {
            let (client, req) = (client.clone(), make());
            tokio::spawn(async move {
                let res = client.request(req).await.unwrap();
                assert!(res.status().is_success(), "{}", res.status());
                res.into_body().collect().await.unwrap();
            })
        })
        .collect();
    for w in warm {
        w.await.unwrap();
    }
    let sent = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (client, sent, make) = (client.clone(), Arc::clone(&sent), make.clone());
            tokio::spawn(async move {
                while sent.fetch_add(1, Ordering::Relaxed) < total {
                    let res = client.request(make()).await.unwrap();
                    assert!(res.status().is_success());
                    res.into_body().collect().await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[allow(clippy::print_stdout)]
fn end_to_end(quick: bool) {
    let (connections, total, rounds) = if quick { (2, 50, 1) } else { (16, 20_000, 7) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let token = token();
    rt.block_on(async {
        let bare = serve(None).await;
        let layered = serve(Some(ExportControlLayer::new(gate()))).await;
        println!(
            "\nend to end: hyper HTTP/1.1 on loopback, {connections} connections, \
             {total} requests per round, {rounds} rounds alternating bare/layered"
        );
        for case in [Case::HeadersNoToken, Case::ProvisioningPost] {
            let (mut b, mut l) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                b.push(load(bare, case, &token, connections, total).await);
                l.push(load(layered, case, &token, connections, total).await);
            }
            let (mb, ml) = (median(b.clone()), median(l.clone()));
            println!(
                "end_to_end/{:<18} bare {:>8.0} req/s  layered {:>8.0} req/s  ratio {:.3}",
                case.name(),
                mb,
                ml,
                ml / mb
            );
            println!("  bare rounds:    {}", fmt_rounds(&b));
            println!("  layered rounds: {}", fmt_rounds(&l));
        }
    });
}

fn fmt_rounds(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.0}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs benchmarks once, in test mode.
    let quick = args.iter().any(|a| a == "--test");
    let mut c = Criterion::default().configure_from_args();
    micro(&mut c);
    c.final_summary();
    // A name filter that does not name the end-to-end run skips it.
    let filtered = args
        .iter()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"end_to_end".contains(a.as_str()));
    if !filtered {
        end_to_end(quick);
    }
}
