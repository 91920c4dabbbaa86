//! Each malformation gets its own named error, with the structure and file offset.

use xsplice_payload::fixtures;
use xsplice_payload::read::{ReadErrorKind as K, ReadPayload, read};
use xsplice_payload::write::to_bytes;

struct Fixture {
    bytes: Vec<u8>,
    parsed: ReadPayload,
}

impl Fixture {
    fn new() -> Self {
        let bytes = to_bytes(&fixtures::xsa125(), xsplice_payload::Flavour::Xsplice).unwrap();
        let parsed = read(&bytes).unwrap();
        Fixture { bytes, parsed }
    }
    fn full() -> Self {
        let bytes = to_bytes(&fixtures::full(), xsplice_payload::Flavour::Xsplice).unwrap();
        let parsed = read(&bytes).unwrap();
        Fixture { bytes, parsed }
    }
    fn section(&self, name: &str) -> &xsplice_payload::read::ElfSection {
        self.parsed
            .elf_sections
            .iter()
            .find(|s| s.name == name)
            .unwrap()
    }
    /// File offset of the section header of `name`.
    fn shdr(&self, name: &str) -> usize {
        let shoff = u64::from_le_bytes(self.bytes[0x28..0x30].try_into().unwrap()) as usize;
        shoff + 64 * self.section(name).index
    }
    fn put(&mut self, at: usize, v: &[u8]) {
        self.bytes[at..at + v.len()].copy_from_slice(v);
    }
    fn expect(&self, kind: K, needle: &str) -> String {
        let e = read(&self.bytes).expect_err("malformed input must be refused");
        let msg = e.to_string();
        assert_eq!(e.kind, kind, "{msg}");
        assert!(msg.contains(needle), "`{msg}` should mention `{needle}`");
        assert!(msg.contains("at file offset 0x"), "{msg}");
        msg
    }
}

#[test]
fn truncated_file() {
    let f = Fixture::new();
    for cut in [0usize, 3, 17, 63] {
        let e = read(&f.bytes[..cut]).unwrap_err();
        assert!(matches!(e.kind, K::Truncated | K::BadMagic), "{cut}: {e}");
    }
    let e = read(&f.bytes[..100]).unwrap_err();
    assert_eq!(e.kind, K::Truncated, "{e}");
    assert!(e.to_string().contains("Elf64_Ehdr.e_shoff"), "{e}");
    let e = read(&f.bytes[..f.bytes.len() - 1]).unwrap_err();
    assert_eq!(e.kind, K::Truncated, "{e}");
}

#[test]
fn bad_magic() {
    let mut f = Fixture::new();
    f.put(0, b"\x7fELG");
    let msg = f.expect(K::BadMagic, "e_ident[EI_MAG]");
    assert!(msg.contains("7f 45 4c 47"), "{msg}");
}

#[test]
fn section_out_of_file() {
    let mut f = Fixture::new();
    let at = f.shdr(".text.do_xen_version") + 24;
    f.put(at, &0x10_0000u64.to_le_bytes());
    f.expect(K::SectionOutOfFile, ".text.do_xen_version");
    let mut f = Fixture::new();
    let at = f.shdr(".xsplice.code") + 32;
    f.put(at, &u64::MAX.to_le_bytes());
    f.expect(K::SectionOutOfFile, "sh_offset");
}

#[test]
fn pointer_relocation_to_a_missing_symbol() {
    // Symbol index past the table.
    let mut f = Fixture::new();
    let rela = f.section(".rela.xsplice").offset as usize;
    f.put(rela + 8 + 4, &0xffffu32.to_le_bytes());
    f.expect(K::MissingSymbol, "r_info");

    // A defined-nowhere (undefined) symbol used as a pointer target.
    let mut f = Fixture::full();
    let undef = f
        .parsed
        .elf_symbols
        .iter()
        .find(|s| s.name == "printk")
        .unwrap()
        .index as u32;
    let rela = f.section(".rela.xsplice.patch").offset as usize;
    f.put(rela + 8 + 4, &undef.to_le_bytes());
    f.expect(K::MissingSymbol, "`printk`");
}

#[test]
fn string_without_nul() {
    let mut f = Fixture::new();
    let s = f.section(".xsplice.strings");
    let last = (s.offset + s.size - 1) as usize;
    assert_eq!(f.bytes[last], 0);
    f.bytes[last] = b'!';
    f.expect(K::StringNotTerminated, "xsplice_symbol[0].label");
}

#[test]
fn counts_past_the_section_end() {
    let mut f = Fixture::new();
    let code = f.section(".xsplice.code").offset as usize;
    for field in [8, 24, 40] {
        f.put(code + field, &2u32.to_le_bytes());
    }
    f.expect(
        K::CountPastSectionEnd,
        "run past the end of .xsplice.section",
    );
}

#[test]
fn non_zero_padding() {
    let mut f = Fixture::new();
    let patch = f.section(".xsplice.patch").offset as usize;
    f.bytes[patch + 63] = 1;
    f.expect(K::NonZeroPadding, "xsplice_patch[0].pad");
    let mut f = Fixture::new();
    let top = f.section(".xsplice").offset as usize;
    f.bytes[top + 4] = 1;
    f.expect(K::NonZeroPadding, "xsplice.pad0");
}

#[test]
fn pointer_field_with_bytes_but_no_relocation() {
    let mut f = Fixture::new();
    let top = f.section(".xsplice").offset as usize;
    f.put(top + 40, &0xffff_82d0_8000_0000u64.to_le_bytes());
    f.expect(K::UnrelocatedPointer, "xsplice.old");
}

