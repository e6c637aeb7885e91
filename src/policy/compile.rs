//! Validation: turns the serde model into a [`Policy`], checking every
//! reference, code, number and name, and naming the place of the first
//! problem.

use std::collections::HashSet;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use http::{HeaderName, Method};
use ipnetwork::IpNetwork;
use sha2::{Digest, Sha256};

use super::date::parse_date;
use super::error::{Location, PolicyError, Problem};
use super::http::{HttpConfig, ProvisioningRoute};
use super::model::{self, PolicyFile, S};
use super::rule::{Action, ClassSet, CountryCondition, CountrySet, Rule};
use super::syntax::syntax_error;
use super::{Defaults, MAX_RULES, Mode, Policy, UnknownInstanceType};
use crate::accelerator::{Catalog, ChipSpec, InstanceSpec, Regime};
use crate::jurisdiction::{CountryGroups, GroupSet, IpTable, MAX_GROUPS};
use crate::layer::TagValues;
use crate::license::{LicenseConfig, LicenseVerifier};
use crate::{AcceleratorClass, CountryCode, ReasonCode};

/// Where errors point: the file name and its text.
struct Ctx<'t> {
    file: &'t str,
    text: &'t str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, entry: &str, field: &str, problem: Problem) -> PolicyError {
        PolicyError::Invalid {
            location: Location::at(self.file, self.text, span),
            entry: entry.to_owned(),
            field: field.to_owned(),
            problem: Box::new(problem),
        }
    }

    fn country(&self, v: &S<String>, entry: &str, field: &str) -> Result<CountryCode, PolicyError> {
        CountryCode::parse(v.get_ref()).map_err(|e| self.err(v.span(), entry, field, e.into()))
    }

    fn countries(
        &self,
        list: &[S<String>],
        entry: &str,
        field: &str,
    ) -> Result<CountrySet, PolicyError> {
        let mut set = CountrySet::default();
        for (i, v) in list.iter().enumerate() {
            set.insert(self.country(v, entry, &format!("{field}[{i}]"))?);
        }
        Ok(set)
    }

    fn groups(
        &self,
        groups: &CountryGroups,
        list: &[S<String>],
        entry: &str,
        field: &str,
    ) -> Result<GroupSet, PolicyError> {
        let mut set = GroupSet::EMPTY;
        for (i, v) in list.iter().enumerate() {
            let id = groups.id(v.get_ref()).ok_or_else(|| {
                self.err(
                    v.span(),
                    entry,
                    &format!("{field}[{i}]"),
                    Problem::UnknownGroup(v.get_ref().clone()),
                )
            })?;
            set = set.with(id);
        }
        Ok(set)
    }

    fn class(
        &self,
        v: &S<String>,
        entry: &str,
        field: &str,
    ) -> Result<AcceleratorClass, PolicyError> {
        v.get_ref()
            .parse()
            .map_err(|e: crate::accelerator::InvalidAcceleratorClass| {
                self.err(v.span(), entry, field, e.into())
            })
    }

    fn positive(&self, v: &S<f64>, entry: &str, field: &str) -> Result<f64, PolicyError> {
        let x = *v.get_ref();
        if x.is_finite() && x > 0.0 {
            Ok(x)
        } else {
            Err(self.err(v.span(), entry, field, Problem::NotPositive(x)))
        }
    }

    fn int(
        &self,
        v: &S<i64>,
        entry: &str,
        field: &str,
        min: i64,
        max: i64,
    ) -> Result<i64, PolicyError> {
        let x = *v.get_ref();
        if (min..=max).contains(&x) {
            Ok(x)
        } else {
            let problem = Problem::OutOfRange { value: x, min, max };
            Err(self.err(v.span(), entry, field, problem))
        }
    }

    fn header(
        &self,
        v: Option<&S<String>>,
        field: &str,
        default: HeaderName,
    ) -> Result<HeaderName, PolicyError> {
        let Some(v) = v else { return Ok(default) };
        HeaderName::from_bytes(v.get_ref().as_bytes()).map_err(|_| {
            self.err(
                v.span(),
                "http",
                field,
                Problem::HeaderName(v.get_ref().clone()),
            )
        })
    }
}

