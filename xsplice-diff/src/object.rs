//! Phase 1: read one relocatable ELF64 object into a typed value.
//!
//! Objects are untrusted input: every malformed structure becomes an
//! [`ObjectError`] naming the object, the file offset and the structure.
//! Relocations keep their full 64-bit addend. A relocation against a section
//! symbol (`.text.foo + 0x30`) is rewritten to the real symbol it points into
//! (`foo + 0x30`) when one symbol clearly covers the spot.

use object::Endianness;
use object::elf;
use object::read::elf::{FileHeader, Rela as _, SectionHeader as _, Sym as _};
use xsplice_payload::Machine;

/// An ELF section index.
pub type SecId = usize;
/// An ELF symbol index.
pub type SymId = usize;

/// A malformed or unsupported object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {what} (file offset {offset:#x}): {why}")]
pub struct ObjectError {
    pub path: String,
    pub offset: u64,
    pub what: String,
    pub why: String,
}

/// One relocatable object.
#[derive(Clone, Debug)]
pub struct ObjectFile {
    /// Relative path of the object, as given by the caller.
    pub name: String,
    pub machine: Machine,
    /// Indexed by ELF section index; entry 0 is the null section.
    pub sections: Vec<Section>,
    /// Indexed by ELF symbol index; entry 0 is the null symbol.
    pub symbols: Vec<Symbol>,
    /// Per section: its named function/object symbols, by address.
    by_section: Vec<Vec<SymId>>,
}

/// What a section holds, as far as the diff is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum SectionClass {
    Text,
    ReadOnly,
    /// SHF_MERGE|SHF_STRINGS: compared by string content.
    Strings,
    Data,
    Bss,
    /// `.debug_*`: read for source locations and types, never carried.
    Debug,
    /// Notes, `.comment`, unwind tables: not carried, not compared.
    Ignored,
    /// Symbol/string/relocation tables and groups: bookkeeping of the ELF file.
    Meta,
    /// Anything else (special sections such as bug frames or exception tables).
    Other,
}

#[derive(Clone, Debug)]
pub struct Section {
    pub index: SecId,
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub align: u64,
    pub entsize: u64,
    pub size: u64,
    /// File offset of the section's bytes (for error messages).
    pub file_offset: u64,
    /// Bytes (empty for NOBITS).
    pub data: Vec<u8>,
    pub relocs: Vec<Reloc>,
    pub class: SectionClass,
}

impl Section {
    /// Init-only sections are discarded by the running hypervisor after boot.
    pub fn is_init(&self) -> bool {
        is_init_name(&self.name)
    }
}

/// Names of sections holding init-only code or data (`.init.text`, `.init.data`,
/// `.initcall1.init`, ...). Per-symbol sections (`.text.init_amd`, the
/// `-ffunction-sections` section of a function named `init_amd`) are not.
pub fn is_init_name(name: &str) -> bool {
    const PER_SYMBOL: &[&str] = &[".text.", ".data.", ".rodata.", ".bss."];
    name.contains(".init")
        && !name.starts_with(".init_array")
        && !PER_SYMBOL.iter().any(|p| name.starts_with(p))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum SymKind {
    NoType,
    Object,
    Func,
    Section,
    File,
    Other,
}

#[derive(Clone, Debug)]
pub struct Symbol {
    pub index: SymId,
    pub name: String,
    pub kind: SymKind,
    /// STB_GLOBAL or STB_WEAK.
    pub global: bool,
    /// Defining section; `None` for undefined (and absolute/common) symbols.
    pub section: Option<SecId>,
    pub undefined: bool,
    pub value: u64,
    pub size: u64,
    /// The STT_FILE string in force where this symbol is defined.
    pub file: Option<String>,
}

/// A RELA relocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reloc {
    /// Offset in the section being relocated.
    pub offset: u64,
    pub r_type: u32,
    pub target: Target,
    /// Full 64-bit addend, relative to the target.
    pub addend: i64,
    /// Bytes from `target + addend` to the spot the reference really names: for a
    /// PC-relative field in code, the distance from the field to the end of its
    /// instruction (decoded); 0 for data and absolute references.
    pub adjust: i64,
}

/// What a relocation refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Symbol(SymId),
    /// The start of a section (a section symbol no named symbol covers).
    Section(SecId),
}

