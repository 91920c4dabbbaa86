//! The recipes of `tests/corpus/`: each malformed payload is a valid payload from the
//! writer (most start from `provider`, see `runtime_sim::fuzz::seed_payloads`) with
//! one thing broken — a byte patch of one field, or a model the writer accepts but
//! the loader must refuse for the running hypervisor (`runtime-sim`'s tiny image).
//! `XSPLICE_BLESS=1 cargo test -p xsplice-e2e --test corpus` rewrites the files.

use object::elf;
use runtime_sim::fuzz::{inline, payload_build_id, seed_payloads, trampoline};
use xsplice_image::Image;
use xsplice_payload::layout::{self, StructLayout};
use xsplice_payload::read::read;
use xsplice_payload::write::to_bytes;
use xsplice_payload::*;

/// A payload file being broken: the bytes and where things are in them.
pub struct File {
    pub bytes: Vec<u8>,
}

impl File {
    pub fn of(p: &Payload) -> File {
        File {
            bytes: to_bytes(p, xsplice_payload::Flavour::Xsplice)
                .expect("recipes start from valid models"),
        }
    }

    fn parsed(&self) -> xsplice_payload::read::ReadPayload {
        read(&self.bytes).expect("patch offsets are taken from a valid file")
    }

    /// File offset of the section header of `name`.
    pub fn shdr(&self, name: &str) -> usize {
        let s = self.section(name);
        let shoff = u64::from_le_bytes(self.bytes[0x28..0x30].try_into().unwrap()) as usize;
        shoff + 64 * s.index
    }

    fn section(&self, name: &str) -> xsplice_payload::read::ElfSection {
        self.parsed()
            .elf_sections
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no section {name}"))
    }

    /// File offset of the bytes of section `name`.
    pub fn data(&self, name: &str) -> usize {
        self.section(name).offset as usize
    }

    /// File offset of the symbol table entry of `name`.
    pub fn sym(&self, name: &str) -> usize {
        let r = self.parsed();
        let s = r
            .elf_symbols
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no symbol {name}"));
        self.data(".symtab") + 24 * s.index
    }

    /// File offset of entry `i` of RELA section `rela`.
    pub fn rela(&self, rela: &str, i: usize) -> usize {
        self.data(rela) + 24 * i
    }

    /// File offset of field `field` of element `i` of a structure array.
    pub fn field(&self, l: &StructLayout, i: usize, field: &str) -> usize {
        self.data(l.section) + i * l.size + l.field(field).offset
    }

    /// File offset of the relocation filling pointer field `field` of element `i`.
    pub fn pointer_rela(&self, l: &StructLayout, i: usize, field: &str) -> usize {
        let want = (i * l.size + l.field(field).offset) as u64;
        let r = self.parsed();
        let group = r
            .elf_relocations
            .iter()
            .find(|g| g.target_section == l.section)
            .expect("structure relocations");
        let j = group
            .entries
            .iter()
            .position(|e| e.offset == want)
            .expect("the pointer has a relocation");
        self.rela(&group.rela_section, j)
    }

    pub fn put(mut self, at: usize, bytes: &[u8]) -> File {
        self.bytes[at..at + bytes.len()].copy_from_slice(bytes);
        self
    }
    pub fn u8(self, at: usize, v: u8) -> File {
        self.put(at, &[v])
    }
    pub fn u16(self, at: usize, v: u16) -> File {
        self.put(at, &v.to_le_bytes())
    }
    pub fn u32(self, at: usize, v: u32) -> File {
        self.put(at, &v.to_le_bytes())
    }
    pub fn u64(self, at: usize, v: u64) -> File {
        self.put(at, &v.to_le_bytes())
    }
    /// Sets a 32-bit field of the section header of `section`.
    pub fn sh_u32(self, section: &str, field: usize, v: u32) -> File {
        let h = self.shdr(section);
        self.u32(h + field, v)
    }
    /// Sets a 64-bit field of the section header of `section`.
    pub fn sh_u64(self, section: &str, field: usize, v: u64) -> File {
        let h = self.shdr(section);
        self.u64(h + field, v)
    }
    fn read_u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().unwrap())
    }
    fn read_u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap())
    }
    /// Replaces the first occurrence of `from` in the bytes of section `section`.
    pub fn replace_in(self, section: &str, from: &[u8], to: &[u8]) -> File {
        assert_eq!(from.len(), to.len());
        let s = self.section(section);
        let start = s.offset as usize;
        let hay = &self.bytes[start..start + s.size as usize];
        let k = hay
            .windows(from.len())
            .position(|w| w == from)
            .unwrap_or_else(|| panic!("{from:?} not in {section}"));
        self.put(start + k, to)
    }
}