pub(super) fn compile(
    text: &str,
    file: &str,
    base_dir: Option<PathBuf>,
) -> Result<Policy, PolicyError> {
    let cx = Ctx { file, text };
    let raw: PolicyFile = toml::from_str(text).map_err(|e| syntax_error(file, text, &e))?;

    let meta = raw.policy.get_ref();
    parse_date(meta.country_lists_as_of.get_ref()).ok_or_else(|| {
        cx.err(
            meta.country_lists_as_of.span(),
            "policy",
            "country_lists_as_of",
            Problem::Date(meta.country_lists_as_of.get_ref().clone()),
        )
    })?;
    let regime = match &meta.regime {
        None => Regime::default(),
        Some(r) => Regime::by_name(r.get_ref()).ok_or_else(|| {
            let problem = Problem::NotOneOf {
                value: r.get_ref().clone(),
                allowed: "ear-2023-10, ear-2022-10",
            };
            cx.err(r.span(), "policy", "regime", problem)
        })?,
    };
    let mode = match &meta.mode {
        None => Mode::Enforce,
        Some(m) => match m.get_ref().as_str() {
            "enforce" => Mode::Enforce,
            "report-only" => Mode::ReportOnly,
            other => {
                let problem = Problem::NotOneOf {
                    value: other.to_owned(),
                    allowed: "enforce, report-only",
                };
                return Err(cx.err(m.span(), "policy", "mode", problem));
            }
        },
    };

    let defaults = compile_defaults(&cx, raw.defaults.as_ref())?;
    let groups = compile_groups(&cx, &raw)?;
    if raw.rules.len() > MAX_RULES {
        let span = raw.rules.get(MAX_RULES).map_or(0..0, S::span);
        let problem = Problem::TooManyRules { max: MAX_RULES };
        return Err(cx.err(span, "rules", "rules", problem));
    }
    let mut rule_ids = HashSet::new();
    let mut rules = Vec::with_capacity(raw.rules.len());
    for (i, r) in raw.rules.iter().enumerate() {
        let r = r.get_ref();
        let entry = format!("rules[{i}] (id = {:?})", r.id.get_ref());
        if !rule_ids.insert(r.id.get_ref().as_str()) {
            let problem = Problem::Duplicate(r.id.get_ref().clone());
            return Err(cx.err(r.id.span(), &entry, "id", problem));
        }
        rules.push(compile_rule(&cx, &groups, r, &entry)?);
    }
    let catalog = compile_catalog(&cx, &raw, regime)?;
    let (trusted_proxies, ip_table_files, ip_table) =
        compile_network(&cx, raw.network.as_ref(), &base_dir)?;
    let http = compile_http(&cx, raw.http.as_ref())?;
    let (license, license_verifier) = compile_license(&cx, raw.license, base_dir.as_deref())?;

    let tag_values = TagValues::new(&groups);
    let dated_rules = rules
        .iter()
        .any(|r| r.effective_from.is_some() || r.effective_until.is_some());
    Ok(Policy {
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
        license_verifier: Arc::new(license_verifier),
        base_dir,
        trusted_proxies,
        ip_table_files,
        ip_table: Arc::new(ip_table),
        http,
        tag_values,
    })
}

