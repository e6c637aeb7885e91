//! Where a customer is: country codes, country groups, and the
//! IP-address-to-country table.

mod country;
mod groups;
pub mod ip_table;

pub use country::{CODE_SPACE, CountryCode, InvalidCountryCode};
pub use groups::{CountryGroups, GroupId, GroupSet, MAX_GROUPS};
pub use ip_table::{IpTable, IpTableBuilder, IpTableError, LineProblem};
