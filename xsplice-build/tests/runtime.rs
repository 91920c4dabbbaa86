//! The example's fixes, built by xsplice-build, run in runtime-sim: the probe shows
//! the leak before apply, no leak after, the leak again after revert.

mod common;

use std::process::Command;

use common::*;
use runtime_sim::verify::{Probe, VerifyConfig, verify};

/// A scratch copy of the example (`a`, built) and a patched copy (`b`, unbuilt), and
/// the payload xsplice-build made from them.
struct Built {
    _tmp: tempfile::TempDir,
    a: std::path::PathBuf,
    b: std::path::PathBuf,
    payload: std::path::PathBuf,
}

fn build_payload(patch: &str) -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    copy_sources(&example_src(), &a);
    copy_sources(&example_src(), &b);
    run_make(&a, &[]);
    apply_patch(&b, &patch_file(patch));
    let payload = tmp.path().join(format!("{patch}.xsplice"));
    let o = Command::new(wrapper_exe())
        .arg("--orig")
        .arg(&a)
        .arg("--patched")
        .arg(&b)
        .arg("--target")
        .arg(a.join("hv-syms"))
        .arg("-o")
        .arg(&payload)
        .env_remove("CC")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    Built {
        _tmp: tmp,
        a,
        b,
        payload,
    }
}

/// Builds the payload for `patch` and runs `probe` through upload → check → apply →
/// revert → unload. Returns (unpatched, patched, reverted) probe values.
fn run(patch: &str, probe: &str, no_leak: u64) -> (u64, u64, u64) {
    let built = build_payload(patch);
    let report = verify(&VerifyConfig {
        hypervisor: built.a.join("hv-syms"),
        trust: Vec::new(),
        payload: built.payload.clone(),
        applied: Vec::new(),
        probes: vec![Probe::parse(&format!("{probe}={no_leak}")).unwrap()],
        cpus: 1,
        expect_from: None,
    })
    .unwrap();
    assert!(report.ok(), "{}: {:?}", patch, report.notes);
    let row = &report.probes[0];
    let before = row.before.clone().unwrap().ret;
    let patched = row.patched.clone().unwrap().unwrap().ret;
    let reverted = row.reverted.clone().unwrap().unwrap().ret;
    (before, patched, reverted)
}

fn byte_sum(strings: &[&str]) -> u64 {
    strings.iter().flat_map(|s| s.bytes()).map(u64::from).sum()
}

#[test]
fn xsa125_fix_stops_the_version_leak() {
    // Without stack bytes, the guest gets exactly the version strings.
    let no_leak = byte_sum(&[
        "-example",
        "gcc (freestanding)",
        "builder",
        "example.invalid",
        "Thu Jan  1 00:00:00 UTC 1970",
    ]);
    let (before, patched, reverted) = run("xsa125-fix", "probe_version_leak()", no_leak);
    assert!(before > no_leak, "no leak visible before the fix: {before}");
    assert_eq!(patched, no_leak);
    assert_eq!(reverted, before);
}

#[test]
fn xsa132_fix_stops_the_domctl_leak() {
    // The guest gets back its own command (4) and domain 0's zeroed TSC info.
    let (before, patched, reverted) = run("xsa132-fix", "probe_domctl_leak()", 4);
    // The 4 bytes of padding carried the stack pattern 0xa5.
    assert_eq!(before, 4 + 4 * 0xa5);
    assert_eq!(patched, 4);
    assert_eq!(reverted, before);
}

/// The proof users want: the payload makes the running hypervisor behave as the
/// patched build. The expected value is not written down anywhere: it is what the
/// probe returns on the fully built patched tree (`--expect-from`).
#[test]
fn patched_hypervisor_behaves_as_the_patched_build() {
    let built = build_payload("xsa132-fix");
    run_make(&built.b, &[]);
    let cfg = VerifyConfig {
        hypervisor: built.a.join("hv-syms"),
        trust: Vec::new(),
        payload: built.payload.clone(),
        applied: Vec::new(),
        probes: vec![Probe::parse("probe_domctl_leak()").unwrap()],
        cpus: 1,
        expect_from: Some(built.b.join("hv-syms")),
    };
    let report = verify(&cfg).unwrap();
    assert!(report.ok(), "{}", report.render());
    let row = &report.probes[0];
    assert_eq!(
        row.probe.want,
        Some(runtime_sim::verify::Want::Int(4)),
        "the patched build returns 4"
    );
    assert_ne!(
        row.before.clone().unwrap().ret,
        4,
        "the unpatched build leaks"
    );
    assert!(
        report
            .render()
            .contains("expected values: from the patched build")
    );

    // Without a value and without the patched build, verify refuses to guess.
    let err = verify(&VerifyConfig {
        expect_from: None,
        ..cfg
    })
    .unwrap_err();
    assert!(err.to_string().contains("has no `=VALUE`"), "{err}");
}