fn compile_defaults(
    cx: &Ctx<'_>,
    raw: Option<&S<model::Defaults>>,
) -> Result<Defaults, PolicyError> {
    let mut controlled = ClassSet::default();
    controlled.insert(AcceleratorClass::Eccn3A090a);
    controlled.insert(AcceleratorClass::Eccn3A090b);
    let mut defaults = Defaults {
        unknown_jurisdiction: Action::RequireLicense,
        unknown_instance_type: UnknownInstanceType::Assume(AcceleratorClass::Eccn3A090a),
        controlled_classes: controlled,
    };
    let Some(raw) = raw.map(S::get_ref) else {
        return Ok(defaults);
    };
    if let Some(v) = &raw.unknown_jurisdiction {
        defaults.unknown_jurisdiction = Action::parse(v.get_ref()).ok_or_else(|| {
            let problem = Problem::NotOneOf {
                value: v.get_ref().clone(),
                allowed: "allow, require-license, deny",
            };
            cx.err(v.span(), "defaults", "unknown_jurisdiction", problem)
        })?;
    }
    if let Some(v) = &raw.unknown_instance_type {
        defaults.unknown_instance_type = if v.get_ref() == "deny" {
            UnknownInstanceType::Deny
        } else {
            let class = cx.class(v, "defaults", "unknown_instance_type")?;
            if class == AcceleratorClass::Unknown {
                let problem = Problem::AssumedUnknownClass;
                return Err(cx.err(v.span(), "defaults", "unknown_instance_type", problem));
            }
            UnknownInstanceType::Assume(class)
        };
    }
    if let Some(list) = &raw.controlled_classes {
        let mut set = ClassSet::default();
        for (i, v) in list.iter().enumerate() {
            set.insert(cx.class(v, "defaults", &format!("controlled_classes[{i}]"))?);
        }
        defaults.controlled_classes = set;
    }
    Ok(defaults)
}

fn compile_groups(cx: &Ctx<'_>, raw: &PolicyFile) -> Result<CountryGroups, PolicyError> {
    if raw.country_groups.len() > MAX_GROUPS {
        let span = raw
            .country_groups
            .keys()
            .nth(MAX_GROUPS)
            .map_or(0..0, S::span);
        let problem = Problem::TooManyGroups { max: MAX_GROUPS };
        return Err(cx.err(span, "country_groups", "country_groups", problem));
    }
    let mut groups = Vec::with_capacity(raw.country_groups.len());
    for (name, members) in &raw.country_groups {
        let entry = format!("country_groups.{:?}", name.get_ref());
        if name.get_ref().trim().is_empty() {
            return Err(cx.err(name.span(), &entry, "name", Problem::Empty));
        }
        let mut seen = HashSet::new();
        let mut list = Vec::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            let field = format!("[{i}]");
            let c = cx.country(m, &entry, &field)?;
            if !seen.insert(c) {
                return Err(cx.err(m.span(), &entry, &field, Problem::Duplicate(c.to_string())));
            }
            list.push(c);
        }
        groups.push((name.get_ref().clone(), list));
    }
    let mut aliases = Vec::with_capacity(raw.country_aliases.len());
    let mut alias_spans = Vec::with_capacity(raw.country_aliases.len());
    for (from, to) in &raw.country_aliases {
        let entry = format!("country_aliases.{}", from.get_ref());
        let f = cx.country(from, &entry, "key")?;
        let t = cx.country(to, &entry, "value")?;
        if f == t {
            let problem = Problem::AliasOfItself;
            return Err(cx.err(to.span(), &entry, "value", problem));
        }
        // Codes are case-insensitive: `HK` and `hk` are the same key.
        if aliases.iter().any(|(g, _)| *g == f) {
            let problem = Problem::Duplicate(f.to_string());
            return Err(cx.err(from.span(), &entry, "key", problem));
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
            return Err(cx.err(span.clone(), entry, "value", problem));
        }
    }
    Ok(CountryGroups::new(groups, &aliases))
}