impl ObjectFile {
    /// Parses `bytes`; `name` is used in errors and reports.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<ObjectFile, ObjectError> {
        Parser { name, data: bytes }.parse()
    }

    pub fn symbol(&self, id: SymId) -> &Symbol {
        &self.symbols[id]
    }

    pub fn section(&self, id: SecId) -> &Section {
        &self.sections[id]
    }

    /// Named function and data symbols defined in allocated sections.
    pub fn defined_symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.symbols.iter().filter(|s| {
            matches!(s.kind, SymKind::Func | SymKind::Object)
                && s.section.is_some()
                && !s.name.is_empty()
        })
    }

    /// The bytes of a symbol (zeros for NOBITS), `None` when out of its section.
    pub fn symbol_bytes(&self, id: SymId) -> Option<Vec<u8>> {
        let s = &self.symbols[id];
        let sec = &self.sections[s.section?];
        let end = s.value.checked_add(s.size)?;
        if end > sec.size {
            return None;
        }
        if sec.sh_type == elf::SHT_NOBITS {
            return Some(vec![0; s.size as usize]);
        }
        sec.data
            .get(s.value as usize..end as usize)
            .map(<[u8]>::to_vec)
    }

    /// Relocations inside a symbol's byte range, with offsets relative to the symbol.
    pub fn symbol_relocs(&self, id: SymId) -> Vec<Reloc> {
        let s = &self.symbols[id];
        let Some(sec) = s.section else {
            return Vec::new();
        };
        let end = s.value.saturating_add(s.size);
        self.sections[sec]
            .relocs
            .iter()
            .filter(|r| r.offset >= s.value && r.offset < end)
            .map(|r| Reloc {
                offset: r.offset - s.value,
                ..*r
            })
            .collect()
    }

    /// Section and offset a relocation's target plus addend points at
    /// (`None` for undefined symbols).
    pub fn resolve(&self, target: Target, addend: i64) -> Option<(SecId, i64)> {
        match target {
            Target::Section(s) => Some((s, addend)),
            Target::Symbol(id) => {
                let s = &self.symbols[id];
                let sec = s.section?;
                Some((sec, (s.value as i64).wrapping_add(addend)))
            }
        }
    }

    /// The named function/object symbol covering `offset` in `sec`, if exactly one does.
    pub fn symbol_at(&self, sec: SecId, offset: u64) -> Option<SymId> {
        let mut found = None;
        for &id in self.symbols_in(sec) {
            let s = &self.symbols[id];
            if s.value > offset {
                break;
            }
            if offset < s.value.saturating_add(s.size.max(1)) {
                if found.is_some() {
                    return None;
                }
                found = Some(id);
            }
        }
        found
    }

    /// Named function/object symbols defined in `sec`, by address.
    pub fn symbols_in(&self, sec: SecId) -> &[SymId] {
        self.by_section.get(sec).map_or(&[], Vec::as_slice)
    }

    /// Assembles an object from parts (used for the empty side of added/removed files).
    pub fn from_parts(
        name: &str,
        machine: Machine,
        sections: Vec<Section>,
        symbols: Vec<Symbol>,
    ) -> ObjectFile {
        let mut obj = ObjectFile {
            name: name.to_string(),
            machine,
            sections,
            symbols,
            by_section: Vec::new(),
        };
        obj.index();
        obj
    }

    fn index(&mut self) {
        let mut by: Vec<Vec<SymId>> = vec![Vec::new(); self.sections.len()];
        for s in self.defined_symbols() {
            if let Some(v) = s.section.and_then(|x| by.get_mut(x)) {
                v.push(s.index);
            }
        }
        for v in &mut by {
            v.sort_by_key(|&id| (self.symbols[id].value, id));
        }
        self.by_section = by;
    }
}

/// Largest zero-initialised section accepted (bytes are materialised when carried).
const MAX_NOBITS: u64 = 1 << 28;

struct Parser<'a> {
    name: &'a str,
    data: &'a [u8],
}

