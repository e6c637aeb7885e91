//! A stand-in cloud provisioning API behind the export-control layer.
//!
//! ```text
//! cargo run --example provisioning_api [-- --listen 127.0.0.1:3000] [--policy FILE] [--ip-table FILE]...
//! ```
//!
//! Serves `POST /v1/instances` (JSON `{"instance_type": …, "count": …}`),
//! `GET /v1/instances` and `GET /healthz` on the embedded default policy plus
//! the demo license issuer of `examples/demo-issuer/` (whose private key is
//! public: never deploy it). Each handler echoes the tags the layer added.
//! On start it prints ready-to-paste `curl` commands; each decision is
//! logged on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use tower_export_control::jurisdiction::IpTable;
use tower_export_control::license::LicenseTrust;
use tower_export_control::{ExportControlLayer, ExportTags, Gate, Policy};

const DEMO_ISSUER: &str = "https://demo-licensing.invalid";
const DEMO_KID: &str = "demo-2026";

struct Args {
    listen: SocketAddr,
    policy: Option<PathBuf>,
    ip_tables: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
        policy: None,
        ip_tables: Vec::new(),
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
            "-h" | "--help" => {
                return Err(
                    "usage: provisioning_api [--listen ADDR] [--policy FILE] [--ip-table FILE]..."
                        .into(),
                );
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
    Ok(gate)
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
        "max_accelerators": 64,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(DEMO_KID.to_owned());
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
}

/// Echoes what the handler received: the typed tags and the `x-export-*`
/// headers the layer added.
async fn echo(
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
        })
    });
    Json(json!({
        "handled": format!("{method} {}", uri.path()),
        "body_bytes_received": body.len(),
        "export_headers": export_headers,
        "export_tags": tags,
    }))
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
    println!("# 3. Allowed with the demo export license (allow-licensed)");
    println!(
        "curl -i {url} -H 'content-type: application/json' -H 'x-customer-id: acme-cn' -H 'x-customer-country: CN' \\\n  -H 'x-export-license: {license}' \\\n  -d '{{\"instance_type\": \"p5.48xlarge\", \"count\": 1}}'\n"
    );
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
    let app = Router::new()
        .route("/v1/instances", get(echo).post(echo))
        .route("/healthz", get(healthz))
        .layer(ExportControlLayer::new(gate));
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
    if let Err(e) = axum::serve(listener, service).await {
        eprintln!("provisioning_api: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
