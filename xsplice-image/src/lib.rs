//! A hypervisor image: the statically linked ELF executable a payload targets.
//!
//! Provides what the builder and the runtime need and nothing else: the GNU build-id,
//! the symbol table with every local attributed to its `STT_FILE` (so it can be named
//! `file#symbol`, the convention of Xen's symbol table), and the loadable segments.
//! Images come from users: malformed input is an error naming the path, never a panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader, Sym};
use object::{Endianness, Object, ObjectSymbol, ObjectSymbolTable};
use xsplice_payload::Machine;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid ELF64 executable: {why}")]
    Malformed { path: PathBuf, why: String },
    #[error("{path}: unsupported image: {why}")]
    Unsupported { path: PathBuf, why: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("symbol `{0}` is not in the hypervisor's symbol table")]
    NotFound(String),
    #[error("symbol `{name}` is ambiguous in the hypervisor: candidates {}", candidates.join(", "))]
    Ambiguous {
        name: String,
        candidates: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageSymbolKind {
    Func,
    Object,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSymbol {
    pub name: String,
    /// The `STT_FILE` string preceding a local symbol; `None` for globals.
    pub file: Option<String>,
    pub addr: u64,
    pub size: u64,
    pub kind: ImageSymbolKind,
    pub global: bool,
}

impl ImageSymbol {
    /// `file#name` for locals, `name` for globals.
    pub fn qualified(&self) -> String {
        match (&self.file, self.global) {
            (Some(f), false) => format!("{f}#{}", self.name),
            _ => self.name.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    /// The file-backed bytes (`p_filesz`); the rest up to `memsz` is zero.
    pub data: Vec<u8>,
}

/// A section header of the image (allocated sections tell finer permissions than
/// segments: Xen links everything into one RWX segment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSection {
    pub name: String,
    pub addr: u64,
    pub size: u64,
    pub alloc: bool,
    pub write: bool,
    pub exec: bool,
    pub tls: bool,
}

#[derive(Debug)]
pub struct Image {
    bytes: Vec<u8>,
    machine: Machine,
    build_id: Vec<u8>,
    entry: u64,
    symbols: Vec<ImageSymbol>,
    by_name: BTreeMap<String, Vec<usize>>,
    segments: Vec<Segment>,
    sections: Vec<ImageSection>,
}

impl Image {
    pub fn from_path(path: &Path) -> Result<Image, ImageError> {
        let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
            path: path.into(),
            source,
        })?;
        Self::parse_named(bytes, path)
    }

    pub fn parse(bytes: Vec<u8>) -> Result<Image, ImageError> {
        Self::parse_named(bytes, Path::new("<image>"))
    }

    fn parse_named(bytes: Vec<u8>, path: &Path) -> Result<Image, ImageError> {
        let malformed = |why: String| ImageError::Malformed {
            path: path.into(),
            why,
        };
        let unsupported = |why: String| ImageError::Unsupported {
            path: path.into(),
            why,
        };
        let file = ElfFile64::<Endianness>::parse(&*bytes).map_err(|e| malformed(e.to_string()))?;
        let header = file.elf_header();
        let endian = file.endian();
        if endian != Endianness::Little {
            return Err(unsupported("big-endian images are not supported".into()));
        }
        let e_type = header.e_type(endian);
        if e_type != elf::ET_EXEC && e_type != elf::ET_DYN {
            return Err(unsupported(format!(
                "ELF type {e_type} is not an executable (ET_EXEC/ET_DYN)"
            )));
        }
        let e_machine = header.e_machine(endian);
        let machine = Machine::from_elf(e_machine)
            .ok_or_else(|| unsupported(format!("machine {e_machine} is not supported")))?;
        let build_id = match file.build_id() {
            Ok(Some(id)) if !id.is_empty() => id.to_vec(),
            Ok(_) => {
                return Err(unsupported(
                    "no GNU build-id note (link with --build-id)".into(),
                ));
            }
            Err(e) => return Err(malformed(format!("build-id note: {e}"))),
        };
        let segments = read_segments(&file, &bytes).map_err(malformed)?;
        let sections = read_sections(&file).map_err(malformed)?;
        let symbols = read_symbols(&file).map_err(malformed)?;
        if symbols.is_empty() {
            return Err(unsupported(
                "no symbol table (the image must not be stripped)".into(),
            ));
        }
        let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in symbols.iter().enumerate() {
            by_name.entry(s.name.clone()).or_default().push(i);
        }
        let entry = header.e_entry(endian);
        Ok(Image {
            bytes,
            machine,
            build_id,
            entry,
            symbols,
            by_name,
            segments,
            sections,
        })
    }

    pub fn machine(&self) -> Machine {
        self.machine
    }
    pub fn build_id(&self) -> &[u8] {
        &self.build_id
    }
    pub fn entry(&self) -> u64 {
        self.entry
    }
    pub fn symbols(&self) -> &[ImageSymbol] {
        &self.symbols
    }
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
    /// Section headers, in file order (index 0 excluded).
    pub fn sections(&self) -> &[ImageSection] {
        &self.sections
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Does this hypervisor implement Xen's livepatch interface? True when it defines
    /// `livepatch_op`, the handler of `XEN_SYSCTL_livepatch_op` (Xen 4.7 onward with
    /// `CONFIG_LIVEPATCH`); such a hypervisor loads livepatch payloads, not xSplice ones.
    pub fn speaks_livepatch(&self) -> bool {
        self.symbols
            .iter()
            .any(|s| s.global && s.kind == ImageSymbolKind::Func && s.name == "livepatch_op")
    }

    /// Resolves a name exactly as Xen's own symbol table does
    /// (`symbols_lookup_by_name`): locals are known only as `file#name` (the
    /// `STT_FILE` before them), globals and file-less locals by their name. `None`
    /// when nothing matches; the first of several (Xen refuses duplicates at build).
    pub fn lookup_xen(&self, name: &str) -> Option<&ImageSymbol> {
        let (file, bare) = match name.split_once('#') {
            Some((f, n)) => (Some(f), n),
            None => (None, name),
        };
        self.by_name
            .get(bare)?
            .iter()
            .map(|&i| &self.symbols[i])
            .find(|s| match file {
                None => s.global || s.file.is_none(),
                Some(f) => !s.global && s.file.as_deref() == Some(f),
            })
    }

    /// Resolves `name` or `file#name` (see the crate docs).
    pub fn lookup(&self, name: &str) -> Result<&ImageSymbol, LookupError> {
        let not_found = || LookupError::NotFound(name.to_string());
        let (file, bare) = match name.split_once('#') {
            Some((f, n)) => (Some(f), n),
            None => (None, name),
        };
        let all = self.by_name.get(bare).ok_or_else(not_found)?;
        let cands: Vec<&ImageSymbol> = match file {
            None => {
                let globals: Vec<_> = all
                    .iter()
                    .map(|&i| &self.symbols[i])
                    .filter(|s| s.global)
                    .collect();
                if globals.is_empty() {
                    all.iter().map(|&i| &self.symbols[i]).collect()
                } else {
                    globals
                }
            }
            Some(f) => all
                .iter()
                .map(|&i| &self.symbols[i])
                .filter(|s| s.file.as_deref() == Some(f) && !s.global)
                .collect(),
        };
        // Aliases (same address, same size) are one definition.
        let mut distinct: Vec<&ImageSymbol> = Vec::new();
        for c in cands {
            if !distinct
                .iter()
                .any(|d| d.addr == c.addr && d.size == c.size)
            {
                distinct.push(c);
            }
        }
        match distinct.len() {
            0 => Err(not_found()),
            1 => Ok(distinct[0]),
            _ => Err(LookupError::Ambiguous {
                name: name.to_string(),
                candidates: distinct
                    .iter()
                    .map(|s| format!("{}@{:#x}", s.qualified(), s.addr))
                    .collect(),
            }),
        }
    }

    /// File-backed bytes at `[addr, addr+len)`, if one segment holds them all.
    pub fn read(&self, addr: u64, len: u64) -> Option<&[u8]> {
        self.segments.iter().find_map(|s| {
            let off = addr.checked_sub(s.vaddr)?;
            let end = off.checked_add(len)?;
            if end <= s.data.len() as u64 {
                Some(&s.data[off as usize..end as usize])
            } else {
                None
            }
        })
    }

    /// The segment containing `addr`.
    pub fn segment_of(&self, addr: u64) -> Option<&Segment> {
        self.segments
            .iter()
            .find(|s| addr >= s.vaddr && addr - s.vaddr < s.memsz)
    }
}

fn read_segments(file: &ElfFile64<Endianness>, bytes: &[u8]) -> Result<Vec<Segment>, String> {
    let endian = file.endian();
    let mut out = Vec::new();
    for (i, ph) in file.elf_program_headers().iter().enumerate() {
        if ph.p_type(endian) != elf::PT_LOAD {
            continue;
        }
        let (off, filesz, memsz) = (ph.p_offset(endian), ph.p_filesz(endian), ph.p_memsz(endian));
        if filesz > memsz {
            return Err(format!(
                "program header {i}: p_filesz {filesz:#x} > p_memsz {memsz:#x}"
            ));
        }
        let data = off
            .checked_add(filesz)
            .filter(|&end| end <= bytes.len() as u64)
            .map(|end| bytes[off as usize..end as usize].to_vec())
            .ok_or_else(|| {
                format!("program header {i}: bytes [{off:#x}, +{filesz:#x}) are outside the file")
            })?;
        let flags = ph.p_flags(endian);
        out.push(Segment {
            vaddr: ph.p_vaddr(endian),
            memsz,
            read: flags & elf::PF_R != 0,
            write: flags & elf::PF_W != 0,
            exec: flags & elf::PF_X != 0,
            data,
        });
    }
    if out.is_empty() {
        return Err("no PT_LOAD segment".into());
    }
    Ok(out)
}

fn read_sections(file: &ElfFile64<Endianness>) -> Result<Vec<ImageSection>, String> {
    use object::read::elf::SectionHeader;
    let endian = file.endian();
    let table = file.elf_section_table();
    let mut out = Vec::new();
    for (i, sh) in table.iter().enumerate().skip(1) {
        let name = table
            .section_name(endian, sh)
            .map_err(|e| format!("section {i}: name: {e}"))?;
        let flags = sh.sh_flags(endian);
        let has = |f: u32| flags & u64::from(f) != 0;
        out.push(ImageSection {
            name: String::from_utf8_lossy(name).into_owned(),
            addr: sh.sh_addr(endian),
            size: sh.sh_size(endian),
            alloc: has(elf::SHF_ALLOC),
            write: has(elf::SHF_WRITE),
            exec: has(elf::SHF_EXECINSTR),
            tls: has(elf::SHF_TLS),
        });
    }
    Ok(out)
}

fn read_symbols(file: &ElfFile64<Endianness>) -> Result<Vec<ImageSymbol>, String> {
    let Some(table) = file.symbol_table() else {
        return Ok(Vec::new());
    };
    let endian = file.endian();
    let mut out = Vec::new();
    let mut current_file: Option<String> = None;
    for sym in table.symbols() {
        let raw = sym.elf_symbol();
        let st_type = raw.st_type();
        let name = sym
            .name()
            .map_err(|e| format!("symbol {}: name: {e}", sym.index().0))?;
        if st_type == elf::STT_FILE {
            current_file = Some(name.to_string());
            continue;
        }
        if name.is_empty() || st_type == elf::STT_SECTION || raw.st_shndx(endian) == elf::SHN_UNDEF
        {
            continue;
        }
        let global = raw.st_bind() != elf::STB_LOCAL;
        let kind = match st_type {
            elf::STT_FUNC => ImageSymbolKind::Func,
            elf::STT_OBJECT | elf::STT_TLS => ImageSymbolKind::Object,
            _ => ImageSymbolKind::Other,
        };
        out.push(ImageSymbol {
            name: name.to_string(),
            file: if global { None } else { current_file.clone() },
            addr: raw.st_value(endian),
            size: raw.st_size(endian),
            kind,
            global,
        });
    }
    Ok(out)
}
