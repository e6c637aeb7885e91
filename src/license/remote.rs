//! Fetching `jwks_url` and `revoked_url`: which URLs are allowed, and the
//! HTTP client (only with the `remote-jwks` feature).

use std::net::IpAddr;
use std::time::Duration;

use super::error::LicenseConfigError;

/// Whether this build can fetch URLs at all.
pub(crate) const ENABLED: bool = cfg!(feature = "remote-jwks");

#[cfg_attr(not(feature = "remote-jwks"), allow(dead_code))]
/// Largest response accepted: a JWKS or a revocation list is far smaller.
pub(crate) const MAX_BODY: u64 = 4 * 1024 * 1024;

/// Checks a configured URL: HTTPS, or plain HTTP to a loopback address
/// (a local test or sidecar server).
pub(crate) fn check_url(
    owner: &str,
    field: &'static str,
    url: &str,
) -> Result<(), LicenseConfigError> {
    let invalid = |detail: &str| LicenseConfigError::RemoteUrl {
        owner: owner.to_owned(),
        field,
        url: url.to_owned(),
        detail: detail.to_owned(),
    };
    let uri: http::Uri = url.parse().map_err(|_| invalid("not an absolute URL"))?;
    let host = uri.host().ok_or_else(|| invalid("not an absolute URL"))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(invalid("credentials in the URL are not accepted"));
    }
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if is_loopback(host) => {}
        Some("http") => {
            return Err(invalid(
                "plain http is accepted only to a loopback address (127.0.0.0/8, ::1, localhost); use https",
            ));
        }
        _ => return Err(invalid("the scheme must be https")),
    }
    Ok(())
}

/// Fails when this build cannot fetch URLs: checked last, so that the
/// other mistakes in a source's settings are reported first.
pub(crate) fn require_feature(owner: &str, field: &'static str) -> Result<(), LicenseConfigError> {
    if !ENABLED {
        return Err(LicenseConfigError::RemoteDisabled {
            owner: owner.to_owned(),
            field,
        });
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `max-age` of a `Cache-Control` header value, if it has one.
#[cfg_attr(not(feature = "remote-jwks"), allow(dead_code))]
pub(crate) fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        let seconds: u64 = value.trim().trim_matches('"').parse().ok()?;
        Some(Duration::from_secs(seconds))
    })
}

/// A fetched document and how long the server says it stays fresh.
pub(crate) struct Fetched {
    pub(crate) body: Vec<u8>,
    pub(crate) max_age: Option<Duration>,
}

/// One background source's HTTP client (connections are reused between
/// refreshes). Redirects are not followed, so the URL fetched is always the
/// one that was checked.
pub(crate) struct Client {
    #[cfg(feature = "remote-jwks")]
    agent: ureq::Agent,
}

impl Client {
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(feature = "remote-jwks")]
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(10)))
                .http_status_as_error(false)
                .max_redirects(0)
                .build()
                .into(),
        }
    }

    /// GETs `url`: a 200 response's body, at most [`MAX_BODY`] bytes.
    #[cfg(feature = "remote-jwks")]
    pub(crate) fn get(&self, url: &str) -> Result<Fetched, String> {
        let mut response = self.agent.get(url).call().map_err(|e| e.to_string())?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("HTTP status {}", response.status()));
        }
        let max_age = response
            .headers()
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(max_age);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        Ok(Fetched { body, max_age })
    }

    /// Without the `remote-jwks` feature a policy naming a URL does not
    /// load, so this is never reached.
    #[cfg(not(feature = "remote-jwks"))]
    pub(crate) fn get(&self, _url: &str) -> Result<Fetched, String> {
        Err("this build does not enable the `remote-jwks` feature".into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_any_directive_position() {
        assert_eq!(max_age("public, max-age=60"), Some(Duration::from_secs(60)));
        assert_eq!(
            max_age("MAX-AGE = 5 , no-transform"),
            Some(Duration::from_secs(5))
        );
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }

    #[test]
    fn only_https_or_loopback_http_is_accepted() {
        let check = |url| check_url("issuer `x`", "jwks_url", url);
        for bad in [
            "http://keys.example.com/jwks.json",
            "http://10.0.0.1/jwks.json",
            "ftp://127.0.0.1/jwks.json",
            "/jwks.json",
            "https://user:pw@keys.example.com/jwks.json",
        ] {
            let err = check(bad).unwrap_err().to_string();
            assert!(
                err.contains("jwks_url") && err.contains("issuer `x`"),
                "{err}"
            );
        }
        for good in [
            "https://keys.example.com/jwks.json",
            "http://127.0.0.1:8080/jwks.json",
            "http://[::1]:8080/jwks.json",
            "http://localhost/jwks.json",
        ] {
            check(good).unwrap();
        }
    }
}
