//! The command-line view of the decision engine.
//!
//! ```text
//! cargo run --example explain -- [--policy FILE] [--ip-table FILE]... [--country CC]
//!     [--headquarters CC] [--ip ADDR] --instance-type T [--count N]
//!     [--customer ID --license TOKEN] [--at RFC3339]
//! cargo run --example explain -- catalog [--policy FILE] [--regime NAME]
//! ```
//!
//! The first form prints one JSON object: the decision (`allow`,
//! `allow-licensed`, `require-license`, or `deny`, also when a presented
//! license fails), its reason and deciding
//! rules, the accelerator class with chip, count, TPP and PD, the country
//! groups of each country, what a license must cover, and the result of the
//! license check when a token is given. Exit status: 0 allowed, 1 denied or
//! license required, 2 bad input (one line on stderr).
//!
//! The second form lists every chip (TPP, PD, class) and instance type
//! (chip, count, class) under the policy's regime or `--regime`.
//!
//! Without `--policy`, the embedded default policy is used with the demo
//! license issuer of `examples/demo-issuer/` (development only).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use serde_json::{Value, json};
use tower_export_control::accelerator::Regime;
use tower_export_control::jurisdiction::IpTable;
use tower_export_control::license::LicenseTrust;
use tower_export_control::verdict::LicenseCheck;
use tower_export_control::{CountryCode, Facts, Gate, Outcome, Policy, ReasonCode, Verdict};

const USAGE: &str = "usage: explain [--policy FILE] [--ip-table FILE]... [--country CC] \
[--headquarters CC] [--ip ADDR] --instance-type T [--count N] [--customer ID --license TOKEN] \
[--at RFC3339]\n       explain catalog [--policy FILE] [--regime NAME]";

#[derive(Default)]
struct Args {
    catalog: bool,
    policy: Option<PathBuf>,
    ip_tables: Vec<PathBuf>,
    regime: Option<String>,
    country: Option<CountryCode>,
    headquarters: Option<CountryCode>,
    ip: Option<IpAddr>,
    instance_type: Option<String>,
    count: Option<u32>,
    customer: Option<String>,
    license: Option<String>,
    at: Option<SystemTime>,
}

fn country(flag: &str, v: &str) -> Result<CountryCode, String> {
    CountryCode::parse(v).map_err(|e| format!("{flag}: {e}"))
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1).peekable();
    if it.peek().map(String::as_str) == Some("catalog") {
        args.catalog = true;
        it.next();
    }
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--policy" => args.policy = Some(value()?.into()),
            "--ip-table" => args.ip_tables.push(value()?.into()),
            "--regime" => args.regime = Some(value()?),
            "--country" => args.country = Some(country(&flag, &value()?)?),
            "--headquarters" => args.headquarters = Some(country(&flag, &value()?)?),
            "--ip" => {
                let v = value()?;
                args.ip = Some(
                    v.parse()
                        .map_err(|_| format!("--ip: `{v}` is not an IP address"))?,
                );
            }
            "--instance-type" => args.instance_type = Some(value()?),
            "--count" => {
                let v = value()?;
                match v.parse::<u32>() {
                    Ok(n) if (1..=100_000).contains(&n) => args.count = Some(n),
                    _ => return Err(format!("--count: `{v}` is not an integer from 1 to 100000")),
                }
            }
            "--customer" => args.customer = Some(value()?),
            "--license" => args.license = Some(value()?),
            "--at" => {
                let v = value()?;
                let t =
                    humantime::parse_rfc3339_weak(&v).map_err(|e| format!("--at: `{v}`: {e}"))?;
                args.at = Some(t);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if args.catalog {
        return Ok(args);
    }
    if args.instance_type.is_none() {
        return Err(format!("--instance-type is required\n{USAGE}"));
    }
    if args.license.is_some() && args.customer.is_none() {
        return Err("--license needs --customer (the token's `sub`)".to_owned());
    }
    Ok(args)
}

/// The policy (or the embedded default with the demo issuer), with the
/// IP tables given.
fn load_gate(args: &Args) -> Result<Gate, String> {
    let policy = match &args.policy {
        Some(path) => Policy::from_path(path).map_err(|e| e.to_string())?,
        None => Policy::embedded_default(),
    };
    let mut gate = Gate::new(policy);
    if args.policy.is_none() {
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-issuer/license.toml");
        gate =
            gate.with_license_trust(LicenseTrust::from_toml_path(demo).map_err(|e| e.to_string())?);
    }
    if !args.ip_tables.is_empty() {
        gate = gate.with_ip_table(IpTable::from_paths(&args.ip_tables).map_err(|e| e.to_string())?);
    }
    Ok(gate)
}

