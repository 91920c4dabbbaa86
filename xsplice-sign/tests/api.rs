//! The library API: trailer contents, the signer-name rule, every verify and sign
//! error, and the key formats.

mod common;

use std::process::Command;

use common::{PASSPHRASE, openssl, pki, run};
use xsplice_sign::{
    Certificate, Format, HashAlgo, KeyError, PkeyAlgo, SignError, SignOptions, SignerId,
    SignerIdKind, SigningKey, VerifyError, sign, split, verify,
};

fn p() -> &'static common::Pki {
    pki("api")
}

fn opts(format: Format, signer_id: SignerIdKind) -> SignOptions {
    SignOptions {
        format,
        hash: HashAlgo::Sha256,
        signer_id,
    }
}

fn legacy() -> SignOptions {
    SignOptions::default()
}

fn pkcs7() -> SignOptions {
    opts(Format::Pkcs7, SignerIdKind::IssuerSerial)
}

fn skid() -> SignOptions {
    opts(Format::Pkcs7, SignerIdKind::SubjectKeyId)
}

fn signed(o: SignOptions) -> Vec<u8> {
    sign(&p().elf(), &p().key("key.pem"), &p().cert("cert.pem"), &o).unwrap()
}

/// A certificate for key.pem with this subject (openssl `-subj` syntax).
fn cert_with_subject(subj: &str) -> Certificate {
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            p().path("key.pem").to_str().unwrap(),
            "-out",
            "c.pem",
            "-days",
            "365",
            "-subj",
            subj,
            "-addext",
            "subjectKeyIdentifier=hash",
        ],
    );
    Certificate::from_pem_or_der(&std::fs::read(dir.path().join("c.pem")).unwrap()).unwrap()
}

#[test]
fn signer_name_follows_the_linux_rule() {
    let cases = [
        (
            "/O=Example Org/CN=Example Org signing key",
            "Example Org signing key",
        ),
        (
            "/O=Acme Corporation/CN=Acme Corp kernel key",
            "Acme Corp kernel key",
        ),
        ("/O=Acme/CN=Kernel key", "Acme: Kernel key"),
        ("/O=ABCDEF/CN=ABCDEXYZ", "ABCDEF: ABCDEXYZ"),
        ("/O=Short/CN=Shorter", "Shorter"),
        ("/CN=Only CN/OU=unit", "Only CN"),
        ("/O=Only O", "Only O"),
        (
            "/C=DE/emailAddress=signer@example.org",
            "signer@example.org",
        ),
    ];
    let key = p().key("key.pem");
    for (subj, want) in cases {
        let cert = cert_with_subject(subj);
        assert_eq!(cert.signer_name(), Some(want.as_bytes()), "{subj}");
        let file = sign(&p().elf(), &key, &cert, &legacy()).unwrap();
        let t = split(&file).unwrap().1.unwrap();
        assert_eq!(t.signer, want);
        assert_eq!(
            verify(&file, std::slice::from_ref(&cert))
                .unwrap()
                .certificate,
            0
        );
    }
    let nameless = cert_with_subject("/C=DE/L=Berlin");
    assert_eq!(nameless.signer_name(), None);
    let err = sign(&p().elf(), &key, &nameless, &legacy()).unwrap_err();
    assert!(matches!(err, SignError::NoSignerName { .. }), "{err}");
}

