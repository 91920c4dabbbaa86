//! The binary: exit codes, error text, JSON.

use std::process::Command;

use xsplice_payload::fixtures;
use xsplice_payload::write::to_bytes;

fn inspect(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xsplice-inspect"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn prints_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.xsplice");
    std::fs::write(
        &path,
        to_bytes(&fixtures::full(), xsplice_payload::Flavour::Xsplice).unwrap(),
    )
    .unwrap();
    let (code, out, err) = inspect(&[path.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("xsplice payload \"xsa132-and-friends\""));
    assert!(
        out.contains("callq 0xd    ; R_X86_64_PLT32 new_helper-0x4"),
        "{out}"
    );

    let (code, out, _) = inspect(&[path.as_os_str(), "--json".as_ref()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "xsa132-and-friends");
    assert_eq!(v["new"][0]["reloc"]["isns_added"], -4);
    assert_eq!(v["new"][0]["reloc"]["howto_flags"][0], "PC_REL");
    assert_eq!(v["old"][1]["section_flags"][1], "MATCH_EXACT");
}

#[test]
fn malformed_input_exits_1_with_the_readers_error_and_no_partial_dump() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.xsplice");
    let mut bytes = to_bytes(&fixtures::xsa125(), xsplice_payload::Flavour::Xsplice).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&path, &bytes).unwrap();
    let (code, out, err) = inspect(&[path.as_os_str()]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "partial dump: {out}");
    assert!(
        err.contains("bad.xsplice: truncated file: Elf64_Ehdr.e_shoff at file offset 0x28"),
        "{err}"
    );

    let (code, _, err) = inspect(&[dir.path().join("missing").as_os_str()]);
    assert_eq!(code, 1);
    assert!(err.contains("missing: No such file"), "{err}");
}

/// A throw-away RSA key and self-signed certificate made by openssl.
fn keypair(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (key, cert) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pem")),
    );
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg(format!("/O=Example/CN=Example {name} signing key"))
        .args(["-addext", "subjectKeyIdentifier=hash", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    (key, cert)
}

#[test]
fn shows_and_verifies_an_appended_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = keypair(dir.path(), "good");
    let (_, other) = keypair(dir.path(), "other");
    let payload = to_bytes(&fixtures::full(), xsplice_payload::Flavour::Xsplice).unwrap();
    let key =
        xsplice_sign::SigningKey::from_pem_or_der(&std::fs::read(&key).unwrap(), None).unwrap();
    let certificate =
        xsplice_sign::Certificate::from_pem_or_der(&std::fs::read(&cert).unwrap()).unwrap();
    let signed = xsplice_sign::sign(&payload, &key, &certificate, &Default::default()).unwrap();
    let path = dir.path().join("signed.xsplice");
    std::fs::write(&path, &signed).unwrap();

    let (code, out, err) = inspect(&[path.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("signature        legacy signature (RSA, SHA-256)")
            || out.contains("signature        legacy"),
        "{out}"
    );
    assert!(out.contains("signer \"Example good signing key\""), "{out}");
    assert!(
        out.contains(&format!(
            "signed bytes: {} of {}",
            payload.len(),
            signed.len()
        )),
        "{out}"
    );
    assert!(out.contains("verification: not checked"), "{out}");
    assert!(
        out.contains("xsplice payload \"xsa132-and-friends\""),
        "{out}"
    );

    let (code, out, _) = inspect(&[path.as_os_str(), "--cert".as_ref(), cert.as_os_str()]);
    assert_eq!(code, 0);
    assert!(out.contains("verification: VALID, signed by"), "{out}");

    let (code, out, _) = inspect(&[path.as_os_str(), "--cert".as_ref(), other.as_os_str()]);
    assert_eq!(code, 1);
    assert!(out.contains("verification: INVALID: wrong key id"), "{out}");

    let (code, out, _) = inspect(&[
        path.as_os_str(),
        "--json".as_ref(),
        "--cert".as_ref(),
        cert.as_os_str(),
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["signature"]["verification"]["status"], "valid");
    assert_eq!(v["payload_size"], payload.len());

    let unsigned = dir.path().join("unsigned.xsplice");
    std::fs::write(&unsigned, &payload).unwrap();
    let (code, out, _) = inspect(&[unsigned.as_os_str(), "--cert".as_ref(), cert.as_os_str()]);
    assert_eq!(code, 1);
    assert!(
        out.contains("signature        none; verification: INVALID: not signed"),
        "{out}"
    );
}
