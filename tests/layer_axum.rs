//! The layer in front of an axum 0.8 `Router`, over real TCP: a server on
//! `127.0.0.1:0` with `ConnectInfo<SocketAddr>`, driven by hyper-util's
//! client, or by raw bytes on a socket where a request must be malformed,
//! chunked or cut short. Clients connect from several loopback addresses,
//! which the test IP table places in different countries.

// Fixture helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod layer_support;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use layer_support::*;
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt};
use tower_export_control::layer::{ExportControl, RequestBody};
use tower_export_control::policy::Mode;
use tower_export_control::{Denial, ExportControlLayer, ExportTags, Policy, ReasonCode};

// ---------------------------------------------------------------------------
// Server and client
// ---------------------------------------------------------------------------

#[derive(Clone, Default)]
struct AppState {
    calls: Arc<AtomicUsize>,
}

/// Echoes what the handler received: the typed tags, every `x-export-*`
/// header (all values), whether a license header got through, and the
/// body's length and SHA-256.
async fn echo(
    State(state): State<AppState>,
    headers: HeaderMap,
    tags: Option<Extension<ExportTags>>,
    body: Bytes,
) -> Json<Value> {
    state.calls.fetch_add(1, Ordering::SeqCst);
    let mut export: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &headers {
        if k.as_str().starts_with("x-export-") {
            export
                .entry(k.to_string())
                .or_default()
                .push(v.to_str().unwrap().to_owned());
        }
    }
    let tags = tags.map(|Extension(t)| {
        json!({
            "countries": t.verdict().countries().map(|(c, s)| json!([c.as_str(), format!("{s:?}")])).collect::<Vec<_>>(),
            "country_groups": t.verdict().country_groups().collect::<Vec<_>>(),
            "accelerator_class": t.accelerator_class().as_str(),
            "instance_type": t.instance_type(),
            "instance_count": t.instance_count(),
            "accelerators": t.verdict().accelerators(),
            "decision": t.outcome().as_str(),
            "reason": t.verdict().reason().map(ReasonCode::as_str),
            "license_id": t.license_id(),
            "policy": t.verdict().policy().digest(),
            "decision_id": t.decision_id().to_string(),
        })
    });
    Json(json!({
        "tags": tags,
        "export_headers": export,
        "header_names": headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        "customer_country": headers.get("x-customer-country").map(|v| v.to_str().unwrap()),
        "body_len": body.len(),
        "body_sha256": sha256_hex(&body),
    }))
}

struct Server {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
}

