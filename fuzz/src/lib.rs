//! What the fuzz targets share: the test gate (default rules, trusted
//! proxies, a small IP table, the demo license issuer), an echo service that
//! records what reaches it, and the checks on what the layer passes on.
//!
//! Checks return `Err(message)`; the targets panic with it, which is how
//! libFuzzer learns of a finding.

use std::cell::RefCell;
use std::convert::Infallible;
use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower_export_control::layer::{ClientAddr, RequestBody, ResponseBody};
use tower_export_control::license::LicenseTrust;
use tower_export_control::policy::DEFAULT_POLICY_TOML;
use tower_export_control::{ExportControlLayer, ExportTags, Gate, IpTable, Policy};

/// The main crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The demo issuer's directory (its private key is public).
pub fn demo_issuer_dir() -> PathBuf {
    crate_dir().join("examples/demo-issuer")
}

/// The IP table of the layer targets: loopback peers in four countries,
/// forwarded addresses in three, trusted proxies in none.
pub const IP_TABLE_CSV: &str = "\
127.0.0.1/32,US
127.0.0.2/32,CN
127.0.0.3/32,DE
127.0.0.4/32,IR
10.1.0.0/16,CN
192.0.2.0/24,US
198.51.100.0/24,DE
2001:db8:cc::/48,CN
";

/// Trusted proxies of the layer targets' policy.
pub const TRUSTED_PROXIES: [&str; 3] = ["127.0.0.1/32", "10.9.0.0/16", "fd00::/8"];

/// The provisioning body limit of the layer targets' policy.
pub const BODY_LIMIT: usize = 1024;

/// The IP table [`IP_TABLE_CSV`] describes.
///
/// # Panics
/// If the fixed table does not load.
pub fn ip_table() -> IpTable {
    let mut b = IpTable::builder();
    #[allow(clippy::expect_used)]
    b.add_reader("fuzz-ip-table", IP_TABLE_CSV.as_bytes())
        .expect("the fixed IP table loads");
    b.build()
}

/// The default policy with a small body limit and `[network]
/// trusted_proxies`.
pub fn policy_text() -> String {
    let http = "[http]\nbody_limit_bytes = 65536\n";
    let proxies: Vec<String> = TRUSTED_PROXIES.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "{}\n[network]\ntrusted_proxies = [{}]\n",
        DEFAULT_POLICY_TOML.replacen(
            http,
            &format!("[http]\nbody_limit_bytes = {BODY_LIMIT}\n"),
            1
        ),
        proxies.join(", ")
    )
}

/// The demo issuer's trust.
///
/// # Panics
/// If the demo issuer's files do not load.
pub fn demo_trust() -> LicenseTrust {
    #[allow(clippy::expect_used)]
    LicenseTrust::from_toml_path(demo_issuer_dir().join("license.toml"))
        .expect("the demo issuer's license.toml loads")
}

static GATE: LazyLock<Gate> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    let policy =
        Policy::from_toml(&policy_text(), "fuzz-policy.toml", None).expect("the fuzz policy loads");
    Gate::new(policy)
        .with_ip_table(ip_table())
        .with_license_trust(demo_trust())
});

/// The gate of the layer targets: [`policy_text`], [`ip_table`] and the
/// demo issuer.
pub fn gate() -> Gate {
    GATE.clone()
}

/// Whether `ip` is one of [`TRUSTED_PROXIES`].
pub fn is_trusted_proxy(ip: IpAddr) -> bool {
    let ip = canonical(ip);
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4 == Ipv4Addr::LOCALHOST || (o[0] == 10 && o[1] == 9)
        }
        IpAddr::V6(v6) => v6.octets()[0] == 0xfd,
    }
}

/// IPv4-mapped IPv6 as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What the inner service saw of the last request that reached it.
#[derive(Debug)]
pub struct Seen {
    /// The request headers.
    pub headers: HeaderMap,
    /// The tags, if the request carried them.
    pub tags: Option<ExportTags>,
    /// The body, or the error reading it.
    pub body: Result<Bytes, String>,
    /// The trailers, if the body had any.
    pub trailers: Option<HeaderMap>,
}

thread_local! {
    static SEEN: RefCell<Option<Seen>> = const { RefCell::new(None) };
}

/// Takes what the echo service recorded since the last call.
pub fn take_seen() -> Option<Seen> {
    SEEN.with(|s| s.borrow_mut().take())
}

