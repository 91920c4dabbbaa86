//! Checks against a real, built Xen tree. They need a tree CI does not have, so
//! they are `#[ignore]`d and skip (with a message) unless told where one is:
//!
//! ```text
//! XSPLICE_XEN_TREE=/path/to/xen-repo cargo test -p xsplice-diff --test xen -- --ignored
//! ```
//!
//! `XSPLICE_XEN_TREE` is the top of a Xen source tree built with
//! `make -C xen` (it holds `xen/xen-syms` and the objects). Nothing is compiled or
//! written. Optionally `XSPLICE_XEN_PAIRS` names a directory of fix pairs: one
//! subdirectory per fix with `<object path, / as +>.orig.o` / `.patched.o` files
//! (as the `diff_dir` example reads) and a file `expect` holding `payload`,
//! `refused` or `nochange`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use xsplice_diff::classify::State;
use xsplice_diff::entries::Layout;
use xsplice_diff::names::clone_of;
use xsplice_diff::object::{ObjectFile, SymKind};
use xsplice_diff::{
    DiffOptions, DiffOutcome, ObjectPair, ProblemKind, SpecialTable, analyse_pair, diff_analysed,
    diff_objects,
};

fn tree() -> Option<PathBuf> {
    match std::env::var_os("XSPLICE_XEN_TREE") {
        Some(t) => Some(PathBuf::from(t)),
        None => {
            eprintln!("XSPLICE_XEN_TREE is not set: skipped");
            None
        }
    }
}

fn image(tree: &Path) -> xsplice_image::Image {
    let path = tree.join("xen/xen-syms");
    xsplice_image::Image::from_path(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The objects linked into the hypervisor: every `*.o` under `xen/` except the
/// link steps' own (`built_in.o`, `prelink.o`), non-ELF and 32-bit files, and `x.o` when the
/// init-renamed `x.init.o` exists. Paths relative to `xen/`, sorted.
fn objects(tree: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "o") {
                out.push(p);
            }
        }
    }
    let root = tree.join("xen");
    let mut paths = Vec::new();
    for sub in ["arch/x86", "common", "drivers", "xsm", "lib", "crypto"] {
        walk(&root.join(sub), &mut paths);
    }
    paths.sort();
    let mut out = Vec::new();
    for p in &paths {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("built_in") || name.starts_with("prelink") {
            continue;
        }
        if !name.ends_with(".init.o") && p.with_extension("init.o").exists() {
            continue;
        }
        let bytes = std::fs::read(p).unwrap();
        // Not ELF (a build-id blob) or 32-bit (the real-mode boot code).
        if !bytes.starts_with(b"\x7fELF") || bytes.get(4) != Some(&2) {
            continue;
        }
        let rel = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        out.push((rel, bytes));
    }
    out
}

/// Every object of the tree parses, and the special section table describes every
/// special section of it: tables split into whole entries, and the entries of code
/// compiled from C all describe a function.
#[test]
#[ignore = "needs a built Xen tree in XSPLICE_XEN_TREE"]
fn every_object_splits_into_entries() {
    let Some(tree) = tree() else { return };
    let table = SpecialTable::builtin();
    let objs = objects(&tree);
    assert!(
        objs.len() > 100,
        "only {} objects under {}",
        objs.len(),
        tree.display()
    );
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut unowned_c: Vec<String> = Vec::new();
    for (name, bytes) in &objs {
        let obj = ObjectFile::parse(name, bytes).unwrap_or_else(|e| panic!("{e}"));
        let lay = Layout::build(&obj, &table);
        assert!(lay.problems.is_empty(), "{name}: {:?}", lay.problems);
        let from_c = obj
            .symbols
            .iter()
            .any(|s| s.kind == SymKind::File && s.name.ends_with(".c"));
        for t in &lay.tables {
            let c = counts.entry(t.name.clone()).or_default();
            c.0 += t.entries.len();
            for e in t.entries.iter().filter(|e| e.owner.is_none()) {
                c.1 += 1;
                if from_c {
                    unowned_c.push(format!("{name}: {}+{:#x}", t.name, e.offset));
                }
            }
        }
    }
    eprintln!("{} objects", objs.len());
    for (t, (n, u)) in &counts {
        eprintln!("{t}: {n} entries, {u} describe no function");
    }
    for want in [".altinstructions", ".bug_frames.2", ".ex_table"] {
        assert!(
            counts.get(want).is_some_and(|c| c.0 > 0),
            "no {want} entries"
        );
    }
    assert!(
        unowned_c.is_empty(),
        "entries in C objects without a function: {unowned_c:#?}"
    );
}

