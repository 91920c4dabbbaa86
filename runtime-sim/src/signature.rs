//! Signature enforcement at UPLOAD (`specs/signature.md`, verified by `xsplice-sign`).
//!
//! Without trusted certificates no signature is required; a trailer, if present, is
//! split off (and must be well formed). With certificates, a payload must end with a
//! trailer that one of them verifies, else UPLOAD fails with `EACCES`. Either way
//! only the signed bytes before the trailer are read as the ELF payload.

use std::path::{Path, PathBuf};

use xsplice_sign::{Certificate, VerifyError};

use crate::errno::{Errno, Failure, fail};

/// The certificates UPLOAD trusts.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    certs: Vec<Certificate>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a certificate: {why}")]
    Bad { path: PathBuf, why: String },
}

impl Trust {
    /// No certificates: no signature is required.
    pub fn none() -> Trust {
        Trust::default()
    }

    pub fn new(certs: Vec<Certificate>) -> Trust {
        Trust { certs }
    }

    /// Every certificate (PEM, possibly several per file, or DER) of these files.
    pub fn from_paths(paths: &[impl AsRef<Path>]) -> Result<Trust, TrustError> {
        let mut certs = Vec::new();
        for p in paths {
            let path = p.as_ref();
            let bytes = std::fs::read(path).map_err(|source| TrustError::Io {
                path: path.into(),
                source,
            })?;
            let mut found =
                Certificate::all_from_pem_or_der(&bytes).map_err(|e| TrustError::Bad {
                    path: path.into(),
                    why: e.to_string(),
                })?;
            if found.is_empty() {
                return Err(TrustError::Bad {
                    path: path.into(),
                    why: "no certificate in the file".into(),
                });
            }
            certs.append(&mut found);
        }
        Ok(Trust { certs })
    }

    /// Signatures are required.
    pub fn enforcing(&self) -> bool {
        !self.certs.is_empty()
    }

    pub fn certificates(&self) -> &[Certificate] {
        &self.certs
    }

    /// The bytes to read as the payload, after enforcing the signature policy.
    pub fn signed_part<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8], Failure> {
        if self.certs.is_empty() {
            return xsplice_sign::split(bytes)
                .map(|(payload, _)| payload)
                .map_err(|e| fail(Errno::EINVAL, format!("signature trailer: {e}")));
        }
        match xsplice_sign::verify(bytes, &self.certs) {
            Ok(v) => Ok(&bytes[..v.trailer.offset]),
            Err(VerifyError::Unsigned) => Err(fail(
                Errno::EACCES,
                "payload is not signed and signatures are enforced",
            )),
            Err(e) => Err(fail(Errno::EACCES, format!("signature rejected: {e}"))),
        }
    }
}
