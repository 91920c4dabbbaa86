//! The body of the `object_read` fuzz target (`fuzz/fuzz_targets/object_read.rs`) and
//! its 100-iteration `smoke()` test under plain `cargo test`.
//!
//! Objects are untrusted input. The target reads the fuzzer's bytes as an object, then
//! builds a *nearly valid* object: one of two committed gcc objects
//! (`tests/fixtures/fuzz/`, see the README there) with one to three fields changed —
//! ELF header, section header, symbol and relocation fields, or bytes of code and
//! DWARF — and runs the reader, the per-pair analysis (correlation, DWARF,
//! classification, refusals) and the whole diff against the committed image. Nothing
//! may panic, and whatever the reader accepts must satisfy what later phases rely on.

use object::Endianness;
use object::elf;
use object::read::elf::{FileHeader, SectionHeader as _};

use xsplice_payload::mutate::boundary_value;

use crate::object::{ObjectFile, Target};
use crate::{DiffOptions, ObjectPair, analyse_pair, diff_objects};

/// Object fields: 24-byte symbols and relocations, 4 KiB pages.
fn interesting(width: usize, old: u64, pick: u8, raw: u64) -> u64 {
    boundary_value(width, old, pick, raw, [24, 0x1000])
}

/// `seed.c` built as the running image's object.
pub const ORIG_O: &[u8] = include_bytes!("../tests/fixtures/fuzz/orig.o");
/// `seed.c` built with `-DPATCHED`.
pub const PATCHED_O: &[u8] = include_bytes!("../tests/fixtures/fuzz/patched.o");
/// `orig.o` linked into an image.
pub const IMAGE: &[u8] = include_bytes!("../tests/fixtures/fuzz/image.elf");

/// A field of an object a mutation may hit: file offset and width in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldAt {
    pub offset: usize,
    pub width: usize,
}

/// Every field worth mutating in a well-formed ELF64 relocatable object: header,
/// section headers, symbols, RELA entries, and every 8th byte of code and debug
/// sections. Empty when the object does not parse.
pub fn fields(bytes: &[u8]) -> Vec<FieldAt> {
    let f = |offset: usize, width: usize| FieldAt { offset, width };
    let mut out: Vec<FieldAt> = [
        (4, 1),
        (5, 1),
        (0x10, 2),
        (0x12, 2),
        (0x28, 8),
        (0x3a, 2),
        (0x3c, 2),
        (0x3e, 2),
    ]
    .into_iter()
    .map(|(o, w)| f(o, w))
    .collect();
    let Ok(header) = elf::FileHeader64::<Endianness>::parse(bytes) else {
        return Vec::new();
    };
    let Ok(endian) = header.endian() else {
        return Vec::new();
    };
    let Ok(table) = header.sections(endian, bytes) else {
        return Vec::new();
    };
    let shoff = header.e_shoff(endian) as usize;
    for (i, sh) in table.iter().enumerate() {
        let h = shoff + 64 * i;
        for (o, w) in [
            (0, 4),
            (4, 4),
            (8, 8),
            (24, 8),
            (32, 8),
            (40, 4),
            (44, 4),
            (48, 8),
            (56, 8),
        ] {
            out.push(f(h + o, w));
        }
        let start = sh.sh_offset(endian) as usize;
        let size = sh.sh_size(endian) as usize;
        let name = table.section_name(endian, sh).unwrap_or_default();
        match sh.sh_type(endian) {
            elf::SHT_SYMTAB => {
                for k in 0..size / 24 {
                    for (o, w) in [(0, 4), (4, 1), (5, 1), (6, 2), (8, 8), (16, 8)] {
                        out.push(f(start + 24 * k + o, w));
                    }
                }
            }
            elf::SHT_RELA => {
                for k in 0..size / 24 {
                    for (o, w) in [(0, 8), (8, 4), (12, 4), (16, 8)] {
                        out.push(f(start + 24 * k + o, w));
                    }
                }
            }
            elf::SHT_PROGBITS if name.starts_with(b".debug") || name.starts_with(b".text") => {
                for k in (0..size).step_by(8) {
                    out.push(f(start + k, 1));
                }
            }
            _ => {}
        }
    }
    out.retain(|x| x.offset + x.width <= bytes.len());
    out
}

/// A nearly valid object from fuzzer bytes: `data[0]` picks the seed object and the
/// number of changes (1-3), then 11 bytes per change pick the field and the value.
/// Deterministic.
pub fn nearly_valid(data: &[u8]) -> (bool, Vec<u8>) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let patched_side = byte(0) & 1 == 1;
    let mut bytes = if patched_side { PATCHED_O } else { ORIG_O }.to_vec();
    let all = fields(&bytes);
    for m in 0..1 + usize::from(byte(0) >> 1) % 3 {
        let base = 1 + 11 * m;
        let at = all[usize::from(u16::from_le_bytes([byte(base), byte(base + 1)])) % all.len()];
        let raw = u64::from_le_bytes(std::array::from_fn(|k| byte(base + 3 + k)));
        let mut old = [0u8; 8];
        old[..at.width].copy_from_slice(&bytes[at.offset..at.offset + at.width]);
        let v = interesting(at.width, u64::from_le_bytes(old), byte(base + 2), raw);
        bytes[at.offset..at.offset + at.width].copy_from_slice(&v.to_le_bytes()[..at.width]);
    }
    (patched_side, bytes)
}

