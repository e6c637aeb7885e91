//! placeholder
pub mod jurisdiction {
    pub mod country;
}
pub use jurisdiction::country::CountryCode;
