//! Tests of `IpTable` through its public API, against a naive reference.
// A failing test panics; that is how it reports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Instant;

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use tower_export_control::CountryCode;
use tower_export_control::jurisdiction::LineProblem;
use tower_export_control::jurisdiction::{IpTable, IpTableError};

// ---------------------------------------------------------- test utilities

fn table(name: &str, text: &str) -> IpTable {
    table_from_bytes(name, text.as_bytes())
}

fn table_from_bytes(name: &str, bytes: &[u8]) -> IpTable {
    let mut builder = IpTable::builder();
    builder.add_reader(name, bytes).unwrap();
    builder.build()
}

fn load_error(name: &str, text: &[u8]) -> IpTableError {
    IpTable::builder()
        .add_reader(name, text)
        .map(|_| ())
        .unwrap_err()
}

fn cc(code: &str) -> Option<CountryCode> {
    Some(CountryCode::parse(code).unwrap())
}

fn at(table: &IpTable, address: &str) -> Option<CountryCode> {
    table.lookup(address.parse().unwrap())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A file under Cargo's scratch directory for integration tests.
fn scratch_file(name: &str, contents: &[u8]) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// An address of either family from its integer value.
fn ip(v6: bool, x: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(x))
    } else {
        IpAddr::V4(Ipv4Addr::from(x as u32))
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn u128(&mut self) -> u128 {
        (u128::from(self.next()) << 64) | u128::from(self.next())
    }
}

// ---------------------------------------------------------- the reference

/// One row as the reference sees it: integers of one family.
#[derive(Clone, Copy, Debug)]
struct RefRow {
    v6: bool,
    start: u128,
    end: u128,
    country: Option<CountryCode>,
}

impl RefRow {
    fn new(start: IpAddr, end: IpAddr, code: &str) -> Self {
        let country = CountryCode::parse(code).ok();
        let v4 =
            |s: Ipv4Addr, e: Ipv4Addr| (false, u128::from(u32::from(s)), u128::from(u32::from(e)));
        let (v6, start, end) = match (start, end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => v4(s, e),
            (IpAddr::V6(s), IpAddr::V6(e)) => match (s.to_ipv4_mapped(), e.to_ipv4_mapped()) {
                (Some(s), Some(e)) => v4(s, e),
                _ => (true, u128::from(s), u128::from(e)),
            },
            _ => panic!("mixed families in a reference row"),
        };
        Self {
            v6,
            start,
            end,
            country,
        }
    }
}

/// Rows sorted by start with the running maximum of their ends: a lookup
/// walks back from the last row starting at or below the address until no
/// earlier row can reach it, and keeps the smallest, latest covering row.
struct Reference {
    families: [Family; 2],
}

struct Family {
    /// (start, end, load order, country)
    rows: Vec<(u128, u128, usize, Option<CountryCode>)>,
    max_end: Vec<u128>,
}

impl Reference {
    fn new(rows: &[RefRow]) -> Self {
        let family = |v6: bool| {
            let mut rows: Vec<_> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.v6 == v6)
                .map(|(order, r)| (r.start, r.end, order, r.country))
                .collect();
            rows.sort_by_key(|r| (r.0, r.2));
            let max_end = rows
                .iter()
                .scan(0, |max, r| {
                    *max = r.1.max(*max);
                    Some(*max)
                })
                .collect();
            Family { rows, max_end }
        };
        Self {
            families: [family(false), family(true)],
        }
    }

    fn lookup(&self, address: IpAddr) -> Option<CountryCode> {
        let (v6, x) = match address {
            IpAddr::V4(a) => (false, u128::from(u32::from(a))),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(a) => (false, u128::from(u32::from(a))),
                None => (true, u128::from(a)),
            },
        };
        let family = &self.families[usize::from(v6)];
        let mut best: Option<(u128, usize, Option<CountryCode>)> = None;
        let mut i = family.rows.partition_point(|r| r.0 <= x);
        while i > 0 && family.max_end[i - 1] >= x {
            i -= 1;
            let (start, end, order, country) = family.rows[i];
            let span = end - start;
            if end >= x && best.is_none_or(|(s, o, _)| span < s || (span == s && order > o)) {
                best = Some((span, order, country));
            }
        }
        best.and_then(|(_, _, country)| country)
    }
}

