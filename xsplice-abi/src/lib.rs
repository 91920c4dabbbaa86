//! One definition of the hypercall ABI the tools speak (`specs/hypercall.md`).
//!
//! - [`livepatch`]: Xen's `XEN_SYSCTL_livepatch_op` (Xen 4.17 onward): byte offsets,
//!   constants, [`livepatch::Request`] encoded by a toolstack and decoded by a
//!   hypervisor, and the OUT fields written back.
//!
//! Every structure is little-endian x86-64 with 64-bit guest handles, so 32-bit and
//! 64-bit callers share it. Nothing here allocates guest memory or issues a
//! hypercall: the caller owns the transport.

pub mod livepatch;