#[test]
fn trailer_reports_every_field() {
    let cert = p().cert("cert.pem");
    let payload = p().elf();

    let file = signed(legacy());
    let (unsigned, t) = split(&file).unwrap();
    let t = t.unwrap();
    assert_eq!(unsigned, &payload[..]);
    assert_eq!(
        (t.format, t.algo, t.hash, t.id_type),
        (Format::Legacy, PkeyAlgo::Rsa, HashAlgo::Sha256, 1)
    );
    assert_eq!(t.key_id, cert.subject_key_id().unwrap());
    assert_eq!(t.signature.len(), 256);
    assert_eq!(
        (t.offset, t.len),
        (payload.len(), file.len() - payload.len())
    );
    assert_eq!(t.len, 40 + 23 + 20 + 2 + 256);
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["format"], "legacy");
    assert_eq!(json["algo"], "rsa");
    assert_eq!(json["hash"], "sha256");
    assert_eq!(json["signer"], "Example Org signing key");
    assert_eq!(json["key_id"], hex::encode(&t.key_id));
    assert_eq!(json["header"]["sig_len"], 258);
    let shown = t.to_string();
    assert!(
        shown.starts_with("legacy signature (rsa, sha256)"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("key id {}", hex::encode(&t.key_id))),
        "{shown}"
    );

    let file = signed(pkcs7());
    let t = split(&file).unwrap().1.unwrap();
    assert_eq!(
        (t.format, t.algo, t.hash, t.id_type),
        (Format::Pkcs7, PkeyAlgo::Rsa, HashAlgo::Sha256, 2)
    );
    assert_eq!((t.signer.as_str(), t.key_id.len()), ("", 0));
    let Some(SignerId::IssuerAndSerial { issuer, serial, .. }) = &t.signer_id else {
        panic!("{:?}", t.signer_id)
    };
    assert_eq!(issuer, "CN=Example Org signing key,O=Example Org");
    assert_eq!(
        hex::encode(serial),
        "62e267aae8990c8a5eb783d7423449c209147e08"
    );
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(
        json["signer_id"]["issuer_and_serial"]["serial"],
        "62e267aae8990c8a5eb783d7423449c209147e08"
    );
    assert_eq!(json["pkcs7"]["signed_attributes"], 0);
    assert_eq!(json["pkcs7"]["digest_algorithm"]["params"], "absent");
    assert!(t.to_string().contains("serial 62e267aa"), "{t}");

    let file = signed(skid());
    let t = split(&file).unwrap().1.unwrap();
    assert_eq!(
        t.signer_id,
        Some(SignerId::SubjectKeyId(
            cert.subject_key_id().unwrap().to_vec()
        ))
    );
    assert_eq!(t.key_id, cert.subject_key_id().unwrap());
    assert_eq!(t.pkcs7.as_ref().unwrap().signer_version, 3);
}

#[test]
fn verify_names_the_matching_certificate() {
    let trusted = [
        p().cert("other.pem"),
        p().cert("noski.pem"),
        p().cert("cert.pem"),
    ];
    for o in [legacy(), pkcs7(), skid()] {
        let ok = verify(&signed(o), &trusted).unwrap();
        assert_eq!(ok.certificate, 2);
        assert_eq!(ok.subject, "CN=Example Org signing key,O=Example Org");
        assert!(
            ok.to_string()
                .starts_with(&format!("valid {} rsa/sha256 signature by", o.format))
        );
    }
}

