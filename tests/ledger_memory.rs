//! `MemoryLedger`: reservations within a license's limit, idempotent
//! operations, reconcile, and a property test that no interleaving of
//! reserve, confirm and release ever exceeds the limit or loses count.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use tower_export_control::ledger::{
    Ledger, MemoryLedger, ReservationId, ReservationRequest, ReservationState, Reserved,
};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn id(s: &str) -> ReservationId {
    ReservationId::new(s).unwrap()
}

fn request(rid: &str, n: u64) -> ReservationRequest {
    ReservationRequest::new(id(rid), "LIC-1", "acme", "p5.48xlarge", n, 64)
}

#[test]
fn reservations_ids_and_reconcile() {
    block_on(async {
        let ledger = MemoryLedger::new();
        let Reserved::Granted(first) = ledger.reserve(request("a", 40)).await.unwrap() else {
            panic!("not granted");
        };
        assert_eq!(first.state, ReservationState::Pending);
        // The same id again: the first reservation, counted once.
        let again = ledger.reserve(request("a", 40)).await.unwrap();
        assert_eq!(again, Reserved::Existing(first.clone()));
        // Pending counts against the limit.
        let over = ledger.reserve(request("b", 32)).await.unwrap();
        assert_eq!(
            over,
            Reserved::Exhausted {
                limit: 64,
                in_use: 40,
                requested: 32
            }
        );
        assert!(matches!(
            ledger.reserve(request("b", 24)).await.unwrap(),
            Reserved::Granted(_)
        ));
        assert!(ledger.confirm("LIC-1", &id("a")).await.unwrap());
        assert!(
            ledger.confirm("LIC-1", &id("a")).await.unwrap(),
            "twice is fine"
        );
        assert!(!ledger.confirm("LIC-1", &id("zz")).await.unwrap());
        let usage = ledger.usage("LIC-1").await.unwrap();
        assert_eq!((usage.active, usage.pending), (40, 24));
        let listed = ledger.reservations("LIC-1").await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].id, id("a"));
        assert_eq!(listed[0].state, ReservationState::Active);
        // Other licenses are apart.
        assert_eq!(ledger.usage("LIC-2").await.unwrap().in_use(), 0);
        // The inventory runs only `b`: `a` goes.
        let left = ledger.reconcile("LIC-1", &[id("b")]).await.unwrap();
        assert_eq!((left.active, left.pending), (0, 24));
        assert!(!ledger.release("LIC-1", &id("a")).await.unwrap());
        assert!(ledger.release("LIC-1", &id("b")).await.unwrap());
        assert_eq!(ledger.usage("LIC-1").await.unwrap().in_use(), 0);
    });
}

#[test]
fn reservation_ids_are_checked() {
    assert!(ReservationId::new("").is_err());
    assert!(ReservationId::new("a b").is_err());
    assert!(ReservationId::new("line\nbreak").is_err());
    assert!(ReservationId::new(&"x".repeat(257)).is_err());
    assert!(ReservationId::new(&"x".repeat(256)).is_ok());
}

#[test]
fn threads_racing_for_the_last_units_never_over_grant() {
    let ledger = Arc::new(MemoryLedger::new());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let ledger = Arc::clone(&ledger);
            std::thread::spawn(move || {
                block_on(async {
                    let mut granted = 0;
                    for i in 0..50 {
                        let r = ledger
                            .reserve(request(&format!("t{t}-{i}"), 8))
                            .await
                            .unwrap();
                        if matches!(r, Reserved::Granted(_)) {
                            granted += 1;
                        }
                    }
                    granted
                })
            })
        })
        .collect();
    let granted: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(granted, 8);
    assert_eq!(block_on(ledger.usage("LIC-1")).unwrap().in_use(), 64);
}

#[derive(Clone, Debug)]
enum Op {
    Reserve(u8, u64),
    Confirm(u8),
    Release(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..12, 1u64..40).prop_map(|(i, n)| Op::Reserve(i, n)),
        (0u8..12).prop_map(Op::Confirm),
        (0u8..12).prop_map(Op::Release),
    ]
}

proptest! {
    /// Against a model: whatever the order, what is held never exceeds the
    /// limit and the ledger's usage is the sum of what it holds.
    #[test]
    fn no_interleaving_exceeds_the_quota(ops in proptest::collection::vec(op(), 1..80)) {
        block_on(async {
            let ledger = MemoryLedger::new();
            // id -> (accelerators, active)
            let mut model: BTreeMap<u8, (u64, bool)> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Reserve(i, n) => {
                        let held: u64 = model.values().map(|(n, _)| n).sum();
                        let r = ledger.reserve(request(&format!("r{i}"), n)).await.unwrap();
                        match (model.get(&i), r) {
                            (Some(_), Reserved::Existing(_)) => {}
                            (None, Reserved::Granted(_)) => {
                                assert!(held + n <= 64);
                                model.insert(i, (n, false));
                            }
                            (None, Reserved::Exhausted { in_use, .. }) => {
                                assert!(held + n > 64);
                                assert_eq!(in_use, held);
                            }
                            (m, r) => panic!("model {m:?}, ledger {r:?}"),
                        }
                    }
                    Op::Confirm(i) => {
                        let done = ledger.confirm("LIC-1", &id(&format!("r{i}"))).await.unwrap();
                        assert_eq!(done, model.contains_key(&i));
                        if let Some(entry) = model.get_mut(&i) {
                            entry.1 = true;
                        }
                    }
                    Op::Release(i) => {
                        let done = ledger.release("LIC-1", &id(&format!("r{i}"))).await.unwrap();
                        assert_eq!(done, model.remove(&i).is_some());
                    }
                }
                let usage = ledger.usage("LIC-1").await.unwrap();
                let active: u64 = model.values().filter(|(_, a)| *a).map(|(n, _)| n).sum();
                let pending: u64 = model.values().filter(|(_, a)| !*a).map(|(n, _)| n).sum();
                assert_eq!((usage.active, usage.pending), (active, pending));
                assert!(usage.in_use() <= 64);
            }
        });
    }
}
