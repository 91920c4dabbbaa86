//! The binary: help with examples and exit codes, completions and the man page,
//! usage errors, refusals before the hypervisor, and no hypervisor on this host.

use std::process::{Command, Output};

fn xx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xen-xsplice"))
        .args(args)
        .env_remove("XEN_XSPLICE_CONFIG")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn help_has_examples_and_exit_codes() {
    let o = xx(&["--help"]);
    assert!(o.status.success());
    let (out, _) = text(&o);
    for want in [
        "Examples:",
        "Exit codes:",
        "3  signature refused",
        "--insecure-unsigned",
        "unload-all",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    for sub in [
        "upload",
        "list",
        "status",
        "check",
        "apply",
        "revert",
        "replace",
        "unload",
        "load",
        "unload-all",
    ] {
        let o = xx(&[sub, "--help"]);
        assert!(o.status.success(), "{sub}");
        let (out, _) = text(&o);
        assert!(out.contains("Example:\n  xen-xsplice "), "{sub}: {out}");
    }
}

#[test]
fn completions_and_man_page() {
    for (what, want) in [
        ("bash", "complete -F _xen__xsplice"),
        ("zsh", "#compdef xen-xsplice"),
        ("fish", "complete -c xen-xsplice"),
        ("man", ".TH xen-xsplice"),
    ] {
        let o = xx(&["--generate", what]);
        assert!(o.status.success(), "{what}");
        assert!(text(&o).0.contains(want), "{what}");
    }
    let o = xx(&["--generate", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn usage_errors_are_2() {
    for args in [
        &["frobnicate"][..],
        &["apply"],
        &["apply", "x", "--timeout", "5s"],
        &["status", ""],
    ] {
        let o = xx(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o).1);
    }
}

#[test]
fn an_unsigned_payload_is_refused_before_the_hypervisor() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fix.livepatch");
    std::fs::write(&p, xsplice_sign::minimal_elf(b"")).unwrap();
    let cert = dir.path().join("c.pem");
    let st = Command::new("openssl")
        .args([
            "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t",
        ])
        .arg("-keyout")
        .arg(dir.path().join("k.pem"))
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(st.status.success());
    let o = xx(&[
        "--trust",
        cert.to_str().unwrap(),
        "load",
        p.to_str().unwrap(),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("unsigned payload"), "{err}");
    assert!(err.contains("nothing was sent to the hypervisor"), "{err}");
    // No certificate at all (no keyring on this host): a configuration error.
    let o = xx(&[
        "--config",
        "/nonexistent/xen-xsplice.toml",
        "upload",
        "fix",
        p.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);
}

#[test]
fn without_xen_the_hypervisor_cannot_be_reached() {
    if std::path::Path::new("/dev/xen/privcmd").exists()
        || std::path::Path::new("/proc/xen/privcmd").exists()
    {
        return; // a Xen domain: nothing to show here
    }
    let o = xx(&["list"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(6), "{err}");
    assert!(
        err.contains("cannot open /dev/xen/privcmd: not running in a Xen domain"),
        "{err}"
    );
}
