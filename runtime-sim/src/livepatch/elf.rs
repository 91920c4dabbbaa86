//! The ELF checks of Xen 4.17's livepatch loader, in its order and with its errnos
//! (`specs/livepatch-format.md` §Loader; facts from `xen/common/livepatch_elf.c`):
//! header, section headers, string tables, symbol names, placement flags, symbol
//! section indices and the relocation sections. A [`XenElf`] is the lenient view
//! Xen works on: nothing here refuses what Xen accepts.
//!
//! What needs addresses (resolving undefined symbols, relocation overflow) is done by
//! the loader on the model afterwards; its errnos are Xen's too (`ENOENT`,
//! `EOVERFLOW`).

use crate::errno::{Errno, Failure, fail};

const EHDR: u64 = 64;
const SHDR: u64 = 64;
const SYM: u64 = 24;
const RELA: u64 = 24;
const REL: u64 = 16;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_RELA: u32 = 4;
const SHT_NOBITS: u32 = 8;
const SHT_REL: u32 = 9;
const SHF_WRITE: u64 = 1;
const SHF_ALLOC: u64 = 2;
const SHF_EXECINSTR: u64 = 4;
const SHN_UNDEF: u16 = 0;
const SHN_LORESERVE: u16 = 0xff00;
const SHN_ABS: u16 = 0xfff1;
const SHN_COMMON: u16 = 0xfff2;
/// Xen refuses NOBITS sections larger than this (`MB(2)`).
const MAX_NOBITS: u64 = 2 << 20;
const MAX_SECTIONS: u64 = 1024;

/// One section header as Xen reads it.
#[derive(Clone, Debug)]
pub struct Section {
    pub index: usize,
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
    pub entsize: u64,
}

impl Section {
    pub fn alloc(&self) -> bool {
        self.flags & SHF_ALLOC != 0
    }
}

/// One symbol as Xen reads it.
#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    pub shndx: u16,
    pub value: u64,
}

/// The file as Xen's loader sees it once its ELF checks passed.
#[derive(Clone, Debug)]
pub struct XenElf<'a> {
    pub data: &'a [u8],
    pub sections: Vec<Section>,
    /// Symbol 0 included.
    pub symbols: Vec<Symbol>,
}

impl<'a> XenElf<'a> {
    /// The first section called `name` (Xen stops at the first match).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().skip(1).find(|s| s.name == name)
    }

    /// A section's bytes in the file (empty for NOBITS; bounds were checked).
    pub fn bytes(&self, s: &Section) -> &'a [u8] {
        if s.sh_type == SHT_NOBITS {
            return &[];
        }
        let (o, n) = (s.offset as usize, s.size as usize);
        &self.data[o..o + n]
    }

    /// A loaded section's bytes as Xen sees them in memory: a NOBITS one is
    /// `sh_size` zeros (at most 2 MiB: the header checks refuse more).
    pub fn contents(&self, s: &Section) -> std::borrow::Cow<'a, [u8]> {
        if s.sh_type == SHT_NOBITS {
            let n = if s.alloc() { s.size.min(MAX_NOBITS) } else { 0 };
            return std::borrow::Cow::Owned(vec![0; n as usize]);
        }
        std::borrow::Cow::Borrowed(self.bytes(s))
    }
}

