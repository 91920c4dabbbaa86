//! A strict ELF64 little-endian relocatable-object parser.
//!
//! Applies the loader rules of `specs/payload-format.md` ("Loader rules") to the ELF
//! layer: header, section headers, string tables, the one symbol table, RELA sections.
//! Nothing here knows the `.xsplice` structures. Every read is bounds-checked; every
//! refusal carries the structure, the field and the file offset.

use std::collections::BTreeMap;

use super::error::{ReadErrorKind as K, Result, err};
use crate::arch::Machine;

pub const EHDR_SIZE: u64 = 64;
pub const SHDR_SIZE: u64 = 64;
pub const SYM_SIZE: u64 = 24;
pub const RELA_SIZE: u64 = 24;
/// Most section headers a payload may have.
pub const MAX_SECTIONS: u64 = 1024;
/// Largest zero-filled (NOBITS) section a payload may ask for.
pub const MAX_NOBITS: u64 = 16 << 20;

pub const SHT_NULL: u32 = 0;
pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_STRTAB: u32 = 3;
pub const SHT_RELA: u32 = 4;
pub const SHT_NOTE: u32 = 7;
pub const SHT_NOBITS: u32 = 8;
pub const SHT_REL: u32 = 9;
pub const SHF_WRITE: u64 = 0x1;
pub const SHF_ALLOC: u64 = 0x2;
pub const SHF_EXECINSTR: u64 = 0x4;
pub const SHF_MERGE: u64 = 0x10;
pub const SHF_STRINGS: u64 = 0x20;
pub const SHN_UNDEF: u16 = 0;
pub const SHN_LORESERVE: u16 = 0xff00;
pub const SHN_ABS: u16 = 0xfff1;
pub const SHN_COMMON: u16 = 0xfff2;
pub const STB_LOCAL: u8 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const STB_WEAK: u8 = 2;
pub const STT_NOTYPE: u8 = 0;
pub const STT_OBJECT: u8 = 1;
pub const STT_FUNC: u8 = 2;
pub const STT_SECTION: u8 = 3;
pub const STT_FILE: u8 = 4;

/// Little-endian field reads that fail with a `Truncated` error naming the field.
pub(crate) struct Cursor<'a> {
    pub data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn bytes(&self, off: u64, len: u64, st: &str, field: &str) -> Result<&'a [u8]> {
        let end = off.checked_add(len);
        match end {
            Some(end) if end <= self.data.len() as u64 => {
                Ok(&self.data[off as usize..end as usize])
            }
            _ => Err(err(
                K::Truncated,
                st,
                field,
                off,
                format!("needs {len} bytes, the file has {}", self.data.len()),
            )),
        }
    }
    pub fn u8(&self, off: u64, st: &str, field: &str) -> Result<u8> {
        Ok(self.bytes(off, 1, st, field)?[0])
    }
    pub fn u16(&self, off: u64, st: &str, field: &str) -> Result<u16> {
        let b = self.bytes(off, 2, st, field)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&self, off: u64, st: &str, field: &str) -> Result<u32> {
        let b = self.bytes(off, 4, st, field)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    pub fn u64(&self, off: u64, st: &str, field: &str) -> Result<u64> {
        let b = self.bytes(off, 8, st, field)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
}

/// A validated section header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shdr {
    pub index: usize,
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
    pub addralign: u64,
    pub entsize: u64,
    /// File offset of this section header.
    pub header_offset: u64,
}

impl Shdr {
    pub fn describe(&self) -> String {
        format!("Elf64_Shdr[{}] {}", self.index, self.name)
    }
    pub fn is_alloc(&self) -> bool {
        self.flags & SHF_ALLOC != 0
    }
    /// Bytes of a non-NOBITS section (bounds already checked).
    pub fn data<'a>(&self, file: &'a [u8]) -> &'a [u8] {
        if self.sh_type == SHT_NOBITS {
            &[]
        } else {
            &file[self.offset as usize..(self.offset + self.size) as usize]
        }
    }
}

