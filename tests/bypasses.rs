//! Ways around the gate, each closed: tags forged with `_` in the header
//! name or dropped through `Connection`, content types that only look like
//! gRPC, input that reaches logs, and licenses for a customer whose
//! location is unknown.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod layer_support;

use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use layer_support::{LICENSED_CUSTOMER, gate, license_with};
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};
use tower_export_control::layer::RequestBody;
use tower_export_control::policy::{DEFAULT_POLICY_TOML, Mode};
use tower_export_control::{
    CountryCode, ExportControlLayer, ExportTags, Facts, Outcome, Policy, ReasonCode,
};

/// What the inner service saw, or the layer's answer.
#[derive(Debug)]
struct Seen {
    status: StatusCode,
    headers: HeaderMap,
    /// The request headers the inner service received (as JSON), if called.
    inner: Option<serde_json::Value>,
}

async fn send(layer: ExportControlLayer, req: Request<Full<Bytes>>) -> Seen {
    let svc = ServiceBuilder::new().layer(layer).service_fn(
        |req: Request<RequestBody<Full<Bytes>>>| async move {
            let headers: serde_json::Map<_, _> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("<bytes>"))))
                .collect();
            let tagged = req.extensions().get::<ExportTags>().is_some();
            let body = json!({"headers": headers, "tagged": tagged});
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body.to_string()))))
        },
    );
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let called = res
        .extensions()
        .get::<tower_export_control::Denial>()
        .is_none();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let inner = called.then(|| serde_json::from_slice(&bytes).unwrap());
    Seen {
        status,
        headers,
        inner,
    }
}

fn get(headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut req = Request::get("/v1/instances");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test]
async fn underscore_lookalikes_of_tags_and_inputs_are_removed() {
    let seen = send(
        ExportControlLayer::new(Policy::embedded_default()),
        get(&[
            ("x-customer-country", "US"),
            ("x_export_license_id", "LIC-FORGED"),
            ("x_export_decision", "allow"),
            ("X_Export_Country", "US"),
            ("x_customer_country", "CN"),
            ("x-export_accelerator-class", "none"),
        ]),
    )
    .await;
    let inner = seen.inner.expect("passed on");
    let headers = inner["headers"].as_object().unwrap();
    for name in headers.keys() {
        let folded = name.replace('_', "-");
        assert!(
            !name.contains('_')
                || !(folded.starts_with("x-export-") || folded.starts_with("x-customer-")),
            "{name} reached the handler: {headers:?}"
        );
    }
    assert_eq!(headers["x-export-decision"], "allow");
    assert_eq!(headers["x-customer-country"], "US");
}

#[tokio::test]
async fn connection_tokens_cannot_drop_tags_or_identity_headers() {
    let seen = send(
        ExportControlLayer::new(Policy::embedded_default()),
        get(&[
            ("x-customer-country", "US"),
            ("x-customer-id", "acme-us"),
            (
                "connection",
                "keep-alive, X-Export-Decision, x-export-country-groups, x-customer-country, x-customer-id, upgrade",
            ),
        ]),
    )
    .await;
    let inner = seen.inner.expect("passed on");
    let connection = inner["headers"]["connection"].as_str().unwrap_or("");
    let tokens: Vec<String> = connection
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    for ours in [
        "x-export-decision",
        "x-export-country-groups",
        "x-customer-country",
        "x-customer-id",
    ] {
        assert!(!tokens.iter().any(|t| t == ours), "{connection}");
    }
    assert!(tokens.iter().any(|t| t == "keep-alive"), "{connection}");
    assert!(tokens.iter().any(|t| t == "upgrade"), "{connection}");

    // A Connection header naming only our headers goes away entirely.
    let seen = send(
        ExportControlLayer::new(Policy::embedded_default()),
        get(&[
            ("x-customer-country", "US"),
            ("connection", "x-export-decision"),
        ]),
    )
    .await;
    assert!(seen.inner.unwrap()["headers"].get("connection").is_none());
}

fn cn_p5_with(content_type: &str) -> Request<Full<Bytes>> {
    get(&[
        ("x-customer-country", "CN"),
        ("x-instance-type", "p5.48xlarge"),
        ("content-type", content_type),
    ])
}

#[tokio::test]
async fn only_grpc_content_types_get_grpc_answers() {
    let layer = || ExportControlLayer::new(Policy::embedded_default());
    for grpc in [
        "application/grpc",
        "application/grpc+proto",
        "application/grpc;charset=utf-8",
    ] {
        let seen = send(layer(), cn_p5_with(grpc)).await;
        assert_eq!(seen.status, StatusCode::OK, "{grpc}");
        assert_eq!(seen.headers["grpc-status"], "7", "{grpc}");
        assert_eq!(seen.headers["content-type"], "application/grpc", "{grpc}");
    }
    for not_grpc in ["application/grpcfoo", "application/grpc_x", "text/plain"] {
        let seen = send(layer(), cn_p5_with(not_grpc)).await;
        assert_eq!(
            seen.status,
            StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
            "{not_grpc}"
        );
        assert!(seen.headers.get("grpc-status").is_none(), "{not_grpc}");
    }
    // gRPC-web gets a trailers-only answer in its own content type.
    for web in [
        "application/grpc-web",
        "application/grpc-web+proto",
        "application/grpc-web-text",
    ] {
        let seen = send(layer(), cn_p5_with(web)).await;
        assert_eq!(seen.status, StatusCode::OK, "{web}");
        assert_eq!(seen.headers["grpc-status"], "7", "{web}");
        assert_eq!(seen.headers["content-type"], web, "{web}");
    }
}

