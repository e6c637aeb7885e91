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
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use criterion::Criterion;
use tower_export_control::ledger::{
    Ledger, LedgerFuture, MemoryLedger, ReservationId, ReservationRequest, Reserved,
};

const LICENSE: &str = "LIC-2026-0042";

fn request(id: &ReservationId) -> ReservationRequest {
    ReservationRequest::new(id.clone(), LICENSE, "acme-cn", "p5.48xlarge", 8, u64::MAX)
}

/// A `MemoryLedger` future is ready on its first poll.
fn ready<T>(mut f: LedgerFuture<'_, T>) -> T {
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
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

fn main() {
    let mut c = Criterion::default().configure_from_args();
    memory(&mut c);
    #[cfg(feature = "redis")]
    redis(&mut c);
    c.final_summary();
}
