//! Reading the facts of a request: identity headers, instance type and
//! count from headers and (on provisioning routes) the JSON body.

use http::{HeaderMap, HeaderName, HeaderValue};

use serde_json::Value;

use super::body_json::{JsonError, find_tokens};
use crate::policy::{HttpConfig, ProvisioningRoute};
use crate::{CountryCode, ReasonCode};

/// The most instances one request may ask for.
pub(crate) const MAX_COUNT: u32 = 100_000;

/// What the headers say, validated.
#[derive(Debug, Default)]
pub(crate) struct HeaderFacts {
    pub(crate) declared: Option<CountryCode>,
    pub(crate) headquarters: Option<CountryCode>,
    pub(crate) parent: Option<CountryCode>,
    /// Validated as 1–128 visible ASCII characters.
    customer_id: Option<HeaderValue>,
    pub(crate) instance_type: Option<String>,
    pub(crate) count: Option<u32>,
    /// Kept as the header value: no copy of the token per request.
    license: Option<HeaderValue>,
}

impl HeaderFacts {
    /// The customer id.
    pub(crate) fn customer_id(&self) -> Option<&str> {
        self.customer_id.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The license token; a value that is not UTF-8 stays present (so the
    /// request is `license_invalid`, not `license_required`).
    pub(crate) fn license(&self) -> Option<&str> {
        let v = self.license.as_ref()?;
        Some(std::str::from_utf8(v.as_bytes()).unwrap_or("\u{fffd}"))
    }
}

/// What one pass over a request's headers found.
struct Scan<'h> {
    /// The values of the single-valued input headers, in the order of
    /// [`HttpConfig::input_headers`].
    found: [Option<&'h HeaderValue>; 7],
    /// Whether a header [`strip_forgeries`] may remove (an `x-export-*`
    /// name, a name with `_`, or `Connection`) other than the license
    /// header itself is present.
    suspect: bool,
    /// Whether the license header is present under an `x-export-*` name:
    /// the one forgery-shaped header every licensed request carries,
    /// removed by name without [`strip_forgeries`]' passes.
    license_named: bool,
    protocol: Protocol,
}

/// One pass over the request's headers, cheaper than a hashed lookup per
/// input header and a second pass for forgeries.
fn scan<'h>(headers: &'h HeaderMap, cfg: &HttpConfig) -> Result<Scan<'h>, ReasonCode> {
    let names = cfg.input_headers();
    let mut scan = Scan {
        found: [None; 7],
        suspect: false,
        license_named: false,
        protocol: Protocol::Http,
    };
    let mut content_type = None;
    for (name, value) in headers {
        if *name == http::header::CONNECTION {
            scan.suspect = true;
            continue;
        }
        if *name == http::header::CONTENT_TYPE {
            // The first value, as `HeaderMap::get` gives it.
            content_type.get_or_insert(value);
            continue;
        }
        let bytes = name.as_str().as_bytes();
        let export = is_export(bytes);
        if export && *name == cfg.license_header {
            scan.license_named = true;
        } else if export || bytes.contains(&b'_') {
            scan.suspect = true;
        }
        let Some(i) = names.iter().position(|n| n.as_str().as_bytes() == bytes) else {
            continue;
        };
        if let Some(slot) = scan.found.get_mut(i) {
            if slot.is_some() {
                return Err(ReasonCode::AmbiguousHeader);
            }
            *slot = Some(value);
        }
    }
    scan.protocol = content_type.map_or(Protocol::Http, media_protocol);
    Ok(scan)
}

fn country(v: Option<&HeaderValue>) -> Result<Option<CountryCode>, ReasonCode> {
    v.map(|v| CountryCode::from_bytes(v.as_bytes()).ok_or(ReasonCode::InvalidCountry))
        .transpose()
}

/// 1–128 visible ASCII characters.
pub(crate) fn visible_ascii(bytes: &[u8]) -> bool {
    (1..=128).contains(&bytes.len()) && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

pub(crate) fn parse_count(s: &str) -> Result<u32, ReasonCode> {
    match s.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_COUNT).contains(&n) => Ok(n),
        _ => Err(ReasonCode::InvalidCount),
    }
}

/// What the headers say, and what else reading them found.
#[derive(Debug)]
pub(crate) struct HeaderRead {
    pub(crate) facts: HeaderFacts,
    /// Whether [`strip_forgeries`] has anything to do.
    suspect: bool,
    /// Whether the license header, an `x-export-*` name, is present (see
    /// [`HeaderRead::strip`]).
    license_named: bool,
    pub(crate) protocol: Protocol,
}