/// Captures what the layer logs.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn nothing_a_client_sends_puts_a_line_into_the_log() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let policy = Arc::new(Policy::embedded_default().with_mode(Mode::ReportOnly));
    let injected = "p5.48xlarge\nINFO export decision outcome=\"allow\" forged";
    for body in [
        json!({"instance_type": injected}),
        json!({"instance_type": "p5.48xlarge\u{7f}"}),
        json!({"instance_type": "p5.48xlarge\u{2028}x"}),
    ] {
        let req = Request::post("/v1/instances")
            .header("x-customer-country", "CN")
            .header("x-customer-id", "acme-cn")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let seen = send(ExportControlLayer::new(Arc::clone(&policy)), req).await;
        assert_eq!(seen.status, StatusCode::BAD_REQUEST, "{body}");
    }
    // The same instance type without the control character: would deny.
    let req = Request::post("/v1/instances")
        .header("x-customer-country", "CN")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(r#"{"instance_type":"p5.48xlarge"}"#)))
        .unwrap();
    let seen = send(ExportControlLayer::new(policy), req).await;
    assert_eq!(seen.status, StatusCode::OK);
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("would deny"), "{text}");
    for line in text.lines() {
        assert!(
            !line.starts_with("INFO export decision"),
            "forged line: {line}"
        );
        assert!(!line.contains("forged"), "{line}");
    }
}

fn cc(code: &str) -> CountryCode {
    CountryCode::parse(code).unwrap()
}

/// A gate trusting the demo issuer, whose policy requires a license for
/// controlled classes when no country is known (the default).
fn unknown_location(hq: Option<&str>) -> Facts<'static> {
    let mut facts = Facts::new()
        .with_instance_type("p5.48xlarge")
        .with_customer_id(LICENSED_CUSTOMER);
    facts.headquarters = hq.map(cc);
    facts
}

#[test]
fn with_no_known_location_a_license_must_name_the_headquarters() {
    let gate = gate();
    let now = SystemTime::now();
    let evaluate = |facts: &Facts<'_>, countries: serde_json::Value| {
        let token = license_with(json!({"jti": "LIC-UNKNOWN-LOC", "countries": countries}));
        gate.evaluate(facts, Some(&token), now)
    };
    // No location, no headquarters: no license can be matched to the customer.
    for countries in [json!([]), json!(["AE"]), json!(["CN"])] {
        let v = evaluate(&unknown_location(None), countries.clone());
        assert_eq!(v.outcome(), Outcome::Deny, "{countries}");
        assert_eq!(
            v.reason(),
            Some(ReasonCode::JurisdictionUnknown),
            "{countries}"
        );
    }
    // Headquartered in CN, location unknown: only a license naming CN.
    for countries in [json!([]), json!(["AE"]), json!(["US"])] {
        let v = evaluate(&unknown_location(Some("CN")), countries.clone());
        assert_eq!(v.outcome(), Outcome::Deny, "{countries}");
        assert_eq!(
            v.reason(),
            Some(ReasonCode::LicenseCountryNotCovered),
            "{countries}"
        );
    }
    let v = evaluate(&unknown_location(Some("CN")), json!(["CN"]));
    assert_eq!(v.outcome(), Outcome::AllowLicensed, "{v:?}");
    // Headquartered in the US, location unknown: the license names the US.
    let v = evaluate(&unknown_location(Some("US")), json!(["CN"]));
    assert_eq!(v.reason(), Some(ReasonCode::LicenseCountryNotCovered));
    let v = evaluate(&unknown_location(Some("US")), json!(["US"]));
    assert_eq!(v.outcome(), Outcome::AllowLicensed, "{v:?}");
}

/// A rule on the class alone requires a license naming every known country.
#[test]
fn a_class_only_rule_requires_a_license_for_the_known_countries() {
    let rule = "[[rules]]\nid = \"all-3a090a\"\naccelerator_classes = [\"3A090.a\"]\naction = \"require-license\"\n";
    let text = DEFAULT_POLICY_TOML.replacen("[[chips]]", &format!("{rule}\n[[chips]]"), 1);
    let policy = Policy::from_toml(&text, "class-only.toml", None).unwrap();
    let gate = layer_support::gate_with(policy);
    let facts = Facts::new()
        .with_declared_country(cc("DE"))
        .with_instance_type("p5.48xlarge")
        .with_customer_id(LICENSED_CUSTOMER);
    let now = SystemTime::now();
    let token = license_with(json!({"jti": "LIC-CLASS-ONLY", "countries": ["AE"]}));
    let v = gate.evaluate(&facts, Some(&token), now);
    assert_eq!(
        v.reason(),
        Some(ReasonCode::LicenseCountryNotCovered),
        "{v:?}"
    );
    let token = license_with(json!({"jti": "LIC-CLASS-ONLY", "countries": ["DE"]}));
    let v = gate.evaluate(&facts, Some(&token), now);
    assert_eq!(v.outcome(), Outcome::AllowLicensed, "{v:?}");
}
