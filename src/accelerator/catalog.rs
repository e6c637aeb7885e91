//! The catalog: chips with their computed class, and instance types mapped
//! to a chip and a chip count.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::{AcceleratorClass, ChipSpec, Regime};

/// A chip with the figures a regime computed for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Chip {
    spec: ChipSpec,
    tpp: f64,
    performance_density: Option<f64>,
    class: AcceleratorClass,
}

impl Chip {
    fn new(spec: ChipSpec, regime: &Regime) -> Self {
        Self {
            tpp: spec.tpp(),
            performance_density: spec.performance_density(),
            class: regime.classify(&spec),
            spec,
        }
    }

    /// The chip's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The specification it was classified from.
    pub fn spec(&self) -> &ChipSpec {
        &self.spec
    }

    /// Total processing performance.
    pub fn tpp(&self) -> f64 {
        self.tpp
    }

    /// Performance density, when the die area is known.
    pub fn performance_density(&self) -> Option<f64> {
        self.performance_density
    }

    /// The class under the catalog's regime.
    pub fn class(&self) -> AcceleratorClass {
        self.class
    }
}

/// What an instance type carries.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct InstanceInfo<'a> {
    /// The catalog entry that matched: the exact name or the glob pattern.
    pub entry: &'a str,
    /// The accelerator chip, `None` for CPU-only instances.
    pub chip: Option<&'a Chip>,
    /// Accelerators per instance (0 without a chip).
    pub chips_per_instance: u32,
}

impl InstanceInfo<'_> {
    /// The class of the instance type: its chip's, or `none`.
    pub fn class(&self) -> AcceleratorClass {
        self.chip.map_or(AcceleratorClass::None, Chip::class)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    chip: Option<usize>,
    chips: u32,
}

/// An instance type entry for [`Catalog::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    /// An exact instance type name, or a glob pattern with `*` (any run of
    /// characters) and `?` (one byte; names are ASCII).
    pub name: String,
    /// Index into the catalog's chips, `None` for no accelerator.
    pub chip: Option<usize>,
    /// Chips per instance.
    pub chips: u32,
}

/// Chips and instance types, classified under one regime.
#[derive(Clone, Debug)]
pub struct Catalog {
    regime: Regime,
    chips: Vec<Chip>,
    exact: HashMap<Box<str>, Entry, BuildHasherDefault<Fnv>>,
    /// Most specific (most literal characters) first.
    patterns: Vec<Pattern>,
}

impl Catalog {
    /// Classifies `chips` under `regime` and indexes `instances`. Entries
    /// naming a chip index out of range are treated as CPU-only; callers
    /// validate references first.
    pub fn new(regime: Regime, chips: Vec<ChipSpec>, instances: Vec<InstanceSpec>) -> Self {
        let chips: Vec<Chip> = chips.into_iter().map(|c| Chip::new(c, &regime)).collect();
        let mut exact = HashMap::default();
        let mut patterns = Vec::new();
        for inst in instances {
            let entry = Entry {
                chip: inst.chip.filter(|&i| i < chips.len()),
                chips: inst.chips,
            };
            if is_pattern(&inst.name) {
                patterns.push(Pattern::new(inst.name.into_boxed_str(), entry));
            } else {
                exact.insert(inst.name.into_boxed_str(), entry);
            }
        }
        patterns.sort_by(|a, b| {
            literal_len(&b.glob)
                .cmp(&literal_len(&a.glob))
                .then_with(|| a.glob.cmp(&b.glob))
        });
        Self {
            regime,
            chips,
            exact,
            patterns,
        }
    }

    /// The same chips and instance types, classified under another regime.
    #[must_use]
    pub fn with_regime(&self, regime: Regime) -> Self {
        let chips = self
            .chips
            .iter()
            .map(|c| Chip::new(c.spec.clone(), &regime))
            .collect();
        Self {
            regime,
            chips,
            exact: self.exact.clone(),
            patterns: self.patterns.clone(),
        }
    }

    /// The regime the chips were classified under.
    pub fn regime(&self) -> Regime {
        self.regime
    }

    /// Every chip, in definition order.
    pub fn chips(&self) -> &[Chip] {
        &self.chips
    }

    /// The chip called `name`.
    pub fn chip(&self, name: &str) -> Option<&Chip> {
        self.chips.iter().find(|c| c.name() == name)
    }