impl Parser<'_> {
    fn err(
        &self,
        offset: u64,
        what: impl Into<String>,
        why: impl std::fmt::Display,
    ) -> ObjectError {
        ObjectError {
            path: self.name.to_string(),
            offset,
            what: what.into(),
            why: why.to_string(),
        }
    }

    fn parse(&self) -> Result<ObjectFile, ObjectError> {
        let data = self.data;
        if data.get(..4) != Some(&elf::ELFMAG[..]) {
            return Err(self.err(0, "ELF header", "not an ELF file"));
        }
        if data.get(4) != Some(&elf::ELFCLASS64) {
            return Err(self.err(0, "ELF header", "not a 64-bit ELF file"));
        }
        let header = elf::FileHeader64::<Endianness>::parse(data)
            .map_err(|e| self.err(0, "ELF header", e))?;
        let endian = header.endian().map_err(|e| self.err(0, "ELF header", e))?;
        if endian != Endianness::Little {
            return Err(self.err(0, "ELF header", "big-endian objects are not supported"));
        }
        if header.e_type(endian) != elf::ET_REL {
            return Err(self.err(
                0x10,
                "ELF header e_type",
                "not a relocatable object (ET_REL)",
            ));
        }
        let e_machine = header.e_machine(endian);
        let machine = Machine::from_elf(e_machine).ok_or_else(|| {
            self.err(
                0x12,
                "ELF header e_machine",
                format!("unsupported machine {e_machine}"),
            )
        })?;
        let shoff = header.e_shoff(endian);
        let table = header
            .sections(endian, data)
            .map_err(|e| self.err(shoff, "section header table", e))?;

        let mut sections = Vec::with_capacity(table.len());
        for (i, sh) in table.iter().enumerate() {
            let hdr_off = shoff + (i as u64) * 64;
            let name = table
                .section_name(endian, sh)
                .map_err(|e| self.err(hdr_off, format!("section {i} name"), e))?;
            let name = String::from_utf8_lossy(name).into_owned();
            let sh_type = sh.sh_type(endian);
            let size = sh.sh_size(endian);
            let file_offset = sh.sh_offset(endian);
            let bytes = if sh_type == elf::SHT_NOBITS || sh_type == elf::SHT_NULL {
                Vec::new()
            } else {
                sh.data(endian, data)
                    .map_err(|e| self.err(file_offset, format!("section {i} ({name}) data"), e))?
                    .to_vec()
            };
            if sh_type == elf::SHT_NOBITS && size > MAX_NOBITS {
                return Err(self.err(
                    hdr_off,
                    format!("section {i} ({name}) sh_size"),
                    format!("{size:#x} bytes of NOBITS is implausible"),
                ));
            }
            let flags = sh.sh_flags(endian);
            let align = sh.sh_addralign(endian).max(1);
            if !align.is_power_of_two() {
                return Err(self.err(
                    hdr_off,
                    format!("section {i} ({name}) sh_addralign"),
                    format!("{align} is not a power of two"),
                ));
            }
            sections.push(Section {
                index: i,
                class: classify_section(&name, sh_type, flags),
                name,
                sh_type,
                flags,
                align,
                entsize: sh.sh_entsize(endian),
                size,
                file_offset,
                data: bytes,
                relocs: Vec::new(),
            });
        }

        let symtab = table
            .symbols(endian, data, elf::SHT_SYMTAB)
            .map_err(|e| self.err(shoff, "symbol table", e))?;
        let mut symbols = Vec::with_capacity(symtab.len());
        let mut file: Option<String> = None;
        let symtab_off = table
            .iter()
            .find(|s| s.sh_type(endian) == elf::SHT_SYMTAB)
            .map(|s| s.sh_offset(endian))
            .unwrap_or(0);
        for (i, sym) in symtab.symbols().iter().enumerate() {
            let off = symtab_off + (i as u64) * 24;
            let name = symtab
                .symbol_name(endian, sym)
                .map_err(|e| self.err(off, format!("symbol {i} name"), e))?;
            let mut name = String::from_utf8_lossy(name).into_owned();
            let kind = match sym.st_type() {
                elf::STT_NOTYPE => SymKind::NoType,
                elf::STT_OBJECT | elf::STT_COMMON | elf::STT_TLS => SymKind::Object,
                elf::STT_FUNC | elf::STT_GNU_IFUNC => SymKind::Func,
                elf::STT_SECTION => SymKind::Section,
                elf::STT_FILE => SymKind::File,
                _ => SymKind::Other,
            };
            let shndx = sym.st_shndx(endian);
            let section = symtab
                .symbol_section(endian, sym, object::SymbolIndex(i))
                .map_err(|e| self.err(off, format!("symbol {i} ({name}) section"), e))?
                .map(|s| s.0);
            if let Some(s) = section {
                if s >= sections.len() {
                    return Err(self.err(
                        off,
                        format!("symbol {i} ({name})"),
                        format!("section index {s} out of range"),
                    ));
                }
                if kind == SymKind::Section && name.is_empty() {
                    name = sections[s].name.clone();
                }
            }
            if kind == SymKind::File {
                file = Some(name.clone());
            }
            let global = matches!(sym.st_bind(), elf::STB_GLOBAL | elf::STB_WEAK);
            symbols.push(Symbol {
                index: i,
                kind,
                global,
                section,
                undefined: shndx == elf::SHN_UNDEF,
                value: sym.st_value(endian),
                size: sym.st_size(endian),
                file: if global || kind == SymKind::File {
                    None
                } else {
                    file.clone()
                },
                name,
            });
        }

        let mut obj = ObjectFile::from_parts(self.name, machine, sections, symbols);
        for (i, sh) in table.iter().enumerate() {
            let Some((relas, _link)) = sh.rela(endian, data).map_err(|e| {
                self.err(sh.sh_offset(endian), format!("relocation section {i}"), e)
            })?
            else {
                if sh.sh_type(endian) == elf::SHT_REL {
                    return Err(self.err(
                        sh.sh_offset(endian),
                        format!("section {i}"),
                        "SHT_REL relocations are not supported",
                    ));
                }
                continue;
            };
            let applies_to = sh.sh_info(endian) as usize;
            let what = format!("relocation section {i} ({})", obj.sections[i].name);
            if applies_to == 0 || applies_to >= obj.sections.len() {
                return Err(self.err(
                    sh.sh_offset(endian),
                    what,
                    format!("sh_info {applies_to} is not a section"),
                ));
            }
            let mut relocs = Vec::with_capacity(relas.len());
            for (j, r) in relas.iter().enumerate() {
                let off = sh.sh_offset(endian) + (j as u64) * 24;
                let sym = r.r_sym(endian, false) as usize;
                let r_type = r.r_type(endian, false);
                let offset = r.r_offset(endian);
                let addend = r.r_addend(endian);
                if sym >= obj.symbols.len() {
                    return Err(self.err(
                        off,
                        format!("{what} entry {j}"),
                        format!("symbol index {sym} out of range"),
                    ));
                }
                if offset >= obj.sections[applies_to].size {
                    return Err(self.err(
                        off,
                        format!("{what} entry {j}"),
                        format!("offset {offset:#x} past the section end"),
                    ));
                }
                relocs.push(Reloc {
                    offset,
                    r_type,
                    target: Target::Symbol(sym),
                    addend,
                    adjust: 0,
                });
            }
            obj.sections[applies_to].relocs = relocs;
        }
        extend_last_functions(&mut obj);
        set_pc_adjust(&mut obj);
        rewrite_section_symbol_relocs(&mut obj);
        Ok(obj)
    }
}

