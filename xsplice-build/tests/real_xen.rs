//! On a real Xen: Debian bookworm's Xen 4.17 booted under QEMU (`xen-testbed`), a
//! payload that xsplice-build makes from C files against that hypervisor's
//! `xen-syms` is loaded, applied, observed, reverted and unloaded with Xen's own
//! `xen-livepatch`. The same payload is proven in runtime-sim on the same xen-syms.
//! Needs `qemu-system-x86_64` and apt access (see xen-testbed/README.md); `.ci/run`
//! installs both.

use std::path::Path;
use std::process::Command;

use runtime_sim::verify::{Probe, VerifyConfig, verify};
use xen_testbed::{CommandResult, Testbed, parse_list};

const ORIG: &str = "const char *xen_extra_version(void)\n{\n    return \".7\";\n}\n";
const FIXED: &str = "const char *xen_extra_version(void)\n{\n    return \"-xsplice-live\";\n}\n";
/// Code for Xen's address space: position-independent references (Xen's loader
/// implements PC32/PLT32/64 only), no red zone, no stack protector.
const CFLAGS: &str =
    "-O2 -g -fpie -mno-red-zone -fno-stack-protector -fno-asynchronous-unwind-tables";

fn build_payload(bed: &Testbed, dir: &Path) -> Vec<u8> {
    for (side, src) in [("a", ORIG), ("b", FIXED)] {
        std::fs::create_dir_all(dir.join(side)).unwrap();
        std::fs::write(dir.join(side).join("version.c"), src).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_xsplice-build"))
        .current_dir(dir)
        .env("CFLAGS", CFLAGS)
        .env_remove("CC")
        .args([
            "--orig",
            "a/version.c",
            "--patched",
            "b/version.c",
            "--target",
        ])
        .arg(bed.xen_syms())
        .args(["-o", "extra.livepatch", "--old-code"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("format: livepatch (the target implements Xen's livepatch interface"),
        "the format follows the target: {err}"
    );
    std::fs::read(dir.join("extra.livepatch")).unwrap()
}

fn signed(payload: &[u8], dir: &Path) -> Vec<u8> {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    for args in [
        vec!["genrsa", "-out", "key.pem", "2048"],
        vec![
            "req",
            "-new",
            "-x509",
            "-key",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "365",
            "-subj",
            "/CN=real-xen test",
        ],
    ] {
        let st = Command::new("openssl")
            .current_dir(dir)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    let k = xsplice_sign::SigningKey::from_pem_or_der(&std::fs::read(key).unwrap(), None).unwrap();
    let c = xsplice_sign::Certificate::from_pem_or_der(&std::fs::read(cert).unwrap()).unwrap();
    xsplice_sign::sign(payload, &k, &c, &xsplice_sign::SignOptions::default()).unwrap()
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

#[test]
fn a_built_payload_applies_and_reverts_on_real_xen() {
    let bed = Testbed::prepare_default().expect("the Xen test bed (see xen-testbed/README.md)");
    let dir = tempfile::tempdir().unwrap();
    let payload = build_payload(&bed, dir.path());
    let signed = signed(&payload, dir.path());

    // Proven in the simulator first, on the very xen-syms of the hypervisor below.
    let report = verify(&VerifyConfig {
        hypervisor: bed.xen_syms().to_path_buf(),
        trust: vec![],
        payload: dir.path().join("extra.livepatch"),
        applied: vec![],
        probes: vec![Probe::parse("xen_extra_version()=\"-xsplice-live\"").unwrap()],
        cpus: 2,
        expect_from: None,
    })
    .unwrap();
    assert!(report.ok(), "{}", report.render());

    let extra = "cat /sys/hypervisor/version/extra";
    let t = bed
        .run_commands(
            &[
                ("/tmp/extra.livepatch", &payload[..]),
                ("/tmp/signed.livepatch", &signed[..]),
            ],
            &[
                extra,
                "xen-livepatch upload extra /tmp/extra.livepatch",
                "xen-livepatch list",
                "xen-livepatch apply extra",
                extra,
                "xen-livepatch revert extra",
                extra,
                "xen-livepatch unload extra",
                "xen-livepatch load /tmp/signed.livepatch",
                extra,
                "xen-livepatch revert signed",
                "xen-livepatch unload signed",
                "xen-livepatch list",
            ],
        )
        .expect("boot");
    let c = &t.commands;
    assert_eq!(c.len(), 13, "{}", t.tail(60));
    for r in c {
        assert_eq!(r.rc, 0, "{}", show(r));
    }
    let before = c[0].stdout.trim();
    assert!(
        !before.is_empty() && before != "-xsplice-live",
        "{}",
        show(&c[0])
    );
    let listed = parse_list(&c[2].stdout).expect("a list table");
    assert_eq!(listed.len(), 1, "{}", show(&c[2]));
    assert_eq!(listed[0].name, "extra");
    assert_eq!(listed[0].status.trim(), "CHECKED");
    assert_eq!(listed[0].metadata.trim(), "name=extra");
    assert_eq!(
        c[4].stdout.trim(),
        "-xsplice-live",
        "applied: {}",
        show(&c[4])
    );
    assert_eq!(c[6].stdout.trim(), before, "reverted: {}", show(&c[6]));
    // The signature trailer stays on the upload: Xen reads the ELF and ignores the
    // bytes after it.
    assert_eq!(
        c[9].stdout.trim(),
        "-xsplice-live",
        "signed: {}",
        show(&c[9])
    );
    assert_eq!(c[12].stdout.trim(), "Nothing to list", "{}", show(&c[12]));
}
