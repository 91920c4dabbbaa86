//! Linux-module-style signatures for xSplice payloads (`specs/signature.md`).
//!
//! A signed payload is the unsigned ELF bytes followed by a trailer that ends with
//! `"~Module signature appended~\n"`. Two trailer formats exist: the legacy one the
//! xSplice design describes (raw RSA signature, signer name, key id) and the PKCS#7
//! one of Linux 4.3+ (detached CMS SignedData), byte-identical to Linux's `sign-file`.
//!
//! - [`split`] / [`strip`]: read the trailer, recover the unsigned bytes (never panic).
//! - [`sign`]: sign a payload (re-signing strips the old trailer first).
//! - [`verify`]: check a signature against trusted certificates.
//! - [`Certificate`], [`SigningKey`]: PEM/DER loading.
//! - [`write_atomic`]: replace a file atomically, keeping its mode.

mod algo;
mod cms;
mod elf;
mod fsio;
mod fuzz;
mod keys;
mod legacy_pem;
mod sign;
mod trailer;
mod verify;

pub use algo::{HashAlgo, PkeyAlgo};
pub use cms::{AlgId, Params, Pkcs7Info, SignerId};
pub use elf::{ElfError, check_elf, minimal_elf};
pub use fsio::{WriteError, write_atomic};
pub use fuzz::fuzz_split;
pub use keys::{Certificate, KeyError, SigningKey};
pub use sign::{SignError, SignOptions, SignerIdKind, sign};
pub use trailer::{
    FIXED_LEN, Format, HEADER_LEN, Header, ID_PKCS7, ID_X509, MAGIC, Trailer, TrailerError, split,
    strip,
};
pub use verify::{Verified, VerifyError, check_trailer, verify};

/// The environment variable the `xsplice-sign` binary reads an encrypted key's
/// passphrase from (the library itself takes the passphrase as an argument).
pub const PASSPHRASE_ENV: &str = "XSPLICE_SIGN_PASSPHRASE";

/// Serde helpers: byte strings as lower-case hex.
pub(crate) mod hexser {
    use serde::Serializer;

    pub fn bytes<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
}
