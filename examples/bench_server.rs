//! A minimal provisioning API, with or without the export-control layer,
//! for measuring what the layer adds per request (`scripts/callgrind.sh`,
//! or an external load generator such as `wrk`).
//!
//! ```text
//! cargo run --release --example bench_server -- [--listen ADDR] [--bare|--floor] [--hyper] [--license]
//! cargo run --release --example bench_server -- --client KIND [--addr ADDR] [--requests N]
//! cargo run --release --example bench_server -- --print-request KIND
//! cargo run --release --example bench_server -- --print-wrk KIND
//! ```
//!
//! The server (one thread) answers `POST /v1/instances` (the body taken as
//! `Bytes`) and `GET /v1/info`: an axum 0.8 `Router` served with
//! `into_make_service_with_connect_info`, or with `--hyper` a bare hyper
//! HTTP/1.1 connection per client. `ExportControlLayer::new(Policy::embedded_default())`
//! is the only layer; `--bare` leaves it out; `--floor` puts in its place a
//! layer that only does what the tagging contract asks of any layer (the
//! five `x-export-*` headers the layer writes on an allowed request and one
//! request extension of `ExportTags`' size), the floor no implementation
//! of the contract can go below; `--license` adds the demo
//! license issuer of `examples/demo-issuer/` (a `Gate` instead of the bare
//! policy). It stops on Ctrl-C (SIGINT), finishing normally, so a profiler
//! running it writes its output.
//!
//! The client sends `N` identical requests, one after the other, on one
//! keep-alive connection, and checks each answer is 200. Kinds:
//!
//! - `get`: `GET /v1/info`, headers only, a US customer;
//! - `post`: `POST /v1/instances` with `{"instance_type":"m7i.large","count":1}`, a US customer;
//! - `post-restricted`: the same for `p5.48xlarge`, a US customer;
//! - `license`: `POST /v1/instances` for `p5.48xlarge` from a CN customer
//!   with a demo license (verified on the first request, a cache hit after).
//!
//! `--print-request KIND` prints the request (for `curl` or `nc`) and
//! exits; `--print-wrk KIND` prints it as a `wrk` Lua script
//! (`scripts/wrk.sh`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/demo_issuer/mod.rs"]
mod demo_issuer;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_export_control::{ClientAddr, ExportControlLayer, ExportTags, Gate, Policy};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Post,
    PostRestricted,
    License,
}

impl Kind {
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "get" => Ok(Self::Get),
            "post" => Ok(Self::Post),
            "post-restricted" => Ok(Self::PostRestricted),
            "license" => Ok(Self::License),
            other => Err(format!(
                "unknown kind `{other}` (get, post, post-restricted, license)"
            )),
        }
    }

    /// The request, as bytes on the wire.
    fn request(self, addr: SocketAddr) -> Result<Vec<u8>, String> {
        let (method, path, headers, body) = self.parts()?;
        let length = if body.is_empty() {
            String::new()
        } else {
            format!("content-length: {}\r\n", body.len())
        };
        Ok(
            format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{headers}{length}\r\n{body}")
                .into_bytes(),
        )
    }

    /// The request as a `wrk` Lua script.
    fn wrk_script(self) -> Result<String, String> {
        let (method, path, headers, body) = self.parts()?;
        let mut lua = format!("wrk.method = \"{method}\"\nwrk.path = \"{path}\"\n");
        for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
            if let Some((name, value)) = line.split_once(": ") {
                lua.push_str(&format!("wrk.headers[\"{name}\"] = \"{value}\"\n"));
            }
        }
        if !body.is_empty() {
            lua.push_str(&format!("wrk.body = '{body}'\n"));
        }
        Ok(lua)
    }

    /// Method, path, headers (each line ending in CRLF) and body.
    fn parts(self) -> Result<(&'static str, &'static str, String, &'static str), String> {
        let (path, headers, body) = match self {
            Self::Get => ("/v1/info", "x-customer-country: US\r\n".to_owned(), ""),
            Self::Post => (
                "/v1/instances",
                "x-customer-country: US\r\ncontent-type: application/json\r\n".to_owned(),
                r#"{"instance_type":"m7i.large","count":1}"#,
            ),
            Self::PostRestricted => (
                "/v1/instances",
                "x-customer-country: US\r\ncontent-type: application/json\r\n".to_owned(),
                r#"{"instance_type":"p5.48xlarge","count":1}"#,
            ),
            Self::License => (
                "/v1/instances",
                format!(
                    "x-customer-country: CN\r\nx-customer-id: acme-cn\r\n\
                     content-type: application/json\r\nx-export-license: {}\r\n",
                    license()?
                ),
                r#"{"instance_type":"p5.48xlarge","count":1}"#,
            ),
        };
        let method = if self == Self::Get { "GET" } else { "POST" };
        Ok((method, path, headers, body))
    }
}

