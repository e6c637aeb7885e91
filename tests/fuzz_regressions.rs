//! Inputs found by the fuzz targets (`fuzz/`), minimised and replayed
//! through the same public API with the same invariant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_export_control::layer::RequestBody;
use tower_export_control::{ExportControlLayer, Policy};

/// What became of a provisioning request (`POST /v1/instances`, declared
/// country US, `x-instance-type` if given) with `body` under the embedded
/// default policy: `Ok` with the body bytes the inner service got, or `Err`
/// with the layer's status.
fn provision(instance_type: Option<&str>, body: &[u8]) -> Result<Bytes, StatusCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let svc = ServiceBuilder::new()
            .layer(ExportControlLayer::new(Policy::embedded_default()))
            .service_fn(|req: Request<RequestBody<Full<Bytes>>>| async move {
                let bytes = req.into_body().collect().await.unwrap().to_bytes();
                Ok::<_, Infallible>(Response::new(Full::new(bytes)))
            });
        let mut req = Request::post("/v1/instances")
            .header("content-type", "application/json")
            .header("x-customer-id", "acme")
            .header("x-customer-country", "US");
        if let Some(t) = instance_type {
            req = req.header("x-instance-type", t);
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
        let res = svc.oneshot(req).await.unwrap();
        if res.status() != StatusCode::OK {
            return Err(res.status());
        }
        Ok(res.into_body().collect().await.unwrap().to_bytes())
    })
}

/// fuzz target `json_body`: a body that is not JSON is never passed on.
/// The layer skips the members it does not read without checking that
/// their strings are UTF-8 (RFC 8259 §8.1), so it passes a body that
/// `serde_json::from_slice::<Value>` and other strict parsers refuse.
#[test]
fn json_body_invalid_utf8_in_a_skipped_string_is_rejected() {
    // Minimised by `cargo fuzz tmin` (profile byte 0x01: declared US).
    let body = b"{\"instance_type\":\"e\",\"\":\"\xff\"}";
    assert!(serde_json::from_slice::<serde_json::Value>(body).is_err());
    assert_eq!(provision(None, body), Err(StatusCode::BAD_REQUEST));
}

/// fuzz target `json_body` (found writing its check): a body of ASCII
/// whitespace that JSON does not count as whitespace (form feed, U+000C) is
/// taken for an empty body and passed on, although it is not JSON.
#[test]
fn json_body_form_feed_only_is_not_an_empty_body() {
    let body = b"\x0c";
    assert!(serde_json::from_slice::<serde_json::Value>(body).is_err());
    assert_eq!(
        provision(Some("m7i.large"), body),
        Err(StatusCode::BAD_REQUEST)
    );
}

/// The control for the cases above: valid bodies pass byte for byte.
#[test]
fn json_body_valid_bodies_pass_unchanged() {
    let body = "{\"instance_type\":\"m7i.large\",\"x\":\"é\"}".as_bytes();
    assert_eq!(provision(None, body).as_deref(), Ok(body));
    // An empty body (JSON whitespace only) names nothing: the header does.
    assert_eq!(
        provision(Some("m7i.large"), b" \t\r\n").as_deref(),
        Ok(&b" \t\r\n"[..])
    );
}