fn u16_at(d: &[u8], o: u64) -> u16 {
    let o = o as usize;
    u16::from_le_bytes([d[o], d[o + 1]])
}
fn u32_at(d: &[u8], o: u64) -> u32 {
    let o = o as usize;
    u32::from_le_bytes(d[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(d: &[u8], o: u64) -> u64 {
    let o = o as usize;
    u64::from_le_bytes(d[o..o + 8].try_into().expect("8 bytes"))
}

fn einval(why: impl Into<String>) -> Failure {
    fail(Errno::EINVAL, why)
}
fn eopnotsupp(why: impl Into<String>) -> Failure {
    fail(Errno::EOPNOTSUPP, why)
}

/// Xen's `livepatch_elf_load` and the ELF-level parts of the steps after it, for a
/// payload named `name` (messages start like Xen's console lines).
pub fn check<'a>(name: &str, data: &'a [u8]) -> Result<XenElf<'a>, Failure> {
    let len = data.len() as u64;
    // Header.
    if len < EHDR {
        return Err(einval(format!(
            "{name}: Section header is bigger than payload ({len} bytes)"
        )));
    }
    if &data[..4] != b"\x7fELF" {
        return Err(einval(format!("{name}: Not an ELF payload")));
    }
    let osabi = data[7];
    if u32_at(data, 0x14) != 1
        || data[6] != 1
        || data[8] != 0
        || !matches!(osabi, 0 | 9)
        || u16_at(data, 0x10) != 1
        || u16_at(data, 0x38) != 0
    {
        return Err(eopnotsupp(format!(
            "{name}: Invalid ELF payload (version, ABI, type or program headers)"
        )));
    }
    if u16_at(data, 0x12) != 62 || data[4] != 2 || data[5] != 1 {
        return Err(eopnotsupp(format!("{name}: Unsupported ELF Machine type")));
    }
    let shstrndx = u64::from(u16_at(data, 0x3e));
    let shnum = u64::from(u16_at(data, 0x3c));
    let shoff = u64_at(data, 0x28);
    let shentsize = u64::from(u16_at(data, 0x3a));
    if shstrndx == 0 {
        return Err(einval(format!("{name}: Section name idx is undefined")));
    }
    if shnum >= MAX_SECTIONS {
        return Err(eopnotsupp(format!("{name}: Too many ({shnum}) sections")));
    }
    if shstrndx >= shnum {
        return Err(einval(format!(
            "{name}: Section name idx ({shstrndx}) is past end of sections ({shnum})"
        )));
    }
    if shoff >= len {
        return Err(einval(format!("{name}: Bogus e_shoff ({shoff:#x})")));
    }
    if shentsize < SHDR {
        return Err(einval(format!(
            "{name}: Section header size is {shentsize}! Expected {SHDR}"
        )));
    }
    if (len - shoff) / shentsize < shnum {
        return Err(einval(format!("{name}: Section header size is corrupted")));
    }

    // Section headers, 1..shnum.
    let mut sections = vec![Section {
        index: 0,
        name: String::new(),
        sh_type: 0,
        flags: 0,
        offset: 0,
        size: 0,
        link: 0,
        info: 0,
        entsize: 0,
    }];
    let mut symtab: Option<usize> = None;
    for i in 1..shnum {
        let h = shoff + i * shentsize;
        let s = Section {
            index: i as usize,
            name: String::new(),
            sh_type: u32_at(data, h + 4),
            flags: u64_at(data, h + 8),
            offset: u64_at(data, h + 0x18),
            size: u64_at(data, h + 0x20),
            link: u32_at(data, h + 0x28),
            info: u32_at(data, h + 0x2c),
            entsize: u64_at(data, h + 0x38),
        };
        let addr = u64_at(data, h + 0x10);
        let align = u64_at(data, h + 0x30);
        let past = s.offset > len || s.offset.wrapping_add(s.size) > len;
        if s.offset < EHDR || (s.sh_type != SHT_NOBITS && past) {
            return Err(einval(format!(
                "{name}: Section [{i}] data {} of payload",
                if s.offset < EHDR {
                    "at ELF header"
                } else {
                    "is past end"
                }
            )));
        }
        if s.sh_type != SHT_NOBITS && s.offset.checked_add(s.size).is_none_or(|e| e > len) {
            // Xen's sum wraps and lets this through, then reads past the upload.
            return Err(einval(format!(
                "{name}: Section [{i}] offset + size wraps around: Xen would read past the payload; refused (stricter than Xen)"
            )));
        }
        if align != 0 && !align.is_power_of_two() {
            return Err(eopnotsupp(format!(
                "{name}: Section [{i}] alignment ({align:#x}) is not supported"
            )));
        }
        if align != 0 && !addr.is_multiple_of(align) {
            return Err(einval(format!(
                "{name}: Section [{i}] addr ({addr:#x}) is not aligned properly ({align:#x})"
            )));
        }
        if s.sh_type == SHT_NOBITS && s.flags & (SHF_WRITE | SHF_ALLOC) != 0 && s.size > MAX_NOBITS
        {
            return Err(einval(format!(
                "{name}: Section [{i}] is a {} byte NOBITS section (at most {MAX_NOBITS})",
                s.size
            )));
        }
        if s.sh_type == SHT_SYMTAB {
            if symtab.is_some() {
                return Err(eopnotsupp(format!(
                    "{name}: Unsupported multiple symbol tables"
                )));
            }
            if u64::from(s.link) >= shnum {
                return Err(einval(format!(
                    "{name}: Symbol table idx ({}) to strtab past end ({shnum})",
                    s.link
                )));
            }
            symtab = Some(i as usize);
        }
        sections.push(s);
    }
    let Some(symtab) = symtab else {
        return Err(einval(format!("{name}: No symbol table found")));
    };
    let st = &sections[symtab];
    if st.size == 0 || st.entsize < SYM || st.size % st.entsize != 0 {
        return Err(einval(format!("{name}: Symbol table header is corrupted")));
    }
    let strtab = &sections[st.link as usize];
    if !string_table_ok(data, strtab) {
        return Err(einval(format!("{name}: String table section is corrupted")));
    }
    // Section names.
    let shstr = &sections[shstrndx as usize];
    if !string_table_ok(data, shstr) {
        return Err(einval(format!("{name}: Section string table is corrupted")));
    }
    let names = &data[shstr.offset as usize..(shstr.offset + shstr.size) as usize];
    let names_size = shstr.size;
    for (i, s) in sections.iter_mut().enumerate().skip(1) {
        let h = shoff + i as u64 * shentsize;
        let at = u64::from(u32_at(data, h));
        if at >= names_size {
            return Err(einval(format!(
                "{name}: Section {i} name is not within .shstrtab"
            )));
        }
        s.name = c_str(&names[at as usize..]);
    }
    // Symbols (names only; symbol 0 skipped, as Xen does).
    let (st, strs) = (&sections[symtab], &sections[sections[symtab].link as usize]);
    let strings = &data[strs.offset as usize..(strs.offset + strs.size) as usize];
    let count = st.size / st.entsize;
    let mut symbols = vec![Symbol {
        name: String::new(),
        shndx: 0,
        value: 0,
    }];
    for k in 1..count {
        let at = st.offset + k * st.entsize;
        let n = u64::from(u32_at(data, at));
        if n >= strs.size {
            return Err(einval(format!(
                "{name}: Symbol [{k}] name is not within .strtab"
            )));
        }
        symbols.push(Symbol {
            name: c_str(&strings[n as usize..]),
            shndx: u16_at(data, at + 6),
            value: u64_at(data, at + 8),
        });
    }
    let elf = XenElf {
        data,
        sections,
        symbols,
    };
    // move_payload: no section both writable and executable.
    if let Some(s) = elf
        .sections
        .iter()
        .skip(1)
        .find(|s| s.alloc() && s.flags & SHF_EXECINSTR != 0 && s.flags & SHF_WRITE != 0)
    {
        return Err(eopnotsupp(format!(
            "{name}: Not supporting {} section (writable and executable)",
            s.name
        )));
    }
    check_symbols(name, &elf)?;
    check_relocations(name, &elf, symtab)?;
    Ok(elf)
}

fn string_table_ok(data: &[u8], s: &Section) -> bool {
    if s.sh_type != SHT_STRTAB || s.size == 0 {
        return false;
    }
    let b = &data[s.offset as usize..(s.offset + s.size) as usize];
    b[0] == 0 && b[b.len() - 1] == 0
}

fn c_str(b: &[u8]) -> String {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n]).into_owned()
}

