//! Build-independent identities of relocation targets, and the byte/relocation
//! comparison of two symbols.
//!
//! Two relocations are equal when they sit at the same offset, have the same type,
//! the same target *key* and the same addend. The key of a paired symbol is the
//! original's name; strings are keyed by content (their offsets move between
//! builds); compiler-made read-only statics and anonymous read-only sections (jump
//! tables, `.rodata.cst*` constants) by their bytes and their own relocations.

use std::collections::BTreeMap;

use crate::entries::{EntryReloc, Layout};
use crate::names::{is_special_static, special_base};
use crate::object::{ObjectFile, Reloc, SecId, SectionClass, SymId, SymKind, Target};

/// What a relocation points at, independent of section and symbol numbering.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// A symbol paired between the builds, by its original name.
    Sym(String),
    /// A symbol only in the original build.
    Orig(String),
    /// A symbol only in the patched build.
    New(String),
    /// An undefined symbol.
    Extern(String),
    /// A string (without its NUL); the addend is relative to its first byte.
    Str(Vec<u8>),
    /// A writable compiler-made static (`__warned`): one per use site, by kind.
    Special(String),
    /// Read-only bytes compared by content.
    Content(Box<Content>),
    /// A section that cannot be described better, by name.
    Section(String),
}

/// Bytes plus keyed relocations.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Content {
    pub bytes: Vec<u8>,
    pub relocs: Vec<RelocKey>,
}

/// A relocation described by keys.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RelocKey {
    pub offset: u64,
    pub r_type: u32,
    pub key: Key,
    pub addend: i64,
}

const MAX_DEPTH: u32 = 4;

/// One object seen through the pairing.
pub struct Side<'a> {
    pub obj: &'a ObjectFile,
    /// Paired symbols of this side → the original's name.
    pub paired: BTreeMap<SymId, String>,
    /// This is the patched build (unpaired symbols are `New`, else `Orig`).
    pub patched: bool,
    /// Special sections of the object: references into satellite code (`.fixup`,
    /// `.altinstr_replacement`) are keyed by the content of the piece they hit.
    pub layout: Option<&'a Layout>,
}

impl Side<'_> {
    fn sym_key(&self, id: SymId) -> Key {
        match self.paired.get(&id) {
            Some(n) => Key::Sym(n.clone()),
            None if self.patched => Key::New(self.obj.symbol(id).name.clone()),
            None => Key::Orig(self.obj.symbol(id).name.clone()),
        }
    }

    /// The key and key-relative addend of a relocation.
    pub fn target_key(&self, r: &Reloc) -> (Key, i64) {
        self.key_at(r.target, r.addend, r.adjust, 0)
    }

    /// The key of a special-section entry's relocation and the offset of the place
    /// it names from the key (line bits and the entry-relative bias removed).
    pub fn entry_key(&self, r: &EntryReloc) -> (Key, i64) {
        self.key_at(r.reloc.target, r.place(), 0, 0)
    }

    /// `adjust`: bytes from the place a relocation's value names to the spot used
    /// to find the symbol it points into (the PC-relative width for code).
    fn key_at(&self, target: Target, addend: i64, adjust: i64, depth: u32) -> (Key, i64) {
        let obj = self.obj;
        match target {
            Target::Section(sec) => self.section_key(sec, addend, adjust, depth),
            Target::Symbol(id) => {
                let s = obj.symbol(id);
                let Some(sec) = s.section else {
                    return (Key::Extern(s.name.clone()), addend);
                };
                let class = obj.section(sec).class;
                if class == SectionClass::Strings
                    || matches!(s.kind, SymKind::NoType | SymKind::Section)
                {
                    return self.section_key(
                        sec,
                        (s.value as i64).wrapping_add(addend),
                        adjust,
                        depth,
                    );
                }
                if is_special_static(&s.name) {
                    if matches!(class, SectionClass::Data | SectionClass::Bss) {
                        return (Key::Special(special_base(&s.name).to_string()), addend);
                    }
                    if depth < MAX_DEPTH {
                        let content = self.content(sec, s.value, s.size, depth + 1);
                        return (Key::Content(Box::new(content)), addend);
                    }
                }
                (self.sym_key(id), addend)
            }
        }
    }

    fn section_key(&self, sec: SecId, pos: i64, adjust: i64, depth: u32) -> (Key, i64) {
        let obj = self.obj;
        let section = obj.section(sec);
        let probe = pos.wrapping_add(adjust);
        if let Some((start, end)) = self.layout.and_then(|l| l.piece(obj, sec, probe)) {
            if depth < MAX_DEPTH {
                let content = self.content(sec, start, end - start, depth + 1);
                return (Key::Content(Box::new(content)), pos - start as i64);
            }
            return (Key::Section(section.name.clone()), pos);
        }
        match section.class {
            SectionClass::Strings => {
                if let Some((start, s)) = string_at(&section.data, probe) {
                    return (Key::Str(s.to_vec()), pos - start as i64);
                }
            }
            SectionClass::ReadOnly if depth < MAX_DEPTH => {
                if let Some(id) = (probe >= 0)
                    .then(|| obj.symbol_at(sec, probe as u64))
                    .flatten()
                {
                    let s = obj.symbol(id);
                    return self.key_at(Target::Symbol(id), pos - s.value as i64, adjust, depth);
                }
                if section.entsize > 0
                    && section.flags & u64::from(object::elf::SHF_MERGE) != 0
                    && probe >= 0
                {
                    let start = (probe as u64 / section.entsize) * section.entsize;
                    let content = self.content(sec, start, section.entsize, depth + 1);
                    return (Key::Content(Box::new(content)), pos - start as i64);
                }
                let content = self.content(sec, 0, section.size, depth + 1);
                return (Key::Content(Box::new(content)), pos);
            }
            _ => {
                if let Some(id) = (probe >= 0)
                    .then(|| obj.symbol_at(sec, probe as u64))
                    .flatten()
                {
                    let s = obj.symbol(id);
                    return self.key_at(Target::Symbol(id), pos - s.value as i64, adjust, depth);
                }
            }
        }
        (Key::Section(section.name.clone()), pos)
    }

    /// Bytes `[start, start+len)` of a section and the relocations inside, keyed.
    pub fn content(&self, sec: SecId, start: u64, len: u64, depth: u32) -> Content {
        let section = self.obj.section(sec);
        let end = start.saturating_add(len);
        let bytes = if section.sh_type == object::elf::SHT_NOBITS {
            vec![0; len.min(section.size) as usize]
        } else {
            section
                .data
                .get(start as usize..(end as usize).min(section.data.len()))
                .map(<[u8]>::to_vec)
                .unwrap_or_default()
        };
        let relocs = section
            .relocs
            .iter()
            .filter(|r| r.offset >= start && r.offset < end)
            .map(|r| {
                let (key, addend) = if depth < MAX_DEPTH {
                    self.key_at(r.target, r.addend, r.adjust, depth)
                } else {
                    (Key::Section(section.name.clone()), r.addend)
                };
                RelocKey {
                    offset: r.offset - start,
                    r_type: r.r_type,
                    key,
                    addend,
                }
            })
            .collect();
        Content { bytes, relocs }
    }

    /// A symbol's bytes and keyed relocations.
    pub fn symbol_content(&self, id: SymId) -> Content {
        let s = self.obj.symbol(id);
        match s.section {
            Some(sec) => self.content(sec, s.value, s.size, 0),
            None => Content {
                bytes: Vec::new(),
                relocs: Vec::new(),
            },
        }
    }
}

