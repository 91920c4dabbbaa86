//! The detached CMS `SignedData` of the pkcs7 trailer (RFC 5652), the few types it
//! needs written with `der`'s derive macros.
//!
//! Encoding produces exactly what Linux's `sign-file` (OpenSSL `CMS_sign` with
//! `CMS_NOCERTS | CMS_NOATTR | CMS_DETACHED | CMS_BINARY`) writes. Decoding accepts any
//! DER `SignedData` and reports what it holds in [`Pkcs7Info`]; whether that is
//! acceptable is decided by `verify`.

use der::asn1::{Any, Int, ObjectIdentifier, OctetString, SetOfVec};
use der::{Choice, Decode, Encode, Sequence, ValueOrd};
use serde::Serialize;
use spki::AlgorithmIdentifierOwned;

use crate::algo::{HashAlgo, OID_RSA_ENCRYPTION};
use crate::hexser;

pub(crate) const OID_SIGNED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
pub(crate) const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");

/// `ContentInfo` whose content is (expected to be) `SignedData`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct ContentInfo {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: SignedData,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SignedData {
    version: u8,
    digest_algorithms: SetOfVec<AlgorithmIdentifierOwned>,
    encap_content_info: EncapsulatedContentInfo,
    // IMPLICIT [0] SET OF: kept as raw elements (only counted).
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    certificates: Option<Vec<Any>>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    crls: Option<Vec<Any>>,
    signer_infos: SetOfVec<SignerInfo>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EncapsulatedContentInfo {
    econtent_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    econtent: Option<Any>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence, ValueOrd)]
struct SignerInfo {
    version: u8,
    sid: Sid,
    digest_algorithm: AlgorithmIdentifierOwned,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    signed_attrs: Option<Vec<Any>>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: OctetString,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    unsigned_attrs: Option<Vec<Any>>,
}

#[derive(Clone, Debug, Eq, PartialEq, Choice, ValueOrd)]
enum Sid {
    IssuerAndSerialNumber(IssuerAndSerialNumber),
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    SubjectKeyIdentifier(OctetString),
}

/// Issuer kept as the raw DER `Name` so that it re-encodes byte for byte.
#[derive(Clone, Debug, Eq, PartialEq, Sequence, ValueOrd)]
struct IssuerAndSerialNumber {
    issuer: Any,
    serial_number: Int,
}

/// How a pkcs7 signature names its signer's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignerId {
    /// `issuerAndSerialNumber` (SignerInfo version 1): what `sign-file` writes by default.
    IssuerAndSerial {
        /// The issuer in RFC 4514 form, for people.
        issuer: String,
        /// The issuer `Name` as DER, for matching.
        #[serde(serialize_with = "hexser::bytes")]
        issuer_der: Vec<u8>,
        /// The serial number's INTEGER content octets.
        #[serde(serialize_with = "hexser::bytes")]
        serial: Vec<u8>,
    },
    /// `subjectKeyIdentifier` (SignerInfo version 3): `sign-file -k`, our `--skid`.
    SubjectKeyId(#[serde(serialize_with = "hexser::bytes")] Vec<u8>),
}

/// An algorithm identifier as found: OID and what its parameters were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlgId {
    pub oid: String,
    pub params: Params,
}

/// The `parameters` field of an algorithm identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Params {
    Absent,
    Null,
    Other,
}

impl AlgId {
    fn from_der_alg(alg: &AlgorithmIdentifierOwned) -> AlgId {
        let params = match &alg.parameters {
            None => Params::Absent,
            Some(any) if any.is_null() => Params::Null,
            Some(_) => Params::Other,
        };
        AlgId {
            oid: alg.oid.to_string(),
            params,
        }
    }

    pub(crate) fn is(&self, oid: &ObjectIdentifier) -> bool {
        self.oid == oid.to_string()
    }
}

/// Everything the CMS structure says, as decoded (not yet judged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pkcs7Info {
    /// `ContentInfo.contentType` (must be id-signedData).
    pub content_type: String,
    pub signed_data_version: u8,
    pub digest_algorithms: Vec<AlgId>,
    /// `eContentType` (must be id-data).
    pub econtent_type: String,
    /// Whether the content is embedded (must be detached).
    pub econtent_present: bool,
    pub certificates: usize,
    pub crls: usize,
    pub signer_infos: usize,
    /// The first SignerInfo's fields.
    pub signer_version: u8,
    pub signer_id: SignerId,
    pub digest_algorithm: AlgId,
    pub signature_algorithm: AlgId,
    /// Number of signed attributes (the kernel rejects any).
    pub signed_attributes: usize,
    pub unsigned_attributes: usize,
    #[serde(skip)]
    pub(crate) signature: Vec<u8>,
}

/// A DER decoding failure: byte position inside the CMS blob and der's reason.
#[derive(Debug)]
pub(crate) struct CmsDecodeError {
    pub position: usize,
    pub reason: String,
}