/// Reads and validates the identity and instance headers.
pub(crate) fn read_headers(
    headers: &HeaderMap,
    cfg: &HttpConfig,
) -> Result<HeaderRead, ReasonCode> {
    let Scan {
        found:
            [
                country_v,
                headquarters_v,
                parent_v,
                customer_v,
                instance_v,
                count_v,
                license_v,
            ],
        suspect,
        license_named,
        protocol,
    } = scan(headers, cfg)?;
    let declared = country(country_v)?;
    let headquarters = country(headquarters_v)?;
    let parent = country(parent_v)?;
    let customer_id = customer_v
        .map(|v| {
            let ok = visible_ascii(v.as_bytes());
            ok.then(|| v.clone()).ok_or(ReasonCode::InvalidCustomerId)
        })
        .transpose()?;
    let instance_type = instance_v
        .map(|v| {
            let ok = visible_ascii(v.as_bytes());
            let owned = || String::from_utf8_lossy(v.as_bytes()).into_owned();
            ok.then(owned).ok_or(ReasonCode::InstanceTypeMissing)
        })
        .transpose()?;
    let count = count_v
        .map(|v| {
            v.to_str()
                .map_err(|_| ReasonCode::InvalidCount)
                .and_then(parse_count)
        })
        .transpose()?;
    let license = license_v.cloned();
    let facts = HeaderFacts {
        declared,
        headquarters,
        parent,
        customer_id,
        instance_type,
        count,
        license,
    };
    Ok(HeaderRead {
        facts,
        suspect,
        license_named,
        protocol,
    })
}

impl HeaderRead {
    /// Removes what [`strip_forgeries`] would from the headers this was
    /// read from; a request whose only such header is the license header
    /// loses it by name, without a pass over every header.
    pub(crate) fn strip(&self, headers: &mut HeaderMap, cfg: &HttpConfig) {
        if self.suspect {
            strip_forgeries(headers, &cfg.input_headers());
        } else if self.license_named {
            headers.remove(&cfg.license_header);
        }
    }
}

/// The instance type and count a provisioning body names.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BodyFacts {
    pub(crate) instance_type: Option<String>,
    pub(crate) count: Option<u32>,
}

/// Reads the instance type and count from a JSON body at the route's
/// pointers. An empty body names neither.
pub(crate) fn read_body(bytes: &[u8], route: &ProvisioningRoute) -> Result<BodyFacts, ReasonCode> {
    // JSON's whitespace only (RFC 8259 §2): a form feed is not.
    if bytes
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Ok(BodyFacts::default());
    }
    // The search skips members it does not read without checking their
    // text: a body a strict parser refuses must not pass (RFC 8259 §8.1).
    if std::str::from_utf8(bytes).is_err() {
        return Err(ReasonCode::InvalidBody);
    }
    let [instance_type, count] = find_tokens(bytes, &route.tokens).map_err(|e| match e {
        JsonError::Syntax => ReasonCode::InvalidBody,
        JsonError::Duplicate => ReasonCode::AmbiguousInstanceType,
    })?;
    let instance_type = match instance_type {
        None | Some(Value::Null) => None,
        // The header's rule: it reaches tags and logs.
        Some(Value::String(s)) if visible_ascii(s.as_bytes()) => Some(s),
        Some(Value::String(_)) => return Err(ReasonCode::InstanceTypeMissing),
        Some(_) => return Err(ReasonCode::InvalidBody),
    };
    let count = match count {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=u64::from(MAX_COUNT)).contains(&n) => u32::try_from(n).ok(),
            _ => return Err(ReasonCode::InvalidCount),
        },
    };
    Ok(BodyFacts {
        instance_type,
        count,
    })
}

/// Combines header and body: the two must agree on the instance type; the
/// body's count wins over the header's.
pub(crate) fn merge(
    header: &mut HeaderFacts,
    body: BodyFacts,
    provisioning: bool,
) -> Result<(), ReasonCode> {
    match (&header.instance_type, body.instance_type) {
        (Some(h), Some(b)) if *h != b => return Err(ReasonCode::AmbiguousInstanceType),
        (None, Some(b)) => header.instance_type = Some(b),
        _ => {}
    }
    if provisioning && header.instance_type.is_none() {
        return Err(ReasonCode::InstanceTypeMissing);
    }
    if body.count.is_some() {
        header.count = body.count;
    }
    Ok(())
}

