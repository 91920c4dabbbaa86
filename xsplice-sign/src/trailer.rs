//! The signature trailer: its byte layout, `split`, `strip` and the encoder.
//!
//! ```text
//! payload ‖ signer (signer_len) ‖ key id (key_id_len) ‖ signature (sig_len)
//!         ‖ header (12 bytes) ‖ "~Module signature appended~\n" (28 bytes)
//! ```
//! Only the length fields in the header tell where the variable fields start, so a
//! trailer is read from the end of the file backwards. See `specs/signature.md`.

use std::fmt;

use serde::Serialize;

use crate::algo::{HashAlgo, PkeyAlgo};
use crate::cms::{self, Pkcs7Info, SignerId};
use crate::hexser;

/// The marker that ends every signed file (28 bytes, no NUL).
pub const MAGIC: &[u8; 28] = b"~Module signature appended~\n";
/// Size of the fixed header (`struct module_signature`) before the magic.
pub const HEADER_LEN: usize = 12;
/// Bytes of every trailer that do not depend on its contents.
pub const FIXED_LEN: usize = HEADER_LEN + MAGIC.len();

/// `id_type` value of the legacy format (`PKEY_ID_X509`).
pub const ID_X509: u8 = 1;
/// `id_type` value of the pkcs7 format (`PKEY_ID_PKCS7`).
pub const ID_PKCS7: u8 = 2;

/// Which of the two trailer formats a file carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Linux 3.7–4.2: signer name, key id and raw RSA signature (the design's header).
    #[default]
    Legacy,
    /// Linux 4.3+: a detached CMS SignedData, header fields zero but `id_type`.
    Pkcs7,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Legacy => "legacy",
            Format::Pkcs7 => "pkcs7",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The 12-byte header exactly as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Header {
    pub algo: u8,
    pub hash: u8,
    pub id_type: u8,
    pub signer_len: u8,
    pub key_id_len: u8,
    pub pad: [u8; 3],
    pub sig_len: u32,
}

impl Header {
    fn parse(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            algo: b[0],
            hash: b[1],
            id_type: b[2],
            signer_len: b[3],
            key_id_len: b[4],
            pad: [b[5], b[6], b[7]],
            sig_len: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }

    fn to_bytes(self) -> [u8; HEADER_LEN] {
        let s = self.sig_len.to_be_bytes();
        [
            self.algo,
            self.hash,
            self.id_type,
            self.signer_len,
            self.key_id_len,
            self.pad[0],
            self.pad[1],
            self.pad[2],
            s[0],
            s[1],
            s[2],
            s[3],
        ]
    }
}

/// A parsed signature trailer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trailer {
    pub format: Format,
    /// Legacy: the header's `algo`; pkcs7: from `signatureAlgorithm`.
    pub algo: PkeyAlgo,
    /// Legacy: the header's `hash`; pkcs7: from the SignerInfo `digestAlgorithm`.
    pub hash: HashAlgo,
    /// The header's `id_type` (1 = X.509 legacy, 2 = PKCS#7).
    pub id_type: u8,
    /// Legacy signer name (lossy UTF-8); empty for pkcs7.
    pub signer: String,
    /// Legacy: the key id (subjectKeyIdentifier); pkcs7: the skid if the signer is
    /// identified that way, else empty.
    #[serde(serialize_with = "hexser::bytes")]
    pub key_id: Vec<u8>,
    /// The raw RSA signature (legacy: without its 2-byte count).
    #[serde(serialize_with = "hexser::bytes")]
    pub signature: Vec<u8>,
    /// pkcs7 only: the signer identifier.
    pub signer_id: Option<SignerId>,
    /// pkcs7 only: everything the CMS structure holds.
    pub pkcs7: Option<Pkcs7Info>,
    /// The header as stored.
    pub header: Header,
    /// Offset of the first trailer byte = length of the signed payload.
    pub offset: usize,
    /// Total trailer length, magic included.
    pub len: usize,
    #[serde(skip)]
    pub(crate) signer_raw: Vec<u8>,
}

