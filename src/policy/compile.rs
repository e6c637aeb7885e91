//! Validation: turns the serde model into a [`Policy`], checking every
//! reference, code, number and name, and reporting every problem found.
//!
//! Each check reports what it finds and goes on; a value that fails is left
//! out, and checks that depend on it are skipped rather than reported again
//! (a rule naming a group past the group limit). A policy is built only
//! when nothing was reported.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use http::{HeaderName, Method};
use ipnetwork::IpNetwork;
use sha2::{Digest, Sha256};

use super::date::{date_help, parse_date};
use super::error::{Diagnostic, Diagnostics, Location, PolicyError, Problem};
use super::http::{HttpConfig, PointerTokens, ProvisioningRoute, RouteBody};
use super::model::{self, PolicyFile, S};
use super::rule::{Action, ClassSet, CountryCondition, CountrySet, Rule};
use super::suggest::{self, did_you_mean};
use super::syntax;
use super::{Defaults, MAX_RULES, Mode, Policy, UnknownInstanceType};
use crate::accelerator::{Catalog, ChipSpec, InstanceSpec, Regime};
use crate::jurisdiction::{CountryGroups, GroupSet, IpTable, MAX_GROUPS};
use crate::ledger::{LedgerBackend, LedgerConfig};
use crate::license::{LicenseConfig, LicenseConfigError, LicenseTrust};
use crate::{AcceleratorClass, CountryCode, ReasonCode};

const ACTIONS: &str = "allow, require-license, deny";
const ROUTE_BODIES: &str = "json, grpc, none";
const DENY_REASONS: &str =
    "embargoed, license_required, jurisdiction_unknown, instance_type_unknown";

/// Where problems point (the file name and its text), and the problems
/// found so far.
struct Ctx<'t> {
    file: &'t str,
    text: &'t str,
    found: RefCell<Vec<Diagnostic>>,
}

