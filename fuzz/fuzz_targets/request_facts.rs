//! Arbitrary identity headers, peer address, method and path (a request
//! written as text, see `fuzz_support::RawRequest`; no body) through the
//! whole layer (trusted proxies, a small IP table): no panic; a request
//! that reaches the inner service is tagged, carries only the `x-export-*`
//! headers the layer wrote from its tags, and was judged on the facts its
//! headers and peer give.
#![no_main]

use std::sync::LazyLock;

use bytes::Bytes;
use fuzz_support::{
    Answer, RawRequest, canonical, check_passed, check_status, is_trusted_proxy, parse_request,
};
use http::HeaderMap;
use libfuzzer_sys::fuzz_target;
use tower_export_control::{CountryCode, ExportControlLayer, IpTable, Outcome};

static LAYER: LazyLock<ExportControlLayer> = LazyLock::new(fuzz_support::layer);
static TABLE: LazyLock<IpTable> = LazyLock::new(fuzz_support::ip_table);

/// The single value of `name`, as the layer requires.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    headers.get(name).map(|v| v.as_bytes())
}

fn check(raw: &RawRequest, answer: &Answer) -> Result<(), String> {
    check_status(answer, raw.is_grpc())?;
    let (peer, headers) = (raw.peer, &raw.headers);
    let Some(seen) = &answer.seen else {
        return Ok(());
    };
    let tags = check_passed(seen)?;
    let v = tags.verdict();
    if tags.outcome() == Outcome::AllowLicensed {
        return Err("allowed on a license no one signed".into());
    }
    let declared = single(headers, "x-customer-country").map(CountryCode::from_bytes);
    if declared.is_some_and(|c| c.is_none()) || declared.flatten() != v.declared_country() {
        return Err(format!(
            "declared country {:?}, header {declared:?}",
            v.declared_country()
        ));
    }
    let hq = single(headers, "x-customer-headquarters").map(CountryCode::from_bytes);
    if hq.is_some_and(|c| c.is_none()) || hq.flatten() != v.headquarters() {
        return Err(format!(
            "headquarters {:?}, header {hq:?}",
            v.headquarters()
        ));
    }
    if let Some(t) = single(headers, "x-instance-type")
        && Some(t) != v.instance_type().map(str::as_bytes)
    {
        return Err(format!(
            "instance type {:?}, header {t:?}",
            v.instance_type()
        ));
    }
    if let Some(n) = single(headers, "x-instance-count") {
        let parsed = std::str::from_utf8(n)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        if parsed != Some(v.instance_count()) {
            return Err(format!(
                "instance count {}, header {n:?}",
                v.instance_count()
            ));
        }
    }
    // The peer is the client unless it is a trusted proxy.
    let peer = peer.map(|a| canonical(a.ip()));
    let forwarded = headers.contains_key("x-forwarded-for");
    match peer {
        None if v.network_country().is_some() => {
            return Err("a network country without a client address".into());
        }
        Some(ip)
            if !(is_trusted_proxy(ip) && forwarded) && v.network_country() != TABLE.lookup(ip) =>
        {
            return Err(format!(
                "network country {:?} for {ip}",
                v.network_country()
            ));
        }
        _ => {}
    }
    // Embargoed countries are never served.
    for c in [v.declared_country(), v.network_country()]
        .into_iter()
        .flatten()
    {
        if ["IR", "KP", "SY", "CU"].contains(&c.as_str()) {
            return Err(format!("passed on for {c}"));
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    // Headers only: the body, trailers and flags are `layer_request`'s.
    let Some(mut raw) = parse_request(data) else {
        return;
    };
    raw.body = Bytes::new();
    raw.trailers = None;
    raw.fail = false;
    let answer = fuzz_support::send(&LAYER, raw.to_request());
    if let Err(problem) = check(&raw, &answer) {
        panic!("{problem}\nrequest: {raw:?}\nanswer: {answer:?}");
    }
});
