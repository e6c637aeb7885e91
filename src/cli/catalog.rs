//! `export-control catalog`: every chip and instance type with its class.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::engine;
use crate::accelerator::{Catalog, Regime};

/// Lists every chip (vendor, datacenter part or not, TPP, performance
/// density, class) and every instance type (chip, chips per instance,
/// class) of the policy's catalog, classified under the policy's regime or
/// --regime.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The policy file (TOML) [default: the embedded default policy]
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Classify under this regime instead of the policy's (ear-2023-10,
    /// ear-2022-10)
    #[arg(long, value_name = "NAME", value_parser = regime)]
    regime: Option<Regime>,
}

fn regime(name: &str) -> Result<Regime, String> {
    Regime::by_name(name).ok_or_else(|| {
        let known: Vec<_> = Regime::ALL.iter().map(Regime::name).collect();
        format!("unknown regime `{name}` (known: {})", known.join(", "))
    })
}

pub(super) fn run(args: &Args) -> super::Outcome {
    let policy = engine::load_gate(args.policy.as_deref(), &[], false)?.policy();
    let regime = args.regime.unwrap_or_else(|| policy.regime());
    let catalog = policy.catalog().with_regime(regime);
    super::print(&table(&catalog))?;
    Ok(true)
}

fn table(catalog: &Catalog) -> String {
    let regime = catalog.regime();
    // Writing to a String cannot fail.
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Chips under {} ({})\n",
        regime.name(),
        regime.citation()
    );
    let _ = writeln!(
        out,
        "{:<14} {:<7} {:>4} {:>10} {:>8}  class",
        "chip", "vendor", "DC", "TPP", "PD"
    );
    for c in catalog.chips() {
        let pd = c
            .performance_density()
            .map_or("?".to_owned(), |pd| format!("{pd:.2}"));
        let dc = if c.spec().datacenter { "yes" } else { "no" };
        let _ = writeln!(
            out,
            "{:<14} {:<7} {:>4} {:>10.1} {:>8}  {}",
            c.name(),
            c.spec().vendor,
            dc,
            c.tpp(),
            pd,
            c.class()
        );
    }
    let _ = writeln!(out, "\nInstance types\n");
    let _ = writeln!(
        out,
        "{:<28} {:<14} {:>5}  class",
        "instance type", "chip", "chips"
    );
    for i in catalog.instance_types() {
        let _ = writeln!(
            out,
            "{:<28} {:<14} {:>5}  {}",
            i.entry,
            i.chip.map_or("-", |c| c.name()),
            i.chips_per_instance,
            i.class()
        );
    }
    out
}