impl Ctx<'_> {
    fn report(&self, span: Range<usize>, entry: &str, field: &str, problem: Problem) {
        self.report_help(span, entry, field, problem, None);
    }

    fn report_help(
        &self,
        span: Range<usize>,
        entry: &str,
        field: &str,
        problem: Problem,
        help: Option<String>,
    ) {
        let location = Location::at(self.file, self.text, span);
        let d = Diagnostic::new(
            location,
            entry.to_owned(),
            Some(field.to_owned()),
            problem,
            help,
        );
        self.found.borrow_mut().push(d);
    }

    /// How many problems have been reported: a section is sound when this
    /// has not grown while checking it.
    fn found(&self) -> usize {
        self.found.borrow().len()
    }

    fn into_error(self) -> PolicyError {
        PolicyError::Invalid(Diagnostics::new(self.found.into_inner()))
    }

    fn country(&self, v: &S<String>, entry: &str, field: &str) -> Option<CountryCode> {
        CountryCode::parse(v.get_ref())
            .map_err(|e| {
                let help = suggest::country(v.get_ref());
                self.report_help(v.span(), entry, field, e.into(), help);
            })
            .ok()
    }

    /// A rule's country list; `groups_field` is where a group name written
    /// here belongs.
    fn countries(
        &self,
        names: &GroupNames<'_>,
        list: &[S<String>],
        entry: &str,
        field: &str,
        groups_field: &str,
    ) -> CountrySet {
        let mut set = CountrySet::default();
        for (i, v) in list.iter().enumerate() {
            let field = format!("{field}[{i}]");
            match CountryCode::parse(v.get_ref()) {
                Ok(c) => set.insert(c),
                Err(e) => {
                    let help = if names.contains(v.get_ref().as_str()) {
                        Some(format!(
                            "`{}` is a country group: list it in `{groups_field}`",
                            v.get_ref()
                        ))
                    } else {
                        suggest::country(v.get_ref())
                    };
                    self.report_help(v.span(), entry, &field, e.into(), help);
                }
            }
        }
        set
    }

    /// A rule's group list. A name the file defines past the group limit
    /// is not reported again, only left out.
    fn groups(
        &self,
        groups: &CountryGroups,
        names: &GroupNames<'_>,
        list: &[S<String>],
        entry: &str,
        field: &str,
        countries_field: &str,
    ) -> GroupSet {
        let mut set = GroupSet::EMPTY;
        for (i, v) in list.iter().enumerate() {
            let name = v.get_ref();
            if let Some(id) = groups.id(name) {
                set = set.with(id);
            } else if !names.contains(name.as_str()) {
                let help = if CountryCode::parse(name).is_ok() {
                    Some(format!(
                        "`{name}` is a country: list it in `{countries_field}`"
                    ))
                } else {
                    did_you_mean(name, names.iter().copied())
                };
                let problem = Problem::UnknownGroup(name.clone());
                self.report_help(v.span(), entry, &format!("{field}[{i}]"), problem, help);
            }
        }
        set
    }

    fn class(&self, v: &S<String>, entry: &str, field: &str) -> Option<AcceleratorClass> {
        v.get_ref()
            .parse()
            .map_err(|e: crate::accelerator::InvalidAcceleratorClass| {
                let names = AcceleratorClass::ALL.map(AcceleratorClass::as_str);
                let help = did_you_mean(v.get_ref(), names);
                self.report_help(v.span(), entry, field, e.into(), help);
            })
            .ok()
    }

    /// One of the comma-separated `allowed` keywords, as `parse` reads it;
    /// else a problem suggesting the closest.
    fn keyword<T>(
        &self,
        v: &S<String>,
        entry: &str,
        field: &str,
        allowed: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let value = v.get_ref();
        let parsed = parse(value);
        if parsed.is_none() {
            let help = did_you_mean(value, allowed.split(", "));
            let problem = Problem::NotOneOf {
                value: value.clone(),
                allowed,
            };
            self.report_help(v.span(), entry, field, problem, help);
        }
        parsed
    }

    fn date(&self, v: &S<String>, entry: &str, field: &str) -> Option<i64> {
        let parsed = parse_date(v.get_ref());
        if parsed.is_none() {
            let help = date_help(v.get_ref());
            let problem = Problem::Date(v.get_ref().clone());
            self.report_help(v.span(), entry, field, problem, help);
        }
        parsed
    }

    fn positive(&self, v: &S<f64>, entry: &str, field: &str) -> Option<f64> {
        let x = *v.get_ref();
        if x.is_finite() && x > 0.0 {
            Some(x)
        } else {
            self.report(v.span(), entry, field, Problem::NotPositive(x));
            None
        }
    }

    fn int(&self, v: &S<i64>, entry: &str, field: &str, min: i64, max: i64) -> Option<i64> {
        let x = *v.get_ref();
        if (min..=max).contains(&x) {
            Some(x)
        } else {
            let problem = Problem::OutOfRange { value: x, min, max };
            self.report(v.span(), entry, field, problem);
            None
        }
    }

    /// A header name, or `default` when the policy gives none or a bad one
    /// (reported).
    fn header(&self, v: Option<&S<String>>, field: &str, default: HeaderName) -> HeaderName {
        let Some(v) = v else { return default };
        let value = v.get_ref();
        HeaderName::from_bytes(value.as_bytes()).unwrap_or_else(|_| {
            // `x customer country`, `x-export-license:`.
            let fixed = value.trim().trim_end_matches(':').trim().replace(' ', "-");
            let help = HeaderName::from_bytes(fixed.as_bytes())
                .is_ok()
                .then(|| format!("did you mean `{fixed}`?"));
            let problem = Problem::HeaderName(value.clone());
            self.report_help(v.span(), "http", field, problem, help);
            default
        })
    }
}

/// Every group name the file defines (including any past the limit).
type GroupNames<'r> = BTreeSet<&'r str>;