/// The inner service: records the request (headers, tags, body) and
/// answers 200 with an empty body.
pub async fn echo<B>(req: Request<RequestBody<B>>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: Display,
{
    let (parts, body) = req.into_parts();
    let tags = parts.extensions.get::<ExportTags>().cloned();
    let (body, trailers) = match body.collect().await {
        Ok(c) => {
            let trailers = c.trailers().cloned();
            (Ok(c.to_bytes()), trailers)
        }
        Err(e) => (Err(e.to_string()), None),
    };
    SEEN.with(|s| {
        *s.borrow_mut() = Some(Seen {
            headers: parts.headers,
            tags,
            body,
            trailers,
        });
    });
    Ok(Response::new(Full::new(Bytes::new())))
}

/// The layer's answer, read to the end.
#[derive(Debug)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
    /// What reached the inner service, if anything.
    pub seen: Option<Seen>,
}

/// Sends `req` through `layer` around [`echo`] on the current thread.
///
/// # Panics
/// If the echo service fails (it cannot) or the response body errs.
pub fn send<B>(layer: &ExportControlLayer, req: Request<B>) -> Answer
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Display + Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let _ = take_seen();
    let svc = tower::ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(echo::<B>);
    let res: Response<ResponseBody<Full<Bytes>>> =
        match futures::executor::block_on(svc.oneshot(req)) {
            Ok(res) => res,
            Err(never) => match never {},
        };
    let (parts, body) = res.into_parts();
    let body = match futures::executor::block_on(body.collect()) {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    };
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
        seen: take_seen(),
    }
}