/// What the later phases take for granted about an object the reader accepted.
pub fn assert_consistent(o: &ObjectFile) {
    for (i, s) in o.sections.iter().enumerate() {
        assert_eq!(s.index, i);
        if s.sh_type != elf::SHT_NOBITS && s.sh_type != elf::SHT_NULL {
            assert_eq!(s.data.len() as u64, s.size, "section {i} bytes");
        }
        for r in &s.relocs {
            assert!(r.offset < s.size, "relocation past section {i}");
            match r.target {
                Target::Symbol(k) => assert!(k < o.symbols.len(), "reloc symbol {k}"),
                Target::Section(k) => assert!(k < o.sections.len(), "reloc section {k}"),
            }
        }
    }
    for (i, s) in o.symbols.iter().enumerate() {
        assert_eq!(s.index, i);
        if let Some(sec) = s.section {
            assert!(sec < o.sections.len(), "symbol {i} section {sec}");
        }
    }
}

fn run_pair(orig: Vec<u8>, patched: Vec<u8>, image: &xsplice_image::Image) {
    let pair = ObjectPair {
        name: "seed.o".into(),
        orig: Some(orig),
        patched: Some(patched),
    };
    if analyse_pair(&pair).is_ok() {
        let opts = DiffOptions {
            flavour: xsplice_payload::Flavour::Xsplice,
            name: "fuzz".into(),
            depends: vec![],
            old_code: true,
        };
        let _ = diff_objects(&[pair], image, &opts);
    }
}

/// The fuzz target: raw bytes as an object (and as the patched side of a pair), then
/// a nearly valid object through every phase.
pub fn fuzz_object(data: &[u8]) {
    let image = xsplice_image::Image::parse(IMAGE.to_vec()).expect("the committed image parses");
    if let Ok(o) = ObjectFile::parse("raw.o", data) {
        assert_consistent(&o);
        run_pair(ORIG_O.to_vec(), data.to_vec(), &image);
    }
    let (patched_side, bytes) = nearly_valid(data);
    if let Ok(o) = ObjectFile::parse("seed.o", &bytes) {
        assert_consistent(&o);
    }
    if patched_side {
        run_pair(ORIG_O.to_vec(), bytes, &image);
    } else {
        run_pair(bytes, PATCHED_O.to_vec(), &image);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DiffOutcome;
    use xsplice_payload::mutate::pseudo_random;

    /// The fuzz target's 100-iteration smoke run.
    #[test]
    fn smoke() {
        for seed in 0..100 {
            fuzz_object(&pseudo_random(seed, 48));
        }
    }

    /// The seeds are a real patch: the unmutated pair gives a payload, so mutations
    /// start from inputs that reach every phase.
    #[test]
    fn seed_pair_gives_a_payload() {
        let image = xsplice_image::Image::parse(IMAGE.to_vec()).unwrap();
        let pair = ObjectPair {
            name: "seed.o".into(),
            orig: Some(ORIG_O.to_vec()),
            patched: Some(PATCHED_O.to_vec()),
        };
        let opts = DiffOptions {
            flavour: xsplice_payload::Flavour::Xsplice,
            name: "fuzz".into(),
            depends: vec![],
            old_code: true,
        };
        match diff_objects(&[pair], &image, &opts).unwrap() {
            DiffOutcome::Payload { payload, .. } => {
                let patched: Vec<&str> =
                    payload.new.iter().map(|e| e.symbol.name.as_str()).collect();
                // gcc inlines `dispatch` into `handle`: both change.
                assert_eq!(patched, ["dispatch", "handle"]);
            }
            other => panic!("{:?}", other.report().to_text()),
        }
    }

    /// Mutations reach the reader's checks and get past them.
    #[test]
    fn nearly_valid_objects_are_both_refused_and_accepted() {
        let (mut refused, mut accepted) = (0, 0);
        let mut reasons = std::collections::BTreeSet::new();
        for seed in 0..300 {
            let (_, b) = nearly_valid(&pseudo_random(seed, 48));
            match ObjectFile::parse("seed.o", &b) {
                Ok(_) => accepted += 1,
                Err(e) => {
                    refused += 1;
                    reasons.insert(e.what.split(' ').next().unwrap_or("").to_string());
                }
            }
        }
        assert!(refused >= 30 && accepted >= 30, "{refused} {accepted}");
        assert!(reasons.len() >= 3, "{reasons:?}");
    }
}
