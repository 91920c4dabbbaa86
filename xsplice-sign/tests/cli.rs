//! The `xsplice-sign` binary: modes, exit codes, messages, atomic writes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{PASSPHRASE, pki};
use xsplice_sign::{SignOptions, sign, strip};

const BIN: &str = env!("CARGO_BIN_EXE_xsplice-sign");

fn p() -> &'static common::Pki {
    pki("cli")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cli(args: &[&str], dir: &Path) -> Run {
    cli_env(args, dir, None)
}

fn cli_env(args: &[&str], dir: &Path, pass: Option<&str>) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("XSPLICE_SIGN_PASSPHRASE")
        .args(args);
    if let Some(pw) = pass {
        cmd.env("XSPLICE_SIGN_PASSPHRASE", pw);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    Run {
        code: status.code().unwrap(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// A scratch directory with the ELF object as `m.o` and the fixtures reachable by
/// absolute path.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.o");
    std::fs::write(&m, p().elf()).unwrap();
    (dir, m)
}

fn fx(name: &str) -> String {
    p().path(name).to_str().unwrap().to_string()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn sign_in_place_keeps_mode_and_resigning_never_double_signs() {
    let (dir, m) = scratch();
    std::fs::set_permissions(&m, std::fs::Permissions::from_mode(0o750)).unwrap();
    let (key, cert) = (fx("key.pem"), fx("cert.pem"));
    let r = cli(&["--key", &key, "--cert", &cert, "m.o"], dir.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("m.o: signed (legacy sha256, 341-byte trailer) by \"CN=Example Org signing key,O=Example Org\""), "{}", r.stdout);
    let want = sign(
        &p().elf(),
        &p().key("key.pem"),
        &p().cert("cert.pem"),
        &SignOptions::default(),
    )
    .unwrap();
    assert_eq!(std::fs::read(&m).unwrap(), want);
    assert_eq!(mode(&m), 0o750);
    assert_eq!(listing(dir.path()), ["m.o"]);

    let r = cli(&["--verify", "--cert", &cert, "m.o"], dir.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim(),
        format!(
            "m.o: valid legacy rsa/sha256 signature by \"CN=Example Org signing key,O=Example Org\" (certificate from {cert})"
        )
    );

    // Twice more, switching format: still exactly one trailer.
    for format in ["pkcs7", "legacy"] {
        let r = cli(
            &["--key", &key, "--cert", &cert, "--format", format, "m.o"],
            dir.path(),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    assert_eq!(std::fs::read(&m).unwrap(), want);
    assert_eq!(mode(&m), 0o750);
}

#[test]
fn output_file_and_strip() {
    let (dir, m) = scratch();
    std::fs::set_permissions(&m, std::fs::Permissions::from_mode(0o640)).unwrap();
    let r = cli(
        &[
            "--key",
            &fx("combined.pem"),
            "--format",
            "pkcs7",
            "--hash",
            "sha512",
            "--skid",
            "m.o",
            "-o",
            "s.o",
        ],
        dir.path(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(&m).unwrap(), p().elf(), "input untouched");
    let s = dir.path().join("s.o");
    assert_eq!(mode(&s), 0o640);
    let signed = std::fs::read(&s).unwrap();
    assert_eq!(strip(&signed).unwrap(), &p().elf()[..]);

    let r = cli(&["--strip", "s.o", "-o", "u.o"], dir.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim(),
        format!(
            "u.o: removed {} bytes of signature",
            signed.len() - p().elf().len()
        )
    );
    assert_eq!(std::fs::read(dir.path().join("u.o")).unwrap(), p().elf());
    let r = cli(&["--strip", "s.o"], dir.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(&s).unwrap(), p().elf());
    assert_eq!(mode(&s), 0o640);
    let r = cli(&["--strip", "s.o"], dir.path());
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "s.o: not signed; left unchanged")
    );
    assert_eq!(listing(dir.path()), ["m.o", "s.o", "u.o"]);
}

#[test]
fn verify_exit_1_with_the_reason() {
    let (dir, m) = scratch();
    let cert = fx("cert.pem");
    let r = cli(&["--verify", "--cert", &cert, "m.o"], dir.path());
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim(),
        "xsplice-sign: m.o: invalid signature: not signed (the file does not end with \"~Module signature appended~\\n\")"
    );
    assert_eq!(
        cli(
            &["--key", &fx("key.pem"), "--cert", &cert, "m.o"],
            dir.path()
        )
        .code,
        0
    );

    let r = cli(&["--verify", "--cert", &fx("other.pem"), "m.o"], dir.path());
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("invalid signature: wrong key id"),
        "{}",
        r.stderr
    );
    // Several --cert, and a PEM file holding two certificates.
    let both = dir.path().join("both.pem");
    std::fs::write(
        &both,
        [p().bytes("other.pem"), p().bytes("cert.pem")].concat(),
    )
    .unwrap();
    let r = cli(
        &[
            "--verify",
            "--cert",
            &fx("other.pem"),
            "--cert",
            both.to_str().unwrap(),
            "m.o",
        ],
        dir.path(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    let signed = std::fs::read(&m).unwrap();
    let mut bad = signed.clone();
    bad[70] ^= 1;
    std::fs::write(dir.path().join("bad.o"), &bad).unwrap();
    let r = cli(&["--verify", "--cert", &cert, "bad.o"], dir.path());
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("invalid signature: bad signature"),
        "{}",
        r.stderr
    );
    let cut = &signed[p().elf().len() + 5..];
    std::fs::write(dir.path().join("cut.o"), cut).unwrap();
    let r = cli(&["--verify", "--cert", &cert, "cut.o"], dir.path());
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("invalid signature: truncated signature trailer: sig_len + signer_len + key_id_len at offset"), "{}", r.stderr);
}

#[test]
fn refused_signing_writes_nothing() {
    let (dir, _m) = scratch();
    let elf = p().elf();
    std::fs::write(
        dir.path().join("text.o"),
        b"just some text, not an ELF object",
    )
    .unwrap();
    std::fs::write(dir.path().join("cut.o"), &elf[..elf.len() - 1]).unwrap();
    let before = listing(dir.path());
    let (key, cert) = (fx("key.pem"), fx("cert.pem"));
    let cases: [(&[&str], &str); 5] = [
        (
            &["--key", &key, "--cert", &cert, "text.o"],
            "cannot sign text.o: not an ELF64 little-endian relocatable object: e_ident magic at offset 0",
        ),
        (&["--key", &key, "--cert", &cert, "cut.o"], "(truncated?)"),
        (
            &["--key", &fx("other.key.pem"), "--cert", &cert, "m.o"],
            "cannot sign m.o: the private key does not match certificate \"CN=Example Org signing key,O=Example Org\"",
        ),
        (
            &[
                "--key",
                &key,
                "--cert",
                &fx("noski.pem"),
                "m.o",
                "-o",
                "x.o",
            ],
            "has no subjectKeyIdentifier extension",
        ),
        (
            &[
                "--key", &key, "--cert", &cert, "--format", "pkcs7", "--skid", "text.o", "-o",
                "x.o",
            ],
            "e_ident magic",
        ),
    ];
    for (args, msg) in cases {
        let r = cli(args, dir.path());
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(msg), "{args:?}: {}", r.stderr);
        assert_eq!(listing(dir.path()), before);
    }
    assert_eq!(std::fs::read(dir.path().join("m.o")).unwrap(), elf);
    assert_eq!(
        std::fs::read(dir.path().join("cut.o")).unwrap(),
        &elf[..elf.len() - 1]
    );
}

#[test]
fn key_and_usage_errors_exit_2() {
    let (dir, m) = scratch();
    let cert = fx("cert.pem");
    let enc = fx("key.enc.pem");
    let r = cli(&["--key", &enc, "--cert", &cert, "m.o"], dir.path());
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(&enc) && r.stderr.contains("XSPLICE_SIGN_PASSPHRASE"),
        "{}",
        r.stderr
    );
    let r = cli_env(
        &["--key", &enc, "--cert", &cert, "m.o"],
        dir.path(),
        Some("nope"),
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cannot decrypt the private key"),
        "{}",
        r.stderr
    );
    let r = cli_env(
        &["--key", &enc, "--cert", &cert, "m.o"],
        dir.path(),
        Some(PASSPHRASE),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::read(&m).unwrap().ends_with(xsplice_sign::MAGIC));

    let r = cli(&["--key", &fx("key.pem"), "m.o"], dir.path());
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("holds no certificate: give the signer's certificate with --cert"),
        "{}",
        r.stderr
    );
    let r = cli(
        &["--key", "missing.pem", "--cert", &cert, "m.o"],
        dir.path(),
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("xsplice-sign: cannot read key missing.pem: "),
        "{}",
        r.stderr
    );
    let r = cli(&["--verify", "--cert", &fx("key.pem"), "m.o"], dir.path());
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("no CERTIFICATE PEM block found (blocks present: PRIVATE KEY)"),
        "{}",
        r.stderr
    );

    for args in [
        &["m.o"][..],
        &["--verify", "m.o"],
        &["--verify", "--strip", "--cert", &cert, "m.o"],
        &["--verify", "--key", "k", "--cert", &cert, "m.o"],
        &["--key", "k", "--cert", &cert, "--skid", "m.o"],
        &["--key", "k", "--hash", "md5", "m.o"],
    ] {
        let r = cli(args, dir.path());
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(!r.stderr.is_empty());
    }
    let r = cli(&["--help"], dir.path());
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("XSPLICE_SIGN_PASSPHRASE"), "{}", r.stdout);
    assert_eq!(listing(dir.path()), ["m.o"]);
}