/// How a denial must be encoded for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Anything else: a problem document.
    Http,
    /// `application/grpc` or `application/grpc+…`: trailers-only.
    Grpc,
    /// `application/grpc-web…`: trailers-only, in its own content type.
    GrpcWeb,
}

/// The protocol a request speaks, by its content type (parameters and case
/// ignored). `application/grpcfoo` is not gRPC.
pub(crate) fn protocol(headers: &HeaderMap) -> Protocol {
    headers
        .get(http::header::CONTENT_TYPE)
        .map_or(Protocol::Http, media_protocol)
}

/// The protocol a `Content-Type` value names.
fn media_protocol(value: &HeaderValue) -> Protocol {
    let media = value
        .as_bytes()
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default();
    let media = media.trim_ascii();
    let is = |prefix: &[u8]| {
        media.len() >= prefix.len()
            && media
                .get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
            && matches!(media.get(prefix.len()), None | Some(b'+'))
    };
    if is(b"application/grpc") {
        Protocol::Grpc
    } else if is(b"application/grpc-web") || is(b"application/grpc-web-text") {
        Protocol::GrpcWeb
    } else {
        Protocol::Http
    }
}

/// Removes what a client could forge tags with, or drop them with: every
/// `x-export-*` header, headers that become one of ours or an input header
/// when a back end folds `_` into `-` (`x_export_license_id`,
/// `x_customer_country`), and `Connection` tokens naming any of those (a
/// hop-by-hop proxy behind the layer would delete the named headers).
fn strip_forgeries(headers: &mut HeaderMap, inputs: &[&HeaderName]) {
    // A header to remove: ours, or an input header under another spelling.
    let ours = |name: &[u8]| is_export(name) || (name.contains(&b'_') && is_input(name, inputs));
    // A `Connection` token to remove: one naming ours or an input header.
    let named = |token: &[u8]| is_export(token) || is_input(token, inputs);
    strip(headers, ours, named);
}

/// Removes from request trailers every `x-export-*` header and every input
/// header, under any spelling: the request was judged on its headers, and a
/// server that merges trailers into them (tonic's metadata) must not see
/// other values.
pub(crate) fn strip_trailer_forgeries(trailers: &mut HeaderMap, inputs: &[&HeaderName]) {
    let named = |name: &[u8]| is_export(name) || is_input(name, inputs);
    strip(trailers, named, named);
}

/// A byte of a header name as a back end that folds `_` into `-` sees it.
fn folded(b: &u8) -> u8 {
    if *b == b'_' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

/// Whether `name` is (or folds into) an `x-export-*` name.
fn is_export(name: &[u8]) -> bool {
    name.len() >= 9
        && name
            .iter()
            .take(9)
            .map(folded)
            .eq(b"x-export-".iter().copied())
}

/// Whether `name` is (or folds into) one of the input header names.
fn is_input(name: &[u8], inputs: &[&HeaderName]) -> bool {
    inputs.iter().any(|input| {
        let input = input.as_str().as_bytes();
        input.len() == name.len() && name.iter().map(folded).eq(input.iter().copied())
    })
}

/// Removes the headers `ours` names and the `Connection` tokens `named`
/// names.
fn strip(headers: &mut HeaderMap, ours: impl Fn(&[u8]) -> bool, named: impl Fn(&[u8]) -> bool) {
    let forged = headers.keys().any(|k| ours(k.as_str().as_bytes()));
    if forged {
        let names: Vec<HeaderName> = headers
            .keys()
            .filter(|k| ours(k.as_str().as_bytes()))
            .cloned()
            .collect();
        for name in names {
            headers.remove(&name);
        }
    }
    let connection = http::header::CONNECTION;
    let names_ours = headers.get_all(&connection).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|token| named(token.trim_ascii()))
    });
    if names_ours {
        let kept: Vec<&[u8]> = headers
            .get_all(&connection)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|token| !token.is_empty() && !named(token))
            .collect();
        let kept = HeaderValue::from_bytes(&kept.join(&b", "[..])).ok();
        headers.remove(&connection);
        if let Some(value) = kept.filter(|v| !v.is_empty()) {
            headers.insert(connection, value);
        }
    }
}
