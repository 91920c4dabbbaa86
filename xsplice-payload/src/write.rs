//! Deterministic payload writer: model → ELF64 relocatable object, in either
//! encoding ([`Flavour`]).
//!
//! Same model ⇒ same bytes: sections, symbols and relocations are emitted in model
//! order, strings are deduplicated in first-use order, and the payload's own build-id
//! is the SHA-1 of the file written with a zeroed build-id descriptor (so it names the
//! content, like `ld --build-id=sha1`). The content (code, data, symbols, their
//! relocations) is written the same way for both encodings; this file adds the
//! `.xsplice` structures, `crate::livepatch::write` the `.livepatch.*` ones.

use std::collections::BTreeMap;

use object::write::{
    Object, Relocation, SectionId, StandardSegment, Symbol as WSymbol, SymbolId, SymbolSection,
};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionFlags, SectionKind,
    SymbolFlags, SymbolScope, elf,
};
use sha1::{Digest, Sha1};

use crate::flavour::Flavour;
use crate::layout::*;
use crate::model::*;

/// Why a model could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("ELF writer: {0}")]
    Elf(String),
    #[error("a structure array is too large: {0}")]
    TooLarge(&'static str),
}

/// Size of a GNU build-id descriptor written into a payload (SHA-1).
pub const OWN_BUILD_ID_LEN: usize = 20;

/// Writes the payload in `flavour`. Fails if the model breaks a rule of the model or
/// of that encoding.
pub fn to_bytes(payload: &Payload, flavour: Flavour) -> Result<Vec<u8>, WriteError> {
    payload.validate(flavour)?;
    let mut w = Writer::new(payload);
    match flavour {
        Flavour::Xsplice => {
            w.content(&[])?;
            w.structures()?;
        }
        Flavour::Livepatch => crate::livepatch::write::structures(&mut w)?,
    }
    w.own_build_id(flavour);
    let mut bytes = w.obj.write().map_err(|e| WriteError::Elf(e.to_string()))?;
    stamp_build_id(&mut bytes)?;
    Ok(bytes)
}

/// The byte encoding of one GNU build-id note (`namesz`, `descsz`, `type`, "GNU\0", desc, padding).
pub fn gnu_build_id_note(desc: &[u8]) -> Vec<u8> {
    let mut n = Vec::with_capacity(16 + desc.len() + 3);
    n.extend_from_slice(&4u32.to_le_bytes());
    n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    n.extend_from_slice(&NT_GNU_BUILD_ID.to_le_bytes());
    n.extend_from_slice(b"GNU\0");
    n.extend_from_slice(desc);
    while n.len() % 4 != 0 {
        n.push(0);
    }
    n
}

/// An ELF object being assembled from a model.
pub(crate) struct Writer<'a> {
    pub p: &'a Payload,
    pub obj: Object<'static>,
    /// The ELF section of each content section (`None`: left out of the encoding).
    pub content_ids: Vec<Option<SectionId>>,
    pub symbol_ids: Vec<SymbolId>,
}

/// One structure section being assembled: bytes plus pointer relocations.
pub(crate) struct StructBuf {
    pub bytes: Vec<u8>,
    /// (offset in this section, target section, offset in the target)
    pub pointers: Vec<(u64, SectionId, u64)>,
}

impl StructBuf {
    pub fn new() -> Self {
        StructBuf {
            bytes: Vec::new(),
            pointers: Vec::new(),
        }
    }
    /// Appends one zeroed structure and returns its offset.
    pub fn push(&mut self, layout: &StructLayout) -> usize {
        let at = self.bytes.len();
        self.bytes.resize(at + layout.size, 0);
        at
    }
    pub fn put(&mut self, at: usize, layout: &StructLayout, field: &str, value: &[u8]) {
        let f = layout.field(field);
        debug_assert!(!f.pointer && !f.padding && f.width == value.len());
        self.bytes[at + f.offset..at + f.offset + f.width].copy_from_slice(value);
    }
    pub fn ptr(
        &mut self,
        at: usize,
        layout: &StructLayout,
        field: &str,
        target: SectionId,
        offset: u64,
    ) {
        let f = layout.field(field);
        debug_assert!(f.pointer);
        self.pointers.push(((at + f.offset) as u64, target, offset));
    }
}

fn count(n: usize, what: &'static str) -> Result<[u8; 4], WriteError> {
    u32::try_from(n)
        .map(u32::to_le_bytes)
        .map_err(|_| WriteError::TooLarge(what))
}

