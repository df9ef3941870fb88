//! Resource quantities, shared with the controllers: see [`apimachinery::quantity`].

pub use apimachinery::quantity::*;
