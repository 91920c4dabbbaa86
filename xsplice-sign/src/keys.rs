//! Loading certificates and RSA private keys: PEM or DER, PKCS#1 or PKCS#8,
//! combined key+certificate PEM files, PKCS#8-encrypted keys.

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use pkcs1::DecodeRsaPrivateKey;
use pkcs8::{DecodePublicKey, EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use crate::algo::OID_RSA_ENCRYPTION;

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_EMAIL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1");

/// Failure to load a certificate or a private key. The caller adds the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no {expected} PEM block found (blocks present: {found})")]
    NoPemBlock {
        expected: &'static str,
        found: String,
    },
    #[error("PEM block \"{label}\" at byte {offset}: {reason}")]
    Pem {
        label: String,
        offset: usize,
        reason: String,
    },
    #[error("not a {expected} (as PEM or DER){}", position_text(*.position))]
    Der {
        expected: &'static str,
        position: Option<usize>,
        reason: String,
    },
    #[error("the private key is encrypted and no passphrase was given")]
    NeedPassphrase,
    #[error(
        "cannot decrypt the private key: wrong passphrase or unsupported encryption ({reason})"
    )]
    Decrypt { reason: String },
    #[error(
        "only \"RSA PRIVATE KEY\" blocks may use OpenSSL's traditional PEM encryption (Proc-Type/DEK-Info); convert the key with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out NEWKEY`"
    )]
    LegacyPemEncryption,
    #[error("not an RSA key: {what} has algorithm {oid}")]
    NotRsa { what: &'static str, oid: String },
    #[error("invalid RSA key: {reason}")]
    InvalidRsa { reason: String },
}

fn position_text(p: Option<usize>) -> String {
    match p {
        Some(p) => format!(": DER error at byte {p}"),
        None => String::new(),
    }
}

fn der_error(expected: &'static str, e: &der::Error) -> KeyError {
    KeyError::Der {
        expected,
        position: e
            .position()
            .and_then(|p| usize::try_from(u32::from(p)).ok()),
        reason: e.kind().to_string(),
    }
}

fn pkcs8_error(expected: &'static str, e: pkcs8::Error) -> KeyError {
    match e {
        pkcs8::Error::Asn1(d) => der_error(expected, &d),
        other => KeyError::Der {
            expected,
            position: None,
            reason: other.to_string(),
        },
    }
}

/// One `-----BEGIN X-----` … `-----END X-----` block of a PEM file.
struct PemBlock<'a> {
    label: String,
    offset: usize,
    text: &'a [u8],
}

impl PemBlock<'_> {
    /// Whether the block carries OpenSSL's traditional encryption headers.
    fn is_legacy_encrypted(&self) -> bool {
        self.label.ends_with("PRIVATE KEY") && contains(self.text, b"Proc-Type:")
    }

    fn decode(&self) -> Result<Vec<u8>, KeyError> {
        if self.is_legacy_encrypted() {
            return Err(KeyError::LegacyPemEncryption);
        }
        der::pem::decode_vec(self.text)
            .map(|(_, der)| der)
            .map_err(|e| KeyError::Pem {
                label: self.label.clone(),
                offset: self.offset,
                reason: e.to_string(),
            })
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The PEM blocks of a file, in order; `None` if it has no BEGIN line (DER input).
fn pem_blocks(bytes: &[u8]) -> Result<Option<Vec<PemBlock<'_>>>, KeyError> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut blocks = Vec::new();
    let mut at = 0;
    while let Some(start) = find_from(bytes, BEGIN, at) {
        let label_start = start + BEGIN.len();
        let Some(label_end) = find_from(bytes, b"-----", label_start) else {
            return Err(KeyError::Pem {
                label: String::new(),
                offset: start,
                reason: "unterminated BEGIN line".to_string(),
            });
        };
        let label = String::from_utf8_lossy(&bytes[label_start..label_end]).into_owned();
        let end_line = format!("-----END {label}-----");
        let Some(end) = find_from(bytes, end_line.as_bytes(), label_end) else {
            return Err(KeyError::Pem {
                label,
                offset: start,
                reason: format!("no matching \"{end_line}\" line"),
            });
        };
        let stop = end + end_line.len();
        blocks.push(PemBlock {
            label,
            offset: start,
            text: &bytes[start..stop],
        });
        at = stop;
    }
    Ok(if blocks.is_empty() {
        None
    } else {
        Some(blocks)
    })
}