impl<'a> Writer<'a> {
    pub fn new(p: &'a Payload) -> Self {
        let arch = match p.machine {
            crate::Machine::X86_64 => Architecture::X86_64,
        };
        Writer {
            p,
            obj: Object::new(BinaryFormat::Elf, arch, Endianness::Little),
            content_ids: Vec::new(),
            symbol_ids: Vec::new(),
        }
    }

    pub fn add_section(&mut self, name: &str, kind: SectionKind) -> SectionId {
        let seg = self.obj.segment_name(StandardSegment::Data).to_vec();
        self.obj.add_section(seg, name.as_bytes().to_vec(), kind)
    }

    /// The content sections (all but those in `skip`), the symbols and the
    /// content's relocations. Nothing may refer to a skipped section.
    pub fn content(&mut self, skip: &[usize]) -> Result<(), WriteError> {
        for (i, s) in self.p.sections.iter().enumerate() {
            if skip.contains(&i) {
                self.content_ids.push(None);
                continue;
            }
            let kind = match s.kind {
                ContentKind::Text => SectionKind::Text,
                ContentKind::ReadOnly => SectionKind::ReadOnlyData,
                ContentKind::Strings => SectionKind::ReadOnlyString,
                ContentKind::Data => SectionKind::Data,
                ContentKind::Bss => SectionKind::UninitializedData,
            };
            let id = self.add_section(&s.name, kind);
            if s.kind == ContentKind::Bss {
                self.obj.append_section_bss(id, s.size, s.align);
            } else {
                self.obj.set_section_data(id, s.data.clone(), s.align);
            }
            self.content_ids.push(Some(id));
        }
        for sym in &self.p.symbols {
            let (section, value, size) = match sym.definition {
                None => (SymbolSection::Undefined, 0, 0),
                Some(d) => (
                    SymbolSection::Section(self.content_id(d.section)?),
                    d.offset,
                    d.size,
                ),
            };
            let id = self.obj.add_symbol(WSymbol {
                name: sym.name.as_bytes().to_vec(),
                value,
                size,
                kind: match sym.kind {
                    SymbolKind::Func => object::SymbolKind::Text,
                    SymbolKind::Object => object::SymbolKind::Data,
                    SymbolKind::NoType => object::SymbolKind::Label,
                },
                scope: if sym.global {
                    SymbolScope::Dynamic
                } else {
                    SymbolScope::Compilation
                },
                weak: false,
                section,
                // Spell st_info out: the object crate would turn the type of an
                // undefined FUNC/OBJECT into NOTYPE, and the model keeps it.
                flags: SymbolFlags::Elf {
                    st_info: st_info(sym),
                    st_other: elf::STV_DEFAULT,
                },
            });
            self.symbol_ids.push(id);
        }
        for (i, s) in self.p.sections.iter().enumerate() {
            let Some(at) = self.content_ids[i] else {
                continue;
            };
            for r in &s.relocs {
                let symbol = match r.target {
                    RelocTarget::Symbol(k) => self.symbol_ids[k],
                    RelocTarget::Section(k) => {
                        let id = self.content_id(k)?;
                        self.obj.section_symbol(id)
                    }
                };
                self.obj
                    .add_relocation(
                        at,
                        Relocation {
                            offset: r.offset,
                            symbol,
                            addend: r.addend,
                            flags: RelocationFlags::Elf { r_type: r.r_type },
                        },
                    )
                    .map_err(|e| WriteError::Elf(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// The ELF section of a content section that is part of the encoding.
    pub fn content_id(&self, section: usize) -> Result<SectionId, WriteError> {
        self.content_ids
            .get(section)
            .copied()
            .flatten()
            .ok_or_else(|| WriteError::Elf(format!("content section {section} is not written")))
    }

    /// Writes a structure section's bytes and its pointer relocations.
    pub fn finish_structs(&mut self, id: SectionId, buf: StructBuf) -> Result<(), WriteError> {
        self.obj.set_section_data(id, buf.bytes, 8);
        for (offset, target, addend) in buf.pointers {
            let symbol = self.obj.section_symbol(target);
            self.obj
                .add_relocation(
                    id,
                    Relocation {
                        offset,
                        symbol,
                        addend: addend as i64,
                        flags: RelocationFlags::Elf {
                            r_type: self.p.machine.arch().pointer_reloc(),
                        },
                    },
                )
                .map_err(|e| WriteError::Elf(e.to_string()))?;
        }
        Ok(())
    }

    /// The payload's own build-id note, zeroed until [`stamp_build_id`]. Xen's loader
    /// reads it from memory, so the livepatch encoding loads it (SHF_ALLOC).
    fn own_build_id(&mut self, flavour: Flavour) {
        let bid = self.add_section(BUILD_ID_SECTION, SectionKind::Note);
        let sh_flags = match flavour {
            Flavour::Xsplice => 0,
            Flavour::Livepatch => u64::from(elf::SHF_ALLOC),
        };
        self.obj.section_mut(bid).flags = SectionFlags::Elf { sh_flags };
        self.obj
            .set_section_data(bid, gnu_build_id_note(&[0; OWN_BUILD_ID_LEN]), 4);
    }

    fn structures(&mut self) -> Result<(), WriteError> {
        let p = self.p;
        let top_id = self.add_section(XSPLICE.section, SectionKind::Data);
        let code_id = self.add_section(XSPLICE_CODE.section, SectionKind::Data);
        let reloc_id = self.add_section(XSPLICE_RELOC.section, SectionKind::Data);
        let sect_id = self.add_section(XSPLICE_SECTION.section, SectionKind::Data);
        let patch_id = self.add_section(XSPLICE_PATCH.section, SectionKind::Data);
        let sym_id = self.add_section(XSPLICE_SYMBOL.section, SectionKind::Data);
        let howto_id = self.add_section(XSPLICE_RELOC_HOWTO.section, SectionKind::Data);
        let str_id = self.add_section(STRINGS_SECTION, SectionKind::ReadOnlyData);
        let idsec = self.add_section(ID_SECTION, SectionKind::ReadOnlyData);

        let mut strings = Strings::default();
        let (mut top, mut code, mut relocs, mut sects, mut patches, mut syms, mut howtos) = (
            StructBuf::new(),
            StructBuf::new(),
            StructBuf::new(),
            StructBuf::new(),
            StructBuf::new(),
            StructBuf::new(),
            StructBuf::new(),
        );

        let t = top.push(&XSPLICE);
        top.put(t, &XSPLICE, "version", &PAYLOAD_VERSION.to_le_bytes());
        top.ptr(t, &XSPLICE, "name", str_id, strings.add(&p.name));
        top.ptr(t, &XSPLICE, "id", idsec, 0);
        top.put(
            t,
            &XSPLICE,
            "id_size",
            &count(p.target_build_id.len(), "id")?,
        );

        let lists: Vec<(&str, &Vec<Entry>)> = std::iter::once(("new", &p.new))
            .chain(p.old.as_ref().map(|o| ("old", o)))
            .collect();
        for (which, entries) in lists {
            let c = code.push(&XSPLICE_CODE);
            top.ptr(t, &XSPLICE, which, code_id, c as u64);
            let first_sect = sects.bytes.len() as u64;
            let first_patch = patches.bytes.len() as u64;
            let first_reloc = relocs.bytes.len() as u64;
            for e in entries {
                let s = syms.push(&XSPLICE_SYMBOL);
                syms.ptr(
                    s,
                    &XSPLICE_SYMBOL,
                    "name",
                    str_id,
                    strings.add(&e.symbol.name),
                );
                syms.ptr(
                    s,
                    &XSPLICE_SYMBOL,
                    "label",
                    str_id,
                    strings.add(&e.symbol.label),
                );

                let x = sects.push(&XSPLICE_SECTION);
                sects.ptr(x, &XSPLICE_SECTION, "symbol", sym_id, s as u64);
                sects.put(
                    x,
                    &XSPLICE_SECTION,
                    "address",
                    &e.section.address.to_le_bytes(),
                );
                sects.put(x, &XSPLICE_SECTION, "size", &e.section.size.to_le_bytes());
                sects.put(x, &XSPLICE_SECTION, "flags", &e.section.flags.to_le_bytes());

                let q = patches.push(&XSPLICE_PATCH);
                patches.put(q, &XSPLICE_PATCH, "type", &e.patch.kind.to_le_bytes());
                patches.put(q, &XSPLICE_PATCH, "size", &e.patch.size.to_le_bytes());
                patches.put(q, &XSPLICE_PATCH, "addr", &e.patch.addr.to_le_bytes());
                let target = self.content_id(e.patch.content.section)?;
                patches.ptr(q, &XSPLICE_PATCH, "content", target, e.patch.content.offset);

                if let Some(r) = &e.reloc {
                    let h = howtos.push(&XSPLICE_RELOC_HOWTO);
                    howtos.put(
                        h,
                        &XSPLICE_RELOC_HOWTO,
                        "howto",
                        &r.howto.howto.to_le_bytes(),
                    );
                    howtos.put(h, &XSPLICE_RELOC_HOWTO, "flag", &r.howto.flag.to_le_bytes());
                    howtos.put(h, &XSPLICE_RELOC_HOWTO, "size", &r.howto.size.to_le_bytes());
                    howtos.put(
                        h,
                        &XSPLICE_RELOC_HOWTO,
                        "r_shift",
                        &r.howto.r_shift.to_le_bytes(),
                    );
                    howtos.put(h, &XSPLICE_RELOC_HOWTO, "mask", &r.howto.mask.to_le_bytes());

                    let k = relocs.push(&XSPLICE_RELOC);
                    relocs.put(k, &XSPLICE_RELOC, "addr", &r.addr.to_le_bytes());
                    relocs.ptr(k, &XSPLICE_RELOC, "symbol", sym_id, s as u64);
                    relocs.put(
                        k,
                        &XSPLICE_RELOC,
                        "isns_target",
                        &r.isns_target.to_le_bytes(),
                    );
                    relocs.ptr(k, &XSPLICE_RELOC, "howto", howto_id, h as u64);
                    relocs.put(k, &XSPLICE_RELOC, "isns_added", &r.isns_added.to_le_bytes());
                }
            }
            let n = count(entries.len(), "entries")?;
            if which == "new" {
                code.ptr(c, &XSPLICE_CODE, "relocs", reloc_id, first_reloc);
                code.put(c, &XSPLICE_CODE, "n_relocs", &n);
            }
            code.ptr(c, &XSPLICE_CODE, "sections", sect_id, first_sect);
            code.put(c, &XSPLICE_CODE, "n_sections", &n);
            code.ptr(c, &XSPLICE_CODE, "patches", patch_id, first_patch);
            code.put(c, &XSPLICE_CODE, "n_patches", &n);
        }

        for (id, buf) in [
            (top_id, top),
            (code_id, code),
            (reloc_id, relocs),
            (sect_id, sects),
            (patch_id, patches),
            (sym_id, syms),
            (howto_id, howtos),
        ] {
            self.finish_structs(id, buf)?;
        }
        self.obj.set_section_data(str_id, strings.bytes, 1);
        self.obj
            .set_section_data(idsec, p.target_build_id.clone(), 1);

        if !p.depends.is_empty() {
            let dep = self.add_section(DEPENDS_SECTION, SectionKind::Note);
            let notes: Vec<u8> = p
                .depends
                .iter()
                .flat_map(|d| gnu_build_id_note(d))
                .collect();
            self.obj.set_section_data(dep, notes, 4);
        }
        Ok(())
    }
}

fn st_info(sym: &Symbol) -> u8 {
    let bind = if sym.global {
        elf::STB_GLOBAL
    } else {
        elf::STB_LOCAL
    };
    let ty = match sym.kind {
        SymbolKind::Func => elf::STT_FUNC,
        SymbolKind::Object => elf::STT_OBJECT,
        SymbolKind::NoType => elf::STT_NOTYPE,
    };
    (bind << 4) | ty
}

/// NUL-terminated strings, each stored once, in first-use order.
#[derive(Default)]
pub(crate) struct Strings {
    pub bytes: Vec<u8>,
    at: BTreeMap<String, u64>,
}

impl Strings {
    pub fn add(&mut self, s: &str) -> u64 {
        if let Some(&o) = self.at.get(s) {
            return o;
        }
        let o = self.bytes.len() as u64;
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        self.at.insert(s.to_string(), o);
        o
    }
}

/// Fills the zeroed build-id descriptor with SHA-1 of the whole file.
fn stamp_build_id(bytes: &mut [u8]) -> Result<(), WriteError> {
    let off = find_section_offset(bytes, BUILD_ID_SECTION)
        .ok_or_else(|| WriteError::Elf("build-id section missing from output".into()))?;
    let desc = off + 16;
    let digest = Sha1::digest(&*bytes);
    bytes[desc..desc + OWN_BUILD_ID_LEN].copy_from_slice(&digest);
    Ok(())
}

/// File offset of the named section in an ELF64 LE file this module wrote.
fn find_section_offset(bytes: &[u8], name: &str) -> Option<usize> {
    use object::read::elf::{FileHeader, SectionHeader};
    let header = elf::FileHeader64::<Endianness>::parse(bytes).ok()?;
    let endian = header.endian().ok()?;
    let sections = header.sections(endian, bytes).ok()?;
    let (_, sh) = sections.section_by_name(endian, name.as_bytes())?;
    usize::try_from(sh.sh_offset(endian)).ok()
}