/// `livepatch_elf_resolve_symbols`, except the resolution of undefined names.
fn check_symbols(name: &str, elf: &XenElf) -> Result<(), Failure> {
    let shnum = elf.sections.len() as u64;
    for s in elf.symbols.iter().skip(1) {
        match s.shndx {
            SHN_COMMON => {
                return Err(einval(format!(
                    "{name}: Unexpected common symbol: {}",
                    s.name
                )));
            }
            SHN_UNDEF | SHN_ABS => {}
            n if n >= SHN_LORESERVE => {
                return Err(eopnotsupp(format!(
                    "{name}: Out of bounds symbol section {n:#x}"
                )));
            }
            n if u64::from(n) >= shnum => {
                return Err(einval(format!(
                    "{name}: Out of bounds symbol section {n:#x}"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `livepatch_elf_perform_relocs`, except the values: structure, symbol indices,
/// types and offsets.
fn check_relocations(name: &str, elf: &XenElf, symtab: usize) -> Result<(), Failure> {
    let nsyms = elf.symbols.len() as u64;
    for r in elf.sections.iter().skip(1) {
        if !matches!(r.sh_type, SHT_RELA | SHT_REL) {
            continue;
        }
        let Some(target) = elf.sections.get(r.info as usize).filter(|_| r.info != 0) else {
            continue;
        };
        if !target.alloc() {
            continue;
        }
        if r.link as usize != symtab {
            return Err(einval(format!(
                "{name}: Relative link of {} is incorrect ({}, expected={symtab})",
                r.name, r.link
            )));
        }
        if r.size == 0 {
            continue;
        }
        let min = if r.sh_type == SHT_RELA { RELA } else { REL };
        if r.entsize < min || r.size % r.entsize != 0 {
            return Err(einval(format!(
                "{name}: Section relative header is corrupted"
            )));
        }
        if r.sh_type == SHT_REL {
            return Err(eopnotsupp(format!(
                "{name}: SHT_REL relocation unsupported"
            )));
        }
        for k in 0..r.size / r.entsize {
            let at = r.offset + k * r.entsize;
            let offset = u64_at(elf.data, at);
            let info = u64_at(elf.data, at + 8);
            let (sym, ty) = (info >> 32, info as u32);
            if sym == 0 {
                return Err(eopnotsupp(format!("{name}: Encountered STN_UNDEF")));
            }
            if sym >= nsyms {
                return Err(einval(format!(
                    "{name}: Relative relocation wants symbol@{sym} which is past end"
                )));
            }
            let s = &elf.symbols[sym as usize];
            if s.shndx != SHN_UNDEF
                && s.shndx < SHN_LORESERVE
                && !elf.sections[usize::from(s.shndx)].alloc()
            {
                return Err(einval(format!(
                    "{name}: Relocation against ignored symbol {} cannot be resolved",
                    s.name
                )));
            }
            let width = match ty {
                0 => continue,
                1 => 8,
                2 | 4 => 4,
                other => {
                    return Err(eopnotsupp(format!("{name}: Unhandled relocation {other}")));
                }
            };
            if offset.checked_add(width).is_none_or(|e| e > target.size) {
                return Err(einval(format!(
                    "{name}: Relative relocation offset is past {} section",
                    target.name
                )));
            }
        }
    }
    Ok(())
}
