//! Progress of long phases. The library reports; the binary decides how to show it
//! (a progress bar on a terminal, nothing otherwise).

/// Receives progress of the current phase. Calls may come from several threads.
pub trait Progress: Sync {
    /// A new phase with `total` steps (0 when unknown).
    fn phase(&self, name: &str, total: u64);
    /// `n` more steps of the current phase are done.
    fn advance(&self, n: u64);
    /// The current phase is over.
    fn finish(&self);
    /// What the current phase is doing now (e.g. how many objects a build compiled).
    fn message(&self, _msg: &str) {}
    /// Something the user should read (the preset chosen, a tree about to get a full
    /// build), shown at once, above any progress bar.
    fn note(&self, _msg: &str) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _name: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}