#[test]
fn relocation_on_a_non_pointer_field() {
    let mut f = Fixture::new();
    let rela = f.section(".rela.xsplice").offset as usize;
    // Move the `name` pointer relocation onto `version` (offset 0).
    f.put(rela, &0u64.to_le_bytes());
    f.expect(K::UnrelocatedPointer, "not a pointer field of xsplice");
}

#[test]
fn wrong_version_and_values() {
    let mut f = Fixture::new();
    let top = f.section(".xsplice").offset as usize;
    f.put(top, &2u32.to_le_bytes());
    f.expect(K::BadValue, "xsplice.version");

    let mut f = Fixture::new();
    let patch = f.section(".xsplice.patch").offset as usize;
    f.put(patch, &9u32.to_le_bytes());
    f.expect(K::InvalidModel, "unknown patch type 9");
}

#[test]
fn writable_and_executable_section() {
    let mut f = Fixture::new();
    let at = f.shdr(".text.do_xen_version") + 8;
    f.put(at, &0x7u64.to_le_bytes());
    f.expect(K::BadSection, "W+X");
}

#[test]
fn alignment_above_a_page() {
    // Found by fuzzing: a 2^62 alignment made the writer try to allocate exabytes.
    let mut f = Fixture::new();
    let at = f.shdr(".text.do_xen_version") + 48;
    f.put(at, &(1u64 << 62).to_le_bytes());
    f.expect(K::BadSection, "largest alignment a loader honours (4096)");
}

#[test]
fn rel_sections_and_bad_relocation_types() {
    let mut f = Fixture::new();
    let at = f.shdr(".rela.xsplice") + 4;
    f.put(at, &9u32.to_le_bytes());
    f.expect(K::BadSection, "SHT_REL");

    let mut f = Fixture::new();
    let rela = f.section(".rela.xsplice").offset as usize;
    f.put(rela + 8, &37u32.to_le_bytes());
    f.expect(K::UnsupportedRelocation, "type 37");

    let mut f = Fixture::new();
    let rela = f.section(".rela.xsplice").offset as usize;
    f.put(rela + 8, &2u32.to_le_bytes()); // PC32 on a pointer
    f.expect(K::BadRelocation, "absolute 64-bit");
}

#[test]
fn unsupported_headers() {
    let mut f = Fixture::new();
    f.put(0x10, &2u16.to_le_bytes());
    f.expect(K::Unsupported, "ET_REL");
    let mut f = Fixture::new();
    f.put(0x12, &183u16.to_le_bytes());
    f.expect(K::Unsupported, "machine 183");
    let mut f = Fixture::new();
    f.bytes[4] = 1;
    f.expect(K::Unsupported, "ELFCLASS64");
}

#[test]
fn string_tables_and_symbols() {
    let mut f = Fixture::new();
    let shstr = f.section(".shstrtab").offset as usize;
    f.bytes[shstr] = b'x';
    f.expect(K::BadStringTable, "section names");

    let mut f = Fixture::full();
    let symtab = f.section(".symtab").offset as usize;
    let idx = f
        .parsed
        .elf_symbols
        .iter()
        .find(|s| s.name == "new_helper")
        .unwrap()
        .index;
    f.put(symtab + idx * 24 + 8, &0x1000u64.to_le_bytes());
    f.expect(K::BadSymbol, "lies outside .text.new_helper");
}

#[test]
fn missing_sections_and_notes() {
    let mut f = Fixture::new();
    // Rename `.xsplice.id` → `.xsplice.ie` in .shstrtab.
    let shstr = f.section(".shstrtab").clone();
    let names = &mut f.bytes[shstr.offset as usize..(shstr.offset + shstr.size) as usize];
    let pos = names
        .windows(12)
        .position(|w| w == b".xsplice.id\0")
        .unwrap();
    names[pos + 10] = b'e';
    f.expect(K::BadSection, "unknown .xsplice section");

    let mut f = Fixture::new();
    let note = f.section(".note.gnu.build-id").offset as usize;
    f.put(note + 8, &1u32.to_le_bytes());
    f.expect(K::BadNote, "GNU build-id note");
}

#[test]
fn every_kind_above_is_distinct() {
    use std::collections::BTreeSet;
    let kinds = [
        K::Truncated,
        K::BadMagic,
        K::SectionOutOfFile,
        K::MissingSymbol,
        K::StringNotTerminated,
        K::CountPastSectionEnd,
        K::NonZeroPadding,
        K::UnrelocatedPointer,
        K::BadValue,
        K::BadSection,
        K::BadRelocation,
        K::UnsupportedRelocation,
        K::Unsupported,
        K::BadStringTable,
        K::BadSymbol,
        K::BadNote,
        K::InvalidModel,
    ];
    let descriptions: BTreeSet<&str> = kinds.iter().map(|k| k.describe()).collect();
    assert_eq!(descriptions.len(), kinds.len());
}

/// Every truncation and every single-byte corruption of a full payload is either
/// accepted or refused with an error: never a panic.
#[test]
fn smoke_no_panics_on_corruptions() {
    let f = Fixture::full();
    for cut in 0..f.bytes.len() {
        let _ = read(&f.bytes[..cut]);
    }
    for i in 0..f.bytes.len() {
        for v in [0x00, 0xff, 0x80, f.bytes[i] ^ 1] {
            let mut b = f.bytes.clone();
            b[i] = v;
            let _ = read(&b);
        }
    }
}