fn classify_section(name: &str, sh_type: u32, flags: u64) -> SectionClass {
    let flags32 = flags as u32;
    match sh_type {
        elf::SHT_SYMTAB
        | elf::SHT_STRTAB
        | elf::SHT_RELA
        | elf::SHT_REL
        | elf::SHT_GROUP
        | elf::SHT_SYMTAB_SHNDX => {
            return SectionClass::Meta;
        }
        elf::SHT_NULL | elf::SHT_NOTE | elf::SHT_X86_64_UNWIND => return SectionClass::Ignored,
        _ => {}
    }
    if name.starts_with(".debug_") || name.starts_with(".zdebug_") {
        return SectionClass::Debug;
    }
    if flags32 & elf::SHF_ALLOC == 0 {
        return if matches!(name, ".comment" | ".note.GNU-stack")
            || name.starts_with(".note")
            || name.starts_with(".gnu.")
        {
            SectionClass::Ignored
        } else {
            SectionClass::Other
        };
    }
    if name == ".eh_frame" {
        return SectionClass::Ignored;
    }
    if flags32 & elf::SHF_TLS != 0 || !matches!(sh_type, elf::SHT_PROGBITS | elf::SHT_NOBITS) {
        return SectionClass::Other;
    }
    let known_prefix = |p: &str| {
        name == p
            || name.starts_with(&format!("{p}."))
            || (p == ".text" && name.starts_with(".init.text"))
    };
    if flags32 & elf::SHF_EXECINSTR != 0 {
        return if known_prefix(".text") || name.contains(".init") {
            SectionClass::Text
        } else {
            SectionClass::Other
        };
    }
    // Const data that needs relocations (`.data.rel.ro*`): writable only while
    // being relocated, read-only for the program.
    if name.starts_with(".data.rel.ro") {
        return SectionClass::ReadOnly;
    }
    if flags32 & elf::SHF_WRITE != 0 {
        let ok = known_prefix(".data")
            || known_prefix(".bss")
            || name.starts_with(".init.data")
            || name.starts_with(".data.rel");
        return match (ok, sh_type == elf::SHT_NOBITS) {
            (false, _) => SectionClass::Other,
            (true, true) => SectionClass::Bss,
            (true, false) => SectionClass::Data,
        };
    }
    if !(known_prefix(".rodata")
        || name.starts_with(".init.rodata")
        || name.starts_with(".data.rel.ro"))
    {
        return SectionClass::Other;
    }
    if flags32 & elf::SHF_STRINGS != 0 && flags32 & elf::SHF_MERGE != 0 {
        SectionClass::Strings
    } else {
        SectionClass::ReadOnly
    }
}

