//! Country groups (Supplement No. 1 to EAR Part 740, or any a user defines)
//! held as data, with aliases such as `HK` → `CN`.

use std::fmt;

use super::country::{CODE_SPACE, CountryCode};

/// The most groups a policy may define (they are kept as bits of a `u64`).
pub const MAX_GROUPS: usize = 64;

/// A group's position in its [`CountryGroups`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(u8);

/// A set of groups of one [`CountryGroups`], as bits.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct GroupSet(u64);

impl GroupSet {
    /// The empty set.
    pub const EMPTY: GroupSet = GroupSet(0);

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the set holds `id`.
    pub const fn contains(self, id: GroupId) -> bool {
        self.0 & (1 << id.0) != 0
    }

    /// Whether the two sets share a group.
    pub const fn intersects(self, other: GroupSet) -> bool {
        self.0 & other.0 != 0
    }

    /// Both sets together.
    #[must_use]
    pub const fn union(self, other: GroupSet) -> GroupSet {
        GroupSet(self.0 | other.0)
    }

    /// The set with `id` added.
    #[must_use]
    pub const fn with(self, id: GroupId) -> GroupSet {
        GroupSet(self.0 | (1 << id.0))
    }

    /// The groups in the set, in definition order.
    pub fn iter(self) -> impl Iterator<Item = GroupId> {
        (0..MAX_GROUPS as u8)
            .filter(move |i| self.0 & (1 << i) != 0)
            .map(GroupId)
    }
}

impl fmt::Debug for GroupSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|g| g.0)).finish()
    }
}

/// Named sets of countries, and aliases that make one country count as
/// another for membership.
///
/// Group names are kept sorted, so a [`GroupSet`] lists its names in sorted
/// order, as the `x-export-country-groups` header needs.
#[derive(Clone)]
pub struct CountryGroups {
    names: Vec<Box<str>>,
    /// Membership of each country as listed, without aliases.
    own: Vec<GroupSet>,
    /// Membership of each country, aliases already folded in.
    members: Vec<GroupSet>,
    aliases: Vec<Option<CountryCode>>,
}

impl CountryGroups {
    /// Builds groups from `(name, members)` pairs and `(country, alias_of)`
    /// pairs. Callers validate names (unique, at most [`MAX_GROUPS`]); extra
    /// groups past the limit are ignored here.
    pub(crate) fn new(
        groups: Vec<(String, Vec<CountryCode>)>,
        aliases: &[(CountryCode, CountryCode)],
    ) -> Self {
        let mut groups = groups;
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups.truncate(MAX_GROUPS);
        let mut own = vec![GroupSet::EMPTY; CODE_SPACE];
        let mut names = Vec::with_capacity(groups.len());
        for (id, (name, countries)) in (0u8..).zip(groups) {
            for c in countries {
                if let Some(slot) = own.get_mut(c.index()) {
                    *slot = slot.with(GroupId(id));
                }
            }
            names.push(name.into_boxed_str());
        }
        let mut alias_of = vec![None; CODE_SPACE];
        for (from, to) in aliases {
            if let Some(slot) = alias_of.get_mut(from.index()) {
                *slot = Some(*to);
            }
        }
        let members = (0..CODE_SPACE)
            .map(|i| {
                let mine = own.get(i).copied().unwrap_or_default();
                let target = alias_of
                    .get(i)
                    .copied()
                    .flatten()
                    .and_then(|t| own.get(t.index()).copied())
                    .unwrap_or_default();
                mine.union(target)
            })
            .collect();
        Self {
            names,
            own,
            members,
            aliases: alias_of,
        }
    }

    /// The groups `country` belongs to, counting its alias's groups.
    pub fn groups_of(&self, country: CountryCode) -> GroupSet {
        self.members
            .get(country.index())
            .copied()
            .unwrap_or_default()
    }

    /// The country `country` is an alias of, if any.
    pub fn alias_of(&self, country: CountryCode) -> Option<CountryCode> {
        self.aliases.get(country.index()).copied().flatten()
    }

    /// The id of the group called `name`.
    pub fn id(&self, name: &str) -> Option<GroupId> {
        self.names
            .binary_search_by(|n| (**n).cmp(name))
            .ok()
            .and_then(|i| u8::try_from(i).ok())
            .map(GroupId)
    }

    /// The name of a group.
    pub fn name(&self, id: GroupId) -> &str {
        self.names.get(usize::from(id.0)).map_or("", |n| n)
    }

    /// The names of the groups in `set`, sorted.
    pub fn names(&self, set: GroupSet) -> impl Iterator<Item = &str> + '_ {
        set.iter().map(|id| self.name(id))
    }

    /// All group names, sorted.
    pub fn all_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(|n| &**n)
    }

    /// The members of a group as the policy lists them (a country that is
    /// only a member through its alias is not listed).
    pub fn members(&self, id: GroupId) -> impl Iterator<Item = CountryCode> + '_ {
        CountryCode::all().filter(move |c| self.own.get(c.index()).is_some_and(|g| g.contains(id)))
    }
}

impl fmt::Debug for CountryGroups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountryGroups")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}
