//! On a real Xen: Debian bookworm's Xen 4.17 booted under QEMU (`xen-testbed`), one
//! boot running `xen-xsplice` in dom0 next to Xen's own `xen-livepatch`:
//!
//! - signed payloads replacing `xen_extra_version` (observable in
//!   `/sys/hypervisor/version/extra`) are verified, uploaded with their signature
//!   trailer, applied, reverted, replaced and unloaded;
//! - `list` agrees with `xen-livepatch list`;
//! - unsigned and tampered payloads are refused under `--trust` and Xen's list
//!   stays empty;
//! - for bad payloads (a second upload of a name, a wrong hypervisor build-id in
//!   `.livepatch.xen_depends`, an unhandled relocation type, not an ELF, and every
//!   single-upload case of the differential corpus, `tests/differential/`) both
//!   tools accept or refuse alike, with the same errno;
//! - `unload-all` leaves nothing behind, reverting in the order Xen needs.
//!
//! The same payloads first go through the same commands on runtime-sim booted from
//! the very `xen-syms` (one ABI definition, two hypervisors).
//!
//! The binary dropped into dom0 is this crate's (with its libraries, which the test
//! bed copies from the host); `XEN_XSPLICE_BIN=PATH` runs another build instead,
//! e.g. the static one of README.md. Needs `qemu-system-x86_64` and apt access
//! (xen-testbed/README.md); `.ci/run` installs both.

mod common;
// The differential corpus of tests/livepatch_differential.rs (its payloads; the
// simulator side of its tool module is not used here).
#[allow(dead_code)]
#[path = "../../tests/differential/cases.rs"]
mod cases;
#[allow(dead_code)]
#[path = "../../tests/differential/tool.rs"]
mod tool;

use std::path::{Path, PathBuf};

use common::*;
use object::{Object, ObjectSection};
use xen_testbed::{CommandResult, Testbed, parse_list};
use xen_xsplice::errno::Errno;
use xen_xsplice::run::{Command, exit};
use xsplice_image::Image;
use xsplice_payload::Flavour;

/// A livepatch payload making `xen_extra_version()` return `text`.
fn extra_payload(image: &Image, name: &str, text: &str) -> Vec<u8> {
    let target = image
        .lookup("xen_extra_version")
        .expect("xen-syms has xen_extra_version");
    let p = xsplice_payload::fixtures::returns_string(
        name,
        image.build_id(),
        "xen_extra_version",
        target.addr,
        target.size as u32,
        text,
    );
    xsplice_payload::write::to_bytes(&p, Flavour::Livepatch).expect("a valid livepatch payload")
}

/// `bytes` with the last byte of section `name` flipped.
fn flip_last_byte_of(bytes: &[u8], name: &str) -> Vec<u8> {
    let f = object::File::parse(bytes).unwrap();
    let (off, size) = f.section_by_name(name).unwrap().file_range().unwrap();
    let mut b = bytes.to_vec();
    b[(off + size - 1) as usize] ^= 0xff;
    b
}

/// `bytes` with the type of the first relocation in `.rela<section>` set to
/// `R_X86_64_32` (10), which Xen's x86 loader does not handle.
fn unhandled_relocation(bytes: &[u8]) -> Vec<u8> {
    let f = object::File::parse(bytes).unwrap();
    let rela = f
        .sections()
        .find(|s| s.name().is_ok_and(|n| n.starts_with(".rela.text")))
        .expect("a .rela.text section");
    let (off, _) = rela.file_range().unwrap();
    let mut b = bytes.to_vec();
    let info = off as usize + 8;
    b[info..info + 4].copy_from_slice(&10u32.to_le_bytes());
    b
}

fn show(c: &CommandResult) -> String {
    format!(
        "`{}` rc={} stdout={:?} stderr={:?} xen={:?}",
        c.cmd,
        c.rc,
        c.stdout,
        c.stderr,
        c.xen_messages()
    )
}

/// The errno `xen-xsplice` printed: `xen-xsplice: ENAME: sentence`.
fn xsplice_errno(c: &CommandResult) -> Option<i32> {
    c.stderr.lines().find_map(|l| {
        let rest = l.strip_prefix("xen-xsplice: ")?;
        Errno::from_name(rest.split_once(':')?.0).map(|e| e.0)
    })
}

fn xen_xsplice_binary() -> PathBuf {
    std::env::var_os("XEN_XSPLICE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_xen-xsplice")))
}

