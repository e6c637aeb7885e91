//! `FileSink` behind the layer: real requests, then the file read back
//! line by line; rotation; a full queue; flush when the last handle drops.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};
use tower_export_control::audit::{FileSink, FileSinkConfig};
use tower_export_control::{ExportControlLayer, ExportTags, Policy};

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("audit-file-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sends one provisioning request; returns the status and the decision id
/// the client or the handler saw.
async fn send(
    layer: &ExportControlLayer,
    country: &str,
    body: &'static str,
) -> (StatusCode, String) {
    let svc = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(|req: Request<_>| async move {
            let id = req
                .extensions()
                .get::<ExportTags>()
                .unwrap()
                .decision_id()
                .to_string();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(id))))
        });
    let req = Request::post("/v1/instances")
        .header("x-customer-id", "cust-1")
        .header("x-customer-country", country)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let id = if status == StatusCode::OK {
        String::from_utf8(body.to_vec()).unwrap()
    } else {
        let json: Value = serde_json::from_slice(&body).unwrap();
        json["decision_id"].as_str().unwrap_or_default().to_owned()
    };
    (status, id)
}

/// Every line of `path`, each parsed as JSON (a split line fails here).
fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "last line unterminated"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test]
async fn requests_through_the_layer_are_written_as_json_lines() {
    let dir = TempDir::new("lines");
    let file = dir.path("audit.jsonl");
    let sink = FileSink::open(&file, FileSinkConfig::default()).unwrap();
    let layer = ExportControlLayer::new(Policy::embedded_default()).with_audit(sink.clone());

    let allowed = send(&layer, "US", r#"{"instance_type":"p5.48xlarge","count":2}"#).await;
    let denied = send(&layer, "CN", r#"{"instance_type":"p5.48xlarge"}"#).await;
    let rejected = send(&layer, "US", "{not json").await;
    assert_eq!(allowed.0, StatusCode::OK);
    assert_eq!(denied.0, StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    assert_eq!(rejected.0, StatusCode::BAD_REQUEST);

    sink.flush().unwrap();
    let lines = records(&file);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(lines[0]["outcome"], "allow");
    assert_eq!(lines[0]["decision_id"], allowed.1.as_str());
    assert_eq!(lines[0]["instance_count"], 2);
    assert_eq!(lines[0]["accelerator_class"], "3A090.a");
    assert_eq!(lines[1]["outcome"], "deny");
    assert_eq!(lines[1]["reason"], "license_required");
    assert_eq!(lines[1]["decision_id"], denied.1.as_str());
    assert_eq!(lines[1]["country"], "CN");
    assert_eq!(lines[2]["outcome"], "rejected");
    assert_eq!(lines[2]["reason"], "invalid_body");
    assert_eq!(lines[2]["customer_id"], "cust-1");
    assert_eq!(sink.written(), 3);
    assert_eq!(sink.dropped(), 0);

    // After shutdown nothing more is written, and what arrives is counted.
    sink.shutdown().unwrap();
    let after = send(&layer, "US", r#"{"instance_type":"m7i.large"}"#).await;
    assert_eq!(after.0, StatusCode::OK);
    assert_eq!(sink.dropped(), 1);
    assert_eq!(records(&file).len(), 3);
    assert!(sink.flush().is_err());
}

#[tokio::test]
async fn a_reopened_file_is_appended_to() {
    let dir = TempDir::new("append");
    let file = dir.path("audit.jsonl");
    for _ in 0..2 {
        let sink = FileSink::open(&file, FileSinkConfig::default()).unwrap();
        let layer = ExportControlLayer::new(Policy::embedded_default()).with_audit(sink.clone());
        send(&layer, "US", r#"{"instance_type":"m7i.large"}"#).await;
        sink.shutdown().unwrap();
    }
    assert_eq!(records(&file).len(), 2);
}

#[tokio::test]
async fn dropping_the_last_handle_writes_everything_queued() {
    let dir = TempDir::new("drop");
    let file = dir.path("audit.jsonl");
    let mut ids = Vec::new();
    {
        let sink = FileSink::open(&file, FileSinkConfig::default()).unwrap();
        let layer = ExportControlLayer::new(Policy::embedded_default()).with_audit(sink);
        for _ in 0..50 {
            ids.push(
                send(&layer, "US", r#"{"instance_type":"g5.xlarge"}"#)
                    .await
                    .1,
            );
        }
        // `layer` (and with it the only sink) is dropped here.
    }
    let written: Vec<String> = records(&file)
        .iter()
        .map(|r| r["decision_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(written, ids);
}

#[tokio::test]
async fn rotation_keeps_every_record_whole_and_in_order() {
    let dir = TempDir::new("rotate");
    let file = dir.path("audit.jsonl");
    let max = 2_000;
    let sink = FileSink::open(&file, FileSinkConfig::default().max_bytes(max).keep(100)).unwrap();
    let layer = ExportControlLayer::new(Policy::embedded_default()).with_audit(sink.clone());
    let mut ids = Vec::new();
    for i in 0..40 {
        let country = if i % 2 == 0 { "US" } else { "CN" };
        ids.push(
            send(&layer, country, r#"{"instance_type":"p5.48xlarge"}"#)
                .await
                .1,
        );
    }
    sink.shutdown().unwrap();

    assert!(dir.path("audit.jsonl.1").exists(), "no rotation happened");
    // Oldest first: FILE.n, …, FILE.1, FILE.
    let mut files: Vec<PathBuf> = (1..)
        .map(|n| dir.path(&format!("audit.jsonl.{n}")))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    files.push(file.clone());
    let mut seen = Vec::new();
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len <= max, "{} has {len} bytes", f.display());
        seen.extend(
            records(f)
                .into_iter()
                .map(|r| r["decision_id"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(seen, ids, "a record was lost or reordered");
    assert_eq!(sink.written(), 40);
}

#[tokio::test]
async fn rotation_keeps_only_the_newest_files() {
    let dir = TempDir::new("keep");
    let file = dir.path("audit.jsonl");
    let sink = FileSink::open(&file, FileSinkConfig::default().max_bytes(1_000).keep(2)).unwrap();
    let layer = ExportControlLayer::new(Policy::embedded_default()).with_audit(sink.clone());
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(
            send(&layer, "US", r#"{"instance_type":"p5.48xlarge"}"#)
                .await
                .1,
        );
    }
    sink.shutdown().unwrap();
    assert!(dir.path("audit.jsonl.2").exists());
    assert!(!dir.path("audit.jsonl.3").exists());
    // What is kept is the newest records, in order, ending with the last.
    let mut kept: Vec<String> = Vec::new();
    for f in ["audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"] {
        kept.extend(
            records(&dir.path(f))
                .iter()
                .map(|r| r["decision_id"].as_str().unwrap().to_owned()),
        );
    }
    assert!(ids.ends_with(&kept), "{kept:?}");
}

/// A writer stuck on a pipe nobody reads yet: the queue fills, and records
/// are dropped and counted; once the pipe is read, every record not
/// dropped arrives. Skips (passes) where `mkfifo` is missing.
#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    let dir = TempDir::new("full");
    let fifo = dir.path("audit.pipe");
    match std::process::Command::new("mkfifo").arg(&fifo).status() {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("skipped: mkfifo is not available");
            return;
        }
    }
    // Open the read end first (non-blocking open needs a reader for a
    // write-only open to return), but read only later.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::File::open(fifo).unwrap())
    };
    let sink = FileSink::open(&fifo, FileSinkConfig::default().capacity(4).no_rotation()).unwrap();
    let mut read_end = reader.join().unwrap();
    let layer = ExportControlLayer::new(Policy::embedded_default()).with_audit(sink.clone());

    // Far more than the pipe buffer (64 KiB), the writer's buffer and the
    // queue can hold.
    let sent = 3_000;
    for _ in 0..sent {
        send(&layer, "US", r#"{"instance_type":"p5.48xlarge"}"#).await;
    }
    assert!(sink.dropped() > 0, "nothing was dropped");

    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut read_end, &mut text).unwrap();
        text
    });
    drop(layer);
    sink.shutdown().unwrap();
    let (dropped, written) = (sink.dropped(), sink.written());
    drop(sink);
    let text = drain.join().unwrap();
    for l in text.lines() {
        serde_json::from_str::<Value>(l).unwrap();
    }
    let lines = text.lines().count() as u64;
    assert_eq!(lines, written);
    assert_eq!(lines + dropped, sent, "every record is written or counted");
}
