//! A simulated hypervisor that loads, checks, applies, executes and reverts xSplice
//! payloads exactly as the design (`docs/misc/xsplice.markdown`) asks of a real one.

pub mod boot;
pub mod errno;
pub mod exec;
pub mod memory;
