//! Denials: the typed reason, and the response that carries it
//! (`application/problem+json`, or a gRPC trailers-only answer).

use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::audit::DecisionId;
use crate::policy::Decision;
use crate::{AcceleratorClass, CountryCode, ReasonCode};

/// Why the layer answered a request itself. Also placed in the response's
/// extensions, so outer layers can log it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// The decision id, as in the audit record.
    pub decision_id: DecisionId,
    /// The stable reason code.
    pub reason: ReasonCode,
    /// The HTTP status (451, 400 or 413).
    #[serde(serialize_with = "status_code")]
    pub status: StatusCode,
    /// A sentence for humans.
    pub detail: String,
    /// The declared country.
    pub country: Option<CountryCode>,
    /// The headquarters country.
    pub headquarters: Option<CountryCode>,
    /// The network country.
    pub network_country: Option<CountryCode>,
    /// The accelerator class, when decided.
    pub accelerator_class: Option<AcceleratorClass>,
    /// The instance type, when known.
    pub instance_type: Option<String>,
    /// The rules that decided.
    pub rules: Vec<String>,
    /// The policy digest.
    pub policy: String,
    /// `link: <…>; rel="blocked-by"` target for 451 answers.
    #[serde(skip)]
    pub blocked_by: Option<String>,
    /// Whether the request was gRPC.
    #[serde(skip)]
    pub grpc: bool,
}

fn status_code<S: serde::Serializer>(s: &StatusCode, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_u16(s.as_u16())
}

impl Denial {
    /// A rejection of malformed input, before any decision.
    pub(crate) fn bad_input(
        decision_id: DecisionId,
        reason: ReasonCode,
        detail: String,
        policy: &crate::Policy,
        grpc: bool,
    ) -> Self {
        Self {
            decision_id,
            reason,
            status: reason.http_status(),
            detail,
            country: None,
            headquarters: None,
            network_country: None,
            accelerator_class: None,
            instance_type: None,
            rules: Vec::new(),
            policy: policy.digest().to_owned(),
            blocked_by: None,
            grpc,
        }
    }

    /// A legal block after a decision.
    pub(crate) fn blocked(
        decision_id: DecisionId,
        d: &Decision<'_>,
        reason: ReasonCode,
        detail: String,
        grpc: bool,
    ) -> Self {
        let f = d.facts();
        let acc = d.accelerators();
        Self {
            decision_id,
            reason,
            status: reason.http_status(),
            detail,
            country: f.declared_country,
            headquarters: f.headquarters,
            network_country: f.network_country,
            accelerator_class: Some(acc.evaluated_class).filter(|_| acc.instance_type.is_some()),
            instance_type: acc.instance_type.map(str::to_owned),
            rules: d.deciding_rules().map(str::to_owned).collect(),
            policy: d.policy().digest().to_owned(),
            blocked_by: d.policy().http().blocked_by.clone(),
            grpc,
        }
    }

    /// The RFC 9457 problem document.
    pub fn problem_json(&self) -> Bytes {
        #[derive(Serialize)]
        struct Problem<'a> {
            #[serde(rename = "type")]
            kind: String,
            title: &'static str,
            #[serde(flatten)]
            denial: &'a Denial,
        }
        let problem = Problem {
            kind: format!("urn:tower-export-control:reason:{}", self.reason),
            title: self.reason.title(),
            denial: self,
        };
        serde_json::to_vec(&problem).map_or_else(|_| Bytes::new(), Bytes::from)
    }

    /// The default response: a problem document, or for gRPC a
    /// trailers-only answer with `grpc-status` 7 (legal block) or 3 (bad
    /// input).
    pub fn to_response(&self) -> Response<Bytes> {
        let mut res = Response::new(Bytes::new());
        if self.grpc {
            let code = if self.reason.is_bad_input() { "3" } else { "7" };
            let message = format!("{}: {}", self.reason, self.detail);
            let headers = res.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            headers.insert("grpc-status", HeaderValue::from_static(code));
            if let Ok(v) = HeaderValue::from_str(&percent_encode(&message)) {
                headers.insert("grpc-message", v);
            }
            return res;
        }
        *res.status_mut() = self.status;
        *res.body_mut() = self.problem_json();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
            && let Some(url) = &self.blocked_by
            && let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"blocked-by\""))
        {
            headers.insert(header::LINK, v);
        }
        res
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.reason,
            self.status.as_u16(),
            self.detail
        )
    }
}

/// gRPC's percent-encoding of `grpc-message`: bytes outside 0x20–0x7E and
/// `%` itself are encoded.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds the response for a denial; replace the default with
/// [`ExportControlLayer::deny_with`](super::ExportControlLayer::deny_with).
/// Implemented for closures `Fn(&Denial) -> Response<Bytes>`.
pub trait MakeDenialResponse: Send + Sync + 'static {
    /// The response to send instead of calling the inner service.
    fn make_response(&self, denial: &Denial) -> Response<Bytes>;
}

impl<F> MakeDenialResponse for F
where
    F: Fn(&Denial) -> Response<Bytes> + Send + Sync + 'static,
{
    fn make_response(&self, denial: &Denial) -> Response<Bytes> {
        self(denial)
    }
}

/// The default: [`Denial::to_response`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DefaultDenial;

impl MakeDenialResponse for DefaultDenial {
    fn make_response(&self, denial: &Denial) -> Response<Bytes> {
        denial.to_response()
    }
}

#[cfg(test)]
mod tests {
    use super::percent_encode;

    #[test]
    fn grpc_message_encoding() {
        assert_eq!(percent_encode("a b%c"), "a b%25c");
        assert_eq!(percent_encode("ü\n"), "%C3%BC%0A");
    }
}
