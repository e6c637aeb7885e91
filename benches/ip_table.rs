//! IP table: load time, and lookups side by side with `ip_network_table`.
//!
//! Uses the whole shared table from `../shared/data` when present, else the
//! committed excerpt in `tests/data`.
// Setup code may panic: a benchmark with broken input should stop.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_main};
use ip_network::{IpNetwork, Ipv4Network, Ipv6Network};
use ip_network_table::IpNetworkTable;
use tower_export_control::{CountryCode, IpTable};

/// Addresses per lookup set; each lookup takes the next one, round robin.
const ADDRESSES: usize = 4096;

fn data_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/data");
    let files = [
        shared.join("ip-country-ipv4.csv.gz"),
        shared.join("ip-country-ipv6.csv.gz"),
    ];
    if files.iter().all(|f| f.exists()) {
        eprintln!("data: whole shared table in ../shared/data");
        files.to_vec()
    } else {
        eprintln!("data: ../shared/data not present, using the excerpt tests/data/ip-excerpt.csv");
        vec![root.join("tests/data/ip-excerpt.csv")]
    }
}

/// One `start,end,CC` row as integers; `v6` tells the family.
struct Row {
    v6: bool,
    start: u128,
    end: u128,
    country: Option<CountryCode>,
}

fn read_rows(files: &[PathBuf]) -> Vec<Row> {
    let mut rows = Vec::new();
    for file in files {
        let mut text = String::new();
        let raw = std::fs::File::open(file).unwrap();
        if file.extension().is_some_and(|e| e == "gz") {
            flate2::read::MultiGzDecoder::new(raw).read_to_string(&mut text)
        } else {
            std::io::BufReader::new(raw).read_to_string(&mut text)
        }
        .unwrap();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let mut fields = line.split(',');
            let (start, end, code) = (
                fields.next().unwrap(),
                fields.next().unwrap(),
                fields.next().unwrap(),
            );
            let (v6, start, end) = match (start.parse().unwrap(), end.parse().unwrap()) {
                (IpAddr::V4(s), IpAddr::V4(e)) => {
                    (false, u128::from(u32::from(s)), u128::from(u32::from(e)))
                }
                (IpAddr::V6(s), IpAddr::V6(e)) => (true, u128::from(s), u128::from(e)),
                _ => panic!("mixed families: {line}"),
            };
            rows.push(Row {
                v6,
                start,
                end,
                country: CountryCode::parse(code).ok(),
            });
        }
    }
    rows
}

/// The CIDR networks exactly covering `start..=end` in a `bits`-bit space.
fn cidrs(start: u128, end: u128, bits: u32) -> Vec<(u128, u8)> {
    let block_end = |start: u128, size_bits: u32| {
        if size_bits >= 128 {
            u128::MAX
        } else {
            start + ((1 << size_bits) - 1)
        }
    };
    let mut out = Vec::new();
    let mut next = start;
    loop {
        let mut size_bits = if next == 0 {
            bits
        } else {
            next.trailing_zeros().min(bits)
        };
        while size_bits > 0 && block_end(next, size_bits) > end {
            size_bits -= 1;
        }
        out.push((next, u8::try_from(bits - size_bits).unwrap()));
        let last = block_end(next, size_bits);
        if last >= end {
            return out;
        }
        next = last + 1;
    }
}

/// The baseline: every range as CIDR networks, larger ranges inserted first
/// so that longest-prefix match picks the smallest range, as `IpTable` does
/// (the two differ only where ranges partly overlap).
fn baseline(rows: &[Row]) -> IpNetworkTable<Option<CountryCode>> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(rows[i].end - rows[i].start));
    let mut table = IpNetworkTable::new();
    for i in order {
        let row = &rows[i];
        for (network, prefix) in cidrs(row.start, row.end, if row.v6 { 128 } else { 32 }) {
            let network: IpNetwork = if row.v6 {
                Ipv6Network::new(Ipv6Addr::from(network), prefix)
                    .unwrap()
                    .into()
            } else {
                Ipv4Network::new(Ipv4Addr::from(network as u32), prefix)
                    .unwrap()
                    .into()
            };
            table.insert(network, row.country);
        }
    }
    table
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

    fn u128(&mut self) -> u128 {
        (u128::from(self.next()) << 64) | u128::from(self.next())
    }
}

