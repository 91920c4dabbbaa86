//! Decodes the `.xsplice` structures of a validated ELF into the model.

use std::collections::BTreeMap;

use super::content::{classify_sections, decode_content, own_build_id, parse_notes, required};
use super::elf::{self, Cursor, Elf, Shdr, Sym};
use super::error::{ReadErrorKind as K, Result, err};
use crate::flavour::Flavour;
use crate::layout::*;
use crate::model::*;

/// Where a pointer field points: a section index and an offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ptr {
    section: usize,
    offset: u64,
}

/// One structure section with its pointer relocations decoded.
struct StructSection<'e> {
    layout: &'static StructLayout,
    shdr: &'e Shdr,
    /// Pointer targets by offset in the section.
    pointers: BTreeMap<u64, Ptr>,
}

/// A located element: the array section, the byte offset of the element in it and a
/// display name such as `xsplice_patch[2]`.
struct At<'s, 'e> {
    s: &'s StructSection<'e>,
    off: u64,
    name: String,
}

struct Decoder<'e> {
    elf: &'e Elf<'e>,
    c: Cursor<'e>,
    structs: BTreeMap<&'static str, StructSection<'e>>,
    strings: &'e Shdr,
    id: &'e Shdr,
    /// ELF section index → content section index.
    content_index: BTreeMap<usize, usize>,
}

pub(super) fn decode(elf: &Elf) -> Result<(Payload, Vec<u8>)> {
    let content = classify_sections(elf, Flavour::Xsplice)?;
    let content_index: BTreeMap<usize, usize> = content
        .iter()
        .enumerate()
        .map(|(i, s)| (s.index, i))
        .collect();
    let mut structs = BTreeMap::new();
    for layout in ALL_STRUCTS {
        let shdr = required(elf, layout.section)?;
        structs.insert(layout.section, struct_section(elf, layout, shdr)?);
    }
    let strings = plain_data_section(required(elf, STRINGS_SECTION)?)?;
    let id = plain_data_section(required(elf, ID_SECTION)?)?;
    let d = Decoder {
        elf,
        c: Cursor { data: elf.data },
        structs,
        strings,
        id,
        content_index,
    };

    let top_section = &d.structs[XSPLICE.section];
    if top_section.shdr.size != XSPLICE.size as u64 {
        let sh = top_section.shdr;
        return Err(err(
            K::BadSection,
            sh.describe(),
            "sh_size",
            sh.header_offset + 32,
            "holds exactly one struct xsplice (64 bytes)",
        ));
    }
    let top = At {
        s: top_section,
        off: 0,
        name: "xsplice".into(),
    };
    d.check_padding(&top)?;
    let version = d.u32(&top, "version")?;
    if version != PAYLOAD_VERSION {
        return Err(d.field_err(
            &top,
            "version",
            K::BadValue,
            format!("version {version}, this reader knows {PAYLOAD_VERSION}"),
        ));
    }
    let name_ptr = d
        .ptr(&top, "name")?
        .ok_or_else(|| d.field_err(&top, "name", K::BadValue, "NULL"))?;
    let name = d.string(&top, "name", name_ptr)?;
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(d.field_err(
            &top,
            "name",
            K::BadValue,
            format!("{} bytes, must be 1..={MAX_NAME_LEN}", name.len()),
        ));
    }
    let target_build_id = d.target_id(&top)?;
    let new_ptr = d.ptr(&top, "new")?.ok_or_else(|| {
        d.field_err(
            &top,
            "new",
            K::BadValue,
            "NULL: a payload patches something",
        )
    })?;
    let new = d.code(&top, "new", new_ptr, false)?;
    let old = match d.ptr(&top, "old")? {
        None => None,
        Some(p) if p == new_ptr => {
            return Err(d.field_err(
                &top,
                "old",
                K::BadPointer,
                "old and new are the same xsplice_code",
            ));
        }
        Some(p) => Some(d.code(&top, "old", p, true)?),
    };
    let (sections, symbols) = decode_content(elf, &d.content_index, &content)?;
    let build_id = own_build_id(elf)?;
    let depends = match elf.section_by_name(DEPENDS_SECTION)? {
        None => Vec::new(),
        Some(s) => parse_notes(elf, s)?,
    };
    let payload = Payload {
        machine: elf.machine,
        name,
        target_build_id,
        depends,
        new,
        old,
        sections,
        symbols,
        hooks: Vec::new(),
    };
    payload.validate(Flavour::Xsplice).map_err(|e| {
        err(
            K::InvalidModel,
            "xsplice",
            e.what.clone(),
            top_section.shdr.offset,
            e.why.clone(),
        )
    })?;
    Ok((payload, build_id))
}

