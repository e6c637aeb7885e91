//! `RedisLedger` against a real `redis-server` (started by each test on a
//! free loopback port): the ledger semantics of `MemoryLedger`, atomicity
//! across two replicas, server-side expiry, failure and recovery, and key
//! layout. Run with `cargo test --features redis`; without the
//! `redis-server` binary these tests fail.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::panic)]

mod redis_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis_support::RedisServer;
use tower_export_control::ledger::{
    Ledger, LedgerConfig, LedgerError, RedisLedger, ReservationId, ReservationRequest,
    ReservationState, Reserved, Usage,
};

const LICENSE: &str = "LIC-2026-0042";

fn config(server: &RedisServer) -> LedgerConfig {
    let mut config = LedgerConfig::redis(server.url());
    // Generous: the correctness tests share two cores with the build.
    config.timeout_ms = 5_000;
    config
}

fn ledger(server: &RedisServer) -> RedisLedger {
    RedisLedger::new(&config(server)).unwrap()
}

fn id(s: &str) -> ReservationId {
    ReservationId::new(s).unwrap()
}

fn request(license: &str, rid: &str, accelerators: u64, limit: u64) -> ReservationRequest {
    ReservationRequest::new(
        id(rid),
        license,
        "acme-cn",
        "p5.48xlarge",
        accelerators,
        limit,
    )
}

fn usage(active: u64, pending: u64) -> Usage {
    let mut usage = Usage::default();
    usage.active = active;
    usage.pending = pending;
    usage
}

fn granted(reserved: Reserved) -> tower_export_control::ledger::Reservation {
    match reserved {
        Reserved::Granted(r) => r,
        other => panic!("expected a grant, got {other:?}"),
    }
}

/// The answer to reserving an id reserved before.
fn existing(reserved: Reserved) -> tower_export_control::ledger::Reservation {
    match reserved {
        Reserved::Existing(r) => r,
        other => panic!("expected the existing reservation, got {other:?}"),
    }
}

fn unix_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Every key of the server, sorted.
async fn keys(server: &RedisServer) -> Vec<String> {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn reserves_within_the_limit_and_refuses_beyond_it() {
    let server = RedisServer::start();
    let ledger = ledger(&server);
    let before = unix_ms();
    for i in 0..8 {
        let r = granted(
            ledger
                .reserve(request(LICENSE, &format!("r-{i}"), 8, 64))
                .await
                .unwrap(),
        );
        assert_eq!(r.id, id(&format!("r-{i}")));
        assert_eq!(&*r.license, LICENSE);
        assert_eq!(&*r.customer, "acme-cn");
        assert_eq!(&*r.instance_type, "p5.48xlarge");
        assert_eq!(r.accelerators, 8);
        assert_eq!(r.state, ReservationState::Pending);
        // The server's clock, which is this machine's.
        assert!((before - 1_000..=unix_ms() + 1_000).contains(&r.created_unix_ms));
    }
    assert_eq!(
        ledger
            .reserve(request(LICENSE, "r-8", 8, 64))
            .await
            .unwrap(),
        Reserved::Exhausted {
            limit: 64,
            in_use: 64,
            requested: 8
        }
    );
    assert_eq!(
        ledger
            .reserve(request("LIC-OTHER", "big", 65, 64))
            .await
            .unwrap(),
        Reserved::Exhausted {
            limit: 64,
            in_use: 0,
            requested: 65
        }
    );
    // Nothing was reserved by the refusals.
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(0, 64));
    assert_eq!(ledger.usage("LIC-OTHER").await.unwrap(), usage(0, 0));
}

