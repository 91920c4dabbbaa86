//! Signing: strip any old trailer, check the ELF, sign, append one trailer.

use crate::algo::{HashAlgo, digest};
use crate::cms::{self, SidInput};
use crate::elf::{ElfError, check_elf};
use crate::keys::{Certificate, SigningKey};
use crate::trailer::{self, Format, TrailerError, strip};

/// How a pkcs7 signature names its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignerIdKind {
    /// issuerAndSerialNumber (`sign-file` default).
    #[default]
    IssuerSerial,
    /// subjectKeyIdentifier (`sign-file -k`).
    SubjectKeyId,
}

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignOptions {
    pub format: Format,
    pub hash: HashAlgo,
    /// pkcs7 only.
    pub signer_id: SignerIdKind,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            format: Format::Legacy,
            hash: HashAlgo::Sha256,
            signer_id: SignerIdKind::IssuerSerial,
        }
    }
}

/// Why a payload could not be signed. Nothing is produced in any of these cases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    NotElf(#[from] ElfError),
    #[error(
        "the input ends with a signature trailer that cannot be read, so it cannot be stripped before re-signing: {0}"
    )]
    ExistingTrailer(#[source] TrailerError),
    #[error("hash {0} is not supported for signing (use sha256, sha384 or sha512)")]
    UnsupportedHash(HashAlgo),
    #[error("certificate \"{subject}\" does not hold an RSA key (algorithm {oid})")]
    NotRsaCertificate { subject: String, oid: String },
    #[error("the private key does not match certificate \"{subject}\"")]
    KeyMismatch { subject: String },
    #[error(
        "certificate \"{subject}\" has no subjectKeyIdentifier extension, which {why} needs (create it with `-addext subjectKeyIdentifier=hash`)"
    )]
    NoSubjectKeyId { subject: String, why: &'static str },
    #[error(
        "certificate \"{subject}\" has no O, CN or emailAddress in its subject, so the legacy format has no signer name"
    )]
    NoSignerName { subject: String },
    #[error("{field} is {len} bytes; the legacy header stores at most {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("RSA signing failed: {0}")]
    Rsa(String),
    #[error("encoding the PKCS#7 signature failed: {0}")]
    Encode(String),
}

fn rsa_sign(key: &rsa::PrivateKey, hash: HashAlgo, digest: &[u8]) -> Result<Vec<u8>, SignError> {
    let r = match hash {
        HashAlgo::Sha256 => key.pkcs1v15_sign_prehash::<sha2::Sha256>(digest),
        HashAlgo::Sha384 => key.pkcs1v15_sign_prehash::<sha2::Sha384>(digest),
        HashAlgo::Sha512 => key.pkcs1v15_sign_prehash::<sha2::Sha512>(digest),
        other => return Err(SignError::UnsupportedHash(other)),
    };
    r.map_err(|e| SignError::Rsa(e.to_string()))
}

/// Sign `payload` (which may already carry trailers: they are stripped first) and
/// return payload ‖ trailer.
pub fn sign(
    payload: &[u8],
    key: &SigningKey,
    cert: &Certificate,
    opts: &SignOptions,
) -> Result<Vec<u8>, SignError> {
    if !opts.hash.is_supported() {
        return Err(SignError::UnsupportedHash(opts.hash));
    }
    let payload = strip(payload).map_err(SignError::ExistingTrailer)?;
    check_elf(payload)?;
    if cert.rsa_key().is_none() {
        return Err(SignError::NotRsaCertificate {
            subject: cert.subject().to_string(),
            oid: cert.key_algorithm().to_string(),
        });
    }
    if !key.matches(cert) {
        return Err(SignError::KeyMismatch {
            subject: cert.subject().to_string(),
        });
    }
    let no_skid = |why| SignError::NoSubjectKeyId {
        subject: cert.subject().to_string(),
        why,
    };
    // Check everything the chosen format needs before the (slow) RSA operation.
    let legacy_fields = match opts.format {
        Format::Legacy => {
            let key_id = cert
                .subject_key_id()
                .ok_or_else(|| no_skid("the legacy format's key id"))?;
            let signer = cert.signer_name().ok_or_else(|| SignError::NoSignerName {
                subject: cert.subject().to_string(),
            })?;
            for (field, len) in [("signer name", signer.len()), ("key id", key_id.len())] {
                if len > usize::from(u8::MAX) {
                    return Err(SignError::TooLong {
                        field,
                        len,
                        max: usize::from(u8::MAX),
                    });
                }
            }
            Some((signer, key_id))
        }
        Format::Pkcs7 => None,
    };
    let sid = match opts.signer_id {
        SignerIdKind::IssuerSerial => SidInput::IssuerSerial {
            issuer_der: cert.issuer_der(),
            serial_der: cert.serial_der(),
        },
        SignerIdKind::SubjectKeyId => SidInput::SubjectKeyId(
            cert.subject_key_id()
                .ok_or_else(|| no_skid("--skid (subjectKeyIdentifier signer id)"))?,
        ),
    };

    let hashed = digest(opts.hash, payload).ok_or(SignError::UnsupportedHash(opts.hash))?;
    let signature = rsa_sign(key.rsa(), opts.hash, &hashed)?;
    let mut out = Vec::with_capacity(payload.len() + signature.len() + 512);
    out.extend_from_slice(payload);
    match legacy_fields {
        Some((signer, key_id)) => {
            let hash_id = opts
                .hash
                .legacy_id()
                .ok_or(SignError::UnsupportedHash(opts.hash))?;
            if usize::from(u16::MAX) < signature.len() {
                return Err(SignError::TooLong {
                    field: "RSA signature",
                    len: signature.len(),
                    max: usize::from(u16::MAX),
                });
            }
            trailer::append_legacy(&mut out, hash_id, signer, key_id, &signature)
                .ok_or_else(|| SignError::Encode("legacy field lengths".to_string()))?;
        }
        None => {
            let der = cms::encode(opts.hash, sid, &signature)
                .map_err(|e| SignError::Encode(e.to_string()))?;
            trailer::append_pkcs7(&mut out, &der)
                .ok_or_else(|| SignError::Encode("CMS blob larger than 4 GiB".to_string()))?;
        }
    }
    Ok(out)
}
