//! Soak test of the demo server: mixed requests from many keep-alive
//! connections while its policy file is rewritten every second.
//!
//! ```text
//! cargo build --release --examples
//! target/release/examples/soak [--requests 1000000] [--connections 32] [--rewrite-ms 1000]
//! ```
//!
//! It starts `provisioning_api` (found beside this program) on a free
//! loopback port with `--policy` pointing at a copy of the default policy,
//! and sends requests in a fixed rotation, each with the answer its own
//! decision must give:
//!
//! | kind | request | answer |
//! |---|---|---|
//! | allowed | `GET /v1/instances`, US, `p5.48xlarge` | 200 `allow` |
//! | denied | `GET /v1/instances`, CN, `p5.48xlarge` | 451 `license_required` |
//! | licensed | the same with the demo license | 200 `allow-licensed` |
//! | malformed | `POST /v1/instances` with a body that is not JSON | 400 `invalid_body` |
//! | created | `POST /v1/instances`, US, then `DELETE` of the instance | 200, 200 |
//!
//! Every second the policy file is rewritten with another description (so
//! another digest, which the server picks up through its file watcher).
//! Any other answer is counted as a failure. The server's resident memory
//! is read after each tenth of the requests; the first tenth is the
//! warm-up.
//! Exits 1 on any failure or if memory grew by more than 10 %.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/demo_issuer/mod.rs"]
mod demo_issuer;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tower_export_control::policy::DEFAULT_POLICY_TOML;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Args {
    requests: u64,
    connections: u64,
    server: PathBuf,
    /// How often the policy file is rewritten; 0: never.
    rewrite_ms: u64,
}

fn parse_args() -> Result<Args, String> {
    let beside = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("provisioning_api");
    let mut args = Args {
        requests: 1_000_000,
        connections: 32,
        server: beside,
        rewrite_ms: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--requests" => args.requests = value()?.parse().map_err(|e| format!("{e}"))?,
            "--connections" => args.connections = value()?.parse().map_err(|e| format!("{e}"))?,
            "--server" => args.server = value()?.into(),
            "--rewrite-ms" => args.rewrite_ms = value()?.parse().map_err(|e| format!("{e}"))?,
            _ => return Err(format!("unknown argument {flag}; see the file's header")),
        }
    }
    Ok(args)
}

fn policy_variant(n: u64) -> String {
    DEFAULT_POLICY_TOML.replacen("[policy]\n", &format!("[policy]\n# soak revision {n}\n"), 1)
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(args: &Args, policy: &Path) -> Result<(Server, SocketAddr), String> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?;
    let child = Command::new(&args.server)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--policy")
        .arg(policy)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.server.display()))?;
    Ok((Server(child), addr))
}

/// One request: method, path, headers, body; what must come back.
struct Case {
    method: Method,
    headers: Vec<(&'static str, String)>,
    body: &'static str,
    status: StatusCode,
    /// A string the answer must contain (the decision or reason code).
    contains: &'static str,
}

fn cases(license: &str) -> Vec<Case> {
    let h = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    };
    vec![
        Case {
            method: Method::GET,
            headers: h(&[
                ("x-customer-country", "US"),
                ("x-instance-type", "p5.48xlarge"),
            ]),
            body: "",
            status: StatusCode::OK,
            contains: "\"allow\"",
        },
        Case {
            method: Method::GET,
            headers: h(&[
                ("x-customer-country", "CN"),
                ("x-instance-type", "p5.48xlarge"),
            ]),
            body: "",
            status: StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
            contains: "license_required",
        },
        Case {
            method: Method::GET,
            headers: h(&[
                ("x-customer-country", "CN"),
                ("x-customer-id", "acme-cn"),
                ("x-instance-type", "p5.48xlarge"),
                ("x-export-license", license),
            ]),
            body: "",
            status: StatusCode::OK,
            contains: "allow-licensed",
        },
        Case {
            method: Method::POST,
            headers: h(&[
                ("x-customer-country", "US"),
                ("content-type", "application/json"),
            ]),
            body: "{\"instance_type\": ",
            status: StatusCode::BAD_REQUEST,
            contains: "invalid_body",
        },
        Case {
            method: Method::POST,
            headers: h(&[
                ("x-customer-country", "US"),
                ("content-type", "application/json"),
            ]),
            body: r#"{"instance_type": "p5.48xlarge", "count": 1}"#,
            status: StatusCode::OK,
            contains: "\"allow\"",
        },
    ]
}

struct Tally {
    sent: AtomicU64,
    failed: AtomicU64,
    policies: std::sync::Mutex<HashSet<String>>,
}

