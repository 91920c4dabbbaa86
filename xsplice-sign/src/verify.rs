//! Verification against a set of trusted certificates, as strict as the kernel.

use std::fmt;

use serde::Serialize;

use crate::algo::{HashAlgo, OID_RSA_ENCRYPTION, PkeyAlgo, digest};
use crate::cms::{OID_DATA, OID_SIGNED_DATA, Params, Pkcs7Info, SignerId};
use crate::keys::Certificate;
use crate::trailer::{Format, HEADER_LEN, MAGIC, Trailer, TrailerError, split};

/// A valid signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Index into the `trusted` slice of the certificate that verified it.
    pub certificate: usize,
    /// That certificate's subject (RFC 4514).
    pub subject: String,
    /// The trailer that was checked.
    pub trailer: Trailer,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "valid {} {}/{} signature by \"{}\"",
            self.trailer.format, self.trailer.algo, self.trailer.hash, self.subject
        )
    }
}

/// Why a file does not carry a valid signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not signed (the file does not end with \"~Module signature appended~\\n\")")]
    Unsigned,
    #[error("no trusted certificate given")]
    NoTrustedCertificates,
    #[error(
        "truncated signature trailer: {field} at offset {offset} needs {needed} bytes, only {available} available"
    )]
    Truncated {
        offset: usize,
        field: &'static str,
        needed: u64,
        available: u64,
    },
    #[error("malformed signature trailer: {field} at offset {offset}: {reason}")]
    Malformed {
        offset: usize,
        field: &'static str,
        reason: String,
    },
    #[error("unsupported algorithm: {what}")]
    UnsupportedAlgorithm { what: String },
    #[error("unsupported PKCS#7 signature: {what}")]
    Unsupported { what: String },
    #[error("wrong key id: the signature names key id {key_id}; trusted key ids: {trusted}")]
    WrongKeyId { key_id: String, trusted: String },
    #[error("unknown signer: {signer} is not one of the trusted certificates")]
    UnknownSigner { signer: String },
    #[error("bad signature: the payload does not match the signature made with \"{subject}\"")]
    BadSignature { subject: String },
}

impl From<TrailerError> for VerifyError {
    fn from(e: TrailerError) -> Self {
        match e {
            TrailerError::Truncated {
                offset,
                field,
                needed,
                available,
            } => VerifyError::Truncated {
                offset,
                field,
                needed,
                available,
            },
            TrailerError::Malformed {
                offset,
                field,
                reason,
            } => VerifyError::Malformed {
                offset,
                field,
                reason,
            },
            TrailerError::Unsupported {
                offset,
                field,
                value,
            } => VerifyError::UnsupportedAlgorithm {
                what: format!("{field} at offset {offset} is {value}"),
            },
        }
    }
}

/// The checks that need no certificate: `split`, then the structural rules of §5 of
/// `specs/signature.md` (header fields, supported algorithms, the CMS shape). Returns
/// the signed payload and the trailer when they hold.
pub fn check_trailer(bytes: &[u8]) -> Result<(&[u8], Trailer), VerifyError> {
    let (payload, trailer) = split(bytes)?;
    let trailer = trailer.ok_or(VerifyError::Unsigned)?;
    let header_off = bytes.len() - MAGIC.len() - HEADER_LEN;
    let h = &trailer.header;
    if let Some(i) = h.pad.iter().position(|&b| b != 0) {
        return Err(VerifyError::Malformed {
            offset: header_off + 5 + i,
            field: "__pad",
            reason: format!("must be zero, is {:#04x}", h.pad[i]),
        });
    }
    match trailer.format {
        Format::Legacy => legacy_structure(&trailer)?,
        Format::Pkcs7 => pkcs7_structure(&trailer, header_off)?,
    }
    Ok((payload, trailer))
}

