//! The xSplice payload format (`specs/payload-format.md`).
//!
//! - [`model`]: the typed payload and its validation rules.
//! - [`layout`]: byte layout and constants of the `.xsplice` structures.
//! - [`livepatch`]: Xen's livepatch encoding of the same model.
//! - [`arch`]: machine details behind the [`arch::Arch`] trait.

pub mod arch;
pub mod fixtures;
pub mod flavour;
pub mod layout;
pub mod livepatch;
pub mod model;
pub mod mutate;
pub mod read;
pub mod write;

pub use arch::{Arch, Machine};
pub use flavour::Flavour;
pub use model::*;