impl fmt::Display for Trailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} signature ({}, {}) at offset {:#x}, {} bytes",
            self.format, self.algo, self.hash, self.offset, self.len
        )?;
        match (&self.format, &self.signer_id) {
            (Format::Legacy, _) => write!(
                f,
                "; signer \"{}\", key id {}",
                self.signer.escape_debug(),
                hex::encode(&self.key_id)
            )?,
            (Format::Pkcs7, Some(SignerId::IssuerAndSerial { issuer, serial, .. })) => write!(
                f,
                "; issuer \"{}\", serial {}",
                issuer.escape_debug(),
                hex::encode(serial)
            )?,
            (Format::Pkcs7, Some(SignerId::SubjectKeyId(skid))) => {
                write!(f, "; subject key id {}", hex::encode(skid))?
            }
            (Format::Pkcs7, None) => {}
        }
        write!(f, "; {}-byte RSA signature", self.signature.len())
    }
}

/// A trailer that ends with the magic but cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrailerError {
    #[error(
        "signature trailer truncated: {field} at offset {offset} needs {needed} bytes, only {available} available"
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
    #[error("unsupported signature trailer: {field} at offset {offset} is {value}")]
    Unsupported {
        offset: usize,
        field: &'static str,
        value: u64,
    },
}

impl TrailerError {
    /// The file offset the error is about.
    pub fn offset(&self) -> usize {
        match self {
            TrailerError::Truncated { offset, .. }
            | TrailerError::Malformed { offset, .. }
            | TrailerError::Unsupported { offset, .. } => *offset,
        }
    }
}

/// Split a file into its signed payload and its (outermost) trailer.
///
/// A file that does not end with [`MAGIC`] is unsigned: `Ok((bytes, None))`. A file
/// that ends with the magic must carry a well-formed trailer; errors name the field
/// and its offset. Never panics.
pub fn split(bytes: &[u8]) -> Result<(&[u8], Option<Trailer>), TrailerError> {
    let Some(magic_off) = bytes.len().checked_sub(MAGIC.len()) else {
        return Ok((bytes, None));
    };
    if &bytes[magic_off..] != MAGIC {
        return Ok((bytes, None));
    }
    let Some(header_off) = magic_off.checked_sub(HEADER_LEN) else {
        return Err(TrailerError::Truncated {
            offset: 0,
            field: "signature header",
            needed: HEADER_LEN as u64,
            available: magic_off as u64,
        });
    };
    let mut raw = [0u8; HEADER_LEN];
    raw.copy_from_slice(&bytes[header_off..magic_off]);
    let header = Header::parse(&raw);

    let sig_len = u64::from(header.sig_len);
    let variable = sig_len + u64::from(header.signer_len) + u64::from(header.key_id_len);
    if variable > header_off as u64 {
        return Err(TrailerError::Truncated {
            offset: header_off + 8,
            field: "sig_len + signer_len + key_id_len",
            needed: variable,
            available: header_off as u64,
        });
    }
    // All three fit below header_off, so none of these subtractions can underflow.
    let sig_off = header_off - header.sig_len as usize;
    let key_off = sig_off - usize::from(header.key_id_len);
    let signer_off = key_off - usize::from(header.signer_len);
    let payload = &bytes[..signer_off];
    let sig_field = &bytes[sig_off..header_off];

    let mut trailer = Trailer {
        format: Format::Legacy,
        algo: PkeyAlgo::from_legacy_id(header.algo),
        hash: HashAlgo::from_legacy_id(header.hash),
        id_type: header.id_type,
        signer: String::from_utf8_lossy(&bytes[signer_off..key_off]).into_owned(),
        key_id: bytes[key_off..sig_off].to_vec(),
        signature: Vec::new(),
        signer_id: None,
        pkcs7: None,
        header,
        offset: signer_off,
        len: bytes.len() - signer_off,
        signer_raw: bytes[signer_off..key_off].to_vec(),
    };
    match header.id_type {
        ID_X509 => {
            let [hi, lo, rest @ ..] = sig_field else {
                return Err(TrailerError::Truncated {
                    offset: sig_off,
                    field: "legacy signature byte count",
                    needed: 2,
                    available: sig_field.len() as u64,
                });
            };
            let count = usize::from(u16::from_be_bytes([*hi, *lo]));
            if count != rest.len() {
                return Err(TrailerError::Malformed {
                    offset: sig_off,
                    field: "legacy signature byte count",
                    reason: format!(
                        "says {count} bytes but sig_len leaves {} after the count",
                        rest.len()
                    ),
                });
            }
            trailer.signature = rest.to_vec();
        }
        ID_PKCS7 => {
            let info = cms::decode(sig_field).map_err(|e| TrailerError::Malformed {
                offset: sig_off + e.position,
                field: "PKCS#7 SignedData",
                reason: e.reason,
            })?;
            trailer.format = Format::Pkcs7;
            trailer.algo = PkeyAlgo::from_oid(&oid_or_default(&info.signature_algorithm.oid));
            trailer.hash = HashAlgo::from_oid(&oid_or_default(&info.digest_algorithm.oid));
            trailer.signature = info.signature.clone();
            if let SignerId::SubjectKeyId(skid) = &info.signer_id {
                trailer.key_id = skid.clone();
            }
            trailer.signer_id = Some(info.signer_id.clone());
            trailer.pkcs7 = Some(info);
        }
        other => {
            return Err(TrailerError::Unsupported {
                offset: header_off + 2,
                field: "id_type (0 = PGP is not supported; 1 = X.509 legacy, 2 = PKCS#7)",
                value: u64::from(other),
            });
        }
    }
    Ok((payload, Some(trailer)))
}