/// Parses `start,end,CC` lines, skipping `#` comments: the layout of the
/// excerpt and the shared data.
fn reference_rows(text: &str) -> Vec<RefRow> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let [start, end, code] = fields[..] else {
                panic!("unexpected line {line:?}")
            };
            RefRow::new(start.parse().unwrap(), end.parse().unwrap(), code)
        })
        .collect()
}

/// Addresses where mistakes show: range bounds and their neighbours, points
/// inside ranges, and uniform addresses (IPv6 in 2000::/3, where data is).
fn probe(rng: &mut Rng, rows: &[RefRow]) -> IpAddr {
    let row = rows[rng.below(rows.len())];
    let width = if row.v6 {
        u128::MAX
    } else {
        u128::from(u32::MAX)
    };
    match rng.below(8) {
        0 => ip(row.v6, row.start),
        1 => ip(row.v6, row.end),
        2 => ip(row.v6, row.start.wrapping_sub(1) & width),
        3 => ip(row.v6, row.end.wrapping_add(1) & width),
        4 | 5 => {
            let size = (row.end - row.start).saturating_add(1);
            ip(row.v6, row.start + rng.u128() % size)
        }
        6 => ip(false, rng.u128()),
        _ => ip(true, (0x2000_u128 << 112) | (rng.u128() >> 3)),
    }
}

/// Checks `count` probes; returns how many found a country.
fn check_against_reference(table: &IpTable, rows: &[RefRow], count: usize, seed: u64) -> usize {
    let reference = Reference::new(rows);
    let mut rng = Rng(seed);
    let mut hits = 0;
    for _ in 0..count {
        let address = probe(&mut rng, rows);
        let expected = reference.lookup(address);
        assert_eq!(table.lookup(address), expected, "lookup of {address}");
        hits += usize::from(expected.is_some());
    }
    hits
}

// ------------------------------------------------------------ formats

#[test]
fn range_rows_cover_their_bounds_and_nothing_else() {
    let t = table(
        "ranges.csv",
        "1.0.1.0,1.0.3.255,CN\n2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,JP\n",
    );
    assert_eq!(at(&t, "1.0.1.0"), cc("CN"));
    assert_eq!(at(&t, "1.0.2.77"), cc("CN"));
    assert_eq!(at(&t, "1.0.3.255"), cc("CN"));
    assert_eq!(at(&t, "1.0.0.255"), None);
    assert_eq!(at(&t, "1.0.4.0"), None);
    assert_eq!(at(&t, "2001:200::"), cc("JP"));
    assert_eq!(at(&t, "2001:200:1234::5"), cc("JP"));
    assert_eq!(at(&t, "2001:200:ffff:ffff:ffff:ffff:ffff:ffff"), cc("JP"));
    assert_eq!(at(&t, "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"), None);
    assert_eq!(at(&t, "2001:201::"), None);
    assert_eq!(t.len(), 2);
    assert!(!t.is_empty());
    assert_eq!(t.unassigned_rows(), 0);
}

#[test]
fn cidr_rows_cover_their_networks() {
    let t = table(
        "cidr.csv",
        "1.0.1.0/24,CN\n2001:db8::/32,DE\n10.0.0.1,US\n2001:db8:1::1/128,FR\n",
    );
    assert_eq!(at(&t, "1.0.1.0"), cc("CN"));
    assert_eq!(at(&t, "1.0.1.255"), cc("CN"));
    assert_eq!(at(&t, "1.0.2.0"), None);
    assert_eq!(at(&t, "1.0.0.255"), None);
    assert_eq!(at(&t, "10.0.0.1"), cc("US"));
    assert_eq!(at(&t, "10.0.0.2"), None);
    assert_eq!(at(&t, "2001:db8::"), cc("DE"));
    assert_eq!(at(&t, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), cc("DE"));
    assert_eq!(at(&t, "2001:db9::"), None);
    assert_eq!(at(&t, "2001:db8:1::1"), cc("FR"));
    assert_eq!(at(&t, "2001:db8:1::2"), cc("DE"));
    assert_eq!(at(&t, "2001:db8:1::"), cc("DE"));
}