/// A demo-issuer license for `acme-cn` in CN, valid for a day.
fn license() -> Result<String, String> {
    demo_issuer::license("LIC-BENCH-0001", Some(64))
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// Sends `n` requests on one connection (retrying the connect while the
/// server starts) and checks every answer is a 200.
fn client(addr: SocketAddr, kind: Kind, n: u64) -> Result<(), String> {
    let request = kind.request(addr)?;
    let mut stream = connect(addr)?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(4096);
    for i in 0..n {
        stream.write_all(&request).map_err(|e| e.to_string())?;
        let status = read_response(&mut stream, &mut buf)?;
        if status != 200 {
            return Err(format!(
                "request {i}: status {status}: {}",
                String::from_utf8_lossy(&buf)
            ));
        }
    }
    Ok(())
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let mut last = String::new();
    // A server under valgrind takes seconds to start.
    for _ in 0..600 {
        match TcpStream::connect(addr) {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("could not connect to {addr}: {last}"))
}

/// Reads one response with a `content-length` into `buf`; its status.
fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16, String> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .ok_or("no content-length")?;
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed in the body".into());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(status)
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// What stands in front of the app.
#[derive(Clone)]
enum Front {
    Bare,
    Floor,
    Layer(ExportControlLayer),
}

/// An extension as large as the layer's.
#[derive(Clone)]
struct FloorTags(#[allow(dead_code)] [u8; std::mem::size_of::<ExportTags>()]);

/// The floor: the tag headers and extension an allowed US request gets,
/// written without deciding anything.
fn floor_tags<B>(mut req: http::Request<B>) -> http::Request<B> {
    use tower_export_control::layer::{
        TAG_ACCELERATOR_CLASS, TAG_COUNTRY, TAG_COUNTRY_GROUPS, TAG_DECISION, TAG_POLICY,
    };
    static DIGEST: std::sync::OnceLock<http::HeaderValue> = std::sync::OnceLock::new();
    let digest = DIGEST.get_or_init(|| {
        http::HeaderValue::from_str(Policy::embedded_default().digest())
            .unwrap_or(http::HeaderValue::from_static("unknown"))
    });
    let headers = req.headers_mut();
    headers.reserve(6);
    headers.insert(TAG_COUNTRY, http::HeaderValue::from_static("US"));
    headers.insert(TAG_COUNTRY_GROUPS, http::HeaderValue::from_static(""));
    headers.insert(
        TAG_ACCELERATOR_CLASS,
        http::HeaderValue::from_static("none"),
    );
    headers.insert(TAG_DECISION, http::HeaderValue::from_static("allow"));
    headers.insert(TAG_POLICY, digest.clone());
    req.extensions_mut()
        .insert(FloorTags([0; std::mem::size_of::<ExportTags>()]));
    req
}

fn layer(license: bool) -> Result<ExportControlLayer, String> {
    if !license {
        return Ok(ExportControlLayer::new(Policy::embedded_default()));
    }
    let trust = demo_issuer::trust()?;
    Ok(ExportControlLayer::new(
        Gate::new(Policy::embedded_default()).with_license_trust(trust),
    ))
}

async fn create(body: Bytes) -> String {
    format!("created ({} bytes)", body.len())
}

async fn info() -> &'static str {
    "provisioning api"
}

async fn serve_axum(listener: tokio::net::TcpListener, front: Front) {
    let app = Router::new()
        .route("/v1/instances", post(create))
        .route("/v1/info", get(info));
    let app = match front {
        Front::Layer(layer) => app.layer(layer),
        Front::Floor => app.layer(tower::util::MapRequestLayer::new(floor_tags)),
        Front::Bare => app,
    };
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    if let Err(e) = served {
        eprintln!("bench_server: {e}");
    }
}

async fn hyper_app<B>(req: http::Request<B>) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let body = if req.uri().path() == "/v1/instances" {
        "created"
    } else {
        "provisioning api"
    };
    Ok(http::Response::new(Full::new(Bytes::from_static(
        body.as_bytes(),
    ))))
}

async fn serve_hyper(listener: tokio::net::TcpListener, front: Front) {
    let mut stop = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => { eprintln!("bench_server: {e}"); continue; }
            },
            _ = &mut stop => return,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        let http = hyper::server::conn::http1::Builder::new();
        // The same request mapping in both, so the difference is the layer.
        let base = ServiceBuilder::new().map_request(move |mut req: http::Request<_>| {
            req.extensions_mut().insert(ClientAddr(peer));
            req
        });
        match &front {
            Front::Bare => {
                let svc = TowerToHyperService::new(base.service_fn(hyper_app::<Incoming>));
                tokio::spawn(async move { http.serve_connection(io, svc).await });
            }
            Front::Floor => {
                let svc = base
                    .map_request(floor_tags)
                    .service_fn(hyper_app::<Incoming>);
                let svc = TowerToHyperService::new(svc);
                tokio::spawn(async move { http.serve_connection(io, svc).await });
            }
            Front::Layer(layer) => {
                let svc = base.layer(layer.clone()).service_fn(hyper_app);
                let svc = TowerToHyperService::new(svc);
                tokio::spawn(async move { http.serve_connection(io, svc).await });
            }
        }
    }
}

