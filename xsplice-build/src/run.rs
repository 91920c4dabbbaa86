//! The whole build: inputs → object pairs → diff against the target image → payload
//! and report, each written atomically (temporary file in the same directory, then
//! rename), so a failed run leaves nothing half-written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use xsplice_diff::{DiffOptions, DiffOutcome, Report};
use xsplice_payload::Flavour;

use crate::BuildError;
use crate::config::InputConfig;
use crate::inputs::{self, InputSummary};
use crate::progress::Progress;
use crate::timings::{Timings, add_since};

/// Everything one build needs, validated by the binary.
#[derive(Clone, Debug)]
pub struct BuildConfig {
    pub input: InputConfig,
    /// The running hypervisor image built from the original sources.
    pub target: PathBuf,
    /// Where the payload goes.
    pub output: PathBuf,
    /// Payload name (no NUL; at most 40 bytes for xsplice, 127 for livepatch);
    /// `None`: the output file's name without extension, cut to the format's limit.
    pub name: Option<String>,
    /// The payload encoding; `None`: what the target speaks (see [`choose_format`]).
    pub format: Option<Flavour>,
    /// Record the old functions' bytes (`xsplice.old`).
    pub old_code: bool,
    /// Payloads this one depends on (their build-ids go in `.xsplice.depends`).
    pub depends: Vec<PathBuf>,
    /// Where the JSON report goes.
    pub report: Option<PathBuf>,
    /// Scratch directory (created if missing, left in place); a temporary directory
    /// removed at the end when `None`.
    pub work_dir: Option<PathBuf>,
    /// Rows added to the built-in special-section table.
    pub special_sections: Option<PathBuf>,
}

/// How the build ended (errors aside).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Payload written (exit 0).
    Payload,
    /// Unreconcilable differences (exit 2).
    Refused,
    /// No functional change (exit 3).
    NoChange,
}

impl Verdict {
    pub fn exit_code(&self) -> u8 {
        match self {
            Verdict::Payload => 0,
            Verdict::Refused => 2,
            Verdict::NoChange => 3,
        }
    }
}

/// The JSON report: the input phase's summary and the diff's report.
#[derive(Clone, Debug, Serialize)]
pub struct BuildReport {
    pub verdict: Verdict,
    /// The payload encoding, and why it was chosen.
    pub format: Flavour,
    pub format_reason: String,
    /// Hex build-id of the written payload.
    pub payload_build_id: Option<String>,
    pub payload_name: String,
    pub inputs: InputSummary,
    pub diff: Report,
    /// Milliseconds per phase.
    pub timings: Timings,
}

