//! placeholder
pub mod jurisdiction;
pub use jurisdiction::country::CountryCode;
pub use jurisdiction::ip_table::{IpTable, IpTableBuilder, IpTableError};
