//! Shared fixtures for the layer tests: policies with a loopback IP table
//! and trusted proxies, demo-issuer license tokens, and a raw HTTP/1.1
//! client for requests a well-behaved client cannot send.
#![allow(dead_code, unreachable_pub)]
// Fixture helpers fail loudly, like the tests that call them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tower_export_control::license::LicenseTrust;
use tower_export_control::policy::DEFAULT_POLICY_TOML;
use tower_export_control::{Gate, IpTable, Policy};

/// The test client's usual address; a US address in [`ip_table`] and a
/// trusted proxy in [`policy`].
pub const US_PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
/// A loopback address the table places in China (not a trusted proxy).
pub const CN_PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
/// A loopback address the table places in Germany (not a trusted proxy).
pub const DE_PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));
/// A loopback address the table places in Iran (not a trusted proxy).
pub const IR_PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 4));

/// The IP-to-country table every layer test uses. Forwarded addresses:
/// `10.1.0.0/16` is CN, `192.0.2.0/24` US, `198.51.100.0/24` DE; the
/// trusted proxies `10.9.0.0/16` are in no country.
pub const IP_TABLE_CSV: &str = "\
127.0.0.1/32,US
127.0.0.2/32,CN
127.0.0.3/32,DE
127.0.0.4/32,IR
10.1.0.0/16,CN
192.0.2.0/24,US
198.51.100.0/24,DE
";

pub const DEMO_ISSUER: &str = "https://demo-licensing.invalid";
pub const DEMO_KID: &str = "demo-2026";
/// The customer the demo licenses are issued to.
pub const LICENSED_CUSTOMER: &str = "acme-cn";

/// The provisioning body limit in the test policies (the default is 64 KiB;
/// a small one keeps the over-limit tests fast).
pub const BODY_LIMIT: usize = 1024;

/// A URL for `link: <…>; rel="blocked-by"`.
pub const BLOCKED_BY: &str = "https://provider.example/legal/export-controls";

pub fn ip_table() -> IpTable {
    let mut b = IpTable::builder();
    b.add_reader("layer-tests", IP_TABLE_CSV.as_bytes())
        .unwrap();
    b.build()
}

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-issuer")
}

/// The default policy text with a small body limit, an optional
/// `blocked_by`, and `[network] trusted_proxies` appended (the default
/// file has no `[network]` table; a table header after
/// `[[http.provisioning_routes]]` starts a new top-level table).
pub fn policy_text(blocked_by: Option<&str>) -> String {
    let http = "[http]\nbody_limit_bytes = 65536\n";
    assert!(DEFAULT_POLICY_TOML.contains(http), "default [http] changed");
    let mut replacement = format!("[http]\nbody_limit_bytes = {BODY_LIMIT}\n");
    if let Some(url) = blocked_by {
        replacement.push_str(&format!("blocked_by = \"{url}\"\n"));
    }
    assert!(!DEFAULT_POLICY_TOML.contains("[network]"));
    format!(
        "{}\n[network]\ntrusted_proxies = [\"127.0.0.1/32\", \"10.9.0.0/16\"]\n",
        DEFAULT_POLICY_TOML.replacen(http, &replacement, 1)
    )
}

/// The test policy: the default rules with trusted proxies.
pub fn build_policy(blocked_by: Option<&str>) -> Policy {
    Policy::from_toml(&policy_text(blocked_by), "layer-test-policy", None).unwrap()
}

/// A gate on `policy` with [`ip_table`] and the demo license issuer.
pub fn gate_with(policy: impl Into<Arc<Policy>>) -> Gate {
    let trust = LicenseTrust::from_toml_path(demo_dir().join("license.toml")).unwrap();
    Gate::new(policy)
        .with_ip_table(ip_table())
        .with_license_trust(trust)
}

static GATE: LazyLock<Gate> = LazyLock::new(|| gate_with(build_policy(None)));

/// The shared enforcing test gate.
pub fn gate() -> Gate {
    GATE.clone()
}