#[tokio::test]
async fn limits_beyond_a_lua_number_neither_panic_nor_overflow() {
    let server = RedisServer::start();
    let ledger = ledger(&server);
    granted(
        ledger
            .reserve(request(LICENSE, "a", 8, u64::MAX))
            .await
            .unwrap(),
    );
    assert_eq!(
        ledger
            .reserve(request(LICENSE, "b", u64::MAX, u64::MAX))
            .await
            .unwrap(),
        Reserved::Exhausted {
            limit: u64::MAX,
            in_use: 8,
            requested: u64::MAX
        }
    );
    let zero = granted(ledger.reserve(request(LICENSE, "z", 0, 8)).await.unwrap());
    assert_eq!(zero.accelerators, 0);
    assert!(ledger.release(LICENSE, &id("z")).await.unwrap());
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(0, 8));
}

#[tokio::test]
async fn reserving_an_id_again_returns_the_first_reservation() {
    let server = RedisServer::start();
    let ledger = ledger(&server);
    let first = granted(
        ledger
            .reserve(request(LICENSE, "order-1", 8, 64))
            .await
            .unwrap(),
    );
    // A retry, even one asking for more, is the same reservation.
    let again = existing(
        ledger
            .reserve(request(LICENSE, "order-1", 16, 64))
            .await
            .unwrap(),
    );
    assert_eq!(again, first);
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(0, 8));

    assert!(ledger.confirm(LICENSE, &id("order-1")).await.unwrap());
    let active = existing(
        ledger
            .reserve(request(LICENSE, "order-1", 8, 64))
            .await
            .unwrap(),
    );
    assert_eq!(active.state, ReservationState::Active);
    assert_eq!(active.created_unix_ms, first.created_unix_ms);
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(8, 0));
    // Full license: a retry of an existing id is still answered.
    for i in 0..7 {
        granted(
            ledger
                .reserve(request(LICENSE, &format!("o-{i}"), 8, 64))
                .await
                .unwrap(),
        );
    }
    existing(
        ledger
            .reserve(request(LICENSE, "order-1", 8, 64))
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn confirm_and_release_are_idempotent() {
    let server = RedisServer::start();
    let ledger = ledger(&server);
    let rid = id("order-1");
    granted(
        ledger
            .reserve(request(LICENSE, "order-1", 8, 64))
            .await
            .unwrap(),
    );
    assert!(ledger.confirm(LICENSE, &rid).await.unwrap());
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(8, 0));
    assert!(ledger.confirm(LICENSE, &rid).await.unwrap());
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(8, 0));

    assert!(ledger.release(LICENSE, &rid).await.unwrap());
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(0, 0));
    assert!(!ledger.release(LICENSE, &rid).await.unwrap());
    assert!(!ledger.confirm(LICENSE, &rid).await.unwrap());
    assert!(!ledger.confirm("LIC-NONE", &rid).await.unwrap());
    assert!(!ledger.release("LIC-NONE", &rid).await.unwrap());

    // A pending reservation is released too.
    granted(
        ledger
            .reserve(request(LICENSE, "order-2", 8, 64))
            .await
            .unwrap(),
    );
    assert!(ledger.release(LICENSE, &id("order-2")).await.unwrap());
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(0, 0));
    // A license with nothing held leaves no keys behind.
    assert_eq!(keys(&server).await, Vec::<String>::new());
}

#[tokio::test]
async fn usage_and_reservations_list_both_states_sorted_by_id() {
    let server = RedisServer::start();
    let ledger = ledger(&server);
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(0, 0));
    assert!(ledger.reservations(LICENSE).await.unwrap().is_empty());

    for (rid, n) in [("c", 8), ("a", 16), ("b", 4)] {
        let mut req = request(LICENSE, rid, n, 64);
        req.customer = format!("cust|{rid}\"\n").into();
        granted(ledger.reserve(req).await.unwrap());
    }
    assert!(ledger.confirm(LICENSE, &id("a")).await.unwrap());
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(16, 12));
    assert_eq!(ledger.usage(LICENSE).await.unwrap().in_use(), 28);

    let list = ledger.reservations(LICENSE).await.unwrap();
    let summary: Vec<(&str, u64, ReservationState, &str)> = list
        .iter()
        .map(|r| (r.id.as_str(), r.accelerators, r.state, &*r.customer))
        .collect();
    assert_eq!(
        summary,
        [
            ("a", 16, ReservationState::Active, "cust|a\"\n"),
            ("b", 4, ReservationState::Pending, "cust|b\"\n"),
            ("c", 8, ReservationState::Pending, "cust|c\"\n"),
        ]
    );
    assert!(list.iter().all(|r| &*r.license == LICENSE));
}

