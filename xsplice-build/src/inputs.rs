//! Phase 1: from the `--orig`/`--patched` inputs to object pairs.

use std::path::Path;

use serde::Serialize;

use crate::cfiles;
use crate::config::{InputConfig, TreeConfig};
use crate::progress::Progress;
use crate::tree::{TreeJob, TreeSummary};
use crate::{BuildError, ObjectPair};

/// How the inputs were given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum InputSummary {
    /// Two make-driven trees.
    Tree(TreeSummary),
    /// C files and/or objects.
    Files { objects: Vec<String> },
}

/// Object pairs ready to diff.
#[derive(Clone, Debug)]
pub struct Collected {
    pub pairs: Vec<ObjectPair>,
    pub summary: InputSummary,
}

/// Gathers the object pairs, using `work` as scratch space.
pub fn collect(
    cfg: &InputConfig,
    work: &Path,
    progress: &dyn Progress,
) -> Result<Collected, BuildError> {
    if cfg.orig.is_empty() || cfg.patched.is_empty() {
        return Err(BuildError::Usage {
            what: "both --orig and --patched are required".to_string(),
        });
    }
    let orig_dirs = cfg.orig.iter().filter(|p| p.is_dir()).count();
    let patched_dirs = cfg.patched.iter().filter(|p| p.is_dir()).count();
    if orig_dirs + patched_dirs > 0 {
        if cfg.orig.len() != 1 || cfg.patched.len() != 1 || orig_dirs != 1 || patched_dirs != 1 {
            return Err(BuildError::Usage {
                what: "a tree is given as one directory for --orig and one for --patched"
                    .to_string(),
            });
        }
        let orig = crate::tree::absolute(&cfg.orig[0])?;
        let patched = crate::tree::absolute(&cfg.patched[0])?;
        let tree = TreeConfig::load(cfg.tree_config_file.as_deref(), &orig)?;
        let job = TreeJob {
            orig: &orig,
            patched: &patched,
            tree: &tree,
            input: cfg,
            work,
            progress,
        };
        let out = job.run()?;
        return Ok(Collected {
            pairs: out.pairs,
            summary: InputSummary::Tree(out.summary),
        });
    }
    let pairs = cfiles::collect_files(
        &cfg.orig,
        &cfg.patched,
        &cfg.compiler,
        &cfg.cflags,
        work,
        progress,
    )?;
    Ok(Collected {
        summary: InputSummary::Files {
            objects: pairs.iter().map(|p| p.name.clone()).collect(),
        },
        pairs,
    })
}
