//! A stand-in cloud provisioning API behind the export-control layer.
//!
//! ```text
//! cargo run --example provisioning_api [-- --listen 127.0.0.1:3000] [--policy FILE] [--ip-table FILE]...
//! cargo run --example provisioning_api --features redis -- --redis redis://127.0.0.1:6379
//! cargo run --example provisioning_api -- --audit audit.jsonl
//! ```
//!
//! Serves `POST /v1/instances` (JSON `{"instance_type": …, "count": …}`),
//! `GET /v1/instances`, `DELETE /v1/instances/{id}` (terminates an instance
//! and releases its license reservation), `GET /v1/licenses/{jti}/usage`
//! `GET /healthz` and `GET /metrics` (Prometheus text) on the embedded
//! default policy plus the demo license
//! issuer of `examples/demo-issuer/` (whose private key is public: never
//! deploy it). License quantities are counted in an in-process ledger, or
//! in Redis with `--redis`. Each handler echoes the tags the layer added.
//! On start it prints ready-to-paste `curl` commands; each decision is
//! logged on stderr. With `--policy FILE`, the file is reloaded whenever it
//! changes and on `SIGHUP`; a file that fails validation changes nothing. With
//! `--audit FILE` decisions are also appended to FILE as JSON lines
//! (rotated at 100 MiB, 5 files kept).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::{Value, json};
use tower_export_control::audit::{FileSink, FileSinkConfig};
use tower_export_control::jurisdiction::IpTable;
use tower_export_control::ledger::{Ledger, MemoryLedger, ReservationId};
use tower_export_control::license::LicenseTrust;
use tower_export_control::{ExportControlLayer, ExportTags, Gate, Policy};

const DEMO_ISSUER: &str = "https://demo-licensing.invalid";
const DEMO_KID: &str = "demo-2026";

struct Args {
    listen: SocketAddr,
    policy: Option<PathBuf>,
    ip_tables: Vec<PathBuf>,
    redis: Option<String>,
    audit: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
        policy: None,
        ip_tables: Vec::new(),
        redis: None,
        audit: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                args.listen = v
                    .parse()
                    .map_err(|_| format!("--listen: `{v}` is not ADDR:PORT"))?;
            }
            "--policy" => args.policy = Some(value()?.into()),
            "--ip-table" => args.ip_tables.push(value()?.into()),
            "--redis" => args.redis = Some(value()?),
            "--audit" => args.audit = Some(value()?.into()),
            "-h" | "--help" => {
                return Err("usage: provisioning_api [--listen ADDR] [--policy FILE] \
                     [--ip-table FILE]... [--redis URL] [--audit FILE]"
                    .into());
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-issuer")
}

/// The default policy (or `--policy`); the demo issuer and IP tables serve
/// a policy that names no issuers or tables of its own.
fn load_gate(args: &Args) -> Result<Gate, String> {
    let policy = match &args.policy {
        Some(path) => Policy::from_path(path).map_err(|e| e.to_string())?,
        None => Policy::embedded_default(),
    };
    let demo =
        LicenseTrust::from_toml_path(demo_dir().join("license.toml")).map_err(|e| e.to_string())?;
    let mut gate = Gate::new(policy).with_license_trust(demo);
    if !args.ip_tables.is_empty() {
        let table = IpTable::from_paths(&args.ip_tables).map_err(|e| e.to_string())?;
        gate = gate.with_ip_table(table);
    }
    Ok(match (&args.redis, gate.ledger()) {
        (Some(url), _) => gate.with_ledger(redis_ledger(url)?),
        // The policy's own [ledger], else one in this process.
        (None, Some(_)) => gate,
        (None, None) => gate.with_ledger(MemoryLedger::new()),
    })
}

#[cfg(feature = "redis")]
fn redis_ledger(url: &str) -> Result<impl Ledger, String> {
    let config = tower_export_control::ledger::LedgerConfig::redis(url);
    tower_export_control::ledger::RedisLedger::new(&config).map_err(|e| e.to_string())
}

