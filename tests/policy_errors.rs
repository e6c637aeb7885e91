//! Policy errors: each kind names the file, the line and column, the entry
//! and the field; the embedded default policy and `policies/default.toml`
//! load and are the same policy.

// Fixture helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::panic, clippy::unwrap_used)]

use std::path::Path;

use std::time::{Duration, UNIX_EPOCH};

use tower_export_control::policy::{DEFAULT_POLICY_TOML, Location, PolicyError, Problem};
use tower_export_control::{CountryCode, Facts, Outcome, Policy, decide};

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
    matches!(e, PolicyError::Syntax { .. })
}

fn invalid(pred: fn(&Problem) -> bool) -> impl Fn(&PolicyError) -> bool {
    move |e| matches!(e, PolicyError::Invalid { problem, .. } if pred(problem))
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
    let at = marked.find(MARK).unwrap();
    let before = &marked[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (marked.replacen(MARK, "", 1), line, column)
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
        assert!(matches!(err, PolicyError::Syntax { .. }), "{shown}");
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

#[test]
fn limits() {
    // More rules than the engine keeps.
    let mut text = HEAD.to_owned();
    for i in 0..=256 {
        text.push_str(&format!("\n[[rules]]\nid = \"r{i}\"\naction = \"allow\"\n"));
    }
    let err = Policy::from_toml(&text, FILE, None).unwrap_err();
    assert!(
        matches!(&err, PolicyError::Invalid { problem, .. } if matches!(**problem, Problem::TooManyRules { max: 256 })),
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

    // More groups than fit in a GroupSet.
    let mut text = format!("{HEAD}\n[country_groups]\n");
    for i in 0..65 {
        text.push_str(&format!("\"g{i:02}\" = [\"US\"]\n"));
    }
    let err = Policy::from_toml(&text, FILE, None).unwrap_err();
    assert!(
        err.to_string().contains("at most 64 country groups"),
        "{err}"
    );
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

    let facts = Facts {
        declared_country: Some(CountryCode::parse("CN").unwrap()),
        instance_type: Some("p5.48xlarge"),
        ..Facts::default()
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
        let outcomes: Vec<Outcome> = [&quoted, &native, &mixed]
            .map(|p| decide(p, &facts, now).outcome())
            .into();
        assert!(
            outcomes.iter().all(|o| *o == outcomes[0]),
            "{t}: {outcomes:?}"
        );
        assert_eq!(outcomes[0] == Outcome::Deny, denied, "{t}: {outcomes:?}");
    }
}