struct ServerArgs {
    listen: SocketAddr,
    bare: bool,
    floor: bool,
    hyper: bool,
    license: bool,
}

fn run_server(args: ServerArgs) -> Result<(), String> {
    let front = match (args.bare, args.floor) {
        (true, _) => Front::Bare,
        (false, true) => Front::Floor,
        (false, false) => Front::Layer(layer(args.license)?),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("{}: {e}", args.listen))?;
        if args.hyper {
            serve_hyper(listener, front).await;
        } else {
            serve_axum(listener, front).await;
        }
        Ok(())
    })
}

fn run() -> Result<(), String> {
    let mut server = ServerArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
        bare: false,
        floor: false,
        hyper: false,
        license: false,
    };
    let mut client_kind = None;
    let mut print = None;
    let mut print_wrk = None;
    let mut addr = None;
    let mut requests = 1000u64;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => server.listen = parse_addr(&value()?)?,
            "--bare" => server.bare = true,
            "--floor" => server.floor = true,
            "--hyper" => server.hyper = true,
            "--license" => server.license = true,
            "--client" => client_kind = Some(Kind::parse(&value()?)?),
            "--print-request" => print = Some(Kind::parse(&value()?)?),
            "--print-wrk" => print_wrk = Some(Kind::parse(&value()?)?),
            "--addr" => addr = Some(parse_addr(&value()?)?),
            "--requests" => {
                let v = value()?;
                requests = v
                    .parse()
                    .map_err(|_| format!("--requests: `{v}` is not a number"))?;
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}` (see the example's docs)"
                ));
            }
        }
    }
    let addr = addr.unwrap_or(server.listen);
    if let Some(kind) = print_wrk {
        print!("{}", kind.wrk_script()?);
        return Ok(());
    }
    if let Some(kind) = print {
        let request = kind.request(addr)?;
        std::io::stdout()
            .write_all(&request)
            .map_err(|e| e.to_string())?;
        return Ok(());
    }
    match client_kind {
        Some(kind) => client(addr, kind, requests),
        None => run_server(server),
    }
}

fn parse_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse().map_err(|_| format!("`{v}` is not ADDR:PORT"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_server: {e}");
            ExitCode::FAILURE
        }
    }
}