async fn send(client: &HttpClient, addr: SocketAddr, case: &Case) -> Result<Value, String> {
    let mut req = Request::builder()
        .method(case.method.clone())
        .uri(format!("http://{addr}/v1/instances"));
    for (k, v) in &case.headers {
        req = req.header(*k, v);
    }
    let req = req
        .body(Full::new(Bytes::from_static(case.body.as_bytes())))
        .map_err(|e| e.to_string())?;
    let res = client.request(req).await.map_err(|e| e.to_string())?;
    let status = res.status();
    let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&body.to_bytes()).into_owned();
    if status != case.status || !text.contains(case.contains) {
        return Err(format!("{status} {text}"));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn connection(addr: SocketAddr, cases: Arc<Vec<Case>>, tally: Arc<Tally>, quota: u64) {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build_http();
    let mut i = 0usize;
    loop {
        if tally.sent.fetch_add(1, Ordering::Relaxed) >= quota {
            return;
        }
        let Some(case) = cases.get(i % cases.len()) else {
            return;
        };
        i += 1;
        match send(&client, addr, case).await {
            Ok(answer) => {
                if let Some(p) = answer
                    .pointer("/export_headers/x-export-policy")
                    .and_then(Value::as_str)
                    && let Ok(mut seen) = tally.policies.lock()
                    && !seen.contains(p)
                {
                    seen.insert(p.to_owned());
                }
                let created = answer.get("instance").and_then(Value::as_u64);
                if let Some(id) = created {
                    let req = Request::delete(format!("http://{addr}/v1/instances/{id}"))
                        .body(Full::new(Bytes::new()));
                    let ok = match req {
                        Ok(req) => client
                            .request(req)
                            .await
                            .is_ok_and(|r| r.status() == StatusCode::OK),
                        Err(_) => false,
                    };
                    if !ok {
                        tally.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Err(e) => {
                if tally.failed.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("soak: unexpected answer: {e}");
                }
            }
        }
    }
}

async fn run(args: Args) -> Result<bool, String> {
    let dir = std::env::temp_dir().join(format!("tec-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, policy_variant(0)).map_err(|e| e.to_string())?;
    let (server, addr) = start_server(&args, &policy)?;
    let pid = server.0.id();
    let license = demo_issuer::license("SOAK-LIC-1", None)?;
    let cases = Arc::new(cases(&license));

    // Wait for the server to listen.
    let give_up = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() > give_up {
            return Err("the server did not start listening".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let rewrites = Arc::new(AtomicU64::new(0));
    let reloader = {
        let (stop, rewrites, policy) = (stop.clone(), rewrites.clone(), policy.clone());
        let every = Duration::from_millis(args.rewrite_ms);
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && !every.is_zero() {
                tokio::time::sleep(every).await;
                n += 1;
                if std::fs::write(&policy, policy_variant(n)).is_ok() {
                    rewrites.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    let run_phase = |quota: u64, tally: Arc<Tally>| {
        let tasks: Vec<_> = (0..args.connections)
            .map(|_| tokio::spawn(connection(addr, cases.clone(), tally.clone(), quota)))
            .collect();
        async move {
            for t in tasks {
                let _ = t.await;
            }
        }
    };
    let new_tally = || {
        Arc::new(Tally {
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            policies: std::sync::Mutex::default(),
        })
    };
    let started = Instant::now();
    // Ten phases of a tenth each; the first is the warm-up. Resident memory
    // is read after each.
    let mut rss = Vec::new();
    let mut tallies = Vec::new();
    for phase in 0..10 {
        let quota = args.requests / 10 + u64::from(phase == 9) * (args.requests % 10);
        let tally = new_tally();
        run_phase(quota, tally.clone()).await;
        rss.push(rss_kib(pid).unwrap_or(0));
        tallies.push(tally);
    }
    let rss_warm = rss.first().copied().unwrap_or(0);
    let rss_end = rss.last().copied().unwrap_or(0);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = reloader.await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);

    let failed: u64 = tallies
        .iter()
        .map(|t| t.failed.load(Ordering::Relaxed))
        .sum();
    let mut policies = HashSet::new();
    for t in &tallies {
        policies.extend(t.policies.lock().map(|s| s.clone()).unwrap_or_default());
    }
    let policies = policies.len();
    let growth = if rss_warm == 0 {
        f64::NAN
    } else {
        rss_end as f64 / rss_warm as f64 - 1.0
    };
    println!(
        "requests:          {} in {:.1} s ({:.0}/s), {} connections",
        args.requests,
        elapsed.as_secs_f64(),
        args.requests as f64 / elapsed.as_secs_f64(),
        args.connections
    );
    println!("failed:            {failed}");
    println!(
        "policy rewrites:   {} (policies seen in tags: {policies})",
        rewrites.load(Ordering::Relaxed)
    );
    println!("RSS after warm-up: {rss_warm} KiB");
    println!(
        "RSS at the end:    {rss_end} KiB ({:+.1} %)",
        growth * 100.0
    );
    let timeline: Vec<String> = rss.iter().map(u64::to_string).collect();
    println!("RSS after each tenth (KiB): {}", timeline.join(" "));
    Ok(failed == 0 && growth.abs() <= 0.10)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::from(2)
        }
    }
}