pub(super) fn compile(
    text: &str,
    file: &str,
    base_dir: Option<PathBuf>,
) -> Result<Policy, PolicyError> {
    let raw: PolicyFile = toml::from_str(text)
        .map_err(|e| PolicyError::Syntax(Box::new(syntax::diagnostic(file, text, &e))))?;
    let cx = Ctx {
        file,
        text,
        found: RefCell::new(Vec::new()),
    };

    let meta = raw.policy.get_ref();
    cx.date(&meta.country_lists_as_of, "policy", "country_lists_as_of");
    let regime = match &meta.regime {
        None => Some(Regime::default()),
        Some(r) => cx.keyword(
            r,
            "policy",
            "regime",
            "ear-2023-10, ear-2022-10",
            Regime::by_name,
        ),
    };
    let mode = match &meta.mode {
        None => Some(Mode::Enforce),
        Some(m) => cx.keyword(m, "policy", "mode", "enforce, report-only", |m| match m {
            "enforce" => Some(Mode::Enforce),
            "report-only" => Some(Mode::ReportOnly),
            _ => None,
        }),
    };

    let defaults = compile_defaults(&cx, raw.defaults.as_ref());
    let groups = compile_groups(&cx, &raw);
    let group_names: GroupNames<'_> = raw
        .country_groups
        .keys()
        .map(|k| k.get_ref().as_str())
        .collect();
    if raw.rules.len() > MAX_RULES {
        let span = raw.rules.get(MAX_RULES).map_or(0..0, S::span);
        let problem = Problem::TooManyRules { max: MAX_RULES };
        cx.report(span, "rules", "rules", problem);
    }
    let mut rule_ids = HashSet::new();
    let mut rules = Vec::with_capacity(raw.rules.len());
    for (i, r) in raw.rules.iter().enumerate() {
        let r = r.get_ref();
        let entry = format!("rules[{i}] (id = {:?})", r.id.get_ref());
        if !rule_ids.insert(r.id.get_ref().as_str()) {
            let problem = Problem::Duplicate(r.id.get_ref().clone());
            cx.report(r.id.span(), &entry, "id", problem);
        }
        rules.extend(compile_rule(&cx, &groups, &group_names, r, &entry));
    }
    let catalog = compile_catalog(&cx, &raw, regime);
    let network = compile_network(&cx, raw.network.as_ref(), &base_dir);
    let http = compile_http(&cx, raw.http.as_ref());
    let license = compile_license(&cx, raw.license, base_dir.as_deref());
    let ledger = raw.ledger.map(|l| compile_ledger(&cx, l));

    // Every `None` here was reported.
    let (
        Some(mode),
        Some(defaults),
        Some(catalog),
        Some((trusted_proxies, ip_table_files, ip_table)),
        Some(http),
        Some((license, license_trust)),
    ) = (mode, defaults, catalog, network, http, license)
    else {
        return Err(cx.into_error());
    };
    if cx.found() > 0 {
        return Err(cx.into_error());
    }

    let dated_rules = rules
        .iter()
        .any(|r| r.effective_from.is_some() || r.effective_until.is_some());
    Ok(Policy {
        ledger: ledger.flatten(),
        name: meta.name.clone(),
        description: meta.description.clone(),
        source: file.to_owned(),
        digest: format!("sha256:{:x}", Sha256::digest(text.as_bytes())),
        country_lists_as_of: meta.country_lists_as_of.get_ref().clone(),
        mode,
        defaults,
        groups,
        rules,
        dated_rules,
        catalog,
        license,
        license_trust: Arc::new(license_trust),
        base_dir,
        trusted_proxies,
        ip_table_files,
        ip_table: ip_table.map(Arc::new),
        http,
        revision: super::next_revision(),
        tag_values: std::sync::OnceLock::new(),
    })
}

fn compile_defaults(cx: &Ctx<'_>, raw: Option<&S<model::Defaults>>) -> Option<Defaults> {
    let mut controlled = ClassSet::default();
    controlled.insert(AcceleratorClass::Eccn3A090a);
    controlled.insert(AcceleratorClass::Eccn3A090b);
    let mut defaults = Defaults {
        unknown_jurisdiction: Action::RequireLicense,
        unknown_instance_type: UnknownInstanceType::Assume(AcceleratorClass::Eccn3A090a),
        controlled_classes: controlled,
    };
    let Some(raw) = raw.map(S::get_ref) else {
        return Some(defaults);
    };
    let before = cx.found();
    if let Some(v) = &raw.unknown_jurisdiction
        && let Some(action) = cx.keyword(
            v,
            "defaults",
            "unknown_jurisdiction",
            ACTIONS,
            Action::parse,
        )
    {
        defaults.unknown_jurisdiction = action;
    }
    if let Some(v) = &raw.unknown_instance_type {
        if v.get_ref() == "deny" {
            defaults.unknown_instance_type = UnknownInstanceType::Deny;
        } else if let Some(class) = cx.class(v, "defaults", "unknown_instance_type") {
            if class == AcceleratorClass::Unknown {
                let problem = Problem::AssumedUnknownClass;
                cx.report(v.span(), "defaults", "unknown_instance_type", problem);
            }
            defaults.unknown_instance_type = UnknownInstanceType::Assume(class);
        }
    }
    if let Some(list) = &raw.controlled_classes {
        let mut set = ClassSet::default();
        for (i, v) in list.iter().enumerate() {
            if let Some(class) = cx.class(v, "defaults", &format!("controlled_classes[{i}]")) {
                set.insert(class);
            }
        }
        defaults.controlled_classes = set;
    }
    (cx.found() == before).then_some(defaults)
}

