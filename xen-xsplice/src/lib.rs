//! `xen-xsplice`: the design's admin tool for dom0 of a real Xen (4.17 onward:
//! sysctl interface version 0x15, or 0x16 from 4.21, settled by the first call),
//! with signatures enforced before anything reaches the hypervisor.
//!
//! - [`run`]: the commands. [`run::prepare`] reads a payload and checks its
//!   signature (no hypercall); [`run::execute`] talks to the hypervisor through a
//!   [`transport::Transport`].
//! - [`client`]: typed livepatch sub-operations (UPLOAD, GET, paged LIST, ACTION),
//!   encoded with `xsplice-abi`, the one definition of the ABI that runtime-sim
//!   decodes with.
//! - [`privcmd`]: the real transport, Linux's `/dev/xen/privcmd` with buffers from
//!   `/dev/xen/hypercall`.
//! - [`trust`]: trusted certificates (`--trust`, keyring directory from the
//!   configuration file) and the check, through `xsplice_sign::verify`.
//! - [`errno`]: errno names and descriptions.

pub mod client;
pub mod errno;
pub mod privcmd;
pub mod run;
pub mod transport;
pub mod trust;

pub use client::{CallError, Client, Listed};
pub use errno::Errno;
pub use run::{ActionOptions, Command, Config, Console, Error, Prepared, execute, exit, prepare};
pub use transport::{Reply, Transport, TransportError};
pub use trust::{Trust, TrustSources};
