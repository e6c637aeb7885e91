//! The fleet test on Redis: two replicas of an axum provisioning API, each
//! with its own layer, gate and `RedisLedger`, sharing one real
//! `redis-server` (started by the test). Needs the `redis` feature.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod layer_support;
mod redis_support;

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use layer_support::{LICENSED_CUSTOMER, RawResponse, build_policy, gate_with, license_with};
use redis_support::RedisServer;
use serde_json::json;
use tower_export_control::ExportControlLayer;
use tower_export_control::ledger::{Ledger, LedgerConfig, RedisLedger};

const JTI: &str = "LIC-REDIS-FLEET";

fn redis_ledger(server: &RedisServer) -> RedisLedger {
    let mut config = LedgerConfig::redis(server.url());
    config.timeout_ms = 500;
    RedisLedger::new(&config).unwrap()
}

async fn replica(server: &RedisServer) -> SocketAddr {
    let gate = gate_with(build_policy(None)).with_ledger(redis_ledger(server));
    let app = Router::new()
        .route("/v1/instances", post(|| async { StatusCode::CREATED }))
        .layer(ExportControlLayer::new(gate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    addr
}

fn provision(addr: SocketAddr, token: &str) -> Request<Full<Bytes>> {
    Request::post(format!("http://{addr}/v1/instances"))
        .header("content-type", "application/json")
        .header("x-customer-country", "CN")
        .header("x-customer-id", LICENSED_CUSTOMER)
        .header("x-export-license", token)
        .body(Full::new(Bytes::from_static(
            br#"{"instance_type":"p5.48xlarge"}"#,
        )))
        .unwrap()
}

async fn send(req: Request<Full<Bytes>>) -> RawResponse {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let res = client.request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    RawResponse {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_redis_never_over_grant_and_fail_closed() {
    let mut server = RedisServer::start();
    let replicas = [replica(&server).await, replica(&server).await];
    let token = license_with(json!({"jti": JTI, "max_accelerators": 64}));
    let tasks: Vec<_> = (0..200)
        .map(|i| tokio::spawn(send(provision(replicas[i % 2], &token))))
        .collect();
    let (mut created, mut exhausted) = (0, 0);
    for task in tasks {
        let res = task.await.unwrap();
        match res.status {
            StatusCode::CREATED => created += 1,
            StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS => {
                assert_eq!(res.json()["reason"], "license_quantity_exhausted");
                exhausted += 1;
            }
            other => panic!("unexpected {other}: {:?}", res.body),
        }
    }
    assert_eq!((created, exhausted), (8, 192));
    let usage = redis_ledger(&server).usage(JTI).await.unwrap();
    assert_eq!((usage.active, usage.pending), (64, 0));

    // Redis stops: licensed provisioning fails closed, none is granted.
    server.stop();
    let other = license_with(json!({"jti": "LIC-REDIS-OTHER", "max_accelerators": 64}));
    for addr in replicas {
        let res = send(provision(addr, &other)).await;
        assert_eq!(
            res.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            res.body
        );
        assert_eq!(res.json()["reason"], "ledger_unavailable");
    }
    // Redis is back (empty, no persistence in the test): the same layers
    // count again without a restart.
    server.restart();
    let mut served = false;
    for _ in 0..50 {
        if send(provision(replicas[0], &other)).await.status == StatusCode::CREATED {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served, "the layer did not resume after Redis came back");
}
