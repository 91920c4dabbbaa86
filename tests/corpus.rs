//! The malformed-payload corpus: `tests/corpus/bad/*.xsplice`, one file per loader
//! rule (specs/payload-format.md §1–§5 and runtime-sim's loader and CHECK), each named
//! after the rule. `tests/corpus/bad/MANIFEST.toml` lists, per file, the rule, what the
//! strict reader says (error kind and message, or that it accepts the file), and the
//! errno and message the simulated hypervisor (booted from runtime-sim's tiny image)
//! refuses it with — at UPLOAD, or at CHECK for the rules that need the running code.
//!
//! The files are committed; `corpus/generate.rs` holds their recipes.
//! `XSPLICE_BLESS=1 cargo test -p xsplice-e2e --test corpus` regenerates them.

#[path = "corpus/generate.rs"]
mod generate;
#[path = "corpus/livepatch.rs"]
mod livepatch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use runtime_sim::fuzz::{small_config, tiny_image};
use runtime_sim::{Action, Errno, Hypervisor, PayloadId, Policy, Status, Trust};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    payload: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    file: String,
    /// The rule broken, with its section of the spec.
    rule: String,
    /// `ReadErrorKind` of the strict reader, or "accepts" (a rule of the loader).
    reader: String,
    /// Errno name of the refusal.
    errno: String,
    /// "upload" (the default) or "check".
    #[serde(default = "upload")]
    stage: String,
    /// A fragment of the refusal's explanation.
    message: String,
    /// A fragment of the reader's error when it differs from the hypervisor's
    /// (the hypervisor refuses before reading, e.g. an empty payload).
    reader_message: Option<String>,
    /// Payloads of `tests/corpus/good/` uploaded first.
    #[serde(default)]
    preload: Vec<String>,
    /// Payload arena base for this one (far from the image: ±2 GiB rules).
    arena_base: Option<u64>,
    /// The hypervisor's UPLOAD size limit for this one (the default is 2 MiB).
    max_payload_size: Option<u64>,
    /// "livepatch": uploaded through runtime-sim's Xen 4.17 interface (the tiny
    /// image made to speak it); default: the design's xsplice interface.
    interface: Option<String>,
}