impl Server {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn serve(layer: ExportControlLayer) -> Server {
    let state = AppState::default();
    let calls = Arc::clone(&state.calls);
    let app = Router::new()
        .route("/v1/instances", get(echo).post(echo))
        .route("/healthz", get(echo))
        .route("/upload", post(echo))
        .with_state(state)
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    Server { addr, calls }
}

/// A server enforcing the shared test policy.
async fn serve_default() -> Server {
    serve(ExportControlLayer::new(gate())).await
}

fn client_from(local: IpAddr) -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_local_address(Some(local));
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Sends `req` from `local` and reads the whole response.
async fn send_from(local: IpAddr, req: Request<Full<Bytes>>) -> RawResponse {
    let res = client_from(local).request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    RawResponse {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

async fn send(req: Request<Full<Bytes>>) -> RawResponse {
    send_from(US_PEER, req).await
}

/// `POST /v1/instances` with a JSON body and the given headers.
fn provision(server: &Server, headers: &[(&str, &str)], body: Value) -> Request<Full<Bytes>> {
    let mut b =
        Request::post(server.url("/v1/instances")).header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

fn get_req(server: &Server, path: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::get(server.url(path));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

fn p5(count: u32) -> Value {
    json!({ "instance_type": "p5.48xlarge", "count": count })
}

/// Checks a problem document and returns it.
fn assert_problem(res: &RawResponse, status: u16, reason: &str) -> Value {
    assert_eq!(res.status.as_u16(), status, "body: {:?}", res.body);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    let v = res.json();
    assert_eq!(
        v["type"],
        format!("urn:tower-export-control:reason:{reason}")
    );
    assert_eq!(v["status"], status);
    assert_eq!(v["reason"], reason);
    assert!(v["title"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
    assert!(v["detail"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
    assert_eq!(v["policy"], policy().digest());
    assert!(v["policy"].as_str().unwrap().starts_with("sha256:"));
    assert!(is_decision_id(v["decision_id"].as_str().unwrap()), "{v}");
    v
}

/// The `x-export-*` headers the handler saw; the typed tags carry a
/// decision id (32 hex digits), which has no header.
fn export_headers(body: &Value) -> BTreeMap<String, Vec<String>> {
    let id = body["tags"]["decision_id"].as_str().unwrap();
    assert!(is_decision_id(id), "{id:?}");
    serde_json::from_value(body["export_headers"].clone()).unwrap()
}

fn is_decision_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn headers_map(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()]))
        .collect()
}

// ---------------------------------------------------------------------------
// Allowed, denied, licensed, report-only
// ---------------------------------------------------------------------------

#[tokio::test]
async fn allowed_request_reaches_the_handler_tagged() {
    let server = serve_default().await;
    let res = send(provision(
        &server,
        &[("x-customer-country", "US"), ("x-customer-id", "acme-us")],
        p5(2),
    ))
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let v = res.json();
    let tags = &v["tags"];
    assert_eq!(tags["decision"], "allow");
    assert_eq!(tags["reason"], Value::Null);
    assert_eq!(tags["accelerator_class"], "3A090.a");
    assert_eq!(tags["instance_type"], "p5.48xlarge");
    assert_eq!(tags["instance_count"], 2);
    assert_eq!(tags["accelerators"], 16);
    assert_eq!(
        tags["countries"],
        json!([["US", "Declared"], ["US", "Network"]])
    );
    assert_eq!(tags["license_id"], Value::Null);
    assert_eq!(tags["policy"], policy().digest());
    assert_eq!(
        export_headers(&v),
        headers_map(&[
            ("x-export-accelerator-class", "3A090.a"),
            ("x-export-country", "US"),
            ("x-export-country-groups", ""),
            ("x-export-decision", "allow"),
            ("x-export-policy", policy().digest()),
        ])
    );
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn denied_request_gets_451_problem_and_handler_is_not_called() {
    let server = serve_default().await;
    let res = send(provision(
        &server,
        &[("x-customer-country", "CN"), ("x-customer-id", "acme-cn")],
        p5(1),
    ))
    .await;
    let v = assert_problem(&res, 451, "license_required");
    assert_eq!(v["title"], ReasonCode::LicenseRequired.title());
    assert_eq!(v["country"], "CN");
    assert_eq!(v["headquarters"], Value::Null);
    assert_eq!(v["network_country"], "US");
    assert_eq!(v["accelerator_class"], "3A090.a");
    assert_eq!(v["instance_type"], "p5.48xlarge");
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains("p5.48xlarge"), "{detail}");
    assert!(detail.contains("requires an export license"), "{detail}");
    assert!(detail.contains("in CN"), "{detail}");
    // No `blocked_by` in this policy.
    assert_eq!(res.header("link"), None);
    assert_eq!(server.calls(), 0);
}

#[tokio::test]
async fn license_covering_the_request_allows_it() {
    let server = serve_default().await;
    let token = license("LIC-AXUM-0001");
    let res = send(provision(
        &server,
        &[
            ("x-customer-country", "CN"),
            ("x-customer-id", LICENSED_CUSTOMER),
            ("x-export-license", &token),
        ],
        p5(1),
    ))
    .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    let v = res.json();
    assert_eq!(v["tags"]["decision"], "allow-licensed");
    assert_eq!(v["tags"]["license_id"], "LIC-AXUM-0001");
    let export = export_headers(&v);
    assert_eq!(export["x-export-decision"], ["allow-licensed"]);
    assert_eq!(export["x-export-license-id"], ["LIC-AXUM-0001"]);
    // The token itself never reaches the handler.
    assert!(!export.contains_key("x-export-license"), "{export:?}");
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn license_that_does_not_cover_the_request_is_denied_with_its_reason() {
    let server = serve_default().await;
    let cases: &[(&str, String, Value, &str)] = &[
        // Issued to another customer.
        (
            "someone-else",
            license("LIC-AXUM-0002"),
            p5(1),
            "license_wrong_customer",
        ),
        // 9 x 8 accelerators > the license's 64.
        (
            LICENSED_CUSTOMER,
            license("LIC-AXUM-0003"),
            p5(9),
            "license_quantity_exceeded",
        ),
        // Not a JWT.
        (
            LICENSED_CUSTOMER,
            "not.a.token".to_owned(),
            p5(1),
            "license_invalid",
        ),
    ];
    for (customer, token, body, reason) in cases {
        let res = send(provision(
            &server,
            &[
                ("x-customer-country", "CN"),
                ("x-customer-id", customer),
                ("x-export-license", token),
            ],
            body.clone(),
        ))
        .await;
        assert_problem(&res, 451, reason);
    }
    assert_eq!(server.calls(), 0);
}

#[tokio::test]
async fn embargoed_country_is_denied_even_on_get() {
    let server = serve_default().await;
    // Declared.
    let res = send(get_req(
        &server,
        "/healthz",
        &[("x-customer-country", "IR")],
    ))
    .await;
    let v = assert_problem(&res, 451, "embargoed");
    assert_eq!(v["country"], "IR");
    assert_eq!(v["accelerator_class"], Value::Null);
    // From an Iranian address, nothing declared.
    let res = send_from(IR_PEER, get_req(&server, "/healthz", &[])).await;
    let v = assert_problem(&res, 451, "embargoed");
    assert_eq!(v["country"], Value::Null);
    assert_eq!(v["network_country"], "IR");
    assert_eq!(server.calls(), 0);
}

#[tokio::test]
async fn report_only_passes_would_be_denials_on_tagged() {
    let report_only = build_policy(None).with_mode(Mode::ReportOnly);
    let server = serve(ExportControlLayer::new(report_only)).await;
    let res = send(provision(&server, &[("x-customer-country", "CN")], p5(1))).await;
    assert_eq!(res.status, StatusCode::OK);
    let v = res.json();
    assert_eq!(v["tags"]["decision"], "report-only-deny");
    assert_eq!(v["tags"]["reason"], "license_required");
    assert_eq!(
        export_headers(&v)["x-export-decision"],
        ["report-only-deny"]
    );
    // An allowed request is still plain `allow`.
    let res = send(provision(&server, &[("x-customer-country", "US")], p5(1))).await;
    assert_eq!(res.json()["tags"]["decision"], "allow");
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn non_provisioning_requests_are_tagged_and_passed_on() {
    let server = serve_default().await;
    // A declared CN customer listing instances: no accelerator, allowed.
    let res = send(get_req(
        &server,
        "/v1/instances",
        &[("x-customer-country", "CN")],
    ))
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let v = res.json();
    assert_eq!(v["tags"]["decision"], "allow");
    assert_eq!(v["tags"]["accelerator_class"], "none");
    assert_eq!(v["tags"]["instance_type"], Value::Null);
    let export = export_headers(&v);
    assert_eq!(export["x-export-country"], ["CN"]);
    assert_eq!(export["x-export-accelerator-class"], ["none"]);
    let groups = &export["x-export-country-groups"][0];
    for g in ["D:1", "D:4", "D:5"] {
        assert!(groups.split(',').any(|x| x == g), "{groups}");
    }
    let mut sorted: Vec<&str> = groups.split(',').collect();
    sorted.sort_unstable();
    assert_eq!(groups, &sorted.join(","), "groups are sorted");
    // Identity headers themselves pass through untouched.
    assert_eq!(v["customer_country"], "CN");

    // Nothing declared: the network country tags it.
    let res = send(get_req(&server, "/healthz", &[])).await;
    let v = res.json();
    assert_eq!(v["tags"]["countries"], json!([["US", "Network"]]));
    assert_eq!(export_headers(&v)["x-export-country"], ["US"]);

    // Off the provisioning routes an instance type header is still decided.
    let res = send(get_req(
        &server,
        "/v1/instances",
        &[
            ("x-customer-country", "CN"),
            ("x-instance-type", "p5.48xlarge"),
        ],
    ))
    .await;
    assert_problem(&res, 451, "license_required");
    assert_eq!(server.calls(), 2);
}

// ---------------------------------------------------------------------------
// Forged tags
// ---------------------------------------------------------------------------

#[tokio::test]
async fn forged_export_headers_never_reach_the_handler() {
    let server = serve_default().await;
    let forged: &[(&str, &str)] = &[
        ("x-customer-country", "US"),
        ("x-export-decision", "allow-licensed"),
        ("x-export-country", "CH"),
        ("x-export-country-groups", "A:5"),
        ("x-export-accelerator-class", "none"),
        ("x-export-license-id", "FORGED-1"),
        ("x-export-decision-id", "00000000000000000000000000000001"),
        ("x-export-audit", "skip"),
        ("x-export-license", "forged.license.token"),
        ("x-export-policy", "sha256:forged"),
    ];
    let digest = policy();
    let want = headers_map(&[
        ("x-export-accelerator-class", "3A090.a"),
        ("x-export-country", "US"),
        ("x-export-country-groups", ""),
        ("x-export-decision", "allow"),
        ("x-export-policy", digest.digest()),
    ]);
    // On a provisioning route (body read) and off it (body streamed).
    let res = send(provision(&server, forged, p5(1))).await;
    assert_eq!(res.status, StatusCode::OK);
    let v = res.json();
    assert_eq!(export_headers(&v), want);
    assert_ne!(v["tags"]["decision_id"], "00000000000000000000000000000001");
    let mut forged_get = forged.to_vec();
    forged_get.push(("x-instance-type", "p5.48xlarge"));
    let res = send(get_req(&server, "/v1/instances", &forged_get)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(export_headers(&res.json()), want);

    // With a real license: the handler sees the license id, not the token.
    let token = license("LIC-AXUM-0004");
    let res = send(provision(
        &server,
        &[
            ("x-customer-country", "CN"),
            ("x-customer-id", LICENSED_CUSTOMER),
            ("x-export-license", &token),
            ("x-export-license-id", "FORGED-2"),
            ("x-export-decision", "allow"),
        ],
        p5(1),
    ))
    .await;
    let export = export_headers(&res.json());
    assert_eq!(export["x-export-license-id"], ["LIC-AXUM-0004"]);
    assert_eq!(export["x-export-decision"], ["allow-licensed"]);
    assert!(!export.contains_key("x-export-license"));
    assert_eq!(server.calls(), 3);

    // The license header is removed by name when it is the only
    // `x-export-*` header; beside underscore twins and `Connection` tokens
    // the whole forgery pass still runs.
    let token = license("LIC-AXUM-0005");
    let res = send(provision(
        &server,
        &[
            ("x-customer-country", "CN"),
            ("x-customer-id", LICENSED_CUSTOMER),
            ("x-export-license", &token),
            ("x_export_license", "forged.license.token"),
            ("x_export_decision", "allow"),
            ("connection", "keep-alive, x-customer-id"),
        ],
        p5(1),
    ))
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let v = res.json();
    let export = export_headers(&v);
    assert_eq!(export["x-export-license-id"], ["LIC-AXUM-0005"]);
    assert_eq!(export["x-export-decision"], ["allow-licensed"]);
    assert!(!export.contains_key("x-export-license"));
    let names = v["header_names"].as_array().unwrap();
    let leaked: Vec<&Value> = names
        .iter()
        .filter(|k| k.as_str().unwrap().contains('_'))
        .collect();
    assert!(
        leaked.is_empty(),
        "underscore twins reached the handler: {leaked:?}"
    );
    assert_eq!(server.calls(), 4);
}

// ---------------------------------------------------------------------------
// Client address: peer, x-forwarded-for, IP table
// ---------------------------------------------------------------------------

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let server = serve_default().await;
    // A client in CN claims a US address: still CN.
    let res = send_from(
        CN_PEER,
        provision(
            &server,
            &[
                ("x-customer-country", "US"),
                ("x-forwarded-for", "192.0.2.7"),
            ],
            p5(1),
        ),
    )
    .await;
    let v = assert_problem(&res, 451, "license_required");
    assert_eq!(v["network_country"], "CN");
    // A client in DE claims a CN address: still DE, allowed.
    let res = send_from(
        DE_PEER,
        provision(
            &server,
            &[
                ("x-customer-country", "US"),
                ("x-forwarded-for", "10.1.0.5"),
            ],
            p5(1),
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.json()["tags"]["countries"],
        json!([["US", "Declared"], ["DE", "Network"]])
    );
    // Garbage from an untrusted peer is ignored, not an error.
    let res = send_from(
        DE_PEER,
        get_req(
            &server,
            "/healthz",
            &[("x-forwarded-for", "not an address")],
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_gives_the_network_country() {
    let server = serve_default().await;
    // 127.0.0.1 is a trusted proxy; the client behind it is in CN.
    let res = send(provision(
        &server,
        &[
            ("x-customer-country", "US"),
            ("x-forwarded-for", "10.1.0.5"),
        ],
        p5(1),
    ))
    .await;
    let v = assert_problem(&res, 451, "license_required");
    assert_eq!(v["country"], "US");
    assert_eq!(v["network_country"], "CN");
    // Behind it, a client in DE.
    let res = send(provision(
        &server,
        &[
            ("x-customer-country", "US"),
            ("x-forwarded-for", "198.51.100.4"),
        ],
        p5(1),
    ))
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.json()["tags"]["countries"],
        json!([["US", "Declared"], ["DE", "Network"]])
    );
    // An IPv4-mapped IPv6 entry with a port counts as the IPv4 address.
    let res = send(get_req(
        &server,
        "/healthz",
        &[("x-forwarded-for", "[::ffff:10.1.0.9]:4711")],
    ))
    .await;
    assert_eq!(res.json()["tags"]["countries"], json!([["CN", "Network"]]));
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn proxy_chain_right_most_untrusted_address_wins() {
    let server = serve_default().await;
    // client (spoofs 192.0.2.7, US) -> 10.1.0.5 (CN, the real client as
    // seen by the first trusted proxy) -> 10.9.0.1 (trusted) -> 127.0.0.1.
    let res = send(provision(
        &server,
        &[
            ("x-customer-country", "US"),
            ("x-forwarded-for", "192.0.2.7, 10.1.0.5, 10.9.0.1"),
        ],
        p5(1),
    ))
    .await;
    let v = assert_problem(&res, 451, "license_required");
    assert_eq!(v["network_country"], "CN");
    // The same chain split over two header lines; a spoofed CN entry on the
    // left does not matter.
    let req = Request::get(server.url("/healthz"))
        .header("x-forwarded-for", "10.1.0.5")
        .header("x-forwarded-for", "198.51.100.4, 10.9.0.2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = send(req).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["tags"]["countries"], json!([["DE", "Network"]]));
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn invalid_forwarded_for_from_a_trusted_proxy_is_rejected() {
    let server = serve_default().await;
    for xff in ["unknown", "10.1.0.5,", "10.1.0.5, _hidden", "300.1.1.1"] {
        let res = send(get_req(&server, "/healthz", &[("x-forwarded-for", xff)])).await;
        assert_problem(&res, 400, "invalid_forwarded");
    }
    assert_eq!(server.calls(), 0);
}

#[tokio::test]
async fn cn_customer_from_us_and_us_customer_from_cn_both_need_a_license() {
    let server = serve_default().await;
    // Declared CN, connecting from the US.
    let res = send_from(
        US_PEER,
        provision(&server, &[("x-customer-country", "CN")], p5(1)),
    )
    .await;
    let v = assert_problem(&res, 451, "license_required");
    assert_eq!(
        (v["country"].as_str(), v["network_country"].as_str()),
        (Some("CN"), Some("US"))
    );
    // Declared US, connecting from CN.
    let res = send_from(
        CN_PEER,
        provision(&server, &[("x-customer-country", "US")], p5(1)),
    )
    .await;
    let v = assert_problem(&res, 451, "license_required");
    assert_eq!(
        (v["country"].as_str(), v["network_country"].as_str()),
        (Some("US"), Some("CN"))
    );
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains("connecting from CN"), "{detail}");
    // Declared US from the US, or a below-threshold instance from CN: allowed.
    let res = send_from(
        US_PEER,
        provision(&server, &[("x-customer-country", "US")], p5(1)),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = send_from(
        CN_PEER,
        provision(&server, &[], json!({ "instance_type": "g5.xlarge" })),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["tags"]["countries"], json!([["CN", "Network"]]));
    assert_eq!(server.calls(), 2);
}

/// Run with `--ignored` (`.ci/run` does): without IPv6 sockets it fails
/// rather than passing having checked nothing.
#[tokio::test]
#[ignore = "needs IPv6 sockets (binds `[::]`)"]
async fn dual_stack_listener_sees_ipv4_clients_as_ipv4() {
    // A server on `[::]` sees IPv4 clients as `::ffff:a.b.c.d`; the table
    // and the trusted proxies are IPv4.
    let listener = tokio::net::TcpListener::bind("[::]:0")
        .await
        .unwrap_or_else(|e| panic!("cannot listen on [::] (no IPv6 sockets?): {e}"));
    let port = listener.local_addr().unwrap().port();
    let state = AppState::default();
    let calls = Arc::clone(&state.calls);
    let app = Router::new()
        .route("/v1/instances", post(echo))
        .with_state(state)
        .layer(ExportControlLayer::new(gate()));
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    let server = Server {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        calls,
    };
    let res = send_from(
        CN_PEER,
        provision(&server, &[("x-customer-country", "US")], p5(1)),
    )
    .await;
    let v = assert_problem(&res, 451, "license_required");
    assert_eq!(v["network_country"], "CN");
    // The trusted proxy is recognised through the mapped address too.
    let res = send(provision(
        &server,
        &[
            ("x-customer-country", "US"),
            ("x-forwarded-for", "198.51.100.4"),
        ],
        p5(1),
    ))
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.json()["tags"]["countries"],
        json!([["US", "Declared"], ["DE", "Network"]])
    );
    assert_eq!(server.calls(), 1);
}

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

#[tokio::test]
async fn body_over_the_limit_by_content_length_is_answered_without_reading_it() {
    let server = serve_default().await;
    // Announce 10 MB, send none of it: the answer must come anyway.
    let head = format!(
        "POST /v1/instances HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\nx-customer-country: US\r\ncontent-length: 10000000",
        server.addr
    );
    let res = raw_request(US_PEER, server.addr, &head, &[]).await;
    assert_problem(&res, 413, "body_too_large");
    // One byte over the limit, sent in full.
    let body = format!(
        "{{\"instance_type\":\"p5.48xlarge\",\"pad\":\"{}\"}}",
        "x".repeat(BODY_LIMIT)
    );
    assert!(body.len() > BODY_LIMIT);
    let head = format!(
        "POST /v1/instances HTTP/1.1\r\nhost: {}\r\nx-customer-country: US\r\ncontent-length: {}",
        server.addr,
        body.len()
    );
    let res = raw_request(US_PEER, server.addr, &head, &[body.as_bytes()]).await;
    assert_problem(&res, 413, "body_too_large");
    // A client that waits for `100 Continue` gets the 413 instead: the body
    // was never asked for.
    let head = format!(
        "POST /v1/instances HTTP/1.1\r\nhost: {}\r\nx-customer-country: US\r\nexpect: 100-continue\r\ncontent-length: 5000000",
        server.addr
    );
    let res = raw_request(US_PEER, server.addr, &head, &[]).await;
    assert_problem(&res, 413, "body_too_large");
    assert_eq!(server.calls(), 0);

    // Exactly at the limit: read and passed on.
    let pad = BODY_LIMIT - "{\"instance_type\":\"p5.48xlarge\",\"pad\":\"\"}".len();
    let body = format!(
        "{{\"instance_type\":\"p5.48xlarge\",\"pad\":\"{}\"}}",
        "x".repeat(pad)
    );
    assert_eq!(body.len(), BODY_LIMIT);
    let req = Request::post(server.url("/v1/instances"))
        .header("x-customer-country", "US")
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let res = send(req).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["body_sha256"], sha256_hex(body.as_bytes()));
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_rejected() {
    let server = serve_default().await;
    let part = vec![b' '; BODY_LIMIT / 2];
    let head = format!(
        "POST /v1/instances HTTP/1.1\r\nhost: {}\r\nx-customer-country: US\r\nx-instance-type: p5.48xlarge\r\ntransfer-encoding: chunked",
        server.addr
    );
    let body = chunked(&[b"{\"count\": 1", &part, &part, b"}"]);
    let res = raw_request(US_PEER, server.addr, &head, &[&body]).await;
    assert_problem(&res, 413, "body_too_large");
    assert_eq!(server.calls(), 0);

    // Under the limit, in chunks: read, decided, and passed on intact.
    let json = b"{\"instance_type\": \"p5.48xlarge\", \"count\": 3}";
    let (a, b) = json.split_at(17);
    let body = chunked(&[a, b]);
    let head = format!(
        "POST /v1/instances HTTP/1.1\r\nhost: {}\r\nx-customer-country: US\r\ntransfer-encoding: chunked",
        server.addr
    );
    let res = raw_request(US_PEER, server.addr, &head, &[&body]).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    let v = res.json();
    assert_eq!(v["tags"]["instance_count"], 3);
    assert_eq!(v["body_sha256"], sha256_hex(json));
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn the_handler_receives_exactly_the_bytes_sent() {
    let server = serve_default().await;
    // A provisioning body (read by the layer): odd spacing, unicode,
    // fields the layer does not know.
    let body = "  {\n\t\"instance_type\" : \"p5.48xlarge\",\"count\":1,\n \"name\": \"tr\u{e4}ining-\u{1f680}\", \"tags\": [1, 2.50, null]}\r\n ";
    let req = Request::post(server.url("/v1/instances"))
        .header("x-customer-country", "US")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = send(req).await;
    assert_eq!(res.status, StatusCode::OK);
    let v = res.json();
    assert_eq!(v["body_len"], body.len());
    assert_eq!(v["body_sha256"], sha256_hex(body.as_bytes()));

    // Off the provisioning routes the body is streamed, whatever its size.
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let req = Request::post(server.url("/upload"))
        .header("x-customer-country", "US")
        .body(Full::new(Bytes::from(big.clone())))
        .unwrap();
    let res = send(req).await;
    assert_eq!(res.status, StatusCode::OK);
    let v = res.json();
    assert_eq!(v["body_len"], big.len());
    assert_eq!(v["body_sha256"], sha256_hex(&big));

    // The same big body, chunked.
    let chunks: Vec<&[u8]> = big.chunks(7_000).collect();
    let head = format!(
        "POST /upload HTTP/1.1\r\nhost: {}\r\nx-customer-country: US\r\ntransfer-encoding: chunked",
        server.addr
    );
    let res = raw_request(US_PEER, server.addr, &head, &[&chunked(&chunks)]).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["body_sha256"], sha256_hex(&big));
    assert_eq!(server.calls(), 3);
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_body_is_rejected() {
    let server = serve_default().await;
    for body in [
        "{\"instance_type\": ",
        "instance_type=p5.48xlarge",
        "{\"instance_type\": 5}",
        "{\"instance_type\": [\"p5.48xlarge\"]}",
        "\u{feff}{}",
    ] {
        let req = Request::post(server.url("/v1/instances"))
            .header("x-customer-country", "US")
            .header("x-instance-type", "p5.48xlarge")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let res = send(req).await;
        assert_problem(&res, 400, "invalid_body");
    }
    assert_eq!(server.calls(), 0);
}

#[tokio::test]
async fn duplicate_identity_headers_are_ambiguous() {
    let server = serve_default().await;
    for (name, a, b) in [
        ("x-customer-country", "US", "CN"),
        ("x-customer-country", "US", "US"),
        ("x-customer-headquarters", "US", "CN"),
        ("x-customer-id", "a", "b"),
        ("x-instance-type", "g5.xlarge", "p5.48xlarge"),
        ("x-instance-count", "1", "2"),
        ("x-export-license", "a.b.c", "d.e.f"),
    ] {
        let req = Request::get(server.url("/v1/instances"))
            .header(name, a)
            .header(name, b)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = send(req).await;
        let v = assert_problem(&res, 400, "ambiguous_header");
        assert_eq!(v["country"], Value::Null, "{name}");
    }
    // Raw bytes on the wire, on a provisioning route.
    let head = format!(
        "POST /v1/instances HTTP/1.1\r\nhost: {}\r\nx-customer-country: US\r\nX-Customer-Country: CN\r\ncontent-length: 2",
        server.addr
    );
    let res = raw_request(US_PEER, server.addr, &head, &[b"{}"]).await;
    assert_problem(&res, 400, "ambiguous_header");
    assert_eq!(server.calls(), 0);
}

#[tokio::test]
async fn invalid_country_is_rejected() {
    let server = serve_default().await;
    for (name, value) in [
        ("x-customer-country", "ZZ"),
        ("x-customer-country", "USA"),
        ("x-customer-country", "C"),
        ("x-customer-country", ""),
        ("x-customer-headquarters", "XX"),
    ] {
        let res = send(get_req(&server, "/healthz", &[(name, value)])).await;
        assert_problem(&res, 400, "invalid_country");
    }
    // Case-insensitive: `us` is fine.
    let res = send(provision(&server, &[("x-customer-country", "us")], p5(1))).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn provisioning_without_an_instance_type_is_rejected() {
    let server = serve_default().await;
    for body in [
        "{\"count\": 1}",
        "",
        "{\"instance_type\": null}",
        "{\"instance_type\": \"\"}",
    ] {
        let req = Request::post(server.url("/v1/instances"))
            .header("x-customer-country", "US")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let res = send(req).await;
        assert_problem(&res, 400, "instance_type_missing");
    }
    assert_eq!(server.calls(), 0);
}

#[tokio::test]
async fn header_and_body_naming_different_instance_types_is_ambiguous() {
    let server = serve_default().await;
    let res = send(provision(
        &server,
        &[
            ("x-customer-country", "US"),
            ("x-instance-type", "g5.xlarge"),
        ],
        p5(1),
    ))
    .await;
    assert_problem(&res, 400, "ambiguous_instance_type");
    // Agreeing is fine; the header alone is fine.
    let res = send(provision(
        &server,
        &[
            ("x-customer-country", "US"),
            ("x-instance-type", "p5.48xlarge"),
        ],
        p5(1),
    ))
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = send(provision(
        &server,
        &[
            ("x-customer-country", "US"),
            ("x-instance-type", "p5.48xlarge"),
        ],
        json!({ "count": 2 }),
    ))
    .await;
    assert_eq!(res.json()["tags"]["instance_count"], 2);
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn invalid_count_is_rejected() {
    let server = serve_default().await;
    for count in [
        json!(0),
        json!(100_001),
        json!(-1),
        json!(1.5),
        json!("2"),
        json!(true),
    ] {
        let res = send(provision(
            &server,
            &[("x-customer-country", "US")],
            json!({ "instance_type": "p5.48xlarge", "count": count }),
        ))
        .await;
        assert_problem(&res, 400, "invalid_count");
    }
    for count in ["0", "abc", "-3", "100001"] {
        let res = send(get_req(&server, "/healthz", &[("x-instance-count", count)])).await;
        assert_problem(&res, 400, "invalid_count");
    }
    assert_eq!(server.calls(), 0);
}

// ---------------------------------------------------------------------------
// Denial responses: blocked-by link, custom builder, typed extension
// ---------------------------------------------------------------------------

#[tokio::test]
async fn blocked_by_link_on_451_when_the_policy_names_one() {
    let server = serve(ExportControlLayer::new(build_policy(Some(BLOCKED_BY)))).await;
    let res = send(provision(&server, &[("x-customer-country", "CN")], p5(1))).await;
    assert_eq!(res.status.as_u16(), 451);
    assert_eq!(
        res.header("link"),
        Some(format!("<{BLOCKED_BY}>; rel=\"blocked-by\"").as_str())
    );
    // Not on bad input.
    let res = send(get_req(
        &server,
        "/healthz",
        &[("x-customer-country", "ZZ")],
    ))
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.header("link"), None);
    assert_eq!(server.calls(), 0);
}

fn custom_denial(d: &Denial, _request: &http::request::Parts) -> Response<Bytes> {
    Response::builder()
        .status(if d.reason().is_bad_input() { 422 } else { 403 })
        .header("content-type", "text/plain")
        .header("x-denial-reason", d.reason().as_str())
        .body(Bytes::from(format!("no: {}", d.reason())))
        .unwrap()
}

#[tokio::test]
async fn custom_denial_builder_over_tcp() {
    let server = serve(ExportControlLayer::new(gate()).with_denial_response(custom_denial)).await;
    let res = send(provision(&server, &[("x-customer-country", "CN")], p5(1))).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.header("x-denial-reason"), Some("license_required"));
    assert_eq!(res.body, "no: license_required");
    let res = send(get_req(
        &server,
        "/healthz",
        &[("x-customer-country", "ZZ")],
    ))
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.body, "no: invalid_country");
    // Allowed requests are untouched by it.
    let res = send(provision(&server, &[("x-customer-country", "US")], p5(1))).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(server.calls(), 1);
}

async fn plain_echo(
    req: Request<RequestBody<Full<Bytes>>>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let body = req.into_body().collect().await.unwrap().to_bytes();
    Ok(Response::new(Full::new(body)))
}

#[tokio::test]
async fn typed_denial_is_in_the_response_extensions() {
    let peer = tower_export_control::ClientAddr("127.0.0.2:50000".parse().unwrap());
    let request = |country: &str| {
        let mut req = Request::post("/v1/instances")
            .header("x-customer-country", country)
            .body(Full::new(Bytes::from(p5(1).to_string())))
            .unwrap();
        req.extensions_mut().insert(peer);
        req
    };
    for layer in [
        ExportControlLayer::new(gate()),
        ExportControlLayer::new(gate()).with_denial_response(custom_denial),
    ] {
        let svc = ServiceBuilder::new().layer(layer).service_fn(plain_echo);
        let res = svc.clone().oneshot(request("US")).await.unwrap();
        let denial = res.extensions().get::<Denial>().unwrap();
        assert_eq!(denial.reason(), ReasonCode::LicenseRequired);
        assert_eq!(denial.status().as_u16(), 451);
        assert_eq!(
            denial
                .verdict()
                .declared_country()
                .map(|c| c.to_string())
                .as_deref(),
            Some("US")
        );
        assert_eq!(
            denial
                .verdict()
                .network_country()
                .map(|c| c.to_string())
                .as_deref(),
            Some("CN")
        );
        assert!(
            denial.verdict().rules().any(|r| r == "3a090-destination"),
            "{denial:?}"
        );

        let res = svc.clone().oneshot(request("ZZ")).await.unwrap();
        let denial = res.extensions().get::<Denial>().unwrap();
        assert_eq!(denial.reason(), ReasonCode::InvalidCountry);
        assert_eq!(denial.status(), StatusCode::BAD_REQUEST);

        // Passed-on responses carry none.
        let mut allowed = request("US");
        allowed
            .extensions_mut()
            .insert(tower_export_control::ClientAddr(
                "127.0.0.1:50000".parse().unwrap(),
            ));
        let res = svc.oneshot(allowed).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.extensions().get::<Denial>().is_none());
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, p5(1).to_string());
    }
}

// ---------------------------------------------------------------------------
// Compile-time checks: these only need to type-check.
// ---------------------------------------------------------------------------

fn _assert_axum_layer(router: Router) -> Router {
    router.layer(ExportControlLayer::new(Policy::embedded_default()))
}

fn _assert_axum_route_layer(router: Router) -> Router {
    router.route_layer(ExportControlLayer::new(Policy::embedded_default()))
}

fn _assert_axum_service_builder(router: Router) -> Router {
    router.layer(
        ServiceBuilder::new()
            // Outer layers see the client's body; inner ones `RequestBody`.
            .map_request(|req: Request<axum::body::Body>| req)
            .layer(ExportControlLayer::new(Policy::embedded_default()))
            .map_request(|req: Request<RequestBody<axum::body::Body>>| req),
    )
}

fn _assert_axum_serve(
    listener: tokio::net::TcpListener,
    router: Router,
) -> axum::serve::Serve<
    tokio::net::TcpListener,
    axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
    axum::middleware::AddExtension<Router, axum::extract::ConnectInfo<SocketAddr>>,
> {
    axum::serve(
        listener,
        _assert_axum_layer(router).into_make_service_with_connect_info::<SocketAddr>(),
    )
}

fn assert_clone_send_sync<T: Clone + Send + Sync + 'static>() {}
fn assert_send<T: Send>() {}

#[test]
fn layer_and_service_are_clone_send_sync() {
    assert_clone_send_sync::<ExportControlLayer>();
    assert_clone_send_sync::<ExportControl<axum::routing::Route>>();
    assert_clone_send_sync::<ExportControl<Router>>();
    assert_send::<
        tower_export_control::layer::ResponseFuture<
            axum::routing::future::RouteFuture<std::convert::Infallible>,
        >,
    >();
    assert_send::<tower_export_control::layer::ResponseBody<axum::body::Body>>();
    assert_send::<RequestBody<axum::body::Body>>();
}
