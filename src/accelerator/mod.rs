//! What a customer asks for: chips, their export class under a regime, and
//! the catalog of instance types.

mod catalog;
mod chip;
mod class;
mod regime;

pub use catalog::{Catalog, Chip, InstanceInfo, InstanceSpec};
pub use chip::ChipSpec;
pub use class::{AcceleratorClass, InvalidAcceleratorClass};
pub use regime::Regime;
