//! Countries stored as one-byte codes.

use crate::jurisdiction::{CODE_SPACE, CountryCode};

/// The code for "no country".
pub(super) const NO_COUNTRY: u8 = 0;

/// Marks an IPv6 /64 block that holds more than one country: its addresses
/// are looked up in the fine table. No country has this code, because there
/// are fewer than 255 assigned codes.
pub(super) const SEE_FINE: u8 = u8::MAX;

/// Maps countries to one-byte codes and back: code `i + 1` is the `i`-th
/// assigned country in alphabetical order, code 0 is no country.
pub(super) struct Palette {
    countries: Vec<Option<CountryCode>>,
    codes: Vec<u8>,
}

impl Palette {
    pub(super) fn new() -> Self {
        let countries: Vec<_> = std::iter::once(None)
            .chain(CountryCode::all().map(Some))
            .collect();
        let mut codes = vec![NO_COUNTRY; CODE_SPACE];
        for (code, country) in countries.iter().enumerate() {
            let slot = country.and_then(|c| codes.get_mut(c.index()));
            if let (Some(slot), Ok(code)) = (slot, u8::try_from(code)) {
                *slot = code;
            }
        }
        Self { countries, codes }
    }

    pub(super) fn code(&self, country: Option<CountryCode>) -> u8 {
        country
            .and_then(|c| self.codes.get(c.index()))
            .copied()
            .unwrap_or(NO_COUNTRY)
    }

    #[inline]
    pub(super) fn country(&self, code: u8) -> Option<CountryCode> {
        self.countries.get(usize::from(code)).copied().flatten()
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.countries.capacity() * size_of::<Option<CountryCode>>() + self.codes.capacity()
    }
}