/// A validated symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sym {
    pub index: usize,
    pub name: String,
    pub bind: u8,
    pub st_type: u8,
    pub other: u8,
    pub shndx: u16,
    pub value: u64,
    pub size: u64,
    pub file_offset: u64,
}

/// A validated RELA entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rela {
    pub offset: u64,
    pub r_type: u32,
    pub sym: usize,
    pub addend: i64,
    pub file_offset: u64,
}

/// A parsed and validated relocatable ELF file.
#[derive(Debug)]
pub struct Elf<'a> {
    pub data: &'a [u8],
    pub machine: Machine,
    pub sections: Vec<Shdr>,
    pub symtab_index: usize,
    pub symbols: Vec<Sym>,
    /// RELA entries by the index of the section they apply to.
    pub relas: BTreeMap<usize, (usize, Vec<Rela>)>,
}

impl<'a> Elf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Elf<'a>> {
        let c = Cursor { data };
        let machine = parse_header(&c)?;
        let shoff = c.u64(0x28, "Elf64_Ehdr", "e_shoff")?;
        let shnum = u64::from(c.u16(0x3c, "Elf64_Ehdr", "e_shnum")?);
        let shentsize = u64::from(c.u16(0x3a, "Elf64_Ehdr", "e_shentsize")?);
        let shstrndx = u64::from(c.u16(0x3e, "Elf64_Ehdr", "e_shstrndx")?);
        let mut sections = parse_section_headers(&c, shoff, shnum, shentsize)?;
        // The name table first, so that every later error can name its section.
        name_sections(&c, &mut sections, shstrndx as usize, shnum)?;
        for s in sections.iter().skip(1) {
            check_section_header(&c, s, &s.describe(), shnum)?;
        }
        let symtab_index = find_symtab(&sections)?;
        let symbols = parse_symbols(&c, &sections, symtab_index)?;
        let relas = parse_relas(&c, &sections, symtab_index, &symbols, machine)?;
        Ok(Elf {
            data,
            machine,
            sections,
            symtab_index,
            symbols,
            relas,
        })
    }

    /// The section called `name`: `Ok(None)` if absent, an error if present twice.
    pub fn section_by_name(&self, name: &str) -> Result<Option<&Shdr>> {
        let mut found = self.sections.iter().filter(|s| s.name == name);
        let first = found.next();
        if let Some(dup) = found.next() {
            return Err(err(
                K::MissingSection,
                dup.describe(),
                "sh_name",
                dup.header_offset,
                format!("a second {name} section"),
            ));
        }
        Ok(first)
    }
}

