//! Xen's livepatch encoding of the payload model (`specs/livepatch-format.md`):
//! [`layout`] (structures, section names), [`write`] (model → ELF) and [`read`]
//! (ELF → the raw `.livepatch.*` view and the model).

pub mod layout;
pub mod read;
pub mod write;
