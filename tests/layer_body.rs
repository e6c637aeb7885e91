//! Provisioning bodies through the layer: routes with `*` segments and
//! nested, deep and overlapping JSON pointers, duplicate members (of the
//! pointed-at values and of every object on the way to them), and what the
//! handler receives.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_export_control::layer::RequestBody;
use tower_export_control::policy::DEFAULT_POLICY_TOML;
use tower_export_control::{ExportControlLayer, ExportTags, Policy};

/// The default policy with its `[http]` section replaced.
fn policy() -> Policy {
    let rules = DEFAULT_POLICY_TOML.split("\n[http]").next().unwrap();
    let http = r#"
[http]
body_limit_bytes = 4096

[[http.provisioning_routes]]
method = "PUT"
path = "/v2/projects/*/clusters"
instance_type_pointer = "/spec/node~1type"
count_pointer = "/spec/pools/0/size"

[[http.provisioning_routes]]
method = "POST"
path = "/v1/instances"
instance_type_pointer = "/spec/instance_type"

[[http.provisioning_routes]]
method = "POST"
path = "/v1/deep"
instance_type_pointer = "/a/b/c/d/e/f/g/h/i/j/type"
count_pointer = "/a/b/c/d/e/f/g/h/i/j/n"

[[http.provisioning_routes]]
method = "POST"
path = "/v1/orders"
instance_type_pointer = "/order"
count_pointer = "/order/n"
"#;
    Policy::from_toml(&format!("{rules}{http}"), "body.toml", None).unwrap()
}

struct Outcome {
    status: StatusCode,
    body: serde_json::Value,
}

async fn put(path: &str, country: &str, body: &'static str) -> Outcome {
    send(http::Method::PUT, path, country, body).await
}

async fn send(method: http::Method, path: &str, country: &str, body: &'static str) -> Outcome {
    let svc = ServiceBuilder::new()
        .layer(ExportControlLayer::new(policy()))
        .service_fn(|req: Request<RequestBody<Full<Bytes>>>| async move {
            let tags = req.extensions().get::<ExportTags>().cloned().unwrap();
            let received = req.into_body().collect().await.unwrap().to_bytes();
            let echo = serde_json::json!({
                "class": tags.accelerator_class().as_str(),
                "instance_type": tags.instance_type(),
                "count": tags.instance_count(),
                "received": String::from_utf8(received.to_vec()).unwrap(),
            });
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(echo.to_string()))))
        });
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("x-customer-country", country)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Outcome {
        status,
        body: serde_json::from_slice(&bytes).unwrap(),
    }
}

const NESTED: &str =
    r#"{"name":"c1","spec":{"pools":[{"size":3},{"size":9}],"node/type":"p5.48xlarge"}}"#;

#[tokio::test]
async fn nested_pointers_on_a_wildcard_route() {
    let allowed = put("/v2/projects/acme/clusters", "US", NESTED).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    assert_eq!(allowed.body["instance_type"], "p5.48xlarge");
    assert_eq!(allowed.body["count"], 3);
    assert_eq!(allowed.body["class"], "3A090.a");
    assert_eq!(allowed.body["received"], NESTED);

    let denied = put("/v2/projects/acme/clusters", "CN", NESTED).await;
    assert_eq!(denied.status, StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    assert_eq!(denied.body["reason"], "license_required");
}

#[tokio::test]
async fn off_route_bodies_are_not_read() {
    // Another path depth: not a provisioning route, so no instance type is
    // required and the body is passed through unread.
    let res = put("/v2/projects/acme/clusters/extra", "CN", "not json").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["class"], "none");
    assert_eq!(res.body["received"], "not json");
}

#[tokio::test]
async fn body_errors_on_the_route() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"spec":{"node/type":"m7i.large","node/type":"p5.48xlarge"}}"#,
            "ambiguous_instance_type",
        ),
        (
            r#"{"spec":{"node/type":"p5.48xlarge","pools":[{"size":1,"size":1}]}}"#,
            "ambiguous_instance_type",
        ),
        (
            r#"{"spec":{"node/type":"p5.48xlarge","pools":[{"size":0}]}}"#,
            "invalid_count",
        ),
        (
            r#"{"spec":{"node/type":"p5.48xlarge","pools":[{"size":"2"}]}}"#,
            "invalid_count",
        ),
        (r#"{"spec":{"node/type":7}}"#, "invalid_body"),
        (r#"{"spec":{"pools":[]}}"#, "instance_type_missing"),
        (r#"{"spec":{"node/type":""}}"#, "instance_type_missing"),
        (r#"{"spec":"#, "invalid_body"),
    ];
    for (body, reason) in cases {
        let res = put("/v2/projects/p/clusters", "US", body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
        assert_eq!(res.body["reason"], *reason, "{body}");
    }
}

#[tokio::test]
async fn duplicate_objects_on_the_way_to_a_pointer_are_ambiguous() {
    // The layer would judge one copy while a handler whose parser keeps the
    // other provisions what it names, or nothing the layer saw.
    let cases: &[(&str, &str)] = &[
        (
            "/v2/projects/p/clusters",
            r#"{"spec":{"node/type":"m7i.large","pools":[{"size":1}]},"spec":{}}"#,
        ),
        (
            "/v2/projects/p/clusters",
            r#"{"spec":{},"spec":{"node/type":"p5.48xlarge","pools":[{"size":1}]}}"#,
        ),
        (
            "/v2/projects/p/clusters",
            r#"{"spec":{"node/type":"m7i.large","pools":[{"size":1}],"pools":[]}}"#,
        ),
        (
            "/v1/instances",
            r#"{"spec":{"instance_type":"m7i.large"},"spec":{"instance_type":"p5.48xlarge"}}"#,
        ),
        (
            "/v1/instances",
            r#"{"spec":{"instance_type":"m7i.large"},"spec":{"count":1}}"#,
        ),
        (
            "/v1/instances",
            r#"{"spec":{"instance_type":"m7i.large"},"count":1,"count":8}"#,
        ),
    ];
    for (path, body) in cases {
        let method = if path.starts_with("/v2") {
            "PUT"
        } else {
            "POST"
        };
        let res = send(method.parse().unwrap(), path, "US", body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
        assert_eq!(res.body["reason"], "ambiguous_instance_type", "{body}");
    }
    // Duplicates off the way stay the handler's business.
    let body = r#"{"spec":{"instance_type":"m7i.large","x":1,"x":2},"y":1,"y":2}"#;
    let res = send(http::Method::POST, "/v1/instances", "US", body).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["instance_type"], "m7i.large");
}

const DEEP: &str =
    r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"type":"p5.48xlarge","n":2}}}}}}}}}}}"#;

