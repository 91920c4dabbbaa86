//! The command line: run, verify, session + xsplice commands.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn sim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runtime-sim"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn setup() -> Fixture {
    let fx = Fixture::new();
    let image = fx.image();
    let d = fx.dir.path();
    std::fs::write(
        d.join("v264.xsplice"),
        bytes(&replace(&image, "v264", &[("do_version", ret_const(264))])),
    )
    .unwrap();
    std::fs::write(
        d.join("mid.xsplice"),
        bytes(&replace(&image, "mid", &[("middle", ret_const(1))])),
    )
    .unwrap();
    fx
}

/// A probe whose expected value is a "string" compares the string the returned
/// pointer points at, before, patched and reverted.
#[test]
fn verify_compares_strings_behind_returned_pointers() {
    let fx = setup();
    let image = fx.image();
    let d = fx.dir.path();
    // banner_at: lea banner+1(%rip),%rax; ret
    let mut p = replace(
        &image,
        "skip1",
        &[("banner_at", vec![0x48, 0x8d, 0x05, 0, 0, 0, 0, 0xc3])],
    );
    p.symbols.push(xsplice_payload::Symbol {
        name: "banner".into(),
        kind: xsplice_payload::SymbolKind::NoType,
        global: true,
        definition: None,
    });
    let k = p.symbols.len() - 1;
    p.sections[0].relocs.push(xsplice_payload::Reloc {
        offset: 3,
        r_type: object::elf::R_X86_64_PC32,
        target: xsplice_payload::RelocTarget::Symbol(k),
        addend: -3,
    });
    std::fs::write(d.join("skip1.xsplice"), bytes(&p)).unwrap();
    let run = |want: &str| {
        sim(
            d,
            &[
                "verify",
                "--hypervisor",
                "hv.elf",
                "skip1.xsplice",
                "--probe",
                &format!("banner_at(0)={want}"),
            ],
        )
    };
    let o = run("\"splice-sim\"");
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let row = t.lines().find(|l| l.starts_with("banner_at(0)")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "banner_at(0)",
            "\"xsplice-sim\"",
            "\"splice-sim\"",
            "\"splice-sim\"",
            "\"xsplice-sim\"",
            "yes"
        ],
        "{t}"
    );
    let o = run("\"xsplice-sim\"");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn verify_passes_and_fails_with_a_table() {
    let fx = setup();
    let d = fx.dir.path();
    let o = sim(
        d,
        &[
            "verify",
            "--hypervisor",
            "hv.elf",
            "v264.xsplice",
            "--probe",
            "do_version(0)=264",
            "--probe",
            "add(2, 3)=5",
        ],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("do_version(0)"), "{t}");
    let row = t.lines().find(|l| l.starts_with("do_version(0)")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols,
        ["do_version(0)", "263", "264", "264", "263", "yes"],
        "{t}"
    );
    assert!(t.contains("verified"), "{t}");

    let o = sim(
        d,
        &[
            "verify",
            "--hypervisor",
            "hv.elf",
            "v264.xsplice",
            "--probe",
            "do_version(0)=265",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("NOT verified"));
    let o = sim(
        d,
        &[
            "verify",
            "--hypervisor",
            "missing.elf",
            "v264.xsplice",
            "--probe",
            "f()=1",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("missing.elf"), "{}", text(&o));
    let o = sim(
        d,
        &[
            "verify",
            "--hypervisor",
            "hv.elf",
            "v264.xsplice",
            "--probe",
            "f(=1",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("f(=1"), "{}", text(&o));
}

#[test]
fn scenario_files_run_with_expectations() {
    let fx = setup();
    let d = fx.dir.path();
    let scenario = r#"
hypervisor = "hv.elf"
cpus = 2

[[step]]
op = "call"
function = "do_version"
args = [0]
ret = 263

[[step]]
op = "upload"
id = "v264"
payload = "v264.xsplice"

[[step]]
op = "upload"
id = "v264"
payload = "v264.xsplice"
expect = "EEXIST"

[[step]]
op = "apply"
id = "v264"
expect = "EINVAL"

[[step]]
op = "check"
id = "v264"

[[step]]
op = "apply"
id = "v264"

[[step]]
op = "call"
function = "do_version"
args = [1]
ret = 264

[[step]]
op = "list"
entries = ["v264=APPLIED"]

[[step]]
op = "upload"
id = "mid"
payload = "mid.xsplice"

[[step]]
op = "call"
cpu = 1
function = "outer"
args = [5]
stop_at = "leaf"

[[step]]
op = "check"
id = "mid"
status = "-EBUSY"

[[step]]
op = "resume"
cpu = 1
ret = 21

[[step]]
op = "check"
id = "mid"

[[step]]
op = "build_id"
value = "1122334455667788990011223344556677889900"

[[step]]
op = "revert"
id = "v264"

[[step]]
op = "unload"
id = "v264"

[[step]]
op = "get"
id = "v264"
expect = "ENOENT"
"#;
    std::fs::write(d.join("s.toml"), scenario).unwrap();
    let o = sim(d, &["run", "s.toml"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("17 passed, 0 failed"), "{t}");
    assert!(t.contains("-EBUSY"), "{t}");
    // The expected failure still says why (the stack walk found `middle`).
    let busy = t.lines().position(|l| l.contains("-EBUSY")).unwrap();
    let why = t.lines().nth(busy + 1).unwrap();
    assert!(why.contains("CPU 1") && why.contains("middle"), "{t}");

    // A wrong expectation fails the run and says why.
    std::fs::write(
        d.join("bad.toml"),
        scenario.replace("ret = 264", "ret = 999"),
    )
    .unwrap();
    let o = sim(d, &["run", "bad.toml"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("expected 999") && t.contains("16 passed, 1 failed"),
        "{t}"
    );
    std::fs::write(
        d.join("typo.toml"),
        "hypervisor = \"hv.elf\"\n[[step]]\nop = \"aply\"\nid = \"x\"\n",
    )
    .unwrap();
    let o = sim(d, &["run", "typo.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("typo.toml"), "{}", text(&o));
}

#[test]
fn xsplice_commands_against_a_session() {
    let fx = setup();
    let d = fx.dir.path();
    let o = sim(d, &["session", "s.session", "--hypervisor", "hv.elf"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = sim(d, &["session", "s.session", "--hypervisor", "hv.elf"]);
    assert_eq!(o.status.code(), Some(2), "refuses to overwrite");
    let x = |args: &[&str]| {
        let mut a = vec!["xsplice", "s.session"];
        a.extend_from_slice(args);
        sim(d, &a)
    };
    let o = x(&["upload", "v264", "v264.xsplice"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = x(&["upload", "v264", "v264.xsplice"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("EEXIST"), "{}", text(&o));
    let o = x(&["apply", "v264"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("failed with EINVAL (apply is not allowed in state LOADED)"),
        "{}",
        text(&o)
    );
    let o = x(&["check", "v264"]);
    assert!(
        o.status.success() && text(&o).contains("completed!"),
        "{}",
        text(&o)
    );
    let o = x(&["apply", "v264"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = x(&["call", "do_version(0)"]);
    assert_eq!(text(&o), "do_version(0) = 264\n");
    // Malformed calls: usage errors naming the call as typed, nothing journalled.
    let journal = std::fs::read(d.join("s.session")).unwrap();
    let o = x(&["call", "do_version(zero)"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o),
        "runtime-sim: call `do_version(zero)`: bad argument `zero` (expected FUNCTION(ARGS))\n"
    );
    let o = x(&["call", "do_version(0)=264"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("a call takes no `=VALUE`"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(d.join("s.session")).unwrap(), journal);
    let o = x(&["list"]);
    let t = text(&o);
    assert!(
        t.contains(" ID ")
            && t.lines()
                .any(|l| l.starts_with("v264 ") && l.ends_with("| APPLIED")),
        "{t}"
    );
    let o = x(&["dump"]);
    let t = text(&o);
    assert!(
        t.contains("id=v264 status=APPLIED(8,old=4)") && t.contains("wrote 0x"),
        "{t}"
    );
    let o = x(&["revert", "v264"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = x(&["call", "do_version(0)"]);
    assert_eq!(text(&o), "do_version(0) = 263\n");
    // The session replays as a scenario.
    let o = sim(d, &["run", "s.session"]);
    assert!(o.status.success(), "{}", text(&o));
    // A changed payload file is detected on replay.
    std::fs::write(d.join("v264.xsplice"), b"changed").unwrap();
    let o = x(&["list"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("diverged at step 1") && text(&o).contains("changed"),
        "{}",
        text(&o)
    );
}

/// A session file in another directory: paths given on the command line are relative
/// to the current directory, and errors name them as typed.
#[test]
fn session_paths_are_relative_to_the_current_directory() {
    let fx = setup();
    let d = fx.dir.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    let o = sim(d, &["session", "sub/s.session", "--hypervisor", "nope.elf"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("runtime-sim: nope.elf: cannot read"),
        "{}",
        text(&o)
    );
    let o = sim(
        d,
        &[
            "session",
            "sub/s.session",
            "--hypervisor",
            "hv.elf",
            "--trust",
            "no.pem",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("runtime-sim: no.pem: cannot read"),
        "{}",
        text(&o)
    );
    let o = sim(d, &["session", "nodir/s.session", "--hypervisor", "hv.elf"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("runtime-sim: nodir: cannot write"),
        "{}",
        text(&o)
    );
    assert!(!d.join("sub/s.session").exists(), "nothing half-written");

    let o = sim(d, &["session", "sub/s.session", "--hypervisor", "hv.elf"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = sim(
        d,
        &["xsplice", "sub/s.session", "upload", "v", "v264.xsplice"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = sim(
        d,
        &["xsplice", "sub/s.session", "upload", "w", "gone.xsplice"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("runtime-sim: gone.xsplice: cannot read"),
        "{}",
        text(&o)
    );
    // The session replays from anywhere.
    let o = sim(&d.join("sub"), &["xsplice", "s.session", "list"]);
    assert!(
        o.status.success()
            && text(&o)
                .lines()
                .any(|l| l.starts_with("v ") && l.ends_with("| LOADED")),
        "{}",
        text(&o)
    );
}

/// `verify --trust CERT`: signed by that key → verified; unsigned or signed by another
/// key → refused at upload (EACCES), exit 1.
#[test]
fn verify_with_trusted_certificates() {
    let fx = setup();
    let d = fx.dir.path();
    let (key, _) = make_cert(d, "good");
    let (_, other_cert) = make_cert(d, "other");
    let unsigned = std::fs::read(d.join("v264.xsplice")).unwrap();
    let cert = d.join("good.cert.pem");
    std::fs::write(d.join("signed.xsplice"), sign(&unsigned, &key, &cert)).unwrap();
    let verify = |payload: &str, trust: &Path| {
        sim(
            d,
            &[
                "verify",
                "--hypervisor",
                "hv.elf",
                "--trust",
                trust.to_str().unwrap(),
                payload,
                "--probe",
                "do_version(0)=264",
            ],
        )
    };
    let o = verify("signed.xsplice", &cert);
    assert!(o.status.success(), "{}", text(&o));
    let o = verify("v264.xsplice", &cert);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("EACCES: payload is not signed"),
        "{}",
        text(&o)
    );
    let o = verify("signed.xsplice", &other_cert);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("EACCES: signature rejected"),
        "{}",
        text(&o)
    );
}
