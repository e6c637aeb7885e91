//! Policy errors: each kind names the file, the line and column, the entry
//! and the field; every problem in a file is reported, once, with a
//! suggestion where one helps; files the policy names keep their errors as
//! the source; dates load written either way; the embedded default policy
//! and `policies/default.toml` load and are the same policy.

// Fixture helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::panic, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use tower_export_control::jurisdiction::{IpTableError, LineProblem};
use tower_export_control::license::LicenseConfigError;
use tower_export_control::policy::{
    Action, DEFAULT_POLICY_TOML, Diagnostic, Location, PolicyError, Problem,
};
use tower_export_control::{CountryCode, Facts, Policy, decide};

const FILE: &str = "conf/export-policy.toml";

/// Marks where an error must point; removed before parsing.
const MARK: char = '‸';

const HEAD: &str = r#"[policy]
name = "t"
country_lists_as_of = "2026-07-08"
"#;

/// What a case expects besides the location.
struct Case {
    name: &'static str,
    /// Policy text with one `‸` where the error must point.
    text: String,
    /// The entry, as the message names it.
    entry: &'static str,
    /// The field, as the message names it (in backquotes), if any.
    field: Option<&'static str>,
    /// A piece of the problem text.
    problem: &'static str,
    /// The variant and problem kind.
    kind: fn(&PolicyError) -> bool,
}

fn syntax(e: &PolicyError) -> bool {
    matches!(e, PolicyError::Syntax(d) if matches!(d.problem(), Problem::Syntax(_)))
}

fn invalid(pred: fn(&Problem) -> bool) -> impl Fn(&PolicyError) -> bool {
    move |e| matches!(e, PolicyError::Invalid(ds) if ds.first().is_some_and(|d| pred(d.problem())))
}

macro_rules! kind {
    (syntax) => {
        syntax
    };
    ($p:pat) => {
        |e: &PolicyError| invalid(|p| matches!(p, $p))(e)
    };
}

/// The 1-based line and column (in characters) of the mark, and the text
/// without it.
fn locate(marked: &str) -> (String, usize, usize) {
    assert_eq!(marked.matches(MARK).count(), 1, "one mark in:\n{marked}");
    locate_first(marked)
}

/// The text without its marks, and the 1-based line and column of each
/// mark, in order.
fn locate_all(marked: &str) -> (String, Vec<(usize, usize)>) {
    let mut text = marked.to_owned();
    let mut places = Vec::new();
    while text.contains(MARK) {
        let (rest, line, column) = locate_first(&text);
        places.push((line, column));
        text = rest;
    }
    (text, places)
}

