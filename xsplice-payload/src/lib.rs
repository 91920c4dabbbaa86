//! The xSplice payload format (`specs/payload-format.md`).
//!
//! - [`model`]: the typed payload and its validation rules.
//! - [`layout`]: byte layout and constants of the `.xsplice` structures.
//! - [`arch`]: machine details behind the [`arch::Arch`] trait.

pub mod arch;
pub mod fixtures;
pub mod layout;
pub mod model;
pub mod mutate;
pub mod read;
pub mod write;

pub use arch::{Arch, Machine};
pub use model::*;
