//! Ledger operations with same-run baselines.
//!
//! - `MemoryLedger`: reserve + confirm + release, uncontended and with two
//!   threads on one license, next to a `Mutex<HashMap>` insert + remove
//!   (the least a locked map of reservations does).
//! - `RedisLedger` (with `--features redis`): reserve, confirm and
//!   reserve + confirm against a local `redis-server` the bench starts,
//!   next to a raw `EVALSHA` round trip of `return 1` over the same kind
//!   of connection.
//!
//! - End to end (after criterion, skipped by a name filter that does not
//!   name `end_to_end`): licensed provisioning requests per second through
//!   the layer on a hyper HTTP/1.1 server on loopback, with no ledger (the
//!   per-request check), with a `MemoryLedger` and, with `--features
//!   redis`, a `RedisLedger`; rounds alternate between the servers.
//!
//! `cargo bench --bench ledger --features redis`; figures are recorded in
//! BENCHMARKS.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[cfg(feature = "redis")]
#[path = "../tests/redis_support/mod.rs"]
mod redis_support;

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use criterion::Criterion;
use tower_export_control::ledger::{
    Ledger, LedgerFuture, MemoryLedger, ReservationId, ReservationRequest, Reserved,
};

const LICENSE: &str = "LIC-2026-0042";

/// The request's strings, made once: the layer shares them the same way
/// (a license's number, a customer, an instance type), so building a
/// request costs reference counts, not copies.
struct Strings {
    license: Arc<str>,
    customer: Arc<str>,
    instance_type: Arc<str>,
}

static STRINGS: std::sync::LazyLock<Strings> = std::sync::LazyLock::new(|| Strings {
    license: LICENSE.into(),
    customer: "acme-cn".into(),
    instance_type: "p5.48xlarge".into(),
});

fn request(id: &ReservationId) -> ReservationRequest {
    let s = &*STRINGS;
    ReservationRequest::new(
        id.clone(),
        Arc::clone(&s.license),
        Arc::clone(&s.customer),
        Arc::clone(&s.instance_type),
        8,
        u64::MAX,
    )
}

/// A `MemoryLedger` future is ready on its first poll.
fn ready<T>(mut f: LedgerFuture<'_, T>) -> T {
    match Pin::new(&mut f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(v)) => v,
        _ => panic!("a MemoryLedger call did not complete at once"),
    }
}

fn cycle(ledger: &MemoryLedger, id: &ReservationId) {
    let reserved = ready(ledger.reserve(request(id)));
    assert!(matches!(reserved, Reserved::Granted(_)));
    assert!(ready(ledger.confirm(LICENSE, id)));
    assert!(ready(ledger.release(LICENSE, id)));
}

fn memory(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger/memory");
    let id = ReservationId::new("acme-cn/order-1").unwrap();

    let map: Mutex<HashMap<ReservationId, u64>> = Mutex::new(HashMap::new());
    group.bench_function("baseline: Mutex<HashMap> insert+remove", |b| {
        b.iter(|| {
            let mut m = map.lock().unwrap();
            m.insert(black_box(&id).clone(), 8);
            black_box(m.remove(&id));
        });
    });

    let ledger = MemoryLedger::new();
    group.bench_function("reserve+confirm+release", |b| {
        b.iter(|| cycle(&ledger, black_box(&id)));
    });

    // The target's figure: reserve and confirm timed, release not. The
    // clock read costs a few ns, measured next to it.
    group.bench_function("reserve+confirm (timed in the loop)", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let reserved = ready(ledger.reserve(request(black_box(&id))));
                let confirmed = ready(ledger.confirm(LICENSE, &id));
                total += start.elapsed();
                assert!(matches!(reserved, Reserved::Granted(_)) && confirmed);
                assert!(ready(ledger.release(LICENSE, &id)));
            }
            total
        });
    });
    group.bench_function("baseline: clock read alone (timed in the loop)", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                black_box(&id);
                total += start.elapsed();
            }
            total
        });
    });

    // The same license also holding 16 active reservations.
    let busy = MemoryLedger::new();
    for i in 0..16 {
        let held = ReservationId::new(&format!("held-{i}")).unwrap();
        ready(busy.reserve(request(&held)));
        assert!(ready(busy.confirm(LICENSE, &held)));
    }
    group.bench_function("reserve+confirm+release, 16 active held", |b| {
        b.iter(|| cycle(&busy, black_box(&id)));
    });

    // Two threads cycling on the same license: wall time per iteration,
    // in which each thread completes one cycle.
    let shared = Arc::new(MemoryLedger::new());
    group.bench_function("reserve+confirm+release, 2 threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(Barrier::new(3));
            let threads: Vec<_> = (0..2)
                .map(|t| {
                    let ledger = Arc::clone(&shared);
                    let barrier = Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        let id = ReservationId::new(&format!("thread-{t}")).unwrap();
                        barrier.wait();
                        for _ in 0..iters {
                            cycle(&ledger, black_box(&id));
                        }
                    })
                })
                .collect();
            barrier.wait();
            let start = Instant::now();
            for thread in threads {
                thread.join().unwrap();
            }
            start.elapsed()
        });
    });
    group.finish();
}