#[test]
fn range_and_cidr_rows_and_both_families_mix_in_one_file() {
    let t = table(
        "mixed.csv",
        "2001:db8::/32,DE\n1.0.1.0,1.0.1.9,CN\n1.0.2.0/24,JP\n",
    );
    assert_eq!(at(&t, "1.0.1.9"), cc("CN"));
    assert_eq!(at(&t, "1.0.2.9"), cc("JP"));
    assert_eq!(at(&t, "2001:db8::9"), cc("DE"));
    assert_eq!(t.len(), 3);
}

#[test]
fn whole_address_spaces_include_the_last_address() {
    let t = table(
        "all.csv",
        "0.0.0.0/0,US\n::,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,DE\n",
    );
    assert_eq!(at(&t, "0.0.0.0"), cc("US"));
    assert_eq!(at(&t, "255.255.255.255"), cc("US"));
    assert_eq!(at(&t, "::"), cc("DE"));
    assert_eq!(at(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), cc("DE"));

    let t = table(
        "ends.csv",
        "255.255.255.255,255.255.255.255,JP\nffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128,FR\n",
    );
    assert_eq!(at(&t, "255.255.255.255"), cc("JP"));
    assert_eq!(at(&t, "255.255.255.254"), None);
    assert_eq!(at(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), cc("FR"));
    assert_eq!(at(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), None);
}

#[test]
fn gzip_input_is_recognised_by_content() {
    let text = "1.0.1.0,1.0.3.255,CN\n2001:200::/32,JP\n";
    let mut builder = IpTable::builder();
    builder
        .add_reader("no-gz-suffix.csv", gzip(text.as_bytes()).as_slice())
        .unwrap();
    let t = builder.build();
    assert_eq!(at(&t, "1.0.2.0"), cc("CN"));
    assert_eq!(at(&t, "2001:200::1"), cc("JP"));
    assert_eq!(t.len(), 2);

    let plain_named_gz = scratch_file("plain.csv.gz", text.as_bytes());
    let t = IpTable::from_paths([plain_named_gz]).unwrap();
    assert_eq!(at(&t, "1.0.2.0"), cc("CN"));
}

#[test]
fn concatenated_gzip_members_are_all_read() {
    let mut bytes = gzip(b"1.0.1.0/24,CN\n");
    bytes.extend(gzip(b"1.0.2.0/24,JP\n"));
    let t = table_from_bytes("two-members.gz", &bytes);
    assert_eq!(at(&t, "1.0.1.1"), cc("CN"));
    assert_eq!(at(&t, "1.0.2.1"), cc("JP"));
}

#[test]
fn input_arriving_one_byte_at_a_time_is_still_recognised_as_gzip() {
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let (Some(first), Some(slot)) = (self.0.first(), buf.first_mut()) else {
                return Ok(0);
            };
            *slot = *first;
            self.0 = &self.0[1..];
            Ok(1)
        }
    }
    let bytes = gzip(b"1.0.1.0/24,CN\n");
    let mut builder = IpTable::builder();
    builder.add_reader("trickle", Trickle(&bytes)).unwrap();
    assert_eq!(at(&builder.build(), "1.0.1.1"), cc("CN"));
}

#[test]
fn quoted_db_ip_rows_are_read() {
    let t = table(
        "dbip-country-lite.csv",
        "\"1.0.0.0\",\"1.0.0.255\",\"AU\"\n\"2001:200::\",\"2001:200:ffff:ffff:ffff:ffff:ffff:ffff\",\"JP\"\n \"1.0.4.0/22\" , \"au\" \n",
    );
    assert_eq!(at(&t, "1.0.0.128"), cc("AU"));
    assert_eq!(at(&t, "2001:200::1"), cc("JP"));
    assert_eq!(at(&t, "1.0.5.0"), cc("AU"));
}

#[test]
fn headers_comments_blank_lines_crlf_and_bom_are_skipped() {
    let text = "\u{feff}# exported 2026-01-01\r\n\r\nip_range_start,ip_range_end,country_code\r\n  # indented comment\r\n1.0.1.0,1.0.1.255,CN\r\n\r\n";
    let t = table("header.csv", text);
    assert_eq!(at(&t, "1.0.1.1"), cc("CN"));
    assert_eq!(t.len(), 1);

    let t = table("cidr-header.csv", "network,country_code\n1.0.1.0/24,CN\n");
    assert_eq!(at(&t, "1.0.1.1"), cc("CN"));
    assert_eq!(t.len(), 1);
}

