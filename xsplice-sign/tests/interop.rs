//! Interoperability with the real tools: `openssl cms -verify`, `openssl dgst -verify`
//! and Debian's packaged Linux `sign-file`.

mod common;

use std::process::Command;

use common::{SIGN_FILE, openssl, pki, run};
use xsplice_sign::{
    Format, HashAlgo, SignOptions, SignerIdKind, Trailer, sign, split, strip, verify,
};

fn pki_() -> &'static common::Pki {
    pki("interop")
}

const HASHES: [HashAlgo; 3] = [HashAlgo::Sha256, HashAlgo::Sha384, HashAlgo::Sha512];

fn opts(format: Format, hash: HashAlgo, signer_id: SignerIdKind) -> SignOptions {
    SignOptions {
        format,
        hash,
        signer_id,
    }
}

/// Signature field of a trailer: the bytes between the signed payload (plus signer
/// and key id) and the 12-byte header.
fn sig_field<'a>(signed: &'a [u8], t: &Trailer) -> &'a [u8] {
    let end = signed.len() - 40;
    &signed[end - t.header.sig_len as usize..end]
}

#[test]
fn openssl_cms_verify_accepts_every_pkcs7_signature_and_rejects_changed_payloads() {
    let p = pki_();
    let (key, cert) = (p.key("key.pem"), p.cert("cert.pem"));
    let payload = p.elf();
    for hash in HASHES {
        for sid in [SignerIdKind::IssuerSerial, SignerIdKind::SubjectKeyId] {
            let signed = sign(&payload, &key, &cert, &opts(Format::Pkcs7, hash, sid)).unwrap();
            let (unsigned, t) = split(&signed).unwrap();
            assert_eq!(unsigned, &payload[..]);
            let t = t.unwrap();
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("sig.p7s"), sig_field(&signed, &t)).unwrap();
            std::fs::write(dir.path().join("payload"), unsigned).unwrap();
            let mut tampered = unsigned.to_vec();
            let mid = tampered.len() / 2;
            tampered[mid] ^= 0x01;
            std::fs::write(dir.path().join("tampered"), &tampered).unwrap();
            let cms_verify = |content: &str| {
                Command::new("openssl")
                    .current_dir(dir.path())
                    .args([
                        "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.p7s",
                    ])
                    .args(["-content", content, "-noverify", "-out", "/dev/null"])
                    .arg("-certfile")
                    .arg(p.path("cert.pem"))
                    .output()
                    .unwrap()
            };
            let good = cms_verify("payload");
            assert!(
                good.status.success(),
                "{hash:?} {sid:?}: {}",
                String::from_utf8_lossy(&good.stderr)
            );
            assert!(String::from_utf8_lossy(&good.stderr).contains("Verification successful"));
            let bad = cms_verify("tampered");
            assert!(
                !bad.status.success(),
                "{hash:?} {sid:?}: tampered payload accepted"
            );
            assert!(String::from_utf8_lossy(&bad.stderr).contains("Verification failure"));
        }
    }
}

