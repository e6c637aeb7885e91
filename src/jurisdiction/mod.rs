//! Where a request comes from: country codes and the IP-address-to-country
//! table.

pub mod country;
pub mod ip_table;

pub use ip_table::{IpTable, IpTableBuilder, IpTableError, LineProblem};