fn parse_header(c: &Cursor) -> Result<Machine> {
    const H: &str = "Elf64_Ehdr";
    if (c.data.len() as u64) < 4 || &c.data[..4] != b"\x7fELF" {
        let first: Vec<String> = c.data.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(err(
            K::BadMagic,
            H,
            "e_ident[EI_MAG]",
            0,
            format!("starts with [{}], not 7f 45 4c 46", first.join(" ")),
        ));
    }
    c.bytes(0, EHDR_SIZE, H, "e_ident")?;
    let class = c.u8(4, H, "e_ident[EI_CLASS]")?;
    if class != 2 {
        return Err(err(
            K::Unsupported,
            H,
            "e_ident[EI_CLASS]",
            4,
            format!("class {class}, only ELFCLASS64 (2)"),
        ));
    }
    let data = c.u8(5, H, "e_ident[EI_DATA]")?;
    if data != 1 {
        return Err(err(
            K::Unsupported,
            H,
            "e_ident[EI_DATA]",
            5,
            format!("encoding {data}, only little-endian (1)"),
        ));
    }
    if c.u8(6, H, "e_ident[EI_VERSION]")? != 1 {
        return Err(err(
            K::Unsupported,
            H,
            "e_ident[EI_VERSION]",
            6,
            "must be EV_CURRENT (1)",
        ));
    }
    let osabi = c.u8(7, H, "e_ident[EI_OSABI]")?;
    if osabi != 0 {
        return Err(err(
            K::Unsupported,
            H,
            "e_ident[EI_OSABI]",
            7,
            format!("OS ABI {osabi}, must be ELFOSABI_NONE (0)"),
        ));
    }
    if c.u8(8, H, "e_ident[EI_ABIVERSION]")? != 0 {
        return Err(err(
            K::Unsupported,
            H,
            "e_ident[EI_ABIVERSION]",
            8,
            "must be 0",
        ));
    }
    let e_type = c.u16(0x10, H, "e_type")?;
    if e_type != 1 {
        return Err(err(
            K::Unsupported,
            H,
            "e_type",
            0x10,
            format!("type {e_type}, a payload is ET_REL (1)"),
        ));
    }
    let e_machine = c.u16(0x12, H, "e_machine")?;
    let machine = Machine::from_elf(e_machine).ok_or_else(|| {
        err(
            K::Unsupported,
            H,
            "e_machine",
            0x12,
            format!("machine {e_machine} is not supported"),
        )
    })?;
    if c.u32(0x14, H, "e_version")? != 1 {
        return Err(err(
            K::Unsupported,
            H,
            "e_version",
            0x14,
            "must be EV_CURRENT (1)",
        ));
    }
    if c.u64(0x20, H, "e_phoff")? != 0 || c.u16(0x38, H, "e_phnum")? != 0 {
        return Err(err(
            K::BadHeader,
            H,
            "e_phnum",
            0x38,
            "a relocatable payload has no program headers",
        ));
    }
    let ehsize = c.u16(0x34, H, "e_ehsize")?;
    if u64::from(ehsize) != EHDR_SIZE {
        return Err(err(
            K::BadHeader,
            H,
            "e_ehsize",
            0x34,
            format!("{ehsize}, must be {EHDR_SIZE}"),
        ));
    }
    Ok(machine)
}

