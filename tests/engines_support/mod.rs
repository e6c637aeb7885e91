//! The default policy's decision in Cedar and in Rego (regorus), each with
//! its entities or data built once from our [`Policy`], as a deployment
//! would build them. Shared by `tests/engine_equivalence.rs` and
//! `benches/engines.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, PolicyId, PolicySet, Request, Response, RestrictedExpression,
};
use regorus::rvm::program::Program;
use regorus::rvm::vm::RegoVM;
use regorus::{Engine, Value};
use tower_export_control::policy::Action;
use tower_export_control::{AcceleratorClass, CountryCode, Facts, Policy};

/// The Cedar policy set.
pub const CEDAR_SOURCE: &str = include_str!("../../benches/engines/default.cedar");
/// The Rego module.
pub const REGO_SOURCE: &str = include_str!("../../benches/engines/default.rego");
/// The Rego rule that holds the outcome.
pub const REGO_RULE: &str = "data.export_control.action";

/// The instance type names a deployment would know: every exact catalog
/// entry, and one concrete name per glob pattern (`*` read as `large`, `?`
/// as `x`: `m7i.*` gives `m7i.large`).
pub fn instance_type_names(policy: &Policy) -> Vec<String> {
    policy
        .catalog()
        .instance_types()
        .iter()
        .map(|info| info.entry.replace('*', "large").replace('?', "x"))
        .collect()
}

/// The class our catalog gives `name`, as the engines receive it; `None`
/// when the catalog does not know it (the engines then assume 3A090.a, as
/// the policy's `defaults.unknown_instance_type` does).
pub fn catalog_class(policy: &Policy, name: &str) -> Option<&'static str> {
    policy
        .catalog()
        .lookup(name)
        .map(|info| info.class())
        .filter(|c| *c != AcceleratorClass::Unknown)
        .map(AcceleratorClass::as_str)
}

/// Each group's members as the policy lists them.
pub type Members = BTreeMap<String, Vec<CountryCode>>;

/// Each group's members as the policy lists them, and the aliases.
pub fn groups_and_aliases(policy: &Policy) -> (Members, Vec<(CountryCode, CountryCode)>) {
    let groups = policy.country_groups();
    let members = groups
        .all_names()
        .map(|name| {
            let id = groups.id(name).unwrap();
            (name.to_owned(), groups.members(id).collect())
        })
        .collect();
    let aliases = CountryCode::all()
        .filter_map(|c| groups.alias_of(c).map(|to| (c, to)))
        .collect();
    (members, aliases)
}

/// Every country the policy names: group members and aliases.
pub fn known_countries(policy: &Policy) -> Vec<CountryCode> {
    let (members, aliases) = groups_and_aliases(policy);
    let mut all: Vec<CountryCode> = members.into_values().flatten().collect();
    all.extend(aliases.iter().flat_map(|(a, b)| [*a, *b]));
    all.sort_by_key(|c| c.index());
    all.dedup();
    all
}

/// The Cedar side: the policy set, the entities and an authorizer,
/// prepared once.
#[derive(Debug)]
pub struct Cedar {
    policies: PolicySet,
    entities: Entities,
    authorizer: Authorizer,
    /// The action each forbid policy stands for (its `@action`).
    actions: HashMap<PolicyId, Action>,
    principal: EntityUid,
    provision: EntityUid,
    country: EntityTypeName,
    instance_type: EntityTypeName,
}