/// Every function of every object, treated as changed: the payload must resolve
/// every reference against `xen-syms` (symbol names, `file#name` locals, special
/// entries). The only acceptable refusals: functions too small for a trampoline,
/// init-only code, functions the image does not have at all (objects of `lib.a`
/// the link did not need), and assembly objects with several functions per
/// section. The payloads must write and read back.
#[test]
#[ignore = "needs a built Xen tree in XSPLICE_XEN_TREE"]
fn every_function_resolves_in_the_image() {
    let Some(tree) = tree() else { return };
    let image = image(&tree);
    let opts = DiffOptions {
        flavour: xsplice_payload::Flavour::Xsplice,
        name: "xen-all".into(),
        depends: Vec::new(),
        old_code: true,
    };
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad: Vec<String> = Vec::new();
    let mut payloads = 0;
    for (name, bytes) in objects(&tree) {
        // Differing bytes (a trailing pad the ELF reader ignores) so the pair is
        // analysed rather than skipped as identical.
        let mut patched = bytes.clone();
        patched.push(0);
        let mut pair = analyse_pair(&ObjectPair {
            name: name.clone(),
            orig: Some(bytes),
            patched: Some(patched),
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let from_c = pair
            .patched
            .symbols
            .iter()
            .any(|s| s.kind == SymKind::File && s.name.ends_with(".c"));
        let mut any = false;
        for (&id, c) in pair.class.symbols.iter_mut() {
            let s = pair.patched.symbol(id);
            let init = s.section.is_some_and(|x| pair.patched.section(x).is_init());
            if s.kind == SymKind::Func && !init && clone_of(&s.name).is_none() {
                c.state = State::Changed;
                c.reason = "forced".into();
                any = true;
            }
        }
        if !any {
            continue;
        }
        let out =
            diff_analysed(vec![pair], &image, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        match &out {
            DiffOutcome::Payload { payload, .. } => {
                let b =
                    xsplice_payload::write::to_bytes(payload, xsplice_payload::Flavour::Xsplice)
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                let back =
                    xsplice_payload::read::read(&b).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(&back.payload, payload, "{name}");
                payloads += 1;
            }
            DiffOutcome::Refused(r) => {
                for p in &r.refusals {
                    *kinds.entry(format!("{:?}", p.kind)).or_default() += 1;
                    let ok = match p.kind {
                        ProblemKind::TooSmall | ProblemKind::InitCode => true,
                        ProblemKind::MissingSymbol => p.message.contains("nothing to patch"),
                        ProblemKind::Unsupported => {
                            !from_c && p.message.contains("holds several functions")
                        }
                        _ => false,
                    };
                    if !ok {
                        bad.push(p.to_string());
                    }
                }
            }
            DiffOutcome::NoChange(_) => {}
        }
    }
    eprintln!("{payloads} payloads; refusals by kind: {kinds:?}");
    assert!(payloads > 100, "only {payloads} objects gave a payload");
    assert!(
        bad.is_empty(),
        "{} unexpected refusals:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Fix pairs prepared from real security fixes give the recorded outcome.
#[test]
#[ignore = "needs a built Xen tree in XSPLICE_XEN_TREE and pairs in XSPLICE_XEN_PAIRS"]
fn fix_pairs_give_the_recorded_outcome() {
    let Some(tree) = tree() else { return };
    let Some(dir) = std::env::var_os("XSPLICE_XEN_PAIRS").map(PathBuf::from) else {
        eprintln!("XSPLICE_XEN_PAIRS is not set: skipped");
        return;
    };
    let image = image(&tree);
    let mut fixes: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("expect").exists())
        .collect();
    fixes.sort();
    assert!(
        !fixes.is_empty(),
        "no fix directories with an `expect` file in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for fix in &fixes {
        let want = std::fs::read_to_string(fix.join("expect"))
            .unwrap()
            .trim()
            .to_string();
        let mut pairs: BTreeMap<String, ObjectPair> = BTreeMap::new();
        for e in std::fs::read_dir(fix).unwrap().flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let (stem, orig) = match (
                file.strip_suffix(".orig.o"),
                file.strip_suffix(".patched.o"),
            ) {
                (Some(s), _) => (s.to_string(), true),
                (_, Some(s)) => (s.to_string(), false),
                _ => continue,
            };
            let name = stem.replace('+', "/");
            let p = pairs.entry(name.clone()).or_insert(ObjectPair {
                name,
                orig: None,
                patched: None,
            });
            let bytes = std::fs::read(e.path()).unwrap();
            if orig {
                p.orig = Some(bytes);
            } else {
                p.patched = Some(bytes);
            }
        }
        let pairs: Vec<ObjectPair> = pairs.into_values().collect();
        let opts = DiffOptions {
            flavour: xsplice_payload::Flavour::Xsplice,
            name: "fix".into(),
            depends: Vec::new(),
            old_code: true,
        };
        let out = diff_objects(&pairs, &image, &opts)
            .unwrap_or_else(|e| panic!("{}: {e}", fix.display()));
        let got = match &out {
            DiffOutcome::Payload { payload, .. } => {
                xsplice_payload::write::to_bytes(payload, xsplice_payload::Flavour::Xsplice)
                    .unwrap_or_else(|e| panic!("{}: {e}", fix.display()));
                "payload"
            }
            DiffOutcome::Refused(_) => "refused",
            DiffOutcome::NoChange(_) => "nochange",
        };
        eprintln!("{}: {got}", fix.display());
        if got != want {
            failures.push(format!(
                "{}: want {want}, got {got}\n{}",
                fix.display(),
                out.report().to_text()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
