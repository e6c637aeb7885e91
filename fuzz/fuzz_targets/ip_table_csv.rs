//! Arbitrary bytes as an IP-to-country table: no panic; when they load, a
//! lookup agrees with a slow reference: an address belongs to the smallest
//! row containing it, the later row among equals.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use tower_export_control::{CountryCode, IpTable};

/// One row as the reference reads it: an inclusive range in one family
/// (IPv4 as `u32` widened, IPv6 as `u128`), and its country.
#[derive(Debug, Clone, Copy)]
struct Row {
    v6: bool,
    start: u128,
    end: u128,
    country: Option<CountryCode>,
}

fn field(raw: &str) -> &str {
    let t = raw.trim();
    t.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .map_or(t, str::trim)
}

fn bits(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (false, u128::from(u32::from(v4))),
            None => (true, u128::from(v6)),
        },
    }
}

/// A range row, or `None` where the reference does not follow the library
/// (its parser is simpler); the comparison is then skipped.
fn span(start: IpAddr, end: IpAddr) -> Option<(bool, u128, u128)> {
    match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => Some((false, u32::from(s).into(), u32::from(e).into())),
        (IpAddr::V6(s), IpAddr::V6(e)) => match (s.to_ipv4_mapped(), e.to_ipv4_mapped()) {
            (Some(s), Some(e)) => Some((false, u32::from(s).into(), u32::from(e).into())),
            _ => Some((true, u128::from(s), u128::from(e))),
        },
        _ => None,
    }
}

fn cidr(f: &str) -> Option<(bool, u128, u128)> {
    let (addr, prefix) = match f.split_once('/') {
        Some((a, p)) => {
            if p.is_empty()
                || !p.bytes().all(|b| b.is_ascii_digit())
                || (p.len() > 1 && p.starts_with('0'))
            {
                return None;
            }
            (a, Some(p.parse::<u32>().ok()?))
        }
        None => (f, None),
    };
    let (ip, width): (IpAddr, u32) = if f.contains(':') {
        (IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?), 128)
    } else {
        (IpAddr::V4(addr.parse::<Ipv4Addr>().ok()?), 32)
    };
    let prefix = prefix.unwrap_or(width);
    if prefix > width {
        return None;
    }
    let raw = match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    };
    // The host bits: the low `width - prefix` bits.
    let all = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    let host = all.checked_shr(prefix).unwrap_or(0);
    if raw & host != 0 {
        return None;
    }
    let (start, end) = match ip {
        IpAddr::V4(_) => (
            IpAddr::V4(Ipv4Addr::from(u32::try_from(raw).ok()?)),
            IpAddr::V4(Ipv4Addr::from(u32::try_from(raw | host).ok()?)),
        ),
        IpAddr::V6(_) => (
            IpAddr::V6(Ipv6Addr::from(raw)),
            IpAddr::V6(Ipv6Addr::from(raw | host)),
        ),
    };
    span(start, end)
}

/// The rows of a plain-text table, or `None` where the reference cannot
/// follow.
fn reference_rows(text: &str) -> Option<Vec<Row>> {
    let mut rows = Vec::new();
    let mut seen_data = false;
    for line in text.split('\n') {
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !seen_data {
            seen_data = true;
            let first = field(line.split(',').next().unwrap_or_default());
            if first.bytes().any(|b| b.is_ascii_alphabetic()) && !first.contains(['.', ':']) {
                continue;
            }
        }
        let fields: Vec<&str> = line.split(',').map(field).collect();
        let ((v6, start, end), country) = match fields.as_slice() {
            [s, e, c] => (span(s.parse().ok()?, e.parse().ok()?)?, *c),
            [n, c] => (cidr(n)?, *c),
            _ => return None,
        };
        if start > end {
            return None;
        }
        let well_formed = country == "-"
            || (country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !well_formed {
            return None;
        }
        rows.push(Row {
            v6,
            start,
            end,
            country: CountryCode::from_bytes(country.as_bytes()),
        });
    }
    Some(rows)
}

/// The reference answer: the smallest row containing `ip`, the later of
/// equals.
fn expected(rows: &[Row], ip: IpAddr) -> Option<CountryCode> {
    let (v6, x) = bits(ip);
    let mut best: Option<&Row> = None;
    for r in rows
        .iter()
        .filter(|r| r.v6 == v6 && r.start <= x && x <= r.end)
    {
        if best.is_none_or(|b| r.end - r.start <= b.end - b.start) {
            best = Some(r);
        }
    }
    best.and_then(|r| r.country)
}

fn addr(v6: bool, x: u128) -> Vec<IpAddr> {
    if v6 {
        vec![IpAddr::V6(Ipv6Addr::from(x))]
    } else {
        let v4 = Ipv4Addr::from(u32::try_from(x).unwrap_or(u32::MAX));
        vec![IpAddr::V4(v4), IpAddr::V6(v4.to_ipv6_mapped())]
    }
}

const FIXED: [&str; 8] = [
    "0.0.0.0",
    "1.2.3.4",
    "255.255.255.255",
    "::",
    "::1",
    "2001:db8::1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "::ffff:10.1.2.3",
];

fuzz_target!(|data: &[u8]| {
    let mut builder = IpTable::builder();
    if let Err(e) = builder.add_reader("fuzz", data) {
        let _ = e.to_string();
        return;
    }
    let table = builder.build();
    let _ = format!("{table:?}");
    let fixed = FIXED.iter().filter_map(|s| s.parse::<IpAddr>().ok());
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    let rows = if gzip {
        None
    } else {
        std::str::from_utf8(data).ok().and_then(reference_rows)
    };
    let Some(rows) = rows else {
        for ip in fixed {
            let _ = table.lookup(ip);
        }
        return;
    };
    assert_eq!(table.len(), rows.len(), "row count");
    assert_eq!(
        table.unassigned_rows(),
        rows.iter().filter(|r| r.country.is_none()).count(),
        "unassigned rows"
    );
    let max = if rows.iter().any(|r| r.v6) {
        u128::MAX
    } else {
        u128::from(u32::MAX)
    };
    let mut probes: Vec<IpAddr> = fixed.collect();
    for r in rows.iter().take(64) {
        let max = if r.v6 { max } else { u128::from(u32::MAX) };
        for x in [
            Some(r.start),
            Some(r.end),
            r.start.checked_sub(1),
            r.end.checked_add(1).filter(|x| *x <= max),
        ]
        .into_iter()
        .flatten()
        {
            probes.extend(addr(r.v6, x));
        }
    }
    for ip in probes {
        let want = expected(&rows, ip);
        let got = table.lookup(ip);
        assert_eq!(got, want, "lookup({ip}) on rows {rows:?}");
    }
});
