//! The default policy's decision in three engines, in one run: `decide`,
//! Cedar (`Authorizer::is_authorized`) and Rego (regorus), on the four
//! requests of `benches/decide.rs`. Each engine's policy and entities or
//! data are prepared once; `tests/engine_equivalence.rs` checks that the
//! three decide alike.
//!
//! Per request, each engine is measured twice where it matters: on a
//! request or input built beforehand (evaluation alone, the cheapest call
//! there is), and building it from the request's `Facts` as a deployment
//! must.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/engines_support/mod.rs"]
mod engines_support;

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use engines_support::{Cedar, Rego, RegoVm, instance_type_names, rego_input};
use tower_export_control::policy::Action;
use tower_export_control::{CountryCode, Facts, Policy, decide};

fn bench_engines(c: &mut Criterion) {
    let policy = Policy::embedded_default();
    // 2026-07-08 00:00:00 UTC.
    let now = UNIX_EPOCH + Duration::from_secs(1_783_468_800);
    let cn = CountryCode::parse("CN").unwrap();
    let us = CountryCode::parse("US").unwrap();

    // Prepared once: the policy set and entities, the Rego module and data
    // (and, for the VM, the compiled program).
    let names = instance_type_names(&policy);
    let cedar = Cedar::new(&policy, &names);
    let mut rego = Rego::new(&policy, &names);
    let mut vm = RegoVm::new(&policy, &names);

    // The cases of benches/decide.rs, named the same.
    let cases: [(&str, Facts<'static>, Action); 4] = [
        (
            "CN p5.48xlarge",
            Facts::new()
                .with_declared_country(cn)
                .with_network_country(cn)
                .with_instance_type("p5.48xlarge"),
            Action::RequireLicense,
        ),
        (
            "US m7i.large (pattern)",
            Facts::new()
                .with_declared_country(us)
                .with_network_country(us)
                .with_instance_type("m7i.large"),
            Action::Allow,
        ),
        (
            "unknown country p5.48xlarge",
            Facts::new().with_instance_type("p5.48xlarge"),
            Action::RequireLicense,
        ),
        (
            "US unknown instance type",
            Facts::new()
                .with_declared_country(us)
                .with_instance_type("x9.superchip"),
            Action::Allow,
        ),
    ];

    for (name, facts, want) in &cases {
        let request = cedar.request(facts);
        let input = rego_input(facts);
        assert_eq!(decide(&policy, facts, now).action(), *want, "ours {name}");
        assert_eq!(cedar.decide(&request), *want, "cedar {name}");
        assert_eq!(rego.decide(input.clone()), *want, "rego {name}");
        assert_eq!(vm.decide(input.clone()), *want, "rego vm {name}");

        let mut g = c.benchmark_group(format!("engines/{name}"));
        g.bench_function("ours decide", |b| {
            b.iter(|| decide(black_box(&policy), black_box(facts), black_box(now)).action());
        });
        g.bench_function("cedar is_authorized", |b| {
            b.iter(|| cedar.decide(black_box(&request)));
        });
        g.bench_function("cedar request+is_authorized", |b| {
            b.iter(|| cedar.decide(&cedar.request(black_box(facts))));
        });
        // Value is reference-counted: the clone is a count increment.
        g.bench_function("rego eval_rule", |b| {
            b.iter(|| rego.decide(black_box(input.clone())));
        });
        g.bench_function("rego input+eval_rule", |b| {
            b.iter(|| rego.decide(rego_input(black_box(facts))));
        });
        g.bench_function("rego vm execute", |b| {
            b.iter(|| vm.decide(black_box(input.clone())));
        });
        g.finish();
    }
}

criterion_group!(benches, bench_engines);
criterion_main!(benches);