/// The NUL-terminated string containing `pos`: its start and bytes (without NUL).
pub fn string_at(data: &[u8], pos: i64) -> Option<(usize, &[u8])> {
    let pos = usize::try_from(pos).ok()?;
    if pos >= data.len() {
        return None;
    }
    let start = data[..pos]
        .iter()
        .rposition(|&b| b == 0)
        .map_or(0, |i| i + 1);
    let end = data[pos..]
        .iter()
        .position(|&b| b == 0)
        .map_or(data.len(), |i| pos + i);
    Some((start, &data[start..end]))
}

/// A difference that could be a moved line number.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldDelta {
    /// Offset in the symbol.
    pub offset: u64,
    /// `bytes` (an immediate of `width` bytes) or `addend`.
    pub what: &'static str,
    pub orig: i64,
    pub patched: i64,
}

/// How two symbols differ.
#[derive(Clone, Debug, Default)]
pub struct Difference {
    /// A difference that cannot be a line number (size, relocation target...), explained.
    pub structural: Option<String>,
    /// Integer fields that differ.
    pub fields: Vec<FieldDelta>,
}

impl Difference {
    pub fn is_equal(&self) -> bool {
        self.structural.is_none() && self.fields.is_empty()
    }
}

/// Largest value taken for a line number.
const MAX_LINE: i64 = 10_000_000;

