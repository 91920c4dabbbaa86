//! Strict reader of the livepatch encoding: ELF (already validated by
//! `crate::read::elf`) → the model.
//!
//! Stricter than Xen where Xen would misbehave or where the model has no word for
//! what the file says (`specs/livepatch-format.md` lists each case): special sections
//! must be SHF_ALLOC (Xen 4.17 dereferences NULL otherwise), `_pad` must be zero,
//! `new_addr` must point at code of the payload (Xen's NOP entries, `new_addr` 0, are
//! refused), and every structure is read through its relocations.

use std::collections::BTreeMap;

use super::layout::*;
use crate::flavour::Flavour;
use crate::layout::{BUILD_ID_SECTION, XSPLICE_PATCH_INLINE_TEXT, XSPLICE_SECTION_MATCH_EXACT};
use crate::layout::{XSPLICE_SECTION_TEXT, XSPLICE_SECTION_TEXT_INLINE};
use crate::model::*;
use crate::read::content::{
    classify_sections, decode_content, own_build_id, parse_notes, required,
};
use crate::read::elf::{self, Elf, Rela, Shdr};
use crate::read::error::{ReadErrorKind as K, Result, err};

/// Where a relocated 64-bit field points: an ELF symbol and the addend.
#[derive(Clone, Copy, Debug)]
struct Target<'e> {
    rela: &'e Rela,
}

struct Funcs<'e> {
    shdr: &'e Shdr,
    /// Relocations by offset in the section.
    relocs: BTreeMap<u64, Target<'e>>,
}

pub(crate) fn decode(elf: &Elf) -> Result<(Payload, Vec<u8>)> {
    let content = classify_sections(elf, Flavour::Livepatch)?;
    let content_index: BTreeMap<usize, usize> = content
        .iter()
        .enumerate()
        .map(|(i, s)| (s.index, i))
        .collect();
    for s in elf.sections.iter().skip(1) {
        if (is_format_section(&s.name) || s.name == BUILD_ID_SECTION) && !s.is_alloc() {
            return Err(err(
                K::BadSection,
                s.describe(),
                "sh_flags",
                s.header_offset + 8,
                "Xen reads this section from the loaded payload: it must be SHF_ALLOC",
            ));
        }
    }
    let (mut sections, symbols) = decode_content(elf, &content_index, &content)?;
    let build_id = own_build_id(elf)?;
    let target_build_id = one_note(elf, required(elf, XEN_DEPENDS_SECTION)?)?;
    let previous = one_note(elf, required(elf, DEPENDS_SECTION)?)?;
    let depends = if previous == target_build_id {
        Vec::new()
    } else {
        vec![previous]
    };
    let name = match elf.section_by_name(MODINFO_SECTION)? {
        Some(s) => modinfo_name(elf, s)?,
        None => String::new(),
    };

    let mut new = Vec::new();
    let mut old = Vec::new();
    if let Some(shdr) = elf.section_by_name(FUNCS_SECTION)? {
        let funcs = funcs_section(elf, shdr)?;
        let n = shdr.size / LIVEPATCH_FUNC.size as u64;
        for i in 0..n {
            let (entry, expect) = func(elf, &funcs, &content_index, &sections, i)?;
            if let Some(bytes) = expect {
                // The expected bytes get a read-only section of their own, as the
                // builder's old code has; the writer folds it back into `expect`.
                sections.push(ContentSection::with_data(
                    &format!(".rodata.old.{}", entry.symbol.name.replace('#', ".")),
                    ContentKind::ReadOnly,
                    1,
                    bytes.clone(),
                ));
                old.push(Entry {
                    symbol: entry.symbol.clone(),
                    section: SectionInfo {
                        address: entry.section.address,
                        size: entry.section.size,
                        flags: XSPLICE_SECTION_TEXT
                            | XSPLICE_SECTION_TEXT_INLINE
                            | XSPLICE_SECTION_MATCH_EXACT,
                    },
                    reloc: None,
                    patch: Patch {
                        kind: XSPLICE_PATCH_INLINE_TEXT,
                        size: bytes.len() as u32,
                        addr: 0,
                        content: ContentRef {
                            section: sections.len() - 1,
                            offset: 0,
                        },
                    },
                });
            }
            new.push(entry);
        }
    }
    let hooks = hooks(elf, &content_index, &symbols)?;
    let payload = Payload {
        machine: elf.machine,
        name,
        target_build_id,
        depends,
        new,
        old: (!old.is_empty()).then_some(old),
        sections,
        symbols,
        hooks,
    };
    payload.validate(Flavour::Livepatch).map_err(|e| {
        err(
            K::InvalidModel,
            "livepatch payload",
            e.what.clone(),
            0,
            e.why.clone(),
        )
    })?;
    Ok((payload, build_id))
}