#[test]
fn verify_errors_are_distinct() {
    let cert = [p().cert("cert.pem")];
    let other = [p().cert("other.pem")];
    let renamed = [p().cert("renamed.pem")]; // same key, other subject and issuer
    assert_eq!(verify(&p().elf(), &cert), Err(VerifyError::Unsigned));
    assert_eq!(
        verify(&signed(legacy()), &[]),
        Err(VerifyError::NoTrustedCertificates)
    );

    let l = signed(legacy());
    assert!(matches!(
        verify(&l, &other),
        Err(VerifyError::WrongKeyId { .. })
    ));
    let err = verify(&l, &renamed).unwrap_err();
    assert!(matches!(err, VerifyError::UnknownSigner { .. }), "{err}");
    assert!(err.to_string().contains("Example Org signing key"), "{err}");

    let pk = signed(pkcs7());
    let err = verify(&pk, &other).unwrap_err();
    assert!(matches!(err, VerifyError::UnknownSigner { .. }), "{err}");
    assert!(err.to_string().contains("62e267aa"), "{err}");
    assert!(matches!(
        verify(&pk, &renamed),
        Err(VerifyError::UnknownSigner { .. })
    ));
    let sk = signed(skid());
    assert!(matches!(
        verify(&sk, &other),
        Err(VerifyError::WrongKeyId { .. })
    ));
    // The key id names the key, not the certificate: the renamed one holds the same key.
    assert_eq!(verify(&sk, &renamed).unwrap().certificate, 0);

    for file in [&l, &pk, &sk] {
        let mut bad = file.clone();
        bad[100] ^= 0x40;
        let err = verify(&bad, &cert).unwrap_err();
        assert!(matches!(err, VerifyError::BadSignature { .. }), "{err}");
        assert!(err.to_string().contains("Example Org signing key"), "{err}");
    }

    let header = l.len() - 40;
    let mut sha1 = l.clone();
    sha1[header + 1] = 2;
    let err = verify(&sha1, &cert).unwrap_err();
    assert!(
        matches!(&err, VerifyError::UnsupportedAlgorithm { what } if what.contains("sha1")),
        "{err}"
    );
    let mut dsa = l.clone();
    dsa[header] = 0;
    assert!(matches!(
        verify(&dsa, &cert),
        Err(VerifyError::UnsupportedAlgorithm { .. })
    ));
    let mut pgp = l.clone();
    pgp[header + 2] = 0;
    let err = verify(&pgp, &cert).unwrap_err();
    assert!(
        matches!(&err, VerifyError::UnsupportedAlgorithm { what } if what.contains("PGP")),
        "{err}"
    );

    let payload_len = p().elf().len();
    let cut = &l[payload_len + 10..];
    let err = verify(cut, &cert).unwrap_err();
    assert_eq!(
        err,
        VerifyError::Truncated {
            offset: cut.len() - 40 + 8,
            field: "sig_len + signer_len + key_id_len",
            needed: 23 + 20 + 258,
            available: (cut.len() - 40) as u64,
        }
    );

    let header = pk.len() - 40;
    let mut nonzero = pk.clone();
    nonzero[header + 3] = 1;
    let err = verify(&nonzero, &cert).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Malformed { field: "signer_len", offset, .. } if *offset == header + 3),
        "{err}"
    );
    let mut pad = pk.clone();
    pad[header + 6] = 1;
    let err = verify(&pad, &cert).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Malformed { field: "__pad", offset, .. } if *offset == header + 6),
        "{err}"
    );
    let mut der = pk.clone();
    der[payload_len] = 0x31; // outer SEQUENCE tag -> SET
    let err = verify(&der, &cert).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Malformed { field: "PKCS#7 SignedData", offset, .. } if *offset == payload_len),
        "{err}"
    );
}

/// Append a pkcs7 trailer around a CMS blob made by `openssl cms -sign`.
fn openssl_cms_signed(extra: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let payload = p().elf();
    std::fs::write(dir.path().join("payload"), &payload).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir.path())
        .args([
            "cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256", "-in", "payload",
            "-out", "sig",
        ])
        .arg("-signer")
        .arg(p().path("cert.pem"))
        .arg("-inkey")
        .arg(p().path("key.pem"))
        .args(extra);
    run(&mut cmd);
    let sig = std::fs::read(dir.path().join("sig")).unwrap();
    let mut file = payload;
    file.extend_from_slice(&sig);
    file.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0]);
    file.extend_from_slice(&u32::try_from(sig.len()).unwrap().to_be_bytes());
    file.extend_from_slice(xsplice_sign::MAGIC);
    file
}