fn oid_or_default(s: &str) -> der::asn1::ObjectIdentifier {
    s.parse()
        .unwrap_or(der::asn1::ObjectIdentifier::new_unwrap("0.0"))
}

/// The unsigned bytes: every trailer removed (Linux's `sign-file` appends a second
/// trailer when re-signing, so strip until the magic is gone). An unsigned file is
/// returned unchanged.
pub fn strip(bytes: &[u8]) -> Result<&[u8], TrailerError> {
    let mut rest = bytes;
    while let (payload, Some(_)) = split(rest)? {
        rest = payload;
    }
    Ok(rest)
}

/// Append a legacy trailer.
pub(crate) fn append_legacy(
    out: &mut Vec<u8>,
    hash_id: u8,
    signer: &[u8],
    key_id: &[u8],
    signature: &[u8],
) -> Option<()> {
    let signer_len = u8::try_from(signer.len()).ok()?;
    let key_id_len = u8::try_from(key_id.len()).ok()?;
    let count = u16::try_from(signature.len()).ok()?;
    let sig_len = u32::try_from(signature.len() + 2).ok()?;
    out.extend_from_slice(signer);
    out.extend_from_slice(key_id);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(signature);
    let header = Header {
        algo: 1,
        hash: hash_id,
        id_type: ID_X509,
        signer_len,
        key_id_len,
        pad: [0; 3],
        sig_len,
    };
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(MAGIC);
    Some(())
}

