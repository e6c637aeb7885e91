//! The serde model of a policy file, as written. Validated into
//! [`Policy`](super::Policy) by `compile`; nothing here is used directly to
//! decide.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::date;
use crate::ledger::LedgerConfig;
use crate::license::LicenseConfig;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFile {
    pub(crate) policy: S<Meta>,
    #[serde(default)]
    pub(crate) defaults: Option<S<Defaults>>,
    #[serde(default)]
    pub(crate) country_groups: BTreeMap<S<String>, Vec<S<String>>>,
    #[serde(default)]
    pub(crate) country_aliases: BTreeMap<S<String>, S<String>>,
    #[serde(default)]
    pub(crate) rules: Vec<S<RuleFile>>,
    #[serde(default)]
    pub(crate) chips: Vec<S<ChipFile>>,
    #[serde(default)]
    pub(crate) instance_types: Vec<S<InstanceFile>>,
    #[serde(default)]
    pub(crate) license: Option<S<LicenseConfig>>,
    #[serde(default)]
    pub(crate) network: Option<S<NetworkFile>>,
    #[serde(default)]
    pub(crate) http: Option<S<HttpFile>>,
    #[serde(default)]
    pub(crate) ledger: Option<S<LedgerConfig>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Meta {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    /// The date of the country lists the groups reproduce.
    #[serde(deserialize_with = "date::date")]
    pub(crate) country_lists_as_of: S<String>,
    #[serde(default)]
    pub(crate) regime: Option<S<String>>,
    #[serde(default)]
    pub(crate) mode: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Defaults {
    #[serde(default)]
    pub(crate) unknown_jurisdiction: Option<S<String>>,
    #[serde(default)]
    pub(crate) unknown_instance_type: Option<S<String>>,
    #[serde(default)]
    pub(crate) controlled_classes: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    pub(crate) id: S<String>,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) countries: Vec<S<String>>,
    #[serde(default)]
    pub(crate) groups: Vec<S<String>>,
    #[serde(default)]
    pub(crate) except_groups: Vec<S<String>>,
    #[serde(default)]
    pub(crate) except_countries: Vec<S<String>>,
    #[serde(default)]
    pub(crate) headquarters_countries: Vec<S<String>>,
    #[serde(default)]
    pub(crate) headquarters_groups: Vec<S<String>>,
    #[serde(default)]
    pub(crate) accelerator_classes: Option<Vec<S<String>>>,
    pub(crate) action: S<String>,
    #[serde(default)]
    pub(crate) reason: Option<S<String>>,
    #[serde(default, deserialize_with = "date::optional_date")]
    pub(crate) effective_from: Option<S<String>>,
    #[serde(default, deserialize_with = "date::optional_date")]
    pub(crate) effective_until: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChipFile {
    pub(crate) name: S<String>,
    #[serde(default)]
    pub(crate) vendor: String,
    pub(crate) datacenter: bool,
    /// Bit length (as a TOML key) → dense TOPS.
    pub(crate) dense_tops: S<BTreeMap<S<String>, S<f64>>>,
    #[serde(default)]
    pub(crate) die_area_mm2: Option<S<f64>>,
    #[serde(default)]
    pub(crate) interconnect_gbps: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstanceFile {
    pub(crate) name: S<String>,
    #[serde(default)]
    pub(crate) chip: Option<S<String>>,
    #[serde(default)]
    pub(crate) chips: Option<S<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkFile {
    #[serde(default)]
    pub(crate) trusted_proxies: Vec<S<String>>,
    #[serde(default)]
    pub(crate) ip_tables: Vec<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpFile {
    #[serde(default)]
    pub(crate) country_header: Option<S<String>>,
    #[serde(default)]
    pub(crate) headquarters_header: Option<S<String>>,
    #[serde(default)]
    pub(crate) parent_country_header: Option<S<String>>,
    #[serde(default)]
    pub(crate) customer_id_header: Option<S<String>>,
    #[serde(default)]
    pub(crate) instance_type_header: Option<S<String>>,
    #[serde(default)]
    pub(crate) instance_count_header: Option<S<String>>,
    #[serde(default)]
    pub(crate) license_header: Option<S<String>>,
    #[serde(default)]
    pub(crate) body_limit_bytes: Option<S<i64>>,
    #[serde(default)]
    pub(crate) blocked_by: Option<S<String>>,
    #[serde(default)]
    pub(crate) provisioning_routes: Vec<S<RouteFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteFile {
    pub(crate) method: S<String>,
    pub(crate) path: S<String>,
    #[serde(default)]
    pub(crate) body: Option<S<String>>,
    #[serde(default)]
    pub(crate) instance_type_pointer: Option<S<String>>,
    #[serde(default)]
    pub(crate) count_pointer: Option<S<String>>,
}
