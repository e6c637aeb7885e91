//! Where a customer is: country codes, country groups, and the IP table.

mod country;

pub use country::{CODE_SPACE, CountryCode, InvalidCountryCode};