impl Cedar {
    /// Parses [`CEDAR_SOURCE`] and builds the entities from `policy`:
    /// a `CountryGroup` per group, a `Country` per listed country (in its
    /// groups, and in the country it is an alias of), and an `InstanceType`
    /// per name in `instance_types` that the catalog knows, with its class.
    pub fn new(policy: &Policy, instance_types: &[String]) -> Self {
        let policies = PolicySet::from_str(CEDAR_SOURCE).unwrap();
        let actions = policies
            .policies()
            .filter_map(|p| {
                let action = match p.annotation("action")? {
                    "deny" => Action::Deny,
                    "require-license" => Action::RequireLicense,
                    other => panic!("unexpected @action({other:?})"),
                };
                Some((p.id().clone(), action))
            })
            .collect();

        let ty = |name: &str| EntityTypeName::from_str(name).unwrap();
        let country = ty("Country");
        let group = ty("CountryGroup");
        let instance_type = ty("InstanceType");
        let uid = |t: &EntityTypeName, id: &str| {
            EntityUid::from_type_name_and_id(t.clone(), EntityId::new(id))
        };

        let (members, aliases) = groups_and_aliases(policy);
        let mut parents: BTreeMap<CountryCode, HashSet<EntityUid>> = BTreeMap::new();
        for (name, countries) in &members {
            for c in countries {
                parents.entry(*c).or_default().insert(uid(&group, name));
            }
        }
        for (from, to) in &aliases {
            parents
                .entry(*from)
                .or_default()
                .insert(uid(&country, to.as_str()));
        }
        let mut entities: Vec<Entity> = members
            .keys()
            .map(|name| Entity::new_no_attrs(uid(&group, name), HashSet::new()))
            .collect();
        entities.extend(
            parents
                .into_iter()
                .map(|(c, p)| Entity::new_no_attrs(uid(&country, c.as_str()), p)),
        );
        for name in instance_types {
            if let Some(class) = catalog_class(policy, name) {
                let attrs = HashMap::from([(
                    "class".to_owned(),
                    RestrictedExpression::new_string(class.to_owned()),
                )]);
                entities
                    .push(Entity::new(uid(&instance_type, name), attrs, HashSet::new()).unwrap());
            }
        }

        Self {
            policies,
            entities: Entities::from_entities(entities, None).unwrap(),
            authorizer: Authorizer::new(),
            actions,
            principal: uid(&ty("Customer"), "customer"),
            provision: EntityUid::from_str(r#"Action::"provision""#).unwrap(),
            country,
            instance_type,
        }
    }

    /// The request for `facts`: what a deployment builds per request.
    pub fn request(&self, facts: &Facts<'_>) -> Request {
        let context = [
            ("declared", facts.declared_country),
            ("network", facts.network_country),
            ("headquarters", facts.headquarters),
            ("parent", facts.parent_country),
        ]
        .into_iter()
        .filter_map(|(key, c)| {
            let c = c?;
            let uid =
                EntityUid::from_type_name_and_id(self.country.clone(), EntityId::new(c.as_str()));
            Some((key.to_owned(), RestrictedExpression::new_entity_uid(uid)))
        });
        let resource = EntityUid::from_type_name_and_id(
            self.instance_type.clone(),
            EntityId::new(facts.instance_type.unwrap_or("")),
        );
        Request::new(
            self.principal.clone(),
            self.provision.clone(),
            resource,
            Context::from_pairs(context).unwrap(),
            None,
        )
        .unwrap()
    }

    /// Cedar's answer to `request`, mapped onto ours.
    pub fn decide(&self, request: &Request) -> Action {
        self.action(&self.respond(request))
    }

    /// Cedar's response to `request`.
    pub fn respond(&self, request: &Request) -> Response {
        self.authorizer
            .is_authorized(request, &self.policies, &self.entities)
    }

    /// A response mapped onto ours: Allow is allow; a Deny takes the most
    /// restrictive `@action` of the forbid policies that determined it. A
    /// Deny no forbid determined (no permit applied, or an evaluation
    /// error) is a deny: fail closed.
    pub fn action(&self, response: &Response) -> Action {
        match response.decision() {
            CedarDecision::Allow => Action::Allow,
            CedarDecision::Deny => response
                .diagnostics()
                .reason()
                .filter_map(|id| self.actions.get(id).copied())
                .max()
                .unwrap_or(Action::Deny),
        }
    }
}

/// The data document: `country_groups` (group -> {country: true}),
/// `country_aliases` and `classes` (instance type -> class).
pub fn rego_data(policy: &Policy, instance_types: &[String]) -> Value {
    let (members, aliases) = groups_and_aliases(policy);
    let groups: serde_json::Map<String, serde_json::Value> = members
        .into_iter()
        .map(|(name, countries)| {
            let set = countries
                .iter()
                .map(|c| (c.as_str().to_owned(), serde_json::Value::Bool(true)))
                .collect();
            (name, serde_json::Value::Object(set))
        })
        .collect();
    let aliases: serde_json::Map<String, serde_json::Value> = aliases
        .iter()
        .map(|(a, b)| (a.as_str().to_owned(), b.as_str().into()))
        .collect();
    let classes: serde_json::Map<String, serde_json::Value> = instance_types
        .iter()
        .filter_map(|n| catalog_class(policy, n).map(|c| (n.clone(), c.into())))
        .collect();
    let data = serde_json::json!({
        "country_groups": groups,
        "country_aliases": aliases,
        "classes": classes,
    });
    Value::from_json_str(&data.to_string()).unwrap()
}

/// The input document for `facts`: what a deployment builds per request.
pub fn rego_input(facts: &Facts<'_>) -> Value {
    let mut input = BTreeMap::new();
    if let Some(t) = facts.instance_type {
        input.insert(Value::from("instance_type"), Value::from(t));
    }
    for (key, c) in [
        ("declared", facts.declared_country),
        ("network", facts.network_country),
        ("headquarters", facts.headquarters),
        ("parent", facts.parent_country),
    ] {
        if let Some(c) = c {
            input.insert(Value::from(key), Value::from(c.as_str()));
        }
    }
    Value::from(input)
}

/// Rego's answer mapped onto ours: the string the rule holds.
pub fn rego_action(v: &Value) -> Action {
    match v.as_string().map(|s| &**s) {
        Ok("allow") => Action::Allow,
        Ok("require-license") => Action::RequireLicense,
        Ok("deny") => Action::Deny,
        other => panic!("unexpected Rego result {other:?}"),
    }
}

/// regorus's interpreter with the module and the data loaded once.
#[derive(Debug, Clone)]
pub struct Rego {
    engine: Engine,
    rule: String,
}

impl Rego {
    /// Loads [`REGO_SOURCE`] and [`rego_data`].
    pub fn new(policy: &Policy, instance_types: &[String]) -> Self {
        let mut engine = Engine::new();
        engine
            .add_policy("default.rego".to_owned(), REGO_SOURCE.to_owned())
            .unwrap();
        engine.add_data(rego_data(policy, instance_types)).unwrap();
        Self {
            engine,
            rule: REGO_RULE.to_owned(),
        }
    }