#[cfg(feature = "redis")]
fn redis(c: &mut Criterion) {
    use std::time::Duration;
    use tower_export_control::ledger::{LedgerConfig, RedisLedger};

    let server = redis_support::RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut config = LedgerConfig::redis(server.url());
    config.timeout_ms = 1_000;
    let ledger = RedisLedger::new(&config).unwrap();
    let raw = rt.block_on(async {
        let client = redis::Client::open(server.url()).unwrap();
        redis::aio::ConnectionManager::new(client).await.unwrap()
    });
    let trivial = redis::Script::new("return 1");
    let id = ReservationId::new("acme-cn/order-1").unwrap();
    // Warm: connections made, scripts loaded.
    rt.block_on(async {
        ledger.usage(LICENSE).await.unwrap();
        trivial
            .invoke_async::<_, i64>(&mut raw.clone())
            .await
            .unwrap();
    });

    let mut group = c.benchmark_group("ledger/redis");
    group.bench_function("baseline: raw EVALSHA round trip", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut conn = raw.clone();
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(trivial.invoke_async::<_, i64>(&mut conn).await.unwrap());
                }
                start.elapsed()
            })
        });
    });

    // Each iteration reserves, confirms and releases; only the named
    // calls are timed, so the license stays at one reservation.
    let (rt, ledger, id) = (&rt, &ledger, &id);
    let timed = |reserve: bool, confirm: bool| {
        move |iters: u64| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let r = ledger.reserve(request(id)).await.unwrap();
                    if reserve {
                        total += start.elapsed();
                    }
                    assert!(matches!(r, Reserved::Granted(_)));
                    let start = Instant::now();
                    let confirmed = ledger.confirm(LICENSE, id).await.unwrap();
                    if confirm {
                        total += start.elapsed();
                    }
                    assert!(confirmed);
                    assert!(ledger.release(LICENSE, id).await.unwrap());
                }
                total
            })
        }
    };
    group.bench_function("reserve", |b| b.iter_custom(timed(true, false)));
    group.bench_function("confirm", |b| b.iter_custom(timed(false, true)));
    group.bench_function("reserve+confirm", |b| b.iter_custom(timed(true, true)));
    group.finish();

    rt.block_on(server_side(&server, ledger, &raw, &trivial, id));
}

/// Where a round trip's time goes: the server's own time for each script
/// call (`INFO commandstats`, reset before each call), over 300 cycles of
/// the timed loop above (raw, reserve, confirm, release of one id).
#[cfg(feature = "redis")]
async fn server_side(
    server: &redis_support::RedisServer,
    ledger: &tower_export_control::ledger::RedisLedger,
    raw: &redis::aio::ConnectionManager,
    trivial: &redis::Script,
    id: &ReservationId,
) {
    const CYCLES: u32 = 300;
    let usec = || {
        let info = server.command(&["INFO", "commandstats"]);
        let line = info
            .lines()
            .find(|l| l.starts_with("cmdstat_evalsha:"))
            .unwrap_or_else(|| panic!("no evalsha in {info}"));
        let field = line
            .split(',')
            .find_map(|f| f.strip_prefix("usec="))
            .unwrap();
        let us: u32 = field.parse().unwrap();
        server.command(&["CONFIG", "RESETSTAT"]);
        us
    };
    let mut conn = raw.clone();
    let mut totals = [0u32; 4];
    server.command(&["CONFIG", "RESETSTAT"]);
    for _ in 0..CYCLES {
        trivial.invoke_async::<_, i64>(&mut conn).await.unwrap();
        totals[0] += usec();
        ledger.reserve(request(id)).await.unwrap();
        totals[1] += usec();
        assert!(ledger.confirm(LICENSE, id).await.unwrap());
        totals[2] += usec();
        assert!(ledger.release(LICENSE, id).await.unwrap());
        totals[3] += usec();
    }
    for (name, total) in ["raw EVALSHA", "reserve", "confirm", "release"]
        .iter()
        .zip(totals)
    {
        println!(
            "ledger/redis/server-side {name}: {:.2} µs per call (mean of {CYCLES})",
            f64::from(total) / f64::from(CYCLES)
        );
    }
}

// ---------------------------------------------------------------------------
// End to end: licensed provisioning through the layer on hyper
// ---------------------------------------------------------------------------

mod end_to_end {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    use serde_json::json;
    use tower::ServiceBuilder;
    use tower_export_control::license::LicenseTrust;
    use tower_export_control::{ClientAddr, ExportControlLayer, Gate, Policy};

    const BODY: &str = r#"{"instance_type":"p5.48xlarge","count":1}"#;