#[tokio::test]
async fn reconcile_drops_what_is_not_running() {
    let server = RedisServer::start();
    let ledger = ledger(&server);
    for rid in ["a", "b", "c", "d"] {
        granted(ledger.reserve(request(LICENSE, rid, 8, 64)).await.unwrap());
    }
    assert!(ledger.confirm(LICENSE, &id("a")).await.unwrap());
    assert!(ledger.confirm(LICENSE, &id("b")).await.unwrap());

    // `b` (active) and `d` (pending) are gone from the inventory.
    let left = ledger
        .reconcile(LICENSE, &[id("a"), id("c"), id("not-held")])
        .await
        .unwrap();
    assert_eq!(left, usage(8, 8));
    let ids: Vec<String> = ledger
        .reservations(LICENSE)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, ["a", "c"]);

    // Reconcile counts again: counters damaged by hand are mended.
    let res_key = format!("export-ledger:{{{LICENSE}}}:res");
    assert_eq!(
        server.command(&["HSET", &res_key, " active", "999", " pending", "7"]),
        ":0\r\n"
    );
    assert_eq!(
        ledger
            .reconcile(LICENSE, &[id("a"), id("c")])
            .await
            .unwrap(),
        usage(8, 8)
    );
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(8, 8));

    assert_eq!(ledger.reconcile(LICENSE, &[]).await.unwrap(), usage(0, 0));
    assert_eq!(
        ledger.reconcile("LIC-NONE", &[id("a")]).await.unwrap(),
        usage(0, 0)
    );
    assert_eq!(keys(&server).await, Vec::<String>::new());
}

