//! "Nearly valid" payloads for fuzzing: a valid payload with exactly one field
//! changed, chosen by the fuzzer's bytes. Random bytes almost never get past the ELF
//! magic; these reach the deep checks (pointer relocations, counts, 1:1 rules...).

use crate::arch::Machine;
use crate::fixtures;
use crate::layout::*;
use crate::model::*;
use crate::read::{ReadPayload, read};
use crate::write::to_bytes;

/// A field of the file a mutation may hit: file offset and width in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldAt {
    pub offset: usize,
    pub width: usize,
}

/// Every field of a valid payload worth mutating: ELF header, section headers,
/// symbols, relocations, every field of every `.xsplice` structure, note headers and
/// string terminators.
pub fn fields(bytes: &[u8], parsed: &ReadPayload) -> Vec<FieldAt> {
    let f = |offset: usize, width: usize| FieldAt { offset, width };
    let mut out = vec![
        f(0x10, 2),
        f(0x12, 2),
        f(0x28, 8),
        f(0x3a, 2),
        f(0x3c, 2),
        f(0x3e, 2),
        f(4, 1),
        f(5, 1),
    ];
    let shoff = u64::from_le_bytes(bytes[0x28..0x30].try_into().expect("checked header")) as usize;
    for s in &parsed.elf_sections {
        let h = shoff + 64 * s.index;
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
        let start = s.offset as usize;
        if s.name == ".symtab" {
            for i in 0..(s.size as usize / 24) {
                for (o, w) in [(0, 4), (4, 1), (6, 2), (8, 8), (16, 8)] {
                    out.push(f(start + i * 24 + o, w));
                }
            }
        } else if s.name.starts_with(".rela") {
            for i in 0..(s.size as usize / 24) {
                for (o, w) in [(0, 8), (8, 4), (12, 4), (16, 8)] {
                    out.push(f(start + i * 24 + o, w));
                }
            }
        } else if let Some(layout) = ALL_STRUCTS
            .iter()
            .copied()
            .chain([&crate::livepatch::layout::LIVEPATCH_FUNC])
            .find(|l| l.section == s.name)
        {
            for i in 0..(s.size as usize / layout.size) {
                for field in layout.fields {
                    out.push(f(
                        start + i * layout.size + field.offset,
                        field.width.min(8),
                    ));
                }
            }
        } else if s.sh_type == 7 {
            for (o, w) in [(0, 4), (4, 4), (8, 4), (12, 4)] {
                out.push(f(start + o, w));
            }
        } else if (s.name == ".xsplice.strings" || s.name == ".modinfo") && s.size > 0 {
            out.push(f(start + s.size as usize - 1, 1));
        }
    }
    out.retain(|x| x.offset + x.width <= bytes.len());
    out
}

/// Values that tend to sit on a boundary of some check, for a `width`-byte field
/// holding `old`: `pick` chooses, `steps` are two strides typical of the format
/// (an entry size, an alignment), `raw` is the value of the last choice. Shared by
/// every crate's nearly-valid mutator.
pub fn boundary_value(width: usize, old: u64, pick: u8, raw: u64, steps: [u64; 2]) -> u64 {
    let max = if width == 8 {
        u64::MAX
    } else {
        (1u64 << (width * 8)) - 1
    };
    let v = match pick % 12 {
        0 => 0,
        1 => 1,
        2 => max,
        3 => old.wrapping_add(1),
        4 => old.wrapping_sub(1),
        5 => old.wrapping_add(steps[0]),
        6 => old.wrapping_add(steps[1]),
        7 => max >> 1,
        8 => (max >> 1) + 1,
        9 => old ^ 0x80,
        10 => old.wrapping_mul(2),
        _ => raw,
    };
    v & max
}

/// Payload fields: 8-byte pointers and alignments, 64-byte structures.
fn interesting(width: usize, old: u64, pick: u8, raw: u64) -> u64 {
    boundary_value(width, old, pick, raw, [8, 64])
}

/// xorshift64*: a deterministic byte source for the `smoke()` tests that run each
/// fuzz target's body in plain `cargo test`.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Builds a nearly valid payload, of either encoding, from arbitrary fuzzer bytes.
/// Deterministic.
pub fn nearly_valid(data: &[u8]) -> Vec<u8> {
    use crate::Flavour::{Livepatch, Xsplice};
    let (model, flavour) = match data.first().copied().unwrap_or(0) % 4 {
        0 => (fixtures::xsa125(), Xsplice),
        1 => (fixtures::full(), Xsplice),
        2 => (fixtures::xsa125(), Livepatch),
        _ => (fixtures::livepatch_full(), Livepatch),
    };
    let mut bytes = to_bytes(&model, flavour).expect("fixtures are valid");
    mutate_fields(&mut bytes, data.get(1..).unwrap_or(&[]));
    bytes
}

