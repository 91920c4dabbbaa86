//! Incremental builds of a make-driven tree (see `specs/build-incremental.md`).
//!
//! 1. *Base*: a copy of the original tree, brought up to date by the tree's own
//!    `make` with the compiler wrapped. When the user's tree is already built this
//!    compiles nothing; otherwise it is the one full build, kept in the cache (keyed
//!    by the tree's state) when a cache directory is given.
//! 2. *Patched*: a copy of the base plus the files of the patched tree that differ,
//!    stamped newer than everything; the tree's `make` then recompiles exactly the
//!    translation units whose inputs changed, headers included (its own dependency
//!    files). The wrapper records each compile.
//! 3. *Original objects*: the objects the patched build produced (other than those
//!    identical to the base copy's) are removed from the base copy and the tree's
//!    `make` rebuilds them there, by the same rules (post-processing steps such as
//!    objcopy included), giving the original objects.
//!
//! The user's trees are only read.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{InputConfig, TreeConfig};
use crate::fscopy::{self, EntryKind};
use crate::goals::lexical as normalise;
use crate::preset::PresetInfo;
use crate::progress::Progress;
use crate::timings::{Timings, add_since};
use crate::wrapper::{self, CompileRecord, WrapperEnv};
use crate::{BuildError, ObjectPair};

/// Environment variables of an outer `make` that must not reach the tree's build.
const MAKE_VARS: &[&str] = &[
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
    "GNUMAKEFLAGS",
];

/// Inherited environment variables that change how most trees build; part of the
/// cache key.
const CACHE_KEY_ENV: &[&str] = &[
    "CC",
    "CFLAGS",
    "CPPFLAGS",
    "EXTRA_CFLAGS",
    "LD",
    "LDFLAGS",
    "ARCH",
];

/// Which build of the tree is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// Bringing the copy of the original tree up to date.
    Base,
    /// The copy with the patched files.
    Patched,
    /// Rebuilding, in the original copy, the objects the patched build produced.
    OrigObjects,
    /// The same by the full build, when object goals took other rules.
    OrigObjectsFull,
}

impl Side {
    fn file(self) -> &'static str {
        match self {
            Side::Base => "orig",
            Side::Patched => "patched",
            Side::OrigObjects => "orig-objects",
            Side::OrigObjectsFull => "orig-objects-full",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Side::Base => "original tree",
            Side::Patched => "patched tree",
            Side::OrigObjects | Side::OrigObjectsFull => "original objects",
        }
    }
}

/// Where the base copy came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaseSource {
    /// Copied from the user's original tree and brought up to date.
    Copied,
    /// Copied from the cache; no build needed.
    Cache,
}

/// How the tree phase built the objects it compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The tree's whole build, in a full copy (base, patched, original objects).
    Full,
    /// Only the objects the change touches (from the tree's dependency files), built
    /// as goals in copies without objects, patched and original at once; no link.
    ObjectGoals,
}

/// What the tree phase did, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TreeSummary {
    pub base: BaseSource,
    /// Objects compiled to bring the base copy up to date (empty when the original
    /// tree was already built or the cache was used).
    pub base_compiled: Vec<String>,
    /// Files carried from the patched tree (relative paths).
    pub changed_files: Vec<String>,
    /// Objects the patched build recompiled; each is diffed.
    pub rebuilt: Vec<String>,
    /// Objects the patched build compiled and then deleted itself (intermediate
    /// steps such as generated symbol tables); not diffed.
    pub transient: Vec<String>,
    /// Things the user should know (nothing recompiled although sources changed…).
    pub warnings: Vec<String>,
    /// How the objects were built.
    pub strategy: Strategy,
    /// The preset applied (Xen...), when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<PresetInfo>,
    /// The build configuration in effect (preset, then the configuration file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Box<TreeConfig>>,
    /// `--patch` files applied, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<String>,
}

/// The result of the tree phase.
#[derive(Clone, Debug)]
pub struct TreeOutcome {
    pub pairs: Vec<ObjectPair>,
    pub summary: TreeSummary,
}

/// One tree build job.
pub struct TreeJob<'a> {
    pub orig: &'a Path,
    pub patched: &'a Path,
    pub tree: &'a TreeConfig,
    pub input: &'a InputConfig,
    /// Scratch directory for this run (must exist, should be empty).
    pub work: &'a Path,
    pub progress: &'a dyn Progress,
}

