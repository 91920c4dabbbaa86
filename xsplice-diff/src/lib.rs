//! Diff two builds of a C code base, object pair by object pair, and emit the
//! xSplice payload model that patches the running image built from the first.
//!
//! Phases (each returns a new typed value):
//! [`object`] read → [`correlate`] pair symbols → [`classify`] SAME/CHANGED/NEW →
//! [`refuse`] collect every problem → [`closure`] what goes in and where references
//! go → [`emit`] the [`xsplice_payload::Payload`] → [`report`].
//!
//! Entry point: [`diff_objects`] (or [`diff_with`] for any [`ImageView`]).

pub mod classify;
pub mod closure;
pub mod correlate;
pub mod dwarf;
pub mod emit;
pub mod entries;
pub mod fuzz;
pub mod image;
pub mod insn;
pub mod keys;
pub mod names;
pub mod object;
pub mod problem;
pub mod refuse;
pub mod report;
pub mod special;

use serde::Serialize;
use xsplice_payload::{Machine, ModelError, Payload};

pub use emit::DiffOptions;
pub use image::{ImageSym, ImageView, Lookup};
pub use object::{ObjectError, ObjectFile};
pub use problem::{Problem, ProblemKind};
pub use report::Report;
pub use special::{SpecialTable, TableError};

/// One translation unit's object in both builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectPair {
    /// Relative path (used in reports and errors; never absolute).
    pub name: String,
    /// `None`: the object is new in the patched build.
    pub orig: Option<Vec<u8>>,
    /// `None`: the object was removed by the patch.
    pub patched: Option<Vec<u8>>,
}

/// What the diff found.
#[derive(Clone, Debug)]
pub enum DiffOutcome {
    /// A payload to write (exit 0).
    Payload { payload: Payload, report: Report },
    /// No functional change (exit 3).
    NoChange(Report),
    /// Unreconcilable differences, all listed in `report.refusals` (exit 2).
    Refused(Report),
}

impl DiffOutcome {
    pub fn report(&self) -> &Report {
        match self {
            DiffOutcome::Payload { report, .. }
            | DiffOutcome::NoChange(report)
            | DiffOutcome::Refused(report) => report,
        }
    }

    /// The exit code users of the existing tools expect.
    pub fn exit_code(&self) -> i32 {
        match self {
            DiffOutcome::Payload { .. } => 0,
            DiffOutcome::Refused(_) => 2,
            DiffOutcome::NoChange(_) => 3,
        }
    }
}

/// Failures that are not differences: bad input or an internal inconsistency (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error("{name}: object pair has neither an original nor a patched object")]
    EmptyPair { name: String },
    #[error("{name}: object name must be a relative path")]
    AbsoluteName { name: String },
    #[error("{name}: object is for {object:?} but the image is {image:?}")]
    MachineMismatch {
        name: String,
        object: Machine,
        image: Machine,
    },
    #[error(transparent)]
    OldCode(#[from] emit::OldCodeError),
    #[error("internal error: the emitted payload breaks a format rule: {0}")]
    Model(#[from] ModelError),
}

/// How an object pair differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PairStatus {
    Identical,
    Modified,
    Added,
    Removed,
}

/// Everything known about one object pair after classification and checks.
pub struct Pair {
    pub name: String,
    pub status: PairStatus,
    pub orig: ObjectFile,
    pub patched: ObjectFile,
    pub corr: correlate::Correlation,
    pub class: classify::Classification,
    pub o_dbg: dwarf::DebugInfo,
    pub p_dbg: dwarf::DebugInfo,
    /// Special sections of each build, split into entries and pieces.
    pub o_lay: entries::Layout,
    pub p_lay: entries::Layout,
    pub refusals: refuse::Refusals,
}

/// Analyses one pair (no image needed) with the built-in special section table.
pub fn analyse_pair(pair: &ObjectPair) -> Result<Pair, DiffError> {
    analyse_pair_with(pair, &SpecialTable::builtin())
}