#[cfg(not(feature = "redis"))]
fn redis_ledger(_url: &str) -> Result<MemoryLedger, String> {
    Err(
        "--redis needs the `redis` feature: cargo run --example provisioning_api --features redis"
            .into(),
    )
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

/// Reloads the policy file on every SIGHUP; a bad file changes nothing.
async fn reload_on_sighup(gate: Gate, policy: Option<PathBuf>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        eprintln!("provisioning_api: cannot listen for SIGHUP");
        return;
    };
    while hangups.recv().await.is_some() {
        let Some(path) = &policy else {
            tracing::warn!("SIGHUP: serving the embedded default policy; nothing to reload");
            continue;
        };
        match gate.reload_from_path(path) {
            Ok(_) => tracing::info!(policy = gate.policy().digest(), "SIGHUP: policy reloaded"),
            Err(e) => {
                for d in e.diagnostics() {
                    tracing::error!(diagnostic = %d, "SIGHUP: policy not reloaded");
                }
                tracing::error!(error = %e, "SIGHUP: the last good policy keeps serving");
            }
        }
    }
}

/// A license for customer `acme-cn` in CN, signed with the demo key.
fn demo_license() -> Result<String, String> {
    let pem = std::fs::read(demo_dir().join("demo-issuer.key.pem")).map_err(|e| e.to_string())?;
    let key = jsonwebtoken::EncodingKey::from_ed_pem(&pem).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let exp = now + Duration::from_secs(30 * 86_400);
    let claims = json!({
        "iss": DEMO_ISSUER,
        "sub": "acme-cn",
        "jti": "DEMO-LIC-0001",
        "iat": now.as_secs(),
        "exp": exp.as_secs(),
        "countries": ["CN"],
        "accelerator_classes": ["3A090.a"],
        "max_accelerators": 16,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(DEMO_KID.to_owned());
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
}

/// A license (`jti`) and the reservation that counts an instance on it.
type Counted = Option<(String, ReservationId)>;

/// The instances created: id → the license reservation that counts them.
#[derive(Clone)]
struct App {
    gate: Gate,
    instances: Arc<Mutex<HashMap<u64, Counted>>>,
    next: Arc<AtomicU64>,
}

/// Echoes what the handler received: the typed tags and the `x-export-*`
/// headers the layer added. A POST creates an instance of exactly what the
/// tags name, and keeps the reservation that counts it.
async fn echo(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    tags: Option<Extension<ExportTags>>,
    body: Bytes,
) -> Json<Value> {
    let export_headers: serde_json::Map<String, Value> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-export-"))
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("<binary>"))))
        .collect();
    let instance = (method == Method::POST).then(|| {
        let id = app.next.fetch_add(1, Ordering::Relaxed);
        let held = tags
            .as_ref()
            .and_then(|Extension(t)| t.reservation())
            .map(|r| (r.license.to_string(), r.id.clone()));
        app.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, held);
        id
    });
    let tags = tags.map(|Extension(t)| {
        json!({
            "countries": t.verdict().countries().map(|(c, s)| json!({"country": c, "source": format!("{s:?}").to_lowercase()})).collect::<Vec<_>>(),
            "country_groups": t.verdict().country_groups().collect::<Vec<_>>(),
            "accelerator_class": t.accelerator_class(),
            "instance_type": t.instance_type(),
            "instance_count": t.instance_count(),
            "accelerators": t.verdict().accelerators(),
            "decision": t.outcome().as_str(),
            "rules": t.verdict().rules().collect::<Vec<_>>(),
            "license_id": t.license_id(),
            "reservation": t.reservation().map(|r| r.id.as_str()),
        })
    });
    Json(json!({
        "handled": format!("{method} {}", uri.path()),
        "instance": instance,
        "body_bytes_received": body.len(),
        "export_headers": export_headers,
        "export_tags": tags,
    }))
}

/// Terminates an instance: releases its reservation through the ledger.
async fn terminate(State(app): State<App>, UrlPath(id): UrlPath<u64>) -> (StatusCode, Json<Value>) {
    let held = app
        .instances
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
    let Some(held) = held else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such instance"})),
        );
    };
    let released = match (held, app.gate.ledger()) {
        (Some((license, reservation)), Some(ledger)) => {
            match ledger.release(&license, &reservation).await {
                Ok(released) => json!(released),
                Err(e) => json!(format!("not released ({e}); it lapses or is reconciled")),
            }
        }
        _ => json!(false),
    };
    (
        StatusCode::OK,
        Json(json!({"terminated": id, "released": released})),
    )
}