    fn demo_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-issuer")
    }

    pub(super) fn gate() -> Gate {
        let trust = LicenseTrust::from_toml_path(demo_dir().join("license.toml")).unwrap();
        Gate::new(Policy::embedded_default()).with_license_trust(trust)
    }

    /// A demo-issuer license for `acme-cn` in CN whose quantity no run
    /// uses up: every request is counted and granted.
    pub(super) fn token() -> String {
        let pem = std::fs::read(demo_dir().join("demo-issuer.key.pem")).unwrap();
        let key = jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({
            "iss": "https://demo-licensing.invalid",
            "sub": "acme-cn",
            "jti": "LIC-BENCH-E2E",
            "iat": now,
            "exp": now + 86_400,
            "countries": ["CN"],
            "accelerator_classes": ["3A090.a"],
            "max_accelerators": 1_000_000_000_000u64,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("demo-2026".to_owned());
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    /// Serves the layer over `gate` in front of a handler answering 200
    /// with the decision the layer tagged the request with.
    pub(super) async fn serve(gate: Gate) -> SocketAddr {
        async fn app<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
            let decision = req
                .headers()
                .get("x-export-decision")
                .map(|v| Bytes::copy_from_slice(v.as_bytes()))
                .unwrap_or_default();
            Ok(Response::new(Full::new(decision)))
        }
        let layer = ExportControlLayer::new(gate);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, peer) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                let svc = ServiceBuilder::new()
                    .map_request(move |mut req: Request<_>| {
                        req.extensions_mut().insert(ClientAddr(peer));
                        req
                    })
                    .layer(layer.clone())
                    .service_fn(app);
                let http = hyper::server::conn::http1::Builder::new();
                let io = TokioIo::new(stream);
                tokio::spawn(async move {
                    http.serve_connection(io, TowerToHyperService::new(svc))
                        .await
                });
            }
        });
        addr
    }

    /// Sends `total` licensed provisioning POSTs over `connections`
    /// keep-alive connections; returns requests per second. Every answer
    /// must be a 200 `allow-licensed`.
    pub(super) async fn load(
        addr: SocketAddr,
        token: &str,
        connections: usize,
        total: usize,
    ) -> f64 {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .build_http();
        let uri: http::Uri = format!("http://{addr}/v1/instances").parse().unwrap();
        let token = token.to_owned();
        let make = move || {
            Request::post(uri.clone())
                .header("content-type", "application/json")
                .header("x-customer-country", "CN")
                .header("x-customer-id", "acme-cn")
                .header("x-export-license", token.as_str())
                .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                .unwrap()
        };
        let send = |client: Client<_, Full<Bytes>>, req| async move {
            let res = client.request(req).await.unwrap();
            assert_eq!(res.status(), 200);
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, "allow-licensed");
        };
        // Open the connections (and verify the token) before timing.
        let warm: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(send(client.clone(), make())))
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
                        send(client.clone(), make()).await;
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        total as f64 / start.elapsed().as_secs_f64()
    }

    pub(super) fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
}

#[allow(clippy::print_stdout)]
fn end_to_end(quick: bool) {
    let (connections, total, rounds) = if quick { (2, 50, 1) } else { (16, 10_000, 5) };
    #[cfg(feature = "redis")]
    let server = redis_support::RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let token = end_to_end::token();
    rt.block_on(async {
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut servers: Vec<(&str, std::net::SocketAddr)> = vec![
            ("no ledger", end_to_end::serve(end_to_end::gate()).await),
            (
                "memory ledger",
                end_to_end::serve(end_to_end::gate().with_ledger(MemoryLedger::new())).await,
            ),
        ];
        #[cfg(feature = "redis")]
        {
            use tower_export_control::ledger::{LedgerConfig, RedisLedger};
            let ledger = RedisLedger::connect(&LedgerConfig::redis(server.url()))
                .await
                .unwrap();
            let gate = end_to_end::gate().with_ledger(ledger);
            servers.push(("redis ledger", end_to_end::serve(gate).await));
        }
        println!(
            "\nend to end: licensed provisioning POSTs (8 accelerators each), hyper \
             HTTP/1.1 on loopback, {connections} connections, {total} requests per \
             round, {rounds} rounds alternating between the servers"
        );
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        for _ in 0..rounds {
            for ((_, addr), rates) in servers.iter().zip(&mut rates) {
                rates.push(end_to_end::load(*addr, &token, connections, total).await);
            }
        }
        let base = end_to_end::median(rates[0].clone());
        for ((name, _), rates) in servers.iter().zip(&rates) {
            let m = end_to_end::median(rates.clone());
            let rounds: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "end_to_end/{name:<14} {m:>8.0} req/s  ratio to no ledger {:.3}  rounds: {}",
                m / base,
                rounds.join(" ")
            );
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs benchmarks once, in test mode.
    let quick = args.iter().any(|a| a == "--test");
    let mut c = Criterion::default().configure_from_args();
    memory(&mut c);
    #[cfg(feature = "redis")]
    redis(&mut c);
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