/// Checks what reached the inner service: tagged with a passing outcome,
/// and every `x-export-*` header one the layer wrote from the tags, once.
pub fn check_passed(seen: &Seen) -> Result<&ExportTags, String> {
    let tags = seen
        .tags
        .as_ref()
        .ok_or("the inner service got a request without ExportTags")?;
    if !tags.outcome().passes() {
        return Err(format!("passed on with outcome {}", tags.outcome()));
    }
    let v = tags.verdict();
    let groups: Vec<&str> = v.country_groups().collect();
    let groups = groups.join(",");
    let country = tags.country();
    let expected: [(&str, Option<&str>); 5] = [
        (
            "x-export-country",
            Some(country.as_ref().map_or("unknown", |c| c.as_str())),
        ),
        ("x-export-country-groups", Some(&groups)),
        (
            "x-export-accelerator-class",
            Some(tags.accelerator_class().as_str()),
        ),
        ("x-export-decision", Some(tags.outcome().as_str())),
        ("x-export-license-id", tags.license_id()),
    ];
    for name in seen.headers.keys() {
        let name = name.as_str();
        if !name.starts_with("x-export-") {
            continue;
        }
        let Some((_, want)) = expected.iter().find(|(n, _)| *n == name) else {
            return Err(format!("header {name} reached the inner service"));
        };
        let values: Vec<&[u8]> = seen
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        match (want, values.as_slice()) {
            (Some(want), [got]) if want.as_bytes() == *got => {}
            _ => {
                return Err(format!(
                    "header {name} is {values:?}; the tags say {want:?}",
                    values = values
                        .iter()
                        .map(|v| String::from_utf8_lossy(v))
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
    for (name, want) in &expected {
        if want.is_some() && !seen.headers.contains_key(*name) {
            return Err(format!("tag header {name} is missing"));
        }
    }
    Ok(tags)
}

/// Checks the answer's status: 200 when the request passed; 400, 413 or
/// 451 for a denial, or for gRPC 200 with `grpc-status`.
pub fn check_status(answer: &Answer, grpc: bool) -> Result<(), String> {
    let status = answer.status.as_u16();
    if answer.seen.is_some() {
        return if status == 200 {
            Ok(())
        } else {
            Err(format!("passed on, but answered {status}"))
        };
    }
    if grpc {
        let code = answer.headers.get("grpc-status").map(|v| v.as_bytes());
        if status == 200 && matches!(code, Some(b"3" | b"7")) {
            return Ok(());
        }
        return Err(format!(
            "gRPC denial answered {status}, grpc-status {code:?}"
        ));
    }
    if [400, 413, 451].contains(&status) {
        Ok(())
    } else {
        Err(format!("denial answered {status}"))
    }
}

/// A layer on the shared [`gate`].
pub fn layer() -> ExportControlLayer {
    ExportControlLayer::new(gate())
}

/// A layer on the embedded default policy.
pub fn default_layer() -> ExportControlLayer {
    static POLICY: LazyLock<Arc<Policy>> = LazyLock::new(|| Arc::new(Policy::embedded_default()));
    ExportControlLayer::new(Arc::clone(&POLICY))
}

/// A request written as text, the input of the layer targets:
///
/// ```text
/// POST /v1/instances 127.0.0.2:1000 chunk=3 fail
/// x-customer-country: CN
/// ~grpc-status: 0
///
/// {"instance_type": "p5.48xlarge"}
/// ```
///
/// The first line is the method, the request target, the peer address
/// (`-` for none) and flags: `chunk=N` sends the body in chunks of N bytes,
/// `fail` ends it with an error. Header lines follow (`~` marks a trailer)
/// up to an empty line; the rest is the body. Invalid header lines are
/// skipped.
#[derive(Debug)]
pub struct RawRequest {
    /// The method.
    pub method: Method,
    /// The request target.
    pub target: Uri,
    /// The peer address, put into the request as [`ClientAddr`].
    pub peer: Option<SocketAddr>,
    /// The headers.
    pub headers: HeaderMap,
    /// The trailers, if any line named one.
    pub trailers: Option<HeaderMap>,
    /// The chunk size of the body.
    pub chunk: Option<usize>,
    /// Whether the body ends with an error.
    pub fail: bool,
    /// The body.
    pub body: Bytes,
}

/// Parses [`RawRequest`] text; `None` when the first line is not a method
/// and a request target.
pub fn parse_request(data: &[u8]) -> Option<RawRequest> {
    let (head, body) = match find(data, b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &b""[..]),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let first = lines.next()?;
    let mut words = first.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let method = Method::from_bytes(words.next()?).ok()?;
    let target = Uri::try_from(words.next()?).ok()?;
    let peer = words
        .next()
        .and_then(|w| std::str::from_utf8(w).ok())
        .and_then(|w| w.parse().ok());
    let (mut chunk, mut fail) = (None, false);
    for w in words {
        if w == b"fail" {
            fail = true;
        } else if let Some(n) = w.strip_prefix(b"chunk=") {
            chunk = std::str::from_utf8(n).ok().and_then(|n| n.parse().ok());
        }
    }
    let mut headers = HeaderMap::new();
    let mut trailers: Option<HeaderMap> = None;
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let (map, line) = match line.strip_prefix(b"~") {
            Some(rest) => (trailers.get_or_insert_with(HeaderMap::new), rest),
            None => (&mut headers, line),
        };
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(&line[..colon]),
            http::HeaderValue::from_bytes(value),
        ) {
            map.append(n, v);
        }
    }
    Some(RawRequest {
        method,
        target,
        peer,
        headers,
        trailers,
        chunk: chunk.filter(|&n| n > 0),
        fail,
        body: Bytes::copy_from_slice(body),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The body frames of a request: its chunks, its trailers, and the error.
pub type Frames = Vec<Result<http_body::Frame<Bytes>, std::io::Error>>;

impl RawRequest {
    /// The body as frames.
    pub fn frames(&self) -> Frames {
        let mut frames: Frames = Vec::new();
        let size = self.chunk.unwrap_or(usize::MAX);
        let mut at = 0;
        while at < self.body.len() {
            let end = self.body.len().min(at.saturating_add(size));
            frames.push(Ok(http_body::Frame::data(self.body.slice(at..end))));
            at = end;
        }
        if let Some(t) = &self.trailers {
            frames.push(Ok(http_body::Frame::trailers(t.clone())));
        }
        if self.fail {
            frames.push(Err(std::io::Error::other("the client went away")));
        }
        frames
    }

    /// The request, streaming its body frame by frame.
    ///
    /// # Panics
    /// Never: method and target are already valid.
    pub fn to_request(
        &self,
    ) -> Request<http_body_util::StreamBody<futures::stream::Iter<std::vec::IntoIter<FrameResult>>>>
    {
        let body = http_body_util::StreamBody::new(futures::stream::iter(self.frames()));
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.target.clone();
        *req.headers_mut() = self.headers.clone();
        if let Some(addr) = self.peer {
            req.extensions_mut().insert(ClientAddr(addr));
        }
        req
    }

    /// Whether the layer answers a denial as gRPC: by the first
    /// content-type.
    pub fn is_grpc(&self) -> bool {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
    }
}

/// One body frame or the error.
pub type FrameResult = Result<http_body::Frame<Bytes>, std::io::Error>;
