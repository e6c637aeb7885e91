//! `export-control explain`: the decision for one request, as JSON.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use super::engine::{self, Request};
use crate::CountryCode;

/// Prints one JSON object: the decision (`allow`, `allow-licensed`,
/// `require-license`, or `deny`, also when a presented license fails), its
/// reason and deciding rules, the accelerator class with chip, count, TPP
/// and performance density, the country groups of each country, what a
/// license must cover, and the result of the license check when a token is
/// given.
///
/// Without --policy the embedded default policy is used; a --license token
/// is then checked against the demo issuer of examples/demo-issuer/
/// (development only: its private key is public).
#[derive(Debug, clap::Args)]
#[command(after_help = "Exit status: 0 allowed, 1 denied or license required, 2 bad input.")]
pub(super) struct Args {
    /// The policy file (TOML) [default: the embedded default policy]
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// IP-to-country table (range or CIDR CSV, plain or gzip) used for --ip
    /// in place of the policy's own; repeat to combine several
    #[arg(long = "ip-table", value_name = "FILE")]
    ip_tables: Vec<PathBuf>,
    /// The country the customer declares (ISO 3166-1 alpha-2)
    #[arg(long, value_name = "CC", value_parser = super::country)]
    country: Option<CountryCode>,
    /// The country the customer is headquartered in
    #[arg(long, value_name = "CC", value_parser = super::country)]
    headquarters: Option<CountryCode>,
    /// The country the customer's ultimate parent is headquartered in
    #[arg(long, value_name = "CC", value_parser = super::country)]
    parent: Option<CountryCode>,
    /// The client's IP address, looked up in the IP table
    #[arg(long, value_name = "ADDR")]
    ip: Option<IpAddr>,
    /// The requested instance type, e.g. p5.48xlarge
    #[arg(long, value_name = "T")]
    instance_type: String,
    /// The number of instances
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    count: u32,
    /// The customer id (a license token's `sub`)
    #[arg(long, value_name = "ID")]
    customer: Option<String>,
    /// An export-license token (JWT) to check against what the request needs
    #[arg(long, value_name = "TOKEN", requires = "customer")]
    license: Option<String>,
    /// Decide at this time instead of now, e.g. 2026-08-01T00:00:00Z
    #[arg(long, value_name = "RFC3339", value_parser = super::rfc3339)]
    at: Option<SystemTime>,
}

pub(super) fn run(args: &Args) -> super::Outcome {
    let gate = engine::load_gate(
        args.policy.as_deref(),
        &args.ip_tables,
        args.license.is_some(),
    )?;
    let request = Request {
        country: args.country,
        headquarters: args.headquarters,
        parent: args.parent,
        ip: args.ip,
        instance_type: &args.instance_type,
        count: args.count,
        customer: args.customer.as_deref(),
        license: args.license.as_deref(),
    };
    let now = args.at.unwrap_or_else(SystemTime::now);
    let explanation = engine::explain(&gate, &request, now);
    let text = serde_json::to_string_pretty(&explanation).map_err(|e| e.to_string())?;
    super::print(&format!("{text}\n"))?;
    Ok(explanation.allowed)
}