    /// `set_input` then `eval_rule` on the prepared engine.
    pub fn decide(&mut self, input: Value) -> Action {
        self.engine.set_input(input);
        rego_action(&self.engine.eval_rule(self.rule.clone()).unwrap())
    }
}

/// regorus's virtual machine (RVM): the module compiled once to a program,
/// with the data loaded once.
pub struct RegoVm {
    vm: RegoVM,
}

impl std::fmt::Debug for RegoVm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoVm").finish_non_exhaustive()
    }
}

impl RegoVm {
    /// Compiles [`REGO_SOURCE`] for [`REGO_RULE`] and loads the program and
    /// [`rego_data`] into a VM.
    pub fn new(policy: &Policy, instance_types: &[String]) -> Self {
        let mut engine = Engine::new();
        engine
            .add_policy("default.rego".to_owned(), REGO_SOURCE.to_owned())
            .unwrap();
        let compiled = engine.compile_with_entrypoint(&REGO_RULE.into()).unwrap();
        let program: std::sync::Arc<Program> =
            regorus::languages::rego::compiler::Compiler::compile_from_policy(
                &compiled,
                &[REGO_RULE],
            )
            .unwrap();
        let mut vm = RegoVM::new();
        vm.load_program(program);
        vm.set_data(rego_data(policy, instance_types)).unwrap();
        Self { vm }
    }

    /// `set_input` then `execute` on the loaded VM.
    pub fn decide(&mut self, input: Value) -> Action {
        self.vm.set_input(input);
        rego_action(&self.vm.execute().unwrap())
    }
}
