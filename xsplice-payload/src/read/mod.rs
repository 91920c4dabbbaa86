//! Strict payload reader: bytes → model, refusing anything the format does not allow.
//!
//! Two layers: [`elf`] validates the ELF container (the loader rules), then the
//! encoding's decoder (`structs` for `.xsplice`, `crate::livepatch::read` for
//! `.livepatch.funcs`) reads the structures through their pointer relocations and
//! `content` rebuilds the content sections, symbols and relocations of the model. The
//! decoded model is finally checked with [`Payload::validate`], so whatever the
//! reader accepts the writer could have written.

pub(crate) mod content;
pub mod elf;
pub mod error;
mod structs;

use serde::Serialize;

pub use error::{ReadError, ReadErrorKind};

use crate::flavour::Flavour;
use crate::model::Payload;

/// A payload read from bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadPayload {
    /// The encoding the file uses.
    pub flavour: Flavour,
    pub payload: Payload,
    /// The payload's own GNU build-id (`.note.gnu.build-id`).
    pub build_id: Vec<u8>,
    /// The ELF sections, in file order, for display and cross-checking.
    pub elf_sections: Vec<ElfSection>,
    /// Every ELF relocation, grouped by the section it applies to (pointer relocations
    /// of the `.xsplice` structures included).
    pub elf_relocations: Vec<ElfRelocations>,
    /// The ELF symbol table, in order, index 0 excluded.
    pub elf_symbols: Vec<ElfSymbol>,
}

/// One section header, as read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElfSection {
    pub index: usize,
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub offset: u64,
    pub size: u64,
    pub align: u64,
    pub link: u32,
    pub info: u32,
    pub entsize: u64,
}

/// The relocations applying to one section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElfRelocations {
    /// The RELA section's name.
    pub rela_section: String,
    /// The section they apply to.
    pub target_section: String,
    pub entries: Vec<ElfRelocation>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElfRelocation {
    pub offset: u64,
    pub r_type: u32,
    pub type_name: String,
    pub symbol_index: usize,
    /// Symbol name, or the section name for a section symbol.
    pub symbol: String,
    pub addend: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElfSymbol {
    pub index: usize,
    pub name: String,
    pub value: u64,
    pub size: u64,
    /// `NOTYPE`, `OBJECT`, `FUNC`, `SECTION`, `FILE`.
    pub kind: String,
    /// `LOCAL` or `GLOBAL`.
    pub bind: String,
    /// Section name, `UND` or `ABS`.
    pub section: String,
}

/// Reads and validates a payload. Never panics; every error names the rule broken,
/// the structure, the field and the byte offset.
pub fn read(bytes: &[u8]) -> Result<ReadPayload, ReadError> {
    let elf = elf::Elf::parse(bytes)?;
    let flavour = flavour_of(&elf)?;
    let (payload, build_id) = match flavour {
        Flavour::Xsplice => structs::decode(&elf)?,
        Flavour::Livepatch => crate::livepatch::read::decode(&elf)?,
    };
    Ok(ReadPayload {
        flavour,
        payload,
        build_id,
        elf_sections: summarize_sections(&elf),
        elf_relocations: summarize_relocations(&elf),
        elf_symbols: summarize_symbols(&elf),
    })
}

/// The encoding of a parsed file: `.xsplice` for the design's, `.livepatch.funcs`,
/// a hook or `.livepatch.xen_depends` for Xen's. Both at once is refused.
pub fn flavour_of(elf: &elf::Elf) -> Result<Flavour, ReadError> {
    use crate::livepatch::layout as lp;
    let xsplice = elf
        .sections
        .iter()
        .find(|s| s.name == crate::layout::XSPLICE.section);
    let livepatch = elf.sections.iter().find(|s| {
        s.name == lp::FUNCS_SECTION
            || s.name == lp::XEN_DEPENDS_SECTION
            || lp::hook_kind(&s.name).is_some()
    });
    match (xsplice, livepatch) {
        (Some(_), None) => Ok(Flavour::Xsplice),
        (None, Some(_)) => Ok(Flavour::Livepatch),
        (Some(_), Some(l)) => Err(error::err(
            ReadErrorKind::BadSection,
            l.describe(),
            "sh_name",
            l.header_offset,
            "a payload is either xsplice (.xsplice) or livepatch (.livepatch.*), not both",
        )),
        (None, None) => Err(error::err(
            ReadErrorKind::MissingSection,
            "Elf64_Ehdr",
            "e_shnum",
            0x3c,
            "neither a .xsplice section (xsplice payload) nor .livepatch.funcs, a \
             .livepatch.hooks.* or .livepatch.xen_depends section (livepatch payload)",
        )),
    }
}

fn summarize_sections(elf: &elf::Elf) -> Vec<ElfSection> {
    elf.sections
        .iter()
        .skip(1)
        .map(|s| ElfSection {
            index: s.index,
            name: s.name.clone(),
            sh_type: s.sh_type,
            flags: s.flags,
            offset: s.offset,
            size: s.size,
            align: s.addralign,
            link: s.link,
            info: s.info,
            entsize: s.entsize,
        })
        .collect()
}

fn symbol_label(elf: &elf::Elf, index: usize) -> String {
    let s = &elf.symbols[index];
    if s.st_type == elf::STT_SECTION {
        elf.sections[s.shndx as usize].name.clone()
    } else {
        s.name.clone()
    }
}

fn summarize_relocations(elf: &elf::Elf) -> Vec<ElfRelocations> {
    let arch = elf.machine.arch();
    elf.relas
        .iter()
        .map(|(&target, (rela_index, entries))| ElfRelocations {
            rela_section: elf.sections[*rela_index].name.clone(),
            target_section: elf.sections[target].name.clone(),
            entries: entries
                .iter()
                .map(|r| ElfRelocation {
                    offset: r.offset,
                    r_type: r.r_type,
                    type_name: arch
                        .reloc_info(r.r_type)
                        .map_or("?", |k| k.name)
                        .to_string(),
                    symbol_index: r.sym,
                    symbol: symbol_label(elf, r.sym),
                    addend: r.addend,
                })
                .collect(),
        })
        .collect()
}

fn summarize_symbols(elf: &elf::Elf) -> Vec<ElfSymbol> {
    elf.symbols
        .iter()
        .skip(1)
        .map(|s| ElfSymbol {
            index: s.index,
            name: s.name.clone(),
            value: s.value,
            size: s.size,
            kind: match s.st_type {
                elf::STT_OBJECT => "OBJECT",
                elf::STT_FUNC => "FUNC",
                elf::STT_SECTION => "SECTION",
                elf::STT_FILE => "FILE",
                _ => "NOTYPE",
            }
            .to_string(),
            bind: if s.bind == elf::STB_LOCAL {
                "LOCAL"
            } else {
                "GLOBAL"
            }
            .to_string(),
            section: match s.shndx {
                elf::SHN_UNDEF => "UND".to_string(),
                elf::SHN_ABS => "ABS".to_string(),
                i => elf.sections[i as usize].name.clone(),
            },
        })
        .collect()
}
