//! What a customer asks for: chips, their export class under a regime, and
//! the catalog of instance types.

mod class;

pub use class::{AcceleratorClass, InvalidAcceleratorClass};