impl BuildReport {
    /// A few lines for a terminal.
    pub fn to_text(&self) -> String {
        let mut t = format!("format: {} ({})\n", self.format, self.format_reason);
        if let InputSummary::Tree(s) = &self.inputs {
            if let Some(p) = &s.preset {
                t.push_str(&format!("preset: {} ({})\n", p.name, p.reason));
            }
            if !s.patches.is_empty() {
                t.push_str(&format!("patches applied: {}\n", s.patches.join(" ")));
            }
            let base = match s.base {
                _ if s.strategy == crate::tree::Strategy::ObjectGoals => {
                    "only the objects the change touches, built as goals from the tree's \
                     dependency files: no link"
                        .to_string()
                }
                crate::tree::BaseSource::Cache => "original build taken from the cache".to_string(),
                crate::tree::BaseSource::Copied if s.base_compiled.is_empty() => {
                    "original build reused".to_string()
                }
                crate::tree::BaseSource::Copied => format!(
                    "{} object(s) compiled to bring the original copy up to date",
                    s.base_compiled.len()
                ),
            };
            t.push_str(&format!(
                "tree: {} file(s) changed, {} object(s) rebuilt ({base})\n",
                s.changed_files.len(),
                s.rebuilt.len(),
            ));
            if !s.rebuilt.is_empty() {
                let shown: Vec<&str> = s.rebuilt.iter().take(8).map(String::as_str).collect();
                let more = s.rebuilt.len().saturating_sub(shown.len());
                t.push_str(&format!(
                    "rebuilt: {}{}\n",
                    shown.join(" "),
                    if more > 0 {
                        format!(" (+{more} more)")
                    } else {
                        String::new()
                    }
                ));
            }
            for w in &s.warnings {
                t.push_str(&format!("warning: {w}\n"));
            }
        }
        t.push_str(&self.diff.to_text());
        match (&self.verdict, &self.payload_build_id) {
            (Verdict::Payload, Some(id)) => t.push_str(&format!(
                "payload {} written, build-id {id}\n",
                self.payload_name
            )),
            (Verdict::Refused, _) => t.push_str("no payload: unreconcilable differences\n"),
            (Verdict::NoChange, _) => t.push_str("no payload: no functional change\n"),
            _ => {}
        }
        t
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A file written to a temporary name in its final directory, not yet renamed.
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl Staged {
    /// Writes `bytes` next to `path` (mode 0666 less the umask, as a plain file).
    pub fn new(path: &Path, bytes: &[u8]) -> Result<Staged, BuildError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = parent_dir(path);
        let mut tmp = tempfile::Builder::new()
            .prefix(".xsplice-build.")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(|e| BuildError::io(&dir, e))?;
        tmp.write_all(bytes).map_err(|e| BuildError::io(path, e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| BuildError::io(path, e))?;
        Ok(Staged {
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Renames the file into place.
    pub fn persist(self) -> Result<(), BuildError> {
        let path = self.path;
        self.tmp
            .persist(&path)
            .map_err(|e| BuildError::io(&path, e.error))?;
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    Staged::new(path, bytes)?.persist()
}

/// Fails before any work when `path` (given as `flag`) cannot become a file: its
/// directory must exist and it must not be a directory itself.
fn check_destination(flag: &str, path: &Path) -> Result<(), BuildError> {
    let dir = parent_dir(path);
    if path.is_dir() {
        return Err(BuildError::Usage {
            what: format!("{flag} {}: is a directory", path.display()),
        });
    }
    if !dir.is_dir() {
        return Err(BuildError::Usage {
            what: format!(
                "{flag} {}: directory {} does not exist",
                path.display(),
                dir.display()
            ),
        });
    }
    Ok(())
}

/// The payload encoding: the one asked for, else the one the target speaks (Xen's
/// livepatch when the image implements its sysctl, the design's xsplice otherwise);
/// with the reason, for the user.
pub fn choose_format(asked: Option<Flavour>, image: &xsplice_image::Image) -> (Flavour, String) {
    match asked {
        Some(f) => (f, "--format".to_string()),
        None if image.speaks_livepatch() => (
            Flavour::Livepatch,
            "the target implements Xen's livepatch interface (livepatch_op)".to_string(),
        ),
        None => (
            Flavour::Xsplice,
            "the target has no livepatch interface: the xSplice design's format".to_string(),
        ),
    }
}

/// The build-ids of the payloads this one depends on, each checked to be built for
/// the same hypervisor (`target`, build-id `image_id`) in the same encoding.
fn read_depends(
    paths: &[PathBuf],
    target: &Path,
    image_id: &[u8],
    flavour: Flavour,
) -> Result<Vec<Vec<u8>>, BuildError> {
    if flavour == Flavour::Livepatch && paths.len() > 1 {
        return Err(BuildError::Usage {
            what: format!(
                "--depends given {} times: a livepatch payload depends on the one payload applied just before it",
                paths.len()
            ),
        });
    }
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).map_err(|e| BuildError::io(p, e))?;
            let read = xsplice_payload::read::read(&bytes).map_err(|e| BuildError::Depends {
                path: p.clone(),
                why: format!("not a valid payload: {e}"),
            })?;
            if read.flavour != flavour {
                return Err(BuildError::Depends {
                    path: p.clone(),
                    why: format!(
                        "a {} payload, but this build makes a {flavour} payload: a stack uses one format",
                        read.flavour
                    ),
                });
            }
            if read.payload.target_build_id != image_id {
                return Err(BuildError::Depends {
                    path: p.clone(),
                    why: format!(
                        "built for the hypervisor with build-id {}, but --target {} has build-id {}: a stack of payloads must patch one hypervisor",
                        hex::encode(&read.payload.target_build_id),
                        target.display(),
                        hex::encode(image_id)
                    ),
                });
            }
            Ok(read.build_id)
        })
        .collect()
}

/// Runs a build. Returns the report; the payload (when there is one) and the JSON
/// report (when asked for) are on disk.
pub fn run(cfg: &BuildConfig, progress: &dyn Progress) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    let mut timings = Timings::default();
    for p in &cfg.input.patches {
        if !p.is_file() {
            return Err(BuildError::Patch {
                patch: p.clone(),
                why: "no such file".to_string(),
            });
        }
    }
    check_destination("-o", &cfg.output)?;
    if let Some(r) = &cfg.report {
        check_destination("--report", r)?;
    }
    let image = xsplice_image::Image::from_path(&cfg.target)?;
    let (flavour, format_reason) = choose_format(cfg.format, &image);
    let name = match &cfg.name {
        None => default_name(&cfg.output, flavour.max_name_len()),
        Some(n) if n.len() > flavour.max_name_len() => {
            return Err(BuildError::Usage {
                what: format!(
                    "--name `{n}`: {} bytes, a {flavour} payload name has at most {}",
                    n.len(),
                    flavour.max_name_len()
                ),
            });
        }
        Some(n) => n.clone(),
    };
    let special = special_table(cfg.special_sections.as_deref())?;
    let depends = read_depends(&cfg.depends, &cfg.target, image.build_id(), flavour)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.input.jobs.max(1))
        .build()
        .map_err(|e| BuildError::Usage {
            what: format!("cannot start {} worker threads: {e}", cfg.input.jobs),
        })?;

    let temp;
    let work = match &cfg.work_dir {
        Some(w) => {
            std::fs::create_dir_all(w).map_err(|e| BuildError::io(w, e))?;
            if std::fs::read_dir(w)
                .map_err(|e| BuildError::io(w, e))?
                .next()
                .is_some()
            {
                return Err(BuildError::Usage {
                    what: format!("--work-dir {}: must be empty", w.display()),
                });
            }
            crate::tree::absolute(w)?
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("xsplice-build.")
                .tempdir()
                .map_err(|e| BuildError::io(&std::env::temp_dir(), e))?;
            temp.path().to_path_buf()
        }
    };

    let collected =
        match pool.install(|| inputs::collect_timed(&cfg.input, &work, progress, &mut timings)) {
            Ok(c) => c,
            // The scratch directory goes away with this run: keep the failed build's log
            // where the message says it is.
            Err(BuildError::Make {
                side,
                command,
                dir,
                code,
                log,
                tail,
            }) if cfg.work_dir.is_none() => {
                return Err(BuildError::Make {
                    side,
                    command,
                    dir,
                    code,
                    log: keep_log(&log).unwrap_or(log),
                    tail,
                });
            }
            Err(e) => return Err(e),
        };
    let opts = DiffOptions {
        flavour,
        name: name.clone(),
        depends,
        old_code: cfg.old_code,
    };
    progress.phase("diff", 0);
    let t = Instant::now();
    let outcome =
        pool.install(|| xsplice_diff::diff_with_table(&collected.pairs, &image, &opts, &special));
    add_since(&mut timings.diff_ms, t);
    progress.finish();
    let t = Instant::now();
    let (verdict, payload_build_id, diff, payload) = match outcome? {
        DiffOutcome::Payload { payload, report } => {
            let bytes = xsplice_payload::write::to_bytes(&payload, flavour).map_err(|e| {
                BuildError::Write {
                    path: cfg.output.clone(),
                    why: e.to_string(),
                }
            })?;
            let id = xsplice_payload::read::read(&bytes)
                .map(|r| hex::encode(r.build_id))
                .map_err(|e| BuildError::Write {
                    path: cfg.output.clone(),
                    why: format!("the written payload does not read back: {e}"),
                })?;
            let staged = Staged::new(&cfg.output, &bytes)?;
            (Verdict::Payload, Some(id), report, Some(staged))
        }
        DiffOutcome::NoChange(report) => (Verdict::NoChange, None, report, None),
        DiffOutcome::Refused(report) => (Verdict::Refused, None, report, None),
    };
    let mut report = BuildReport {
        verdict,
        format: flavour,
        format_reason,
        payload_build_id,
        payload_name: name,
        inputs: collected.summary,
        diff,
        timings,
    };
    // The report carries its own writing time up to its encoding; the total covers
    // everything but the final renames.
    add_since(&mut report.timings.write_ms, t);
    report.timings.total_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // Both files are staged before either is renamed into place: a failure leaves
    // neither (a payload without the report asked for is a half-written result).
    let staged_report = match &cfg.report {
        Some(path) => {
            let mut json = serde_json::to_vec_pretty(&report).map_err(|e| BuildError::Write {
                path: path.clone(),
                why: e.to_string(),
            })?;
            json.push(b'\n');
            Some(Staged::new(path, &json)?)
        }
        None => None,
    };
    if let Some(p) = payload {
        p.persist()?;
    }
    if let Some(r) = staged_report {
        if let Err(e) = r.persist() {
            let _ = std::fs::remove_file(&cfg.output);
            return Err(e);
        }
    }
    Ok(report)
}

/// The output file's name without extension, at most `max` bytes.
fn default_name(output: &Path, max: usize) -> String {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut end = stem.len().min(max);
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    stem[..end].to_string()
}

/// Copies a log out of the scratch directory into a file of its own in the system's
/// temporary directory, left in place; its path.
fn keep_log(log: &Path) -> Option<PathBuf> {
    let text = std::fs::read(log).ok()?;
    let mut f = tempfile::Builder::new()
        .prefix("xsplice-build-")
        .suffix(".log")
        .tempfile()
        .ok()?;
    f.write_all(&text).ok()?;
    f.keep().ok().map(|(_, p)| p)
}

/// The built-in special-section table, plus the rows of `path`.
fn special_table(path: Option<&std::path::Path>) -> Result<xsplice_diff::SpecialTable, BuildError> {
    let Some(path) = path else {
        return Ok(xsplice_diff::SpecialTable::builtin());
    };
    let text = std::fs::read_to_string(path).map_err(|e| BuildError::io(path, e))?;
    xsplice_diff::SpecialTable::parse(&text).map_err(|e| BuildError::Config {
        path: path.to_path_buf(),
        why: format!("line {}: {}", e.line, e.why),
    })
}