fn struct_section<'e>(
    elf: &'e Elf,
    layout: &'static StructLayout,
    shdr: &'e Shdr,
) -> Result<StructSection<'e>> {
    let st = shdr.describe();
    if shdr.sh_type != elf::SHT_PROGBITS || shdr.flags & !elf::SHF_WRITE != elf::SHF_ALLOC {
        return Err(err(
            K::BadSection,
            st,
            "sh_flags",
            shdr.header_offset + 8,
            "a structure section is PROGBITS, SHF_ALLOC|SHF_WRITE",
        ));
    }
    if !shdr.size.is_multiple_of(layout.size as u64) {
        return Err(err(
            K::BadSection,
            st,
            "sh_size",
            shdr.header_offset + 32,
            format!(
                "{:#x} is not a multiple of sizeof({}) = {}",
                shdr.size, layout.name, layout.size
            ),
        ));
    }
    let mut pointers = BTreeMap::new();
    if let Some((_, relas)) = elf.relas.get(&shdr.index) {
        for r in relas {
            let est = format!("Elf64_Rela at {:#x} for {}", r.file_offset, shdr.name);
            if r.r_type != elf.machine.arch().pointer_reloc() {
                return Err(err(
                    K::BadRelocation,
                    est,
                    "r_info",
                    r.file_offset + 8,
                    format!(
                        "pointer fields use only the absolute 64-bit relocation, not type {}",
                        r.r_type
                    ),
                ));
            }
            let field_off = (r.offset % layout.size as u64) as usize;
            if !layout
                .fields
                .iter()
                .any(|f| f.pointer && f.offset == field_off)
            {
                return Err(err(
                    K::UnrelocatedPointer,
                    est,
                    "r_offset",
                    r.file_offset,
                    format!(
                        "offset {:#x} is not a pointer field of {}",
                        r.offset, layout.name
                    ),
                ));
            }
            let sym: &Sym = &elf.symbols[r.sym];
            if sym.shndx == elf::SHN_UNDEF || sym.shndx as usize >= elf.sections.len() {
                return Err(err(
                    K::MissingSymbol,
                    est,
                    "r_info",
                    r.file_offset + 8,
                    format!(
                        "pointer to `{}`, which the payload does not define",
                        sym.name
                    ),
                ));
            }
            let offset = u64::try_from(r.addend)
                .ok()
                .and_then(|a| a.checked_add(sym.value))
                .filter(|&o| o <= elf.sections[sym.shndx as usize].size)
                .ok_or_else(|| {
                    err(
                        K::BadPointer,
                        est.clone(),
                        "r_addend",
                        r.file_offset + 16,
                        "points outside its target section",
                    )
                })?;
            if pointers
                .insert(
                    r.offset,
                    Ptr {
                        section: sym.shndx as usize,
                        offset,
                    },
                )
                .is_some()
            {
                return Err(err(
                    K::BadRelocation,
                    est,
                    "r_offset",
                    r.file_offset,
                    "a second relocation for the same field",
                ));
            }
        }
    }
    Ok(StructSection {
        layout,
        shdr,
        pointers,
    })
}

fn plain_data_section(s: &Shdr) -> Result<&Shdr> {
    if s.sh_type != elf::SHT_PROGBITS
        || s.flags & (elf::SHF_WRITE | elf::SHF_EXECINSTR) != 0
        || !s.is_alloc()
    {
        return Err(err(
            K::BadSection,
            s.describe(),
            "sh_flags",
            s.header_offset + 8,
            "must be PROGBITS, SHF_ALLOC, read-only",
        ));
    }
    Ok(s)
}