/// The shared test gate's policy.
pub fn policy() -> Arc<Policy> {
    GATE.policy()
}

/// A demo-issuer license for [`LICENSED_CUSTOMER`] in CN, class 3A090.a,
/// at most 64 accelerators, valid for a day from now.
pub fn license(jti: &str) -> String {
    license_with(json!({ "jti": jti }))
}

/// A demo-issuer license; `overrides` replaces or adds claims.
pub fn license_with(overrides: Value) -> String {
    let pem = std::fs::read(demo_dir().join("demo-issuer.key.pem")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = json!({
        "iss": DEMO_ISSUER,
        "sub": LICENSED_CUSTOMER,
        "jti": "LIC-TEST-0001",
        "iat": now,
        "nbf": now - 60,
        "exp": now + 86_400,
        "countries": ["CN"],
        "accelerator_classes": ["3A090.a"],
        "max_accelerators": 64,
    });
    if let (Some(c), Some(o)) = (claims.as_object_mut(), overrides.as_object()) {
        for (k, v) in o {
            c.insert(k.clone(), v.clone());
        }
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(DEMO_KID.to_owned());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RawResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Connects to `addr` from `local` (any port), the way a client on that
/// address would.
pub async fn connect_from(local: IpAddr, addr: SocketAddr) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Sends `head` (request line and headers, without the blank line; a
/// `connection: close` is added) and then each of `body_parts`, and reads
/// the response to the end. Gives up after five seconds.
pub async fn raw_request(
    local: IpAddr,
    addr: SocketAddr,
    head: &str,
    body_parts: &[&[u8]],
) -> RawResponse {
    let work = async {
        let mut stream = connect_from(local, addr).await;
        let head = format!("{}\r\nconnection: close\r\n\r\n", head.trim_end());
        stream.write_all(head.as_bytes()).await.unwrap();
        for part in body_parts {
            // The server may answer and close before reading everything
            // (e.g. a body over the limit): stop sending then.
            if stream.write_all(part).await.is_err() {
                break;
            }
        }
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                // A reset after the whole response arrived is fine.
                Err(e) if !buf.is_empty() => {
                    let _ = e;
                    break;
                }
                Err(e) => panic!("read failed before any response: {e}"),
            }
            if response_complete(&buf) {
                break;
            }
        }
        parse_response(&buf)
    };
    tokio::time::timeout(Duration::from_secs(5), work)
        .await
        .expect("no complete response within 5 s")
}

/// A request in chunked transfer encoding: each part one chunk.
pub fn chunked(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn split_head(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((&buf[..at], &buf[at + 4..]))
}

fn response_complete(buf: &[u8]) -> bool {
    let Some((head, body)) = split_head(buf) else {
        return false;
    };
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().unwrap());
    len.is_some_and(|n| body.len() >= n)
}

fn parse_response(buf: &[u8]) -> RawResponse {
    let (head, body) = split_head(buf)
        .unwrap_or_else(|| panic!("no response head in {:?}", Bytes::from(buf.to_vec())));
    let head = std::str::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let code: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = HeaderMap::new();
    for line in lines {
        let (k, v) = line.split_once(':').unwrap();
        headers.append(
            HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
            HeaderValue::from_str(v.trim()).unwrap(),
        );
    }
    let chunked = headers
        .get(http::header::TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        match headers.get(http::header::CONTENT_LENGTH) {
            Some(n) => body[..n.to_str().unwrap().parse::<usize>().unwrap()].to_vec(),
            None => body.to_vec(),
        }
    };
    RawResponse {
        status: StatusCode::from_u16(code).unwrap(),
        headers,
        body: Bytes::from(body),
    }
}

fn dechunk(mut buf: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let at = buf.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_field = std::str::from_utf8(&buf[..at]).unwrap();
        let size = usize::from_str_radix(size_field.split(';').next().unwrap().trim(), 16).unwrap();
        buf = &buf[at + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..size]);
        buf = &buf[size + 2..];
    }
}

/// Hex SHA-256, for comparing bodies.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