/// Changes one or two fields (of [`fields`]) of a payload the reader accepts, as
/// `data` chooses: `data[0]` picks the number of changes, then 12 bytes per change
/// pick the field, a boundary value or a raw value. Deterministic. A payload the
/// reader refuses is left as it is (there is no field list to choose from).
pub fn mutate_fields(bytes: &mut [u8], data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let Ok(parsed) = read(bytes) else {
        return;
    };
    let all = fields(bytes, &parsed);
    if all.is_empty() {
        return;
    }
    let mutations = 1 + usize::from(byte(0) % 3 == 0);
    for m in 0..mutations {
        let base = 1 + m * 12;
        let idx = usize::from(u16::from_le_bytes([byte(base), byte(base + 1)])) % all.len();
        let at = all[idx];
        let mut raw = [0u8; 8];
        for (k, r) in raw.iter_mut().enumerate() {
            *r = byte(base + 3 + k);
        }
        let mut old = [0u8; 8];
        old[..at.width].copy_from_slice(&bytes[at.offset..at.offset + at.width]);
        let v = interesting(
            at.width,
            u64::from_le_bytes(old),
            byte(base + 2),
            u64::from_le_bytes(raw),
        );
        bytes[at.offset..at.offset + at.width].copy_from_slice(&v.to_le_bytes()[..at.width]);
    }
}

/// The payload reader's fuzz target: raw bytes, then a nearly valid payload built from
/// them. Both must be read or refused, never panic; an accepted payload must write
/// back to bytes that read as the same model.
pub fn fuzz_read(data: &[u8]) {
    for input in [data.to_vec(), nearly_valid(data)] {
        if let Ok(r) = read(&input) {
            let again =
                to_bytes(&r.payload, r.flavour).expect("an accepted payload is a valid model");
            assert_eq!(
                read(&again).expect("rewritten payload reads").payload,
                r.payload
            );
        }
    }
}

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
    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, _| (acc << 8) | u64::from(self.u8()))
    }
    fn below(&mut self, n: usize) -> usize {
        usize::from(self.u8()) % n.max(1)
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.u8()).collect()
    }
}

/// A valid payload model built from arbitrary bytes (every byte string gives one):
/// 1-5 content sections of every kind, local and global symbols, defined and
/// undefined, relocations of every accepted type, 1-4 trampolines, optional old code
/// and dependencies. The generator of the round-trip fuzz target and property test.
pub fn model_from_bytes(data: &[u8]) -> Payload {
    let mut c = Choices { data, pos: 0 };
    let kinds = [
        ContentKind::Text,
        ContentKind::ReadOnly,
        ContentKind::Strings,
        ContentKind::Data,
        ContentKind::Bss,
    ];
    let name_len = 1 + c.below(MAX_NAME_LEN);
    let name: String = (0..name_len)
        .map(|_| char::from(b'a' + c.u8() % 26))
        .collect();
    let target_build_id = {
        let n = 1 + c.below(MAX_BUILD_ID_LEN);
        c.bytes(n)
    };
    let depends = (0..c.below(3))
        .map(|_| {
            let n = 1 + c.below(32);
            c.bytes(n)
        })
        .collect();
    let mut sections = Vec::new();
    for i in 0..1 + c.below(5) {
        // Section 0 is text so every entry has code to point at.
        let kind = if i == 0 {
            ContentKind::Text
        } else {
            kinds[c.below(kinds.len())]
        };
        let len = 16 + c.below(200);
        let align = 1u64 << c.below(5);
        let sname = format!(".sec{i}.{kind:?}").to_lowercase();
        sections.push(if kind == ContentKind::Bss {
            ContentSection {
                size: len as u64,
                ..ContentSection::with_data(&sname, kind, align, vec![])
            }
        } else {
            let bytes = c.bytes(len);
            ContentSection::with_data(&sname, kind, align, bytes)
        });
    }
    let (mut locals, mut globals) = (Vec::new(), Vec::new());
    for i in 0..c.below(8) {
        let kind = [SymbolKind::NoType, SymbolKind::Func, SymbolKind::Object][c.below(3)];
        let global = c.u8().is_multiple_of(2);
        let defined = !global || !c.u8().is_multiple_of(4);
        let definition = defined.then(|| {
            let section = c.below(sections.len());
            let len = sections[section].size;
            let offset = c.u64() % len;
            SymbolDef {
                section,
                offset,
                size: c.u64() % (len - offset + 1),
            }
        });
        let s = Symbol {
            name: format!("sym{i}"),
            kind,
            global: global || !defined,
            definition,
        };
        if s.global {
            globals.push(s)
        } else {
            locals.push(s)
        }
    }
    let symbols: Vec<Symbol> = locals.into_iter().chain(globals).collect();
    use object::elf::{
        R_X86_64_32, R_X86_64_32S, R_X86_64_64, R_X86_64_PC32, R_X86_64_PC64, R_X86_64_PLT32,
    };
    let types = [
        R_X86_64_64,
        R_X86_64_PC32,
        R_X86_64_PLT32,
        R_X86_64_32,
        R_X86_64_32S,
        R_X86_64_PC64,
    ];
    for _ in 0..c.below(12) {
        let si = c.below(sections.len());
        let r_type = types[c.below(types.len())];
        let width = u64::from(
            Machine::X86_64
                .arch()
                .reloc_info(r_type)
                .expect("accepted type")
                .width,
        );
        let size = sections[si].size;
        let target = if symbols.is_empty() || c.u8().is_multiple_of(2) {
            RelocTarget::Section(c.below(sections.len()))
        } else {
            RelocTarget::Symbol(c.below(symbols.len()))
        };
        let (offset, addend) = (c.u64() % (size - width + 1), c.u64() as i64);
        if sections[si].kind != ContentKind::Bss {
            sections[si].relocs.push(Reloc {
                offset,
                r_type,
                target,
                addend,
            });
        }
    }
    let code_len = sections[0].size;
    let mut new = Vec::new();
    for i in 0..1 + c.below(4) {
        let address = c.u64();
        let fsize = 5 + c.u64() as u32 % 5000;
        let offset = c.u64() % code_len;
        let name = format!("fn{i}");
        let flags = XSPLICE_SECTION_TEXT
            | if c.u8().is_multiple_of(2) {
                XSPLICE_SECTION_NO_STACKCHECK
            } else {
                0
            };
        let mut e = Entry::trampoline(
            Machine::X86_64,
            &name,
            address,
            fsize,
            ContentRef { section: 0, offset },
            (code_len - offset) as u32,
        );
        e.section.flags = flags;
        new.push(e);
    }
    let old = c.u8().is_multiple_of(2).then(|| {
        let expected = c.bytes(5);
        sections.push(ContentSection::with_data(
            ".rodata.old",
            ContentKind::ReadOnly,
            1,
            expected,
        ));
        let section = sections.len() - 1;
        new.iter()
            .map(|n| Entry {
                symbol: n.symbol.clone(),
                section: SectionInfo {
                    flags: XSPLICE_SECTION_TEXT | XSPLICE_SECTION_MATCH_EXACT,
                    ..n.section
                },
                reloc: None,
                patch: Patch {
                    kind: XSPLICE_PATCH_INLINE_TEXT,
                    size: 5,
                    addr: 0,
                    content: ContentRef { section, offset: 0 },
                },
            })
            .collect()
    });
    Payload {
        machine: Machine::X86_64,
        hooks: Vec::new(),
        name,
        target_build_id,
        depends,
        new,
        old,
        sections,
        symbols,
    }
}

