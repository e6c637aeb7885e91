//! `export-control diff`: what replacing one policy with another changes.

use std::path::PathBuf;

use crate::policy::diff::{ImpactOptions, impact};

use super::engine;

/// Decides every catalog instance type for every country, declared and as
/// headquarters, under both policies, and prints the decisions that change,
/// grouped: a table, or JSON with `--json`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 no decision changes, 1 decisions change, \
2 a policy is invalid or unreadable."
)]
pub(super) struct Args {
    /// The policy in force (TOML), e.g. policies/ear-2022-10.toml
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The policy replacing it, e.g. policies/default.toml
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Where the customers of headquarters lines are located (declared
    /// country); default: the first country neither policy restricts.
    #[arg(long, value_name = "CC", value_parser = super::country)]
    located_in: Option<crate::CountryCode>,
    /// Decide at this time (RFC 3339) instead of now, for dated rules.
    #[arg(long, value_name = "RFC3339", value_parser = super::rfc3339)]
    at: Option<std::time::SystemTime>,
}

pub(super) fn run(args: &Args) -> super::Outcome {
    let read = |path: &PathBuf| engine::read_policy(path).map_err(|e| e.to_string());
    let (old, new) = (read(&args.old)?, read(&args.new)?);
    let mut options = ImpactOptions::new(args.at.unwrap_or_else(std::time::SystemTime::now));
    if let Some(country) = args.located_in {
        options = options.headquarters_location(country);
    }
    let report = impact(&old, &new, &options);
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        super::print(&format!("{json}\n"))?;
    } else {
        super::print(&report.to_string())?;
    }
    Ok(report.is_empty())
}
