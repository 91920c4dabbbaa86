//! What both encodings share: the content sections, symbols and relocations of the
//! model, and GNU build-id notes.

use std::collections::BTreeMap;

use super::elf::{self, Cursor, Elf, Shdr};
use super::error::{ReadErrorKind as K, Result, err};
use crate::flavour::Flavour;
use crate::layout::*;
use crate::livepatch;
use crate::model::*;

/// A section that must be present.
pub(crate) fn required<'e>(elf: &'e Elf, name: &str) -> Result<&'e Shdr> {
    elf.section_by_name(name)?.ok_or_else(|| {
        err(
            K::MissingSection,
            "Elf64_Ehdr",
            "e_shnum",
            0x3c,
            format!("no {name} section"),
        )
    })
}

/// The loadable sections (of `flavour`) that are neither format structures nor notes, in file
/// order; also refuses unknown `.xsplice*` sections and loadable sections of odd types.
pub(crate) fn classify_sections<'e>(elf: &'e Elf, flavour: Flavour) -> Result<Vec<&'e Shdr>> {
    let known: Vec<&str> = ALL_STRUCTS
        .iter()
        .map(|s| s.section)
        .chain([STRINGS_SECTION, ID_SECTION, DEPENDS_SECTION])
        .collect();
    let mut content = Vec::new();
    for s in elf.sections.iter().skip(1) {
        if s.name.starts_with(".xsplice") {
            if flavour != Flavour::Xsplice || !known.contains(&s.name.as_str()) {
                return Err(err(
                    K::BadSection,
                    s.describe(),
                    "sh_name",
                    s.header_offset,
                    format!("unknown .xsplice section in a {flavour} payload"),
                ));
            }
            continue;
        }
        if flavour == Flavour::Livepatch
            && (livepatch::layout::is_format_section(&s.name) || s.name == BUILD_ID_SECTION)
        {
            continue;
        }
        if !s.is_alloc() {
            continue;
        }
        if reserved_section_name(&s.name) {
            return Err(err(
                K::BadSection,
                s.describe(),
                "sh_flags",
                s.header_offset + 8,
                "this section must not be SHF_ALLOC",
            ));
        }
        if s.sh_type != elf::SHT_PROGBITS && s.sh_type != elf::SHT_NOBITS {
            return Err(err(
                K::BadSection,
                s.describe(),
                "sh_type",
                s.header_offset + 4,
                format!(
                    "loadable section of type {} (only PROGBITS and NOBITS)",
                    s.sh_type
                ),
            ));
        }
        content.push(s);
    }
    Ok(content)
}

/// The content sections (in the order given), the symbols and the content's
/// relocations, as the model holds them. `content_index` maps ELF section indices of
/// `content` to their model index.
pub(crate) fn decode_content(
    elf: &Elf,
    content_index: &BTreeMap<usize, usize>,
    content: &[&Shdr],
) -> Result<(Vec<ContentSection>, Vec<Symbol>)> {
    let mut symbols = Vec::new();
    let mut sym_index = BTreeMap::new();
    for s in elf.symbols.iter().skip(1) {
        if matches!(s.st_type, elf::STT_SECTION | elf::STT_FILE) {
            continue;
        }
        let definition = if s.shndx == elf::SHN_UNDEF {
            None
        } else {
            let Some(&section) = content_index.get(&(s.shndx as usize)) else {
                return Err(err(
                    K::BadSymbol,
                    format!("Elf64_Sym[{}] {}", s.index, s.name),
                    "st_shndx",
                    s.file_offset + 6,
                    format!(
                        "defined in {}, which is not a code or data section",
                        elf.sections[s.shndx as usize].name
                    ),
                ));
            };
            Some(SymbolDef {
                section,
                offset: s.value,
                size: s.size,
            })
        };
        let kind = match s.st_type {
            elf::STT_FUNC => SymbolKind::Func,
            elf::STT_OBJECT => SymbolKind::Object,
            _ => SymbolKind::NoType,
        };
        sym_index.insert(s.index, symbols.len());
        symbols.push(Symbol {
            name: s.name.clone(),
            kind,
            global: s.bind != elf::STB_LOCAL,
            definition,
        });
    }
    let mut sections = Vec::with_capacity(content.len());
    for sh in content {
        let kind = content_kind(sh)?;
        let mut relocs = Vec::new();
        if let Some((_, relas)) = elf.relas.get(&sh.index) {
            for r in relas {
                let sym = &elf.symbols[r.sym];
                let target = if sym.st_type == elf::STT_SECTION {
                    match content_index.get(&(sym.shndx as usize)) {
                        Some(&ci) => RelocTarget::Section(ci),
                        None => {
                            return Err(err(
                                K::BadRelocation,
                                format!("Elf64_Rela at {:#x} for {}", r.file_offset, sh.name),
                                "r_info",
                                r.file_offset + 8,
                                format!(
                                    "code refers to {}, which is not a code or data section",
                                    elf.sections[sym.shndx as usize].name
                                ),
                            ));
                        }
                    }
                } else {
                    RelocTarget::Symbol(sym_index[&r.sym])
                };
                relocs.push(Reloc {
                    offset: r.offset,
                    r_type: r.r_type,
                    target,
                    addend: r.addend,
                });
            }
        }
        let data = sh.data(elf.data).to_vec();
        sections.push(ContentSection {
            name: sh.name.clone(),
            kind,
            align: sh.addralign.max(1),
            data,
            size: sh.size,
            relocs,
        });
    }
    Ok((sections, symbols))
}