/// [`analyse_pair`] with a caller's special section table.
pub fn analyse_pair_with(pair: &ObjectPair, special: &SpecialTable) -> Result<Pair, DiffError> {
    let name = pair.name.clone();
    if name.starts_with('/') {
        return Err(DiffError::AbsoluteName { name });
    }
    let parse = |b: &Option<Vec<u8>>| {
        b.as_deref()
            .map(|b| ObjectFile::parse(&name, b))
            .transpose()
    };
    let (orig, patched) = (parse(&pair.orig)?, parse(&pair.patched)?);
    let status = match (&pair.orig, &pair.patched) {
        (None, None) => return Err(DiffError::EmptyPair { name }),
        (Some(a), Some(b)) if a == b => PairStatus::Identical,
        (Some(_), Some(_)) => PairStatus::Modified,
        (None, Some(_)) => PairStatus::Added,
        (Some(_), None) => PairStatus::Removed,
    };
    let machine = orig
        .as_ref()
        .or(patched.as_ref())
        .map(|o| o.machine)
        .expect("one side present");
    let orig = orig.unwrap_or_else(|| ObjectFile::empty(&name, machine));
    let patched = patched.unwrap_or_else(|| ObjectFile::empty(&name, machine));
    if status == PairStatus::Identical || status == PairStatus::Removed {
        // Nothing of the patched build to carry; removed code stays in the image.
        let empty = ObjectFile::empty(&name, machine);
        return Ok(Pair {
            name,
            status,
            orig: empty.clone(),
            patched: empty,
            corr: Default::default(),
            class: Default::default(),
            o_dbg: Default::default(),
            p_dbg: Default::default(),
            o_lay: Default::default(),
            p_lay: Default::default(),
            refusals: Default::default(),
        });
    }
    let corr = correlate::correlate(&orig, &patched);
    let o_dbg = dwarf::DebugInfo::read(&orig);
    let p_dbg = dwarf::DebugInfo::read(&patched);
    let o_lay = entries::Layout::build(&orig, special);
    let p_lay = entries::Layout::build(&patched, special);
    let class = classify::classify(&classify::Input {
        orig: &orig,
        patched: &patched,
        corr: &corr,
        o_dbg: &o_dbg,
        p_dbg: &p_dbg,
        o_lay: &o_lay,
        p_lay: &p_lay,
    });
    let view = refuse::PairView {
        orig: &orig,
        patched: &patched,
        corr: &corr,
        class: &class,
        o_dbg: &o_dbg,
        p_dbg: &p_dbg,
        o_lay: &o_lay,
        p_lay: &p_lay,
    };
    let mut refusals = refuse::check(&view);
    if status == PairStatus::Added && p_dbg.present {
        // The original side of a new file is empty, not stripped of DWARF.
        refusals.warnings.retain(|w| !w.contains("no DWARF"));
    }
    Ok(Pair {
        name,
        status,
        orig,
        patched,
        corr,
        class,
        o_dbg,
        p_dbg,
        o_lay,
        p_lay,
        refusals,
    })
}

/// Diffs every pair and, when nothing refuses, emits the payload for `image`.
pub fn diff_objects(
    pairs: &[ObjectPair],
    image: &xsplice_image::Image,
    opts: &DiffOptions,
) -> Result<DiffOutcome, DiffError> {
    diff_with(pairs, image, opts)
}

/// [`diff_objects`] for any image reader.
pub fn diff_with(
    pairs: &[ObjectPair],
    image: &dyn ImageView,
    opts: &DiffOptions,
) -> Result<DiffOutcome, DiffError> {
    diff_with_table(pairs, image, opts, &SpecialTable::builtin())
}

