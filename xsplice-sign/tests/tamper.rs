//! Any change to a signed payload must make verification fail: every single bit
//! flip of a small signed payload (payload and trailer), and a deterministic batch
//! of random mutations (which must also never panic `split` or `verify`).

mod common;

use common::pki;
use proptest::prelude::*;
use xsplice_sign::{
    Format, HashAlgo, MAGIC, SignOptions, SignerIdKind, minimal_elf, sign, split, strip, verify,
};

fn signed_variants() -> Vec<(String, Vec<u8>)> {
    let p = pki("tamper");
    let (key, cert) = (p.key("key.pem"), p.cert("cert.pem"));
    let payload = minimal_elf(b"tiny payload");
    let mut out = Vec::new();
    for (format, sid) in [
        (Format::Legacy, SignerIdKind::IssuerSerial),
        (Format::Pkcs7, SignerIdKind::IssuerSerial),
        (Format::Pkcs7, SignerIdKind::SubjectKeyId),
    ] {
        let opts = SignOptions {
            format,
            hash: HashAlgo::Sha256,
            signer_id: sid,
        };
        let signed = sign(&payload, &key, &cert, &opts).unwrap();
        out.push((format!("{format} {sid:?}"), signed));
    }
    out
}

#[test]
fn flipping_any_single_bit_makes_verify_fail() {
    let p = pki("tamper");
    let trusted = [p.cert("cert.pem")];
    for (name, signed) in signed_variants() {
        verify(&signed, &trusted).unwrap();
        let mut bytes = signed.clone();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                bytes[i] ^= 1 << bit;
                let r = verify(&bytes, &trusted);
                assert!(
                    r.is_err(),
                    "{name}: flip of bit {bit} of byte {i} still verifies"
                );
                bytes[i] ^= 1 << bit;
            }
        }
        assert_eq!(bytes, signed);
    }
}

/// xorshift64*: a fixed-seed generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random mutation: byte change, insertion, deletion, truncation, length-field
/// overwrite in the header, or a splice of the magic.
fn mutate(rng: &mut Rng, src: &[u8]) -> Vec<u8> {
    let mut v = src.to_vec();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            1 => {
                let i = rng.below(len + 1);
                v.insert(i, rng.next() as u8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                v.remove(i);
            }
            3 => v.truncate(rng.below(len + 1)),
            4 if len >= 40 => {
                // Overwrite one of the header's length bytes with an extreme value.
                let header = len - 40;
                let at = header + [3usize, 4, 8, 9, 10, 11][rng.below(6)];
                v[at] = [0u8, 1, 0x7f, 0x80, 0xff][rng.below(5)];
            }
            5 => {
                let keep = rng.below(len + 1);
                v.truncate(keep);
                v.extend_from_slice(MAGIC);
            }
            _ if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            _ => {}
        }
    }
    v
}

#[test]
fn smoke() {
    let p = pki("tamper");
    let trusted = [p.cert("cert.pem"), p.cert("other.pem")];
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut checked = 0;
    for (name, signed) in signed_variants() {
        for n in 0..100 {
            let m = mutate(&mut rng, &signed);
            let _ = split(&m);
            let _ = strip(&m);
            let r = verify(&m, &trusted);
            assert!(
                r.is_err() || m == signed,
                "{name}: mutation {n} verifies: {r:?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 300);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `split` is the fuzz target: arbitrary bytes followed by the magic.
    #[test]
    fn split_never_panics_on_arbitrary_trailers(body in proptest::collection::vec(any::<u8>(), 0..300), id_type in 0u8..4) {
        let mut v = body;
        if v.len() >= 12 {
            let h = v.len() - 12;
            v[h + 2] = id_type;
        }
        v.extend_from_slice(MAGIC);
        match split(&v) {
            Ok((payload, Some(t))) => {
                prop_assert_eq!(payload.len(), t.offset);
                prop_assert_eq!(t.offset + t.len, v.len());
            }
            Ok((_, None)) => prop_assert!(false, "magic present but no trailer"),
            Err(e) => prop_assert!(e.offset() <= v.len()),
        }
    }
}
