//! The fuzz target body for the trailer reader (`fuzz/fuzz_targets/signature_split.rs`)
//! and its 100-iteration `smoke()` test under plain `cargo test`.

use crate::algo::HashAlgo;
use crate::cms::{self, SidInput};
use crate::elf::minimal_elf;
use crate::trailer::{self, MAGIC, split, strip};
use crate::verify::check_trailer;
#[cfg(test)]
use crate::{Format, SignerId};

/// Reads fuzzer bytes as a stream of small choices (zeros once exhausted).
struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Choices<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.u8()).collect()
    }

    fn left(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
}

/// A well-formed signed file (legacy or pkcs7, by the first choice) whose payload,
/// names and signature come from `data`, then mutated at trailer positions the rest
/// of `data` picks. Returns the file and whether any mutation was applied.
pub(crate) fn nearly_valid(data: &[u8]) -> (Vec<u8>, bool) {
    let mut c = Choices { data, pos: 0 };
    let kind = c.u8() % 3;
    let hash = [HashAlgo::Sha256, HashAlgo::Sha384, HashAlgo::Sha512][usize::from(c.u8() % 3)];
    let n = usize::from(c.u8() % 16);
    let payload = minimal_elf(&c.bytes(n));
    let n = usize::from(c.u8() % 64) + 1;
    let signature = c.bytes(n);
    let mut file = payload.clone();
    match kind {
        0 => {
            let n = usize::from(c.u8() % 24);
            let signer = c.bytes(n);
            let n = usize::from(c.u8() % 24);
            let key_id = c.bytes(n);
            let id = hash.legacy_id().unwrap_or(4);
            trailer::append_legacy(&mut file, id, &signer, &key_id, &signature);
        }
        _ => {
            let n = usize::from(c.u8() % 24) + 1;
            let skid = c.bytes(n);
            let issuer = [
                0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, b'C',
                b'A',
            ];
            let serial = [0x02, 0x01, c.u8() & 0x7f];
            let sid = if kind == 1 {
                SidInput::IssuerSerial {
                    issuer_der: &issuer,
                    serial_der: &serial,
                }
            } else {
                SidInput::SubjectKeyId(&skid)
            };
            if let Ok(der) = cms::encode(hash, sid, &signature) {
                trailer::append_pkcs7(&mut file, &der);
            }
        }
    }
    let trailer_len = file.len() - payload.len();
    let mut mutated = false;
    while c.left() >= 3 {
        let at = payload.len() + usize::from(u16::from_le_bytes([c.u8(), c.u8()])) % trailer_len;
        let v = c.u8();
        if v & 1 == 0 {
            file[at] ^= 1 << (v >> 5);
        } else {
            file[at] = v;
        }
        mutated = true;
    }
    (file, mutated)
}

/// `split`, `strip` and `check_trailer` on raw bytes and on a nearly valid trailer:
/// never panic, and what they return is consistent with the input.
pub fn fuzz_split(data: &[u8]) {
    let (near, mutated) = nearly_valid(data);
    if !mutated {
        let ok = check_trailer(&near);
        assert!(
            ok.is_ok(),
            "an unmutated generated trailer is refused: {ok:?}"
        );
    }
    for input in [data, &near[..]] {
        match split(input) {
            Ok((payload, Some(t))) => {
                assert_eq!(payload.len(), t.offset);
                assert_eq!(t.offset + t.len, input.len());
                assert!(!t.to_string().is_empty());
            }
            Ok((payload, None)) => {
                assert_eq!(payload, input);
                assert!(!input.ends_with(MAGIC));
            }
            Err(e) => assert!(e.offset() <= input.len(), "{e}"),
        }
        if let Ok(unsigned) = strip(input) {
            assert!(input.starts_with(unsigned));
            assert!(!unsigned.ends_with(MAGIC));
        }
        let _ = check_trailer(input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xsplice_payload::mutate::pseudo_random;

    /// The fuzz target's 100-iteration smoke run, part of plain `cargo test`.
    #[test]
    fn smoke() {
        for seed in 0..100 {
            fuzz_split(&pseudo_random(seed, 32 + (seed as usize % 5) * 30));
        }
    }

    #[test]
    fn unmutated_generated_trailers_cover_all_three_kinds() {
        let expect = [
            (Format::Legacy, None),
            (Format::Pkcs7, Some(false)),
            (Format::Pkcs7, Some(true)),
        ];
        for (kind, (format, skid)) in (0u8..3).zip(expect) {
            let (file, mutated) = nearly_valid(&[kind, 1]);
            assert!(!mutated);
            let (_, t) = check_trailer(&file).unwrap();
            assert_eq!(t.format, format);
            assert_eq!(t.hash, HashAlgo::Sha384);
            let is_skid = t.signer_id.map(|s| matches!(s, SignerId::SubjectKeyId(_)));
            assert_eq!(is_skid, skid);
        }
        let (_, mutated) = nearly_valid(&[0, 0, 0, 0, 0, 0, 0, 5, 5, 5]);
        assert!(mutated);
    }
}