fn rel_string(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

impl TreeJob<'_> {
    fn shim_names(&self) -> Vec<String> {
        let mut names = self.tree.compilers.clone();
        if self.input.compiler_given {
            names.push(self.input.compiler.program_name());
        }
        names.sort();
        names.dedup();
        names
    }

    fn make_shims(&self, shim_dir: &Path) -> Result<(), BuildError> {
        std::fs::create_dir_all(shim_dir).map_err(|e| BuildError::io(shim_dir, e))?;
        for name in self.shim_names() {
            if name.contains('/') || name.is_empty() {
                return Err(BuildError::Usage {
                    what: format!("compiler name `{name}` must be a plain program name"),
                });
            }
            let link = shim_dir.join(&name);
            if !link.exists() {
                std::os::unix::fs::symlink(&self.input.wrapper_exe, &link)
                    .map_err(|e| BuildError::io(&link, e))?;
            }
        }
        Ok(())
    }

    /// Environment shared by the tree builds and the direct recompiles.
    fn build_env(&self) -> Vec<(String, OsString)> {
        let mut v = Vec::new();
        if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
            v.push(("SOURCE_DATE_EPOCH".to_string(), OsString::from("0")));
        }
        for (k, val) in &self.tree.env {
            v.push((k.clone(), OsString::from(val)));
        }
        v
    }

    fn command_line(&self, shim_dir: &Path, goals: &[String]) -> Vec<String> {
        let mut argv = self.tree.command.clone();
        let has_jobs = argv
            .iter()
            .chain(self.tree.args.iter())
            .any(|a| a.starts_with("-j") || a.starts_with("--jobs"));
        if !has_jobs {
            argv.push(format!("-j{}", self.input.jobs.max(1)));
        }
        argv.extend(self.tree.args.iter().cloned());
        if self.tree.pass_cc {
            let name = self.input.compiler.program_name();
            argv.push(format!("CC={}", shim_dir.join(name).display()));
        }
        argv.extend(goals.iter().cloned());
        argv
    }

    /// Runs the tree's build in `root`, wrapped; returns the recorded compiles.
    fn run_make(
        &self,
        side: Side,
        root: &Path,
        shim_dir: &Path,
        goals: &[String],
    ) -> Result<Vec<CompileRecord>, BuildError> {
        self.run_make_shown(side, root, shim_dir, goals, true)
    }

    /// [`Self::run_make`]; `show`: the build is its own progress phase (two builds
    /// running at once share the caller's).
    fn run_make_shown(
        &self,
        side: Side,
        root: &Path,
        shim_dir: &Path,
        goals: &[String],
        show: bool,
    ) -> Result<Vec<CompileRecord>, BuildError> {
        let log_dir = self.work.join(format!("records-{}", side.file()));
        std::fs::create_dir_all(&log_dir).map_err(|e| BuildError::io(&log_dir, e))?;
        let log_path = self.work.join(format!("make-{}.log", side.file()));
        let log = File::create(&log_path).map_err(|e| BuildError::io(&log_path, e))?;
        let log2 = log.try_clone().map_err(|e| BuildError::io(&log_path, e))?;
        let argv = self.command_line(shim_dir, goals);
        let wenv = WrapperEnv {
            log_dir: log_dir.clone(),
            shim_dir: shim_dir.to_path_buf(),
            root: root.to_path_buf(),
            launcher: self.input.compiler.launcher.clone(),
        };
        // The shims go first, before the configured PATH or the inherited one.
        let mut path = OsString::from(shim_dir.as_os_str());
        let base_path = match self.tree.env.get("PATH") {
            Some(p) => Some(OsString::from(p)),
            None => std::env::var_os("PATH"),
        };
        if let Some(old) = base_path {
            path.push(":");
            path.push(old);
        }
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        for v in MAKE_VARS {
            cmd.env_remove(v);
        }
        cmd.envs(wenv.vars());
        cmd.envs(self.build_env());
        cmd.env("PATH", path);
        let label = format!("make ({})", side.file());
        if show {
            self.progress.phase(&label, 0);
        }
        let status = self.wait_counting(cmd, &argv[0], &label, &log_dir);
        if show {
            self.progress.finish();
        }
        let status = status?;
        if !status.success() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            return Err(BuildError::Make {
                side: side.label(),
                command: argv.join(" "),
                dir: root.to_path_buf(),
                code: status.code().unwrap_or(-1),
                log: log_path,
                tail,
            });
        }
        wrapper::read_records(&log_dir)
    }

    /// Runs `cmd`, telling the progress how many objects the build compiled so far
    /// (the wrapper's records in `log_dir`).
    fn wait_counting(
        &self,
        mut cmd: Command,
        program: &str,
        label: &str,
        log_dir: &Path,
    ) -> Result<std::process::ExitStatus, BuildError> {
        let mut child = cmd.spawn().map_err(|source| BuildError::Spawn {
            program: program.to_string(),
            source,
        })?;
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = loop {
            match rx.recv_timeout(Duration::from_millis(250)) {
                Ok(s) => break s,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let n = std::fs::read_dir(log_dir).map_or(0, |d| d.count());
                    self.progress
                        .message(&format!("{label}: {n} object(s) compiled"));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(std::io::Error::other("the build's waiter thread ended"));
                }
            }
        };
        let _ = waiter.join();
        status.map_err(|source| BuildError::Spawn {
            program: program.to_string(),
            source,
        })
    }

    /// What not to compare on the patched side: the excludes, plus the configuration
    /// files (checked separately) and the paths the configuration ignores.
    fn patched_excludes(&self, root: &Path) -> Vec<String> {
        let mut v = self.excludes(root);
        v.extend(self.tree.config_files.iter().cloned());
        v.extend(self.tree.ignore.iter().cloned());
        v
    }

    /// What not to copy or compare under `root`: the configured excludes, plus the
    /// builder's own scratch and cache directories when they are inside the tree.
    fn excludes(&self, root: &Path) -> Vec<String> {
        let mut v = self.tree.exclude.clone();
        let own = [Some(self.work.to_path_buf()), self.input.cache_dir.clone()];
        for dir in own.into_iter().flatten() {
            let Ok(dir) = absolute(&dir) else { continue };
            if let Ok(rel) = dir.strip_prefix(root) {
                if !rel.as_os_str().is_empty() {
                    v.push(rel_string(rel));
                }
            }
        }
        v
    }

    /// Identifies the original tree's state: file names, sizes, times and link
    /// targets, plus everything that changes how it is built.
    fn cache_key(&self) -> Result<String, BuildError> {
        let mut h = Sha256::new();
        h.update(b"xsplice-build base v1\0");
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        for part in [
            &self.tree.command,
            &self.tree.args,
            &self.tree.exclude,
            &self.shim_names(),
            &self.input.compiler.argv(),
        ] {
            h.update(part.join("\x01").as_bytes());
            h.update([0]);
        }
        for (k, v) in self.build_env() {
            h.update(k.as_bytes());
            h.update(v.as_encoded_bytes());
            h.update([0]);
        }
        // The inherited variables a tree's make commonly takes its flags from.
        for k in CACHE_KEY_ENV {
            h.update(k.as_bytes());
            if let Some(v) = std::env::var_os(k) {
                h.update([1]);
                h.update(v.as_encoded_bytes());
            }
            h.update([0]);
        }
        for e in fscopy::list_tree(self.orig, &self.excludes(self.orig))? {
            let p = self.orig.join(&e.rel);
            h.update(e.rel.as_os_str().as_encoded_bytes());
            h.update([0, e.kind as u8]);
            let m = std::fs::symlink_metadata(&p).map_err(|err| BuildError::io(&p, err))?;
            if e.kind == EntryKind::Symlink {
                let t = std::fs::read_link(&p).map_err(|err| BuildError::io(&p, err))?;
                h.update(t.as_os_str().as_encoded_bytes());
            } else if e.kind == EntryKind::File {
                use std::os::unix::fs::MetadataExt;
                h.update(m.len().to_le_bytes());
                h.update(m.mtime().to_le_bytes());
                h.update(m.mtime_nsec().to_le_bytes());
                h.update(m.mode().to_le_bytes());
            }
        }
        Ok(hex::encode(&h.finalize()[..16]))
    }

    /// Step 1: the base copy at `base`.
    fn prepare_base(
        &self,
        base: &Path,
        shim_dir: &Path,
        timings: &mut Timings,
    ) -> Result<(BaseSource, Vec<String>), BuildError> {
        let exclude = &self.excludes(self.orig);
        let Some(cache_dir) = &self.input.cache_dir else {
            let t = Instant::now();
            fscopy::copy_tree(self.orig, base, exclude, self.progress)?;
            add_since(&mut timings.copy_ms, t);
            let t = Instant::now();
            let recs = self.run_make(Side::Base, base, shim_dir, &[])?;
            add_since(&mut timings.base_build_ms, t);
            return Ok((BaseSource::Copied, record_names(&recs, base)));
        };
        let t = Instant::now();
        let key = self.cache_key()?;
        let cache_dir = absolute(cache_dir)?;
        let entry = cache_dir.join(&key);
        if entry.join("complete").exists() {
            fscopy::copy_tree(&entry.join("tree"), base, &[], self.progress)?;
            add_since(&mut timings.copy_ms, t);
            return Ok((BaseSource::Cache, Vec::new()));
        }
        fscopy::copy_tree(self.orig, base, exclude, self.progress)?;
        add_since(&mut timings.copy_ms, t);
        let t = Instant::now();
        let recs = self.run_make(Side::Base, base, shim_dir, &[])?;
        add_since(&mut timings.base_build_ms, t);
        let t = Instant::now();
        let tmp = cache_dir.join(format!(".{key}.{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| BuildError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| BuildError::io(&tmp, e))?;
        fscopy::copy_tree(base, &tmp.join("tree"), &[], self.progress)?;
        let stamp = tmp.join("complete");
        std::fs::write(&stamp, b"").map_err(|e| BuildError::io(&stamp, e))?;
        if std::fs::rename(&tmp, &entry).is_err() {
            // Another run filled the entry first; ours is not needed.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        add_since(&mut timings.copy_ms, t);
        Ok((BaseSource::Copied, record_names(&recs, base)))
    }

    /// Runs the whole tree phase.
    pub fn run(&self, timings: &mut Timings) -> Result<TreeOutcome, BuildError> {
        mark_scratch(self.work)?;
        if let Some(c) = &self.input.cache_dir {
            mark_scratch(c)?;
        }
        let shim_dir = self.work.join("shim");
        self.make_shims(&shim_dir)?;
        let base = self.work.join("orig");
        let patched = self.work.join("patched");

        let t = Instant::now();
        let changes = fscopy::diff_trees(
            self.orig,
            self.patched,
            &self.patched_excludes(self.patched),
        )?;
        add_since(&mut timings.copy_ms, t);
        let changed_files: Vec<String> = changes.iter().map(|c| rel_string(&c.rel)).collect();
        let mut fallback = None;
        if let Some(goals) = self.goal_plan(self.orig, &changes)? {
            match self.run_goals(
                self.orig, &goals, &changes, &base, &patched, &shim_dir, timings,
            )? {
                Ok(outcome) => return Ok(outcome),
                Err(why) => {
                    for d in [&base, &patched] {
                        if d.exists() {
                            std::fs::remove_dir_all(d).map_err(|e| BuildError::io(d, e))?;
                        }
                    }
                    fallback = Some(format!(
                        "building only the objects the change touches did not work ({why}): \
                         the whole tree was built instead"
                    ));
                }
            }
        }
        let (base_source, base_compiled) = self.prepare_base(&base, &shim_dir, timings)?;
        // A tree that recorded no commands (never built): its copy's full build just
        // recorded them, so the patched side can still take the fast path, with the
        // copy as the source of truth, instead of a second whole-tree build.
        if fallback.is_none()
            && self.goals_possible(&changes)
            && let Some(goals) = self.goal_plan(&base, &changes)?
        {
            let (gb, gp) = (
                self.work.join("orig-goals"),
                self.work.join("patched-goals"),
            );
            match self.run_goals(&base, &goals, &changes, &gb, &gp, &shim_dir, timings)? {
                Ok(mut outcome) => {
                    outcome.summary.base = base_source;
                    outcome.summary.base_compiled = base_compiled;
                    return Ok(outcome);
                }
                Err(why) => {
                    for d in [&gb, &gp] {
                        if d.exists() {
                            std::fs::remove_dir_all(d).map_err(|e| BuildError::io(d, e))?;
                        }
                    }
                    fallback = Some(format!(
                        "building only the objects the change touches did not work ({why}): \
                         the whole tree was built instead"
                    ));
                }
            }
        }
        let t = Instant::now();
        if changes.is_empty() {
            return Ok(TreeOutcome {
                pairs: Vec::new(),
                summary: TreeSummary {
                    base: base_source,
                    base_compiled,
                    changed_files,
                    rebuilt: Vec::new(),
                    transient: Vec::new(),
                    warnings: Vec::new(),
                    strategy: Strategy::Full,
                    preset: None,
                    build: None,
                    patches: Vec::new(),
                },
            });
        }
        let stats = fscopy::copy_tree(&base, &patched, &[], self.progress)?;
        fscopy::apply_changes(self.patched, &patched, &changes, stats.newest)?;
        add_since(&mut timings.copy_ms, t);
        let t = Instant::now();
        let all = self.run_make(Side::Patched, &patched, &shim_dir, &[])?;
        add_since(&mut timings.patched_build_ms, t);
        let mut finals: Vec<(PathBuf, &CompileRecord)> = Vec::new();
        let mut gone = Vec::new();
        for r in &all {
            match final_object(r, &patched)? {
                Some(rel) => finals.push((rel, r)),
                None => gone.push(r.clone()),
            }
        }
        finals.sort_by(|a, b| a.0.cmp(&b.0));
        finals.dedup_by(|a, b| a.0 == b.0);
        let rebuilt: Vec<String> = finals.iter().map(|(rel, _)| rel_string(rel)).collect();
        let transient = record_names(&gone, &patched);
        let mut warnings: Vec<String> = fallback.into_iter().collect();
        let headers: Vec<&String> = changed_files
            .iter()
            .filter(|f| {
                Path::new(f.as_str())
                    .extension()
                    .is_some_and(|e| ["h", "hh", "hpp", "inc"].iter().any(|x| e == *x))
            })
            .collect();
        if !headers.is_empty() && !has_dep_files(&base, &self.tree.exclude)? {
            warnings.push(format!(
                "header(s) {} changed but the tree has no dependency files (*.d, .*.cmd): \
                 its build may not rebuild the files that include them",
                headers
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if all.is_empty() {
            warnings.push(format!(
                "the patched build compiled nothing through the wrapper although {} file(s) changed; \
                 if the tree calls its compiler by absolute path or by a name other than {}, \
                 set build.compilers or build.pass_cc in xsplice.toml",
                changes.len(),
                self.shim_names().join(", ")
            ));
        }

        // Step 3: the same objects from the original sources, by the tree's own rules,
        // except those the patched build remade byte for byte as the base copy has
        // them (objects a build always remakes, such as configuration probes).
        let mut todo = Vec::new();
        for (rel, r) in &finals {
            let (b, p) = (base.join(rel), patched.join(rel));
            let same = b.is_file()
                && std::fs::read(&b).map_err(|e| BuildError::io(&b, e))?
                    == std::fs::read(&p).map_err(|e| BuildError::io(&p, e))?;
            if !same {
                todo.push((rel.clone(), *r));
            }
        }
        if !todo.is_empty() {
            let t = Instant::now();
            self.rebuild_originals(&todo, &base, &patched, &shim_dir, &mut warnings)?;
            add_since(&mut timings.original_objects_ms, t);
        }
        let t = Instant::now();
        self.progress.phase("read objects", finals.len() as u64);
        let pairs: Result<Vec<ObjectPair>, BuildError> = finals
            .par_iter()
            .map(|(rel, r)| {
                let p = self.read_pair(rel, r, &base, &patched);
                self.progress.advance(1);
                p
            })
            .collect();
        self.progress.finish();
        add_since(&mut timings.read_ms, t);
        Ok(TreeOutcome {
            pairs: pairs?,
            summary: TreeSummary {
                base: base_source,
                base_compiled,
                changed_files,
                rebuilt,
                transient,
                warnings,
                strategy: Strategy::Full,
                preset: None,
                build: None,
                patches: Vec::new(),
            },
        })
    }

    /// The object goals of the fast path, when it applies: the tree builds objects as
    /// goals, no cache is asked for, every change modifies an existing file and the
    /// original tree's dependency files name objects for each changed file.
    /// Only trees that record each object's command (Kbuild's `.*.cmd`, Xen) qualify:
    /// the goals' compiles are checked against those commands, so a goal built by
    /// another rule than the full build (a target-specific variable) is caught.
    fn goal_plan(
        &self,
        source: &Path,
        changes: &[fscopy::Change],
    ) -> Result<Option<Vec<crate::goals::Goal>>, BuildError> {
        if !self.goals_possible(changes) {
            return Ok(None);
        }
        let rels: Vec<PathBuf> = changes.iter().map(|c| c.rel.clone()).collect();
        let mdir = crate::goals::make_dir(&self.tree.command);
        let goals = crate::goals::objects_touched(source, &mdir, &self.excludes(source), &rels)?;
        Ok(goals.filter(|g| g.iter().all(|g| g.command.is_some())))
    }

    /// Could the fast path apply to these changes (whatever the tree's records)?
    fn goals_possible(&self, changes: &[fscopy::Change]) -> bool {
        self.tree.object_goals
            && self.input.cache_dir.is_none()
            && !changes.is_empty()
            && changes
                .iter()
                .all(|c| c.kind == fscopy::ChangeKind::Modified && self.orig.join(&c.rel).is_file())
    }

    /// The fast path: copies of the original tree without object files (the
    /// patched one with the changes), then the goals built in both at once — the
    /// patched objects and the original ones, by the tree's own rules. `Ok(Err(why))`
    /// when the result cannot be trusted (the caller then runs the full flow).
    #[allow(clippy::too_many_arguments)]
    fn run_goals(
        &self,
        source: &Path,
        plan: &[crate::goals::Goal],
        changes: &[fscopy::Change],
        base: &Path,
        patched: &Path,
        shim_dir: &Path,
        timings: &mut Timings,
    ) -> Result<Result<TreeOutcome, String>, BuildError> {
        let goals: Vec<String> = plan.iter().map(|g| g.target.clone()).collect();
        let goals = &goals[..];
        let t = Instant::now();
        let skip = |rel: &Path| rel.extension().is_some_and(|e| e == "o");
        fscopy::copy_tree_filtered(source, base, &self.excludes(source), &skip, self.progress)?;
        let stats = fscopy::copy_tree(base, patched, &[], self.progress)?;
        fscopy::apply_changes(self.patched, patched, changes, stats.newest)?;
        add_since(&mut timings.copy_ms, t);

        self.progress.phase(
            &format!("make {} object(s), patched and original", goals.len()),
            0,
        );
        let (p, o) = std::thread::scope(|s| {
            let h = s.spawn(|| {
                let t = Instant::now();
                let r = self.run_make_shown(Side::Patched, patched, shim_dir, goals, false);
                (r, t)
            });
            let t = Instant::now();
            let o = self.run_make_shown(Side::OrigObjects, base, shim_dir, goals, false);
            let o = (o, t.elapsed());
            (h.join(), o)
        });
        self.progress.finish();
        let (p, pt) = p.map_err(|_| BuildError::Usage {
            what: "the patched build's thread panicked".to_string(),
        })?;
        add_since(&mut timings.patched_build_ms, pt);
        timings.original_objects_ms += u64::try_from(o.1.as_millis()).unwrap_or(u64::MAX);
        let recs_o = match o.0 {
            Ok(r) => r,
            Err(BuildError::Make { log, .. }) => {
                return Ok(Err(format!(
                    "the original objects did not build, see {}",
                    log.display()
                )));
            }
            Err(e) => return Err(e),
        };
        // A patched build that fails while the original one worked is the patch's
        // own error: reported as such.
        let recs_p = p?;

        let mut finals: Vec<(PathBuf, &CompileRecord)> = Vec::new();
        let mut gone = Vec::new();
        for r in &recs_p {
            match final_object(r, patched)? {
                Some(rel) => finals.push((rel, r)),
                None => gone.push(r.clone()),
            }
        }
        finals.sort_by(|a, b| a.0.cmp(&b.0));
        finals.dedup_by(|a, b| a.0 == b.0);
        let mdir = crate::goals::make_dir(&self.tree.command);
        let roots = fscopy::root_spellings(source);
        for g in plan {
            let rel = normalise(&mdir.join(&g.target));
            let Some((_, r)) = finals.iter().find(|(f, _)| *f == rel) else {
                return Ok(Err(format!(
                    "{} was not compiled in the patched copy",
                    g.target
                )));
            };
            // The goal was compiled as the user's full build compiled it.
            let mut recorded = g.command.clone().unwrap_or_default();
            for from in &roots {
                recorded = recorded.replace(from.as_str(), "\u{0}ROOT");
            }
            let recorded = crate::goals::shell_words(&recorded);
            let now = command_key(r, patched).1;
            if recorded.as_ref().map(|w| w.get(1..).unwrap_or(&[])) != Some(&now[..]) {
                return Ok(Err(format!(
                    "{} was compiled with other arguments than the original tree's build recorded",
                    g.target
                )));
            }
        }
        for (rel, r) in &finals {
            let same = recs_o
                .iter()
                .find(|o| final_object(o, base).ok().flatten().as_deref() == Some(rel.as_path()));
            match same {
                Some(o) if command_key(o, base) == command_key(r, patched) => {}
                Some(_) => {
                    return Ok(Err(format!(
                        "{} was compiled with other arguments in the original copy",
                        rel_string(rel)
                    )));
                }
                None => {
                    return Ok(Err(format!(
                        "{} was not compiled in the original copy",
                        rel_string(rel)
                    )));
                }
            }
        }
        let t = Instant::now();
        self.progress.phase("read objects", finals.len() as u64);
        let pairs: Result<Vec<ObjectPair>, BuildError> = finals
            .par_iter()
            .map(|(rel, r)| {
                let p = self.read_pair(rel, r, base, patched);
                self.progress.advance(1);
                p
            })
            .collect();
        self.progress.finish();
        add_since(&mut timings.read_ms, t);
        Ok(Ok(TreeOutcome {
            pairs: pairs?,
            summary: TreeSummary {
                base: BaseSource::Copied,
                base_compiled: Vec::new(),
                changed_files: changes.iter().map(|c| rel_string(&c.rel)).collect(),
                rebuilt: finals.iter().map(|(rel, _)| rel_string(rel)).collect(),
                transient: record_names(&gone, patched),
                warnings: Vec::new(),
                strategy: Strategy::ObjectGoals,
                preset: None,
                build: None,
                patches: Vec::new(),
            },
        }))
    }

    /// Step 3: removes the rebuilt objects from the base copy and lets the tree's
    /// build make them again from the original sources. With `object_goals` the
    /// objects are the goals; any object then compiled with other arguments than in
    /// the patched build (a goal may take another rule) is rebuilt by the full build.
    fn rebuild_originals(
        &self,
        finals: &[(PathBuf, &CompileRecord)],
        base: &Path,
        patched: &Path,
        shim_dir: &Path,
        warnings: &mut Vec<String>,
    ) -> Result<(), BuildError> {
        let remove = |rels: &mut dyn Iterator<Item = &PathBuf>| -> Result<(), BuildError> {
            for rel in rels {
                let p = base.join(rel);
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| BuildError::io(&p, e))?;
                }
            }
            Ok(())
        };
        remove(&mut finals.iter().map(|f| &f.0))?;
        let mut full = true;
        if self.tree.object_goals {
            let goals: Vec<String> = finals
                .iter()
                .map(|(rel, r)| {
                    let abs = normalise(&patched.join(rel));
                    match abs.strip_prefix(&r.cwd) {
                        Ok(g) => rel_string(g),
                        Err(_) => abs.display().to_string(),
                    }
                })
                .collect();
            // A build that cannot make these goals falls back to the full build.
            let recs = match self.run_make(Side::OrigObjects, base, shim_dir, &goals) {
                Ok(r) => r,
                Err(BuildError::Make { .. }) => Vec::new(),
                Err(e) => return Err(e),
            };
            let differ: Vec<&PathBuf> = finals
                .iter()
                .filter(|(rel, r)| {
                    let same = recs.iter().find(|o| {
                        final_object(o, base).ok().flatten().as_deref() == Some(rel.as_path())
                    });
                    same.is_none_or(|o| command_key(o, base) != command_key(r, patched))
                })
                .map(|f| &f.0)
                .collect();
            if differ.is_empty() {
                full = false;
            } else {
                remove(&mut differ.into_iter())?;
            }
        }
        if full {
            let side = if self.tree.object_goals {
                Side::OrigObjectsFull
            } else {
                Side::OrigObjects
            };
            let recs = self.run_make(side, base, shim_dir, &[])?;
            for (rel, r) in finals {
                let o = recs.iter().find(|o| {
                    final_object(o, base).ok().flatten().as_deref() == Some(rel.as_path())
                });
                if let Some(o) = o {
                    if command_key(o, base) != command_key(r, patched) {
                        warnings.push(format!(
                            "{}: compiled with other arguments in the original tree than in the patched tree",
                            rel_string(rel)
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Both versions of one rebuilt object.
    fn read_pair(
        &self,
        rel: &Path,
        r: &CompileRecord,
        base: &Path,
        patched: &Path,
    ) -> Result<ObjectPair, BuildError> {
        let p = patched.join(rel);
        let patched_bytes = std::fs::read(&p).map_err(|e| BuildError::io(&p, e))?;
        let o = base.join(rel);
        let orig = if o.is_file() {
            Some(std::fs::read(&o).map_err(|e| BuildError::io(&o, e))?)
        } else {
            let from = patched.display().to_string();
            let to = base.display().to_string();
            let rel_cwd = r.cwd.strip_prefix(patched).unwrap_or(Path::new(""));
            let source = base.join(rel_cwd).join(r.source.replace(&from, &to));
            if source.exists() {
                return Err(BuildError::Usage {
                    what: format!(
                        "{}: the original tree's build did not rebuild this object after it was removed (its source {} exists)",
                        o.display(),
                        source.display()
                    ),
                });
            }
            None // a translation unit the patch adds
        };
        Ok(ObjectPair {
            name: rel_string(rel),
            orig,
            patched: Some(patched_bytes),
        })
    }
}

/// Marks `dir` (created if needed) as the builder's own.
fn mark_scratch(dir: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(dir).map_err(|e| BuildError::io(dir, e))?;
    let m = dir.join(fscopy::SCRATCH_MARKER);
    if !m.exists() {
        std::fs::write(&m, b"").map_err(|e| BuildError::io(&m, e))?;
    }
    Ok(())
}

/// Whether the tree holds any dependency file of its build.
fn has_dep_files(root: &Path, exclude: &[String]) -> Result<bool, BuildError> {
    Ok(fscopy::list_tree(root, exclude)?
        .iter()
        .any(|e| e.kind == EntryKind::File && fscopy::is_dep_file(&e.rel)))
}

/// A compile's working directory and arguments with its tree's root taken out, so
/// compiles of the same object in two copies of a tree compare equal.
fn command_key(r: &CompileRecord, root: &Path) -> (PathBuf, Vec<String>) {
    let from = root.display().to_string();
    let cwd = r.cwd.strip_prefix(root).unwrap_or(&r.cwd).to_path_buf();
    let args = r
        .args
        .iter()
        .map(|a| a.replace(&from, "\u{0}ROOT"))
        .collect();
    (cwd, args)
}

/// The object a compile finally produced, relative to `root`: its `-o` output when
/// that still exists, else the dependency target (`-MQ`/`-MT`) the build turned it
/// into. `None` when neither exists (an intermediate the build deleted).
fn final_object(r: &CompileRecord, root: &Path) -> Result<Option<PathBuf>, BuildError> {
    let mut candidates = vec![r.output.clone()];
    candidates.extend(crate::compiler::dependency_targets(&r.args));
    for c in candidates {
        let abs = normalise(&r.cwd.join(&c));
        if !abs.is_file() {
            continue;
        }
        let rel = abs
            .strip_prefix(root)
            .map_err(|_| BuildError::OutsideTree {
                path: root.to_path_buf(),
                object: abs.display().to_string(),
            })?;
        return Ok(Some(rel.to_path_buf()));
    }
    Ok(None)
}

/// Object paths of compile records, relative to `root`, sorted.
fn record_names(records: &[CompileRecord], root: &Path) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| {
            let p = normalise(&r.cwd.join(&r.output));
            match p.strip_prefix(root) {
                Ok(rel) => rel_string(rel),
                Err(_) => p.display().to_string(),
            }
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Absolute form of a path (without resolving links), for paths given by users.
pub fn absolute(p: &Path) -> Result<PathBuf, BuildError> {
    std::path::absolute(p).map_err(|e| BuildError::io(p, e))
}
