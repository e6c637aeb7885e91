//! What a customer asks for: chips, their export class under a regime, and
//! the catalog of instance types.
//!
//! Thresholds are applied exactly: a chip's figures are read as the
//! decimals they were written as and compared with integer arithmetic, so a
//! chip exactly on a threshold ("or more") is in the stronger class. The
//! `f64` TPP and PD that [`ChipSpec`] and [`Chip`] return are for display.

mod catalog;
mod chip;
mod class;
mod decimal;
mod regime;

pub use catalog::{Catalog, Chip, InstanceInfo, InstanceSpec};
pub use chip::ChipSpec;
pub use class::{AcceleratorClass, InvalidAcceleratorClass};
pub use regime::Regime;