#[test]
fn openssl_dgst_verify_accepts_the_legacy_raw_signature() {
    let p = pki_();
    let (key, cert) = (p.key("key.pem"), p.cert("cert.pem"));
    let payload = p.elf();
    for hash in HASHES {
        let signed = sign(
            &payload,
            &key,
            &cert,
            &opts(Format::Legacy, hash, SignerIdKind::IssuerSerial),
        )
        .unwrap();
        let t = split(&signed).unwrap().1.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sig"), &t.signature).unwrap();
        std::fs::write(dir.path().join("payload"), &payload).unwrap();
        let out = openssl(
            dir.path(),
            &[
                "dgst",
                &format!("-{}", hash.name()),
                "-verify",
                p.path("pub.pem").to_str().unwrap(),
                "-signature",
                "sig",
                "payload",
            ],
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Verified OK");
        // The raw signature is also exactly what openssl itself produces.
        let ours = openssl(
            dir.path(),
            &[
                "dgst",
                &format!("-{}", hash.name()),
                "-sign",
                p.path("key.pem").to_str().unwrap(),
                "payload",
            ],
        );
        assert_eq!(ours.stdout, t.signature, "{hash:?}");
        // The legacy key id is the certificate's subjectKeyIdentifier.
        let ski = openssl(
            dir.path(),
            &[
                "x509",
                "-in",
                p.path("cert.pem").to_str().unwrap(),
                "-noout",
                "-ext",
                "subjectKeyIdentifier",
            ],
        );
        let ski_hex: String = String::from_utf8_lossy(&ski.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .replace(':', "")
            .to_lowercase();
        assert_eq!(hex::encode(&t.key_id), ski_hex);
        assert_eq!(t.signer, "Example Org signing key");
    }
}

fn sign_file(args: &[&str], payload: &[u8]) -> Vec<u8> {
    let p = pki_();
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("module.o");
    std::fs::write(&module, payload).unwrap();
    run(Command::new(SIGN_FILE)
        .args(args)
        .arg(p.path("key.pem"))
        .arg(p.path("cert.der"))
        .arg(&module));
    std::fs::read(&module).unwrap()
}

#[test]
fn pkcs7_output_is_byte_identical_to_linux_sign_file() {
    let p = pki_();
    let (key, cert) = (p.key("key.pem"), p.cert("cert.der"));
    let payload = p.elf();
    for hash in HASHES {
        for (flag, sid) in [
            (None, SignerIdKind::IssuerSerial),
            (Some("-k"), SignerIdKind::SubjectKeyId),
        ] {
            let mut args: Vec<&str> = flag.into_iter().collect();
            let name = hash.name();
            args.push(&name);
            let theirs = sign_file(&args, &payload);
            let ours = sign(&payload, &key, &cert, &opts(Format::Pkcs7, hash, sid)).unwrap();
            assert_eq!(ours, theirs, "{hash:?} {sid:?}");
        }
    }
}

#[test]
fn our_verify_accepts_what_sign_file_writes() {
    let p = pki_();
    let payload = p.elf();
    let trusted = [p.cert("other.pem"), p.cert("cert.pem")];
    for hash in HASHES {
        for flag in [None, Some("-k")] {
            let mut args: Vec<&str> = flag.into_iter().collect();
            let name = hash.name();
            args.push(&name);
            let theirs = sign_file(&args, &payload);
            let ok = verify(&theirs, &trusted).unwrap();
            assert_eq!(ok.certificate, 1);
            assert_eq!(ok.trailer.format, Format::Pkcs7);
            assert_eq!(ok.trailer.hash, hash);
            assert_eq!(strip(&theirs).unwrap(), &payload[..]);
        }
    }
}

#[test]
fn sign_file_double_signing_is_undone_by_strip_and_by_resigning() {
    let p = pki_();
    let payload = p.elf();
    let once = sign_file(&["sha256"], &payload);
    let twice = sign_file(&["sha256"], &once);
    assert_eq!(twice.len(), 2 * once.len() - payload.len());
    // The outer signature covers the inner trailer, and verifies as such.
    let ok = verify(&twice, &[p.cert("cert.pem")]).unwrap();
    assert_eq!(ok.trailer.offset, once.len());
    assert_eq!(strip(&twice).unwrap(), &payload[..]);
    let resigned = sign(
        &twice,
        &p.key("key.pem"),
        &p.cert("cert.pem"),
        &opts(Format::Pkcs7, HashAlgo::Sha256, SignerIdKind::IssuerSerial),
    )
    .unwrap();
    assert_eq!(resigned, once);
}

#[test]
fn payloads_from_the_payload_writer_sign_verify_and_read_back() {
    let p = pki_();
    let (key, cert) = (p.key("key.pem"), p.cert("cert.pem"));
    for model in [
        xsplice_payload::fixtures::xsa125(),
        xsplice_payload::fixtures::full(),
    ] {
        let bytes =
            xsplice_payload::write::to_bytes(&model, xsplice_payload::Flavour::Xsplice).unwrap();
        for format in [Format::Legacy, Format::Pkcs7] {
            let signed = sign(
                &bytes,
                &key,
                &cert,
                &opts(format, HashAlgo::Sha256, SignerIdKind::IssuerSerial),
            )
            .unwrap();
            verify(&signed, std::slice::from_ref(&cert)).unwrap();
            let (unsigned, _) = split(&signed).unwrap();
            let back = xsplice_payload::read::read(unsigned).unwrap();
            assert_eq!(back.payload, model);
        }
    }
}
