//! The headquarters rule covers a customer whose ultimate parent is
//! headquartered in D:5 or Macau (`x-customer-parent-country`), when the
//! customer is located outside the United States; a license must name the
//! country that triggered it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod layer_support;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use layer_support::{DE_PEER, LICENSED_CUSTOMER, gate, license_with};
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt};
use tower_export_control::audit::AuditRecord;
use tower_export_control::layer::RequestBody;
use tower_export_control::verdict::CountrySource;
use tower_export_control::{ClientAddr, CountryCode, ExportControlLayer, ExportTags};

struct Answer {
    status: StatusCode,
    body: Value,
    record: AuditRecord,
}

async fn provision(headers: &[(&str, &str)]) -> Answer {
    provision_from(None, headers).await
}

async fn provision_from(peer: Option<IpAddr>, headers: &[(&str, &str)]) -> Answer {
    let records = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&records);
    let layer = ExportControlLayer::new(gate())
        .with_audit(move |r: AuditRecord| sink.lock().unwrap().push(r));
    let svc = ServiceBuilder::new().layer(layer).service_fn(
        |req: Request<RequestBody<Full<Bytes>>>| async move {
            let tags = req.extensions().get::<ExportTags>().unwrap();
            let countries: Vec<String> = tags
                .verdict()
                .countries()
                .map(|(c, s)| format!("{c}:{s:?}"))
                .collect();
            let body = json!({"decision": tags.outcome().as_str(), "countries": countries});
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body.to_string()))))
        },
    );
    let mut req = Request::post("/v1/instances")
        .header("content-type", "application/json")
        .header("x-customer-id", LICENSED_CUSTOMER);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req
        .body(Full::new(Bytes::from(r#"{"instance_type":"p5.48xlarge"}"#)))
        .unwrap();
    if let Some(ip) = peer {
        req.extensions_mut()
            .insert(ClientAddr(SocketAddr::new(ip, 40_000)));
    }
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    let body =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let record = records.lock().unwrap().pop().unwrap();
    Answer {
        status,
        body,
        record,
    }
}

fn token(countries: Value) -> String {
    license_with(json!({"jti": "LIC-PARENT-0001", "countries": countries}))
}

#[tokio::test]
async fn a_parent_in_china_requires_a_license_naming_china() {
    let located_in_de = [
        ("x-customer-country", "DE"),
        ("x-customer-headquarters", "GB"),
        ("x-customer-parent-country", "CN"),
    ];
    let denied = provision(&located_in_de).await;
    assert_eq!(denied.status, StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    assert_eq!(denied.body["reason"], "license_required");
    assert_eq!(denied.body["parent_country"], "CN");
    assert_eq!(denied.body["rules"], json!(["3a090-headquarters"]));
    let detail = denied.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("whose ultimate parent is headquartered in CN"),
        "{detail}"
    );
    assert_eq!(denied.record.parent_country, CountryCode::parse("CN").ok());

    // A license for where the customer is, or where it is headquartered, is
    // not one for the country that triggered the requirement.
    let de_gb = token(json!(["DE", "GB"]));
    let mut headers = located_in_de.to_vec();
    headers.push(("x-export-license", &de_gb));
    let refused = provision(&headers).await;
    assert_eq!(refused.body["reason"], "license_country_not_covered");

    let cn = token(json!(["CN"]));
    let mut headers = located_in_de.to_vec();
    headers.push(("x-export-license", &cn));
    let licensed = provision(&headers).await;
    assert_eq!(licensed.status, StatusCode::OK, "{}", licensed.body);
    assert_eq!(licensed.body["decision"], "allow-licensed");
    let countries = licensed.body["countries"].as_array().unwrap();
    assert!(countries.contains(&json!("CN:Parent")), "{countries:?}");
    assert!(
        countries.contains(&json!("GB:Headquarters")),
        "{countries:?}"
    );
    assert_eq!(
        format!("{:?}", CountrySource::Parent),
        "Parent",
        "the source is named in tags"
    );
}

#[tokio::test]
async fn the_rule_applies_only_outside_the_united_states() {
    let in_us = provision(&[
        ("x-customer-country", "US"),
        ("x-customer-parent-country", "CN"),
    ])
    .await;
    assert_eq!(in_us.status, StatusCode::OK, "{}", in_us.body);
    assert_eq!(in_us.body["decision"], "allow");

    // Declared in the US, connecting from Germany: located outside.
    let abroad = provision_from(
        Some(DE_PEER),
        &[
            ("x-customer-country", "US"),
            ("x-customer-headquarters", "MO"),
        ],
    )
    .await;
    assert_eq!(abroad.status, StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    assert_eq!(abroad.body["network_country"], "DE");
    assert_eq!(abroad.body["rules"], json!(["3a090-headquarters"]));
}

#[tokio::test]
async fn a_malformed_parent_country_is_bad_input() {
    let answer = provision(&[
        ("x-customer-country", "DE"),
        ("x-customer-parent-country", "ZZ"),
    ])
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["reason"], "invalid_country");
}