#[test]
fn only_the_first_data_line_may_be_a_header() {
    let error = load_error("late-header.csv", b"1.0.1.0/24,CN\nnetwork,country_code\n");
    assert_eq!(
        error.to_string(),
        "late-header.csv:2: `network` is not a network: invalid address: invalid IPv4 address syntax"
    );
}

#[test]
fn files_combine_and_from_paths_reads_plain_and_gzip_files() {
    let v4 = scratch_file("combine-v4.csv", b"1.0.1.0,1.0.3.255,CN\n");
    let v6 = scratch_file("combine-v6.csv.gz", &gzip(b"2001:200::/32,JP\n"));
    let t = IpTable::from_paths([&v4, &v6]).unwrap();
    assert_eq!(at(&t, "1.0.2.0"), cc("CN"));
    assert_eq!(at(&t, "2001:200::1"), cc("JP"));
    assert_eq!(t.len(), 2);

    let mut builder = IpTable::builder();
    builder.add_path(&v4).unwrap().add_path(&v6).unwrap();
    let t = builder.build();
    assert_eq!(at(&t, "2001:200::1"), cc("JP"));
}

// ------------------------------------------------------------ overlaps

#[test]
fn the_most_specific_range_wins_whatever_the_order() {
    let outer_first = "10.0.0.0/8,US\n10.1.0.0,10.1.255.255,CA\n10.1.2.0/24,MX\n";
    let inner_first = "10.1.2.0/24,MX\n10.1.0.0,10.1.255.255,CA\n10.0.0.0/8,US\n";
    for text in [outer_first, inner_first] {
        let t = table("nested.csv", text);
        assert_eq!(at(&t, "10.0.0.0"), cc("US"));
        assert_eq!(at(&t, "10.1.1.255"), cc("CA"));
        assert_eq!(at(&t, "10.1.2.0"), cc("MX"));
        assert_eq!(at(&t, "10.1.2.255"), cc("MX"));
        assert_eq!(at(&t, "10.1.3.0"), cc("CA"));
        assert_eq!(at(&t, "10.2.0.0"), cc("US"));
        assert_eq!(at(&t, "10.255.255.255"), cc("US"));
        assert_eq!(at(&t, "11.0.0.0"), None);
    }
}

#[test]
fn partly_overlapping_ranges_give_the_overlap_to_the_smaller() {
    // Sizes 101 and 51; the smaller owns 150..=160 although loaded first.
    let t = table(
        "partial.csv",
        "10.0.0.150,10.0.0.200,FR\n10.0.0.60,10.0.0.160,DE\n",
    );
    assert_eq!(at(&t, "10.0.0.149"), cc("DE"));
    assert_eq!(at(&t, "10.0.0.150"), cc("FR"));
    assert_eq!(at(&t, "10.0.0.160"), cc("FR"));
    assert_eq!(at(&t, "10.0.0.200"), cc("FR"));
    assert_eq!(at(&t, "10.0.0.60"), cc("DE"));
    assert_eq!(at(&t, "10.0.0.59"), None);
}

#[test]
fn equal_ranges_go_to_the_row_loaded_last() {
    let t = table("same-file.csv", "10.0.0.0/24,US\n10.0.0.0,10.0.0.255,CA\n");
    assert_eq!(at(&t, "10.0.0.7"), cc("CA"));

    let mut builder = IpTable::builder();
    builder
        .add_reader("first.csv", "2001:db8::/48,US\n".as_bytes())
        .unwrap();
    builder
        .add_reader(
            "second.csv",
            "2001:db8::,2001:db8:0:ffff:ffff:ffff:ffff:ffff,CA\n".as_bytes(),
        )
        .unwrap();
    let t = builder.build();
    assert_eq!(at(&t, "2001:db8::7"), cc("CA"));

    // Equally large but different ranges: the later owns their overlap.
    let t = table(
        "shifted.csv",
        "10.0.0.10,10.0.0.19,US\n10.0.0.15,10.0.0.24,CA\n",
    );
    assert_eq!(at(&t, "10.0.0.14"), cc("US"));
    assert_eq!(at(&t, "10.0.0.15"), cc("CA"));
    assert_eq!(at(&t, "10.0.0.19"), cc("CA"));
}