fn country_json(policy: &Policy, c: Option<CountryCode>) -> Value {
    let groups = policy.country_groups();
    match c {
        None => Value::Null,
        Some(c) => json!({
            "country": c,
            "alias_of": groups.alias_of(c),
            "groups": groups.names(groups.groups_of(c)).collect::<Vec<_>>(),
        }),
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The printed object, in reading order.
#[derive(serde::Serialize)]
struct Explanation<'a> {
    decision: &'static str,
    reason: Option<&'static str>,
    rules: Vec<&'a str>,
    report_only: bool,
    accelerator: Value,
    jurisdiction: Value,
    license_requirement: Option<Value>,
    license: Value,
    policy: Value,
}

/// The verdict as printed, and whether the request was allowed. The
/// decision is what enforcement does: `require-license` when a license was
/// needed and none was given, also in report-only mode.
fn explain<'a>(v: &'a Verdict, args: &Args) -> (Explanation<'a>, bool) {
    let policy = v.policy();
    let info = v.instance_type().and_then(|t| policy.catalog().lookup(t));
    let chip = info.and_then(|i| i.chip);
    let decision = match (v.outcome(), v.license()) {
        (Outcome::Allow, _) => "allow",
        (Outcome::AllowLicensed, _) => "allow-licensed",
        (_, LicenseCheck::Missing) => "require-license",
        _ => "deny",
    };
    let license = match (v.license(), &args.license) {
        (LicenseCheck::Granted(grant), _) => {
            json!({"result": "allow-licensed", "jti": grant.jti(), "issuer": grant.issuer()})
        }
        (LicenseCheck::Refused(denial), _) => {
            json!({"result": denial.reason().as_str(), "detail": denial.detail()})
        }
        (_, Some(_)) => json!({"result": "not needed"}),
        _ => Value::Null,
    };
    let out = Explanation {
        decision,
        reason: v.reason().map(ReasonCode::as_str),
        rules: v.rules().collect(),
        report_only: v.outcome() == Outcome::ReportOnlyDeny,
        accelerator: json!({
            "instance_type": v.instance_type(),
            "catalog_entry": info.map(|i| i.entry),
            "class": v.accelerator_class(),
            "evaluated_class": v.evaluated_class(),
            "chip": chip.map(|c| c.name()),
            "chips_per_instance": info.map(|i| i.chips_per_instance),
            "instance_count": v.instance_count(),
            "accelerators": v.accelerators(),
            "tpp": chip.map(|c| round(c.tpp())),
            "performance_density": chip.and_then(|c| c.performance_density()).map(round),
        }),
        jurisdiction: json!({
            "declared": country_json(policy, v.declared_country()),
            "network": country_json(policy, v.network_country()),
            "network_ip": args.ip,
            "headquarters": country_json(policy, v.headquarters()),
        }),
        license_requirement: v.license_requirement().map(|r| {
            json!({
                "countries": r.countries().map(|c| c.country).collect::<Vec<_>>(),
                "also_covered_by": r.countries().filter_map(|c| c.alias_of).collect::<Vec<_>>(),
                "class": r.class,
                "instance_type": r.instance_type,
                "accelerators": (r.accelerators != u64::MAX).then_some(r.accelerators),
            })
        }),
        license,
        policy: json!({
            "name": policy.name(),
            "source": policy.source(),
            "digest": policy.digest(),
            "regime": policy.regime().name(),
            "country_lists_as_of": policy.country_lists_as_of(),
        }),
    };
    let allowed = matches!(v.outcome(), Outcome::Allow | Outcome::AllowLicensed);
    (out, allowed)
}

fn catalog(policy: &Policy, regime: Option<&str>) -> Result<(), String> {
    let regime = match regime {
        None => policy.regime(),
        Some(name) => Regime::by_name(name).ok_or_else(|| {
            let known: Vec<_> = Regime::ALL.iter().map(Regime::name).collect();
            format!(
                "--regime: unknown regime `{name}` (known: {})",
                known.join(", ")
            )
        })?,
    };
    let catalog = policy.catalog().with_regime(regime);
    println!("Chips under {} ({})\n", regime.name(), regime.citation());
    println!(
        "{:<14} {:<7} {:>4} {:>10} {:>8}  class",
        "chip", "vendor", "DC", "TPP", "PD"
    );
    for c in catalog.chips() {
        let pd = c
            .performance_density()
            .map_or("?".to_owned(), |pd| format!("{pd:.2}"));
        let dc = if c.spec().datacenter { "yes" } else { "no" };
        println!(
            "{:<14} {:<7} {:>4} {:>10.1} {:>8}  {}",
            c.name(),
            c.spec().vendor,
            dc,
            c.tpp(),
            pd,
            c.class()
        );
    }
    println!("\nInstance types\n");
    println!(
        "{:<28} {:<14} {:>5}  class",
        "instance type", "chip", "chips"
    );
    for i in catalog.instance_types() {
        println!(
            "{:<28} {:<14} {:>5}  {}",
            i.entry,
            i.chip.map_or("-", |c| c.name()),
            i.chips_per_instance,
            i.class()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let run = || -> Result<bool, String> {
        let args = parse_args()?;
        let gate = load_gate(&args)?;
        let policy = gate.policy();
        if args.catalog {
            catalog(&policy, args.regime.as_deref())?;
            return Ok(true);
        }
        let now = args.at.unwrap_or_else(SystemTime::now);
        let mut facts = Facts::new().with_instance_count(args.count.unwrap_or(1));
        facts.declared_country = args.country;
        facts.headquarters = args.headquarters;
        facts.network_country = args.ip.and_then(|ip| gate.network_country(&policy, ip));
        facts.instance_type = args.instance_type.as_deref();
        facts.customer_id = args.customer.as_deref();
        let verdict = gate.evaluate(&facts, args.license.as_deref(), now);
        let (out, allowed) = explain(&verdict, &args);
        let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
        println!("{text}");
        Ok(allowed)
    };
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("explain: {}", e.lines().next().unwrap_or("error"));
            ExitCode::from(2)
        }
    }
}