/// [`diff_with`] with a caller's special section table (see [`SpecialTable::parse`]).
pub fn diff_with_table(
    pairs: &[ObjectPair],
    image: &dyn ImageView,
    opts: &DiffOptions,
    special: &SpecialTable,
) -> Result<DiffOutcome, DiffError> {
    let analysed = pairs
        .iter()
        .map(|p| analyse_pair_with(p, special))
        .collect::<Result<Vec<_>, _>>()?;
    diff_analysed(analysed, image, opts)
}

/// The image-dependent second half: pairs analysed with [`analyse_pair`] (which
/// needs no image and can run in parallel, one pair per task) are resolved against
/// the image, checked, and emitted. Pairs are reported in the order given.
pub fn diff_analysed(
    analysed: Vec<Pair>,
    image: &dyn ImageView,
    opts: &DiffOptions,
) -> Result<DiffOutcome, DiffError> {
    for a in &analysed {
        let m = a.orig.machine;
        if a.status != PairStatus::Identical && m != image.machine() {
            return Err(DiffError::MachineMismatch {
                name: a.name.clone(),
                object: m,
                image: image.machine(),
            });
        }
    }
    let mut problems: Vec<Problem> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    for a in &analysed {
        problems.extend(a.corr.problems.iter().cloned());
        problems.extend(a.class.problems.iter().cloned());
        problems.extend(a.refusals.problems.iter().cloned());
        warnings.extend(a.refusals.warnings.iter().cloned());
    }
    let closure = closure::build(&analysed, image);
    problems.extend(closure.problems.iter().cloned());
    problems.extend(encoding_problems(&analysed, &closure, image, opts.flavour));
    let report = report::build(
        &analysed,
        Some(&closure),
        &problems,
        &warnings,
        image.build_id(),
    );
    if !problems.is_empty() {
        return Ok(DiffOutcome::Refused(report));
    }
    if closure.sites.is_empty() {
        return Ok(DiffOutcome::NoChange(report));
    }
    let payload = emit::emit(&closure, image, opts)?;
    payload.validate(opts.flavour)?;
    Ok(DiffOutcome::Payload { payload, report })
}

/// What the chosen encoding cannot carry: hooks in the xsplice encoding, and
/// relocation types Xen's loader does not implement in the livepatch one.
fn encoding_problems(
    analysed: &[Pair],
    closure: &closure::Closure,
    image: &dyn ImageView,
    flavour: xsplice_payload::Flavour,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let arch = image.machine().arch();
    for item in &closure.items {
        let pair = &analysed[item.pair];
        if flavour == xsplice_payload::Flavour::Xsplice
            && closure
                .hooks
                .iter()
                .any(|&(_, i)| closure.items[i].name == item.name)
        {
            out.push(
                Problem::new(
                    problem::ProblemKind::SpecialSection,
                    &pair.name,
                    &item.name,
                    "a loader hook: the xsplice format has none (build a livepatch payload: --format livepatch)"
                        .to_string(),
                )
                .at(pair.p_dbg.loc(&item.name)),
            );
        }
        if flavour == xsplice_payload::Flavour::Livepatch
            && let Some(r) = item
                .relocs
                .iter()
                .find(|r| !arch.xen_loader_relocs().contains(&r.r_type))
        {
            out.push(
                Problem::new(
                    problem::ProblemKind::UnsupportedReloc,
                    &pair.name,
                    &item.name,
                    format!(
                        "{} at +{:#x}: Xen's livepatch loader implements only R_X86_64_64, PC32 and PLT32 (compile position-independent, e.g. -fpic or -fpie)",
                        arch.reloc_type_name(r.r_type),
                        r.offset
                    ),
                )
                .at(pair.p_dbg.loc(&item.name)),
            );
        }
    }
    out
}

impl ObjectFile {
    /// An object with nothing in it (the missing side of an added or removed file).
    pub fn empty(name: &str, machine: Machine) -> ObjectFile {
        ObjectFile::from_parts(name, machine, Vec::new(), Vec::new())
    }
}