/// What a license has in use across the fleet.
async fn license_usage(
    State(app): State<App>,
    UrlPath(jti): UrlPath<String>,
) -> (StatusCode, Json<Value>) {
    let Some(ledger) = app.gate.ledger() else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "no ledger"})));
    };
    match ledger.usage(&jti).await {
        Ok(usage) => (
            StatusCode::OK,
            Json(json!({"license": jti, "usage": usage})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        ),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

fn print_curls(addr: SocketAddr, license: &str) {
    let url = format!("http://{addr}/v1/instances");
    println!("tower-export-control demo provisioning API on http://{addr}\n");
    println!("# 1. Allowed: a customer in the US asks for 8 x H100 (p5.48xlarge)");
    println!(
        "curl -i {url} -H 'content-type: application/json' -H 'x-customer-id: acme-us' -H 'x-customer-country: US' \\\n  -d '{{\"instance_type\": \"p5.48xlarge\", \"count\": 1}}'\n"
    );
    println!("# 2. Blocked (451 license_required): the same for a customer in CN");
    println!(
        "curl -i {url} -H 'content-type: application/json' -H 'x-customer-id: acme-cn' -H 'x-customer-country: CN' \\\n  -d '{{\"instance_type\": \"p5.48xlarge\", \"count\": 1}}'\n"
    );
    println!(
        "# 3. Allowed with the demo export license (allow-licensed). It is for 16 accelerators:\n\
         #    run it three times: 200, 200, then 451 license_quantity_exhausted"
    );
    println!(
        "curl -i {url} -H 'content-type: application/json' -H 'x-customer-id: acme-cn' -H 'x-customer-country: CN' \\\n  -H 'x-export-license: {license}' \\\n  -d '{{\"instance_type\": \"p5.48xlarge\", \"count\": 1}}'\n"
    );
    // Instances are numbered in the order they were made, whatever the
    // customer: step 1 made one too, so the id must come from step 3.
    println!(
        "# 4. Terminate one of step 3's instances (N: the \"instance\" in one of its 200\n\
         #    answers), which releases its 8 accelerators; then step 3 again: 200"
    );
    println!("curl -i -X DELETE {url}/N\n");
    println!("# 5. What the demo license has in use across the fleet");
    println!("curl -s http://{addr}/v1/licenses/DEMO-LIC-0001/usage\n");
    println!("# 6. Decisions so far, by outcome, reason, class and rule (Prometheus)");
    println!("curl -s http://{addr}/metrics | grep export_control_decisions_total\n");
}

#[tokio::main]
async fn main() -> ExitCode {
    // The layer logs every decision (target `tower_export_control::audit`).
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("provisioning_api: {e}");
            return ExitCode::from(2);
        }
    };
    let (gate, license) = match (load_gate(&args), demo_license()) {
        (Ok(g), Ok(l)) => (g, l),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("provisioning_api: {e}");
            return ExitCode::from(2);
        }
    };
    // Every change to --policy FILE is reloaded, and SIGHUP reloads it too.
    let _watcher = args.policy.as_ref().map(|path| gate.watch_file(path));
    tokio::spawn(reload_on_sighup(gate.clone(), args.policy.clone()));
    let metrics = match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("provisioning_api: cannot install the metrics recorder: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Histogram samples are kept until upkeep folds them into the summary:
    // without it they pile up between scrapes.
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let state = App {
        gate: gate.clone(),
        instances: Arc::default(),
        next: Arc::new(AtomicU64::new(1)),
    };
    // --audit FILE: every decision as a JSON line, written off the request
    // path by the sink's own thread (no async runtime needed).
    let mut layer = ExportControlLayer::new(gate);
    if let Some(path) = &args.audit {
        match FileSink::open(path, FileSinkConfig::default()) {
            Ok(sink) => layer = layer.with_audit(sink),
            Err(e) => {
                eprintln!("provisioning_api: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let app = Router::new()
        .route("/v1/instances", get(echo).post(echo))
        .route("/v1/instances/{id}", delete(terminate))
        .route("/v1/licenses/{jti}/usage", get(license_usage))
        .route("/healthz", get(healthz))
        .with_state(state)
        .layer(layer)
        // Added after the layer, so scrapes are not decisions.
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        );
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("provisioning_api: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(2);
        }
    };
    let addr = listener.local_addr().unwrap_or(args.listen);
    print_curls(addr, &license);
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    // On Ctrl-C or SIGTERM, stop accepting, finish what is in flight, then
    // drop the layer, which writes out the audit file's queue.
    let serving = axum::serve(listener, service).with_graceful_shutdown(shutdown_signal());
    if let Err(e) = serving.await {
        eprintln!("provisioning_api: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