/// The groups and aliases, leaving out members and aliases that are wrong
/// (reported), so that rules can still be checked against the names.
fn compile_groups(cx: &Ctx<'_>, raw: &PolicyFile) -> CountryGroups {
    if raw.country_groups.len() > MAX_GROUPS {
        let span = raw
            .country_groups
            .keys()
            .nth(MAX_GROUPS)
            .map_or(0..0, S::span);
        let problem = Problem::TooManyGroups { max: MAX_GROUPS };
        cx.report(span, "country_groups", "country_groups", problem);
    }
    let mut groups = Vec::with_capacity(raw.country_groups.len());
    for (name, members) in &raw.country_groups {
        let entry = format!("country_groups.{:?}", name.get_ref());
        if name.get_ref().trim().is_empty() {
            cx.report(name.span(), &entry, "name", Problem::Empty);
        }
        let mut seen = HashSet::new();
        let mut list = Vec::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            let field = format!("[{i}]");
            let Some(c) = cx.country(m, &entry, &field) else {
                continue;
            };
            if seen.insert(c) {
                list.push(c);
            } else {
                cx.report(m.span(), &entry, &field, Problem::Duplicate(c.to_string()));
            }
        }
        groups.push((name.get_ref().clone(), list));
    }
    let mut aliases = Vec::with_capacity(raw.country_aliases.len());
    let mut alias_spans = Vec::with_capacity(raw.country_aliases.len());
    for (from, to) in &raw.country_aliases {
        let entry = format!("country_aliases.{}", from.get_ref());
        let f = cx.country(from, &entry, "key");
        let t = cx.country(to, &entry, "value");
        let (Some(f), Some(t)) = (f, t) else {
            continue;
        };
        if f == t {
            cx.report(to.span(), &entry, "value", Problem::AliasOfItself);
            continue;
        }
        // Codes are case-insensitive: `HK` and `hk` are the same key.
        if aliases.iter().any(|(g, _)| *g == f) {
            let problem = Problem::Duplicate(f.to_string());
            cx.report(from.span(), &entry, "key", problem);
            continue;
        }
        aliases.push((f, t));
        alias_spans.push((entry, to.span()));
    }
    // Chains (A → B → C) would make membership depend on resolution order.
    for ((_, t), (entry, span)) in aliases.iter().zip(&alias_spans) {
        if let Some((_, of)) = aliases.iter().find(|(g, _)| g == t) {
            let problem = Problem::AliasOfAlias {
                target: *t,
                alias_of: *of,
            };
            let help = Some(format!("name `{of}` instead"));
            cx.report_help(span.clone(), entry, "value", problem, help);
        }
    }
    CountryGroups::new(groups, &aliases)
}

