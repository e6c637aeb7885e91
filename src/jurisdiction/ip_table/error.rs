//! Errors raised while loading IP-to-country data.

use std::io;
use std::net::IpAddr;

/// Loading an IP-to-country file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpTableError {
    /// The file could not be opened, read or decompressed.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file name, or the name given to
        /// [`add_reader`](super::IpTableBuilder::add_reader).
        file: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A line is malformed.
    #[error("{file}:{line}: {problem}")]
    Line {
        /// The file name, or the name given to
        /// [`add_reader`](super::IpTableBuilder::add_reader).
        file: String,
        /// The 1-based line number.
        line: u64,
        /// What is wrong with the line.
        problem: LineProblem,
    },
}

/// What is wrong with a malformed line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineProblem {
    /// Neither `network,country` nor `start,end,country`.
    #[error("expected `network,country` or `start,end,country`, found {found} fields")]
    Columns {
        /// The number of comma-separated fields on the line.
        found: usize,
    },
    /// A range bound is not an IP address.
    #[error("`{field}` is not an IP address")]
    Address {
        /// The offending field.
        field: String,
    },
    /// A network field is not a valid CIDR network.
    #[error("`{field}` is not a network: {reason}")]
    Network {
        /// The offending field.
        field: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The country field is neither `-` nor two letters or digits.
    #[error("`{field}` is not a country code")]
    Country {
        /// The offending field.
        field: String,
    },
    /// The range ends before it starts.
    #[error("range start {start} is after its end {end}")]
    StartAfterEnd {
        /// The first address of the range.
        start: IpAddr,
        /// The last address of the range.
        end: IpAddr,
    },
    /// One bound is IPv4 and the other IPv6.
    #[error("range mixes IPv4 and IPv6: {start} to {end}")]
    MixedFamilies {
        /// The first address of the range.
        start: IpAddr,
        /// The last address of the range.
        end: IpAddr,
    },
    /// The line is longer than any valid line could be.
    #[error("line is longer than {limit} bytes")]
    TooLong {
        /// The longest line accepted, in bytes.
        limit: usize,
    },
    /// The line is not UTF-8 text.
    #[error("line is not valid UTF-8")]
    NotUtf8,
}
