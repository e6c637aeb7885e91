//! An IP-address-to-country table.
//!
//! # Input
//!
//! Text files, plain or gzip-compressed (recognised by the gzip magic bytes,
//! not the file name), one row a line, in either layout, chosen per line:
//!
//! - range CSV, `start,end,CC`: an inclusive range, e.g.
//!   `1.0.1.0,1.0.3.255,CN` (the layout of ip-location-db and DB-IP Lite);
//! - CIDR CSV, `network,CC`: e.g. `1.0.1.0/24,CN` (host bits must be zero).
//!
//! Fields may be wrapped in double quotes and surrounded by blanks. Blank
//! lines and lines starting with `#` are skipped, and so is a header: a first
//! data line whose first field has letters but no `.` or `:`. IPv4 and IPv6
//! rows may share a file. The country is `-` or two letters or digits, in
//! any case; one that is not an assigned ISO 3166-1 code (`XK`, `AN`, `EU`,
//! `ZZ`, `-`, ...) is not an error: its range maps to no country, and
//! [`IpTable::unassigned_rows`] counts such rows. Any other malformed line is
//! an [`IpTableError::Line`] naming the input and the line.
//!
//! # Overlaps
//!
//! An address belongs to the smallest range (or network) containing it. Of
//! equally small ranges containing it, the one loaded last wins: the later
//! line, or the line of the file added later. An unassigned row wins like any
//! other, so it can carve a no-country hole in a larger range.
//!
//! # IPv4-mapped IPv6
//!
//! An IPv4-mapped address `::ffff:a.b.c.d` is looked up as the IPv4 address
//! `a.b.c.d`, and an IPv6 row lying inside `::ffff:0:0/96` is loaded as the
//! IPv4 range it names.
//!
//! # Memory layout
//!
//! Building splits the address space into disjoint segments, gaps included
//! as no-country segments, each stored as its first address and a one-byte
//! country code. Segments are grouped by the /16 their first address lies
//! in: a direct index of 65,537 `u32` offsets per family (256 KiB, fixed)
//! finds the group, and a binary search within it finds the segment. IPv4
//! keeps only the lower 16 bits of each start (2 bytes). Almost every IPv6
//! boundary in real data is /64-aligned, so IPv6 keeps only the /64 block
//! (8 bytes); the rare blocks holding several countries are marked and
//! looked up again in a small table keyed by the full address. On the whole
//! Internet table (550,668 ranges) this takes about 7.5 bytes per range.

mod buckets;
mod builder;
mod error;
mod flatten;
mod palette;
mod parse;
mod read;
mod v4;
mod v6;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

pub use builder::IpTableBuilder;
pub use error::{IpTableError, LineProblem};

use crate::jurisdiction::CountryCode;
use palette::Palette;
use v4::V4Table;
use v6::V6Table;

/// Maps IPv4 and IPv6 addresses to countries. See the [module
/// documentation](self) for input formats and overlap rules.
pub struct IpTable {
    v4: V4Table,
    v6: V6Table,
    palette: Palette,
    v4_ranges: usize,
    v6_ranges: usize,
    unassigned_rows: usize,
}

impl IpTable {
    /// A builder to load one or more inputs.
    pub fn builder() -> IpTableBuilder {
        IpTableBuilder::new()
    }

    /// Loads and combines the given files.
    ///
    /// # Errors
    /// The first error from [`IpTableBuilder::add_path`].
    pub fn from_paths<P: AsRef<Path>>(
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Self, IpTableError> {
        let mut builder = Self::builder();
        for path in paths {
            builder.add_path(path)?;
        }
        Ok(builder.build())
    }

    /// A table that maps every address to no country.
    pub fn empty() -> Self {
        Self::builder().build()
    }

    /// The country of an address, if any.
    #[inline]
    pub fn lookup(&self, address: IpAddr) -> Option<CountryCode> {
        match address {
            IpAddr::V4(v4) => self.lookup_v4(v4),
            IpAddr::V6(v6) => self.lookup_v6(v6),
        }
    }

    /// The country of an IPv4 address, if any.
    #[inline]
    pub fn lookup_v4(&self, address: Ipv4Addr) -> Option<CountryCode> {
        self.palette.country(self.v4.find(u32::from(address)))
    }

    /// The country of an IPv6 address, if any. IPv4-mapped addresses are
    /// looked up as IPv4.
    #[inline]
    pub fn lookup_v6(&self, address: Ipv6Addr) -> Option<CountryCode> {
        match address.to_ipv4_mapped() {
            Some(v4) => self.lookup_v4(v4),
            None => self.palette.country(self.v6.find(u128::from(address))),
        }
    }

    /// Number of ranges (rows) loaded, IPv4 and IPv6, including unassigned
    /// ones.
    pub fn len(&self) -> usize {
        self.v4_ranges + self.v6_ranges
    }

    /// Whether no range was loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of rows loaded whose country is not an assigned ISO 3166-1 code;
    /// their addresses map to no country.
    pub fn unassigned_rows(&self) -> usize {
        self.unassigned_rows
    }

    /// Heap memory held by the table, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes() + self.palette.heap_bytes()
    }
}

impl Default for IpTable {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for IpTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (v6_coarse, v6_fine) = self.v6.len();
        f.debug_struct("IpTable")
            .field("ipv4_ranges", &self.v4_ranges)
            .field("ipv6_ranges", &self.v6_ranges)
            .field("unassigned_rows", &self.unassigned_rows)
            .field("ipv4_segments", &self.v4.len())
            .field("ipv6_segments", &v6_coarse)
            .field("ipv6_fine_segments", &v6_fine)
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}