fn compile_rule(
    cx: &Ctx<'_>,
    groups: &CountryGroups,
    names: &GroupNames<'_>,
    r: &model::RuleFile,
    entry: &str,
) -> Option<Rule> {
    let before = cx.found();
    if r.id.get_ref().trim().is_empty() {
        cx.report(r.id.span(), entry, "id", Problem::Empty);
    }
    let location = if r.countries.is_empty()
        && r.groups.is_empty()
        && r.except_groups.is_empty()
        && r.except_countries.is_empty()
    {
        None
    } else {
        Some(CountryCondition {
            countries: cx.countries(names, &r.countries, entry, "countries", "groups"),
            groups: cx.groups(groups, names, &r.groups, entry, "groups", "countries"),
            except: cx.groups(
                groups,
                names,
                &r.except_groups,
                entry,
                "except_groups",
                "countries",
            ),
            except_countries: cx.countries(
                names,
                &r.except_countries,
                entry,
                "except_countries",
                "except_groups",
            ),
        })
    };
    let headquarters = if r.headquarters_countries.is_empty() && r.headquarters_groups.is_empty() {
        None
    } else {
        Some(CountryCondition {
            countries: cx.countries(
                names,
                &r.headquarters_countries,
                entry,
                "headquarters_countries",
                "headquarters_groups",
            ),
            groups: cx.groups(
                groups,
                names,
                &r.headquarters_groups,
                entry,
                "headquarters_groups",
                "headquarters_countries",
            ),
            except: GroupSet::EMPTY,
            except_countries: CountrySet::default(),
        })
    };
    let classes = r.accelerator_classes.as_ref().map(|list| {
        let mut set = ClassSet::default();
        for (i, v) in list.iter().enumerate() {
            if let Some(class) = cx.class(v, entry, &format!("accelerator_classes[{i}]")) {
                set.insert(class);
            }
        }
        set
    });
    let action = cx.keyword(&r.action, entry, "action", ACTIONS, Action::parse);
    // With a bad action, a reason is still checked as a keyword.
    let reason = match (&r.reason, action) {
        (None, Some(Action::RequireLicense)) => Some(ReasonCode::LicenseRequired),
        (None, _) => Some(ReasonCode::Embargoed),
        (Some(v), Some(Action::Deny) | None) => {
            cx.keyword(v, entry, "reason", DENY_REASONS, parse_deny_reason)
        }
        (Some(v), Some(_)) => {
            cx.report(v.span(), entry, "reason", Problem::ReasonWithoutDeny);
            None
        }
    };
    let date =
        |v: &Option<S<String>>, field: &str| v.as_ref().and_then(|v| cx.date(v, entry, field));
    let effective_from = date(&r.effective_from, "effective_from");
    let effective_until = date(&r.effective_until, "effective_until");
    if let (Some(from), Some(until), Some(v)) =
        (effective_from, effective_until, &r.effective_until)
        && until <= from
    {
        let problem = Problem::EffectiveUntilNotAfterFrom;
        cx.report(v.span(), entry, "effective_until", problem);
    }
    if cx.found() > before {
        return None;
    }
    Some(Rule {
        id: r.id.get_ref().as_str().into(),
        description: r.description.clone(),
        location,
        headquarters,
        classes,
        action: action?,
        reason: reason?,
        effective_from,
        effective_until,
    })
}

