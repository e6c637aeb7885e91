//! Where a customer is: country codes, country groups, and the IP table.

mod country;
mod groups;

pub use country::{CODE_SPACE, CountryCode, InvalidCountryCode};
pub use groups::{CountryGroups, GroupId, GroupSet, MAX_GROUPS};