#[tokio::test]
async fn pending_reservations_expire_on_the_server() {
    let server = RedisServer::start();
    let mut config = config(&server);
    config.pending_ttl_seconds = 1;
    let ledger = RedisLedger::new(&config).unwrap();

    granted(
        ledger
            .reserve(request(LICENSE, "kept", 8, 64))
            .await
            .unwrap(),
    );
    assert!(ledger.confirm(LICENSE, &id("kept")).await.unwrap());
    granted(
        ledger
            .reserve(request(LICENSE, "lapses", 56, 64))
            .await
            .unwrap(),
    );
    assert!(matches!(
        ledger.reserve(request(LICENSE, "x", 8, 64)).await.unwrap(),
        Reserved::Exhausted { in_use: 64, .. }
    ));

    tokio::time::sleep(Duration::from_millis(1_300)).await;

    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(8, 0));
    assert!(!ledger.confirm(LICENSE, &id("lapses")).await.unwrap());
    let ids: Vec<String> = ledger
        .reservations(LICENSE)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, ["kept"]);
    granted(ledger.reserve(request(LICENSE, "x", 56, 64)).await.unwrap());

    // A license whose only reservation lapsed leaves no keys.
    granted(
        ledger
            .reserve(request("LIC-BRIEF", "y", 8, 64))
            .await
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(ledger.usage("LIC-BRIEF").await.unwrap(), usage(0, 0));
    assert!(
        !keys(&server).await.iter().any(|k| k.contains("LIC-BRIEF")),
        "{:?}",
        keys(&server).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_grant_more_than_the_limit() {
    let server = RedisServer::start();
    let replicas = [Arc::new(ledger(&server)), Arc::new(ledger(&server))];
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let ledger = Arc::clone(&replicas[i % 2]);
            tokio::spawn(async move {
                ledger
                    .reserve(request(LICENSE, &format!("req-{i}"), 8, 64))
                    .await
            })
        })
        .collect();
    let mut granted_ids = HashSet::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Reserved::Granted(r) => assert!(granted_ids.insert(r.id)),
            Reserved::Exhausted {
                limit: 64,
                in_use: 64,
                requested: 8,
            } => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(granted_ids.len(), 8);
    assert_eq!(refused, 192);
    for replica in &replicas {
        assert_eq!(replica.usage(LICENSE).await.unwrap(), usage(0, 64));
        assert_eq!(replica.reservations(LICENSE).await.unwrap().len(), 8);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_redis_fails_closed_and_a_restarted_one_is_used_again() {
    let mut server = RedisServer::start();
    let mut config = config(&server);
    config.timeout_ms = 200;
    let ledger = RedisLedger::new(&config).unwrap();
    granted(ledger.reserve(request(LICENSE, "a", 8, 64)).await.unwrap());

    server.stop();
    for i in 0..5 {
        let started = Instant::now();
        let answer = ledger
            .reserve(request(LICENSE, &format!("down-{i}"), 8, 64))
            .await;
        assert!(
            matches!(
                answer,
                Err(LedgerError::Timeout(_) | LedgerError::Unavailable(_))
            ),
            "{answer:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "{i}");
    }
    assert!(ledger.usage(LICENSE).await.is_err());
    assert!(ledger.confirm(LICENSE, &id("a")).await.is_err());

    server.restart();
    // The connection is made again in the background; it may take a few
    // attempts, each bounded by the timeout.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reserved = loop {
        match ledger.reserve(request(LICENSE, "b", 8, 64)).await {
            Ok(reserved) => break reserved,
            Err(e) => {
                assert!(Instant::now() < deadline, "still failing: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // The restarted server kept nothing (no persistence in the test).
    granted(reserved);
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(0, 8));
}

#[tokio::test]
async fn scripts_are_loaded_again_after_a_flush() {
    let server = RedisServer::start();
    let ledger = ledger(&server);
    granted(ledger.reserve(request(LICENSE, "a", 8, 64)).await.unwrap());
    assert_eq!(server.command(&["SCRIPT", "FLUSH"]), "+OK\r\n");
    granted(ledger.reserve(request(LICENSE, "b", 8, 64)).await.unwrap());
    assert!(ledger.confirm(LICENSE, &id("b")).await.unwrap());
    assert_eq!(ledger.usage(LICENSE).await.unwrap(), usage(8, 8));
}

#[tokio::test]
async fn a_jti_cannot_leave_its_hash_tag_or_reach_another_license() {
    let server = RedisServer::start();
    // A cluster node only to compute slots: CLUSTER KEYSLOT is Redis's
    // own hashing, tags included.
    let slots = RedisServer::start_with(&["--cluster-enabled", "yes"]);
    let ledger = ledger(&server);
    let licenses = [
        "a{b}:c",
        "a",
        "b",
        "a%7Bb%7D:c",
        "}{",
        "",
        "x}:res",
        "LIC:{1}",
    ];
    for (i, license) in licenses.iter().enumerate() {
        let n = u64::try_from(i + 1).unwrap();
        granted(ledger.reserve(request(license, "r", n, 64)).await.unwrap());
        assert!(ledger.confirm(license, &id("r")).await.unwrap());
        granted(ledger.reserve(request(license, "p", 1, 64)).await.unwrap());
    }
    for (i, license) in licenses.iter().enumerate() {
        let n = u64::try_from(i + 1).unwrap();
        assert_eq!(
            ledger.usage(license).await.unwrap(),
            usage(n, 1),
            "{license:?}"
        );
    }

    let keys = keys(&server).await;
    assert_eq!(keys.len(), licenses.len() * 2, "{keys:?}");
    let mut by_tag: std::collections::HashMap<String, (Vec<String>, HashSet<String>)> =
        std::collections::HashMap::new();
    for key in &keys {
        assert!(key.starts_with("export-ledger:{"), "{key}");
        let tag_end = key.find('}').unwrap();
        let (tag, rest) = key.split_at(tag_end + 1);
        assert!(matches!(rest, ":res" | ":pending"), "{key}");
        let slot = slots.command(&["CLUSTER", "KEYSLOT", key]);
        let entry = by_tag.entry(tag.to_owned()).or_default();
        entry.0.push(key.clone());
        entry.1.insert(slot);
    }
    assert_eq!(by_tag.len(), licenses.len());
    for (tag, (keys, slots)) in &by_tag {
        assert_eq!(keys.len(), 2, "{tag}");
        assert_eq!(slots.len(), 1, "{tag}: {keys:?} in slots {slots:?}");
    }

    for license in licenses {
        assert!(ledger.release(license, &id("r")).await.unwrap());
        assert!(ledger.release(license, &id("p")).await.unwrap());
    }
    assert_eq!(crate::keys(&server).await, Vec::<String>::new());
}

#[tokio::test]
async fn key_prefixes_separate_ledgers() {
    let server = RedisServer::start();
    let mut other = config(&server);
    other.key_prefix = "staging".to_owned();
    let staging = RedisLedger::new(&other).unwrap();
    let production = ledger(&server);
    granted(
        production
            .reserve(request(LICENSE, "r", 64, 64))
            .await
            .unwrap(),
    );
    granted(staging.reserve(request(LICENSE, "r", 8, 64)).await.unwrap());
    assert_eq!(staging.usage(LICENSE).await.unwrap(), usage(0, 8));
    assert!(
        keys(&server)
            .await
            .iter()
            .any(|k| k.starts_with("staging:{"))
    );
}

#[tokio::test]
async fn detached_release_runs_on_the_runtime() {
    let server = RedisServer::start();
    let ledger = ledger(&server);
    granted(ledger.reserve(request(LICENSE, "a", 8, 64)).await.unwrap());
    ledger.release_detached(LICENSE, &id("a"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while ledger.usage(LICENSE).await.unwrap() != usage(0, 0) {
        assert!(Instant::now() < deadline, "not released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn outside_a_runtime_calls_fail_and_detached_releases_do_nothing() {
    let server = RedisServer::start();
    let ledger = ledger(&server);
    // Left to the pending expiry; no panic.
    ledger.release_detached(LICENSE, &id("a"));
    let mut call = ledger.usage(LICENSE);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::future::Future::poll(std::pin::Pin::new(&mut call), &mut cx) {
        std::task::Poll::Ready(Err(LedgerError::Unavailable(e))) => {
            assert!(e.to_string().contains("Tokio runtime"), "{e}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_configurations_are_refused_and_connect_checks_the_server() {
    let mut no_url = LedgerConfig::redis("redis://127.0.0.1:1/0");
    no_url.url = None;
    assert!(matches!(
        RedisLedger::new(&no_url),
        Err(LedgerError::Unavailable(_))
    ));
    let mut braces = LedgerConfig::redis("redis://127.0.0.1:1/0");
    braces.key_prefix = "ledger{x}".to_owned();
    assert!(matches!(
        RedisLedger::new(&braces),
        Err(LedgerError::Unavailable(_))
    ));
    assert!(matches!(
        RedisLedger::new(&LedgerConfig::redis("http://127.0.0.1/")),
        Err(LedgerError::Unavailable(_))
    ));

    let server = RedisServer::start();
    RedisLedger::connect(&config(&server)).await.unwrap();
    let port = server.port();
    drop(server);
    let mut gone = LedgerConfig::redis(format!("redis://127.0.0.1:{port}/0"));
    gone.timeout_ms = 200;
    let started = Instant::now();
    assert!(RedisLedger::connect(&gone).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn debug_output_names_the_address_not_the_password() {
    let ledger =
        RedisLedger::new(&LedgerConfig::redis("redis://user:s3cret@127.0.0.1:6390/0")).unwrap();
    let shown = format!("{ledger:?}");
    assert!(shown.contains("127.0.0.1"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}