fn locate_first(marked: &str) -> (String, usize, usize) {
    let at = marked.find(MARK).unwrap();
    let before = &marked[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (marked.replacen(MARK, "", 1), line, column)
}

/// The variant's name, e.g. `UnknownGroup`.
fn variant(p: &Problem) -> String {
    format!("{p:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

fn load_err(text: &str) -> PolicyError {
    match Policy::from_toml(text, FILE, None) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(e) => e,
    }
}

fn case(
    name: &'static str,
    body: &str,
    entry: &'static str,
    field: Option<&'static str>,
    problem: &'static str,
    kind: fn(&PolicyError) -> bool,
) -> Case {
    Case {
        name,
        text: format!("{HEAD}{body}"),
        entry,
        field,
        problem,
        kind,
    }
}

const CHIP: &str = r#"
[[chips]]
name = "X"
datacenter = true
dense_tops = { 8 = 1000 }
"#;

fn cases() -> Vec<Case> {
    vec![
        // ---- TOML syntax
        case(
            "syntax: two key/value pairs on a line",
            "\n[[rules]]\nid = \"a\"\naction = \"deny\"\n\n[[rules]]\nid = \"b\" ‸action = \"deny\"\n",
            r#"rules[1] (id = "b")"#,
            Some("id"),
            "expected newline",
            kind!(syntax),
        ),
        case(
            "syntax: unclosed array table header",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { 8 = 1 }\n[[rules]‸\n",
            "[[rules]",
            None,
            "unclosed array table",
            kind!(syntax),
        ),
        case(
            "syntax: bad value",
            "\n[[chips]]\nname = \"X\"\ndatacenter = ‸tru\ndense_tops = { 8 = 1 }\n",
            r#"chips[0] (name = "X")"#,
            Some("datacenter"),
            "",
            kind!(syntax),
        ),
        // ---- unknown keys
        case(
            "unknown key in [policy]",
            "‸colour = \"red\"\n",
            "policy",
            Some("colour"),
            "unknown field `colour`",
            kind!(syntax),
        ),
        case(
            "unknown key in a rule",
            "\n[[rules]]\nid = \"first\"\naction = \"allow\"\n\n[[rules]]\nid = \"x\"\naction = \"deny\"\n‸prority = 3\n",
            r#"rules[1] (id = "x")"#,
            Some("prority"),
            "unknown field `prority`",
            kind!(syntax),
        ),
        case(
            "unknown key in a chip",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { 8 = 1 }\n‸area = 3\n",
            r#"chips[0] (name = "X")"#,
            Some("area"),
            "unknown field `area`",
            kind!(syntax),
        ),
        case(
            "unknown key in an inline table",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { 8 = 1 }\n\n[http]\nprovisioning_routes = [{ method = \"POST\", path = \"/v1\" }, { method = \"POST\", ‸pth = \"/v2\" }]\n",
            "http.provisioning_routes[1]",
            Some("pth"),
            "unknown field `pth`",
            kind!(syntax),
        ),
        case(
            "unknown top-level table",
            "\n[‸rule]\nid = \"x\"\n",
            "top level",
            Some("rule"),
            "unknown field `rule`",
            kind!(syntax),
        ),
        // ---- wrong types
        case(
            "wrong type: string for a boolean",
            "\n[[chips]]\nname = \"X\"\ndatacenter = ‸\"yes\"\ndense_tops = { 8 = 1 }\n",
            r#"chips[0] (name = "X")"#,
            Some("datacenter"),
            "expected a boolean",
            kind!(syntax),
        ),
        case(
            "wrong type: string for a list",
            "\n[[rules]]\nid = \"x\"\naction = \"deny\"\ncountries = ‸\"CN\"\n",
            r#"rules[0] (id = "x")"#,
            Some("countries"),
            "expected a sequence",
            kind!(syntax),
        ),
        case(
            "wrong type: string for a number in a map",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { 8 = 1, 16 = ‸\"2\" }\n",
            r#"chips[0] (name = "X")"#,
            Some("dense_tops.16"),
            "invalid type",
            kind!(syntax),
        ),
        case(
            "wrong type: number for a date",
            "\n[[rules]]\nid = \"x\"\naction = \"deny\"\neffective_from = ‸20260101\n",
            r#"rules[0] (id = "x")"#,
            Some("effective_from"),
            "invalid type: integer `20260101`, expected a date",
            kind!(syntax),
        ),
        // ---- countries
        case(
            "unassigned code in a group",
            "\n[country_groups]\nG = [\"CN\", ‸\"XK\"]\n",
            r#"country_groups."G""#,
            Some("[1]"),
            "`XK` is not an assigned",
            kind!(Problem::Country(_)),
        ),
        case(
            "unassigned code in a rule",
            "\n[[rules]]\nid = \"x\"\ncountries = [\"CN\", ‸\"ZZ\"]\naction = \"deny\"\n",
            r#"rules[0] (id = "x")"#,
            Some("countries[1]"),
            "`ZZ` is not an assigned",
            kind!(Problem::Country(_)),
        ),
        case(
            "withdrawn code in a rule's headquarters",
            "\n[[rules]]\nid = \"x\"\nheadquarters_countries = [‸\"AN\"]\naction = \"deny\"\n",
            r#"rules[0] (id = "x")"#,
            Some("headquarters_countries[0]"),
            "`AN` is not an assigned",
            kind!(Problem::Country(_)),
        ),
        case(
            "bad alias key",
            "\n[country_aliases]\n‸EU = \"BE\"\n",
            "country_aliases.EU",
            Some("key"),
            "`EU` is not an assigned",
            kind!(Problem::Country(_)),
        ),
        case(
            "alias chain",
            "\n[country_aliases]\nHK = \"CN\"\nMO = ‸\"HK\"\n",
            "country_aliases.MO",
            Some("value"),
            "not itself an alias",
            kind!(Problem::AliasOfAlias { .. }),
        ),
        case(
            "alias chain, lower case",
            "\n[country_aliases]\nhk = \"cn\"\nmo = ‸\"hk\"\n",
            "country_aliases.mo",
            Some("value"),
            "not itself an alias",
            kind!(Problem::AliasOfAlias { .. }),
        ),
        case(
            "alias defined twice in different case",
            "\n[country_aliases]\nHK = \"CN\"\n‸hk = \"MO\"\n",
            "country_aliases.hk",
            Some("key"),
            "`HK` is defined more than once",
            kind!(Problem::Duplicate(_)),
        ),
        case(
            "alias of itself",
            "\n[country_aliases]\nHK = ‸\"HK\"\n",
            "country_aliases.HK",
            Some("value"),
            "alias of itself",
            kind!(Problem::AliasOfItself),
        ),
        case(
            "duplicate group member",
            "\n[country_groups]\nG = [\"CN\", \"RU\", ‸\"cn\"]\n",
            r#"country_groups."G""#,
            Some("[2]"),
            "`CN` is defined more than once",
            kind!(Problem::Duplicate(_)),
        ),
        // ---- groups
        case(
            "unknown group in a rule",
            "\n[country_groups]\n\"D:1\" = [\"CN\"]\n\n[[rules]]\nid = \"x\"\ngroups = [\"D:1\", ‸\"D:9\"]\naction = \"deny\"\n",
            r#"rules[0] (id = "x")"#,
            Some("groups[1]"),
            "no country group named `D:9`",
            kind!(Problem::UnknownGroup(_)),
        ),
        case(
            "unknown group in except_groups",
            "\n[[rules]]\nid = \"x\"\nexcept_groups = [‸\"A:5\"]\naction = \"deny\"\n",
            r#"rules[0] (id = "x")"#,
            Some("except_groups[0]"),
            "no country group named `A:5`",
            kind!(Problem::UnknownGroup(_)),
        ),
        case(
            "unknown group in headquarters_groups",
            "\n[[rules]]\nid = \"x\"\nheadquarters_groups = [‸\"D:5\"]\naction = \"deny\"\n",
            r#"rules[0] (id = "x")"#,
            Some("headquarters_groups[0]"),
            "no country group named `D:5`",
            kind!(Problem::UnknownGroup(_)),
        ),
        // ---- rules
        case(
            "duplicate rule id",
            "\n[[rules]]\nid = \"x\"\naction = \"deny\"\n\n[[rules]]\nid = ‸\"x\"\naction = \"allow\"\n",
            r#"rules[1] (id = "x")"#,
            Some("id"),
            "`x` is defined more than once",
            kind!(Problem::Duplicate(_)),
        ),
        case(
            "empty rule id",
            "\n[[rules]]\nid = ‸\" \"\naction = \"deny\"\n",
            r#"rules[0] (id = " ")"#,
            Some("id"),
            "must not be empty",
            kind!(Problem::Empty),
        ),
        case(
            "bad action",
            "\n[[rules]]\nid = \"x\"\naction = ‸\"block\"\n",
            r#"rules[0] (id = "x")"#,
            Some("action"),
            "`block` is not one of allow, require-license, deny",
            kind!(Problem::NotOneOf { .. }),
        ),
        case(
            "bad deny reason",
            "\n[[rules]]\nid = \"x\"\naction = \"deny\"\nreason = ‸\"because\"\n",
            r#"rules[0] (id = "x")"#,
            Some("reason"),
            "`because` is not one of",
            kind!(Problem::NotOneOf { .. }),
        ),
        case(
            "reason on a require-license rule",
            "\n[[rules]]\nid = \"x\"\naction = \"require-license\"\nreason = ‸\"embargoed\"\n",
            r#"rules[0] (id = "x")"#,
            Some("reason"),
            "only for rules whose action is `deny`",
            kind!(Problem::ReasonWithoutDeny),
        ),
        case(
            "reason on an allow rule",
            "\n[[rules]]\nid = \"x\"\naction = \"allow\"\nreason = ‸\"embargoed\"\n",
            r#"rules[0] (id = "x")"#,
            Some("reason"),
            "only for rules whose action is `deny`",
            kind!(Problem::ReasonWithoutDeny),
        ),
        case(
            "bad class in a rule",
            "\n[[rules]]\nid = \"x\"\naccelerator_classes = [\"3A090.a\", ‸\"3A090.c\"]\naction = \"deny\"\n",
            r#"rules[0] (id = "x")"#,
            Some("accelerator_classes[1]"),
            "`3A090.c` is not an accelerator class",
            kind!(Problem::Class(_)),
        ),
        case(
            "bad effective_from",
            "\n[[rules]]\nid = \"x\"\naction = \"deny\"\neffective_from = ‸\"2026-02-30\"\n",
            r#"rules[0] (id = "x")"#,
            Some("effective_from"),
            "`2026-02-30` is not a date",
            kind!(Problem::Date(_)),
        ),
        case(
            "no 29 February in 2023",
            "\n[[rules]]\nid = \"x\"\naction = \"deny\"\neffective_from = ‸\"2023-02-29\"\n",
            r#"rules[0] (id = "x")"#,
            Some("effective_from"),
            "`2023-02-29` is not a date",
            kind!(Problem::Date(_)),
        ),
        case(
            "no 29 February in 2023, as a TOML date",
            "\n[[rules]]\nid = \"x\"\naction = \"deny\"\neffective_from = ‸2023-02-29\n",
            r#"rules[0] (id = "x")"#,
            Some("effective_from"),
            "",
            kind!(syntax),
        ),
        case(
            "a TOML date-time for a date",
            "\n[[rules]]\nid = \"x\"\naction = \"deny\"\neffective_until = ‸2023-11-17T10:00:00Z\n",
            r#"rules[0] (id = "x")"#,
            Some("effective_until"),
            "`2023-11-17T10:00:00Z` is not a date",
            kind!(Problem::Date(_)),
        ),
        case(
            "bad effective_until",
            "\n[[rules]]\nid = \"x\"\naction = \"deny\"\neffective_until = ‸\"next year\"\n",
            r#"rules[0] (id = "x")"#,
            Some("effective_until"),
            "`next year` is not a date",
            kind!(Problem::Date(_)),
        ),
        case(
            "until before from",
            "\n[[rules]]\nid = \"x\"\naction = \"deny\"\neffective_from = \"2026-01-01\"\neffective_until = ‸\"2026-01-01\"\n",
            r#"rules[0] (id = "x")"#,
            Some("effective_until"),
            "must be after",
            kind!(Problem::EffectiveUntilNotAfterFrom),
        ),
        // ---- [policy] and [defaults]
        case(
            "bad country_lists_as_of",
            "",
            "policy",
            Some("country_lists_as_of"),
            "`2026-7-8` is not a date",
            kind!(Problem::Date(_)),
        ),
        case(
            "bad regime",
            "regime = ‸\"ear-2025-01\"\n",
            "policy",
            Some("regime"),
            "`ear-2025-01` is not one of ear-2023-10, ear-2022-10",
            kind!(Problem::NotOneOf { .. }),
        ),
        case(
            "bad mode",
            "mode = ‸\"audit\"\n",
            "policy",
            Some("mode"),
            "`audit` is not one of enforce, report-only",
            kind!(Problem::NotOneOf { .. }),
        ),
        case(
            "bad unknown_jurisdiction",
            "\n[defaults]\nunknown_jurisdiction = ‸\"ask\"\n",
            "defaults",
            Some("unknown_jurisdiction"),
            "`ask` is not one of allow, require-license, deny",
            kind!(Problem::NotOneOf { .. }),
        ),
        case(
            "unknown_instance_type = unknown",
            "\n[defaults]\nunknown_instance_type = ‸\"unknown\"\n",
            "defaults",
            Some("unknown_instance_type"),
            "cannot be assumed",
            kind!(Problem::AssumedUnknownClass),
        ),
        case(
            "bad controlled class",
            "\n[defaults]\ncontrolled_classes = [\"3A090.a\", ‸\"4A090\"]\n",
            "defaults",
            Some("controlled_classes[1]"),
            "`4A090` is not an accelerator class",
            kind!(Problem::Class(_)),
        ),
        // ---- chips
        case(
            "duplicate chip name",
            &format!(
                "{CHIP}\n[[chips]]\nname = ‸\"X\"\ndatacenter = false\ndense_tops = {{ 8 = 1 }}\n"
            ),
            r#"chips[1] (name = "X")"#,
            Some("name"),
            "`X` is defined more than once",
            kind!(Problem::Duplicate(_)),
        ),
        case(
            "zero TOPS",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { 8 = 1, 16 = ‸0 }\n",
            r#"chips[0] (name = "X")"#,
            Some("dense_tops.16"),
            "0 is not a finite number greater than zero",
            kind!(Problem::NotPositive(_)),
        ),
        case(
            "negative TOPS",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { 8 = ‸-5.5 }\n",
            r#"chips[0] (name = "X")"#,
            Some("dense_tops.8"),
            "-5.5 is not a finite number greater than zero",
            kind!(Problem::NotPositive(_)),
        ),
        case(
            "NaN TOPS",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { 8 = ‸nan }\n",
            r#"chips[0] (name = "X")"#,
            Some("dense_tops.8"),
            "NaN is not a finite number",
            kind!(Problem::NotPositive(_)),
        ),
        case(
            "infinite die area",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { 8 = 1 }\ndie_area_mm2 = ‸inf\n",
            r#"chips[0] (name = "X")"#,
            Some("die_area_mm2"),
            "inf is not a finite number",
            kind!(Problem::NotPositive(_)),
        ),
        case(
            "negative infinite interconnect",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { 8 = 1 }\ninterconnect_gbps = ‸-inf\n",
            r#"chips[0] (name = "X")"#,
            Some("interconnect_gbps"),
            "-inf is not a finite number",
            kind!(Problem::NotPositive(_)),
        ),
        case(
            "zero die area",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { 8 = 1 }\ndie_area_mm2 = ‸0.0\n",
            r#"chips[0] (name = "X")"#,
            Some("die_area_mm2"),
            "0 is not a finite number greater than zero",
            kind!(Problem::NotPositive(_)),
        ),
        case(
            "bit length not a number",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { 8 = 1, ‸fp8 = 2 }\n",
            r#"chips[0] (name = "X")"#,
            Some("dense_tops.fp8"),
            "`fp8` is not one of bit lengths 1..=128",
            kind!(Problem::NotOneOf { .. }),
        ),
        case(
            "bit length out of range",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = { ‸256 = 1 }\n",
            r#"chips[0] (name = "X")"#,
            Some("dense_tops.256"),
            "`256` is not one of bit lengths 1..=128",
            kind!(Problem::NotOneOf { .. }),
        ),
        case(
            "no TOPS",
            "\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = ‸{}\n",
            r#"chips[0] (name = "X")"#,
            Some("dense_tops"),
            "must not be empty",
            kind!(Problem::Empty),
        ),
        // ---- instance types
        case(
            "unknown chip in an instance type",
            &format!("{CHIP}\n[[instance_types]]\nname = \"a\"\nchip = ‸\"Nope\"\nchips = 1\n"),
            r#"instance_types[0] (name = "a")"#,
            Some("chip"),
            "no chip named `Nope`",
            kind!(Problem::UnknownChip(_)),
        ),
        case(
            "duplicate instance type",
            &format!(
                "{CHIP}\n[[instance_types]]\nname = \"a\"\n\n[[instance_types]]\nname = ‸\"a\"\nchip = \"X\"\nchips = 1\n"
            ),
            r#"instance_types[1] (name = "a")"#,
            Some("name"),
            "`a` is defined more than once",
            kind!(Problem::Duplicate(_)),
        ),
        case(
            "chip without chips",
            &format!("{CHIP}\n[[instance_types]]\nname = \"a\"\nchip = ‸\"X\"\n"),
            r#"instance_types[0] (name = "a")"#,
            Some("chips"),
            "`chip` needs `chips`",
            kind!(Problem::ChipWithoutCount),
        ),
        case(
            "chips without chip",
            &format!("{CHIP}\n[[instance_types]]\nname = \"a\"\nchips = ‸8\n"),
            r#"instance_types[0] (name = "a")"#,
            Some("chip"),
            "`chips` needs `chip`",
            kind!(Problem::CountWithoutChip),
        ),
        case(
            "zero chips",
            &format!("{CHIP}\n[[instance_types]]\nname = \"a\"\nchip = \"X\"\nchips = ‸0\n"),
            r#"instance_types[0] (name = "a")"#,
            Some("chips"),
            "0 is outside 1..=1024",
            kind!(Problem::OutOfRange { .. }),
        ),
        case(
            "empty instance type name",
            &format!("{CHIP}\n[[instance_types]]\nname = ‸\"\"\n"),
            r#"instance_types[0] (name = "")"#,
            Some("name"),
            "must be 1 to 128 bytes long, not 0",
            kind!(Problem::InstanceTypeNameLength { length: 0 }),
        ),
        // ---- [network] and [http]
        case(
            "bad CIDR",
            "\n[network]\ntrusted_proxies = [\"10.0.0.0/8\", ‸\"10.0.0.0/33\"]\n",
            "network",
            Some("trusted_proxies[1]"),
            "`10.0.0.0/33` is not a CIDR network",
            kind!(Problem::Network(_)),
        ),
        case(
            "proxy not a network at all",
            "\n[network]\ntrusted_proxies = [‸\"localhost\"]\n",
            "network",
            Some("trusted_proxies[0]"),
            "`localhost` is not a CIDR network",
            kind!(Problem::Network(_)),
        ),
        case(
            "bad header name",
            "\n[http]\ncountry_header = ‸\"x customer country\"\n",
            "http",
            Some("country_header"),
            "`x customer country` is not a valid HTTP header name",
            kind!(Problem::HeaderName(_)),
        ),
        case(
            "bad license header name",
            "\n[http]\nlicense_header = ‸\"x-export-license:\"\n",
            "http",
            Some("license_header"),
            "is not a valid HTTP header name",
            kind!(Problem::HeaderName(_)),
        ),
        case(
            "body limit out of range",
            "\n[http]\nbody_limit_bytes = ‸0\n",
            "http",
            Some("body_limit_bytes"),
            "0 is outside 1..=16777216",
            kind!(Problem::OutOfRange { .. }),
        ),
        case(
            "route path without slash",
            "\n[[http.provisioning_routes]]\nmethod = \"POST\"\npath = ‸\"v1/instances\"\n",
            "http.provisioning_routes[0]",
            Some("path"),
            "must start with `/`",
            kind!(Problem::PathWithoutSlash(_)),
        ),
        case(
            "instance type name too long",
            &format!(
                "{CHIP}\n[[instance_types]]\nname = ‸\"{}\"\n",
                "x".repeat(129)
            ),
            Box::leak(
                format!("instance_types[0] (name = \"{}\")", "x".repeat(129)).into_boxed_str(),
            ),
            Some("name"),
            "must be 1 to 128 bytes long, not 129",
            kind!(Problem::InstanceTypeNameLength { length: 129 }),
        ),
        case(
            "JSON pointer without slash",
            "\n[[http.provisioning_routes]]\nmethod = \"POST\"\npath = \"/v1/instances\"\ncount_pointer = ‸\"count\"\n",
            "http.provisioning_routes[0]",
            Some("count_pointer"),
            "`count` is not a JSON pointer",
            kind!(Problem::InvalidJsonPointer(_)),
        ),
        // ---- positions count characters, not bytes
        Case {
            text: format!(
                "rules = [{{ id = \"Zürich–Genève\", countries = [‸\"ÜS\"], action = \"deny\" }}]\n{HEAD}"
            ),
            ..case(
                "column in characters after non-ASCII text",
                "",
                r#"rules[0] (id = "Zürich–Genève")"#,
                Some("countries[0]"),
                "`ÜS` is not an assigned",
                kind!(Problem::Country(_)),
            )
        },
        Case {
            text: format!("# Größe\n{HEAD}\n[[chips]]\nname = \"Ωmega\"\ndatacenter = ‸\"ja\"\n"),
            ..case(
                "syntax-level error after non-ASCII text",
                "",
                r#"chips[0] (name = "Ωmega")"#,
                Some("datacenter"),
                "expected a boolean",
                kind!(syntax),
            )
        },
    ]
}

fn check(c: &Case) {
    // The bad country_lists_as_of case rewrites the header.
    let marked = if c.name == "bad country_lists_as_of" {
        c.text.replace(
            "country_lists_as_of = \"2026-07-08\"",
            "country_lists_as_of = ‸\"2026-7-8\"",
        )
    } else {
        c.text.clone()
    };
    let (text, line, column) = locate(&marked);
    let err = match Policy::from_toml(&text, FILE, None) {
        Ok(_) => panic!("{}: loaded\n{text}", c.name),
        Err(e) => e,
    };
    let shown = err.to_string();
    let name = c.name;
    assert_eq!(
        err.location(),
        Some(&Location {
            file: FILE.to_owned(),
            line,
            column
        }),
        "{name}: location of {shown}"
    );
    let prefix = format!("{FILE}:{line}:{column}: {}: ", c.entry);
    assert!(
        shown.starts_with(&prefix),
        "{name}:\n  got  {shown}\n  want {prefix}…"
    );
    if let Some(field) = c.field {
        let rest = &shown[prefix.len()..];
        assert!(
            rest.starts_with(&format!("`{field}`: ")),
            "{name}: field `{field}` in {shown}"
        );
    }
    assert!(shown.contains(c.problem), "{name}: {shown}");
    // One mistake, one diagnostic, one line.
    assert_eq!(err.diagnostics().len(), 1, "{name}: {shown}");
    assert!(!shown.contains('\n'), "{name}: {shown}");
    assert!((c.kind)(&err), "{name}: variant of {err:?}");
    // A failed load never half-loads: the same text keeps failing the
    // same way.
    let again = Policy::from_toml(&text, FILE, None)
        .unwrap_err()
        .to_string();
    assert_eq!(again, shown);
}

#[test]
fn every_kind_of_error_names_file_line_column_entry_and_field() {
    let cases = cases();
    let mut failures = Vec::new();
    for c in &cases {
        if let Err(e) = std::panic::catch_unwind(|| check(c)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn error_text_is_exact_for_a_validation_error() {
    let text =
        format!("{HEAD}\n[[rules]]\nid = \"embargo\"\ngroups = [\"E:1\"]\naction = \"deny\"\n");
    let err = Policy::from_toml(&text, FILE, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "conf/export-policy.toml:7:11: rules[0] (id = \"embargo\"): `groups[0]`: no country group named `E:1`"
    );
}

#[test]
fn missing_fields_name_the_entry() {
    for (body, entry, missing) in [
        (
            "\n[[rules]]\nid = \"x\"\n",
            r#"rules[0] (id = "x")"#,
            "action",
        ),
        (
            "\n[[chips]]\nname = \"X\"\ndense_tops = { 8 = 1 }\n",
            r#"chips[0] (name = "X")"#,
            "datacenter",
        ),
    ] {
        let text = format!("{HEAD}{body}");
        let err = Policy::from_toml(&text, FILE, None).unwrap_err();
        let shown = err.to_string();
        assert!(matches!(err, PolicyError::Syntax(_)), "{shown}");
        assert!(
            shown.starts_with(&format!("{FILE}:5:1: {entry}: ")),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("missing field `{missing}`")),
            "{shown}"
        );
    }
    // A policy without [policy] at all.
    let err = Policy::from_toml("[defaults]\n", FILE, None).unwrap_err();
    assert!(err.to_string().contains("missing field `policy`"), "{err}");
    assert!(err.to_string().starts_with(FILE), "{err}");
}

fn too_many_rules() -> PolicyError {
    let mut text = HEAD.to_owned();
    for i in 0..=256 {
        text.push_str(&format!("\n[[rules]]\nid = \"r{i}\"\naction = \"allow\"\n"));
    }
    load_err(&text)
}

/// 65 groups, and a rule naming the one past the limit.
fn too_many_groups() -> PolicyError {
    let mut text = format!("{HEAD}\n[country_groups]\n");
    for i in 0..65 {
        text.push_str(&format!("\"g{i:02}\" = [\"US\"]\n"));
    }
    text.push_str("\n[[rules]]\nid = \"x\"\ngroups = [\"g64\"]\naction = \"deny\"\n");
    load_err(&text)
}

#[test]
fn limits() {
    // More rules than the engine keeps.
    let err = too_many_rules();
    assert!(
        matches!(err.diagnostics(), [d] if matches!(d.problem(), Problem::TooManyRules { max: 256 })),
        "{err}"
    );
    let loc = err.location().unwrap();
    // The 257th rule's header.
    assert_eq!(loc.line, 3 + 256 * 4 + 2, "{err}");
    // 256 rules load.
    let mut ok = HEAD.to_owned();
    for i in 0..256 {
        ok.push_str(&format!("\n[[rules]]\nid = \"r{i}\"\naction = \"allow\"\n"));
    }
    assert_eq!(
        Policy::from_toml(&ok, FILE, None).unwrap().rules().len(),
        256
    );

    // More groups than fit in a GroupSet. The rule naming the group past
    // the limit is not reported as naming an unknown group.
    let err = too_many_groups();
    assert!(
        err.to_string().contains("at most 64 country groups"),
        "{err}"
    );
    assert_eq!(err.diagnostics().len(), 1, "{err}");
    assert_eq!(err.location().unwrap().line, 5 + 64 + 1, "{err}");
}

#[test]
fn missing_file_names_the_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/no-such-policy.toml");
    let err = Policy::from_path(&path).unwrap_err();
    assert!(matches!(err, PolicyError::Read { .. }), "{err:?}");
    assert!(err.location().is_none());
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{}: cannot read policy", path.display())),
        "{shown}"
    );
    assert!(std::error::Error::source(&err).is_some());
    assert!(err.diagnostics().is_empty());
}

#[test]
fn from_path_names_the_file_in_errors() {
    let dir = std::env::temp_dir().join(format!("tec-policy-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, format!("{HEAD}regime = \"ear-1999\"\n")).unwrap();
    let err = Policy::from_path(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    let loc = err.location().unwrap();
    assert_eq!(loc.file, path.display().to_string());
    assert_eq!((loc.line, loc.column), (4, 10));
    assert!(
        err.to_string()
            .starts_with(&format!("{}:4:10: policy: `regime`:", path.display())),
        "{err}"
    );
}

#[test]
fn the_default_policy_loads_embedded_and_from_disk() {
    let embedded = Policy::embedded_default();
    assert_eq!(embedded.source(), "<embedded default policy>");
    assert_eq!(embedded.name(), "ear-3a090-default");
    assert_eq!(embedded.country_lists_as_of(), "2026-07-08");
    assert!(embedded.digest().starts_with("sha256:"));
    assert_eq!(embedded.digest().len(), "sha256:".len() + 64);

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml");
    let disk = Policy::from_path(&path).unwrap();
    assert_eq!(disk.digest(), embedded.digest());
    assert_eq!(disk.source(), path.display().to_string());
    assert_eq!(disk.base_dir(), path.parent());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), DEFAULT_POLICY_TOML);
    assert_eq!(disk.rules().len(), embedded.rules().len());
    assert_eq!(disk.catalog().chips(), embedded.catalog().chips());
    assert_eq!(disk.regime(), embedded.regime());
    assert_eq!(disk.mode(), embedded.mode());

    // The digest is the text's: the same text under another name has the
    // same digest; a one-byte change has another.
    let renamed = Policy::from_toml(DEFAULT_POLICY_TOML, "other.toml", None).unwrap();
    assert_eq!(renamed.digest(), embedded.digest());
    let changed = Policy::from_toml(&format!("{DEFAULT_POLICY_TOML}\n"), "x", None).unwrap();
    assert_ne!(changed.digest(), embedded.digest());
}

#[test]
fn toml_dates_and_quoted_dates_decide_the_same() {
    let policy = |as_of: &str, from: &str, until: &str| {
        let text = format!(
            "[policy]\nname = \"t\"\ncountry_lists_as_of = {as_of}\n\n[[rules]]\nid = \"cn\"\ncountries = [\"CN\"]\naction = \"deny\"\neffective_from = {from}\neffective_until = {until}\n"
        );
        Policy::from_toml(&text, FILE, None).unwrap()
    };
    let quoted = policy("\"2026-07-08\"", "\"2023-11-17\"", "\"2024-02-29\"");
    let native = policy("2026-07-08", "2023-11-17", "2024-02-29");
    let mixed = policy("2026-07-08", "\"2023-11-17\"", "2024-02-29");
    assert_eq!(quoted.country_lists_as_of(), "2026-07-08");
    assert_eq!(native.country_lists_as_of(), "2026-07-08");

    let facts = {
        let mut f = Facts::new();
        f.declared_country = Some(CountryCode::parse("CN").unwrap());
        f.instance_type = Some("p5.48xlarge");
        f
    };
    // 2023-11-17 and 2024-02-29, 00:00 UTC.
    let (from, until) = (1_700_179_200, 1_709_164_800);
    for (t, denied) in [
        (from - 1, false),
        (from, true),
        (until - 1, true),
        (until, false),
    ] {
        let now = UNIX_EPOCH + Duration::from_secs(t);
        let outcomes: Vec<Action> = [&quoted, &native, &mixed]
            .map(|p| decide(p, &facts, now).action())
            .into();
        assert!(
            outcomes.iter().all(|o| *o == outcomes[0]),
            "{t}: {outcomes:?}"
        );
        assert_eq!(outcomes[0] == Action::Deny, denied, "{t}: {outcomes:?}");
    }
}

/// What one diagnostic must say.
struct Want {
    entry: &'static str,
    field: &'static str,
    problem: &'static str,
    help: Option<&'static str>,
}

/// Loads `marked` (one `‸` per expected diagnostic) and checks that the
/// error lists exactly `want`, in order, each at its mark, and prints one
/// line each.
fn expect_all(marked: &str, want: &[Want]) -> PolicyError {
    let (text, places) = locate_all(marked);
    assert_eq!(places.len(), want.len(), "one mark per diagnostic");
    let err = load_err(&text);
    let shown = err.to_string();
    let ds = err.diagnostics();
    assert_eq!(ds.len(), want.len(), "{shown}");
    assert_eq!(shown.lines().count(), want.len(), "{shown}");
    for ((d, w), ((line, column), printed)) in
        ds.iter().zip(want).zip(places.iter().zip(shown.lines()))
    {
        let at = Location {
            file: FILE.to_owned(),
            line: *line,
            column: *column,
        };
        assert_eq!(d.location(), &at, "{d}");
        assert_eq!(d.entry(), w.entry, "{d}");
        assert_eq!(d.field(), Some(w.field), "{d}");
        assert_eq!(variant(d.problem()), w.problem, "{d}");
        assert_eq!(d.help(), w.help, "{d}");
        assert_eq!(printed, d.to_string());
        assert!(
            printed.starts_with(&format!("{at}: {}: `{}`: ", w.entry, w.field)),
            "{printed}"
        );
        if let Some(help) = w.help {
            assert!(printed.ends_with(&format!(" (help: {help})")), "{printed}");
        }
    }
    assert_eq!(err.location(), ds.first().map(Diagnostic::location));
    err
}

#[test]
fn three_independent_mistakes_are_three_diagnostics_in_file_order() {
    // [http] comes first in the file though it is checked last.
    let marked = format!(
        r#"{HEAD}
[http]
country_header = ‸"x customer country"

[country_groups]
"E:1" = ["CU"]

[[rules]]
id = "embargo"
groups = [‸"E:3"]
action = "deny"

[[chips]]
name = "X"
datacenter = true
dense_tops = {{ 8 = ‸-1 }}
"#
    );
    let err = expect_all(
        &marked,
        &[
            Want {
                entry: "http",
                field: "country_header",
                problem: "HeaderName",
                help: Some("did you mean `x-customer-country`?"),
            },
            Want {
                entry: r#"rules[0] (id = "embargo")"#,
                field: "groups[0]",
                problem: "UnknownGroup",
                help: Some("did you mean `E:1`?"),
            },
            Want {
                entry: r#"chips[0] (name = "X")"#,
                field: "dense_tops.8",
                problem: "NotPositive",
                help: None,
            },
        ],
    );
    assert!(matches!(err, PolicyError::Invalid(_)));
}

#[test]
fn three_bad_rules_are_three_diagnostics() {
    let marked = format!(
        r#"{HEAD}
[[rules]]
id = "good"
countries = ["CU"]
action = "deny"

[[rules]]
id = "one"
countries = ["CN", ‸"XK"]
action = "deny"

[[rules]]
id = "two"
action = ‸"dney"

[[rules]]
id = "three"
action = "allow"
reason = ‸"embargoed"
"#
    );
    expect_all(
        &marked,
        &[
            Want {
                entry: r#"rules[1] (id = "one")"#,
                field: "countries[1]",
                problem: "Country",
                help: None,
            },
            Want {
                entry: r#"rules[2] (id = "two")"#,
                field: "action",
                problem: "NotOneOf",
                help: Some("did you mean `deny`?"),
            },
            Want {
                entry: r#"rules[3] (id = "three")"#,
                field: "reason",
                problem: "ReasonWithoutDeny",
                help: None,
            },
        ],
    );
}

#[test]
fn several_problems_in_one_entry_are_each_reported() {
    let marked = format!(
        r#"{HEAD}
[[rules]]
id = "x"
groups = [‸"A:9", ‸"B:9"]
action = ‸"block"
effective_from = ‸"2023-02-29"
"#
    );
    expect_all(
        &marked,
        &[
            Want {
                entry: r#"rules[0] (id = "x")"#,
                field: "groups[0]",
                problem: "UnknownGroup",
                help: None,
            },
            Want {
                entry: r#"rules[0] (id = "x")"#,
                field: "groups[1]",
                problem: "UnknownGroup",
                help: None,
            },
            Want {
                entry: r#"rules[0] (id = "x")"#,
                field: "action",
                problem: "NotOneOf",
                help: None,
            },
            Want {
                entry: r#"rules[0] (id = "x")"#,
                field: "effective_from",
                problem: "Date",
                help: Some("February 2023 has 28 days"),
            },
        ],
    );
}

#[test]
fn error_text_is_exact_for_several_problems() {
    let text = format!(
        "{HEAD}\n[country_groups]\n\"E:1\" = [\"CU\"]\n\n[[rules]]\nid = \"embargo\"\ngroups = [\"E:3\"]\naction = \"dney\"\n"
    );
    let err = load_err(&text);
    assert_eq!(
        err.to_string(),
        "conf/export-policy.toml:10:11: rules[0] (id = \"embargo\"): `groups[0]`: no country group named `E:3` (help: did you mean `E:1`?)\n\
         conf/export-policy.toml:11:10: rules[0] (id = \"embargo\"): `action`: `dney` is not one of allow, require-license, deny (help: did you mean `deny`?)"
    );
}

#[test]
fn problems_that_follow_from_another_are_not_reported() {
    for (name, marked, problem) in [
        (
            "a rule naming a group with a bad member",
            format!(
                "{HEAD}\n[country_groups]\nG = [‸\"XK\"]\n\n[[rules]]\nid = \"x\"\ngroups = [\"G\"]\naction = \"deny\"\n"
            ),
            "Country",
        ),
        (
            "a reason on a rule whose action is unknown",
            format!("{HEAD}\n[[rules]]\nid = \"x\"\naction = ‸\"block\"\nreason = \"embargoed\"\n"),
            "NotOneOf",
        ),
        (
            "the order of dates when one is not a date",
            format!(
                "{HEAD}\n[[rules]]\nid = \"x\"\naction = \"deny\"\neffective_from = ‸\"2026-02-30\"\neffective_until = \"2026-01-01\"\n"
            ),
            "Date",
        ),
        (
            "an instance type of a chip with a bad value",
            format!(
                "{HEAD}\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = {{ 8 = ‸0 }}\n\n[[instance_types]]\nname = \"a\"\nchip = \"X\"\nchips = 1\n"
            ),
            "NotPositive",
        ),
        (
            "an instance type of a chip defined twice",
            format!(
                "{HEAD}{CHIP}\n[[chips]]\nname = ‸\"X\"\ndatacenter = true\ndense_tops = {{ 8 = 1 }}\n\n[[instance_types]]\nname = \"a\"\nchip = \"X\"\nchips = 1\n"
            ),
            "Duplicate",
        ),
        (
            "an alias whose target is not a country",
            format!("{HEAD}\n[country_aliases]\nHK = ‸\"C\"\nMO = \"HK\"\n"),
            "Country",
        ),
    ] {
        let (text, places) = locate_all(&marked);
        let err = load_err(&text);
        let ds = err.diagnostics();
        assert_eq!(ds.len(), 1, "{name}: {err}");
        assert_eq!(variant(ds[0].problem()), problem, "{name}: {err}");
        let loc = ds[0].location();
        assert_eq!(vec![(loc.line, loc.column)], places, "{name}: {err}");
    }
}

#[test]
fn suggestions() {
    // A rule, after `prefix` (sections before it).
    let after =
        |prefix: &str, line: &str| format!("{HEAD}{prefix}\n[[rules]]\nid = \"x\"\n{line}\n");
    let after_deny =
        |prefix: &str, line: &str| after(prefix, &format!("action = \"deny\"\n{line}"));
    let rule = |line: &str| after("", line);
    let rule_deny = |line: &str| after_deny("", line);
    let groups = "\n[country_groups]\n\"D:3\" = [\"CN\"]\n\"E:1\" = [\"CU\"]\n\"E:2\" = [\"IR\"]\n";
    let catalog = format!(
        "{CHIP}\n[[chips]]\nname = \"H100 SXM\"\ndatacenter = true\ndense_tops = {{ 8 = 3958 }}\n"
    );
    for (text, help) in [
        // Names the file defines.
        (
            after_deny(
                "\n[country_groups]\n\"D:3\" = [\"CN\"]\n\"E:1\" = [\"CU\"]\n",
                "groups = [\"E:3\"]",
            ),
            Some("did you mean `E:1`?"),
        ),
        (
            after_deny(groups, "except_groups = [\"E:3\"]"),
            Some("did you mean `E:1` or `E:2`?"),
        ),
        (after_deny(groups, "groups = [\"Q:9\"]"), None),
        (
            format!(
                "{HEAD}{catalog}\n[[instance_types]]\nname = \"p5\"\nchip = \"H100 SMX\"\nchips = 8\n"
            ),
            Some("did you mean `H100 SXM`?"),
        ),
        (
            format!(
                "{HEAD}{catalog}\n[[instance_types]]\nname = \"p5\"\nchip = \"Y\"\nchips = 8\n"
            ),
            Some("did you mean `X`?"),
        ),
        // Keywords.
        (rule("action = \"dney\""), Some("did you mean `deny`?")),
        (rule("action = \"Allow\""), Some("did you mean `allow`?")),
        (
            rule("action = \"require_licence\""),
            Some("did you mean `require-license`?"),
        ),
        (
            rule_deny("reason = \"license-required\""),
            Some("did you mean `license_required`?"),
        ),
        (
            format!("{HEAD}mode = \"report_only\"\n"),
            Some("did you mean `report-only`?"),
        ),
        (
            format!("{HEAD}regime = \"ear-2023-1\"\n"),
            Some("did you mean `ear-2023-10`?"),
        ),
        (
            format!("{HEAD}\n[defaults]\nunknown_jurisdiction = \"alow\"\n"),
            Some("did you mean `allow`?"),
        ),
        (
            rule_deny("accelerator_classes = [\"3A09.a\"]"),
            Some("did you mean `3A090.a`?"),
        ),
        // Countries.
        (
            rule_deny("countries = [\"UK\"]"),
            Some("the ISO 3166-1 code is `GB`"),
        ),
        (
            rule_deny("countries = [\" CN\"]"),
            Some("did you mean `CN`?"),
        ),
        (
            after_deny(groups, "countries = [\"E:1\"]"),
            Some("`E:1` is a country group: list it in `groups`"),
        ),
        (
            after_deny(groups, "headquarters_countries = [\"E:1\"]"),
            Some("`E:1` is a country group: list it in `headquarters_groups`"),
        ),
        (
            rule_deny("groups = [\"CN\"]"),
            Some("`CN` is a country: list it in `countries`"),
        ),
        (
            format!("{HEAD}\n[country_aliases]\nHK = \"CN\"\nMO = \"HK\"\n"),
            Some("name `CN` instead"),
        ),
        // Dates.
        (
            rule_deny("effective_from = \"2026-7-8\""),
            Some("did you mean `2026-07-08`?"),
        ),
        (
            rule_deny("effective_from = \"2023-02-29\""),
            Some("February 2023 has 28 days"),
        ),
        (
            rule_deny("effective_from = \"2023-13-01\""),
            Some("months are 01 to 12"),
        ),
        (
            rule_deny("effective_from = 2023-11-17T10:00:00Z"),
            Some("a date has no time of day; did you mean `2023-11-17`?"),
        ),
        (rule_deny("effective_from = \"next year\""), None),
        // Keys.
        (
            rule_deny("effective_form = \"2026-01-01\""),
            Some("did you mean `effective_from`?"),
        ),
        (format!("{HEAD}\n[polcy]\n"), Some("did you mean `policy`?")),
        (rule_deny("colour = \"red\""), None),
        // [chips] and [http].
        (
            format!(
                "{HEAD}\n[[chips]]\nname = \"X\"\ndatacenter = true\ndense_tops = {{ fp8 = 1 }}\n"
            ),
            Some("did you mean `8`?"),
        ),
        (
            format!("{HEAD}\n[http]\nlicense_header = \"x-export-license:\"\n"),
            Some("did you mean `x-export-license`?"),
        ),
        (
            format!(
                "{HEAD}\n[[http.provisioning_routes]]\nmethod = \"POST\"\npath = \"v1/instances\"\n"
            ),
            Some("did you mean `/v1/instances`?"),
        ),
        (
            format!(
                "{HEAD}\n[[http.provisioning_routes]]\nmethod = \"POST\"\npath = \"/v1\"\ninstance_type_pointer = \"instance_type\"\n"
            ),
            Some("did you mean `/instance_type`?"),
        ),
    ] {
        let err = load_err(&text);
        let ds = err.diagnostics();
        assert_eq!(ds.len(), 1, "{err}");
        assert_eq!(ds[0].help(), help, "{err}");
        let shown = err.to_string();
        match help {
            Some(help) => assert!(shown.ends_with(&format!(" (help: {help})")), "{shown}"),
            None => assert!(!shown.contains("(help:"), "{shown}"),
        }
    }
}

/// A scratch directory of its own for a test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tec-policy-errors-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A policy in `dir` whose `[license]` names a key file that is not there.
fn missing_key_file(dir: &Path) -> PolicyError {
    let path = dir.join("policy.toml");
    std::fs::write(
        &path,
        format!(
            "{HEAD}\n[license]\n\n[[license.issuers]]\nissuer = \"https://licensing.example.com\"\npem_keys = [{{ kid = \"k1\", path = \"keys/missing.pem\", algorithm = \"EdDSA\" }}]\n"
        ),
    )
    .unwrap();
    Policy::from_path(&path).unwrap_err()
}

/// A policy in `dir` whose `[network]` names a malformed IP table.
fn bad_ip_table(dir: &Path) -> PolicyError {
    std::fs::write(
        dir.join("ranges.csv"),
        "1.2.3.0/24,CN\nnot-an-address,1.2.4.0,CN\n",
    )
    .unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(
        &path,
        format!("{HEAD}\n[network]\nip_tables = [\"ranges.csv\"]\n"),
    )
    .unwrap();
    Policy::from_path(&path).unwrap_err()
}

#[test]
fn a_bad_key_file_is_the_source() {
    let dir = scratch("key");
    let err = missing_key_file(&dir);
    let shown = err.to_string();
    assert!(shown.contains("license: `issuers`: "), "{shown}");
    assert!(shown.contains("missing.pem"), "{shown}");
    let [d] = err.diagnostics() else {
        panic!("{shown}")
    };
    assert!(matches!(
        d.problem(),
        Problem::LicenseFile(LicenseConfigError::Read { .. })
    ));
    // The error, the diagnostic and the problem all lead to the
    // `LicenseConfigError`, and it to the I/O error.
    for source in [err.source(), d.source(), d.problem().source()] {
        let source = source.unwrap();
        let config = source.downcast_ref::<LicenseConfigError>().unwrap();
        let io = config
            .source()
            .unwrap()
            .downcast_ref::<std::io::Error>()
            .unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    // A missing revocation list names its field.
    let path = dir.join("revoked.toml");
    std::fs::write(
        &path,
        format!("{HEAD}\n[license]\nrevoked_file = \"revoked.txt\"\n"),
    )
    .unwrap();
    let err = Policy::from_path(&path).unwrap_err();
    assert!(
        err.to_string().contains("license: `revoked_file`: "),
        "{err}"
    );
    assert!(
        err.source()
            .unwrap()
            .downcast_ref::<LicenseConfigError>()
            .is_some()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_ip_table_is_the_source() {
    let dir = scratch("ip");
    let err = bad_ip_table(&dir);
    let shown = err.to_string();
    let [d] = err.diagnostics() else {
        panic!("{shown}")
    };
    assert_eq!(d.entry(), "network");
    assert_eq!(d.field(), Some("ip_tables[0]"));
    assert_eq!((d.location().line, d.location().column), (6, 14), "{shown}");
    assert!(shown.contains("ranges.csv:2:"), "{shown}");
    for source in [err.source(), d.source()] {
        let table = source.unwrap().downcast_ref::<IpTableError>().unwrap();
        assert!(
            matches!(
                table,
                IpTableError::Line {
                    line: 2,
                    problem: LineProblem::Address { .. },
                    ..
                }
            ),
            "{table:?}"
        );
    }

    // A missing file: the source is the I/O error's parent.
    let path = dir.join("missing.toml");
    std::fs::write(
        &path,
        format!("{HEAD}\n[network]\nip_tables = [\"nowhere.csv\"]\n"),
    )
    .unwrap();
    let err = Policy::from_path(&path).unwrap_err();
    let table = err
        .source()
        .unwrap()
        .downcast_ref::<IpTableError>()
        .unwrap();
    assert!(matches!(table, IpTableError::Io { .. }), "{table:?}");
    assert!(
        table
            .source()
            .unwrap()
            .downcast_ref::<std::io::Error>()
            .is_some()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_problem_does_not_hide_the_others() {
    let dir = scratch("files");
    let path = dir.join("policy.toml");
    std::fs::write(
        &path,
        format!("{HEAD}mode = \"audit\"\n\n[network]\nip_tables = [\"nowhere.csv\"]\ntrusted_proxies = [\"10.0.0.0/33\"]\n"),
    )
    .unwrap();
    let err = Policy::from_path(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    let problems: Vec<String> = err
        .diagnostics()
        .iter()
        .map(|d| variant(d.problem()))
        .collect();
    assert_eq!(problems, ["NotOneOf", "IpTableFile", "Network"], "{err}");
    // The first diagnostic with a source gives the error's.
    assert!(
        err.source()
            .unwrap()
            .downcast_ref::<IpTableError>()
            .is_some()
    );
}

fn redis_ledger_without_url() -> PolicyError {
    let text = format!("{DEFAULT_POLICY_TOML}\n[ledger]\nbackend = \"redis\"\n");
    Policy::from_toml(&text, FILE, None).unwrap_err()
}

#[test]
fn the_ledger_section_is_checked() {
    let problems = |text: &str| -> Vec<String> {
        match Policy::from_toml(&format!("{DEFAULT_POLICY_TOML}\n{text}"), FILE, None) {
            Ok(_) => Vec::new(),
            Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
        }
    };
    let without_url = problems("[ledger]\nbackend = \"redis\"\n");
    assert!(
        without_url
            .iter()
            .any(|d| d.contains("ledger: `url`: a redis ledger needs a `url`")),
        "{without_url:?}"
    );
    let redis = problems("[ledger]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n");
    if cfg!(feature = "redis") {
        assert!(redis.is_empty(), "{redis:?}");
    } else {
        assert!(
            redis.iter().any(|d| d.contains("`redis` feature")),
            "{redis:?}"
        );
    }
    let zero =
        problems("[ledger]\nbackend = \"memory\"\ntimeout_ms = 0\npending_ttl_seconds = 0\n");
    assert_eq!(zero.len(), 2, "{zero:?}");
    assert!(
        zero.iter().all(|d| d.contains("is outside 1..=")),
        "{zero:?}"
    );
    let unknown = problems("[ledger]\nbackend = \"etcd\"\n");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(problems("[ledger]\nbackend = \"memory\"\n").is_empty());
    let policy = Policy::from_toml(
        &format!(
            "{DEFAULT_POLICY_TOML}\n[ledger]\nbackend = \"memory\"\npending_ttl_seconds = 60\n"
        ),
        FILE,
        None,
    )
    .unwrap();
    let ledger = policy.ledger_config().unwrap();
    assert_eq!(ledger.pending_ttl(), std::time::Duration::from_secs(60));
    assert!(Policy::embedded_default().ledger_config().is_none());
}

#[test]
fn every_problem_is_exercised() {
    let mut seen = BTreeSet::new();
    for c in cases() {
        let marked = c.text.replace(MARK, "");
        if let Err(e) = Policy::from_toml(&marked, FILE, None) {
            seen.extend(e.diagnostics().iter().map(|d| variant(d.problem())));
        }
    }
    let dir = scratch("every");
    for e in [
        too_many_rules(),
        too_many_groups(),
        missing_key_file(&dir),
        bad_ip_table(&dir),
        redis_ledger_without_url(),
    ] {
        seen.extend(e.diagnostics().iter().map(|d| variant(d.problem())));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let mut all = vec![
        "AliasOfAlias",
        "AliasOfItself",
        "AssumedUnknownClass",
        "ChipWithoutCount",
        "Class",
        "Country",
        "CountWithoutChip",
        "Date",
        "Duplicate",
        "EffectiveUntilNotAfterFrom",
        "Empty",
        "HeaderName",
        "InstanceTypeNameLength",
        "InvalidJsonPointer",
        "IpTableFile",
        "LicenseFile",
        "Network",
        "NotOneOf",
        "NotPositive",
        "OutOfRange",
        "PathWithoutSlash",
        "ReasonWithoutDeny",
        "Syntax",
        "TooManyGroups",
        "TooManyRules",
        "UnknownChip",
        "UnknownGroup",
        "LedgerUrlMissing",
    ];
    if cfg!(not(feature = "redis")) {
        all.push("LedgerNeedsRedisFeature");
    }
    let missing: Vec<&str> = all.iter().copied().filter(|p| !seen.contains(*p)).collect();
    assert!(missing.is_empty(), "not exercised: {missing:?}");
    let unlisted: Vec<&String> = seen.iter().filter(|p| !all.contains(&p.as_str())).collect();
    assert!(unlisted.is_empty(), "add to the list: {unlisted:?}");
}

#[test]
fn errors_can_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<PolicyError>();
    send_sync::<Diagnostic>();
}