fn compile_rule(
    cx: &Ctx<'_>,
    groups: &CountryGroups,
    r: &model::RuleFile,
    entry: &str,
) -> Result<Rule, PolicyError> {
    if r.id.get_ref().trim().is_empty() {
        return Err(cx.err(r.id.span(), entry, "id", Problem::Empty));
    }
    let location = if r.countries.is_empty() && r.groups.is_empty() && r.except_groups.is_empty() {
        None
    } else {
        Some(CountryCondition {
            countries: cx.countries(&r.countries, entry, "countries")?,
            groups: cx.groups(groups, &r.groups, entry, "groups")?,
            except: cx.groups(groups, &r.except_groups, entry, "except_groups")?,
        })
    };
    let headquarters = if r.headquarters_countries.is_empty() && r.headquarters_groups.is_empty() {
        None
    } else {
        Some(CountryCondition {
            countries: cx.countries(&r.headquarters_countries, entry, "headquarters_countries")?,
            groups: cx.groups(groups, &r.headquarters_groups, entry, "headquarters_groups")?,
            except: GroupSet::EMPTY,
        })
    };
    let classes = match &r.accelerator_classes {
        None => None,
        Some(list) => {
            let mut set = ClassSet::default();
            for (i, v) in list.iter().enumerate() {
                set.insert(cx.class(v, entry, &format!("accelerator_classes[{i}]"))?);
            }
            Some(set)
        }
    };
    let action = Action::parse(r.action.get_ref()).ok_or_else(|| {
        let problem = Problem::NotOneOf {
            value: r.action.get_ref().clone(),
            allowed: "allow, require-license, deny",
        };
        cx.err(r.action.span(), entry, "action", problem)
    })?;
    let reason = match (&r.reason, action) {
        (None, Action::RequireLicense) => ReasonCode::LicenseRequired,
        (None, _) => ReasonCode::Embargoed,
        (Some(v), Action::Deny) => parse_deny_reason(v.get_ref()).ok_or_else(|| {
            let problem = Problem::NotOneOf {
                value: v.get_ref().clone(),
                allowed: "embargoed, license_required, jurisdiction_unknown, instance_type_unknown",
            };
            cx.err(v.span(), entry, "reason", problem)
        })?,
        (Some(v), _) => {
            let problem = Problem::ReasonWithoutDeny;
            return Err(cx.err(v.span(), entry, "reason", problem));
        }
    };
    let date = |v: &Option<S<String>>, field: &str| -> Result<Option<i64>, PolicyError> {
        v.as_ref()
            .map(|v| {
                parse_date(v.get_ref()).ok_or_else(|| {
                    cx.err(v.span(), entry, field, Problem::Date(v.get_ref().clone()))
                })
            })
            .transpose()
    };
    let effective_from = date(&r.effective_from, "effective_from")?;
    let effective_until = date(&r.effective_until, "effective_until")?;
    if let (Some(from), Some(until), Some(v)) =
        (effective_from, effective_until, &r.effective_until)
        && until <= from
    {
        let problem = Problem::EffectiveUntilNotAfterFrom;
        return Err(cx.err(v.span(), entry, "effective_until", problem));
    }
    Ok(Rule {
        id: r.id.get_ref().clone(),
        description: r.description.clone(),
        location,
        headquarters,
        classes,
        action,
        reason,
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

fn compile_catalog(cx: &Ctx<'_>, raw: &PolicyFile, regime: Regime) -> Result<Catalog, PolicyError> {
    let mut chips = Vec::with_capacity(raw.chips.len());
    let mut chip_names = std::collections::HashMap::new();
    for (i, c) in raw.chips.iter().enumerate() {
        let c = c.get_ref();
        let entry = format!("chips[{i}] (name = {:?})", c.name.get_ref());
        let name = c.name.get_ref();
        if name.trim().is_empty() {
            return Err(cx.err(c.name.span(), &entry, "name", Problem::Empty));
        }
        if chip_names.insert(name.clone(), i).is_some() {
            return Err(cx.err(
                c.name.span(),
                &entry,
                "name",
                Problem::Duplicate(name.clone()),
            ));
        }
        if c.dense_tops.get_ref().is_empty() {
            return Err(cx.err(c.dense_tops.span(), &entry, "dense_tops", Problem::Empty));
        }
        let mut dense_tops = Vec::with_capacity(c.dense_tops.get_ref().len());
        for (key, tops) in c.dense_tops.get_ref() {
            let field = format!("dense_tops.{}", key.get_ref());
            let bits: u32 = match key.get_ref().parse() {
                Ok(b) if (1..=128).contains(&b) => b,
                _ => {
                    let problem = Problem::NotOneOf {
                        value: key.get_ref().clone(),
                        allowed: "bit lengths 1..=128",
                    };
                    return Err(cx.err(key.span(), &entry, &field, problem));
                }
            };
            dense_tops.push((bits, cx.positive(tops, &entry, &field)?));
        }
        let die_area_mm2 = c
            .die_area_mm2
            .as_ref()
            .map(|v| cx.positive(v, &entry, "die_area_mm2"))
            .transpose()?;
        let interconnect_gbps = c
            .interconnect_gbps
            .as_ref()
            .map(|v| cx.positive(v, &entry, "interconnect_gbps"))
            .transpose()?;
        chips.push(ChipSpec {
            name: name.clone(),
            vendor: c.vendor.clone(),
            datacenter: c.datacenter,
            dense_tops,
            die_area_mm2,
            interconnect_gbps,
        });
    }
    let mut seen = HashSet::new();
    let mut instances = Vec::with_capacity(raw.instance_types.len());
    for (i, it) in raw.instance_types.iter().enumerate() {
        let it = it.get_ref();
        let name = it.name.get_ref();
        let entry = format!("instance_types[{i}] (name = {name:?})");
        if name.is_empty() || name.len() > 128 {
            let problem = Problem::InstanceTypeNameLength { length: name.len() };
            return Err(cx.err(it.name.span(), &entry, "name", problem));
        }
        if !seen.insert(name.as_str()) {
            return Err(cx.err(
                it.name.span(),
                &entry,
                "name",
                Problem::Duplicate(name.clone()),
            ));
        }
        let (chip, chips) = match (&it.chip, &it.chips) {
            (None, None) => (None, 0),
            (Some(c), Some(n)) => {
                let idx = chip_names.get(c.get_ref()).copied().ok_or_else(|| {
                    cx.err(
                        c.span(),
                        &entry,
                        "chip",
                        Problem::UnknownChip(c.get_ref().clone()),
                    )
                })?;
                let n = cx.int(n, &entry, "chips", 1, 1024)?;
                (Some(idx), u32::try_from(n).unwrap_or(1024))
            }
            (Some(c), None) => {
                let problem = Problem::ChipWithoutCount;
                return Err(cx.err(c.span(), &entry, "chips", problem));
            }
            (None, Some(n)) => {
                let problem = Problem::CountWithoutChip;
                return Err(cx.err(n.span(), &entry, "chip", problem));
            }
        };
        instances.push(InstanceSpec {
            name: name.clone(),
            chip,
            chips,
        });
    }
    Ok(Catalog::new(regime, chips, instances))
}

fn compile_license(
    cx: &Ctx<'_>,
    raw: Option<S<LicenseConfig>>,
    base_dir: Option<&std::path::Path>,
) -> Result<(LicenseConfig, LicenseVerifier), PolicyError> {
    let Some(raw) = raw else {
        return Ok((LicenseConfig::default(), LicenseVerifier::trust_none()));
    };
    let span = raw.span();
    let config = raw.into_inner();
    let base = base_dir.unwrap_or(std::path::Path::new("."));
    let verifier = LicenseVerifier::from_config(&config, base)
        .map_err(|e| cx.err(span, "license", "issuers", Problem::LicenseFile(e)))?;
    Ok((config, verifier))
}

type Network = (Vec<IpNetwork>, Vec<PathBuf>, IpTable);

fn compile_network(
    cx: &Ctx<'_>,
    raw: Option<&S<model::NetworkFile>>,
    base_dir: &Option<PathBuf>,
) -> Result<Network, PolicyError> {
    let Some(raw) = raw.map(S::get_ref) else {
        return Ok((Vec::new(), Vec::new(), IpTable::empty()));
    };
    let mut proxies = Vec::with_capacity(raw.trusted_proxies.len());
    for (i, p) in raw.trusted_proxies.iter().enumerate() {
        let net: IpNetwork = p.get_ref().parse().map_err(|_| {
            let field = format!("trusted_proxies[{i}]");
            cx.err(
                p.span(),
                "network",
                &field,
                Problem::Network(p.get_ref().clone()),
            )
        })?;
        proxies.push(net);
    }
    let mut files = Vec::with_capacity(raw.ip_tables.len());
    let mut table = IpTable::builder();
    for (i, f) in raw.ip_tables.iter().enumerate() {
        let path = match base_dir {
            Some(dir) => dir.join(f.get_ref()),
            None => PathBuf::from(f.get_ref()),
        };
        table.add_path(&path).map_err(|e| {
            let field = format!("ip_tables[{i}]");
            cx.err(f.span(), "network", &field, Problem::IpTableFile(e))
        })?;
        files.push(path);
    }
    let table = if files.is_empty() {
        IpTable::empty()
    } else {
        table.build()
    };
    Ok((proxies, files, table))
}

fn compile_http(cx: &Ctx<'_>, raw: Option<&S<model::HttpFile>>) -> Result<HttpConfig, PolicyError> {
    let d = HttpConfig::default();
    let Some(raw) = raw.map(S::get_ref) else {
        return Ok(d);
    };
    let body_limit_bytes = match &raw.body_limit_bytes {
        None => d.body_limit_bytes,
        Some(v) => {
            let n = cx.int(v, "http", "body_limit_bytes", 1, 16 * 1024 * 1024)?;
            usize::try_from(n).unwrap_or(d.body_limit_bytes)
        }
    };
    let mut routes = Vec::with_capacity(raw.provisioning_routes.len());
    for (i, r) in raw.provisioning_routes.iter().enumerate() {
        let r = r.get_ref();
        let entry = format!("http.provisioning_routes[{i}]");
        let method = Method::from_bytes(r.method.get_ref().to_ascii_uppercase().as_bytes())
            .map_err(|_| {
                let problem = Problem::NotOneOf {
                    value: r.method.get_ref().clone(),
                    allowed: "HTTP methods",
                };
                cx.err(r.method.span(), &entry, "method", problem)
            })?;
        if !r.path.get_ref().starts_with('/') {
            let problem = Problem::PathWithoutSlash(r.path.get_ref().clone());
            return Err(cx.err(r.path.span(), &entry, "path", problem));
        }
        let pointer = |v: &Option<S<String>>, field: &str, default: &str| match v {
            None => Ok(default.to_owned()),
            Some(p) if p.get_ref().is_empty() || p.get_ref().starts_with('/') => {
                Ok(p.get_ref().clone())
            }
            Some(p) => {
                let problem = Problem::InvalidJsonPointer(p.get_ref().clone());
                Err(cx.err(p.span(), &entry, field, problem))
            }
        };
        routes.push(ProvisioningRoute {
            method,
            path: r.path.get_ref().clone(),
            instance_type_pointer: pointer(
                &r.instance_type_pointer,
                "instance_type_pointer",
                "/instance_type",
            )?,
            count_pointer: pointer(&r.count_pointer, "count_pointer", "/count")?,
        });
    }
    Ok(HttpConfig {
        country_header: cx.header(
            raw.country_header.as_ref(),
            "country_header",
            d.country_header,
        )?,
        headquarters_header: cx.header(
            raw.headquarters_header.as_ref(),
            "headquarters_header",
            d.headquarters_header,
        )?,
        customer_id_header: cx.header(
            raw.customer_id_header.as_ref(),
            "customer_id_header",
            d.customer_id_header,
        )?,
        instance_type_header: cx.header(
            raw.instance_type_header.as_ref(),
            "instance_type_header",
            d.instance_type_header,
        )?,
        instance_count_header: cx.header(
            raw.instance_count_header.as_ref(),
            "instance_count_header",
            d.instance_count_header,
        )?,
        license_header: cx.header(
            raw.license_header.as_ref(),
            "license_header",
            d.license_header,
        )?,
        body_limit_bytes,
        blocked_by: raw.blocked_by.as_ref().map(|v| v.get_ref().clone()),
        provisioning_routes: routes,
    })
}