/// The round-trip fuzz target: model → bytes → model must be the identity, and
/// writing must be a function of the model.
pub fn fuzz_roundtrip(data: &[u8]) {
    let model = model_from_bytes(data);
    let bytes = to_bytes(&model, crate::Flavour::Xsplice).expect("generated models are valid");
    let back = read(&bytes).expect("written payloads read back");
    assert_eq!(back.payload, model);
    assert_eq!(
        to_bytes(&back.payload, crate::Flavour::Xsplice).expect("valid"),
        bytes
    );
    // The same model in the livepatch encoding, when it fits that encoding: the
    // reader's model (expectations in sections of their own) writes the same bytes.
    if model.validate(crate::Flavour::Livepatch).is_ok() {
        let lp = to_bytes(&model, crate::Flavour::Livepatch).expect("validated");
        let back = read(&lp).expect("written livepatch payloads read back");
        assert_eq!(back.flavour, crate::Flavour::Livepatch);
        assert_eq!(
            to_bytes(&back.payload, crate::Flavour::Livepatch).expect("valid"),
            lp
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The fuzz target's 100-iteration smoke run, part of plain `cargo test`.
    #[test]
    fn smoke() {
        for seed in 0..100 {
            fuzz_read(&pseudo_random(seed, 64));
            fuzz_roundtrip(&pseudo_random(seed, 1024));
        }
    }

    /// The generator also makes models the livepatch encoding takes, so the
    /// round-trip target covers both writers and readers.
    #[test]
    fn generated_models_cover_both_encodings() {
        let fits = (0..100)
            .filter(|&seed| {
                model_from_bytes(&pseudo_random(seed, 1024))
                    .validate(crate::Flavour::Livepatch)
                    .is_ok()
            })
            .count();
        assert!(
            fits >= 10,
            "only {fits} of 100 generated models fit livepatch"
        );
    }

    /// Nearly valid inputs reach many different checks, not just the magic.
    #[test]
    fn nearly_valid_payloads_reach_deep_checks() {
        let mut kinds = BTreeSet::new();
        let mut refused = 0;
        for seed in 0..600 {
            if let Err(e) = read(&nearly_valid(&pseudo_random(seed, 64))) {
                kinds.insert(format!("{:?}", e.kind));
                refused += 1;
            }
        }
        assert!(refused > 300, "only {refused} of 600 refused");
        assert!(kinds.len() >= 10, "reached only {kinds:?}");
    }
}
