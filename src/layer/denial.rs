//! Denials: the typed reason, and the response that carries it
//! (`application/problem+json`, or a gRPC trailers-only answer).

use std::fmt;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use super::read::{Protocol, protocol};
use crate::audit::DecisionId;
use crate::verdict::{Quantity, Verdict};
use crate::{AcceleratorClass, CountryCode, ReasonCode};

/// Why the layer answered a request itself: the [`Verdict`] that refused
/// it. Also placed in the response's extensions, so outer layers can log
/// it.
#[derive(Clone)]
pub struct Denial {
    verdict: Verdict,
}

impl Denial {
    pub(crate) fn new(verdict: Verdict) -> Self {
        Self { verdict }
    }

    /// The whole verdict.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// The decision id, as in the audit record.
    pub fn decision_id(&self) -> DecisionId {
        self.verdict.decision_id()
    }

    /// The stable reason code.
    pub fn reason(&self) -> ReasonCode {
        self.verdict.reason().unwrap_or(ReasonCode::LicenseRequired)
    }

    /// The HTTP status: 451 for a legal block, 400 or 413 for bad input.
    pub fn status(&self) -> StatusCode {
        self.reason().http_status()
    }

    /// A sentence for humans.
    pub fn detail(&self) -> &str {
        self.verdict.detail().unwrap_or_default()
    }

    /// The RFC 9457 problem document.
    pub fn problem_json(&self) -> Bytes {
        #[derive(Serialize)]
        struct Problem<'a> {
            #[serde(rename = "type")]
            kind: String,
            title: &'static str,
            status: u16,
            detail: &'a str,
            reason: ReasonCode,
            decision_id: DecisionId,
            country: Option<CountryCode>,
            headquarters: Option<CountryCode>,
            parent_country: Option<CountryCode>,
            network_country: Option<CountryCode>,
            accelerator_class: Option<AcceleratorClass>,
            instance_type: Option<&'a str>,
            rules: Vec<&'a str>,
            policy: &'a str,
            #[serde(flatten, skip_serializing_if = "Option::is_none")]
            quantity: Option<Quantity>,
        }
        let v = &self.verdict;
        let reason = self.reason();
        let problem = Problem {
            kind: format!("urn:tower-export-control:reason:{reason}"),
            title: reason.title(),
            status: self.status().as_u16(),
            detail: self.detail(),
            reason,
            decision_id: v.decision_id(),
            country: v.declared_country(),
            headquarters: v.headquarters(),
            parent_country: v.parent_country(),
            network_country: v.network_country(),
            accelerator_class: v.evaluated_class().filter(|_| v.instance_type().is_some()),
            instance_type: v.instance_type(),
            rules: v.rules().collect(),
            policy: v.policy().digest(),
            quantity: v.exhausted(),
        };
        serde_json::to_vec(&problem).map_or_else(|_| Bytes::new(), Bytes::from)
    }

    /// The HTTP answer: the status, an `application/problem+json` body,
    /// and on 451 `link: <…>; rel="blocked-by"` when the policy names one.
    pub fn to_http_response(&self) -> Response<Bytes> {
        let mut res = Response::new(self.problem_json());
        *res.status_mut() = self.status();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status() == StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
            && let Some(url) = &self.verdict.policy().http().blocked_by
            && let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"blocked-by\""))
        {
            headers.insert(header::LINK, v);
        }
        res
    }

    /// The gRPC answer: HTTP 200, trailers-only, `grpc-status` 7
    /// (PERMISSION_DENIED) for a legal block, 14 (UNAVAILABLE) when the
    /// ledger could not count the request, or 3 (INVALID_ARGUMENT) for
    /// bad input, and the reason in `grpc-message`.
    pub fn to_grpc_response(&self) -> Response<Bytes> {
        let mut res = Response::new(Bytes::new());
        let reason = self.reason();
        let code = match reason {
            ReasonCode::LedgerUnavailable => "14",
            r if r.is_bad_input() => "3",
            _ => "7",
        };
        let message = format!("{reason}: {}", self.detail());
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert("grpc-status", HeaderValue::from_static(code));
        if let Ok(v) = HeaderValue::from_str(&percent_encode(&message)) {
            headers.insert("grpc-message", v);
        }
        res
    }
}

impl fmt::Debug for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Denial").field(&self.verdict).finish()
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.reason(),
            self.status().as_u16(),
            self.detail()
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
/// [`ExportControlLayer::with_denial_response`](super::ExportControlLayer::with_denial_response).
/// Implemented for closures `Fn(&Denial, &request::Parts) -> Response<Bytes>`.
pub trait MakeDenialResponse: Send + Sync + 'static {
    /// The response to send instead of calling the inner service, for the
    /// request whose head is `request`.
    fn make_response(&self, denial: &Denial, request: &Parts) -> Response<Bytes>;
}

impl<F> MakeDenialResponse for F
where
    F: Fn(&Denial, &Parts) -> Response<Bytes> + Send + Sync + 'static,
{
    fn make_response(&self, denial: &Denial, request: &Parts) -> Response<Bytes> {
        self(denial, request)
    }
}

/// The default: [`Denial::to_grpc_response`] for gRPC requests (for
/// gRPC-web in the request's content type, whose trailers-only answers also
/// carry `grpc-status` in the headers), [`Denial::to_http_response`] for the
/// others.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DefaultDenial;

impl MakeDenialResponse for DefaultDenial {
    fn make_response(&self, denial: &Denial, request: &Parts) -> Response<Bytes> {
        match protocol(&request.headers) {
            Protocol::Http => denial.to_http_response(),
            Protocol::Grpc => denial.to_grpc_response(),
            Protocol::GrpcWeb => {
                let mut res = denial.to_grpc_response();
                let content_type = request.headers.get(header::CONTENT_TYPE).and_then(|v| {
                    let media = v.to_str().ok()?.split(';').next()?.trim();
                    HeaderValue::from_str(media).ok()
                });
                if let Some(v) = content_type {
                    res.headers_mut().insert(header::CONTENT_TYPE, v);
                }
                res
            }
        }
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