/// A section holding exactly one GNU build-id note.
fn one_note(elf: &Elf, s: &Shdr) -> Result<Vec<u8>> {
    let mut notes = parse_notes(elf, s)?;
    if notes.len() != 1 {
        return Err(err(
            K::BadNote,
            s.describe(),
            "sh_size",
            s.header_offset + 32,
            format!(
                "{} notes; Xen reads the first only, so one is expected",
                notes.len()
            ),
        ));
    }
    Ok(notes.remove(0))
}

fn modinfo_name(elf: &Elf, s: &Shdr) -> Result<String> {
    let data = s.data(elf.data);
    if data.last() != Some(&0) {
        return Err(err(
            K::BadSection,
            s.describe(),
            "sh_size",
            s.header_offset + 32,
            "metadata must be NUL-terminated strings (Xen refuses it otherwise)",
        ));
    }
    let name = data
        .split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(MODINFO_NAME_KEY.as_bytes()))
        .unwrap_or(&[]);
    String::from_utf8(name.to_vec()).map_err(|_| {
        err(
            K::BadValue,
            s.describe(),
            "name=",
            s.offset,
            "name is not UTF-8",
        )
    })
}

fn funcs_section<'e>(elf: &'e Elf, shdr: &'e Shdr) -> Result<Funcs<'e>> {
    if shdr.sh_type != elf::SHT_PROGBITS || shdr.flags & elf::SHF_EXECINSTR != 0 {
        return Err(err(
            K::BadSection,
            shdr.describe(),
            "sh_flags",
            shdr.header_offset + 8,
            "must be PROGBITS data, SHF_ALLOC (SHF_WRITE optional)",
        ));
    }
    if shdr.size == 0 || !shdr.size.is_multiple_of(LIVEPATCH_FUNC.size as u64) {
        return Err(err(
            K::BadSection,
            shdr.describe(),
            "sh_size",
            shdr.header_offset + 32,
            format!(
                "{:#x} is not a non-zero multiple of sizeof(struct livepatch_func) = {}",
                shdr.size, LIVEPATCH_FUNC.size
            ),
        ));
    }
    let mut relocs = BTreeMap::new();
    for r in elf
        .relas
        .get(&shdr.index)
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
    {
        let st = format!("Elf64_Rela at {:#x} for {}", r.file_offset, shdr.name);
        let field = (r.offset % LIVEPATCH_FUNC.size as u64) as usize;
        if !matches!(field, 0 | 8 | 16) || r.r_type != elf.machine.arch().pointer_reloc() {
            return Err(err(
                K::BadRelocation,
                st,
                "r_offset",
                r.file_offset,
                "only name, new_addr and old_addr are relocated, by an absolute 64-bit relocation",
            ));
        }
        if relocs.insert(r.offset, Target { rela: r }).is_some() {
            return Err(err(
                K::BadRelocation,
                st,
                "r_offset",
                r.file_offset,
                "a second relocation for the same field",
            ));
        }
    }
    Ok(Funcs { shdr, relocs })
}

fn u64_at(elf: &Elf, off: u64) -> u64 {
    let b = &elf.data[off as usize..off as usize + 8];
    u64::from_le_bytes(b.try_into().expect("8 bytes"))
}
fn u32_at(elf: &Elf, off: u64) -> u32 {
    let b = &elf.data[off as usize..off as usize + 4];
    u32::from_le_bytes(b.try_into().expect("4 bytes"))
}

/// A defined position (ELF section index, offset) a relocation resolves to.
fn defined(elf: &Elf, t: Target) -> Option<(usize, u64)> {
    let sym = &elf.symbols[t.rela.sym];
    if sym.shndx == elf::SHN_UNDEF || usize::from(sym.shndx) >= elf.sections.len() {
        return None;
    }
    let off = u64::try_from(t.rela.addend).ok()?.checked_add(sym.value)?;
    Some((usize::from(sym.shndx), off))
}