#[test]
fn ipv6_boundaries_inside_a_64_are_exact() {
    let t = table(
        "fine.csv",
        "2001:db8::,2001:db8::ffff,FR\n2001:db8::1:0,2001:db8:0:0:8000::,DE\n2001:db8:0:0:8000::1,2001:db8:0:2:7fff::,NL\n2001:db8:0:2::/64,BE\n",
    );
    assert_eq!(at(&t, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"), None);
    assert_eq!(at(&t, "2001:db8::"), cc("FR"));
    assert_eq!(at(&t, "2001:db8::ffff"), cc("FR"));
    assert_eq!(at(&t, "2001:db8::1:0"), cc("DE"));
    assert_eq!(at(&t, "2001:db8::8000:0:0:0"), cc("DE"));
    assert_eq!(at(&t, "2001:db8::8000:0:0:1"), cc("NL"));
    assert_eq!(at(&t, "2001:db8:0:1::"), cc("NL"));
    assert_eq!(at(&t, "2001:db8:0:1:ffff:ffff:ffff:ffff"), cc("NL"));
    // The /64 wins over the larger NL range.
    assert_eq!(at(&t, "2001:db8:0:2::"), cc("BE"));
    assert_eq!(at(&t, "2001:db8:0:2:7fff::"), cc("BE"));
    assert_eq!(at(&t, "2001:db8:0:3::"), None);
}

// --------------------------------------------------- IPv4-mapped addresses

#[test]
fn ipv4_mapped_addresses_look_up_as_ipv4() {
    let t = table("mapped.csv", "1.2.3.0/24,CN\n::/0,DE\n");
    assert_eq!(at(&t, "::ffff:1.2.3.4"), cc("CN"));
    assert_eq!(t.lookup_v6("::ffff:1.2.3.4".parse().unwrap()), cc("CN"));
    assert_eq!(at(&t, "::ffff:1.2.4.0"), None);
    // Not mapped: an ordinary IPv6 address.
    assert_eq!(at(&t, "::1.2.3.4"), cc("DE"));
}

#[test]
fn ipv6_rows_inside_the_mapped_block_are_ipv4_rows() {
    let t = table(
        "mapped-rows.csv",
        "::ffff:1.2.3.0/120,CN\n::ffff:5.0.0.0,::ffff:5.0.0.9,JP\n",
    );
    assert_eq!(at(&t, "1.2.3.4"), cc("CN"));
    assert_eq!(at(&t, "::ffff:1.2.3.4"), cc("CN"));
    assert_eq!(at(&t, "5.0.0.9"), cc("JP"));
    assert_eq!(at(&t, "5.0.0.10"), None);
}

// ------------------------------------------------------ unassigned codes

#[test]
fn unassigned_codes_map_to_no_country_and_are_counted() {
    let text = "10.0.0.0/8,RS\n10.1.0.0/16,XK\n11.0.0.0/8,AN\n12.0.0.0/8,EU\n13.0.0.0/8,ZZ\n14.0.0.0/8,-\n2001:db8::/32,EU\n15.0.0.0/8,de\n";
    let t = table("unassigned.csv", text);
    assert_eq!(at(&t, "10.0.0.1"), cc("RS"));
    // The unassigned row is the more specific one.
    assert_eq!(at(&t, "10.1.0.1"), None);
    for address in [
        "11.0.0.1",
        "12.0.0.1",
        "13.0.0.1",
        "14.0.0.1",
        "2001:db8::1",
    ] {
        assert_eq!(at(&t, address), None, "{address}");
    }
    assert_eq!(at(&t, "15.0.0.1"), cc("DE"));
    assert_eq!(t.unassigned_rows(), 6);
    assert_eq!(t.len(), 8);
}

// ------------------------------------------------------ malformed lines

#[test]
fn malformed_lines_are_errors_naming_file_line_and_problem() {
    let cases: [(&[u8], &str); 16] = [
        (
            b"1.0.0.0,1.0.0.256,CN\n",
            "bad.csv:1: `1.0.0.256` is not an IP address",
        ),
        (
            b"# c\n1.0.0.0,1.0.0.255,CN\n1.0.1.0,xyz,CN\n",
            "bad.csv:3: `xyz` is not an IP address",
        ),
        (
            b"1.0.0.9,1.0.0.1,CN\n",
            "bad.csv:1: range start 1.0.0.9 is after its end 1.0.0.1",
        ),
        (
            b"2001:db8::2,2001:db8::1,CN\n",
            "bad.csv:1: range start 2001:db8::2 is after its end 2001:db8::1",
        ),
        (
            b"1.0.0.0,2001:db8::,CN\n",
            "bad.csv:1: range mixes IPv4 and IPv6: 1.0.0.0 to 2001:db8::",
        ),
        (
            b"1.0.0.0/24,CN\n1.0.0.0\n",
            "bad.csv:2: expected `network,country` or `start,end,country`, found 1 fields",
        ),
        (
            b"1.0.0.0,1.0.0.255,CN,extra\n",
            "bad.csv:1: expected `network,country` or `start,end,country`, found 4 fields",
        ),
        (
            b"1.0.0.0/33,CN\n",
            "bad.csv:1: `1.0.0.0/33` is not a network: invalid prefix",
        ),
        (
            b"2001:db8::/129,CN\n",
            "bad.csv:1: `2001:db8::/129` is not a network: invalid prefix",
        ),
        (
            b"1.0.0.0/x,CN\n",
            "bad.csv:1: `1.0.0.0/x` is not a network: invalid prefix",
        ),
        (
            b"1.0.0.1/24,CN\n",
            "bad.csv:1: `1.0.0.1/24` is not a network: host bits are set (the network address is 1.0.0.0)",
        ),
        (
            b"2001:db8::1/32,CN\n",
            "bad.csv:1: `2001:db8::1/32` is not a network: host bits are set (the network address is 2001:db8::)",
        ),
        (
            b"1.0.0.0/24,CN\n1.0.1.0/24,C\xffN\n",
            "bad.csv:2: line is not valid UTF-8",
        ),
        (
            b"1.0.0.0,1.0.0.255\n",
            "bad.csv:1: `1.0.0.255` is not a country code",
        ),
        (
            b"1.0.0.0,1.0.0.255,\n",
            "bad.csv:1: `` is not a country code",
        ),
        (
            b"1.0.0.0,1.0.0.255,USA\n",
            "bad.csv:1: `USA` is not a country code",
        ),
    ];
    for (text, message) in cases {
        let error = load_error("bad.csv", text);
        assert!(matches!(error, IpTableError::Line { .. }), "{error:?}");
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn line_errors_expose_file_line_and_problem_as_fields() {
    let error = load_error("fields.csv", b"\n\n1.0.0.9,1.0.0.1,CN\n");
    let IpTableError::Line {
        file,
        line,
        problem,
    } = error
    else {
        panic!("expected a line error, got {error:?}");
    };
    assert_eq!(file, "fields.csv");
    assert_eq!(line, 3);
    assert_eq!(
        problem,
        LineProblem::StartAfterEnd {
            start: "1.0.0.9".parse().unwrap(),
            end: "1.0.0.1".parse().unwrap()
        }
    );
}

#[test]
fn an_overlong_line_is_an_error_not_a_memory_hog() {
    let mut text = b"1.0.0.0/24,CN\n".to_vec();
    text.extend(std::iter::repeat_n(b'#', 100_000));
    let error = load_error("long.csv", &text);
    assert_eq!(
        error.to_string(),
        "long.csv:2: line is longer than 65536 bytes"
    );
}

#[test]
fn io_errors_name_the_file() {
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-file.csv");
    let error = IpTable::from_paths([&missing]).unwrap_err();
    assert!(matches!(error, IpTableError::Io { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{}: cannot read: ", missing.display())),
        "{message}"
    );

    let mut corrupt = gzip(b"1.0.0.0/24,CN\n1.0.1.0/24,JP\n");
    corrupt.truncate(corrupt.len() / 2);
    let error = load_error("corrupt.csv.gz", &corrupt);
    assert!(matches!(error, IpTableError::Io { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("corrupt.csv.gz: cannot read: "),
        "{error}"
    );
}

#[test]
fn a_failed_input_adds_none_of_its_rows() {
    let mut builder = IpTable::builder();
    builder
        .add_reader("good.csv", "1.0.0.0/24,CN\n".as_bytes())
        .unwrap();
    let failed = builder.add_reader(
        "bad.csv",
        "2.0.0.0/24,XK\n2001:db8::/32,DE\n3.0.0.0/24\n".as_bytes(),
    );
    assert!(failed.is_err());
    let t = builder.build();
    assert_eq!(t.len(), 1);
    assert_eq!(t.unassigned_rows(), 0);
    assert_eq!(at(&t, "1.0.0.1"), cc("CN"));
    assert_eq!(at(&t, "2001:db8::1"), None);
}

// ------------------------------------------------------ the table itself

#[test]
fn an_empty_table_knows_no_address() {
    for t in [
        IpTable::empty(),
        IpTable::default(),
        table("empty.csv", "# nothing\n"),
    ] {
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert_eq!(at(&t, "1.2.3.4"), None);
        assert_eq!(at(&t, "255.255.255.255"), None);
        assert_eq!(at(&t, "2001:db8::1"), None);
        assert_eq!(at(&t, "::"), None);
    }
}

#[test]
fn debug_output_gives_counts_not_contents() {
    let t = table(
        "debug.csv",
        "1.0.1.0/24,CN\n1.0.2.0/24,XK\n2001:db8::/32,JP\n",
    );
    let debug = format!("{t:?}");
    assert!(debug.starts_with("IpTable {"), "{debug}");
    assert!(debug.contains("ipv4_ranges: 2"), "{debug}");
    assert!(debug.contains("ipv6_ranges: 1"), "{debug}");
    assert!(debug.contains("unassigned_rows: 1"), "{debug}");
    assert!(
        !debug.contains("CN") && !debug.contains("JP") && !debug.contains("1.0.1.0"),
        "{debug}"
    );

    let mut builder = IpTable::builder();
    builder
        .add_reader("debug.csv", "1.0.1.0/24,CN\n".as_bytes())
        .unwrap();
    assert_eq!(
        format!("{builder:?}"),
        "IpTableBuilder { ipv4_ranges: 1, ipv6_ranges: 0, unassigned_rows: 0 }"
    );
}

#[test]
fn the_table_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + 'static>(_: &T) {}
    let t = std::sync::Arc::new(table("shared.csv", "1.0.1.0/24,CN\n"));
    shareable(&t);
    let from_thread = std::thread::spawn({
        let t = std::sync::Arc::clone(&t);
        move || t.lookup_v4(Ipv4Addr::new(1, 0, 1, 1))
    });
    assert_eq!(from_thread.join().unwrap(), cc("CN"));
}

#[test]
fn heap_bytes_grows_with_the_data() {
    let small = table("small.csv", "1.0.1.0/24,CN\n");
    let rows: String = (0..1000)
        .map(|i| format!("10.{}.{}.0/24,{}\n", i / 256, i % 256, ["US", "CA"][i % 2]))
        .collect();
    let larger = table("larger.csv", &rows);
    assert!(small.heap_bytes() > 0);
    assert!(larger.heap_bytes() > small.heap_bytes() + 1000);
}

// ------------------------------------------- real data against the reference

#[test]
fn excerpt_agrees_with_the_reference() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ip-excerpt.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let rows = reference_rows(&text);
    let table = IpTable::from_paths([&path]).unwrap();
    assert_eq!(table.len(), rows.len());
    assert!(rows.iter().any(|r| r.v6) && rows.iter().any(|r| !r.v6));
    assert_eq!(
        table.unassigned_rows(),
        rows.iter().filter(|r| r.country.is_none()).count()
    );
    assert!(table.unassigned_rows() > 0);
    let hits = check_against_reference(&table, &rows, 200_000, 0x5eed_1234_abcd_0001);
    // The probes are built to land in ranges more often than not.
    assert!(hits > 50_000, "only {hits} probes found a country");
}

/// Run with `--ignored` (`.ci/run` does where the data is): missing data
/// fails it rather than letting it pass having checked nothing.
#[test]
#[ignore = "needs ../shared/data (the real IP-to-country table)"]
fn whole_shared_table_agrees_with_the_reference() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let files = [
        dir.join("ip-country-ipv4.csv.gz"),
        dir.join("ip-country-ipv6.csv.gz"),
    ];
    for file in &files {
        assert!(
            file.exists(),
            "{} is missing: this test needs the real IP-to-country table",
            file.display()
        );
    }
    let started = Instant::now();
    let table = IpTable::from_paths(&files).unwrap();
    let loaded = started.elapsed();
    let mut rows = Vec::new();
    for file in &files {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap()),
            &mut text,
        )
        .unwrap();
        rows.extend(reference_rows(&text));
    }
    assert_eq!(table.len(), rows.len());
    assert_eq!(
        table.unassigned_rows(),
        rows.iter().filter(|r| r.country.is_none()).count()
    );
    let checking = Instant::now();
    let hits = check_against_reference(&table, &rows, 1_000_000, 0x5eed_1234_abcd_0002);
    assert!(hits > 500_000, "only {hits} probes found a country");
    eprintln!(
        "whole shared table: {} ranges loaded in {loaded:?}, 1,000,000 probes checked in {:?}",
        table.len(),
        checking.elapsed()
    );
}

// ------------------------------------------------------------ proptest

/// An address from a small space, so that ranges overlap and share bounds.
/// IPv6 addresses sit near the edges of a few /64 blocks, where the coarse
/// and the fine table meet.
fn small_address(v6: bool) -> impl Strategy<Value = u128> {
    let v4 = (0_u128..64).prop_map(|x| (10 << 24) | x);
    let low = prop_oneof![
        Just(0_u64),
        Just(1),
        0_u64..8,
        Just(u64::MAX - 1),
        Just(u64::MAX),
        any::<u64>()
    ];
    let v6_address = (0_u128..4, low)
        .prop_map(|(block, low)| (0x2001_0db8_u128 << 96) | (block << 64) | u128::from(low));
    if v6 { v6_address.boxed() } else { v4.boxed() }
}

fn small_row() -> impl Strategy<Value = RefRow> {
    let code = prop::sample::select(vec!["US", "CA", "MX", "DE", "XK", "-"]);
    (any::<bool>(), code)
        .prop_flat_map(|(v6, code)| (Just(v6), small_address(v6), small_address(v6), Just(code)))
        .prop_map(|(v6, a, b, code)| RefRow::new(ip(v6, a.min(b)), ip(v6, a.max(b)), code))
}

fn as_csv(rows: &[RefRow]) -> String {
    rows.iter()
        .map(|r| {
            let code = r.country.map_or_else(|| "ZZ".to_owned(), |c| c.to_string());
            format!("{},{},{code}\n", ip(r.v6, r.start), ip(r.v6, r.end))
        })
        .collect()
}

/// Checks every row's bounds and their neighbours, and random addresses
/// near the edges of the /64 blocks and in the IPv4 space the rows use.
fn agrees_on(rows: &[RefRow], seed: u64) -> Result<(), TestCaseError> {
    let table = table("prop.csv", &as_csv(rows));
    let reference = Reference::new(rows);
    prop_assert_eq!(table.len(), rows.len());
    let mut probes = Vec::new();
    for row in rows {
        let bounds = [
            row.start.wrapping_sub(1),
            row.start,
            row.end,
            row.end.wrapping_add(1),
        ];
        probes.extend(bounds.map(|x| ip(row.v6, x)));
    }
    let mut rng = Rng(seed | 1);
    for _ in 0..64 {
        let block = u128::from(rng.next() % 5) << 64;
        let low = u128::from(rng.next() % 16);
        let low = if rng.next().is_multiple_of(2) {
            low
        } else {
            u128::from(u64::MAX) - low
        };
        probes.push(ip(true, (0x2001_0db8_u128 << 96) | block | low));
        probes.push(ip(false, (10 << 24) | u128::from(rng.next() % 80)));
    }
    for address in probes {
        prop_assert_eq!(
            table.lookup(address),
            reference.lookup(address),
            "at {}",
            address
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn small_tables_agree_with_the_reference(
        rows in prop::collection::vec(small_row(), 0..24),
        seed in any::<u64>(),
    ) {
        agrees_on(&rows, seed)?;
    }
}
