//! `decide` on typical requests against the embedded default policy, with
//! a same-run baseline: one `HashMap<String, _>` lookup of the instance type
//! string, the least any catalog-backed decision has to do.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use tower_export_control::policy::Action;
use tower_export_control::{CountryCode, Facts, Policy, decide};

fn bench_decide(c: &mut Criterion) {
    let policy = Policy::embedded_default();
    // 2026-07-08 00:00:00 UTC.
    let now = UNIX_EPOCH + Duration::from_secs(1_783_468_800);
    let cn = CountryCode::parse("CN").unwrap();
    let us = CountryCode::parse("US").unwrap();

    let cases: [(&str, Facts<'static>, Action); 4] = [
        (
            "decide/CN p5.48xlarge",
            {
                let mut f = Facts::new();
                f.declared_country = Some(cn);
                f.network_country = Some(cn);
                f.instance_type = Some("p5.48xlarge");
                f
            },
            Action::RequireLicense,
        ),
        (
            "decide/US m7i.large (pattern)",
            {
                let mut f = Facts::new();
                f.declared_country = Some(us);
                f.network_country = Some(us);
                f.instance_type = Some("m7i.large");
                f
            },
            Action::Allow,
        ),
        (
            "decide/unknown country p5.48xlarge",
            {
                let mut f = Facts::new();
                f.instance_type = Some("p5.48xlarge");
                f
            },
            Action::RequireLicense,
        ),
        (
            "decide/US unknown instance type",
            {
                let mut f = Facts::new();
                f.declared_country = Some(us);
                f.instance_type = Some("x9.superchip");
                f
            },
            Action::Allow,
        ),
    ];
    for (name, facts, want) in &cases {
        assert_eq!(decide(&policy, facts, now).action(), *want, "{name}");
        c.bench_function(name, |b| {
            b.iter(|| decide(black_box(&policy), black_box(facts), black_box(now)).action());
        });
    }

    // Baseline: one hash-map lookup of the instance type string, keyed like
    // a catalog of the default policy's size.
    let map: HashMap<String, u32> = policy
        .catalog()
        .instance_types()
        .iter()
        .enumerate()
        .map(|(i, info)| (info.entry.to_owned(), u32::try_from(i).unwrap()))
        .collect();
    assert!(map.contains_key("p5.48xlarge"));
    c.bench_function("baseline/HashMap<String, _> get p5.48xlarge", |b| {
        b.iter(|| map.get(black_box("p5.48xlarge")).copied());
    });
}

criterion_group!(benches, bench_decide);
criterion_main!(benches);
