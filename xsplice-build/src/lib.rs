//! xsplice-build: from two versions of a C code base to an xSplice payload.
//!
//! Phases (each returns a new typed value):
//! 1. [`inputs`]: classify the inputs and gather object pairs — through a tree's own
//!    `make` ([`tree`], incremental, compiler wrapped by [`wrapper`]), by compiling C
//!    files ([`cfiles`]) or by reading objects.
//! 2. diff the pairs against the target image (the `xsplice-diff` crate).
//! 3. write the payload and the report atomically ([`run`]).

pub mod cfiles;
pub mod compiler;
pub mod config;
pub mod error;
pub mod fscopy;
pub mod goals;
pub mod inputs;
pub mod patch;
pub mod preset;
pub mod progress;
pub mod run;
pub mod timings;
pub mod tree;
pub mod wrapper;

pub use error::BuildError;
pub use progress::{NoProgress, Progress};

/// The original and patched versions of one object, named by its path (relative to
/// the tree root for trees, the file name otherwise). `None` when the object exists
/// on one side only (a new or removed translation unit).
pub use xsplice_diff::ObjectPair;
