//! Hostile input through the layer: whatever the headers and body, it
//! never panics, and a request that reaches the inner service is always
//! tagged, never carrying a client's `x-export-*` header.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use tower::{ServiceBuilder, ServiceExt};
use tower_export_control::layer::{ClientAddr, RequestBody};
use tower_export_control::policy::DEFAULT_POLICY_TOML;
use tower_export_control::{ExportControlLayer, ExportTags, Policy};

const NAMES: &[&str] = &[
    "x-customer-country",
    "x-customer-headquarters",
    "x-customer-id",
    "x-instance-type",
    "x-instance-count",
    "x-export-license",
    "x-export-decision",
    "x-export-country",
    "x-export-anything",
    "x-forwarded-for",
    "content-type",
    "content-length",
];

const VALUES: &[&str] = &[
    "CN",
    "cn",
    "US",
    "HK",
    "IR",
    "XX",
    "",
    " ",
    "p5.48xlarge",
    "m7i.large",
    "nope",
    "0",
    "1",
    "100001",
    "-3",
    "10.0.0.1",
    "1.2.3.4, 10.0.0.2",
    "::ffff:1.2.3.4",
    "garbage,",
    "application/json",
    "application/grpc",
    "999999999999",
    "a.b.c",
    "eyJhbGciOiJub25lIn0.e30.",
];

fn value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        proptest::sample::select(VALUES).prop_map(HeaderValue::from_static),
        proptest::collection::vec(any::<u8>(), 0..40)
            .prop_filter_map("header bytes", |b| HeaderValue::from_bytes(&b).ok()),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(br#"{"instance_type":"p5.48xlarge","count":2}"#.to_vec()),
        Just(br#"{"instance_type":5}"#.to_vec()),
        Just(br#"{"count":1e9}"#.to_vec()),
        Just(b"[]".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

fn policy() -> Arc<Policy> {
    let text = format!("{DEFAULT_POLICY_TOML}\n[network]\ntrusted_proxies = [\"10.0.0.0/8\"]\n");
    Arc::new(Policy::from_toml(&text, "hostile.toml", None).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn never_panics_never_forwards_untagged_or_forged(
        post in any::<bool>(),
        headers in proptest::collection::vec((proptest::sample::select(NAMES), value()), 0..8),
        body in body(),
        peer in proptest::sample::select(&["10.0.0.9:1", "203.0.113.5:2", "[::1]:3"][..]),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let policy = policy();
        rt.block_on(async move {
            let svc = ServiceBuilder::new()
                .layer(ExportControlLayer::new(policy))
                .service_fn(|req: Request<RequestBody<Full<Bytes>>>| async move {
                    let tags = req.extensions().get::<ExportTags>().cloned();
                    let forged = req
                        .headers()
                        .iter()
                        .filter(|(k, _)| k.as_str().starts_with("x-export-"))
                        .any(|(k, v)| match (k.as_str(), &tags) {
                            ("x-export-decision", Some(t)) => v != t.outcome().as_str(),
                            ("x-export-accelerator-class", Some(t)) => v != t.accelerator_class().as_str(),
                            ("x-export-policy", Some(t)) => v != t.verdict().policy().digest(),
                            ("x-export-country" | "x-export-country-groups"
                                | "x-export-license-id", Some(_)) => false,
                            _ => true,
                        });
                    let bytes = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                    let verdict = match (tags, forged) {
                        (None, _) => "untagged",
                        (Some(_), true) => "forged",
                        (Some(_), false) => "ok",
                    };
                    let mut res = Response::new(Full::new(bytes));
                    res.headers_mut().insert("verdict", HeaderValue::from_static(verdict));
                    Ok::<_, Infallible>(res)
                });
            let method = if post { Method::POST } else { Method::GET };
            let mut req = Request::builder().method(method).uri("/v1/instances");
            for (name, value) in &headers {
                req = req.header(HeaderName::from_static(name), value.clone());
            }
            let mut req = req.body(Full::new(Bytes::from(body.clone()))).unwrap();
            req.extensions_mut().insert(ClientAddr(peer.parse().unwrap()));
            let res = svc.oneshot(req).await.unwrap();
            let status = res.status();
            let verdict = res.headers().get("verdict").cloned();
            let echoed = res.into_body().collect().await.unwrap().to_bytes();
            match verdict {
                Some(v) => {
                    prop_assert_eq!(v, "ok");
                    prop_assert_eq!(status, StatusCode::OK);
                    // A body the layer read reaches the handler unchanged.
                    prop_assert_eq!(echoed.as_ref(), &body[..]);
                }
                None => prop_assert!(
                    [400, 413, 451].contains(&status.as_u16()) || status == StatusCode::OK,
                    "unexpected status {}", status
                ),
            }
            Ok(())
        })?;
    }
}