fn func(
    elf: &Elf,
    funcs: &Funcs,
    content_index: &BTreeMap<usize, usize>,
    sections: &[ContentSection],
    i: u64,
) -> Result<(Entry, Option<Vec<u8>>)> {
    let base = i * LIVEPATCH_FUNC.size as u64;
    let at = funcs.shdr.offset + base;
    let st = format!("livepatch_func[{i}]");
    let field = |name: &str| at + LIVEPATCH_FUNC.field(name).offset as u64;
    let version = elf.data[field("version") as usize];
    if version != PAYLOAD_VERSION {
        return Err(err(
            K::BadValue,
            &st,
            "version",
            field("version"),
            format!("version {version}, Xen 4.14 and later take {PAYLOAD_VERSION}"),
        ));
    }
    let pad = &elf.data[field("_pad") as usize..field("_pad") as usize + 39];
    if pad.iter().any(|&b| b != 0) {
        return Err(err(
            K::NonZeroPadding,
            &st,
            "_pad",
            field("_pad"),
            "must be zero (Xen before 4.17.3 keeps per-function state there)",
        ));
    }
    for f in ["name", "new_addr"] {
        if u64_at(elf, field(f)) != 0 {
            return Err(err(
                K::UnrelocatedPointer,
                &st,
                f,
                field(f),
                "pointer fields are zero and filled by a relocation",
            ));
        }
    }
    let name = funcs
        .relocs
        .get(&base)
        .and_then(|&t| defined(elf, t))
        .and_then(|(sec, off)| c_string(elf, sec, off))
        .ok_or_else(|| {
            err(
                K::BadPointer,
                &st,
                "name",
                field("name"),
                "must be relocated to a NUL-terminated string of the payload",
            )
        })?;
    let (code_sec, code_off) = funcs
        .relocs
        .get(&(base + 8))
        .and_then(|&t| defined(elf, t))
        .and_then(|(sec, off)| Some((*content_index.get(&sec)?, off)))
        .filter(|&(sec, _)| sections[sec].kind == ContentKind::Text)
        .ok_or_else(|| {
            err(
                K::BadPointer,
                &st,
                "new_addr",
                field("new_addr"),
                "must be relocated to code of the payload (NOP entries, new_addr 0, are not read)",
            )
        })?;
    let mut address = u64_at(elf, field("old_addr"));
    if let Some(t) = funcs.relocs.get(&(base + 16)) {
        let sym = &elf.symbols[t.rela.sym];
        if address != 0 || sym.shndx != elf::SHN_UNDEF || t.rela.addend != 0 || sym.name != name {
            return Err(err(
                K::BadPointer,
                &st,
                "old_addr",
                field("old_addr"),
                format!(
                    "a relocated old_addr names the function itself (`{name}`), with no addend"
                ),
            ));
        }
        address = 0;
    }
    let old_size = u32_at(elf, field("old_size"));
    let new_size = u32_at(elf, field("new_size"));
    let expect = elf.data[field("expect") as usize];
    let expected = if expect & EXPECT_ENABLED == 0 {
        None
    } else {
        let len = usize::from((expect & EXPECT_LEN_MASK) >> EXPECT_LEN_SHIFT);
        if expect & EXPECT_RSV_MASK != 0 || len == 0 {
            return Err(err(
                K::BadValue,
                &st,
                "expect",
                field("expect"),
                format!("{expect:#04x}: an enabled expectation has 1..=31 bytes and rsv 0"),
            ));
        }
        let d = field("expect.data") as usize;
        Some(elf.data[d..d + len].to_vec())
    };
    let entry = Entry::trampoline(
        elf.machine,
        &name,
        address,
        old_size,
        ContentRef {
            section: code_sec,
            offset: code_off,
        },
        new_size,
    );
    Ok((entry, expected))
}

/// The NUL-terminated string at `off` of ELF section `sec`.
fn c_string(elf: &Elf, sec: usize, off: u64) -> Option<String> {
    let s = elf.sections.get(sec)?;
    let rest = s.data(elf.data).get(off as usize..)?;
    let len = rest.iter().position(|&b| b == 0)?;
    String::from_utf8(rest[..len].to_vec()).ok()
}

fn hooks(
    elf: &Elf,
    content_index: &BTreeMap<usize, usize>,
    symbols: &[Symbol],
) -> Result<Vec<Hook>> {
    let mut out = Vec::new();
    for kind in HookKind::ALL {
        let Some(s) = elf.section_by_name(hook_section(kind))? else {
            continue;
        };
        let slots = s.size / 8;
        if s.size == 0 || !s.size.is_multiple_of(8) || (!kind.many() && slots != 1) {
            return Err(err(
                K::BadSection,
                s.describe(),
                "sh_size",
                s.header_offset + 32,
                format!(
                    "{} bytes: {} holds {}",
                    s.size,
                    s.name,
                    if kind.many() {
                        "8-byte function pointers"
                    } else {
                        "one 8-byte function pointer"
                    }
                ),
            ));
        }
        let relas = elf
            .relas
            .get(&s.index)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[]);
        for slot in 0..slots {
            let st = format!("{}[{slot}]", s.name);
            let r = relas.iter().find(|r| r.offset == slot * 8);
            let at = r
                .filter(|r| r.r_type == elf.machine.arch().pointer_reloc())
                .and_then(|&r| defined(elf, Target { rela: &r }))
                .and_then(|(sec, off)| Some((*content_index.get(&sec)?, off)));
            let symbol = at.and_then(|(sec, off)| {
                symbols.iter().position(|y| {
                    y.kind == SymbolKind::Func
                        && y.definition
                            .is_some_and(|d| d.section == sec && d.offset == off)
                })
            });
            let Some(symbol) = symbol else {
                return Err(err(
                    K::BadPointer,
                    st,
                    "pointer",
                    s.offset + slot * 8,
                    "must be relocated to a function defined in the payload",
                ));
            };
            out.push(Hook { kind, symbol });
        }
    }
    Ok(out)
}
