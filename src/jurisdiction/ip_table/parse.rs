//! Parsing one line of range or CIDR CSV.

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnetwork::{IpNetworkError, Ipv4Network, Ipv6Network};

use super::error::LineProblem;
use crate::jurisdiction::CountryCode;

/// The addresses of one row, as integers of its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Span {
    V4(u32, u32),
    V6(u128, u128),
}

/// One data line: a range and its country, `None` when the code is not an
/// assigned ISO 3166-1 code (`XK`, `EU`, `ZZ`, `-`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Row {
    pub(super) span: Span,
    pub(super) country: Option<CountryCode>,
}

/// Whether a trimmed line carries no data.
pub(super) fn is_blank_or_comment(line: &str) -> bool {
    line.is_empty() || line.starts_with('#')
}

/// Whether the first data line of a file is a header: its first field has
/// letters but neither `.` nor `:`, so it cannot be an address.
pub(super) fn is_header(line: &str) -> bool {
    let first = field(line.split(',').next().unwrap_or_default());
    first.bytes().any(|b| b.is_ascii_alphabetic()) && !first.contains(['.', ':'])
}

/// Parses a trimmed data line: `start,end,country` or `network,country`.
pub(super) fn parse_row(line: &str) -> Result<Row, LineProblem> {
    let mut fields = line.split(',').map(field);
    let (span, country) = match (fields.next(), fields.next(), fields.next(), fields.next()) {
        (Some(start), Some(end), Some(country), None) => (range(start, end)?, country),
        (Some(network), Some(country), None, None) => (cidr(network)?, country),
        _ => {
            let found = line.split(',').count();
            return Err(LineProblem::Columns { found });
        }
    };
    Ok(Row {
        span,
        country: self::country(country)?,
    })
}

/// A country field is `-` or two ASCII letters or digits; only assigned
/// codes name a country. Anything else, such as an address in a range line
/// that lost its country column, is malformed.
fn country(field: &str) -> Result<Option<CountryCode>, LineProblem> {
    let well_formed =
        field == "-" || (field.len() == 2 && field.bytes().all(|b| b.is_ascii_alphanumeric()));
    if well_formed {
        Ok(CountryCode::from_bytes(field.as_bytes()))
    } else {
        Err(LineProblem::Country {
            field: field.to_owned(),
        })
    }
}

/// A field without surrounding blanks and double quotes.
fn field(raw: &str) -> &str {
    let trimmed = raw.trim();
    trimmed
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .map_or(trimmed, str::trim)
}

fn address(field: &str) -> Result<IpAddr, LineProblem> {
    IpAddr::from_str(field).map_err(|_| LineProblem::Address {
        field: field.to_owned(),
    })
}

fn range(start: &str, end: &str) -> Result<Span, LineProblem> {
    span(address(start)?, address(end)?)
}

fn cidr(field: &str) -> Result<Span, LineProblem> {
    let problem = |reason: String| LineProblem::Network {
        field: field.to_owned(),
        reason,
    };
    let describe = |e: IpNetworkError| problem(e.to_string());
    let (ip, network, last) = if field.contains(':') {
        let net = Ipv6Network::from_str(field).map_err(describe)?;
        (
            IpAddr::V6(net.ip()),
            IpAddr::V6(net.network()),
            IpAddr::V6(net.broadcast()),
        )
    } else {
        let net = Ipv4Network::from_str(field).map_err(describe)?;
        (
            IpAddr::V4(net.ip()),
            IpAddr::V4(net.network()),
            IpAddr::V4(net.broadcast()),
        )
    };
    if ip != network {
        return Err(problem(format!(
            "host bits are set (the network address is {network})"
        )));
    }
    span(network, last)
}

/// Checks a range and converts it to integers. IPv6 ranges that lie inside
/// `::ffff:0:0/96` name IPv4 addresses and become IPv4 ranges.
fn span(start: IpAddr, end: IpAddr) -> Result<Span, LineProblem> {
    let span = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => v4(s, e),
        (IpAddr::V6(s), IpAddr::V6(e)) => match (s.to_ipv4_mapped(), e.to_ipv4_mapped()) {
            (Some(s), Some(e)) => v4(s, e),
            _ => Span::V6(u128::from(s), u128::from(e)),
        },
        _ => return Err(LineProblem::MixedFamilies { start, end }),
    };
    match span {
        Span::V4(s, e) if s > e => Err(LineProblem::StartAfterEnd { start, end }),
        Span::V6(s, e) if s > e => Err(LineProblem::StartAfterEnd { start, end }),
        _ => Ok(span),
    }
}

fn v4(start: Ipv4Addr, end: Ipv4Addr) -> Span {
    Span::V4(u32::from(start), u32::from(end))
}