fn parse_section_headers(c: &Cursor, shoff: u64, shnum: u64, shentsize: u64) -> Result<Vec<Shdr>> {
    const H: &str = "Elf64_Ehdr";
    if shnum == 0 {
        return Err(err(
            K::BadHeader,
            H,
            "e_shnum",
            0x3c,
            "no section headers (extended numbering is not accepted)",
        ));
    }
    if shnum >= MAX_SECTIONS {
        return Err(err(
            K::BadHeader,
            H,
            "e_shnum",
            0x3c,
            format!("{shnum} sections, the limit is {}", MAX_SECTIONS - 1),
        ));
    }
    if shentsize < SHDR_SIZE {
        return Err(err(
            K::BadHeader,
            H,
            "e_shentsize",
            0x3a,
            format!("{shentsize} < sizeof(Elf64_Shdr) = {SHDR_SIZE}"),
        ));
    }
    if shoff < EHDR_SIZE {
        return Err(err(
            K::BadHeader,
            H,
            "e_shoff",
            0x28,
            format!("{shoff:#x} overlaps the ELF header"),
        ));
    }
    let table_end = shentsize
        .checked_mul(shnum)
        .and_then(|n| n.checked_add(shoff));
    if table_end.is_none_or(|end| end > c.data.len() as u64) {
        return Err(err(
            K::Truncated,
            H,
            "e_shoff",
            0x28,
            format!(
                "section header table [{shoff:#x}, +{}x{shentsize}) runs past the file end {:#x}",
                shnum,
                c.data.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(shnum as usize);
    for i in 0..shnum {
        let at = shoff + i * shentsize;
        let st = format!("Elf64_Shdr[{i}]");
        let s = Shdr {
            index: i as usize,
            name: String::new(),
            sh_type: c.u32(at + 4, &st, "sh_type")?,
            flags: c.u64(at + 8, &st, "sh_flags")?,
            addr: c.u64(at + 16, &st, "sh_addr")?,
            offset: c.u64(at + 24, &st, "sh_offset")?,
            size: c.u64(at + 32, &st, "sh_size")?,
            link: c.u32(at + 40, &st, "sh_link")?,
            info: c.u32(at + 44, &st, "sh_info")?,
            addralign: c.u64(at + 48, &st, "sh_addralign")?,
            entsize: c.u64(at + 56, &st, "sh_entsize")?,
            header_offset: at,
        };
        let name_off = c.u32(at, &st, "sh_name")?;
        if i == 0 {
            if c.bytes(at, SHDR_SIZE, &st, "")?.iter().any(|&b| b != 0) {
                return Err(err(
                    K::BadSection,
                    st,
                    "sh_type",
                    at,
                    "section header 0 (SHN_UNDEF) must be all zero",
                ));
            }
            out.push(s);
            continue;
        }
        let _ = name_off;
        out.push(s);
    }
    Ok(out)
}

fn check_section_header(c: &Cursor, s: &Shdr, st: &str, shnum: u64) -> Result<()> {
    let at = s.header_offset;
    if s.sh_type == SHT_NULL {
        return Err(err(
            K::BadSection,
            st,
            "sh_type",
            at + 4,
            "SHT_NULL is only allowed for section 0",
        ));
    }
    if s.sh_type == SHT_REL {
        return Err(err(
            K::BadSection,
            st,
            "sh_type",
            at + 4,
            "SHT_REL is not accepted (use RELA)",
        ));
    }
    if s.addralign > 1 && !s.addralign.is_power_of_two() {
        return Err(err(
            K::BadSection,
            st,
            "sh_addralign",
            at + 48,
            format!("{} is not a power of two", s.addralign),
        ));
    }
    if s.addralign > 1 && !s.addr.is_multiple_of(s.addralign) {
        return Err(err(
            K::BadSection,
            st,
            "sh_addr",
            at + 16,
            "not aligned to sh_addralign",
        ));
    }
    if u64::from(s.link) >= shnum {
        return Err(err(
            K::BadSection,
            st,
            "sh_link",
            at + 40,
            format!("{} is not a section index (< {shnum})", s.link),
        ));
    }
    if s.flags & SHF_ALLOC != 0 && s.addralign > crate::layout::MAX_SECTION_ALIGN {
        return Err(err(
            K::BadSection,
            st,
            "sh_addralign",
            at + 48,
            format!(
                "{} is above the largest alignment a loader honours ({})",
                s.addralign,
                crate::layout::MAX_SECTION_ALIGN
            ),
        ));
    }
    if s.flags & SHF_WRITE != 0 && s.flags & SHF_EXECINSTR != 0 {
        return Err(err(
            K::BadSection,
            st,
            "sh_flags",
            at + 8,
            "writable and executable (W+X) sections are refused",
        ));
    }
    if s.sh_type == SHT_NOBITS {
        if s.size > MAX_NOBITS {
            return Err(err(
                K::BadSection,
                st,
                "sh_size",
                at + 32,
                format!(
                    "{:#x} zero-filled bytes, the limit is {MAX_NOBITS:#x}",
                    s.size
                ),
            ));
        }
        return Ok(());
    }
    if s.size > 0 && s.offset < EHDR_SIZE {
        return Err(err(
            K::SectionOutOfFile,
            st,
            "sh_offset",
            at + 24,
            format!("{:#x} overlaps the ELF header", s.offset),
        ));
    }
    let end = s.offset.checked_add(s.size);
    if end.is_none_or(|end| end > c.data.len() as u64) {
        return Err(err(
            K::SectionOutOfFile,
            st,
            "sh_offset",
            at + 24,
            format!(
                "bytes [{:#x}, +{:#x}) are outside the {:#x}-byte file",
                s.offset,
                s.size,
                c.data.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a string table section: STRTAB, non-empty, first and last byte NUL.
fn check_strtab(c: &Cursor, s: &Shdr, role: &str) -> Result<()> {
    let st = format!("Elf64_Shdr[{}] ({role})", s.index);
    if s.sh_type != SHT_STRTAB {
        return Err(err(
            K::BadStringTable,
            st,
            "sh_type",
            s.header_offset + 4,
            format!("type {}, must be SHT_STRTAB", s.sh_type),
        ));
    }
    let d = s.data(c.data);
    if d.is_empty() || d[0] != 0 || d[d.len() - 1] != 0 {
        return Err(err(
            K::BadStringTable,
            st,
            "sh_size",
            s.offset,
            "must be non-empty and start and end with NUL",
        ));
    }
    Ok(())
}

/// The NUL-terminated string at `off` in a checked string table.
pub(crate) fn string_at(
    c: &Cursor,
    table: &Shdr,
    off: u64,
    st: &str,
    field: &str,
    field_off: u64,
) -> Result<String> {
    let d = table.data(c.data);
    if off >= d.len() as u64 {
        return Err(err(
            K::StringNotTerminated,
            st,
            field,
            field_off,
            format!(
                "offset {off:#x} is past the end of {} ({:#x} bytes)",
                table.name,
                d.len()
            ),
        ));
    }
    let rest = &d[off as usize..];
    let len = rest.iter().position(|&b| b == 0).ok_or_else(|| {
        err(
            K::StringNotTerminated,
            st,
            field,
            field_off,
            format!("no NUL after offset {off:#x} in {}", table.name),
        )
    })?;
    Ok(String::from_utf8_lossy(&rest[..len]).into_owned())
}

fn name_sections(c: &Cursor, sections: &mut [Shdr], shstrndx: usize, shnum: u64) -> Result<()> {
    if shstrndx == 0 || shstrndx >= sections.len() {
        return Err(err(
            K::BadHeader,
            "Elf64_Ehdr",
            "e_shstrndx",
            0x3e,
            format!("{shstrndx} is not a section index"),
        ));
    }
    check_section_header(
        c,
        &sections[shstrndx],
        &format!("Elf64_Shdr[{shstrndx}]"),
        shnum,
    )?;
    let mut table = sections[shstrndx].clone();
    // Not named yet: errors about the names call it by its role.
    table.name = format!("the section name table (section {shstrndx})");
    check_strtab(c, &table, "section names")?;
    for s in sections.iter_mut().skip(1) {
        let st = format!("Elf64_Shdr[{}]", s.index);
        let off = u64::from(c.u32(s.header_offset, &st, "sh_name")?);
        s.name = string_at(c, &table, off, &st, "sh_name", s.header_offset)?;
    }
    Ok(())
}

fn find_symtab(sections: &[Shdr]) -> Result<usize> {
    let mut tabs = sections.iter().filter(|s| s.sh_type == SHT_SYMTAB);
    let Some(first) = tabs.next() else {
        return Err(err(
            K::MissingSection,
            "Elf64_Ehdr",
            "e_shnum",
            0x3c,
            "no SHT_SYMTAB section",
        ));
    };
    if let Some(second) = tabs.next() {
        return Err(err(
            K::MissingSection,
            second.describe(),
            "sh_type",
            second.header_offset + 4,
            "a second SHT_SYMTAB",
        ));
    }
    Ok(first.index)
}

fn parse_symbols(c: &Cursor, sections: &[Shdr], symtab: usize) -> Result<Vec<Sym>> {
    let s = &sections[symtab];
    let st = s.describe();
    if s.entsize < SYM_SIZE {
        return Err(err(
            K::BadSection,
            st,
            "sh_entsize",
            s.header_offset + 56,
            format!("{} < sizeof(Elf64_Sym) = {SYM_SIZE}", s.entsize),
        ));
    }
    if s.size == 0 || !s.size.is_multiple_of(s.entsize) {
        return Err(err(
            K::BadSection,
            st,
            "sh_size",
            s.header_offset + 32,
            format!("{:#x} is not a non-zero multiple of {}", s.size, s.entsize),
        ));
    }
    let strtab = &sections[s.link as usize];
    check_strtab(c, strtab, "symbol names")?;
    let n = s.size / s.entsize;
    let first_global = u64::from(s.info);
    if first_global == 0 || first_global > n {
        return Err(err(
            K::BadSection,
            st,
            "sh_info",
            s.header_offset + 44,
            format!("first non-local index {first_global} not in 1..={n}"),
        ));
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = s.offset + i * s.entsize;
        let st = format!("Elf64_Sym[{i}]");
        let raw = c.bytes(at, SYM_SIZE, &st, "")?;
        let info = raw[4];
        let sym = Sym {
            index: i as usize,
            name: string_at(
                c,
                strtab,
                u64::from(c.u32(at, &st, "st_name")?),
                &st,
                "st_name",
                at,
            )?,
            bind: info >> 4,
            st_type: info & 0xf,
            other: raw[5],
            shndx: c.u16(at + 6, &st, "st_shndx")?,
            value: c.u64(at + 8, &st, "st_value")?,
            size: c.u64(at + 16, &st, "st_size")?,
            file_offset: at,
        };
        if i == 0 {
            if raw.iter().any(|&b| b != 0) {
                return Err(err(
                    K::BadSymbol,
                    st,
                    "st_info",
                    at,
                    "symbol 0 must be all zero",
                ));
            }
            out.push(sym);
            continue;
        }
        check_symbol(&sym, sections, &st, i < first_global)?;
        out.push(sym);
    }
    Ok(out)
}

fn check_symbol(sym: &Sym, sections: &[Shdr], st: &str, local_slot: bool) -> Result<()> {
    let at = sym.file_offset;
    match (local_slot, sym.bind) {
        (true, STB_LOCAL) | (false, STB_GLOBAL) => {}
        (false, STB_WEAK) => {
            return Err(err(
                K::BadSymbol,
                st,
                "st_info",
                at + 4,
                "weak symbols are not accepted",
            ));
        }
        (true, b) | (false, b) => {
            return Err(err(
                K::BadSymbol,
                st,
                "st_info",
                at + 4,
                format!(
                    "binding {b} in the {} part of the table",
                    if local_slot { "local" } else { "global" }
                ),
            ));
        }
    }
    if !matches!(
        sym.st_type,
        STT_NOTYPE | STT_OBJECT | STT_FUNC | STT_SECTION | STT_FILE
    ) {
        return Err(err(
            K::BadSymbol,
            st,
            "st_info",
            at + 4,
            format!("symbol type {} is not accepted", sym.st_type),
        ));
    }
    match sym.shndx {
        SHN_UNDEF => {
            if sym.bind == STB_LOCAL && sym.st_type != STT_FILE {
                return Err(err(
                    K::BadSymbol,
                    st,
                    "st_shndx",
                    at + 6,
                    "an undefined symbol must be global",
                ));
            }
            if sym.bind != STB_LOCAL && sym.name.is_empty() {
                return Err(err(
                    K::BadSymbol,
                    st,
                    "st_name",
                    at,
                    "an undefined symbol needs a name",
                ));
            }
        }
        SHN_ABS => {
            if sym.st_type != STT_FILE {
                return Err(err(
                    K::BadSymbol,
                    st,
                    "st_shndx",
                    at + 6,
                    "SHN_ABS symbols are not accepted",
                ));
            }
        }
        SHN_COMMON => {
            return Err(err(
                K::BadSymbol,
                st,
                "st_shndx",
                at + 6,
                "SHN_COMMON symbols are not accepted",
            ));
        }
        x if x >= SHN_LORESERVE => {
            return Err(err(
                K::BadSymbol,
                st,
                "st_shndx",
                at + 6,
                format!("reserved section index {x:#x}"),
            ));
        }
        x if x as usize >= sections.len() => {
            return Err(err(
                K::BadSymbol,
                st,
                "st_shndx",
                at + 6,
                format!("section index {x} >= e_shnum {}", sections.len()),
            ));
        }
        x => {
            let sec = &sections[x as usize];
            if sym.st_type == STT_SECTION && (sym.value != 0 || sym.size != 0) {
                return Err(err(
                    K::BadSymbol,
                    st,
                    "st_value",
                    at + 8,
                    "a section symbol has value 0 and size 0",
                ));
            }
            let end = sym.value.checked_add(sym.size);
            if end.is_none_or(|end| end > sec.size) {
                return Err(err(
                    K::BadSymbol,
                    st,
                    "st_value",
                    at + 8,
                    format!(
                        "[{:#x}, +{:#x}) lies outside {} ({:#x} bytes)",
                        sym.value, sym.size, sec.name, sec.size
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn parse_relas(
    c: &Cursor,
    sections: &[Shdr],
    symtab: usize,
    symbols: &[Sym],
    machine: Machine,
) -> Result<BTreeMap<usize, (usize, Vec<Rela>)>> {
    let arch = machine.arch();
    let mut out = BTreeMap::new();
    for s in sections.iter().filter(|s| s.sh_type == SHT_RELA) {
        let st = s.describe();
        if s.link as usize != symtab {
            return Err(err(
                K::BadSection,
                st,
                "sh_link",
                s.header_offset + 40,
                format!("{} is not the symbol table ({symtab})", s.link),
            ));
        }
        let target = s.info as usize;
        if target == 0
            || target >= sections.len()
            || !sections[target].is_alloc()
            || sections[target].sh_type == SHT_NOBITS
        {
            return Err(err(
                K::BadSection,
                st,
                "sh_info",
                s.header_offset + 44,
                format!("target {target} is not a loaded section with bytes"),
            ));
        }
        if s.entsize < RELA_SIZE || s.size % s.entsize != 0 {
            return Err(err(
                K::BadSection,
                st,
                "sh_entsize",
                s.header_offset + 56,
                format!(
                    "entsize {} / size {:#x} not a RELA table",
                    s.entsize, s.size
                ),
            ));
        }
        if out.contains_key(&target) {
            return Err(err(
                K::BadSection,
                st,
                "sh_info",
                s.header_offset + 44,
                format!("a second RELA section for {}", sections[target].name),
            ));
        }
        let tsize = sections[target].size;
        let mut entries = Vec::with_capacity((s.size / s.entsize) as usize);
        for i in 0..s.size / s.entsize {
            let at = s.offset + i * s.entsize;
            let est = format!("Elf64_Rela[{i}] of {}", s.name);
            let offset = c.u64(at, &est, "r_offset")?;
            let info = c.u64(at + 8, &est, "r_info")?;
            let addend = c.u64(at + 16, &est, "r_addend")? as i64;
            let (sym, r_type) = ((info >> 32) as usize, info as u32);
            if r_type == arch.none_reloc() {
                continue;
            }
            let Some(kind) = arch.reloc_info(r_type) else {
                return Err(err(
                    K::UnsupportedRelocation,
                    est,
                    "r_info",
                    at + 8,
                    format!("relocation type {r_type} is not supported"),
                ));
            };
            if sym == 0 {
                return Err(err(
                    K::UnsupportedRelocation,
                    est,
                    "r_info",
                    at + 8,
                    "symbol index 0 (STN_UNDEF) is not supported",
                ));
            }
            if sym >= symbols.len() {
                return Err(err(
                    K::MissingSymbol,
                    est,
                    "r_info",
                    at + 8,
                    format!("symbol index {sym} >= {} symbols", symbols.len()),
                ));
            }
            if symbols[sym].st_type == STT_FILE {
                return Err(err(
                    K::BadRelocation,
                    est,
                    "r_info",
                    at + 8,
                    "relocation against an STT_FILE symbol",
                ));
            }
            if offset
                .checked_add(u64::from(kind.width))
                .is_none_or(|end| end > tsize)
            {
                return Err(err(
                    K::BadRelocation,
                    est,
                    "r_offset",
                    at,
                    format!(
                        "{} bytes at {offset:#x} run past {} ({tsize:#x} bytes)",
                        kind.width, sections[target].name
                    ),
                ));
            }
            entries.push(Rela {
                offset,
                r_type,
                sym,
                addend,
                file_offset: at,
            });
        }
        out.insert(target, (s.index, entries));
    }
    Ok(out)
}
