//! The loader checklist (`shared/notes/loader-checklist.md`), rule by rule, at UPLOAD:
//! each rule gets a crafted payload (a valid payload with one field broken) that the
//! simulated hypervisor must refuse with its errno and an explanation naming the rule,
//! leaving memory, the list and its version untouched. Sections "Upload", "Functions
//! to patch" and "Actions" are exercised through the hypercall and CHECK/APPLY in
//! `hypercall.rs`, `patching.rs` and `faults.rs`; the corpus (`tests/corpus/`) holds
//! the same rules as committed files.

use runtime_sim::fuzz::{boot_tiny, seed_payloads, small_config, tiny_image};
use runtime_sim::{Errno, Hypervisor, PayloadId, Policy, SimConfig, Trust};
use xsplice_payload::read::{ElfSection, read};
use xsplice_payload::write::to_bytes;
use xsplice_payload::*;

/// A valid payload file (`provider` of the seed payloads) being broken.
struct File {
    bytes: Vec<u8>,
    sections: Vec<ElfSection>,
    /// (file offset of the entry, r_type, symbol name) of `.rela.text.tiny_add`.
    relas: Vec<(usize, u32, String)>,
    symbols: Vec<(usize, String)>,
}

impl File {
    fn of(p: &Payload) -> File {
        let bytes = to_bytes(p, xsplice_payload::Flavour::Xsplice).unwrap();
        let r = read(&bytes).unwrap();
        let sections = r.elf_sections.clone();
        let rela = sections
            .iter()
            .find(|s| s.name == ".rela.text.tiny_add")
            .unwrap()
            .offset as usize;
        let relas = r
            .elf_relocations
            .iter()
            .find(|t| t.rela_section == ".rela.text.tiny_add")
            .unwrap()
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (rela + 24 * i, e.r_type, e.symbol.clone()))
            .collect();
        let symtab = sections
            .iter()
            .find(|s| s.name == ".symtab")
            .unwrap()
            .offset as usize;
        let symbols = r
            .elf_symbols
            .iter()
            .map(|s| (symtab + 24 * s.index, s.name.clone()))
            .collect();
        File {
            bytes,
            sections,
            relas,
            symbols,
        }
    }

    fn provider() -> File {
        File::of(&seed_payloads(&tiny_image())[0])
    }

    fn section(&self, name: &str) -> &ElfSection {
        self.sections
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no section {name}"))
    }

    fn index(&self, name: &str) -> usize {
        self.section(name).index
    }

    /// File offset of the section header of `name`.
    fn shdr(&self, name: &str) -> usize {
        let shoff = u64::from_le_bytes(self.bytes[0x28..0x30].try_into().unwrap()) as usize;
        shoff + 64 * self.index(name)
    }

    /// File offset of the symbol table entry of `name`.
    fn sym(&self, name: &str) -> usize {
        self.symbols.iter().find(|(_, n)| n == name).unwrap().0
    }

    /// File offset of the relocation of type `r_type` in `.rela.text.tiny_add`.
    fn rela(&self, r_type: u32) -> usize {
        self.relas.iter().find(|(_, t, _)| *t == r_type).unwrap().0
    }

    fn put(&mut self, at: usize, v: &[u8]) {
        self.bytes[at..at + v.len()].copy_from_slice(v);
    }
    fn put16(&mut self, at: usize, v: u16) {
        self.put(at, &v.to_le_bytes());
    }
    fn put32(&mut self, at: usize, v: u32) {
        self.put(at, &v.to_le_bytes());
    }
    fn put64(&mut self, at: usize, v: u64) {
        self.put(at, &v.to_le_bytes());
    }
}

/// A rule, the file breaking it, and the refusal it must get.
struct Case {
    rule: &'static str,
    bytes: Vec<u8>,
    errno: Errno,
    message: &'static str,
}

fn case(
    rule: &'static str,
    errno: Errno,
    message: &'static str,
    f: impl FnOnce(&mut File),
) -> Case {
    let mut file = File::provider();
    f(&mut file);
    Case {
        rule,
        bytes: file.bytes,
        errno,
        message,
    }
}