/// The same signed payload through the same commands on runtime-sim booted from
/// the real xen-syms.
fn on_the_simulator(xen_syms: &Path, dir: &Path, cert: &Path) {
    let image = Image::parse(std::fs::read(xen_syms).unwrap()).unwrap();
    let mut sim = Sim::boot_image(image, runtime_sim::SimConfig::default());
    let extra = dir.join("extra.livepatch");
    for (c, want) in [
        (
            Command::Upload {
                id: "extra".into(),
                file: dir.join("unsigned.livepatch"),
            },
            exit::SIGNATURE,
        ),
        (
            Command::Load {
                file: extra.clone(),
                id: None,
                nodeps: false,
            },
            exit::OK,
        ),
        (
            Command::Upload {
                id: "extra".into(),
                file: extra.clone(),
            },
            exit::REFUSED,
        ),
        (Command::Revert { id: "extra".into() }, exit::OK),
        (Command::UnloadAll, exit::OK),
    ] {
        let o = exec(&mut sim, &config(c.clone(), &[cert]));
        assert_eq!(o.code(), want, "{c:?}: {}\n{}", o.message(), o.out);
    }
    assert!(sim.loaded().is_empty());
}

#[test]
fn xen_xsplice_on_real_xen() {
    let bed = Testbed::prepare_default().expect("the Xen test bed (see xen-testbed/README.md)");
    let dir = tempfile::tempdir().unwrap();
    let image = Image::parse(std::fs::read(bed.xen_syms()).unwrap()).unwrap();
    let extra = extra_payload(&image, "extra", "-xsplice-live");
    let two = extra_payload(&image, "two", "-xsplice-two");
    let (key, cert) = keypair(dir.path(), "xen-xsplice real-xen");
    let signed = sign(&extra, &key, &cert);
    let mut tampered = signed.clone();
    tampered[200] ^= 0x40;
    let wrong_xen = sign(
        &flip_last_byte_of(&extra, ".livepatch.xen_depends"),
        &key,
        &cert,
    );
    let bad_reloc = sign(&unhandled_relocation(&extra), &key, &cert);
    for (name, bytes) in [("extra.livepatch", &signed), ("unsigned.livepatch", &extra)] {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    on_the_simulator(bed.xen_syms(), dir.path(), &cert);

    let binary = std::fs::read(xen_xsplice_binary()).unwrap();
    let cert_pem = std::fs::read(&cert).unwrap();
    let files: Vec<(&str, &[u8])> = vec![
        ("/usr/bin/xen-xsplice", &binary),
        ("/etc/xsplice/trusted.d/ours.pem", &cert_pem),
        ("/tmp/extra.livepatch", &signed),
        ("/tmp/unsigned.livepatch", &extra),
        ("/tmp/tampered.livepatch", &tampered),
        ("/tmp/two.unsigned", &two),
        ("/tmp/wrongxen.livepatch", &wrong_xen),
        ("/tmp/badrel.livepatch", &bad_reloc),
        ("/tmp/garbage", b"this is not an ELF payload, it is text\n"),
    ];
    // Every single-upload case of the differential corpus, through both tools.
    let corpus = cases::corpus(&image);
    let uploads: Vec<(String, String)> = corpus
        .cases
        .iter()
        .filter_map(|c| match c.commands.as_slice() {
            [tool::Cmd::Upload { name, file }, _, _] => Some((name.clone(), file.clone())),
            _ => None,
        })
        .collect();
    assert!(uploads.len() >= 40, "{} corpus uploads", uploads.len());
    let corpus_files: Vec<(String, &[u8])> = corpus
        .files
        .iter()
        .map(|(n, b)| (format!("/tmp/corpus/{n}"), &b[..]))
        .collect();
    let mut files = files;
    files.extend(corpus_files.iter().map(|(n, b)| (n.as_str(), *b)));
    let x = "xen-xsplice --trust /etc/xsplice/trusted.d/ours.pem";
    let cat = "cat /sys/hypervisor/version/extra";
    let commands: Vec<String> = vec![
        cat.into(),                                             // 0
        format!("{x} upload extra /tmp/unsigned.livepatch"),    // 1
        format!("{x} load /tmp/tampered.livepatch"),            // 2
        "xen-livepatch list".into(),                            // 3
        "xen-xsplice upload extra /tmp/extra.livepatch".into(), // 4 keyring
        "xen-xsplice list".into(),                              // 5
        "xen-livepatch list".into(),                            // 6
        "xen-xsplice list --json".into(),                       // 7
        "xen-xsplice check extra".into(),                       // 8
        "xen-xsplice apply extra".into(),                       // 9
        cat.into(),                                             // 10
        "xen-xsplice list".into(),                              // 11
        "xen-livepatch list".into(),                            // 12
        "xen-xsplice status extra".into(),                      // 13
        "xen-xsplice revert extra".into(),                      // 14
        cat.into(),                                             // 15
        "xen-xsplice unload extra".into(),                      // 16
        "xen-livepatch list".into(),                            // 17
        // The differential part: the same bad uploads through both tools.
        "xen-livepatch upload dup /tmp/extra.livepatch".into(), // 18
        "xen-livepatch upload dup /tmp/extra.livepatch".into(), // 19
        format!("{x} upload dup /tmp/extra.livepatch"),         // 20
        "xen-livepatch unload dup".into(),                      // 21
        "xen-livepatch upload wrongxen /tmp/wrongxen.livepatch".into(), // 22
        format!("{x} upload wrongxen /tmp/wrongxen.livepatch"), // 23
        "xen-livepatch upload badrel /tmp/badrel.livepatch".into(), // 24
        format!("{x} upload badrel /tmp/badrel.livepatch"),     // 25
        "xen-livepatch upload garbage /tmp/garbage".into(),     // 26
        "xen-xsplice --insecure-unsigned upload garbage /tmp/garbage".into(), // 27
        "xen-livepatch list".into(),                            // 28
        // load, replace, a stack applied out of list order, unload-all.
        format!("{x} load /tmp/extra.livepatch"), // 29
        cat.into(),                               // 30
        "xen-xsplice --insecure-unsigned upload two /tmp/two.unsigned".into(), // 31
        "xen-xsplice replace two".into(),         // 32
        cat.into(),                               // 33
        "xen-xsplice apply extra --nodeps".into(), // 34
        cat.into(),                               // 35
        "xen-xsplice list".into(),                // 36
        "xen-livepatch list".into(),              // 37
        "xen-xsplice revert two".into(),          // 38
        "xen-xsplice unload-all".into(),          // 39
        "xen-livepatch list".into(),              // 40
        cat.into(),                               // 41
        "ls /dev/xen /sys/module/xen_privcmd/parameters".into(), // 42
        // Without /dev/xen/hypercall: locked anonymous memory instead.
        "rm /dev/xen/hypercall".into(),           // 43
        format!("{x} load /tmp/extra.livepatch"), // 44
        cat.into(),                               // 45
        "xen-xsplice unload-all".into(),          // 46
        "xen-livepatch list".into(),              // 47
    ];
    let first_corpus = commands.len();
    let mut commands = commands;
    for (name, file) in &uploads {
        commands.push(format!("xen-livepatch upload {name} /tmp/corpus/{file}"));
        commands.push(format!("xen-livepatch unload {name}"));
        commands.push(format!(
            "xen-xsplice --insecure-unsigned upload {name} /tmp/corpus/{file}"
        ));
        commands.push(format!("xen-livepatch unload {name}"));
    }
    let refs: Vec<&str> = commands.iter().map(String::as_str).collect();
    let mut bed = bed;
    bed.options_mut().timeout = std::time::Duration::from_secs(900);
    let t = bed.run_commands(&files, &refs).expect("boot");
    let c = &t.commands;
    assert_eq!(c.len(), commands.len(), "{}", t.tail(80));
    for r in c {
        eprintln!("{}", show(r));
    }
    let ok = |i: usize| assert_eq!(c[i].rc, 0, "{}", show(&c[i]));
    let code = |i: usize, want: u8| assert_eq!(c[i].rc, i32::from(want), "{}", show(&c[i]));

    let before = c[0].stdout.trim();
    assert!(
        !before.is_empty() && before != "-xsplice-live",
        "{}",
        show(&c[0])
    );

    // Refused before any hypercall; Xen's list stays empty.
    code(1, exit::SIGNATURE);
    assert!(c[1].stderr.contains("unsigned payload"), "{}", show(&c[1]));
    code(2, exit::SIGNATURE);
    assert!(c[2].stderr.contains("bad signature"), "{}", show(&c[2]));
    assert_eq!(c[3].stdout.trim(), "Nothing to list", "{}", show(&c[3]));

    // Upload with the keyring (default configuration), list like xen-livepatch.
    ok(4);
    assert!(
        c[4].stdout
            .contains("(trusted certificate /etc/xsplice/trusted.d/ours.pem)"),
        "{}",
        show(&c[4])
    );
    assert!(c[4].stdout.ends_with("extra: CHECKED\n"), "{}", show(&c[4]));
    for (ours, theirs, state) in [(5, 6, "CHECKED"), (11, 12, "APPLIED"), (36, 37, "APPLIED")] {
        ok(ours);
        let a = parse_list(&c[ours].stdout).unwrap_or_else(|| panic!("{}", show(&c[ours])));
        let b = parse_list(&c[theirs].stdout).unwrap_or_else(|| panic!("{}", show(&c[theirs])));
        assert_eq!(a, b, "{} vs {}", show(&c[ours]), show(&c[theirs]));
        assert!(a.iter().any(|e| e.state() == state), "{}", show(&c[ours]));
        assert_eq!(c[ours].stdout, c[theirs].stdout, "byte for byte");
    }
    let json: serde_json::Value = serde_json::from_str(&c[7].stdout).unwrap();
    assert_eq!(json[0]["name"], "extra");
    assert_eq!(json[0]["metadata"][0], "name=extra");
    ok(8);

    // Apply, observe, revert, unload.
    ok(9);
    assert!(c[9].stdout.ends_with("extra: APPLIED\n"), "{}", show(&c[9]));
    assert_eq!(
        c[10].stdout.trim(),
        "-xsplice-live",
        "applied, trailer and all: {}",
        show(&c[10])
    );
    assert_eq!(c[13].stdout, "extra: APPLIED\n");
    ok(14);
    assert_eq!(c[15].stdout.trim(), before, "{}", show(&c[15]));
    ok(16);
    assert!(
        c[16].stdout.ends_with("extra: unloaded\n"),
        "{}",
        show(&c[16])
    );
    assert_eq!(c[17].stdout.trim(), "Nothing to list");

    // Same errno as xen-livepatch.
    ok(18);
    for (theirs, ours, want) in [(19, 20, 17), (22, 23, 22), (24, 25, 95), (26, 27, 22)] {
        assert_eq!(
            c[theirs].reported_errno(),
            Some(want),
            "{}",
            show(&c[theirs])
        );
        assert_eq!(xsplice_errno(&c[ours]), Some(want), "{}", show(&c[ours]));
        code(ours, exit::REFUSED);
    }
    assert!(
        c[20]
            .stderr
            .contains("EEXIST: a payload named dup is already loaded"),
        "{}",
        show(&c[20])
    );
    assert!(
        c[27].stderr.contains("warning: --insecure-unsigned"),
        "{}",
        show(&c[27])
    );
    ok(21);
    assert_eq!(c[28].stdout.trim(), "Nothing to list", "{}", show(&c[28]));

    // load, replace, apply on top, unload-all.
    ok(29);
    assert_eq!(c[30].stdout.trim(), "-xsplice-live", "{}", show(&c[30]));
    ok(31);
    ok(32);
    assert_eq!(c[33].stdout.trim(), "-xsplice-two", "{}", show(&c[33]));
    ok(34);
    assert_eq!(c[35].stdout.trim(), "-xsplice-live", "{}", show(&c[35]));
    code(38, exit::BUSY);
    assert!(
        c[38]
            .stderr
            .contains("EBUSY: two is not the most recently applied payload"),
        "{}",
        show(&c[38])
    );
    ok(39);
    assert!(
        c[39]
            .stdout
            .contains("two: not the most recently applied; trying the next one"),
        "{}",
        show(&c[39])
    );
    assert_eq!(c[40].stdout.trim(), "Nothing to list", "{}", show(&c[40]));
    assert_eq!(c[41].stdout.trim(), before, "{}", show(&c[41]));

    // The kernel's hypercall-buffer device was there; without it the same works.
    assert!(c[42].stdout.contains("hypercall"), "{}", show(&c[42]));
    ok(43);
    ok(44);
    assert_eq!(c[45].stdout.trim(), "-xsplice-live", "{}", show(&c[45]));
    ok(46);
    assert_eq!(c[47].stdout.trim(), "Nothing to list", "{}", show(&c[47]));

    // The corpus: both tools accept or refuse each payload alike, same errno.
    let mut agree = 0;
    for (k, (name, _)) in uploads.iter().enumerate() {
        let (theirs, ours) = (&c[first_corpus + 4 * k], &c[first_corpus + 4 * k + 2]);
        let accepted = (theirs.rc == 0, ours.rc == 0);
        assert_eq!(
            accepted.0,
            accepted.1,
            "{name}: {} vs {}",
            show(theirs),
            show(ours)
        );
        if !accepted.0 {
            assert_eq!(
                theirs.reported_errno(),
                xsplice_errno(ours),
                "{name}: {} vs {}",
                show(theirs),
                show(ours)
            );
        }
        agree += 1;
    }
    eprintln!("xen-xsplice and xen-livepatch agree on {agree} corpus uploads");
}