struct Sets {
    /// Uniform over the IPv4 space.
    v4: Vec<Ipv4Addr>,
    /// Uniform inside IPv6 ranges picked uniformly from the data.
    v6_in_ranges: Vec<Ipv6Addr>,
    /// Uniform over 2000::/3, the global unicast block; mostly unallocated.
    v6_global: Vec<Ipv6Addr>,
}

fn address_sets(rows: &[Row]) -> Sets {
    let mut rng = Rng(0x5eed_0000_1b7a_b1e5);
    let v6_rows: Vec<&Row> = rows.iter().filter(|r| r.v6).collect();
    Sets {
        v4: (0..ADDRESSES)
            .map(|_| Ipv4Addr::from(rng.next() as u32))
            .collect(),
        v6_in_ranges: (0..ADDRESSES)
            .map(|_| {
                let row = v6_rows[(rng.next() % v6_rows.len() as u64) as usize];
                let size = (row.end - row.start).saturating_add(1);
                Ipv6Addr::from(row.start + rng.u128() % size)
            })
            .collect(),
        v6_global: (0..ADDRESSES)
            .map(|_| Ipv6Addr::from((0x2000_u128 << 112) | (rng.u128() >> 3)))
            .collect(),
    }
}

fn report_agreement(table: &IpTable, base: &IpNetworkTable<Option<CountryCode>>, sets: &Sets) {
    let v4 = sets.v4.iter().map(|&a| IpAddr::V4(a));
    let v6 = |set: &[Ipv6Addr]| set.iter().map(|&a| IpAddr::V6(a)).collect::<Vec<_>>();
    let named: [(&str, Vec<IpAddr>); 3] = [
        ("ipv4_uniform", v4.collect()),
        ("ipv6_in_ranges", v6(&sets.v6_in_ranges)),
        ("ipv6_2000_3", v6(&sets.v6_global)),
    ];
    for (name, addresses) in named {
        let (mut differ, mut hits) = (0, 0);
        for &address in &addresses {
            let ours = table.lookup(address);
            let theirs = base
                .longest_match(address)
                .and_then(|(_, country)| *country);
            differ += usize::from(ours != theirs);
            hits += usize::from(ours.is_some());
        }
        eprintln!(
            "{name}: {} addresses, {hits} with a country, {differ} answered differently by ip_network_table",
            addresses.len()
        );
    }
}

/// Times one lookup a call, cycling through the addresses.
fn lookups<A: Copy>(
    c: &mut Criterion,
    group: &str,
    addresses: &[A],
    ours: impl Fn(A) -> Option<CountryCode>,
    theirs: impl Fn(A) -> Option<CountryCode>,
) {
    let mut group = c.benchmark_group(group);
    let mut i = 0;
    group.bench_function("IpTable", |b| {
        b.iter(|| {
            i = (i + 1) % addresses.len();
            ours(black_box(addresses[i]))
        })
    });
    group.bench_function("ip_network_table", |b| {
        b.iter(|| {
            i = (i + 1) % addresses.len();
            theirs(black_box(addresses[i]))
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let files = data_files();
    let table = IpTable::from_paths(&files).unwrap();
    eprintln!(
        "{table:?}: {:.2} bytes per range",
        table.heap_bytes() as f64 / table.len() as f64
    );
    let rows = read_rows(&files);
    let base = baseline(&rows);
    let sets = address_sets(&rows);
    report_agreement(&table, &base, &sets);

    let mut load = c.benchmark_group("ip_table/load");
    load.sample_size(10)
        .measurement_time(Duration::from_secs(20));
    load.bench_function("IpTable::from_paths", |b| {
        b.iter(|| IpTable::from_paths(&files).unwrap())
    });
    load.finish();

    let theirs_v4 = |a: Ipv4Addr| base.longest_match_ipv4(a).and_then(|(_, c)| *c);
    let theirs_v6 = |a: Ipv6Addr| base.longest_match_ipv6(a).and_then(|(_, c)| *c);
    lookups(
        c,
        "ip_table/ipv4_uniform",
        &sets.v4,
        |a| table.lookup_v4(a),
        theirs_v4,
    );
    lookups(
        c,
        "ip_table/ipv6_in_ranges",
        &sets.v6_in_ranges,
        |a| table.lookup_v6(a),
        theirs_v6,
    );
    lookups(
        c,
        "ip_table/ipv6_2000_3",
        &sets.v6_global,
        |a| table.lookup_v6(a),
        theirs_v6,
    );
}

// The macro defines an undocumented public function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
use group::benches;
criterion_main!(benches);