fn content_kind(sh: &Shdr) -> Result<ContentKind> {
    let (w, x) = (
        sh.flags & elf::SHF_WRITE != 0,
        sh.flags & elf::SHF_EXECINSTR != 0,
    );
    Ok(match (sh.sh_type, w, x) {
        (elf::SHT_NOBITS, true, false) => ContentKind::Bss,
        (elf::SHT_NOBITS, _, _) => {
            return Err(err(
                K::BadSection,
                sh.describe(),
                "sh_flags",
                sh.header_offset + 8,
                "a NOBITS section must be writable data",
            ));
        }
        (_, false, true) => ContentKind::Text,
        (_, true, false) => ContentKind::Data,
        (_, false, false) if sh.flags & elf::SHF_STRINGS != 0 => ContentKind::Strings,
        (_, false, false) => ContentKind::ReadOnly,
        (_, true, true) => unreachable!("W+X refused by the ELF layer"),
    })
}

/// The payload's own build-id (one note in `.note.gnu.build-id`).
pub(crate) fn own_build_id(elf: &Elf) -> Result<Vec<u8>> {
    let s = elf.section_by_name(BUILD_ID_SECTION)?.ok_or_else(|| {
        err(
            K::MissingSection,
            "Elf64_Ehdr",
            "e_shnum",
            0x3c,
            format!("no {BUILD_ID_SECTION} section"),
        )
    })?;
    let mut notes = parse_notes(elf, s)?;
    if notes.len() != 1 {
        return Err(err(
            K::BadNote,
            s.describe(),
            "sh_size",
            s.header_offset + 32,
            format!("{} notes, expected one", notes.len()),
        ));
    }
    Ok(notes.remove(0))
}

/// A section of GNU build-id notes → their descriptors.
pub(crate) fn parse_notes(elf: &Elf, s: &Shdr) -> Result<Vec<Vec<u8>>> {
    if s.sh_type != elf::SHT_NOTE {
        return Err(err(
            K::BadSection,
            s.describe(),
            "sh_type",
            s.header_offset + 4,
            "must be SHT_NOTE",
        ));
    }
    let c = Cursor { data: elf.data };
    let data = s.data(elf.data);
    let mut out = Vec::new();
    let mut off = 0u64;
    while off < data.len() as u64 {
        let at = s.offset + off;
        let st = format!("Elf64_Nhdr at {:#x} in {}", at, s.name);
        let namesz = u64::from(c.u32(at, &st, "n_namesz")?);
        let descsz = u64::from(c.u32(at + 4, &st, "n_descsz")?);
        let n_type = c.u32(at + 8, &st, "n_type")?;
        let name_end = 12 + namesz.next_multiple_of(4);
        let total = name_end + descsz.next_multiple_of(4);
        if namesz != 4 || n_type != NT_GNU_BUILD_ID || off + total > data.len() as u64 {
            return Err(err(
                K::BadNote,
                st,
                "n_type",
                at,
                "expected a GNU build-id note (name \"GNU\", type 3) inside the section",
            ));
        }
        if &data[(off + 12) as usize..(off + 16) as usize] != b"GNU\0" {
            return Err(err(
                K::BadNote,
                st,
                "name",
                at + 12,
                "note name is not \"GNU\"",
            ));
        }
        if descsz == 0 || descsz > MAX_BUILD_ID_LEN as u64 {
            return Err(err(
                K::BadNote,
                st,
                "n_descsz",
                at + 4,
                format!("build-id of {descsz} bytes (1..={MAX_BUILD_ID_LEN})"),
            ));
        }
        let d0 = (off + name_end) as usize;
        out.push(data[d0..d0 + descsz as usize].to_vec());
        off += total;
    }
    Ok(out)
}