/// Code after the last function of a code section belongs to it: gcc closes the
/// symbol (`.size`) before a trailing `ud2` of a `noreturn` path (Xen's `BUG()` at
/// the end of a function), which the function jumps to and its bug frame names.
/// Without this, a carried copy would lack those bytes.
fn extend_last_functions(obj: &mut ObjectFile) {
    for si in 0..obj.sections.len() {
        let sec = &obj.sections[si];
        if sec.flags & u64::from(elf::SHF_EXECINSTR) == 0 || sec.sh_type != elf::SHT_PROGBITS {
            continue;
        }
        let size = sec.size;
        let ids = obj.by_section.get(si).cloned().unwrap_or_default();
        let end = |s: &Symbol| s.value.saturating_add(s.size);
        let Some(max_end) = ids.iter().map(|&i| end(&obj.symbols[i])).max() else {
            continue;
        };
        if max_end >= size {
            continue;
        }
        for &i in &ids {
            let s = &mut obj.symbols[i];
            if s.kind == SymKind::Func && s.value.saturating_add(s.size) == max_end && s.size > 0 {
                s.size = size - s.value;
            }
        }
    }
}

/// Sets [`Reloc::adjust`]: in code, PC-relative fields are measured from the end of
/// their instruction (decoded when the target is a section or a label, whose
/// covering symbol has to be found; else at least the field's width).
fn set_pc_adjust(obj: &mut ObjectFile) {
    let arch = obj.machine.arch();
    for si in 0..obj.sections.len() {
        let sec = &obj.sections[si];
        if sec.flags & u64::from(elf::SHF_EXECINSTR) == 0 || sec.relocs.is_empty() {
            continue;
        }
        let probed = |r: &Reloc| {
            let Target::Symbol(id) = r.target else {
                return true;
            };
            matches!(obj.symbols[id].kind, SymKind::Section | SymKind::NoType)
        };
        let needs_decode = sec
            .relocs
            .iter()
            .any(|r| arch.reloc_info(r.r_type).is_some_and(|k| k.pc_relative) && probed(r));
        let insns = if needs_decode {
            crate::insn::boundaries(obj.machine, &sec.data)
        } else {
            Vec::new()
        };
        let adjusts: Vec<i64> = sec
            .relocs
            .iter()
            .map(|r| match arch.reloc_info(r.r_type) {
                Some(k) if k.pc_relative => {
                    let width = i64::from(k.width);
                    crate::insn::end_of(&insns, r.offset)
                        .map(|end| end as i64 - r.offset as i64)
                        .filter(|&a| a >= width)
                        .unwrap_or(width)
                }
                _ => 0,
            })
            .collect();
        for (r, a) in obj.sections[si].relocs.iter_mut().zip(adjusts) {
            r.adjust = a;
        }
    }
}

fn rewrite_section_symbol_relocs(obj: &mut ObjectFile) {
    for si in 0..obj.sections.len() {
        for ri in 0..obj.sections[si].relocs.len() {
            let r = obj.sections[si].relocs[ri];
            let Target::Symbol(id) = r.target else {
                continue;
            };
            let s = &obj.symbols[id];
            if s.kind != SymKind::Section {
                continue;
            }
            let Some(sec) = s.section else { continue };
            let base = s.value as i64;
            let (target, addend) = match cover(obj, sec, base.wrapping_add(r.addend), r.adjust) {
                Some(sym) => (
                    Target::Symbol(sym),
                    base.wrapping_add(r.addend)
                        .wrapping_sub(obj.symbols[sym].value as i64),
                ),
                None => (Target::Section(sec), base.wrapping_add(r.addend)),
            };
            obj.sections[si].relocs[ri].target = target;
            obj.sections[si].relocs[ri].addend = addend;
        }
    }
}

/// The function/object symbol a `section + off` reference points into.
fn cover(obj: &ObjectFile, sec: SecId, off: i64, adjust: i64) -> Option<SymId> {
    let size = obj.sections[sec].size;
    // -ffunction-sections / -fdata-sections: one symbol spans the whole section.
    let whole: Vec<SymId> = obj
        .symbols_in(sec)
        .iter()
        .copied()
        .filter(|&id| {
            let s = obj.symbol(id);
            s.value == 0 && s.size == size && size > 0
        })
        .collect();
    if whole.len() == 1 {
        return Some(whole[0]);
    }
    let pos = off.checked_add(adjust)?;
    if pos < 0 {
        return None;
    }
    obj.symbol_at(sec, pos as u64)
        .filter(|&id| obj.symbols[id].size > 0)
}