#[tokio::test]
async fn deep_pointers_find_duplicates_too() {
    let res = send(http::Method::POST, "/v1/deep", "US", DEEP).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["instance_type"], "p5.48xlarge");
    assert_eq!(res.body["count"], 2);

    let cases = [
        DEEP.replace(
            r#""type":"p5.48xlarge""#,
            r#""type":"m7i.large","type":"p5.48xlarge""#,
        ),
        DEEP.replace(r#""n":2"#, r#""n":2,"n":64"#),
        DEEP.replace(r#"{"j":"#, r#"{"j":{},"j":"#),
        DEEP.replace(r#"{"b":"#, r#"{"b":{"c":1},"b":"#),
    ];
    for body in cases {
        let body: &'static str = Box::leak(body.into_boxed_str());
        let res = send(http::Method::POST, "/v1/deep", "US", body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
        assert_eq!(res.body["reason"], "ambiguous_instance_type", "{body}");
    }
}

#[tokio::test]
async fn a_pointer_inside_the_other_finds_duplicates_inside_it() {
    let res = send(
        http::Method::POST,
        "/v1/orders",
        "US",
        r#"{"order":"p5.48xlarge"}"#,
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["instance_type"], "p5.48xlarge");
    assert_eq!(res.body["count"], 1);

    let cases = [
        r#"{"order":{"n":1,"n":2}}"#,
        r#"{"order":{"x":{"y":1,"y":2},"n":1}}"#,
        r#"{"order":"p5.48xlarge","order":"m7i.large"}"#,
    ];
    for body in cases {
        let res = send(http::Method::POST, "/v1/orders", "US", body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
        assert_eq!(res.body["reason"], "ambiguous_instance_type", "{body}");
    }
}

/// A body that yields the given frames one by one.
struct Frames(std::collections::VecDeque<http_body::Frame<Bytes>>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.pop_front().map(Ok))
    }
}

async fn put_frames(
    chunks: &[&'static str],
    trailer: bool,
) -> (StatusCode, Bytes, Option<http::HeaderMap>) {
    let svc = ServiceBuilder::new()
        .layer(ExportControlLayer::new(policy()))
        .service_fn(|req: Request<RequestBody<Frames>>| async move {
            let collected = req.into_body().collect().await.unwrap();
            let trailers = collected.trailers().cloned();
            let mut res = Response::new(Full::new(collected.to_bytes()));
            if let Some(t) = trailers {
                res.headers_mut().extend(t);
            }
            Ok::<_, Infallible>(res)
        });
    let mut frames: std::collections::VecDeque<_> = chunks
        .iter()
        .map(|c| http_body::Frame::data(Bytes::from_static(c.as_bytes())))
        .collect();
    if trailer {
        let mut t = http::HeaderMap::new();
        t.insert("x-checksum", "abc".parse().unwrap());
        frames.push_back(http_body::Frame::trailers(t));
    }
    let req = Request::put("/v2/projects/p/clusters")
        .header("x-customer-country", "US")
        .body(Frames(frames))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, bytes, Some(headers))
}

#[tokio::test]
async fn a_body_in_many_frames_is_joined_and_passed_on_whole() {
    let parts = [
        r#"{"spec":{"node/t"#,
        r#"ype":"p5.48xlarge","#,
        r#""pools":[{"size":2}]}}"#,
    ];
    let (status, bytes, headers) = put_frames(&parts, true).await;
    assert_eq!(status, StatusCode::OK, "{bytes:?}");
    assert_eq!(bytes, parts.concat());
    assert_eq!(headers.unwrap()["x-checksum"], "abc");

    // Over the 4096-byte limit only once the third frame arrives.
    let big: &'static str = Box::leak("x".repeat(2000).into_boxed_str());
    let (status, bytes, _) = put_frames(&[big, big, big], false).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(problem["reason"], "body_too_large");
}