/// Decode a `ContentInfo(SignedData)` blob that must be exactly `der` long.
pub(crate) fn decode(der_bytes: &[u8]) -> Result<Pkcs7Info, CmsDecodeError> {
    let ci = ContentInfo::from_der(der_bytes).map_err(|e| CmsDecodeError {
        position: e
            .position()
            .and_then(|p| usize::try_from(u32::from(p)).ok())
            .unwrap_or(0),
        reason: e.kind().to_string(),
    })?;
    let sd = ci.content;
    let first = sd.signer_infos.iter().next().ok_or(CmsDecodeError {
        position: 0,
        reason: "SignedData has no SignerInfo".to_string(),
    })?;
    let signer_id = match &first.sid {
        Sid::IssuerAndSerialNumber(ias) => IssuerAndSerialNumber::to_signer_id(ias),
        Sid::SubjectKeyIdentifier(skid) => SignerId::SubjectKeyId(skid.as_bytes().to_vec()),
    };
    Ok(Pkcs7Info {
        content_type: ci.content_type.to_string(),
        signed_data_version: sd.version,
        digest_algorithms: sd
            .digest_algorithms
            .iter()
            .map(AlgId::from_der_alg)
            .collect(),
        econtent_type: sd.encap_content_info.econtent_type.to_string(),
        econtent_present: sd.encap_content_info.econtent.is_some(),
        certificates: sd.certificates.as_ref().map_or(0, Vec::len),
        crls: sd.crls.as_ref().map_or(0, Vec::len),
        signer_infos: sd.signer_infos.len(),
        signer_version: first.version,
        signer_id,
        digest_algorithm: AlgId::from_der_alg(&first.digest_algorithm),
        signature_algorithm: AlgId::from_der_alg(&first.signature_algorithm),
        signed_attributes: first.signed_attrs.as_ref().map_or(0, Vec::len),
        unsigned_attributes: first.unsigned_attrs.as_ref().map_or(0, Vec::len),
        signature: first.signature.as_bytes().to_vec(),
    })
}

impl IssuerAndSerialNumber {
    fn to_signer_id(&self) -> SignerId {
        let issuer_der = self.issuer.to_der().unwrap_or_default();
        let issuer = x509_cert::name::Name::from_der(&issuer_der)
            .map(|n| n.to_string())
            .unwrap_or_else(|_| format!("(undecodable Name {})", hex::encode(&issuer_der)));
        SignerId::IssuerAndSerial {
            issuer,
            issuer_der,
            serial: self.serial_number.as_bytes().to_vec(),
        }
    }
}

/// How the signer is identified in a signature we write.
#[derive(Debug, Clone)]
pub(crate) enum SidInput<'a> {
    /// Issuer `Name` DER and serial `INTEGER` DER, straight from the certificate.
    IssuerSerial {
        issuer_der: &'a [u8],
        serial_der: &'a [u8],
    },
    SubjectKeyId(&'a [u8]),
}

/// Encode the `ContentInfo(SignedData)` that `sign-file` writes for one RSA signer.
pub(crate) fn encode(
    hash: HashAlgo,
    sid: SidInput<'_>,
    signature: &[u8],
) -> Result<Vec<u8>, der::Error> {
    let digest_oid = hash
        .oid()
        .ok_or_else(|| der::Error::from(der::ErrorKind::Failed))?;
    let digest_alg = AlgorithmIdentifierOwned {
        oid: digest_oid,
        parameters: None,
    };
    let (version, sid) = match sid {
        SidInput::IssuerSerial {
            issuer_der,
            serial_der,
        } => (
            1,
            Sid::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: Any::from_der(issuer_der)?,
                serial_number: Int::from_der(serial_der)?,
            }),
        ),
        SidInput::SubjectKeyId(skid) => (3, Sid::SubjectKeyIdentifier(OctetString::new(skid)?)),
    };
    let signer = SignerInfo {
        version,
        sid,
        digest_algorithm: digest_alg.clone(),
        signed_attrs: None,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: OID_RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let sd = SignedData {
        version,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: OID_DATA,
            econtent: None,
        },
        certificates: None,
        crls: None,
        signer_infos: SetOfVec::try_from(vec![signer])?,
    };
    ContentInfo {
        content_type: OID_SIGNED_DATA,
        content: sd,
    }
    .to_der()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_reports_the_same_fields() {
        let der = encode(
            HashAlgo::Sha384,
            SidInput::SubjectKeyId(&[1, 2, 3]),
            &[9; 8],
        )
        .unwrap();
        let info = decode(&der).unwrap();
        assert_eq!(info.content_type, "1.2.840.113549.1.7.2");
        assert_eq!(info.signed_data_version, 3);
        assert_eq!(info.signer_version, 3);
        assert_eq!(info.signer_id, SignerId::SubjectKeyId(vec![1, 2, 3]));
        assert_eq!(info.digest_algorithm.oid, "2.16.840.1.101.3.4.2.2");
        assert_eq!(info.digest_algorithm.params, Params::Absent);
        assert_eq!(info.signature_algorithm.params, Params::Null);
        assert_eq!(info.digest_algorithms, vec![info.digest_algorithm.clone()]);
        assert_eq!(info.econtent_type, "1.2.840.113549.1.7.1");
        assert!(!info.econtent_present);
        assert_eq!((info.certificates, info.signed_attributes), (0, 0));
        assert_eq!(info.signature, vec![9; 8]);
    }

    #[test]
    fn decode_errors_carry_a_position() {
        let der = encode(HashAlgo::Sha256, SidInput::SubjectKeyId(&[1]), &[7; 4]).unwrap();
        let err = decode(&der[..der.len() - 1]).unwrap_err();
        assert!(err.position <= der.len(), "{err:?}");
        assert!(decode(&[]).is_err());
    }
}