#[test]
fn pkcs7_structure_rules_match_the_kernel() {
    let cert = [p().cert("cert.pem")];
    // openssl's own -noattr -nocerts signature is the same bytes as ours.
    let plain = openssl_cms_signed(&["-noattr", "-nocerts", "-nosmimecap"]);
    assert_eq!(plain, signed(pkcs7()));
    // Embedded certificates are ignored (only trusted ones count).
    let with_certs = openssl_cms_signed(&["-noattr"]);
    let t = split(&with_certs).unwrap().1.unwrap();
    assert_eq!(t.pkcs7.as_ref().unwrap().certificates, 1);
    assert_eq!(verify(&with_certs, &cert).unwrap().certificate, 0);
    // Signed attributes: rejected like the kernel does.
    let with_attrs = openssl_cms_signed(&["-nocerts"]);
    let t = split(&with_attrs).unwrap().1.unwrap();
    assert!(t.pkcs7.as_ref().unwrap().signed_attributes >= 3);
    let err = xsplice_sign::check_trailer(&with_attrs).unwrap_err();
    assert_eq!(verify(&with_attrs, &cert).unwrap_err(), err);
    assert_eq!(verify(&with_attrs, &[]).unwrap_err(), err);
    let (payload, t) = xsplice_sign::check_trailer(&with_certs).unwrap();
    assert_eq!((payload, t.format), (&p().elf()[..], Format::Pkcs7));
    assert!(
        matches!(&err, VerifyError::Unsupported { what } if what.contains("signed attributes")),
        "{err}"
    );
    // Embedded content: not detached.
    let attached = openssl_cms_signed(&["-noattr", "-nocerts", "-nodetach"]);
    let err = verify(&attached, &cert).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Unsupported { what } if what.contains("detached")),
        "{err}"
    );
}

#[test]
fn sign_refuses_bad_inputs_and_restrips() {
    let (key, cert) = (p().key("key.pem"), p().cert("cert.pem"));
    let elf = p().elf();
    let err = sign(
        b"hello, world, not an object file at all, just text............",
        &key,
        &cert,
        &legacy(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, SignError::NotElf(e) if e.field == "e_ident magic"),
        "{err}"
    );
    let err = sign(&elf[..elf.len() - 10], &key, &cert, &legacy()).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let err = sign(&elf, &p().key("other.key.pem"), &cert, &legacy()).unwrap_err();
    assert_eq!(
        err,
        SignError::KeyMismatch {
            subject: "CN=Example Org signing key,O=Example Org".into()
        }
    );
    let noski = p().cert("noski.pem");
    let err = sign(&elf, &key, &noski, &legacy()).unwrap_err();
    assert!(matches!(err, SignError::NoSubjectKeyId { .. }), "{err}");
    assert!(err.to_string().contains("subjectKeyIdentifier"), "{err}");
    assert!(matches!(
        sign(&elf, &key, &noski, &skid()),
        Err(SignError::NoSubjectKeyId { .. })
    ));
    let ok = sign(&elf, &key, &noski, &pkcs7()).unwrap();
    assert_eq!(verify(&ok, &[noski]).unwrap().certificate, 0);
    let sha1 = SignOptions {
        hash: HashAlgo::Sha1,
        ..legacy()
    };
    assert_eq!(
        sign(&elf, &key, &cert, &sha1),
        Err(SignError::UnsupportedHash(HashAlgo::Sha1))
    );

    // Re-signing replaces the old trailer, whatever its format.
    let once = signed(legacy());
    let again = sign(&once, &key, &cert, &pkcs7()).unwrap();
    assert_eq!(again, signed(pkcs7()));
    assert_eq!(sign(&again, &key, &cert, &legacy()).unwrap(), once);
    let mut broken = elf.clone();
    broken.extend_from_slice(xsplice_sign::MAGIC);
    assert!(matches!(
        sign(&broken, &key, &cert, &legacy()),
        Err(SignError::ExistingTrailer(_))
    ));
}

