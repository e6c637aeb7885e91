//! What a license must cover for a `require-license` decision to allow.

use crate::{AcceleratorClass, CountryCode};

/// A country that triggered a license requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequiredCountry {
    /// The customer's country (declared, network, headquarters or its
    /// ultimate parent's headquarters).
    pub country: CountryCode,
    /// The country it is an alias of in the policy (`CN` for `HK` in the
    /// default policy): a license naming either covers it.
    pub alias_of: Option<CountryCode>,
}

impl RequiredCountry {
    /// Whether a license's country list covers this country.
    pub fn is_covered_by(&self, licensed: &[CountryCode]) -> bool {
        licensed
            .iter()
            .any(|c| *c == self.country || Some(*c) == self.alias_of)
    }
}

/// What a license token must cover for the request to go through.
///
/// Produced by [`decide`](crate::decide) for `require-license` decisions and
/// checked by [`LicenseVerifier::check`](crate::license::LicenseVerifier::check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LicenseRequirement<'a> {
    countries: [Option<RequiredCountry>; 4],
    /// The accelerator class of the requested instance type (as treated by
    /// the policy: an unknown instance type appears as the class assumed).
    pub class: AcceleratorClass,
    /// The requested instance type, when known.
    pub instance_type: Option<&'a str>,
    /// Instance count × accelerators per instance.
    pub accelerators: u64,
}

impl<'a> LicenseRequirement<'a> {
    /// A requirement with no countries yet: add them with
    /// [`with_country`](Self::with_country). One left without any is
    /// covered by no license (`jurisdiction_unknown`): a license is matched
    /// to a customer by the countries it names.
    pub fn new(class: AcceleratorClass, instance_type: Option<&'a str>, accelerators: u64) -> Self {
        Self {
            countries: [None; 4],
            class,
            instance_type,
            accelerators,
        }
    }

    /// Adds a country that triggered the requirement (at most four are
    /// kept: declared, network, headquarters and the ultimate parent's
    /// headquarters; duplicates are ignored).
    #[must_use]
    pub fn with_country(mut self, country: RequiredCountry) -> Self {
        if self.countries().any(|c| c.country == country.country) {
            return self;
        }
        if let Some(slot) = self.countries.iter_mut().find(|s| s.is_none()) {
            *slot = Some(country);
        }
        self
    }

    /// The countries a license must cover, each one.
    pub fn countries(&self) -> impl Iterator<Item = RequiredCountry> + '_ {
        self.countries.iter().flatten().copied()
    }
}
