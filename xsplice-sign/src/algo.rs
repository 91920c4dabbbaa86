//! Algorithm numbers of the signature header and their OIDs.
//!
//! The numbers are the `HASH_ALGO_*` and `PKEY_ALGO_*` values listed in the xSplice
//! design (borrowed from Linux); the OIDs are those CMS uses for the same algorithms.

use std::fmt;

use der::asn1::ObjectIdentifier;
use serde::{Serialize, Serializer};

/// A digest algorithm, as named by a legacy header byte or a CMS digest OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HashAlgo {
    Md4,
    Md5,
    Sha1,
    RipeMd160,
    Sha256,
    Sha384,
    Sha512,
    Sha224,
    RipeMd128,
    RipeMd256,
    RipeMd320,
    Wp256,
    Wp384,
    Wp512,
    Tgr128,
    Tgr160,
    Tgr192,
    /// A legacy header value outside the design's table.
    Unknown(u8),
    /// A CMS digest OID this crate has no name for (the OID is in [`crate::Pkcs7Info`]).
    UnknownOid,
}

/// Legacy header values, in `HASH_ALGO_*` order (index = value).
const LEGACY_HASHES: [HashAlgo; 17] = [
    HashAlgo::Md4,
    HashAlgo::Md5,
    HashAlgo::Sha1,
    HashAlgo::RipeMd160,
    HashAlgo::Sha256,
    HashAlgo::Sha384,
    HashAlgo::Sha512,
    HashAlgo::Sha224,
    HashAlgo::RipeMd128,
    HashAlgo::RipeMd256,
    HashAlgo::RipeMd320,
    HashAlgo::Wp256,
    HashAlgo::Wp384,
    HashAlgo::Wp512,
    HashAlgo::Tgr128,
    HashAlgo::Tgr160,
    HashAlgo::Tgr192,
];

pub(crate) const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
pub(crate) const OID_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub(crate) const OID_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub(crate) const OID_SHA512: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
pub(crate) const OID_SHA224: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.4");

pub(crate) const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(crate) const OID_SHA1_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
pub(crate) const OID_SHA256_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
pub(crate) const OID_SHA384_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
pub(crate) const OID_SHA512_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
pub(crate) const OID_SHA224_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.14");

impl HashAlgo {
    /// The algorithm a legacy header byte names.
    pub fn from_legacy_id(id: u8) -> HashAlgo {
        LEGACY_HASHES
            .get(usize::from(id))
            .copied()
            .unwrap_or(HashAlgo::Unknown(id))
    }

    /// The legacy header byte for this algorithm.
    pub fn legacy_id(self) -> Option<u8> {
        match self {
            HashAlgo::Unknown(id) => Some(id),
            HashAlgo::UnknownOid => None,
            known => LEGACY_HASHES
                .iter()
                .position(|h| *h == known)
                .and_then(|i| u8::try_from(i).ok()),
        }
    }

    /// The algorithm a CMS digest OID names.
    pub fn from_oid(oid: &ObjectIdentifier) -> HashAlgo {
        match *oid {
            OID_SHA1 => HashAlgo::Sha1,
            OID_SHA224 => HashAlgo::Sha224,
            OID_SHA256 => HashAlgo::Sha256,
            OID_SHA384 => HashAlgo::Sha384,
            OID_SHA512 => HashAlgo::Sha512,
            _ => HashAlgo::UnknownOid,
        }
    }

    /// The CMS digest OID of this algorithm, for those that have one here.
    pub fn oid(self) -> Option<ObjectIdentifier> {
        match self {
            HashAlgo::Sha1 => Some(OID_SHA1),
            HashAlgo::Sha224 => Some(OID_SHA224),
            HashAlgo::Sha256 => Some(OID_SHA256),
            HashAlgo::Sha384 => Some(OID_SHA384),
            HashAlgo::Sha512 => Some(OID_SHA512),
            _ => None,
        }
    }

    /// The combined "hashWithRSAEncryption" OID some signers put in
    /// `signatureAlgorithm` instead of plain rsaEncryption.
    pub(crate) fn with_rsa_oid(self) -> Option<ObjectIdentifier> {
        match self {
            HashAlgo::Sha1 => Some(OID_SHA1_WITH_RSA),
            HashAlgo::Sha224 => Some(OID_SHA224_WITH_RSA),
            HashAlgo::Sha256 => Some(OID_SHA256_WITH_RSA),
            HashAlgo::Sha384 => Some(OID_SHA384_WITH_RSA),
            HashAlgo::Sha512 => Some(OID_SHA512_WITH_RSA),
            _ => None,
        }
    }

    /// Whether this crate signs and verifies with this digest (SHA-256/384/512).
    pub fn is_supported(self) -> bool {
        matches!(self, HashAlgo::Sha256 | HashAlgo::Sha384 | HashAlgo::Sha512)
    }