impl<'e> Decoder<'e> {
    fn file_off(&self, at: &At, field: &str) -> u64 {
        at.s.shdr.offset + at.off + at.s.layout.field(field).offset as u64
    }

    fn field_err(
        &self,
        at: &At,
        field: &str,
        kind: K,
        detail: impl Into<String>,
    ) -> super::ReadError {
        err(
            kind,
            at.name.clone(),
            field,
            self.file_off(at, field),
            detail,
        )
    }

    fn raw(&self, at: &At, field: &str) -> Result<&'e [u8]> {
        let f = at.s.layout.field(field);
        self.c
            .bytes(self.file_off(at, field), f.width as u64, &at.name, field)
    }

    fn u32(&self, at: &At, field: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.raw(at, field)?.try_into().expect("4-byte field"),
        ))
    }

    fn u64(&self, at: &At, field: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.raw(at, field)?.try_into().expect("8-byte field"),
        ))
    }

    fn check_padding(&self, at: &At) -> Result<()> {
        for f in at.s.layout.fields.iter().filter(|f| f.padding) {
            if self.raw(at, f.name)?.iter().any(|&b| b != 0) {
                return Err(self.field_err(at, f.name, K::NonZeroPadding, "padding must be zero"));
            }
        }
        Ok(())
    }

    /// A pointer field: `None` when NULL (no relocation, zero bytes).
    fn ptr(&self, at: &At, field: &str) -> Result<Option<Ptr>> {
        let stored = self.u64(at, field)?;
        if stored != 0 {
            return Err(self.field_err(
                at,
                field,
                K::UnrelocatedPointer,
                format!("holds {stored:#x}; pointer fields are zero and filled by a relocation"),
            ));
        }
        Ok(at
            .s
            .pointers
            .get(&(at.off + at.s.layout.field(field).offset as u64))
            .copied())
    }

    /// Element `index` of the array that `p` points at, checking that `count`
    /// elements starting there fit in the section `layout` lives in.
    fn array<'s>(
        &'s self,
        from: &At,
        field: &str,
        p: Ptr,
        layout: &'static StructLayout,
        count: u64,
    ) -> Result<(&'s StructSection<'e>, u64)> {
        let s = &self.structs[layout.section];
        if p.section != s.shdr.index {
            return Err(self.field_err(
                from,
                field,
                K::BadPointer,
                format!(
                    "points into {}, must point into {}",
                    self.elf.sections[p.section].name, layout.section
                ),
            ));
        }
        if !p.offset.is_multiple_of(layout.size as u64) {
            return Err(self.field_err(
                from,
                field,
                K::BadPointer,
                format!(
                    "offset {:#x} is not the start of a {}",
                    p.offset, layout.name
                ),
            ));
        }
        let end = count
            .checked_mul(layout.size as u64)
            .and_then(|n| n.checked_add(p.offset));
        if end.is_none_or(|end| end > s.shdr.size) {
            return Err(self.field_err(
                from,
                field,
                K::CountPastSectionEnd,
                format!(
                    "{count} x {} from {:#x} run past the end of {} ({:#x} bytes)",
                    layout.name, p.offset, layout.section, s.shdr.size
                ),
            ));
        }
        Ok((s, p.offset / layout.size as u64))
    }

    fn element<'s>(&'s self, s: &'s StructSection<'e>, index: u64) -> At<'s, 'e> {
        At {
            s,
            off: index * s.layout.size as u64,
            name: format!("{}[{index}]", s.layout.name),
        }
    }

    /// A NUL-terminated string in `.xsplice.strings`.
    fn string(&self, at: &At, field: &str, p: Ptr) -> Result<String> {
        if p.section != self.strings.index {
            return Err(self.field_err(
                at,
                field,
                K::BadPointer,
                format!(
                    "strings live in {STRINGS_SECTION}, not {}",
                    self.elf.sections[p.section].name
                ),
            ));
        }
        let data = self.strings.data(self.elf.data);
        let rest = data.get(p.offset as usize..).unwrap_or(&[]);
        let len = rest.iter().position(|&b| b == 0).ok_or_else(|| {
            self.field_err(
                at,
                field,
                K::StringNotTerminated,
                format!("no NUL after offset {:#x} of {STRINGS_SECTION}", p.offset),
            )
        })?;
        String::from_utf8(rest[..len].to_vec())
            .map_err(|_| self.field_err(at, field, K::BadValue, "string is not UTF-8"))
    }

    fn target_id(&self, top: &At) -> Result<Vec<u8>> {
        let size = u64::from(self.u32(top, "id_size")?);
        if size == 0 || size > MAX_BUILD_ID_LEN as u64 {
            return Err(self.field_err(
                top,
                "id_size",
                K::BadValue,
                format!("{size}, a build-id is 1..={MAX_BUILD_ID_LEN} bytes"),
            ));
        }
        let p = self
            .ptr(top, "id")?
            .ok_or_else(|| self.field_err(top, "id", K::BadValue, "NULL"))?;
        if p.section != self.id.index {
            return Err(self.field_err(
                top,
                "id",
                K::BadPointer,
                format!("must point into {ID_SECTION}"),
            ));
        }
        let data = self.id.data(self.elf.data);
        let end = p
            .offset
            .checked_add(size)
            .filter(|&e| e <= data.len() as u64);
        let end = end.ok_or_else(|| {
            self.field_err(
                top,
                "id_size",
                K::CountPastSectionEnd,
                format!("{size} bytes from {:#x} run past {ID_SECTION}", p.offset),
            )
        })?;
        Ok(data[p.offset as usize..end as usize].to_vec())
    }

    fn code(&self, top: &At, which: &str, p: Ptr, old: bool) -> Result<Vec<Entry>> {
        let (cs, ci) = self.array(top, which, p, &XSPLICE_CODE, 1)?;
        let code = At {
            name: format!("xsplice_code[{ci}] ({which})"),
            ..self.element(cs, ci)
        };
        self.check_padding(&code)?;
        let n_relocs = u64::from(self.u32(&code, "n_relocs")?);
        let n_sections = u64::from(self.u32(&code, "n_sections")?);
        let n_patches = u64::from(self.u32(&code, "n_patches")?);
        let relocs = self.ptr(&code, "relocs")?;
        if n_sections == 0 || n_sections != n_patches || (!old && n_relocs != n_sections) {
            return Err(self.field_err(
                &code,
                "n_sections",
                K::BadValue,
                format!(
                    "{} needs as many sections as patches{} (1:1), at least one: n_relocs {n_relocs}, n_sections {n_sections}, n_patches {n_patches}",
                    which,
                    if old { "" } else { " and relocs" }
                ),
            ));
        }
        if old && (n_relocs != 0 || relocs.is_some()) {
            return Err(self.field_err(
                &code,
                "relocs",
                K::BadValue,
                "old code carries no xsplice_reloc",
            ));
        }
        let null = |f: &str| self.field_err(&code, f, K::BadValue, "NULL with a non-zero count");
        let sp = self
            .ptr(&code, "sections")?
            .ok_or_else(|| null("sections"))?;
        let pp = self.ptr(&code, "patches")?.ok_or_else(|| null("patches"))?;
        let (ss, s0) = self.array(&code, "sections", sp, &XSPLICE_SECTION, n_sections)?;
        let (ps, p0) = self.array(&code, "patches", pp, &XSPLICE_PATCH, n_patches)?;
        let reloc_base = match relocs {
            Some(rp) => Some(self.array(&code, "relocs", rp, &XSPLICE_RELOC, n_relocs)?),
            None if old => None,
            None => return Err(null("relocs")),
        };
        let mut entries = Vec::with_capacity(n_sections as usize);
        for i in 0..n_sections {
            let sect = self.element(ss, s0 + i);
            self.check_padding(&sect)?;
            let sym_ptr = self
                .ptr(&sect, "symbol")?
                .ok_or_else(|| self.field_err(&sect, "symbol", K::BadValue, "NULL"))?;
            let symbol = self.symbol(&sect, sym_ptr)?;
            let section = SectionInfo {
                address: self.u64(&sect, "address")?,
                size: self.u32(&sect, "size")?,
                flags: self.u32(&sect, "flags")?,
            };
            let reloc = match reloc_base {
                None => None,
                Some((rs, r0)) => Some(self.reloc(self.element(rs, r0 + i), sym_ptr, &sect)?),
            };
            let patch = self.patch(&self.element(ps, p0 + i))?;
            entries.push(Entry {
                symbol,
                section,
                reloc,
                patch,
            });
        }
        Ok(entries)
    }

    fn symbol(&self, from: &At, p: Ptr) -> Result<PatchSymbol> {
        let (s, i) = self.array(from, "symbol", p, &XSPLICE_SYMBOL, 1)?;
        let at = self.element(s, i);
        self.check_padding(&at)?;
        let name_ptr = self
            .ptr(&at, "name")?
            .ok_or_else(|| self.field_err(&at, "name", K::BadValue, "NULL"))?;
        let name = self.string(&at, "name", name_ptr)?;
        let label = match self.ptr(&at, "label")? {
            Some(lp) => self.string(&at, "label", lp)?,
            None => String::new(),
        };
        Ok(PatchSymbol { name, label })
    }

    fn reloc(&self, at: At, section_symbol: Ptr, sect: &At) -> Result<RelocInfo> {
        self.check_padding(&at)?;
        let sym = self.ptr(&at, "symbol")?;
        if sym != Some(section_symbol) {
            return Err(self.field_err(
                &at,
                "symbol",
                K::BadPointer,
                format!(
                    "must point at the same xsplice_symbol as {}.symbol (1:1)",
                    sect.name
                ),
            ));
        }
        let hp = self
            .ptr(&at, "howto")?
            .ok_or_else(|| self.field_err(&at, "howto", K::BadValue, "NULL"))?;
        let (hs, hi) = self.array(&at, "howto", hp, &XSPLICE_RELOC_HOWTO, 1)?;
        let h = self.element(hs, hi);
        self.check_padding(&h)?;
        Ok(RelocInfo {
            addr: self.u64(&at, "addr")?,
            isns_target: self.u64(&at, "isns_target")? as i64,
            isns_added: self.u64(&at, "isns_added")? as i64,
            howto: Howto {
                howto: self.u32(&h, "howto")?,
                flag: self.u32(&h, "flag")?,
                size: self.u32(&h, "size")?,
                r_shift: self.u32(&h, "r_shift")?,
                mask: self.u64(&h, "mask")?,
            },
        })
    }

    fn patch(&self, at: &At) -> Result<Patch> {
        self.check_padding(at)?;
        let kind = self.u32(at, "type")?;
        let size = self.u32(at, "size")?;
        let addr = self.u64(at, "addr")?;
        let p = self
            .ptr(at, "content")?
            .ok_or_else(|| self.field_err(at, "content", K::BadValue, "NULL"))?;
        let Some(&section) = self.content_index.get(&p.section) else {
            return Err(self.field_err(
                at,
                "content",
                K::BadPointer,
                format!(
                    "points into {}, which is not a code or data section of the payload",
                    self.elf.sections[p.section].name
                ),
            ));
        };
        let target = &self.elf.sections[p.section];
        if p.offset
            .checked_add(u64::from(size))
            .is_none_or(|e| e > target.size)
        {
            return Err(self.field_err(
                at,
                "size",
                K::CountPastSectionEnd,
                format!(
                    "{size} bytes at {:#x} run past the end of {} ({:#x} bytes)",
                    p.offset, target.name, target.size
                ),
            ));
        }
        Ok(Patch {
            kind,
            size,
            addr,
            content: ContentRef {
                section,
                offset: p.offset,
            },
        })
    }
}