/// Uploads every case into a fresh hypervisor; collects what went wrong.
fn run(cases: Vec<Case>, boot: impl Fn() -> Hypervisor) {
    let mut failures = Vec::new();
    for c in &cases {
        let mut hv = boot();
        let before = hv.memory().clone();
        let version = hv.version();
        let id = PayloadId::new("bad").unwrap();
        match hv.upload(id, &c.bytes) {
            Ok(()) => failures.push(format!("{}: accepted", c.rule)),
            Err(f) => {
                if f.errno != c.errno || !f.why.contains(c.message) {
                    failures.push(format!(
                        "{}: got {} `{}`, expected {} `{}`",
                        c.rule,
                        f.errno.name(),
                        f.why,
                        c.errno.name(),
                        c.message
                    ));
                }
                if let Some(d) = hv.memory().first_difference(&before) {
                    failures.push(format!("{}: memory changed: {d}", c.rule));
                }
                if hv.version() != version || hv.payload(&id).is_some() {
                    failures.push(format!("{}: the list changed", c.rule));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The untouched file loads: every case differs from it only by the rule it breaks.
#[test]
fn the_base_payload_loads() {
    let mut hv = boot_tiny();
    hv.upload(PayloadId::new("ok").unwrap(), &File::provider().bytes)
        .unwrap();
}

#[test]
fn elf_header() {
    let cases = vec![
        case("size >= Ehdr", Errno::EINVAL, "e_ident", |f| {
            f.bytes.truncate(40)
        }),
        case("ELF magic", Errno::ENOEXEC, "not 7f 45 4c 46", |f| {
            f.bytes[1] = b'X'
        }),
        case("EI_VERSION current", Errno::ENOEXEC, "EI_VERSION", |f| {
            f.bytes[6] = 2
        }),
        case("e_version current", Errno::ENOEXEC, "e_version", |f| {
            f.put32(0x14, 2)
        }),
        case("EI_ABIVERSION 0", Errno::ENOEXEC, "EI_ABIVERSION", |f| {
            f.bytes[8] = 1
        }),
        case("OSABI none", Errno::ENOEXEC, "ELFOSABI_NONE", |f| {
            f.bytes[7] = 3
        }),
        case("ET_REL", Errno::ENOEXEC, "ET_REL", |f| f.put16(0x10, 2)),
        case("e_phnum == 0", Errno::EINVAL, "no program headers", |f| {
            f.put16(0x38, 1)
        }),
        case("EM_X86_64", Errno::ENOEXEC, "machine 3", |f| {
            f.put16(0x12, 3)
        }),
        case("ELFCLASS64", Errno::ENOEXEC, "ELFCLASS64", |f| {
            f.bytes[4] = 1
        }),
        case("little-endian", Errno::ENOEXEC, "little-endian", |f| {
            f.bytes[5] = 2
        }),
        case(
            "e_shstrndx != SHN_UNDEF",
            Errno::EINVAL,
            "e_shstrndx",
            |f| f.put16(0x3e, 0),
        ),
        case("e_shstrndx < e_shnum", Errno::EINVAL, "e_shstrndx", |f| {
            let n = u16::from_le_bytes(f.bytes[0x3c..0x3e].try_into().unwrap());
            f.put16(0x3e, n)
        }),
        case("e_shnum < 1024", Errno::EINVAL, "the limit is 1023", |f| {
            f.put16(0x3c, 1024)
        }),
        case(
            "e_shnum != 0 (no extended numbering)",
            Errno::EINVAL,
            "extended numbering",
            |f| f.put16(0x3c, 0),
        ),
        case(
            "e_shoff past the header",
            Errno::EINVAL,
            "overlaps the ELF header",
            |f| f.put64(0x28, 0x10),
        ),
        case(
            "e_shoff inside the file",
            Errno::EINVAL,
            "runs past the file end",
            |f| {
                let len = f.bytes.len() as u64;
                f.put64(0x28, len + 64)
            },
        ),
        case(
            "e_shoff + table does not wrap",
            Errno::EINVAL,
            "runs past the file end",
            |f| f.put64(0x28, u64::MAX - 100),
        ),
        case(
            "e_shentsize >= sizeof(Shdr)",
            Errno::EINVAL,
            "sizeof(Elf64_Shdr)",
            |f| f.put16(0x3a, 40),
        ),
        case(
            "whole section header table in the file",
            Errno::EINVAL,
            "runs past the file end",
            |f| {
                let len = f.bytes.len();
                f.bytes.truncate(len - 10)
            },
        ),
    ];
    run(cases, boot_tiny);
}

#[test]
fn sections() {
    let cases = vec![
        case(
            "sh_offset >= sizeof(Ehdr)",
            Errno::EINVAL,
            "overlaps the ELF header",
            |f| {
                let sh = f.shdr(".text.tiny_add");
                f.put64(sh + 24, 8)
            },
        ),
        case(
            "section bytes inside the file",
            Errno::EINVAL,
            "are outside the",
            |f| {
                let sh = f.shdr(".text.tiny_add");
                f.put64(sh + 32, 0x10_0000)
            },
        ),
        case(
            "sh_offset + sh_size does not wrap",
            Errno::EINVAL,
            "are outside the",
            |f| {
                let sh = f.shdr(".text.tiny_add");
                f.put64(sh + 24, u64::MAX - 4)
            },
        ),
        case(
            "sh_addralign a power of two",
            Errno::EINVAL,
            "not a power of two",
            |f| {
                let sh = f.shdr(".text.tiny_add");
                f.put64(sh + 48, 12)
            },
        ),
        case(
            "sh_addr aligned",
            Errno::EINVAL,
            "not aligned to sh_addralign",
            |f| {
                let sh = f.shdr(".text.tiny_add");
                f.put64(sh + 16, 4)
            },
        ),
        case(
            "alloc NOBITS bounded",
            Errno::EINVAL,
            "zero-filled bytes, the limit",
            |f| {
                let sh = f.shdr(".bss.scratch");
                f.put64(sh + 32, 1 << 30)
            },
        ),
        case("a SYMTAB exists", Errno::EINVAL, "no SHT_SYMTAB", |f| {
            let sh = f.shdr(".symtab");
            f.put32(sh + 4, 1)
        }),
        case(
            "exactly one SYMTAB",
            Errno::EINVAL,
            "a second SHT_SYMTAB",
            |f| {
                // A copy of .symtab's header over .strtab's... would lose the names; turn
                // another section into a second symbol table instead.
                let sh = f.shdr(".text.tiny_version");
                f.put32(sh + 4, 2)
            },
        ),
        case(
            "SYMTAB sh_link < e_shnum",
            Errno::EINVAL,
            "is not a section index",
            |f| {
                let sh = f.shdr(".symtab");
                f.put32(sh + 40, 999)
            },
        ),
        case(
            "SYMTAB size non-zero",
            Errno::EINVAL,
            "not a non-zero multiple",
            |f| {
                let sh = f.shdr(".symtab");
                f.put64(sh + 32, 0)
            },
        ),
        case(
            "SYMTAB entsize >= sizeof(Sym)",
            Errno::EINVAL,
            "sizeof(Elf64_Sym)",
            |f| {
                let sh = f.shdr(".symtab");
                f.put64(sh + 56, 16)
            },
        ),
        case(
            "SYMTAB size a multiple of entsize",
            Errno::EINVAL,
            "not a non-zero multiple",
            |f| {
                let sh = f.shdr(".symtab");
                let size = f.section(".symtab").size;
                f.put64(sh + 32, size - 1)
            },
        ),
        case(
            "symbol STRTAB is SHT_STRTAB",
            Errno::EINVAL,
            "must be SHT_STRTAB",
            |f| {
                let text = f.index(".text.tiny_version") as u32;
                let sh = f.shdr(".symtab");
                f.put32(sh + 40, text)
            },
        ),
        case(
            "symbol STRTAB non-empty",
            Errno::EINVAL,
            "must be non-empty",
            |f| {
                let sh = f.shdr(".strtab");
                f.put64(sh + 32, 0)
            },
        ),
        case(
            "symbol STRTAB first byte NUL",
            Errno::EINVAL,
            "start and end with NUL",
            |f| {
                let at = f.section(".strtab").offset as usize;
                f.bytes[at] = b'x'
            },
        ),
        case(
            "symbol STRTAB last byte NUL",
            Errno::EINVAL,
            "start and end with NUL",
            |f| {
                let s = f.section(".strtab");
                let at = (s.offset + s.size - 1) as usize;
                f.bytes[at] = b'x'
            },
        ),
        case(
            ".shstrtab is SHT_STRTAB",
            Errno::EINVAL,
            "must be SHT_STRTAB",
            |f| {
                let sh = f.shdr(".shstrtab");
                f.put32(sh + 4, 1)
            },
        ),
        case(
            ".shstrtab non-empty",
            Errno::EINVAL,
            "must be non-empty",
            |f| {
                let sh = f.shdr(".shstrtab");
                f.put64(sh + 32, 0)
            },
        ),
        case(
            ".shstrtab first byte NUL",
            Errno::EINVAL,
            "start and end with NUL",
            |f| {
                let at = f.section(".shstrtab").offset as usize;
                f.bytes[at] = b'x'
            },
        ),
        case(
            ".shstrtab last byte NUL",
            Errno::EINVAL,
            "start and end with NUL",
            |f| {
                let s = f.section(".shstrtab");
                let at = (s.offset + s.size - 1) as usize;
                f.bytes[at] = b'x'
            },
        ),
        case(
            "sh_name inside .shstrtab",
            Errno::EINVAL,
            "is past the end of the section name table (section",
            |f| {
                let sh = f.shdr(".text.tiny_add");
                f.put32(sh, 0x7fff_0000)
            },
        ),
        case(
            "st_name inside .strtab",
            Errno::EINVAL,
            "is past the end of .strtab",
            |f| {
                let at = f.sym("fuzz_export");
                f.put32(at, 0x7fff_0000)
            },
        ),
        case("section W+X refused", Errno::EINVAL, "(W+X)", |f| {
            let sh = f.shdr(".text.tiny_add");
            f.bytes[sh + 8] |= 1
        }),
    ];
    run(cases, boot_tiny);
}

#[test]
fn symbols() {
    let cases = vec![
        case("SHN_COMMON refused", Errno::EINVAL, "SHN_COMMON", |f| {
            let at = f.sym("fuzz_export");
            f.put16(at + 6, 0xfff2)
        }),
        case(
            "SHN_ABS refused (stricter than Xen)",
            Errno::EINVAL,
            "SHN_ABS",
            |f| {
                let at = f.sym("fuzz_export");
                f.put16(at + 6, 0xfff1)
            },
        ),
        case(
            "st_shndx >= SHN_LORESERVE refused",
            Errno::EINVAL,
            "reserved section index 0xff00",
            |f| {
                let at = f.sym("fuzz_export");
                f.put16(at + 6, 0xff00)
            },
        ),
        case(
            "SHN_XINDEX refused",
            Errno::EINVAL,
            "reserved section index 0xffff",
            |f| {
                let at = f.sym("fuzz_export");
                f.put16(at + 6, 0xffff)
            },
        ),
        case(
            "st_shndx < e_shnum",
            Errno::EINVAL,
            "section index 900 >= e_shnum",
            |f| {
                let at = f.sym("fuzz_export");
                f.put16(at + 6, 900)
            },
        ),
        case(
            "⚠ st_value inside its section",
            Errno::EINVAL,
            "lies outside .data.fuzz_export",
            |f| {
                let at = f.sym("fuzz_export");
                f.put64(at + 8, 0x100)
            },
        ),
        case(
            "⚠ st_value + st_size inside its section",
            Errno::EINVAL,
            "lies outside .data.fuzz_export",
            |f| {
                let at = f.sym("fuzz_export");
                f.put64(at + 16, 9)
            },
        ),
        case(
            "⚠ st_value + st_size does not wrap",
            Errno::EINVAL,
            "lies outside .data.fuzz_export",
            |f| {
                let at = f.sym("fuzz_export");
                f.put64(at + 8, 4);
                f.put64(at + 16, u64::MAX - 1)
            },
        ),
    ];
    run(cases, boot_tiny);

    // SHN_UNDEF: hypervisor, then loaded payloads, else ENOENT; new globals must not
    // clash with either.
    let image = tiny_image();
    let seeds = seed_payloads(&image);
    let mut p = seeds[0].clone();
    p.symbols[4].name = "tiny-hv.c#no_such_helper".into();
    let mut clash = seeds[0].clone();
    clash.name = "clash".into();
    clash.symbols[3].name = "tiny_bump".into();
    let mut twice = seeds[0].clone();
    twice.name = "twice".into();
    twice.sections[0].data[1] = 0x08; // another build-id, same export
    run(
        vec![
            Case {
                rule: "SHN_UNDEF unresolved → ENOENT",
                bytes: to_bytes(&p, Flavour::Xsplice).unwrap(),
                errno: Errno::ENOENT,
                message: "`tiny-hv.c#no_such_helper`",
            },
            Case {
                rule: "new global clashes with the hypervisor",
                bytes: to_bytes(&clash, Flavour::Xsplice).unwrap(),
                errno: Errno::EEXIST,
                message: "`tiny_bump` clashes with a hypervisor symbol",
            },
        ],
        boot_tiny,
    );
    run(
        vec![Case {
            rule: "new global clashes with a loaded payload",
            bytes: to_bytes(&twice, Flavour::Xsplice).unwrap(),
            errno: Errno::EEXIST,
            message: "`fuzz_export` clashes with payload `provider`",
        }],
        || {
            let mut hv = boot_tiny();
            hv.upload(
                PayloadId::new("provider").unwrap(),
                &to_bytes(&seeds[0], Flavour::Xsplice).unwrap(),
            )
            .unwrap();
            hv
        },
    );
    // The user payload resolves `fuzz_export` in the loaded provider.
    let mut hv = boot_tiny();
    hv.upload(
        PayloadId::new("p").unwrap(),
        &to_bytes(&seeds[0], Flavour::Xsplice).unwrap(),
    )
    .unwrap();
    hv.upload(
        PayloadId::new("u").unwrap(),
        &to_bytes(&seeds[2], Flavour::Xsplice).unwrap(),
    )
    .unwrap();
}

#[test]
fn relocations() {
    use object::elf::{R_X86_64_64, R_X86_64_PLT32};
    let cases = vec![
        case(
            "⚠ RELA sh_info 0 refused",
            Errno::EINVAL,
            "target 0 is not a loaded section",
            |f| {
                let sh = f.shdr(".rela.text.tiny_add");
                f.put32(sh + 44, 0)
            },
        ),
        case(
            "⚠ RELA sh_info >= e_shnum refused",
            Errno::EINVAL,
            "target 700 is not a loaded section",
            |f| {
                let sh = f.shdr(".rela.text.tiny_add");
                f.put32(sh + 44, 700)
            },
        ),
        case(
            "⚠ RELA for a non-alloc section refused",
            Errno::EINVAL,
            "is not a loaded section",
            |f| {
                let symtab = f.index(".symtab") as u32;
                let sh = f.shdr(".rela.text.tiny_add");
                f.put32(sh + 44, symtab)
            },
        ),
        case(
            "⚠ RELA for a NOBITS section refused",
            Errno::EINVAL,
            "is not a loaded section with bytes",
            |f| {
                let bss = f.index(".bss.scratch") as u32;
                let sh = f.shdr(".rela.text.tiny_add");
                f.put32(sh + 44, bss)
            },
        ),
        case(
            "RELA sh_link is the symtab",
            Errno::EINVAL,
            "is not the symbol table",
            |f| {
                let strtab = f.index(".strtab") as u32;
                let sh = f.shdr(".rela.text.tiny_add");
                f.put32(sh + 40, strtab)
            },
        ),
        case(
            "RELA entsize >= sizeof(Rela)",
            Errno::EINVAL,
            "not a RELA table",
            |f| {
                let sh = f.shdr(".rela.text.tiny_add");
                f.put64(sh + 56, 16)
            },
        ),
        case(
            "RELA entsize divides size",
            Errno::EINVAL,
            "not a RELA table",
            |f| {
                let sh = f.shdr(".rela.text.tiny_add");
                let size = f.section(".rela.text.tiny_add").size;
                f.put64(sh + 32, size - 8)
            },
        ),
        case(
            "SHT_REL refused",
            Errno::EINVAL,
            "SHT_REL is not accepted",
            |f| {
                let sh = f.shdr(".rela.text.tiny_add");
                f.put32(sh + 4, 9)
            },
        ),
        case(
            "symbol index STN_UNDEF → EOPNOTSUPP",
            Errno::EOPNOTSUPP,
            "STN_UNDEF",
            |f| {
                let at = f.rela(R_X86_64_PLT32);
                f.put32(at + 12, 0)
            },
        ),
        case(
            "symbol index >= nsyms → EINVAL",
            Errno::EINVAL,
            "symbol index 5000 >=",
            |f| {
                let at = f.rela(R_X86_64_PLT32);
                f.put32(at + 12, 5000)
            },
        ),
        case(
            "R_X86_64_64: offset + 8 inside",
            Errno::EINVAL,
            "8 bytes at 0xb run past .text.tiny_add",
            |f| {
                let at = f.rela(R_X86_64_64);
                f.put64(at, 11)
            },
        ),
        case(
            "R_X86_64_PLT32: offset + 4 inside",
            Errno::EINVAL,
            "4 bytes at 0xf run past .text.tiny_add",
            |f| {
                let at = f.rela(R_X86_64_PLT32);
                f.put64(at, 15)
            },
        ),
        case(
            "R_X86_64_PC32: offset + 4 inside (no wrap)",
            Errno::EINVAL,
            "run past .text.tiny_add",
            |f| {
                let at = f.rela(R_X86_64_PLT32);
                f.put32(at + 8, object::elf::R_X86_64_PC32);
                f.put64(at, u64::MAX - 1)
            },
        ),
        case(
            "other types refused (GOTPCREL)",
            Errno::EOPNOTSUPP,
            "relocation type 9 is not supported",
            |f| {
                let at = f.rela(R_X86_64_PLT32);
                f.put32(at + 8, object::elf::R_X86_64_GOTPCREL)
            },
        ),
    ];
    run(cases, boot_tiny);

    // PC32/PLT32 values must fit in signed 32 bits: payload memory 64 GiB away.
    let far = || {
        Hypervisor::boot(
            tiny_image(),
            SimConfig {
                arena_base: Some(0x10_0000_0000),
                ..small_config()
            },
            Policy::default(),
            Trust::none(),
        )
        .unwrap()
    };
    run(
        vec![Case {
            rule: "PLT32 overflow → EOVERFLOW",
            bytes: File::provider().bytes,
            errno: Errno::EOVERFLOW,
            message: "R_X86_64_PLT32",
        }],
        far,
    );

    // R_X86_64_NONE entries are skipped: the payload loads, the field keeps its bytes.
    let mut f = File::provider();
    let at = f.rela(R_X86_64_64);
    f.put32(at + 8, object::elf::R_X86_64_NONE);
    let mut hv = boot_tiny();
    let id = PayloadId::new("none").unwrap();
    hv.upload(id, &f.bytes).unwrap();
    let r = hv.payload(&id).unwrap();
    let text = r.loaded.section_addrs[1];
    assert_eq!(hv.memory().read(text + 7, 8).unwrap(), vec![0; 8]);
}

/// Functions to patch: an inline patch must fit in its target (the trampoline rules,
/// ±2 GiB and old bytes are CHECK rules: `patching.rs` and the corpus).
#[test]
fn inline_patches_fit_in_their_target() {
    use runtime_sim::fuzz::inline;
    use xsplice_payload::layout::*;
    let image = tiny_image();
    let table = image.lookup("table").unwrap().size;
    // A valid inline patch of the last 4 bytes of `table`, then moved 2 bytes further
    // in the file (the writer refuses to write such a model).
    let mut p = seed_payloads(&image)[1].clone();
    p.old = None;
    let entry = |offset| {
        inline(
            &image,
            "table",
            XSPLICE_PATCH_INLINE_DATA,
            XSPLICE_SECTION_RODATA,
            offset,
            4,
            ContentRef {
                section: 1,
                offset: 0,
            },
        )
    };
    p.new = vec![entry(table - 2)];
    assert!(
        to_bytes(&p, Flavour::Xsplice).is_err(),
        "the writer refuses it"
    );
    p.new = vec![entry(table - 4)];
    let mut b = to_bytes(&p, Flavour::Xsplice).unwrap();
    let patch = read(&b)
        .unwrap()
        .elf_sections
        .iter()
        .find(|s| s.name == ".xsplice.patch")
        .unwrap()
        .offset as usize;
    // xsplice_patch.addr: the offset within the target.
    b[patch + 8..patch + 16].copy_from_slice(&(table - 2).to_le_bytes());
    run(
        vec![Case {
            rule: "inline patch fits in the target",
            bytes: b,
            errno: Errno::EINVAL,
            message: "4 bytes at offset 0xe do not fit in the 16-byte target",
        }],
        boot_tiny,
    );
}