/// Verify the signature trailer of `bytes` against `trusted` certificates.
pub fn verify(bytes: &[u8], trusted: &[Certificate]) -> Result<Verified, VerifyError> {
    let (payload, trailer) = check_trailer(bytes)?;
    if trusted.is_empty() {
        return Err(VerifyError::NoTrustedCertificates);
    }
    let candidates = match trailer.format {
        Format::Legacy => legacy_candidates(&trailer, trusted)?,
        Format::Pkcs7 => pkcs7_candidates(&trailer, trusted)?,
    };
    let hashed =
        digest(trailer.hash, payload).ok_or_else(|| VerifyError::UnsupportedAlgorithm {
            what: format!("hash {}", trailer.hash),
        })?;
    let mut first_subject = None;
    for index in candidates {
        let cert = &trusted[index];
        let Some(key) = cert.rsa_key() else {
            return Err(VerifyError::UnsupportedAlgorithm {
                what: format!(
                    "certificate \"{}\" holds a non-RSA key ({})",
                    cert.subject(),
                    cert.key_algorithm()
                ),
            });
        };
        let ok = match trailer.hash {
            HashAlgo::Sha256 => {
                key.pkcs1v15_verify_prehash::<sha2::Sha256>(&hashed, &trailer.signature)
            }
            HashAlgo::Sha384 => {
                key.pkcs1v15_verify_prehash::<sha2::Sha384>(&hashed, &trailer.signature)
            }
            HashAlgo::Sha512 => {
                key.pkcs1v15_verify_prehash::<sha2::Sha512>(&hashed, &trailer.signature)
            }
            _ => continue,
        };
        if ok.is_ok() {
            return Ok(Verified {
                certificate: index,
                subject: cert.subject().to_string(),
                trailer,
            });
        }
        first_subject.get_or_insert_with(|| cert.subject().to_string());
    }
    Err(VerifyError::BadSignature {
        subject: first_subject.unwrap_or_default(),
    })
}

fn trusted_key_ids(trusted: &[Certificate]) -> String {
    let ids: Vec<String> = trusted
        .iter()
        .map(|c| c.subject_key_id().map_or("(none)".to_string(), hex::encode))
        .collect();
    ids.join(", ")
}

fn legacy_structure(t: &Trailer) -> Result<(), VerifyError> {
    if t.algo != PkeyAlgo::Rsa {
        return Err(VerifyError::UnsupportedAlgorithm {
            what: format!("public-key algorithm {} (only RSA = 1)", t.algo),
        });
    }
    if !t.hash.is_supported() {
        return Err(VerifyError::UnsupportedAlgorithm {
            what: format!("hash {} (supported: sha256, sha384, sha512)", t.hash),
        });
    }
    Ok(())
}

/// Legacy: the certificates whose key id and signer name both match.
fn legacy_candidates(t: &Trailer, trusted: &[Certificate]) -> Result<Vec<usize>, VerifyError> {
    let by_id: Vec<usize> = (0..trusted.len())
        .filter(|&i| trusted[i].subject_key_id() == Some(&t.key_id[..]))
        .collect();
    if by_id.is_empty() {
        return Err(VerifyError::WrongKeyId {
            key_id: hex::encode(&t.key_id),
            trusted: trusted_key_ids(trusted),
        });
    }
    let named: Vec<usize> = by_id
        .into_iter()
        .filter(|&i| trusted[i].signer_name() == Some(&t.signer_raw[..]))
        .collect();
    if named.is_empty() {
        return Err(VerifyError::UnknownSigner {
            signer: format!(
                "\"{}: {}\"",
                t.signer.escape_debug(),
                hex::encode(&t.key_id)
            ),
        });
    }
    Ok(named)
}

fn unsupported(what: impl Into<String>) -> VerifyError {
    VerifyError::Unsupported { what: what.into() }
}

/// pkcs7: the header and the CMS structure must be what the kernel accepts.
fn pkcs7_structure(t: &Trailer, header_off: usize) -> Result<(), VerifyError> {
    let h = &t.header;
    let zero_fields = [
        (0, "algo", h.algo),
        (1, "hash", h.hash),
        (3, "signer_len", h.signer_len),
        (4, "key_id_len", h.key_id_len),
    ];
    for (at, field, value) in zero_fields {
        if value != 0 {
            return Err(VerifyError::Malformed {
                offset: header_off + at,
                field,
                reason: format!("must be 0 in a PKCS#7 trailer, is {value}"),
            });
        }
    }
    let Some(info) = &t.pkcs7 else {
        return Err(unsupported("no CMS data"));
    };
    check_pkcs7_structure(info, t.hash)
}