const SH_TYPE: usize = 4;
const SH_FLAGS: usize = 8;
const SH_ADDR: usize = 16;
const SH_OFFSET: usize = 24;
const SH_SIZE: usize = 32;
const SH_LINK: usize = 40;
const SH_INFO: usize = 44;
const SH_ADDRALIGN: usize = 48;
const SH_ENTSIZE: usize = 56;

fn r_info(sym: u32, r_type: u32) -> u64 {
    (u64::from(sym) << 32) | u64::from(r_type)
}

/// The payloads `tests/corpus/good/` holds (prerequisites of some bad ones).
pub fn good(image: &Image) -> Vec<(String, Vec<u8>)> {
    let seeds = seed_payloads(image);
    vec![("provider.xsplice".into(), File::of(&seeds[0]).bytes)]
}

/// Every malformed payload: file name and bytes.
pub fn bad(image: &Image) -> Vec<(String, Vec<u8>)> {
    let seeds = seed_payloads(image);
    let provider = &seeds[0];
    let base = || File::of(provider);
    let mut out: Vec<(&str, File)> = Vec::new();
    let x = &layout::XSPLICE;
    let code = &layout::XSPLICE_CODE;
    let section = &layout::XSPLICE_SECTION;
    let patch = &layout::XSPLICE_PATCH;
    let reloc = &layout::XSPLICE_RELOC;
    let howto = &layout::XSPLICE_RELOC_HOWTO;

    // §1 container.
    out.push((
        "not-elf.xsplice",
        File {
            bytes: b"#!/bin/sh\necho not a payload\n".to_vec(),
        },
    ));
    out.push(("elfclass32.xsplice", base().u8(4, 1)));
    out.push(("big-endian.xsplice", base().u8(5, 2)));
    out.push(("not-et-rel.xsplice", base().u16(0x10, 2)));
    out.push(("wrong-machine.xsplice", base().u16(0x12, 183)));
    out.push(("program-headers.xsplice", base().u16(0x38, 1)));
    out.push(("extended-section-numbering.xsplice", base().u16(0x3c, 0)));
    out.push(("shstrndx-out-of-range.xsplice", base().u16(0x3e, 0x400)));
    out.push(("empty.xsplice", File { bytes: vec![] }));
    {
        let mut f = base();
        f.bytes.truncate(40);
        out.push(("shorter-than-elf-header.xsplice", f));
    }
    {
        // Accepted by the reader (bytes past the last section are ignored), refused
        // for its size: the manifest lowers the hypervisor's limit below it.
        let mut f = base();
        f.bytes.resize(8192, 0);
        out.push(("payload-over-size-limit.xsplice", f));
    }
    out.push(("ei-version-not-current.xsplice", base().u8(6, 0)));
    out.push(("osabi-not-none.xsplice", base().u8(7, 3)));
    out.push(("abiversion-not-zero.xsplice", base().u8(8, 1)));
    out.push(("e-version-not-current.xsplice", base().u32(0x14, 0)));
    out.push(("ehsize-not-64.xsplice", base().u16(0x34, 52)));
    out.push(("shstrndx-undef.xsplice", base().u16(0x3e, 0)));
    out.push(("too-many-sections.xsplice", base().u16(0x3c, 1024)));
    out.push(("shentsize-too-small.xsplice", base().u16(0x3a, 32)));
    out.push(("shoff-overlaps-elf-header.xsplice", base().u64(0x28, 0x20)));
    {
        let f = base();
        let at = f.bytes.len() as u64 - 100;
        out.push(("section-headers-past-end.xsplice", f.u64(0x28, at)));
    }
    {
        let f = base();
        let h = f.shdr(".text.tiny_version");
        out.push((
            "section-outside-file.xsplice",
            f.u64(h + SH_OFFSET, 0x10_0000),
        ));
    }
    {
        let f = base();
        let h = f.shdr(".text.tiny_version");
        out.push((
            "section-overlaps-elf-header.xsplice",
            f.u64(h + SH_OFFSET, 0x20),
        ));
    }
    {
        let f = base();
        let h = f.shdr(".text.tiny_add");
        out.push((
            "alignment-not-power-of-two.xsplice",
            f.u64(h + SH_ADDRALIGN, 24),
        ));
    }
    {
        let f = base();
        let h = f.shdr(".text.tiny_add");
        out.push((
            "alignment-above-page.xsplice",
            f.u64(h + SH_ADDRALIGN, 8192),
        ));
    }
    out.push((
        "sh-link-out-of-range.xsplice",
        base().sh_u32(".rela.text.tiny_add", SH_LINK, 500),
    ));
    {
        let f = base();
        let s = f.section(".shstrtab");
        let last = s.offset as usize + s.size as usize - 1;
        out.push(("shstrtab-not-nul-terminated.xsplice", f.u8(last, b'x')));
    }
    {
        let f = base();
        let h = f.shdr(".text.tiny_add");
        out.push(("section-name-past-table.xsplice", f.u32(h, 0x7fff)));
    }
    {
        let f = base();
        let h = f.shdr(".shstrtab");
        out.push((
            "shstrtab-not-strtab.xsplice",
            f.u32(h + SH_TYPE, elf::SHT_PROGBITS),
        ));
    }
    out.push((
        "section-address-misaligned.xsplice",
        base().sh_u64(".text.tiny_add", SH_ADDR, 8),
    ));
    {
        let f = base();
        let h = f.shdr(".bss.scratch");
        out.push((
            "nobits-too-large.xsplice",
            f.u64(h + SH_SIZE, (16 << 20) + 1),
        ));
    }
    // The symbol table and its string table.
    out.push((
        "no-symtab.xsplice",
        base().sh_u32(".symtab", SH_TYPE, elf::SHT_PROGBITS),
    ));
    out.push((
        "two-symtabs.xsplice",
        base().sh_u32(".strtab", SH_TYPE, elf::SHT_SYMTAB),
    ));
    out.push((
        "symtab-size-zero.xsplice",
        base().sh_u64(".symtab", SH_SIZE, 0),
    ));
    {
        let f = base();
        let h = f.shdr(".symtab");
        out.push((
            "symtab-entsize-too-small.xsplice",
            f.u64(h + SH_ENTSIZE, 16),
        ));
    }
    {
        let f = base();
        let h = f.shdr(".symtab");
        let size = f.read_u64(h + SH_SIZE);
        out.push((
            "symtab-size-not-multiple.xsplice",
            f.u64(h + SH_SIZE, size - 1),
        ));
    }
    out.push((
        "symtab-first-global-zero.xsplice",
        base().sh_u32(".symtab", SH_INFO, 0),
    ));
    {
        let f = base();
        let h = f.shdr(".symtab");
        let note = f.section(".note.gnu.build-id").index as u32;
        out.push(("symtab-strtab-not-strtab.xsplice", f.u32(h + SH_LINK, note)));
    }
    out.push(("strtab-empty.xsplice", base().sh_u64(".strtab", SH_SIZE, 0)));
    {
        let f = base();
        let s = f.section(".strtab");
        let last = s.offset as usize + s.size as usize - 1;
        out.push(("strtab-not-nul-terminated.xsplice", f.u8(last, b'x')));
    }
    // §1.1, §1.2 sections.
    {
        let f = base();
        let h = f.shdr(".text.tiny_add");
        let flags = u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR | elf::SHF_WRITE);
        out.push(("wx-section.xsplice", f.u64(h + SH_FLAGS, flags)));
    }
    out.push((
        "rel-section.xsplice",
        base().sh_u32(".rela.text.tiny_add", SH_TYPE, elf::SHT_REL),
    ));
    out.push((
        "unknown-xsplice-section.xsplice",
        base().replace_in(".shstrtab", b".bss.scratch\0", b".xsplice.bad\0"),
    ));
    {
        let f = base();
        let h = f.shdr(".xsplice.patch");
        out.push((
            "structure-section-executable.xsplice",
            f.u64(h + SH_FLAGS, u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR)),
        ));
    }
    {
        let f = base();
        let h = f.shdr(".xsplice.strings");
        out.push((
            "strings-section-writable.xsplice",
            f.u64(h + SH_FLAGS, u64::from(elf::SHF_ALLOC | elf::SHF_WRITE)),
        ));
    }
    {
        let f = base();
        let h = f.shdr(".bss.scratch");
        out.push((
            "nobits-not-writable.xsplice",
            f.u64(h + SH_FLAGS, u64::from(elf::SHF_ALLOC)),
        ));
    }
    {
        let f = base();
        let h = f.shdr(".data.fuzz_export");
        out.push((
            "alloc-section-of-other-type.xsplice",
            f.u32(h + SH_TYPE, elf::SHT_NOTE),
        ));
    }
    // §1.3 symbols.
    {
        let f = base();
        let s = f.sym("fuzz_export");
        out.push((
            "weak-symbol.xsplice",
            f.u8(s + 4, (elf::STB_WEAK << 4) | elf::STT_OBJECT),
        ));
    }
    {
        let f = base();
        let s = f.sym("fuzz_export");
        out.push(("symbol-outside-section.xsplice", f.u64(s + 8, 6)));
    }
    {
        let f = base();
        let s = f.sym("fuzz_export");
        out.push(("abs-symbol.xsplice", f.u16(s + 6, elf::SHN_ABS)));
    }
    {
        let f = base();
        let s = f.sym("fuzz_export");
        out.push(("common-symbol.xsplice", f.u16(s + 6, elf::SHN_COMMON)));
    }
    {
        let f = base();
        let s = f.sym("fuzz_export");
        out.push((
            "tls-symbol.xsplice",
            f.u8(s + 4, (elf::STB_GLOBAL << 4) | elf::STT_TLS),
        ));
    }
    {
        let f = base();
        let s = f.sym("table");
        out.push((
            "local-in-global-part.xsplice",
            f.u8(s + 4, elf::STB_LOCAL << 4),
        ));
    }
    {
        let f = base();
        let at = f.data(".symtab") + 8;
        out.push(("symbol-zero-not-null.xsplice", f.u64(at, 1)));
    }
    {
        let f = base();
        let s = f.sym("fuzz_export");
        out.push(("symbol-name-past-strtab.xsplice", f.u32(s, 0x7fff)));
    }
    {
        let f = base();
        let s = f.sym("fuzz_export");
        out.push((
            "symbol-reserved-section-index.xsplice",
            f.u16(s + 6, elf::SHN_LORESERVE),
        ));
    }
    {
        let f = base();
        let s = f.sym("fuzz_export");
        out.push(("symbol-section-index-past-shnum.xsplice", f.u16(s + 6, 500)));
    }
    // §1.4 relocations (of content sections).
    {
        let f = base();
        let r = f.rela(".rela.text.tiny_add", 0);
        let info = f.read_u64(r + 8);
        out.push((
            "reloc-type-unsupported.xsplice",
            f.u64(
                r + 8,
                (info & !0xffff_ffff) | u64::from(elf::R_X86_64_GOTPCREL),
            ),
        ));
    }
    {
        let f = base();
        let r = f.rela(".rela.text.tiny_add", 0);
        out.push((
            "reloc-symbol-index-zero.xsplice",
            f.u64(r + 8, r_info(0, elf::R_X86_64_PLT32)),
        ));
    }
    {
        let f = base();
        let r = f.rela(".rela.text.tiny_add", 0);
        out.push((
            "reloc-missing-symbol.xsplice",
            f.u64(r + 8, r_info(99, elf::R_X86_64_PLT32)),
        ));
    }
    {
        let f = base();
        let r = f.rela(".rela.text.tiny_add", 1);
        out.push(("reloc-out-of-range.xsplice", f.u64(r, 0x11)));
    }
    {
        // Entry 0 is the PLT32 call: 4 bytes at 0xf run past the 0x12-byte section.
        let f = base();
        let r = f.rela(".rela.text.tiny_add", 0);
        out.push(("reloc-plt32-out-of-range.xsplice", f.u64(r, 0xf)));
    }
    out.push((
        "rela-target-out-of-range.xsplice",
        base().sh_u32(".rela.text.tiny_add", SH_INFO, 500),
    ));
    {
        let f = base();
        let h = f.shdr(".rela.text.tiny_add");
        let strtab = f.section(".strtab").index as u32;
        out.push(("rela-link-not-symtab.xsplice", f.u32(h + SH_LINK, strtab)));
    }
    out.push((
        "rela-entsize-too-small.xsplice",
        base().sh_u64(".rela.text.tiny_add", SH_ENTSIZE, 16),
    ));
    {
        let f = base();
        let h = f.shdr(".rela.text.tiny_add");
        let size = f.read_u64(h + SH_SIZE);
        out.push((
            "rela-size-not-multiple.xsplice",
            f.u64(h + SH_SIZE, size - 1),
        ));
    }
    {
        let f = base();
        let h = f.shdr(".rela.text.tiny_add");
        let symtab = f.section(".symtab").index as u32;
        out.push((
            "rela-for-unloaded-section.xsplice",
            f.u32(h + SH_INFO, symtab),
        ));
    }
    {
        let f = base();
        let h = f.shdr(".rela.text.tiny_add");
        let other = f.section(".xsplice").index as u32;
        out.push((
            "two-rela-for-one-section.xsplice",
            f.u32(h + SH_INFO, other),
        ));
    }
    // §1.5 pointer fields.
    {
        let f = base();
        let at = f.field(x, 0, "old");
        out.push(("pointer-without-relocation.xsplice", f.u64(at, 0x40)));
    }
    {
        let f = base();
        let r = f.pointer_rela(x, 0, "new");
        out.push(("pointer-outside-target.xsplice", f.u64(r + 16, 0x1000)));
    }
    {
        let f = base();
        let r = f.pointer_rela(x, 0, "new");
        let version = f.field(x, 0, "version") - f.data(".xsplice");
        out.push((
            "relocation-on-value-field.xsplice",
            f.u64(r, version as u64),
        ));
    }
    {
        let f = base();
        let r = f.pointer_rela(x, 0, "new");
        let id = f.pointer_rela(x, 0, "id");
        let target = f.read_u64(r);
        out.push(("two-relocations-one-field.xsplice", f.u64(id, target)));
    }
    {
        let f = base();
        let r = f.pointer_rela(code, 0, "patches");
        let info = f.read_u64(r + 8);
        let sections_sym = f.read_u64(f.pointer_rela(code, 0, "sections") + 8);
        assert_ne!(info, sections_sym);
        out.push((
            "pointer-into-wrong-section.xsplice",
            f.u64(r + 8, sections_sym),
        ));
    }
    {
        let f = base();
        let r = f.pointer_rela(code, 0, "sections");
        out.push(("pointer-not-at-element.xsplice", f.u64(r + 16, 8)));
    }
    // §2 structures.
    out.push((
        "version-2.xsplice",
        base().u32(base().field(x, 0, "version"), 2),
    ));
    out.push((
        "non-zero-padding.xsplice",
        base().u8(base().field(x, 0, "pad"), 1),
    ));
    out.push((
        "id-size-zero.xsplice",
        base().u32(base().field(x, 0, "id_size"), 0),
    ));
    {
        let f = base();
        let (a, b, c) = (
            f.field(code, 0, "n_relocs"),
            f.field(code, 0, "n_sections"),
            f.field(code, 0, "n_patches"),
        );
        out.push((
            "count-past-section-end.xsplice",
            f.u32(a, 9).u32(b, 9).u32(c, 9),
        ));
    }
    {
        let f = base();
        let at = f.field(code, 0, "n_patches");
        out.push(("counts-not-one-to-one.xsplice", f.u32(at, 1)));
    }
    {
        let f = base();
        let at = f.field(section, 0, "flags");
        let v = f.read_u32(at) | 0x10_0000;
        out.push(("unknown-section-flag.xsplice", f.u32(at, v)));
    }
    {
        let f = base();
        let at = f.field(section, 0, "flags");
        out.push((
            "writable-data-flag.xsplice",
            f.u32(at, layout::XSPLICE_SECTION_DATA),
        ));
    }
    {
        let f = base();
        let at = f.field(patch, 0, "type");
        out.push(("unknown-patch-type.xsplice", f.u32(at, 7)));
    }
    {
        let f = base();
        let at = f.field(section, 0, "size");
        out.push(("trampoline-site-too-small.xsplice", f.u32(at, 4)));
    }
    {
        let f = base();
        let at = f.field(howto, 0, "flag");
        out.push(("trampoline-not-pc-relative.xsplice", f.u32(at, 0)));
    }
    {
        let f = base();
        let at = f.field(reloc, 0, "isns_added");
        out.push(("trampoline-isns-added.xsplice", f.u64(at, 0)));
    }
    // §4 build-ids.
    {
        let f = base();
        let at = f.data(".note.gnu.build-id") + 12;
        out.push(("build-id-note-not-gnu.xsplice", f.put(at, b"GNX\0")));
    }
    {
        let f = base();
        let h = f.shdr(".note.gnu.build-id");
        out.push((
            "build-id-note-not-a-note.xsplice",
            f.u32(h + SH_TYPE, elf::SHT_PROGBITS),
        ));
    }
    {
        let mut p = provider.clone();
        p.target_build_id = b"another-hypervisor!!".to_vec();
        out.push(("target-build-id-mismatch.xsplice", File::of(&p)));
    }
    {
        // The provider with one code byte changed: another file, the same own build-id.
        let f = base();
        let at = f.data(".text.tiny_version") + 1;
        out.push(("duplicate-own-build-id.xsplice", f.u8(at, 0x08)));
    }

    // Loader rules (runtime-sim, the running hypervisor).
    let only_code = |name: &str, target: &str| {
        let mut p = provider.clone();
        p.name = name.into();
        p.sections.truncate(1);
        p.sections[0].name = format!(".text.{target}");
        p.new = vec![trampoline(image, target, 0, 6)];
        p.symbols = vec![];
        p
    };
    // The first code section calls an undefined `no_such_function`.
    let call_missing_symbol = |p: &mut Payload| {
        p.symbols = vec![Symbol {
            name: "no_such_function".into(),
            kind: SymbolKind::NoType,
            global: true,
            definition: None,
        }];
        p.sections[0].relocs.push(Reloc {
            offset: 1,
            r_type: elf::R_X86_64_PC32,
            target: RelocTarget::Symbol(0),
            addend: -4,
        });
    };
    {
        let mut p = only_code("missing-symbol", "tiny_version");
        call_missing_symbol(&mut p);
        out.push(("missing-symbol.xsplice", File::of(&p)));
    }
    {
        let mut p = only_code("unknown-target", "tiny_version");
        p.new[0].symbol.name = "no_such_function".into();
        out.push(("unknown-patch-target.xsplice", File::of(&p)));
    }
    {
        let mut p = only_code("pc32-overflow", "tiny_version");
        p.symbols = vec![Symbol {
            name: "table".into(),
            kind: SymbolKind::NoType,
            global: true,
            definition: None,
        }];
        p.sections[0].relocs.push(Reloc {
            offset: 1,
            r_type: elf::R_X86_64_PC32,
            target: RelocTarget::Symbol(0),
            addend: -4,
        });
        out.push(("pc32-overflow-at-load.xsplice", File::of(&p)));
    }
    {
        let mut p = only_code("abs32-overflow", "tiny_version");
        p.sections[0].relocs.push(Reloc {
            offset: 1,
            r_type: elf::R_X86_64_32,
            target: RelocTarget::Section(0),
            addend: 0xffff_ffff,
        });
        out.push(("abs32-overflow-at-load.xsplice", File::of(&p)));
    }
    // A payload defining a new global data object `name`.
    let exporting = |id: &str, target: &str, name: &str| {
        let mut p = only_code(id, target);
        p.sections.push(ContentSection::with_data(
            &format!(".data.{name}"),
            ContentKind::Data,
            8,
            vec![0; 8],
        ));
        p.symbols = vec![Symbol {
            name: name.into(),
            kind: SymbolKind::Object,
            global: true,
            definition: Some(SymbolDef {
                section: 1,
                offset: 0,
                size: 8,
            }),
        }];
        File::of(&p)
    };
    out.push((
        "new-global-clashes-with-hypervisor.xsplice",
        exporting("clash", "tiny_version", "tiny_bump"),
    ));
    out.push((
        "new-global-clashes-with-payload.xsplice",
        exporting("clash-payload", "tiny_sum", "fuzz_export"),
    ));
    {
        let mut p = only_code("address-mismatch", "tiny_version");
        p.new[0].section.address += 0x10;
        p.new[0].reloc.as_mut().unwrap().addr = 0;
        out.push(("section-address-mismatch.xsplice", File::of(&p)));
    }
    {
        let mut p = only_code("too-big", "tiny_version");
        for i in 0..5 {
            p.sections.push(ContentSection {
                size: 15 << 20,
                ..ContentSection::with_data(&format!(".bss.big{i}"), ContentKind::Bss, 8, vec![])
            });
        }
        out.push(("sections-over-64-mib.xsplice", File::of(&p)));
    }
    {
        // Over 64 MiB and an unresolvable symbol too: the build-id refusal comes first.
        let mut p = only_code("id-first", "tiny_version");
        p.target_build_id = b"another-hypervisor!!".to_vec();
        call_missing_symbol(&mut p);
        for i in 0..5 {
            p.sections.push(ContentSection {
                size: 15 << 20,
                ..ContentSection::with_data(&format!(".bss.big{i}"), ContentKind::Bss, 8, vec![])
            });
        }
        out.push(("build-id-checked-before-loading.xsplice", File::of(&p)));
    }
    // CHECK rules.
    {
        let mut p = only_code("data-patch", "tiny_version");
        p.sections.push(ContentSection::with_data(
            ".rodata.counter",
            ContentKind::ReadOnly,
            4,
            vec![9, 0, 0, 0],
        ));
        p.new = vec![inline(
            image,
            "counter",
            layout::XSPLICE_PATCH_INLINE_DATA,
            layout::XSPLICE_SECTION_RODATA,
            0,
            4,
            ContentRef {
                section: 1,
                offset: 0,
            },
        )];
        out.push(("writable-data-patch.xsplice", File::of(&p)));
    }
    {
        let mut p = only_code("endbr", "tiny_endbr");
        p.new = vec![trampoline(image, "tiny_endbr", 0, 6)];
        out.push(("trampoline-after-endbr-too-small.xsplice", File::of(&p)));
    }
    out.push((
        "jump-out-of-range.xsplice",
        File::of(&only_code("far", "tiny_version")),
    ));
    {
        let mut p = seeds[1].clone();
        let old = p.old.as_ref().unwrap()[0].patch.content.section;
        p.sections[old].data[2] ^= 0x5a;
        out.push(("old-code-mismatch.xsplice", File::of(&p)));
    }
    {
        let mut p = only_code("size-mismatch", "tiny_version");
        p.new[0].section.size += 1;
        out.push(("symbol-size-mismatch.xsplice", File::of(&p)));
    }
    {
        let mut p = seeds[1].clone();
        p.name = "inline-pc32".into();
        p.symbols = vec![Symbol {
            name: "tiny_bump".into(),
            kind: SymbolKind::NoType,
            global: true,
            definition: None,
        }];
        p.sections[0].relocs.push(Reloc {
            offset: 1,
            r_type: elf::R_X86_64_PC32,
            target: RelocTarget::Symbol(0),
            addend: -4,
        });
        out.push(("inline-text-pc-relative.xsplice", File::of(&p)));
    }
    {
        let mut p = only_code("depends", "tiny_version");
        p.depends = vec![payload_build_id(&seeds[1])];
        out.push(("depends-not-loaded.xsplice", File::of(&p)));
    }
    out.into_iter()
        .map(|(n, f)| (n.to_string(), f.bytes))
        .collect()
}
