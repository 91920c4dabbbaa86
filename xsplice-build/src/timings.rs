//! Wall-clock time of each phase, in milliseconds, for the report and `--timings`.

use std::time::Instant;

use serde::Serialize;

/// Milliseconds spent in each phase of one run. Phases that did not run are 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// Copying trees (the original, the patched copy, the cache), comparing them and
    /// carrying the changed files.
    pub copy_ms: u64,
    /// Applying `--patch` files.
    pub patch_ms: u64,
    /// Bringing the copy of the original tree up to date (the full build of a tree
    /// never built).
    pub base_build_ms: u64,
    /// The patched tree's build.
    pub patched_build_ms: u64,
    /// Rebuilding the original versions of the rebuilt objects.
    pub original_objects_ms: u64,
    /// Compiling C files (inputs given as files).
    pub compile_ms: u64,
    /// Reading the object pairs.
    pub read_ms: u64,
    /// The diff against the target image.
    pub diff_ms: u64,
    /// Encoding and writing the payload and the report.
    pub write_ms: u64,
    /// The whole run.
    pub total_ms: u64,
}

/// Milliseconds since `start`, added to `slot`.
pub fn add_since(slot: &mut u64, start: Instant) {
    *slot += u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
}

impl Timings {
    /// Lines for stderr (`--timings`), the phases that ran.
    pub fn to_text(&self) -> String {
        let rows = [
            ("copy", self.copy_ms),
            ("patch", self.patch_ms),
            ("base build", self.base_build_ms),
            ("patched build", self.patched_build_ms),
            ("original objects", self.original_objects_ms),
            ("compile", self.compile_ms),
            ("read objects", self.read_ms),
            ("diff", self.diff_ms),
            ("write", self.write_ms),
        ];
        let mut t = String::from("timings:\n");
        for (name, ms) in rows {
            if ms > 0 {
                t.push_str(&format!("  {name:<17} {:>8.2} s\n", ms as f64 / 1000.0));
            }
        }
        t.push_str(&format!(
            "  {:<17} {:>8.2} s\n",
            "total",
            self.total_ms as f64 / 1000.0
        ));
        t
    }
}
