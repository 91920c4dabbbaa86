//! Test keys, certificates and ELF objects, generated at test time with the real
//! `openssl` and `gcc` into a directory under CARGO_TARGET_TMPDIR (one per test
//! binary, recreated on every run).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use xsplice_sign::{Certificate, SigningKey};

pub const PASSPHRASE: &str = "correct horse battery staple";
pub const SIGN_FILE: &str = "/usr/lib/linux-kbuild-6.1/scripts/sign-file";

pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    pub fn cert(&self, name: &str) -> Certificate {
        Certificate::from_pem_or_der(&self.bytes(name)).unwrap()
    }

    pub fn key(&self, name: &str) -> SigningKey {
        SigningKey::from_pem_or_der(&self.bytes(name), None).unwrap()
    }

    /// The gcc-built relocatable object.
    pub fn elf(&self) -> Vec<u8> {
        self.bytes("t.o")
    }
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    run(Command::new("openssl").current_dir(dir).args(args))
}

fn self_signed(dir: &Path, key: &str, out: &str, subj: &str, ski: &str) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            key,
            "-out",
            out,
            "-days",
            "36500",
            "-subj",
            subj,
            "-addext",
            ski,
            "-addext",
            "authorityKeyIdentifier=none",
            "-set_serial",
            "0x62e267aae8990c8a5eb783d7423449c209147e08",
        ],
    );
}

fn generate(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for key in ["key.pem", "other.key.pem"] {
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                key,
            ],
        );
    }
    let ski = "subjectKeyIdentifier=hash";
    self_signed(
        dir,
        "key.pem",
        "cert.pem",
        "/O=Example Org/CN=Example Org signing key",
        ski,
    );
    self_signed(
        dir,
        "other.key.pem",
        "other.pem",
        "/O=Other Org/CN=Other key",
        ski,
    );
    self_signed(
        dir,
        "key.pem",
        "noski.pem",
        "/CN=No SKI",
        "subjectKeyIdentifier=none",
    );
    self_signed(
        dir,
        "key.pem",
        "renamed.pem",
        "/O=Renamed/CN=Renamed key",
        ski,
    );
    openssl(
        dir,
        &[
            "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
        ],
    );
    // Key encodings.
    openssl(
        dir,
        &[
            "pkey", "-in", "key.pem", "-outform", "DER", "-out", "key.der",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "key.pem",
            "-traditional",
            "-out",
            "key.pkcs1.pem",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "key.pem",
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "key.pkcs1.der",
        ],
    );
    let pass = format!("pass:{PASSPHRASE}");
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "key.pem",
            "-v2",
            "aes-256-cbc",
            "-passout",
            &pass,
            "-out",
            "key.enc.pem",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "key.pem",
            "-v2",
            "aes-128-cbc",
            "-passout",
            &pass,
            "-outform",
            "DER",
            "-out",
            "key.enc.der",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "key.pem",
            "-traditional",
            "-aes256",
            "-passout",
            &pass,
            "-out",
            "key.legacyenc.pem",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "key.pem",
            "-traditional",
            "-des3",
            "-passout",
            &pass,
            "-out",
            "key.legacyenc.des3.pem",
        ],
    );
    let combined = [
        std::fs::read(dir.join("key.pem")).unwrap(),
        std::fs::read(dir.join("cert.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("combined.pem"), combined).unwrap();
    openssl(
        dir,
        &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
    );
    std::fs::write(
        dir.join("t.c"),
        "static int helper(int x) { return x * 3 + 1; }\nint counter = 5;\nint entry(int x) { return helper(x) + counter; }\n",
    )
    .unwrap();
    run(Command::new("gcc")
        .current_dir(dir)
        .args(["-c", "-O2", "t.c", "-o", "t.o"]));
}

/// The fixture directory for the test binary `name`, generated once per run.
pub fn pki(name: &str) -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("xsplice-sign-{name}"));
        generate(&dir);
        Pki { dir }
    })
}
