//! Xen's livepatch interface (Xen 4.17's `XEN_SYSCTL_livepatch_op`), simulated so
//! that a payload this simulator accepts is one real Xen accepts, with the same
//! errno, and the reverse (`specs/hypercall.md` §Livepatch, `specs/livepatch-format.md`
//! for where the simulator is stricter on purpose).
//!
//! - [`elf`]: Xen's ELF checks, in its order, on a lenient view of the file;
//! - [`sections`]: required notes, patching sections, `struct livepatch_func`
//!   fields, hook and special-section sizes, metadata;
//! - [`upload`]: the whole UPLOAD (those checks, the strict reader, placement,
//!   resolution and relocation under Xen's rules, the address checks);
//! - [`action`]: GET/ACTION semantics (APPLY, REVERT, REPLACE, UNLOAD) and the
//!   deferred patching;
//! - [`sysctl`]: the byte interface, decoded with `xsplice-abi`;
//! - [`client`]: a toolstack encoding requests with `xsplice-abi`.

pub mod action;
pub mod client;
pub mod elf;
pub mod sections;
pub mod sysctl;
pub mod upload;

/// Which hypercall interface a simulated hypervisor speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    /// The design's `XEN_SYSCTL_xsplice_op` (`.xsplice` payloads).
    Xsplice,
    /// Xen 4.17's `XEN_SYSCTL_livepatch_op` (`.livepatch.funcs` payloads).
    Livepatch,
}

impl Interface {
    /// What an image speaks: Xen's interface when it defines `livepatch_op`.
    pub fn of(image: &xsplice_image::Image) -> Interface {
        if image.speaks_livepatch() {
            Interface::Livepatch
        } else {
            Interface::Xsplice
        }
    }
}