/// Compares two contents (original, patched) keyed with their sides.
pub fn compare(obj: &ObjectFile, a: &Content, b: &Content) -> Difference {
    let mut d = Difference::default();
    if a.bytes.len() != b.bytes.len() {
        d.structural = Some(format!("size {:#x} → {:#x}", a.bytes.len(), b.bytes.len()));
        return d;
    }
    if a.relocs.len() != b.relocs.len() {
        d.structural = Some(format!(
            "{} relocations → {}",
            a.relocs.len(),
            b.relocs.len()
        ));
        return d;
    }
    let mut mask = vec![false; a.bytes.len()];
    for (ra, rb) in a.relocs.iter().zip(&b.relocs) {
        if ra.offset != rb.offset || ra.r_type != rb.r_type || ra.key != rb.key {
            d.structural = Some(format!(
                "relocation at +{:#x} {} → +{:#x} {}",
                ra.offset,
                describe(&ra.key),
                rb.offset,
                describe(&rb.key)
            ));
            return d;
        }
        if ra.addend != rb.addend {
            d.fields.push(FieldDelta {
                offset: ra.offset,
                what: "addend",
                orig: ra.addend,
                patched: rb.addend,
            });
        }
        let width = obj
            .machine
            .arch()
            .reloc_info(ra.r_type)
            .map_or(4, |k| k.width as usize);
        let start = ra.offset as usize;
        for m in mask.iter_mut().skip(start).take(width) {
            *m = true;
        }
    }
    let n = a.bytes.len();
    let mut i = 0;
    while i < n {
        if mask[i] || a.bytes[i] == b.bytes[i] {
            i += 1;
            continue;
        }
        let mut found = None;
        for w in [4usize, 2, 1] {
            if i + w > n || mask[i..i + w].iter().any(|&m| m) {
                continue;
            }
            let va = read_le(&a.bytes[i..i + w]);
            let vb = read_le(&b.bytes[i..i + w]);
            if (1..=MAX_LINE).contains(&va) && (1..=MAX_LINE).contains(&vb) {
                found = Some((w, va, vb));
                break;
            }
        }
        match found {
            Some((w, va, vb)) => {
                d.fields.push(FieldDelta {
                    offset: i as u64,
                    what: "bytes",
                    orig: va,
                    patched: vb,
                });
                i += w;
            }
            None => {
                d.structural = Some(format!("bytes differ at +{i:#x}"));
                return d;
            }
        }
    }
    d
}

fn read_le(b: &[u8]) -> i64 {
    b.iter()
        .rev()
        .fold(0i64, |acc, &x| (acc << 8) | i64::from(x))
}

/// Short human text for a key.
pub fn describe(k: &Key) -> String {
    match k {
        Key::Sym(n) => n.clone(),
        Key::Orig(n) => format!("{n} (original only)"),
        Key::New(n) => format!("{n} (new)"),
        Key::Extern(n) => format!("{n} (undefined)"),
        Key::Str(s) => format!("string {:?}", String::from_utf8_lossy(s)),
        Key::Special(n) => format!("{n}.*"),
        Key::Content(c) => format!("{} bytes of read-only data", c.bytes.len()),
        Key::Section(n) => format!("section {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xsplice_payload::Machine;

    #[test]
    fn strings_are_found_around_a_position() {
        let data = b"zero\0one\0two\0";
        assert_eq!(string_at(data, 0), Some((0, &b"zero"[..])));
        assert_eq!(string_at(data, 6), Some((5, &b"one"[..])));
        assert_eq!(string_at(data, 8), Some((5, &b"one"[..]))); // the NUL belongs to "one"
        assert_eq!(string_at(data, -1), None);
        assert_eq!(string_at(data, 13), None);
    }

    fn content(bytes: &[u8], relocs: Vec<RelocKey>) -> Content {
        Content {
            bytes: bytes.to_vec(),
            relocs,
        }
    }

    #[test]
    fn integer_fields_and_structural_differences() {
        let obj = ObjectFile::empty("t.o", Machine::X86_64);
        // mov $120,%esi; call warn (reloc at 6) — line 120 → 122.
        let call = |n| RelocKey {
            offset: 6,
            r_type: object::elf::R_X86_64_PLT32,
            key: Key::Extern(n),
            addend: -4,
        };
        let a = content(
            &[0xbe, 120, 0, 0, 0, 0xe8, 0, 0, 0, 0],
            vec![call("warn".into())],
        );
        let b = content(
            &[0xbe, 122, 0, 0, 0, 0xe8, 0, 0, 0, 0],
            vec![call("warn".into())],
        );
        let d = compare(&obj, &a, &b);
        assert!(d.structural.is_none());
        assert_eq!(
            d.fields,
            [FieldDelta {
                offset: 1,
                what: "bytes",
                orig: 120,
                patched: 122
            }]
        );

        let c = content(
            &[0xbe, 120, 0, 0, 0, 0xe8, 0, 0, 0, 0],
            vec![call("other".into())],
        );
        assert_eq!(
            compare(&obj, &a, &c).structural.as_deref(),
            Some("relocation at +0x6 warn (undefined) → +0x6 other (undefined)")
        );
        // Any difference readable as a small integer is a field; whether it is a line
        // number is decided with the DWARF line programs (classify).
        let e = content(
            &[0xbf, 120, 0, 0, 0, 0xe8, 0, 0, 0, 0],
            vec![call("warn".into())],
        );
        assert_eq!(compare(&obj, &a, &e).fields[0].orig, 0x78be);
        let g1 = content(
            &[0xbe, 120, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0x00],
            vec![call("warn".into())],
        );
        let g2 = content(
            &[0xbe, 120, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0x90],
            vec![call("warn".into())],
        );
        assert_eq!(
            compare(&obj, &g1, &g2).structural.as_deref(),
            Some("bytes differ at +0xa")
        );
        let f = content(
            &[0xbe, 120, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0x90],
            vec![call("warn".into())],
        );
        assert_eq!(
            compare(&obj, &a, &f).structural.as_deref(),
            Some("size 0xa → 0xb")
        );
        assert!(compare(&obj, &a, &a).is_equal());
    }
}
