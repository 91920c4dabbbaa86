//! A simulated hypervisor that loads, checks, applies, executes and reverts xSplice
//! payloads exactly as the design (`docs/misc/xsplice.markdown`) asks of a real one.

pub mod actions;
pub mod boot;
pub mod bugframe;
pub mod check;
pub mod client;
pub mod cpu;
pub mod errno;
pub mod exec;
pub mod fixup;
pub mod fuzz;
pub mod hypercall;
pub mod hypervisor;
pub mod livepatch;
pub mod loader;
pub mod memory;
pub mod policy;
pub mod report;
pub mod scenario;
pub mod session;
pub mod signature;
pub mod state;
pub mod traps;
pub mod verify;

pub use boot::SimConfig;
pub use client::{Client, HypercallError, ListPage, Summary};
pub use cpu::{Arg, CallOutcome, CallResult};
pub use errno::{Errno, Failure};
pub use exec::StopAt;
pub use hypervisor::{Completion, Hypervisor};
pub use livepatch::Interface;
pub use livepatch::client::LivepatchClient;
pub use policy::Policy;
pub use signature::Trust;
pub use state::{Action, PayloadId, State, Status};