#[test]
fn every_key_encoding_gives_the_same_signature() {
    let cert = p().cert("cert.pem");
    let want = signed(legacy());
    let pass = Some(PASSPHRASE.as_bytes());
    for (file, passphrase) in [
        ("key.pem", None),
        ("key.der", None),
        ("key.pkcs1.pem", None),
        ("key.pkcs1.der", None),
        ("key.enc.pem", pass),
        ("key.enc.der", pass),
        ("key.legacyenc.pem", pass),
        ("key.legacyenc.des3.pem", pass),
        ("combined.pem", None),
    ] {
        let key = SigningKey::from_pem_or_der(&p().bytes(file), passphrase)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(key.matches(&cert), "{file}");
        assert_eq!(
            sign(&p().elf(), &key, &cert, &legacy()).unwrap(),
            want,
            "{file}"
        );
    }
    let combined = SigningKey::from_pem_or_der(&p().bytes("combined.pem"), None).unwrap();
    assert_eq!(combined.embedded_certificate(), Some(&cert));
    assert_eq!(
        Certificate::from_pem_or_der(&p().bytes("combined.pem")).unwrap(),
        cert
    );
    assert_eq!(p().cert("cert.der"), cert);
}

#[test]
fn key_loading_errors_are_clear() {
    let load = |f: &str, pw: Option<&str>| {
        SigningKey::from_pem_or_der(&p().bytes(f), pw.map(str::as_bytes)).unwrap_err()
    };
    assert_eq!(load("key.enc.pem", None), KeyError::NeedPassphrase);
    assert_eq!(load("key.enc.der", None), KeyError::NeedPassphrase);
    assert!(matches!(
        load("key.enc.pem", Some("wrong")),
        KeyError::Decrypt { .. }
    ));
    assert_eq!(load("key.legacyenc.pem", None), KeyError::NeedPassphrase);
    for f in ["key.legacyenc.pem", "key.legacyenc.des3.pem"] {
        let err = load(f, Some("wrong"));
        assert!(matches!(err, KeyError::Decrypt { .. }), "{f}: {err}");
    }
    let relabeled = String::from_utf8(p().bytes("key.legacyenc.pem"))
        .unwrap()
        .replace("RSA PRIVATE KEY", "PRIVATE KEY");
    let err =
        SigningKey::from_pem_or_der(relabeled.as_bytes(), Some(PASSPHRASE.as_bytes())).unwrap_err();
    assert_eq!(err, KeyError::LegacyPemEncryption);
    assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
    let err = load("cert.pem", None);
    assert_eq!(
        err,
        KeyError::NoPemBlock {
            expected: "PRIVATE KEY",
            found: "CERTIFICATE".into()
        }
    );
    let err = load("t.c", None);
    assert!(matches!(err, KeyError::Der { .. }), "{err}");
    let err = Certificate::from_pem_or_der(&p().bytes("key.pem")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no CERTIFICATE PEM block found (blocks present: PRIVATE KEY)"
    );
    let err = Certificate::from_pem_or_der(&p().bytes("key.der")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("not a X.509 certificate (as PEM or DER)"),
        "{err}"
    );
    let two = [p().bytes("cert.pem"), p().bytes("other.pem")].concat();
    assert_eq!(Certificate::all_from_pem_or_der(&two).unwrap().len(), 2);
}

/// Both payload encodings are signed the same way: the trailer goes after the ELF
/// file, verifies, and stripping gives back the exact payload, which still reads in
/// its own encoding.
#[test]
fn both_payload_encodings_sign_verify_and_strip() {
    use xsplice_payload::{Flavour, fixtures, read::read, write::to_bytes};
    for (model, flavour) in [
        (fixtures::full(), Flavour::Xsplice),
        (fixtures::livepatch_full(), Flavour::Livepatch),
    ] {
        let payload = to_bytes(&model, flavour).unwrap();
        for o in [legacy(), pkcs7()] {
            let s = sign(&payload, &p().key("key.pem"), &p().cert("cert.pem"), &o).unwrap();
            assert_eq!(
                &s[..payload.len()],
                &payload[..],
                "{flavour}: appended only"
            );
            verify(&s, &[p().cert("cert.pem")]).unwrap();
            let (stripped, trailer) = split(&s).unwrap();
            assert!(trailer.is_some());
            assert_eq!(stripped, &payload[..]);
            assert_eq!(read(stripped).unwrap().flavour, flavour);
        }
    }
}