fn upload() -> String {
    "upload".into()
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(dir().join("bad/MANIFEST.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

fn files_in(sub: &str) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir().join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "xsplice" || x == "livepatch")
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// The committed files are what the recipes make (or are rewritten by XSPLICE_BLESS=1).
#[test]
fn corpus_files_match_their_recipes() {
    let image = tiny_image();
    let bless = std::env::var_os("XSPLICE_BLESS").is_some();
    for (sub, made) in [
        ("good", generate::good(&image)),
        ("bad", {
            let mut all = generate::bad(&image);
            all.extend(livepatch::bad(&image));
            all
        }),
    ] {
        let made: BTreeMap<String, Vec<u8>> = made.into_iter().collect();
        if bless {
            // Whole files appear at once (the other tests may be reading them).
            for (name, bytes) in &made {
                let tmp = dir().join(sub).join(format!(".{name}.tmp"));
                std::fs::write(&tmp, bytes).unwrap();
                std::fs::rename(&tmp, dir().join(sub).join(name)).unwrap();
            }
            for old in files_in(sub).keys().filter(|n| !made.contains_key(*n)) {
                std::fs::remove_file(dir().join(sub).join(old)).unwrap();
            }
        }
        let committed = files_in(sub);
        assert_eq!(
            committed.keys().collect::<Vec<_>>(),
            made.keys().collect::<Vec<_>>(),
            "tests/corpus/{sub}: files differ from the recipes (XSPLICE_BLESS=1 regenerates)"
        );
        for (name, bytes) in &made {
            assert!(
                committed[name] == *bytes,
                "tests/corpus/{sub}/{name} differs from its recipe (XSPLICE_BLESS=1 regenerates)"
            );
        }
    }
}

/// Every file has exactly one manifest entry, and names are unique.
#[test]
fn manifest_lists_every_file_once() {
    let m = manifest();
    let listed: Vec<&str> = m.payload.iter().map(|e| e.file.as_str()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), listed.len(), "duplicate manifest entries");
    let files: Vec<String> = files_in("bad").into_keys().collect();
    assert_eq!(sorted, files);
    for e in &m.payload {
        assert!(!e.rule.is_empty() && !e.message.is_empty(), "{}", e.file);
    }
}

/// Each file is refused for its rule, with its specific error, and a refusal at
/// UPLOAD leaves the hypervisor's memory byte-identical.
#[test]
fn every_bad_payload_is_refused_with_its_error() {
    let m = manifest();
    let good = files_in("good");
    let mut failures = Vec::new();
    for e in &m.payload {
        if let Err(why) = check(e, &good) {
            failures.push(format!("{}: {why}", e.file));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(m.payload.len() >= 100, "{} rules", m.payload.len());
}

fn check(e: &Entry, good: &BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    let bytes = std::fs::read(dir().join("bad").join(&e.file)).map_err(|x| x.to_string())?;
    // The strict reader.
    match (xsplice_payload::read::read(&bytes), e.reader.as_str()) {
        (Ok(_), "accepts") => {}
        (Ok(_), kind) => return Err(format!("the reader accepts it, expected {kind}")),
        (Err(r), "accepts") => return Err(format!("the reader refuses it: {r}")),
        (Err(r), kind) => {
            if format!("{:?}", r.kind) != kind {
                return Err(format!("reader: {:?} ({r}), expected {kind}", r.kind));
            }
            let want = e.reader_message.as_ref().unwrap_or(&e.message);
            if !r.to_string().contains(want) {
                return Err(format!("reader: `{r}` lacks `{want}`"));
            }
        }
    }
    if e.interface.as_deref() == Some("livepatch") {
        return check_livepatch(e, &bytes);
    }
    // The simulated hypervisor.
    let mut config = runtime_sim::SimConfig {
        arena_base: e.arena_base,
        ..small_config()
    };
    if let Some(limit) = e.max_payload_size {
        config.max_payload_size = limit;
    }
    let mut hv = Hypervisor::boot(tiny_image(), config, Policy::default(), Trust::none())
        .map_err(|x| x.to_string())?;
    for (n, name) in e.preload.iter().enumerate() {
        let id = PayloadId::new(&format!("pre{n}")).unwrap();
        let b = good.get(name).ok_or(format!("no good/{name}"))?;
        hv.upload(id, b)
            .map_err(|f| format!("preload {name}: {f}"))?;
    }
    let errno = Errno::from_name(&e.errno).ok_or(format!("unknown errno {}", e.errno))?;
    let id = PayloadId::new("bad").unwrap();
    let before = hv.memory().clone();
    let version = hv.version();
    match (hv.upload(id, &bytes), e.stage.as_str()) {
        (Err(f), "upload") => {
            if f.errno != errno {
                return Err(format!(
                    "upload: {} ({f}), expected {}",
                    f.errno.name(),
                    e.errno
                ));
            }
            if !f.why.contains(&e.message) {
                return Err(format!("upload: `{}` lacks `{}`", f.why, e.message));
            }
            if let Some(d) = hv.memory().first_difference(&before) {
                return Err(format!("refused upload changed memory: {d}"));
            }
            if hv.version() != version || hv.payload(&id).is_some() {
                return Err("refused upload changed the list".into());
            }
        }
        (Ok(()), "check") => {
            let loaded = hv.memory().clone();
            hv.action(&id, Action::Check, 0)
                .map_err(|f| f.to_string())?;
            hv.settle();
            let st = hv.get(&id).map_err(|f| f.to_string())?;
            if st != Status::Error(errno) {
                return Err(format!("check: status {st}, expected -{}", e.errno));
            }
            let why = &hv.last_error(&id).unwrap().why;
            if !why.contains(&e.message) {
                return Err(format!("check: `{why}` lacks `{}`", e.message));
            }
            if let Some(d) = hv.memory().first_difference(&loaded) {
                return Err(format!("failed CHECK changed memory: {d}"));
            }
        }
        (Ok(()), stage) => {
            return Err(format!("upload accepted it, expected a refusal at {stage}"));
        }
        (Err(f), stage) => {
            return Err(format!(
                "upload refused it ({f}), expected a refusal at {stage}"
            ));
        }
    }
    Ok(())
}

/// A livepatch file: UPLOAD through the Xen 4.17 interface refuses it with its errno
/// and changes nothing.
fn check_livepatch(e: &Entry, bytes: &[u8]) -> Result<(), String> {
    let config = runtime_sim::SimConfig {
        interface: Some(runtime_sim::Interface::Livepatch),
        ..small_config()
    };
    let mut hv = Hypervisor::boot(tiny_image(), config, Policy::default(), Trust::none())
        .map_err(|x| x.to_string())?;
    let errno = Errno::from_name(&e.errno).ok_or(format!("unknown errno {}", e.errno))?;
    let before = hv.memory().clone();
    let id = PayloadId::livepatch(b"bad").unwrap();
    match hv.livepatch_upload(id, bytes) {
        Ok(()) => Err("upload accepted it".into()),
        Err(f) if f.errno != errno => Err(format!(
            "upload: {} ({f}), expected {}",
            f.errno.name(),
            e.errno
        )),
        Err(f) if !f.why.contains(&e.message) => {
            Err(format!("upload: `{}` lacks `{}`", f.why, e.message))
        }
        Err(_) => match hv.memory().first_difference(&before) {
            Some(d) => Err(format!("refused upload changed memory: {d}")),
            None if !hv.payloads().is_empty() => Err("refused upload changed the list".into()),
            None => Ok(()),
        },
    }
}