/// Append a pkcs7 trailer around an encoded CMS blob.
pub(crate) fn append_pkcs7(out: &mut Vec<u8>, cms_der: &[u8]) -> Option<()> {
    let header = Header {
        algo: 0,
        hash: 0,
        id_type: ID_PKCS7,
        signer_len: 0,
        key_id_len: 0,
        pad: [0; 3],
        sig_len: u32::try_from(cms_der.len()).ok()?,
    };
    out.extend_from_slice(cms_der);
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(MAGIC);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(payload: &[u8], signer: &[u8], key_id: &[u8], sig: &[u8]) -> Vec<u8> {
        let mut v = payload.to_vec();
        append_legacy(&mut v, 4, signer, key_id, sig).unwrap();
        v
    }

    #[test]
    fn unsigned_input_has_no_trailer() {
        for b in [&b""[..], b"abc", &MAGIC[1..], b"\x7fELF plain"] {
            assert_eq!(split(b).unwrap(), (b, None));
            assert_eq!(strip(b).unwrap(), b);
        }
    }

    #[test]
    fn legacy_layout_bytes_from_the_start() {
        let file = legacy(b"PAY", b"Me", &[0xaa, 0xbb], &[1, 2, 3]);
        let mut want = b"PAYMe".to_vec();
        want.extend_from_slice(&[0xaa, 0xbb, 0, 3, 1, 2, 3]);
        want.extend_from_slice(&[1, 4, 1, 2, 2, 0, 0, 0, 0, 0, 0, 5]);
        want.extend_from_slice(MAGIC);
        assert_eq!(file, want);
        let (payload, t) = split(&file).unwrap();
        let t = t.unwrap();
        assert_eq!(payload, b"PAY");
        assert_eq!(
            (t.format, t.algo, t.hash),
            (Format::Legacy, PkeyAlgo::Rsa, HashAlgo::Sha256)
        );
        assert_eq!(
            (t.signer.as_str(), t.key_id.as_slice()),
            ("Me", &[0xaa, 0xbb][..])
        );
        assert_eq!(t.signature, [1, 2, 3]);
        assert_eq!((t.offset, t.len), (3, file.len() - 3));
        assert_eq!(strip(&file).unwrap(), b"PAY");
    }

    #[test]
    fn strip_removes_nested_trailers() {
        let inner = legacy(b"PAY", b"A", b"k", &[1]);
        let outer = legacy(&inner, b"B", b"j", &[2]);
        assert_eq!(split(&outer).unwrap().0, &inner[..]);
        assert_eq!(strip(&outer).unwrap(), b"PAY");
    }

    #[test]
    fn truncation_errors_name_field_and_offset() {
        assert_eq!(
            split(&MAGIC[..]).unwrap_err(),
            TrailerError::Truncated {
                offset: 0,
                field: "signature header",
                needed: 12,
                available: 0
            }
        );
        let file = legacy(b"", b"", b"", &[]);
        // sig_len 2 (the count alone) and an empty payload: fine.
        assert_eq!(split(&file).unwrap().1.unwrap().signature, Vec::<u8>::new());
        let full = legacy(b"PAY", b"Me", b"k", &[1, 2, 3]);
        let cut = &full[4..];
        let err = split(cut).unwrap_err();
        assert!(
            matches!(err, TrailerError::Truncated { offset, .. } if offset == cut.len() - 40 + 8)
        );
        assert!(err.to_string().contains("sig_len"), "{err}");
    }

    #[test]
    fn legacy_count_must_match_sig_len() {
        let mut file = legacy(b"PAY", b"", b"", &[1, 2, 3]);
        file[4] = 4; // count 3 -> 4
        let err = split(&file).unwrap_err();
        assert_eq!(err.offset(), 3);
        assert!(err.to_string().contains("says 4 bytes"), "{err}");
        let mut file = legacy(b"PAY", b"", b"", &[]);
        let n = file.len();
        file[n - 28 - 1] = 1; // sig_len 2 -> 1
        assert!(matches!(
            split(&file).unwrap_err(),
            TrailerError::Truncated {
                needed: 2,
                available: 1,
                ..
            }
        ));
    }

    #[test]
    fn pgp_and_unknown_id_types_are_unsupported() {
        let mut file = legacy(b"PAY", b"", b"", &[1]);
        let at = file.len() - 28 - 12 + 2;
        for v in [0u8, 3, 255] {
            file[at] = v;
            assert_eq!(
                split(&file).unwrap_err(),
                TrailerError::Unsupported {
                    offset: at,
                    field: "id_type (0 = PGP is not supported; 1 = X.509 legacy, 2 = PKCS#7)",
                    value: u64::from(v)
                }
            );
        }
    }

    #[test]
    fn huge_lengths_do_not_panic() {
        let mut file = vec![0u8; 12];
        file[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        file[3] = 255;
        file[4] = 255;
        file[2] = ID_PKCS7;
        file.extend_from_slice(MAGIC);
        assert!(matches!(
            split(&file).unwrap_err(),
            TrailerError::Truncated { .. }
        ));
    }
}