fn labels(blocks: &[PemBlock<'_>]) -> String {
    if blocks.is_empty() {
        return "none".to_string();
    }
    blocks
        .iter()
        .map(|b| b.label.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An X.509 certificate holding an RSA public key (the signer's or a trusted one).
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    issuer: String,
    issuer_der: Vec<u8>,
    serial_der: Vec<u8>,
    serial: Vec<u8>,
    skid: Option<Vec<u8>>,
    signer_name: Option<Vec<u8>>,
    key_algorithm: String,
    public_key: Option<rsa::PublicKey>,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl Certificate {
    /// Load the first certificate of a PEM file (other blocks, such as a private key in
    /// a combined file, are skipped) or a DER certificate.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Certificate, KeyError> {
        Certificate::all_from_pem_or_der(bytes)?
            .into_iter()
            .next()
            .ok_or(KeyError::NoPemBlock {
                expected: "CERTIFICATE",
                found: "none".to_string(),
            })
    }

    /// Every certificate of a PEM file (a keyring of trusted certificates), or the one
    /// DER certificate.
    pub fn all_from_pem_or_der(bytes: &[u8]) -> Result<Vec<Certificate>, KeyError> {
        match pem_blocks(bytes)? {
            None => Ok(vec![Certificate::from_der(bytes)?]),
            Some(blocks) => {
                let certs = blocks
                    .iter()
                    .filter(|b| b.label == "CERTIFICATE")
                    .map(|b| Certificate::from_der(&b.decode()?))
                    .collect::<Result<Vec<_>, _>>()?;
                if certs.is_empty() {
                    return Err(KeyError::NoPemBlock {
                        expected: "CERTIFICATE",
                        found: labels(&blocks),
                    });
                }
                Ok(certs)
            }
        }
    }

    /// Load a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Certificate, KeyError> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| der_error("X.509 certificate", &e))?;
        let tbs = cert.tbs_certificate();
        let enc = |r: der::Result<Vec<u8>>| r.map_err(|e| der_error("X.509 certificate", &e));
        let issuer_der = enc(tbs.issuer().to_der())?;
        let serial_der = enc(tbs.serial_number().to_der())?;
        let skid = tbs
            .get_extension::<SubjectKeyIdentifier>()
            .map_err(|e| der_error("X.509 certificate (subjectKeyIdentifier)", &e))?
            .map(|(_, skid)| skid.0.as_bytes().to_vec());
        let spki = tbs.subject_public_key_info();
        let key_algorithm = spki.algorithm.oid.to_string();
        let public_key = if spki.algorithm.oid == OID_RSA_ENCRYPTION {
            let spki_der = enc(spki.to_der())?;
            Some(rsa::PublicKey::from_public_key_der(&spki_der).map_err(|e| {
                KeyError::InvalidRsa {
                    reason: format!("certificate public key: {e}"),
                }
            })?)
        } else {
            None
        };
        Ok(Certificate {
            der: der.to_vec(),
            subject: tbs.subject().to_string(),
            issuer: tbs.issuer().to_string(),
            issuer_der,
            serial: tbs.serial_number().as_bytes().to_vec(),
            serial_der,
            skid,
            signer_name: legacy_signer_name(tbs.subject()),
            key_algorithm,
            public_key,
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Subject in RFC 4514 form.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Issuer in RFC 4514 form.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Serial number content octets.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The subjectKeyIdentifier extension's key id (the legacy key id).
    pub fn subject_key_id(&self) -> Option<&[u8]> {
        self.skid.as_deref()
    }

    /// The legacy signer name derived from the subject (see `specs/signature.md`).
    pub fn signer_name(&self) -> Option<&[u8]> {
        self.signer_name.as_deref()
    }

    /// OID of the subject public key algorithm.
    pub fn key_algorithm(&self) -> &str {
        &self.key_algorithm
    }

    pub(crate) fn rsa_key(&self) -> Option<&rsa::PublicKey> {
        self.public_key.as_ref()
    }

    pub(crate) fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    pub(crate) fn serial_der(&self) -> &[u8] {
        &self.serial_der
    }
}

/// Linux's signer-name rule: CN alone when it already contains the organization (CN
/// starts with O, or both are at least 7 bytes and share their first 7), else
/// "O: CN"; with only one of them that one; else the email address. Raw attribute
/// bytes, the last occurrence of each attribute winning.
fn legacy_signer_name(subject: &x509_cert::name::Name) -> Option<Vec<u8>> {
    let (mut o, mut cn, mut email) = (None, None, None);
    for atv in subject.iter() {
        let value = atv.value.value().to_vec();
        match atv.oid {
            OID_O => o = Some(value),
            OID_CN => cn = Some(value),
            OID_EMAIL => email = Some(value),
            _ => {}
        }
    }
    match (o, cn) {
        (Some(o), Some(cn)) => {
            let shares_7 = o.len() >= 7 && cn.len() >= 7 && o[..7] == cn[..7];
            if cn.starts_with(&o) || shares_7 {
                Some(cn)
            } else {
                let mut name = o;
                name.extend_from_slice(b": ");
                name.extend_from_slice(&cn);
                Some(name)
            }
        }
        (Some(only), None) | (None, Some(only)) => Some(only),
        (None, None) => email,
    }
}

/// An RSA private key, and the certificate found next to it in a combined PEM file.
#[derive(Debug, Clone)]
pub struct SigningKey {
    key: rsa::PrivateKey,
    certificate: Option<Certificate>,
}

impl SigningKey {
    /// Load a private key. PEM (`RSA PRIVATE KEY`, `PRIVATE KEY`,
    /// `ENCRYPTED PRIVATE KEY`, possibly in one file with a `CERTIFICATE`) or DER
    /// (PKCS#8, PKCS#1 or encrypted PKCS#8). `passphrase` decrypts an encrypted key.
    pub fn from_pem_or_der(
        bytes: &[u8],
        passphrase: Option<&[u8]>,
    ) -> Result<SigningKey, KeyError> {
        let Some(blocks) = pem_blocks(bytes)? else {
            return Ok(SigningKey {
                key: key_from_der(bytes, passphrase)?,
                certificate: None,
            });
        };
        let key_block = blocks
            .iter()
            .find(|b| b.label.ends_with("PRIVATE KEY"))
            .ok_or_else(|| KeyError::NoPemBlock {
                expected: "PRIVATE KEY",
                found: labels(&blocks),
            })?;
        if key_block.is_legacy_encrypted() {
            if key_block.label != "RSA PRIVATE KEY" {
                return Err(KeyError::LegacyPemEncryption);
            }
            let enc = crate::legacy_pem::parse(&key_block.label, key_block.text)?;
            let passphrase = passphrase.ok_or(KeyError::NeedPassphrase)?;
            let der = enc.decrypt(passphrase)?;
            let key = rsa::PrivateKey::from_pkcs1_der(&der).map_err(|e| KeyError::Decrypt {
                reason: format!("wrong passphrase? the decrypted key does not decode: {e}"),
            })?;
            return Ok(SigningKey {
                key,
                certificate: embedded_certificate(&blocks)?,
            });
        }
        let der = key_block.decode()?;
        let key = match key_block.label.as_str() {
            "RSA PRIVATE KEY" => pkcs1_key(&der)?,
            "PRIVATE KEY" => pkcs8_key(&der)?,
            "ENCRYPTED PRIVATE KEY" => encrypted_key(&der, passphrase)?,
            other => {
                return Err(KeyError::NotRsa {
                    what: "PEM private key",
                    oid: other.to_string(),
                });
            }
        };
        Ok(SigningKey {
            key,
            certificate: embedded_certificate(&blocks)?,
        })
    }

    /// The certificate of a combined key+certificate PEM file.
    pub fn embedded_certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// Whether `cert` holds this key's public half.
    pub fn matches(&self, cert: &Certificate) -> bool {
        cert.rsa_key() == Some(self.key.as_public_key())
    }

    pub(crate) fn rsa(&self) -> &rsa::PrivateKey {
        &self.key
    }
}

fn embedded_certificate(blocks: &[PemBlock<'_>]) -> Result<Option<Certificate>, KeyError> {
    match blocks.iter().find(|b| b.label == "CERTIFICATE") {
        Some(b) => Ok(Some(Certificate::from_der(&b.decode()?)?)),
        None => Ok(None),
    }
}

fn pkcs1_key(der: &[u8]) -> Result<rsa::PrivateKey, KeyError> {
    rsa::PrivateKey::from_pkcs1_der(der).map_err(|e| KeyError::InvalidRsa {
        reason: format!("PKCS#1 RSAPrivateKey: {e}"),
    })
}

fn pkcs8_key(der: &[u8]) -> Result<rsa::PrivateKey, KeyError> {
    let info =
        PrivateKeyInfoRef::try_from(der).map_err(|e| pkcs8_error("PKCS#8 private key", e))?;
    if info.algorithm.oid != OID_RSA_ENCRYPTION {
        return Err(KeyError::NotRsa {
            what: "PKCS#8 private key",
            oid: info.algorithm.oid.to_string(),
        });
    }
    rsa::PrivateKey::try_from(info).map_err(|e| KeyError::InvalidRsa {
        reason: format!("PKCS#8 private key: {e}"),
    })
}

fn encrypted_key(der: &[u8], passphrase: Option<&[u8]>) -> Result<rsa::PrivateKey, KeyError> {
    let info = EncryptedPrivateKeyInfoRef::try_from(der)
        .map_err(|e| pkcs8_error("encrypted PKCS#8 private key", e))?;
    let passphrase = passphrase.ok_or(KeyError::NeedPassphrase)?;
    let plain = info.decrypt(passphrase).map_err(|e| KeyError::Decrypt {
        reason: e.to_string(),
    })?;
    pkcs8_key(plain.as_bytes())
}

fn key_from_der(der: &[u8], passphrase: Option<&[u8]>) -> Result<rsa::PrivateKey, KeyError> {
    if PrivateKeyInfoRef::try_from(der).is_ok() {
        return pkcs8_key(der);
    }
    if let Ok(key) = rsa::PrivateKey::from_pkcs1_der(der) {
        return Ok(key);
    }
    if EncryptedPrivateKeyInfoRef::try_from(der).is_ok() {
        return encrypted_key(der, passphrase);
    }
    Err(KeyError::Der {
        expected: "private key (PKCS#8, PKCS#1 or encrypted PKCS#8)",
        position: None,
        reason: "none of the three structures decodes".to_string(),
    })
}