fn parse_deny_reason(s: &str) -> Option<ReasonCode> {
    [
        ReasonCode::Embargoed,
        ReasonCode::LicenseRequired,
        ReasonCode::JurisdictionUnknown,
        ReasonCode::InstanceTypeUnknown,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
}

fn compile_catalog(cx: &Ctx<'_>, raw: &PolicyFile, regime: Option<Regime>) -> Option<Catalog> {
    let before = cx.found();
    let mut chips = Vec::with_capacity(raw.chips.len());
    let mut chip_names = HashMap::new();
    for (i, c) in raw.chips.iter().enumerate() {
        let c = c.get_ref();
        let entry = format!("chips[{i}] (name = {:?})", c.name.get_ref());
        let chip_before = cx.found();
        let name = c.name.get_ref();
        if name.trim().is_empty() {
            cx.report(c.name.span(), &entry, "name", Problem::Empty);
        }
        if chip_names.contains_key(name.as_str()) {
            let problem = Problem::Duplicate(name.clone());
            cx.report(c.name.span(), &entry, "name", problem);
        } else {
            chip_names.insert(name.as_str(), i);
        }
        if c.dense_tops.get_ref().is_empty() {
            cx.report(c.dense_tops.span(), &entry, "dense_tops", Problem::Empty);
        }
        let mut dense_tops = Vec::with_capacity(c.dense_tops.get_ref().len());
        for (key, tops) in c.dense_tops.get_ref() {
            let field = format!("dense_tops.{}", key.get_ref());
            let bits = bit_length(key.get_ref());
            if bits.is_none() {
                // `fp8`, `bf16`: the digits.
                let digits: String = key.get_ref().chars().filter(char::is_ascii_digit).collect();
                let help = bit_length(&digits).map(|_| format!("did you mean `{digits}`?"));
                let problem = Problem::NotOneOf {
                    value: key.get_ref().clone(),
                    allowed: "bit lengths 1..=128",
                };
                cx.report_help(key.span(), &entry, &field, problem, help);
            }
            let tops = cx.positive(tops, &entry, &field);
            if let (Some(bits), Some(tops)) = (bits, tops) {
                dense_tops.push((bits, tops));
            }
        }
        let positive = |v: &Option<S<f64>>, field: &str| {
            v.as_ref().and_then(|v| cx.positive(v, &entry, field))
        };
        let die_area_mm2 = positive(&c.die_area_mm2, "die_area_mm2");
        let interconnect_gbps = positive(&c.interconnect_gbps, "interconnect_gbps");
        if cx.found() == chip_before {
            chips.push(ChipSpec {
                name: name.clone(),
                vendor: c.vendor.clone(),
                datacenter: c.datacenter,
                dense_tops,
                die_area_mm2,
                interconnect_gbps,
            });
        }
    }
    let mut seen = HashSet::new();
    let mut instances = Vec::with_capacity(raw.instance_types.len());
    for (i, it) in raw.instance_types.iter().enumerate() {
        let it = it.get_ref();
        let name = it.name.get_ref();
        let entry = format!("instance_types[{i}] (name = {name:?})");
        if name.is_empty() || name.len() > 128 {
            let problem = Problem::InstanceTypeNameLength { length: name.len() };
            cx.report(it.name.span(), &entry, "name", problem);
        }
        if !seen.insert(name.as_str()) {
            let problem = Problem::Duplicate(name.clone());
            cx.report(it.name.span(), &entry, "name", problem);
        }
        let (chip, chips) = match (&it.chip, &it.chips) {
            (None, None) => (None, 0),
            (Some(c), Some(n)) => {
                let idx = chip_names.get(c.get_ref().as_str()).copied();
                if idx.is_none() {
                    let help = did_you_mean(c.get_ref(), chip_names.keys().copied());
                    let problem = Problem::UnknownChip(c.get_ref().clone());
                    cx.report_help(c.span(), &entry, "chip", problem, help);
                }
                let n = cx.int(n, &entry, "chips", 1, 1024).unwrap_or(1);
                (idx, u32::try_from(n).unwrap_or(1024))
            }
            (Some(c), None) => {
                cx.report(c.span(), &entry, "chips", Problem::ChipWithoutCount);
                (None, 0)
            }
            (None, Some(n)) => {
                cx.report(n.span(), &entry, "chip", Problem::CountWithoutChip);
                (None, 0)
            }
        };
        instances.push(InstanceSpec {
            name: name.clone(),
            chip,
            chips,
        });
    }
    if cx.found() > before {
        return None;
    }
    Some(Catalog::new(regime?, chips, instances))
}

/// A `dense_tops` key: a bit length, 1 to 128.
fn bit_length(key: &str) -> Option<u32> {
    key.parse().ok().filter(|b| (1..=128).contains(b))
}

fn compile_ledger(cx: &Ctx<'_>, raw: S<LedgerConfig>) -> Option<LedgerConfig> {
    let span = raw.span();
    let config = raw.into_inner();
    let before = cx.found();
    if config.backend == LedgerBackend::Redis {
        if config.url.is_none() {
            cx.report(span.clone(), "ledger", "url", Problem::LedgerUrlMissing);
        }
        if !cfg!(feature = "redis") {
            cx.report(
                span.clone(),
                "ledger",
                "backend",
                Problem::LedgerNeedsRedisFeature,
            );
        }
    }
    for (field, value, min) in [
        ("pending_ttl_seconds", config.pending_ttl_seconds, 1),
        ("timeout_ms", config.timeout_ms, 1),
    ] {
        if value < min {
            let problem = Problem::OutOfRange {
                value: i64::try_from(value).unwrap_or(i64::MAX),
                min: i64::try_from(min).unwrap_or(i64::MAX),
                max: i64::MAX,
            };
            cx.report(span.clone(), "ledger", field, problem);
        }
    }
    (cx.found() == before).then_some(config)
}

fn compile_license(
    cx: &Ctx<'_>,
    raw: Option<S<LicenseConfig>>,
    base_dir: Option<&std::path::Path>,
) -> Option<(LicenseConfig, LicenseTrust)> {
    let Some(raw) = raw else {
        return Some((LicenseConfig::default(), LicenseTrust::none()));
    };
    let span = raw.span();
    let config = raw.into_inner();
    if config.issuers.is_empty() && config.audience.is_some() {
        // The audience binds this section's issuers; with none it would
        // silently not apply to the issuers a gate supplies.
        cx.report(
            span.clone(),
            "license",
            "audience",
            Problem::AudienceWithoutIssuers,
        );
        return None;
    }
    let base = base_dir.unwrap_or(std::path::Path::new("."));
    let trust = LicenseTrust::from_config(&config, base)
        .map_err(|e| {
            let field = match &e {
                LicenseConfigError::Read {
                    what: "revocation list",
                    ..
                } => "revoked_file",
                // `jwks_url` and its settings are issuer fields.
                e => match e.field() {
                    Some(field) if field.starts_with("revoked") => field,
                    _ => "issuers",
                },
            };
            cx.report(span, "license", field, Problem::LicenseFile(e));
        })
        .ok()?;
    Some((config, trust))
}

type Network = (Vec<IpNetwork>, Vec<PathBuf>, Option<IpTable>);

fn compile_network(
    cx: &Ctx<'_>,
    raw: Option<&S<model::NetworkFile>>,
    base_dir: &Option<PathBuf>,
) -> Option<Network> {
    let Some(raw) = raw.map(S::get_ref) else {
        return Some((Vec::new(), Vec::new(), None));
    };
    let before = cx.found();
    let mut proxies = Vec::with_capacity(raw.trusted_proxies.len());
    for (i, p) in raw.trusted_proxies.iter().enumerate() {
        match p.get_ref().parse::<IpNetwork>() {
            Ok(net) => proxies.push(net),
            Err(_) => {
                let field = format!("trusted_proxies[{i}]");
                let problem = Problem::Network(p.get_ref().clone());
                cx.report(p.span(), "network", &field, problem);
            }
        }
    }
    let mut files = Vec::with_capacity(raw.ip_tables.len());
    let mut table = IpTable::builder();
    for (i, f) in raw.ip_tables.iter().enumerate() {
        let path = match base_dir {
            Some(dir) => dir.join(f.get_ref()),
            None => PathBuf::from(f.get_ref()),
        };
        if let Err(e) = table.add_path(&path) {
            let field = format!("ip_tables[{i}]");
            cx.report(f.span(), "network", &field, Problem::IpTableFile(e));
        }
        files.push(path);
    }
    if cx.found() > before {
        return None;
    }
    let table = (!files.is_empty()).then(|| table.build());
    Some((proxies, files, table))
}

fn compile_http(cx: &Ctx<'_>, raw: Option<&S<model::HttpFile>>) -> Option<HttpConfig> {
    let d = HttpConfig::default();
    let Some(raw_http_span) = raw.map(S::span) else {
        return Some(d);
    };
    let Some(raw) = raw.map(S::get_ref) else {
        return Some(d);
    };
    let before = cx.found();
    let body_limit_bytes = match &raw.body_limit_bytes {
        None => d.body_limit_bytes,
        Some(v) => cx
            .int(v, "http", "body_limit_bytes", 1, 16 * 1024 * 1024)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(d.body_limit_bytes),
    };
    let mut routes = Vec::with_capacity(raw.provisioning_routes.len());
    for (i, r) in raw.provisioning_routes.iter().enumerate() {
        let r = r.get_ref();
        let entry = format!("http.provisioning_routes[{i}]");
        let method = Method::from_bytes(r.method.get_ref().to_ascii_uppercase().as_bytes());
        if method.is_err() {
            let problem = Problem::NotOneOf {
                value: r.method.get_ref().clone(),
                allowed: "HTTP methods",
            };
            cx.report(r.method.span(), &entry, "method", problem);
        }
        let path = r.path.get_ref();
        if !path.starts_with('/') {
            let help = Some(format!("did you mean `/{path}`?"));
            let problem = Problem::PathWithoutSlash(path.clone());
            cx.report_help(r.path.span(), &entry, "path", problem, help);
        } else if path != "/" {
            // A route the layer never matches leaves its requests unjudged.
            let bad = path.split('/').skip(1).find(|segment| {
                segment.is_empty()
                    || segment.starts_with(':')
                    || segment.contains('{')
                    || segment.contains('}')
            });
            if let Some(segment) = bad {
                let help = (!segment.is_empty()).then(|| {
                    let fixed: Vec<&str> = path
                        .split('/')
                        .map(|s| if s == segment { "*" } else { s })
                        .collect();
                    format!("did you mean `{}`?", fixed.join("/"))
                });
                let problem = Problem::RoutePathSegment(path.clone());
                cx.report_help(r.path.span(), &entry, "path", problem, help);
            }
        }
        let pointer = |v: &Option<S<String>>, field: &str, default: &str| match v {
            None => default.to_owned(),
            Some(p) if p.get_ref().is_empty() || p.get_ref().starts_with('/') => {
                p.get_ref().clone()
            }
            Some(p) => {
                let help = Some(format!("did you mean `/{}`?", p.get_ref()));
                let problem = Problem::InvalidJsonPointer(p.get_ref().clone());
                cx.report_help(p.span(), &entry, field, problem, help);
                default.to_owned()
            }
        };
        let instance_type_pointer = pointer(
            &r.instance_type_pointer,
            "instance_type_pointer",
            "/instance_type",
        );
        let count_pointer = pointer(&r.count_pointer, "count_pointer", "/count");
        let body = match &r.body {
            None => Some(RouteBody::Json),
            Some(v) => cx.keyword(v, &entry, "body", ROUTE_BODIES, RouteBody::parse),
        };
        if let (Ok(method), Some(body)) = (method, body) {
            routes.push(ProvisioningRoute {
                method,
                path: path.clone(),
                body,
                tokens: [
                    PointerTokens::parse(&instance_type_pointer),
                    PointerTokens::parse(&count_pointer),
                ],
                wildcard: path.contains('*'),
                instance_type_pointer,
                count_pointer,
            });
        }
    }
    let config = HttpConfig {
        country_header: cx.header(
            raw.country_header.as_ref(),
            "country_header",
            d.country_header,
        ),
        headquarters_header: cx.header(
            raw.headquarters_header.as_ref(),
            "headquarters_header",
            d.headquarters_header,
        ),
        parent_country_header: cx.header(
            raw.parent_country_header.as_ref(),
            "parent_country_header",
            d.parent_country_header,
        ),
        customer_id_header: cx.header(
            raw.customer_id_header.as_ref(),
            "customer_id_header",
            d.customer_id_header,
        ),
        instance_type_header: cx.header(
            raw.instance_type_header.as_ref(),
            "instance_type_header",
            d.instance_type_header,
        ),
        instance_count_header: cx.header(
            raw.instance_count_header.as_ref(),
            "instance_count_header",
            d.instance_count_header,
        ),
        license_header: cx.header(
            raw.license_header.as_ref(),
            "license_header",
            d.license_header,
        ),
        body_limit_bytes,
        blocked_by: raw.blocked_by.as_ref().map(|v| v.get_ref().clone()),
        provisioning_routes: routes,
    };
    // Two inputs read from one header: the second is never read.
    let fields = [
        ("country_header", &raw.country_header),
        ("headquarters_header", &raw.headquarters_header),
        ("parent_country_header", &raw.parent_country_header),
        ("customer_id_header", &raw.customer_id_header),
        ("instance_type_header", &raw.instance_type_header),
        ("instance_count_header", &raw.instance_count_header),
        ("license_header", &raw.license_header),
    ];
    let inputs = config.input_headers();
    for (i, (name, (field, value))) in inputs.iter().zip(fields).enumerate() {
        if inputs.iter().take(i).any(|earlier| earlier == name) {
            let span = value.as_ref().map_or(raw_http_span.clone(), S::span);
            cx.report(span, "http", field, Problem::Duplicate(name.to_string()));
        }
    }
    (cx.found() == before).then_some(config)
}