    /// What `instance_type` carries: an exact entry wins over patterns, and
    /// the most specific pattern wins among patterns. `None` when the
    /// catalog does not know it.
    pub fn lookup(&self, instance_type: &str) -> Option<InstanceInfo<'_>> {
        if let Some((name, entry)) = self.exact.get_key_value(instance_type) {
            return Some(self.info(name, *entry));
        }
        self.patterns
            .iter()
            .find(|p| p.matches(instance_type))
            .map(|p| self.info(&p.glob, p.entry))
    }

    /// Every entry (exact names sorted, then patterns by specificity).
    pub fn instance_types(&self) -> Vec<InstanceInfo<'_>> {
        let mut exact: Vec<_> = self.exact.iter().collect();
        exact.sort_by(|a, b| a.0.cmp(b.0));
        exact
            .into_iter()
            .map(|(n, e)| self.info(n, *e))
            .chain(self.patterns.iter().map(|p| self.info(&p.glob, p.entry)))
            .collect()
    }

    fn info<'a>(&'a self, entry: &'a str, e: Entry) -> InstanceInfo<'a> {
        let chip = e.chip.and_then(|i| self.chips.get(i));
        InstanceInfo {
            entry,
            chip,
            chips_per_instance: if chip.is_some() { e.chips } else { 0 },
        }
    }
}

/// FNV-1a: a few instructions per byte against SipHash's setup, for a
/// table built once from the policy and only read after. Clients choose
/// only the names looked up, not the table's layout, so collisions they
/// craft cost them one probe each and slow no one else.
#[derive(Clone, Copy, Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A glob pattern of the catalog, with the literal text it starts with:
/// most names fail that comparison and never reach the glob match.
#[derive(Clone, Debug)]
struct Pattern {
    glob: Box<str>,
    prefix_len: usize,
    /// The pattern is its prefix and one trailing `*` (`m7i.*`, the usual
    /// family pattern): the prefix comparison decides alone.
    prefix_only: bool,
    entry: Entry,
}

impl Pattern {
    fn new(glob: Box<str>, entry: Entry) -> Self {
        let prefix_len = glob.find(['*', '?']).unwrap_or(glob.len());
        let prefix_only = glob.get(prefix_len..) == Some("*");
        Self {
            glob,
            prefix_len,
            prefix_only,
            entry,
        }
    }

    fn matches(&self, text: &str) -> bool {
        let prefix = self.glob.as_bytes().get(..self.prefix_len);
        prefix.is_some_and(|p| text.as_bytes().starts_with(p))
            && (self.prefix_only || glob_match(&self.glob, text))
    }
}

/// Whether a catalog name is a glob pattern.
fn is_pattern(name: &str) -> bool {
    name.contains(['*', '?'])
}

fn literal_len(pattern: &str) -> usize {
    pattern.chars().filter(|c| !matches!(c, '*' | '?')).count()
}

/// Glob match with `*` and `?`, iterative with one backtrack point, so it
/// runs in O(pattern × text) at worst and never recurses.
fn glob_match(pattern: &str, text: &str) -> bool {
    // Bytes, not chars: no allocation per lookup; catalog names are ASCII.
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match (p.get(pi), t.get(ti)) {
            (Some(b'*'), _) => {
                star = Some((pi, ti));
                pi += 1;
            }
            (Some(b'?'), _) => {
                pi += 1;
                ti += 1;
            }
            (Some(a), Some(b)) if a == b => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::{Entry, Pattern, glob_match};

    #[test]
    fn globs() {
        for (p, t, want) in GLOBS {
            assert_eq!(glob_match(p, t), want, "{p} vs {t}");
            // The prefix filter and the prefix-only shortcut agree with the
            // full match.
            let pattern = Pattern::new(
                p.into(),
                Entry {
                    chip: None,
                    chips: 0,
                },
            );
            assert_eq!(pattern.matches(t), want, "pattern {p} vs {t}");
        }
    }

    const GLOBS: [(&str, &str, bool); 14] = [
        ("m7i.*", "m7i.large", true),
        ("m7i.*", "m7i.", true),
        ("m7i.*", "m7i", false),
        ("m7i.*", "xm7i.large", false),
        ("Standard_D*", "Standard_D4s_v5", true),
        ("n2-standard-*", "n2-standard-8", true),
        ("g?.xlarge", "g5.xlarge", true),
        ("g?.xlarge", "g50.xlarge", false),
        ("*a*b*", "xxaxxbxx", true),
        ("*a*b", "xxaxxbxxc", false),
        ("", "", true),
        ("*", "", true),
        ("*", "anything", true),
        ("m7i.*x", "m7i.large", false),
    ];
}
