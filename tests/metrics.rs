//! Metrics through the `metrics` facade, exported by
//! `metrics-exporter-prometheus` and scraped over real TCP after real
//! requests: decisions by outcome, reason, class and rule; license checks
//! and cache hits; reloads. Client-supplied strings never become labels.
//! One test in its own binary: the recorder is process-global.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod layer_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use layer_support::{LICENSED_CUSTOMER, build_policy, gate_with, license};
use metrics_exporter_prometheus::PrometheusBuilder;
use tower_export_control::ExportControlLayer;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

async fn get_from(
    client: &HttpClient,
    url: String,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut req = Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Sample lines of the exposition, `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The sum over the series of `name` whose labels include every `want`.
fn total(samples: &BTreeMap<String, f64>, name: &str, want: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            series.split('{').next() == Some(name) && want.iter().all(|w| series.contains(w))
        })
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_real_requests_counts_them() {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    let gate = gate_with(build_policy(None));
    let app = Router::new()
        .route("/v1/instances", get(|| async { "ok" }))
        .layer(ExportControlLayer::new(gate.clone()))
        .route("/metrics", get(move || std::future::ready(handle.render())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let url = format!("http://{addr}/v1/instances");

    let us = [
        ("x-customer-country", "US"),
        ("x-instance-type", "p5.48xlarge"),
    ];
    for _ in 0..3 {
        assert_eq!(get_from(&client, url.clone(), &us).await.0, StatusCode::OK);
    }
    let cn = [
        ("x-customer-country", "CN"),
        ("x-instance-type", "p5.48xlarge"),
    ];
    for _ in 0..2 {
        let (status, _) = get_from(&client, url.clone(), &cn).await;
        assert_eq!(status, StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    }
    let token = license("LIC-METRICS-1");
    let licensed = [
        ("x-customer-country", "CN"),
        ("x-customer-id", LICENSED_CUSTOMER),
        ("x-instance-type", "p5.48xlarge"),
        ("x-export-license", token.as_str()),
    ];
    for _ in 0..2 {
        assert_eq!(
            get_from(&client, url.clone(), &licensed).await.0,
            StatusCode::OK
        );
    }
    // Strings a client controls must not become labels.
    let hostile = [
        ("x-customer-country", "CN"),
        ("x-customer-id", "customer-label-probe"),
        ("x-instance-type", "zz-instance-label-probe.48xlarge"),
    ];
    let (status, _) = get_from(&client, url.clone(), &hostile).await;
    assert_eq!(status, StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    assert!(gate.reload_from_path("no-such-policy.toml").is_err());

    let (status, text) = get_from(&client, format!("http://{addr}/metrics"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let s = samples(&text);
    let decisions = "export_control_decisions_total";
    assert_eq!(total(&s, decisions, &[]), 8.0, "{text}");
    assert_eq!(
        total(
            &s,
            decisions,
            &[
                r#"outcome="allow""#,
                r#"class="3A090.a""#,
                r#"reason="none""#
            ]
        ),
        3.0,
        "{text}"
    );
    assert_eq!(
        total(
            &s,
            decisions,
            &[
                r#"outcome="deny""#,
                r#"reason="license_required""#,
                r#"rule="3a090-destination""#
            ]
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        total(&s, decisions, &[r#"outcome="allow-licensed""#]),
        2.0,
        "{text}"
    );
    assert_eq!(total(&s, decisions, &[r#"class="unknown""#]), 1.0, "{text}");
    assert_eq!(
        total(
            &s,
            "export_control_license_checks_total",
            &[r#"result="granted""#]
        ),
        2.0,
        "{text}"
    );
    // The second use of the same token is served from the cache.
    assert_eq!(
        total(&s, "export_control_license_cache_hits_total", &[]),
        1.0,
        "{text}"
    );
    assert_eq!(
        total(
            &s,
            "export_control_policy_reloads_total",
            &[r#"result="error""#]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        total(&s, "export_control_decision_duration_seconds_count", &[]),
        8.0,
        "{text}"
    );
    assert!(
        !text.contains("label-probe"),
        "a client string became a label:\n{text}"
    );
}
