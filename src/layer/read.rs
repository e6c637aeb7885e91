//! Reading the facts of a request: identity headers, instance type and
//! count from headers and (on provisioning routes) the JSON body.

use http::{HeaderMap, HeaderName, HeaderValue};

use serde_json::Value;

use super::body_json::{JsonError, find};
use crate::policy::{HttpConfig, ProvisioningRoute};
use crate::{CountryCode, ReasonCode};

/// The most instances one request may ask for.
pub(crate) const MAX_COUNT: u32 = 100_000;

/// What the headers say, validated.
#[derive(Debug, Default)]
pub(crate) struct HeaderFacts {
    pub(crate) declared: Option<CountryCode>,
    pub(crate) headquarters: Option<CountryCode>,
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

/// The values of the six single-valued input headers, found in one pass
/// over the request's headers (cheaper than six hashed lookups).
fn singles<'h>(
    headers: &'h HeaderMap,
    cfg: &HttpConfig,
) -> Result<[Option<&'h HeaderValue>; 6], ReasonCode> {
    let names = [
        &cfg.country_header,
        &cfg.headquarters_header,
        &cfg.customer_id_header,
        &cfg.instance_type_header,
        &cfg.instance_count_header,
        &cfg.license_header,
    ];
    let mut found: [Option<&HeaderValue>; 6] = [None; 6];
    for (name, value) in headers {
        let Some(i) = names.iter().position(|n| *n == name) else {
            continue;
        };
        if let Some(slot) = found.get_mut(i) {
            if slot.is_some() {
                return Err(ReasonCode::AmbiguousHeader);
            }
            *slot = Some(value);
        }
    }
    Ok(found)
}

fn country(v: Option<&HeaderValue>) -> Result<Option<CountryCode>, ReasonCode> {
    v.map(|v| CountryCode::from_bytes(v.as_bytes()).ok_or(ReasonCode::InvalidCountry))
        .transpose()
}

/// 1–128 visible ASCII characters.
fn visible_ascii(bytes: &[u8]) -> bool {
    (1..=128).contains(&bytes.len()) && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

pub(crate) fn parse_count(s: &str) -> Result<u32, ReasonCode> {
    match s.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_COUNT).contains(&n) => Ok(n),
        _ => Err(ReasonCode::InvalidCount),
    }
}

/// Reads and validates the identity and instance headers.
pub(crate) fn read_headers(
    headers: &HeaderMap,
    cfg: &HttpConfig,
) -> Result<HeaderFacts, ReasonCode> {
    let [
        country_v,
        headquarters_v,
        customer_v,
        instance_v,
        count_v,
        license_v,
    ] = singles(headers, cfg)?;
    let declared = country(country_v)?;
    let headquarters = country(headquarters_v)?;
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
    Ok(HeaderFacts {
        declared,
        headquarters,
        customer_id,
        instance_type,
        count,
        license,
    })
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
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(BodyFacts::default());
    }
    let pointers = [
        route.instance_type_pointer.as_str(),
        route.count_pointer.as_str(),
    ];
    let [instance_type, count] = find(bytes, pointers).map_err(|e| match e {
        JsonError::Syntax => ReasonCode::InvalidBody,
        JsonError::Duplicate => ReasonCode::AmbiguousInstanceType,
    })?;
    let instance_type = match instance_type {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let chars = s.chars().count();
            if !(1..=128).contains(&chars) {
                return Err(ReasonCode::InstanceTypeMissing);
            }
            Some(s)
        }
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

/// Whether the request is gRPC (answered with trailers, not a problem body).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Removes every `x-export-*` header, so a client can never forge a tag.
pub(crate) fn strip_export_headers(headers: &mut HeaderMap) {
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-export-"))
        .cloned()
        .collect();
    for name in forged {
        headers.remove(&name);
    }
}