    /// Parse a command-line name (`sha256`, `sha384`, `sha512`).
    pub fn from_name(name: &str) -> Option<HashAlgo> {
        match name.to_ascii_lowercase().as_str() {
            "sha256" => Some(HashAlgo::Sha256),
            "sha384" => Some(HashAlgo::Sha384),
            "sha512" => Some(HashAlgo::Sha512),
            _ => None,
        }
    }

    /// Lower-case name, as openssl spells it.
    pub fn name(self) -> String {
        let s = match self {
            HashAlgo::Md4 => "md4",
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::RipeMd160 => "rmd160",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha384 => "sha384",
            HashAlgo::Sha512 => "sha512",
            HashAlgo::Sha224 => "sha224",
            HashAlgo::RipeMd128 => "rmd128",
            HashAlgo::RipeMd256 => "rmd256",
            HashAlgo::RipeMd320 => "rmd320",
            HashAlgo::Wp256 => "wp256",
            HashAlgo::Wp384 => "wp384",
            HashAlgo::Wp512 => "wp512",
            HashAlgo::Tgr128 => "tgr128",
            HashAlgo::Tgr160 => "tgr160",
            HashAlgo::Tgr192 => "tgr192",
            HashAlgo::Unknown(id) => return format!("unknown hash {id}"),
            HashAlgo::UnknownOid => "unknown hash OID",
        };
        s.to_string()
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for HashAlgo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// A public-key algorithm (`PKEY_ALGO_*`, or the CMS signature algorithm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PkeyAlgo {
    Dsa,
    Rsa,
    /// A legacy header value outside the design's table.
    Unknown(u8),
    /// A CMS signature OID this crate has no name for (the OID is in [`crate::Pkcs7Info`]).
    UnknownOid,
}

impl PkeyAlgo {
    /// The algorithm a legacy header byte names.
    pub fn from_legacy_id(id: u8) -> PkeyAlgo {
        match id {
            0 => PkeyAlgo::Dsa,
            1 => PkeyAlgo::Rsa,
            other => PkeyAlgo::Unknown(other),
        }
    }

    /// The algorithm a CMS `signatureAlgorithm` OID names.
    pub fn from_oid(oid: &ObjectIdentifier) -> PkeyAlgo {
        match *oid {
            OID_RSA_ENCRYPTION | OID_SHA1_WITH_RSA | OID_SHA224_WITH_RSA | OID_SHA256_WITH_RSA
            | OID_SHA384_WITH_RSA | OID_SHA512_WITH_RSA => PkeyAlgo::Rsa,
            _ => PkeyAlgo::UnknownOid,
        }
    }

    pub fn name(self) -> String {
        match self {
            PkeyAlgo::Dsa => "dsa".to_string(),
            PkeyAlgo::Rsa => "rsa".to_string(),
            PkeyAlgo::Unknown(id) => format!("unknown key algorithm {id}"),
            PkeyAlgo::UnknownOid => "unknown signature OID".to_string(),
        }
    }
}

impl fmt::Display for PkeyAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for PkeyAlgo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// Digest of `data` with a supported algorithm; `None` for the others.
pub(crate) fn digest(hash: HashAlgo, data: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    match hash {
        HashAlgo::Sha256 => Some(sha2::Sha256::digest(data).to_vec()),
        HashAlgo::Sha384 => Some(sha2::Sha384::digest(data).to_vec()),
        HashAlgo::Sha512 => Some(sha2::Sha512::digest(data).to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_ids_round_trip_and_match_the_design_table() {
        assert_eq!(HashAlgo::from_legacy_id(4), HashAlgo::Sha256);
        assert_eq!(HashAlgo::from_legacy_id(5), HashAlgo::Sha384);
        assert_eq!(HashAlgo::from_legacy_id(6), HashAlgo::Sha512);
        assert_eq!(HashAlgo::from_legacy_id(7), HashAlgo::Sha224);
        assert_eq!(HashAlgo::from_legacy_id(16), HashAlgo::Tgr192);
        assert_eq!(HashAlgo::from_legacy_id(17), HashAlgo::Unknown(17));
        for id in 0..=255u8 {
            assert_eq!(HashAlgo::from_legacy_id(id).legacy_id(), Some(id));
        }
        assert_eq!(PkeyAlgo::from_legacy_id(1), PkeyAlgo::Rsa);
        assert_eq!(PkeyAlgo::from_legacy_id(0), PkeyAlgo::Dsa);
    }

    #[test]
    fn only_sha2_256_384_512_are_supported() {
        let supported: Vec<_> = (0..=255u8)
            .map(HashAlgo::from_legacy_id)
            .filter(|h| h.is_supported())
            .collect();
        assert_eq!(
            supported,
            [HashAlgo::Sha256, HashAlgo::Sha384, HashAlgo::Sha512]
        );
        assert_eq!(digest(HashAlgo::Sha384, b"abc").map(|d| d.len()), Some(48));
        assert_eq!(digest(HashAlgo::Sha1, b"abc"), None);
    }
}
