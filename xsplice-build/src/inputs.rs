//! Phase 1: from the `--orig`/`--patched` inputs to object pairs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::cfiles;
use crate::config::{InputConfig, TreeConfig};
use crate::progress::Progress;
use crate::timings::{Timings, add_since};
use crate::tree::{TreeJob, TreeSummary};
use crate::{BuildError, ObjectPair};
use crate::{patch, preset};

/// How the inputs were given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum InputSummary {
    /// Two make-driven trees.
    Tree(Box<TreeSummary>),
    /// C files and/or objects.
    Files { objects: Vec<String> },
}

/// Object pairs ready to diff.
#[derive(Clone, Debug)]
pub struct Collected {
    pub pairs: Vec<ObjectPair>,
    pub summary: InputSummary,
}

/// The tree roots to use for `--orig`/`--patched` directories: a Xen hypervisor
/// directory (`A/xen`) stands for its checkout (`A`), unless a configuration file
/// says how to build it.
fn tree_root(flag: &str, dir: &Path, config_given: bool) -> Result<PathBuf, BuildError> {
    let abs = crate::tree::absolute(dir)?;
    if config_given || abs.join(crate::config::TREE_CONFIG_FILE).exists() {
        return Ok(abs);
    }
    Ok(preset::checkout_of_hypervisor_dir(flag, &abs)?.unwrap_or(abs))
}

/// Gathers the object pairs, using `work` as scratch space.
pub fn collect(
    cfg: &InputConfig,
    work: &Path,
    progress: &dyn Progress,
) -> Result<Collected, BuildError> {
    collect_timed(cfg, work, progress, &mut Timings::default())
}

/// [`collect`], adding the time of each phase to `timings`.
pub fn collect_timed(
    cfg: &InputConfig,
    work: &Path,
    progress: &dyn Progress,
    timings: &mut Timings,
) -> Result<Collected, BuildError> {
    let with_patches = !cfg.patches.is_empty();
    if cfg.orig.is_empty() || (cfg.patched.is_empty() && !with_patches) {
        return Err(BuildError::Usage {
            what: "--orig and one of --patched or --patch are required".to_string(),
        });
    }
    if with_patches && !cfg.patched.is_empty() {
        return Err(BuildError::Usage {
            what: "--patch stands in for --patched: give one or the other".to_string(),
        });
    }
    let orig_dirs = cfg.orig.iter().filter(|p| p.is_dir()).count();
    let patched_dirs = cfg.patched.iter().filter(|p| p.is_dir()).count();
    if with_patches && (cfg.orig.len() != 1 || orig_dirs != 1) {
        return Err(BuildError::Usage {
            what: "--patch applies to a tree: give --orig as one directory".to_string(),
        });
    }
    if orig_dirs + patched_dirs > 0 {
        if cfg.orig.len() != 1
            || orig_dirs != 1
            || (!with_patches && (cfg.patched.len() != 1 || patched_dirs != 1))
        {
            return Err(BuildError::Usage {
                what: "a tree is given as one directory for --orig and one for --patched"
                    .to_string(),
            });
        }
        let config_given = cfg.tree_config_file.is_some();
        let orig = tree_root("--orig", &cfg.orig[0], config_given)?;
        if orig != crate::tree::absolute(&cfg.orig[0])? {
            progress.note(&format!(
                "--orig {}: Xen's hypervisor directory; building its checkout {}",
                cfg.orig[0].display(),
                orig.display()
            ));
        }
        let resolved = TreeConfig::resolve(cfg.tree_config_file.as_deref(), &orig)?;
        if let Some(info) = &resolved.preset {
            progress.note(info.describe(&resolved.tree).trim_end());
        }
        if resolved.preset.as_ref().is_some_and(|p| p.name == "xen") {
            let shown = if orig == crate::tree::absolute(&cfg.orig[0])? {
                cfg.orig[0].clone()
            } else {
                cfg.orig[0]
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default()
            };
            for n in preset::xen_preflight(&orig, &shown)? {
                progress.note(&n);
            }
        }
        let mut warnings = Vec::new();
        let patched = if with_patches {
            // Only the files the patches produce, in the scratch directory: the tree
            // job carries each of them over the copy of the original.
            let t = Instant::now();
            let dir = work.join("patched-files");
            std::fs::create_dir_all(&dir).map_err(|e| BuildError::io(&dir, e))?;
            let applied = patch::apply_patches(&orig, &cfg.patches, &dir)?;
            for d in &applied.deleted {
                warnings.push(format!(
                    "{d}: deleted by the patch; deletions are not carried into the build"
                ));
            }
            add_since(&mut timings.patch_ms, t);
            dir
        } else {
            let p = tree_root("--patched", &cfg.patched[0], config_given)?;
            preset::check_config_files(&resolved.tree, &orig, &p)?;
            p
        };
        let job = TreeJob {
            orig: &orig,
            patched: &patched,
            tree: &resolved.tree,
            input: cfg,
            work,
            progress,
        };
        let mut out = job.run(timings)?;
        if with_patches {
            // Files a patch touches that the build leaves out (excluded paths).
            let excluded: Vec<&String> = resolved
                .tree
                .exclude
                .iter()
                .chain(&resolved.tree.ignore)
                .chain(&resolved.tree.config_files)
                .collect();
            for f in crate::fscopy::list_tree(&patched, &[])? {
                let rel = f.rel.to_string_lossy().into_owned();
                if f.kind != crate::fscopy::EntryKind::Dir
                    && excluded.iter().any(|e| f.rel.starts_with(e.as_str()))
                {
                    warnings.push(format!(
                        "{rel}: changed by the patch but outside the build (excluded): not in the payload"
                    ));
                }
            }
        }
        out.summary.warnings.splice(0..0, warnings);
        out.summary.preset = resolved.preset;
        out.summary.build = Some(Box::new(resolved.tree));
        out.summary.patches = cfg
            .patches
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Ok(Collected {
            pairs: out.pairs,
            summary: InputSummary::Tree(Box::new(out.summary)),
        });
    }
    let t = Instant::now();
    let pairs = cfiles::collect_files(
        &cfg.orig,
        &cfg.patched,
        &cfg.compiler,
        &cfg.cflags,
        work,
        progress,
    )?;
    add_since(&mut timings.compile_ms, t);
    Ok(Collected {
        summary: InputSummary::Files {
            objects: pairs.iter().map(|p| p.name.clone()).collect(),
        },
        pairs,
    })
}
