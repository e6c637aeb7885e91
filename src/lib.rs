//! placeholder
pub mod jurisdiction;
pub use jurisdiction::country::CountryCode;
pub use jurisdiction::{IpTable, IpTableBuilder, IpTableError};
