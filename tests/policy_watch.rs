//! Reload on change: a `PolicyWatcher` under an axum server on real TCP.
//! The policy file is rewritten in place, replaced by a rename (how editors
//! save), and broken; requests follow the new policy, and a broken file
//! changes nothing and is counted.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use tower_export_control::policy::DEFAULT_POLICY_TOML;
use tower_export_control::{ExportControlLayer, Gate, Policy, ReloadStats, WatchOptions};

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tec-watch-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn report_only() -> String {
    DEFAULT_POLICY_TOML.replace("mode = \"enforce\"", "mode = \"report-only\"")
}

/// Serves `GET /v1/instances` behind the layer on `127.0.0.1:0`.
async fn serve(gate: Gate) -> SocketAddr {
    let app = Router::new()
        // Echoes the policy tag the layer put on the request.
        .route(
            "/v1/instances",
            get(|headers: http::HeaderMap| async move {
                let mut echo = http::HeaderMap::new();
                if let Some(v) = headers.get("x-export-policy") {
                    echo.insert("x-export-policy", v.clone());
                }
                echo
            }),
        )
        .layer(ExportControlLayer::new(gate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    addr
}

/// A CN customer asking for an H100 instance: 451 under the default
/// policy, 200 (tagged `report-only-deny`) under report-only.
async fn cn_p5(addr: SocketAddr) -> (StatusCode, Option<String>) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let req = http::Request::get(format!("http://{addr}/v1/instances"))
        .header("x-customer-country", "CN")
        .header("x-instance-type", "p5.48xlarge")
        .body(http_body_util::Empty::new())
        .unwrap();
    let res = client.request(req).await.unwrap();
    let decision = res
        .headers()
        .get("x-export-policy")
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status(), decision)
}

/// Waits (bounded) until `done` holds; the bound is a hang guard, not a
/// timing assertion.
async fn eventually<F: AsyncFnMut() -> bool>(mut done: F) -> bool {
    let give_up = Instant::now() + Duration::from_secs(20);
    while Instant::now() < give_up {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn fast() -> WatchOptions {
    WatchOptions::default()
        .with_poll_interval(Duration::from_millis(30))
        .with_settle(Duration::from_millis(20))
}

/// Writes `text` to a temporary file beside `path`, then renames it over
/// `path`: the file is replaced, never seen half-written.
fn save_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_under_a_running_server_are_followed_and_a_broken_file_changes_nothing() {
    let dir = scratch("edits");
    let path = dir.join("policy.toml");
    std::fs::write(&path, DEFAULT_POLICY_TOML).unwrap();
    let gate = Gate::new(Policy::from_path(&path).unwrap());
    let first_digest = gate.policy().digest().to_owned();
    let watcher = gate.watch_file_with(&path, fast());
    assert_eq!(watcher.path(), path);
    let addr = serve(gate.clone()).await;

    let (status, _) = cn_p5(addr).await;
    assert_eq!(status, StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);

    // Rewritten in place: report-only passes the request on, tagged with
    // the new policy's digest.
    std::fs::write(&path, report_only()).unwrap();
    let changed = eventually(async || cn_p5(addr).await.0 == StatusCode::OK).await;
    assert!(changed, "the rewritten policy was never put in force");
    let (_, policy_tag) = cn_p5(addr).await;
    assert_eq!(policy_tag.as_deref(), Some(gate.policy().digest()));
    assert_ne!(gate.policy().digest(), first_digest);
    assert_eq!(gate.reload_stats().reloads, 1);

    // Broken: refused, counted, and the report-only policy keeps serving.
    std::fs::write(&path, "[policy]\nname = 1\n").unwrap();
    let refused = eventually(async || gate.reload_stats().failures == 1).await;
    assert!(refused, "the broken file was never tried");
    assert_eq!(cn_p5(addr).await.0, StatusCode::OK);
    let stats = gate.reload_stats();
    assert_eq!((stats.reloads, stats.failures), (1, 1));

    // Saved by rename, as editors do: enforced again.
    save_by_rename(&path, DEFAULT_POLICY_TOML);
    let enforced =
        eventually(async || cn_p5(addr).await.0 == StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS).await;
    assert!(enforced, "the renamed-over policy was never put in force");
    assert_eq!(gate.policy().digest(), first_digest);

    // Once stopped, edits are no longer followed.
    watcher.stop();
    let reloads = gate.reload_stats().reloads;
    std::fs::write(&path, report_only()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gate.reload_stats().reloads, reloads);
    assert_eq!(
        cn_p5(addr).await.0,
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_file_is_waited_for_and_the_watcher_ends_with_its_gate() {
    let dir = scratch("missing");
    let path = dir.join("policy.toml");
    let gate = Gate::new(Policy::embedded_default());
    let watcher = gate.watch_file_with(&path, fast());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(gate.reload_stats(), ReloadStats::default());

    std::fs::write(&path, report_only()).unwrap();
    let give_up = Instant::now() + Duration::from_secs(20);
    while gate.reload_stats().reloads == 0 && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(gate.reload_stats().reloads, 1);
    assert_eq!(gate.policy().source(), path.display().to_string());

    // Dropping every gate ends the thread at its next change; dropping the
    // watcher joins it without waiting for one.
    drop(gate);
    drop(watcher);
    std::fs::remove_dir_all(&dir).unwrap();
}