/// pkcs7: the certificates the signer identifier names.
fn pkcs7_candidates(t: &Trailer, trusted: &[Certificate]) -> Result<Vec<usize>, VerifyError> {
    let Some(info) = &t.pkcs7 else {
        return Err(unsupported("no CMS data"));
    };
    let matches: Vec<usize> = match &info.signer_id {
        SignerId::IssuerAndSerial {
            issuer,
            issuer_der,
            serial,
        } => {
            let m: Vec<usize> = (0..trusted.len())
                .filter(|&i| {
                    trusted[i].issuer_der() == &issuer_der[..] && trusted[i].serial() == &serial[..]
                })
                .collect();
            if m.is_empty() {
                return Err(VerifyError::UnknownSigner {
                    signer: format!("issuer \"{issuer}\" serial {}", hex::encode(serial)),
                });
            }
            m
        }
        SignerId::SubjectKeyId(skid) => {
            let m: Vec<usize> = (0..trusted.len())
                .filter(|&i| trusted[i].subject_key_id() == Some(&skid[..]))
                .collect();
            if m.is_empty() {
                return Err(VerifyError::WrongKeyId {
                    key_id: hex::encode(skid),
                    trusted: trusted_key_ids(trusted),
                });
            }
            m
        }
    };
    Ok(matches)
}

fn check_pkcs7_structure(info: &Pkcs7Info, hash: HashAlgo) -> Result<(), VerifyError> {
    if info.content_type != OID_SIGNED_DATA.to_string() {
        return Err(unsupported(format!(
            "content type {} is not signedData",
            info.content_type
        )));
    }
    if info.econtent_type != OID_DATA.to_string() {
        return Err(unsupported(format!(
            "encapsulated content type {} is not id-data",
            info.econtent_type
        )));
    }
    if info.econtent_present {
        return Err(unsupported("the content is embedded, not detached"));
    }
    if info.signer_infos != 1 {
        return Err(unsupported(format!(
            "{} SignerInfos (exactly one is accepted)",
            info.signer_infos
        )));
    }
    if info.signed_attributes != 0 {
        return Err(unsupported(format!(
            "the SignerInfo has {} signed attributes (the kernel rejects any)",
            info.signed_attributes
        )));
    }
    if info.unsigned_attributes != 0 {
        return Err(unsupported("the SignerInfo has unsigned attributes"));
    }
    let want_version = match info.signer_id {
        SignerId::IssuerAndSerial { .. } => 1,
        SignerId::SubjectKeyId(_) => 3,
    };
    if info.signer_version != want_version || info.signed_data_version != want_version {
        return Err(unsupported(format!(
            "SignedData version {} / SignerInfo version {} (this signer identifier needs {want_version})",
            info.signed_data_version, info.signer_version
        )));
    }
    if !hash.is_supported() {
        return Err(VerifyError::UnsupportedAlgorithm {
            what: format!(
                "digest {} ({}); supported: sha256, sha384, sha512",
                info.digest_algorithm.oid, hash
            ),
        });
    }
    if info.digest_algorithm.params == Params::Other {
        return Err(unsupported("digest algorithm parameters"));
    }
    if info.digest_algorithms.len() != 1
        || info.digest_algorithms[0].oid != info.digest_algorithm.oid
    {
        return Err(unsupported(
            "SignedData digestAlgorithms must list exactly the signer's digest",
        ));
    }
    if info.digest_algorithms[0].params == Params::Other {
        return Err(unsupported("digest algorithm parameters"));
    }
    let sig_alg = &info.signature_algorithm;
    let combined = hash.with_rsa_oid();
    if !(sig_alg.is(&OID_RSA_ENCRYPTION) || combined.is_some_and(|oid| sig_alg.is(&oid))) {
        return Err(VerifyError::UnsupportedAlgorithm {
            what: format!(
                "signature algorithm {} (rsaEncryption or {hash}WithRSAEncryption expected)",
                sig_alg.oid
            ),
        });
    }
    if sig_alg.params == Params::Other {
        return Err(unsupported("signature algorithm parameters"));
    }
    Ok(())
}
