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
use tower_export_control::jurisdiction::{GroupSet, IpTable};
use tower_export_control::license::LicenseVerifier;
use tower_export_control::{CountryCode, Decision, Facts, Outcome, Policy, decide};

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

fn load_policy(args: &Args) -> Result<Policy, String> {
    let mut policy = match &args.policy {
        Some(path) => Policy::from_path(path).map_err(|e| e.to_string())?,
        None => {
            let demo =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-issuer/license.toml");
            let verifier = LicenseVerifier::from_toml_path(demo).map_err(|e| e.to_string())?;
            Policy::embedded_default().with_license_verifier(verifier)
        }
    };
    if !args.ip_tables.is_empty() {
        policy =
            policy.with_ip_table(IpTable::from_paths(&args.ip_tables).map_err(|e| e.to_string())?);
    }
    Ok(policy)
}

fn group_names(policy: &Policy, set: GroupSet) -> Vec<&str> {
    policy.country_groups().names(set).collect()
}

fn country_json(policy: &Policy, c: Option<CountryCode>, groups: GroupSet) -> Value {
    match c {
        None => Value::Null,
        Some(c) => json!({
            "country": c,
            "alias_of": policy.country_groups().alias_of(c),
            "groups": group_names(policy, groups),
        }),
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The printed object, in reading order.
#[derive(serde::Serialize)]
struct Explanation<'a> {
    decision: String,
    reason: Option<&'static str>,
    rules: Vec<&'a str>,
    report_only: bool,
    accelerator: Value,
    jurisdiction: Value,
    license_requirement: Option<Value>,
    license: Value,
    policy: Value,
}

fn explain<'a>(
    policy: &'a Policy,
    args: &Args,
    d: &Decision<'a>,
    now: SystemTime,
) -> (Explanation<'a>, bool) {
    let acc = d.accelerators();
    let chip = acc.chip();
    let requirement = d.license_requirement();
    let mut decision = d.outcome().as_str().to_owned();
    let mut allowed = d.outcome() == Outcome::Allow;
    let mut reason = d.reason().map(|r| r.as_str());
    let license = match (&requirement, &args.license) {
        (Some(req), Some(token)) => {
            match policy
                .license_verifier()
                .check(token, args.customer.as_deref(), req, now)
            {
                Ok(grant) => {
                    decision = "allow-licensed".to_owned();
                    allowed = true;
                    reason = None;
                    json!({"result": "allow-licensed", "jti": grant.jti(), "issuer": grant.issuer()})
                }
                Err(denial) => {
                    decision = "deny".to_owned();
                    reason = Some(denial.reason().as_str());
                    json!({"result": denial.reason().as_str(), "detail": denial.detail()})
                }
            }
        }
        (None, Some(_)) => json!({"result": "not needed"}),
        _ => Value::Null,
    };
    let f = d.facts();
    let out = Explanation {
        decision,
        reason,
        rules: d.deciding_rules().collect(),
        report_only: d.report_only(),
        accelerator: json!({
            "instance_type": acc.instance_type,
            "catalog_entry": acc.instance.map(|i| i.entry),
            "class": acc.class,
            "evaluated_class": acc.evaluated_class,
            "chip": chip.map(|c| c.name()),
            "chips_per_instance": acc.chips_per_instance(),
            "instance_count": acc.instance_count,
            "accelerators": acc.chips_per_instance().map(|_| acc.total()),
            "tpp": chip.map(|c| round(c.tpp())),
            "performance_density": chip.and_then(|c| c.performance_density()).map(round),
        }),
        jurisdiction: json!({
            "declared": country_json(policy, f.declared_country, d.declared_groups()),
            "network": country_json(policy, f.network_country, d.network_groups()),
            "network_ip": args.ip,
            "headquarters": country_json(policy, f.headquarters, d.headquarters_groups()),
        }),
        license_requirement: requirement.map(|r| {
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
        let policy = load_policy(&args)?;
        if args.catalog {
            catalog(&policy, args.regime.as_deref())?;
            return Ok(true);
        }
        let now = args.at.unwrap_or_else(SystemTime::now);
        let facts = Facts {
            declared_country: args.country,
            headquarters: args.headquarters,
            network_country: args.ip.and_then(|ip| policy.ip_table().lookup(ip)),
            instance_type: args.instance_type.as_deref(),
            instance_count: args.count.unwrap_or(1),
        };
        let d = decide(&policy, &facts, now);
        let (out, allowed) = explain(&policy, &args, &d, now);
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
