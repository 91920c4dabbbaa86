//! The differential corpus: livepatch payloads for the running hypervisor (its
//! build-id and `xen_extra_version` taken from its xen-syms at test time), valid
//! ones and one per rule of Xen 4.17's loader, each with the `xen-livepatch`
//! commands that exercise it. Every case cleans up after itself, so the cases run
//! one after another on one hypervisor.

use std::collections::BTreeMap;

use xsplice_image::Image;
use xsplice_payload::livepatch::layout as lp;
use xsplice_payload::write::to_bytes;
use xsplice_payload::*;

use super::tool::Cmd;

/// One case: its name, the rule it exercises, the files it uploads, its commands.
pub struct Case {
    pub name: String,
    pub rule: String,
    pub commands: Vec<Cmd>,
}

/// All cases and the files they upload (by file name).
pub struct Corpus {
    pub cases: Vec<Case>,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// The message the replacement `xen_extra_version` returns.
pub const MESSAGE: &str = "-xsplice-diff";

/// A valid payload replacing `xen_extra_version` with `lea msg(%rip),%rax; ret`.
pub fn base(image: &Image, name: &str) -> Payload {
    let target = image
        .lookup("xen_extra_version")
        .expect("xen-syms has xen_extra_version");
    fixtures::returns_string(
        name,
        image.build_id(),
        "xen_extra_version",
        target.addr,
        target.size as u32,
        &format!("{MESSAGE}-{name}"),
    )
}

/// An expectation on the first `len` bytes of the target, with `bytes`.
fn expect(p: &mut Payload, bytes: Vec<u8>, claimed_len: u32) {
    let e = &p.new[0];
    let mut x = e.clone();
    x.section.flags = layout::XSPLICE_SECTION_TEXT
        | layout::XSPLICE_SECTION_TEXT_INLINE
        | layout::XSPLICE_SECTION_MATCH_EXACT;
    x.reloc = None;
    x.patch = Patch {
        kind: layout::XSPLICE_PATCH_INLINE_TEXT,
        size: claimed_len,
        addr: 0,
        content: ContentRef {
            section: p.sections.len(),
            offset: 0,
        },
    };
    p.sections.push(ContentSection::with_data(
        ".rodata.old.xen_extra_version",
        ContentKind::ReadOnly,
        1,
        bytes,
    ));
    p.old = Some(vec![x]);
}

fn write(p: &Payload) -> Vec<u8> {
    to_bytes(p, Flavour::Livepatch).expect("a valid model")
}

// --- byte-level edits of a written payload -------------------------------------

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
fn put16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// File offset of section header `i`.
fn shdr(b: &[u8], i: usize) -> usize {
    u64_at(b, 0x28) as usize + i * usize::from(u16_at(b, 0x3a))
}

/// Index of the section called `name`.
fn sec(b: &[u8], name: &str) -> usize {
    let n = usize::from(u16_at(b, 0x3c));
    let strndx = usize::from(u16_at(b, 0x3e));
    let str_off = u64_at(b, shdr(b, strndx) + 0x18) as usize;
    (1..n)
        .find(|&i| {
            let at = str_off + u32_at(b, shdr(b, i)) as usize;
            let end = b[at..].iter().position(|&c| c == 0).unwrap() + at;
            &b[at..end] == name.as_bytes()
        })
        .unwrap_or_else(|| panic!("no section {name}"))
}

fn sec_data(b: &[u8], name: &str) -> (usize, usize) {
    let h = shdr(b, sec(b, name));
    (u64_at(b, h + 0x18) as usize, u64_at(b, h + 0x20) as usize)
}

/// The first SHT_RELA section applying to section `name`.
fn rela_of(b: &[u8], name: &str) -> usize {
    let target = sec(b, name) as u32;
    let n = usize::from(u16_at(b, 0x3c));
    (1..n)
        .find(|&i| u32_at(b, shdr(b, i) + 4) == 4 && u32_at(b, shdr(b, i) + 0x2c) == target)
        .unwrap_or_else(|| panic!("no relocations for {name}"))
}

fn symtab(b: &[u8]) -> usize {
    let n = usize::from(u16_at(b, 0x3c));
    (1..n).find(|&i| u32_at(b, shdr(b, i) + 4) == 2).unwrap()
}

/// Index of the symbol called `name`.
fn sym(b: &[u8], name: &str) -> usize {
    let st = shdr(b, symtab(b));
    let (off, size) = (u64_at(b, st + 0x18) as usize, u64_at(b, st + 0x20) as usize);
    let strs = u64_at(b, shdr(b, u32_at(b, st + 0x28) as usize) + 0x18) as usize;
    (1..size / 24)
        .find(|k| {
            let at = strs + u32_at(b, off + k * 24) as usize;
            let end = b[at..].iter().position(|&c| c == 0).unwrap() + at;
            &b[at..end] == name.as_bytes()
        })
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

fn sym_off(b: &[u8], k: usize) -> usize {
    u64_at(b, shdr(b, symtab(b)) + 0x18) as usize + k * 24
}

/// Offset of the first RELA entry applying to `name`.
fn first_rela(b: &[u8], name: &str) -> usize {
    u64_at(b, shdr(b, rela_of(b, name)) + 0x18) as usize
}

fn edit(mut b: Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    f(&mut b);
    b
}

// --- the corpus ----------------------------------------------------------------

struct Builder {
    cases: Vec<Case>,
    files: BTreeMap<String, Vec<u8>>,
}

impl Builder {
    /// A case that uploads `bytes` as `name` and, when `accepted` by the loader,
    /// unloads it again (the commands are the same on both sides whatever happens).
    fn upload(&mut self, name: &str, rule: &str, bytes: Vec<u8>) {
        self.with(name, rule, bytes, &[]);
    }

    /// Upload, then `then`, then unload.
    fn with(&mut self, name: &str, rule: &str, bytes: Vec<u8>, then: &[Cmd]) {
        let file = format!("{name}.livepatch");
        self.files.insert(file.clone(), bytes);
        let mut commands = vec![Cmd::Upload {
            name: name.into(),
            file,
        }];
        commands.extend_from_slice(then);
        commands.push(Cmd::Revert(name.into()));
        commands.push(Cmd::Unload(name.into()));
        self.cases.push(Case {
            name: name.into(),
            rule: rule.into(),
            commands,
        });
    }
}

fn apply(n: &str) -> Cmd {
    Cmd::Apply {
        name: n.into(),
        nodeps: false,
    }
}

pub fn corpus(image: &Image) -> Corpus {
    let mut c = Builder {
        cases: Vec::new(),
        files: BTreeMap::new(),
    };
    let good = |n: &str| write(&base(image, n));
    let target = image.lookup("xen_extra_version").unwrap();
    let old = image.read(target.addr, target.size).unwrap().to_vec();

    // Valid payloads.
    c.with(
        "valid",
        "a valid payload: upload, apply, revert, unload",
        good("valid"),
        &[apply("valid")],
    );
    let mut p = base(image, "expect");
    expect(
        &mut p,
        old[..target.size.min(31) as usize].to_vec(),
        target.size.min(31) as u32,
    );
    c.with(
        "expect",
        "expectation equal to the running code",
        write(&p),
        &[apply("expect")],
    );
    let mut p = base(image, "byname");
    p.new[0].section.address = 0;
    c.with(
        "byname",
        "old_addr 0: looked up by name",
        write(&p),
        &[apply("byname")],
    );
    let mut p = base(image, "hook");
    p.new.clear();
    p.sections[0].data = vec![0xc3];
    p.sections[0].size = 1;
    p.sections[0].relocs.clear();
    p.symbols[0].name = "xsplice_diff_hook".into();
    p.symbols[0].definition = Some(SymbolDef {
        section: 0,
        offset: 0,
        size: 1,
    });
    p.hooks = vec![Hook {
        kind: HookKind::Load,
        symbol: 0,
    }];
    c.upload("hookonly", "hooks and no .livepatch.funcs", write(&p));
    let mut trailer = good("signed");
    trailer.extend_from_slice(b"\0\0\0\0\0\0\0\0\0\0\0\0~Module signature appended~\n");
    c.with(
        "signed",
        "bytes after the ELF (a signature trailer) are ignored",
        trailer,
        &[apply("signed")],
    );

    // Uploads Xen refuses: the ELF header.
    let v = good("x");
    c.upload(
        "garbage",
        "not an ELF file (EINVAL)",
        b"this is not an ELF payload\n".repeat(4),
    );
    c.upload(
        "short",
        "shorter than an ELF header (EINVAL)",
        v[..40].to_vec(),
    );
    c.upload(
        "etype",
        "e_type ET_EXEC (EOPNOTSUPP)",
        edit(v.clone(), |b| put16(b, 0x10, 2)),
    );
    c.upload(
        "emachine",
        "e_machine EM_386 (EOPNOTSUPP)",
        edit(v.clone(), |b| put16(b, 0x12, 3)),
    );
    c.upload(
        "eclass",
        "ELFCLASS32 (EOPNOTSUPP)",
        edit(v.clone(), |b| b[4] = 1),
    );
    c.upload(
        "eversion",
        "e_version 0 (EOPNOTSUPP)",
        edit(v.clone(), |b| put32(b, 0x14, 0)),
    );
    c.upload(
        "ephnum",
        "program headers (EOPNOTSUPP)",
        edit(v.clone(), |b| put16(b, 0x38, 1)),
    );
    c.upload(
        "shstrndx0",
        "e_shstrndx 0 (EINVAL)",
        edit(v.clone(), |b| put16(b, 0x3e, 0)),
    );
    c.upload(
        "shstrndxbig",
        "e_shstrndx past the sections (EINVAL)",
        edit(v.clone(), |b| {
            let n = u16_at(b, 0x3c);
            put16(b, 0x3e, n)
        }),
    );
    c.upload(
        "shoff",
        "e_shoff past the file (EINVAL)",
        edit(v.clone(), |b| {
            let l = b.len() as u64;
            put64(b, 0x28, l + 8)
        }),
    );
    c.upload(
        "shentsize",
        "e_shentsize 32 (EINVAL)",
        edit(v.clone(), |b| put16(b, 0x3a, 32)),
    );
    c.upload(
        "shnum",
        "1100 sections (EOPNOTSUPP)",
        edit(v.clone(), |b| put16(b, 0x3c, 1100)),
    );
    c.upload(
        "shnumcut",
        "section headers past the file (EINVAL)",
        edit(v.clone(), |b| {
            let n = u16_at(b, 0x3c);
            put16(b, 0x3c, n + 20)
        }),
    );

    // Section headers.
    c.upload(
        "secoff",
        "a section's data inside the ELF header (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, sec(b, ".modinfo"));
            put64(b, h + 0x18, 8)
        }),
    );
    c.upload(
        "secpast",
        "a section's data past the file (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, sec(b, ".modinfo"));
            put64(b, h + 0x20, 1 << 20)
        }),
    );
    c.upload(
        "align3",
        "sh_addralign 3 (EOPNOTSUPP)",
        edit(v.clone(), |b| {
            let h = shdr(b, sec(b, ".modinfo"));
            put64(b, h + 0x30, 3)
        }),
    );
    c.upload(
        "addrmis",
        "sh_addr not aligned (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, sec(b, ".livepatch.funcs"));
            put64(b, h + 0x10, 4)
        }),
    );
    c.upload("bigbss", "NOBITS section over 2 MiB (EINVAL)", {
        let mut p = base(image, "bigbss");
        p.sections.push(ContentSection {
            size: 3 << 20,
            ..ContentSection::with_data(".bss.big", ContentKind::Bss, 8, vec![])
        });
        write(&p)
    });
    c.upload(
        "twosymtab",
        "a second symbol table (EOPNOTSUPP)",
        edit(v.clone(), |b| {
            let st = symtab(b) as u32;
            let h = shdr(b, sec(b, ".modinfo"));
            put32(b, h + 4, 2);
            let link = u32_at(b, shdr(b, st as usize) + 0x28);
            put32(b, h + 0x28, link);
            put64(b, h + 0x38, 24);
        }),
    );
    c.upload(
        "symlink",
        "symbol table's sh_link past the sections (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, symtab(b));
            put32(b, h + 0x28, 900)
        }),
    );
    c.upload(
        "symentsize",
        "symbol table entsize 16 (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, symtab(b));
            put64(b, h + 0x38, 16)
        }),
    );
    c.upload(
        "strtabnul",
        "string table not NUL-terminated (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, sec(b, ".strtab"));
            let (o, s) = (u64_at(b, h + 0x18) as usize, u64_at(b, h + 0x20) as usize);
            b[o + s - 1] = b'x'
        }),
    );
    c.upload(
        "shstrtype",
        ".shstrtab not a string table (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, usize::from(u16_at(b, 0x3e)));
            put32(b, h + 4, 1)
        }),
    );
    c.upload(
        "shname",
        "sh_name past .shstrtab (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, sec(b, ".modinfo"));
            put32(b, h, 0xffff)
        }),
    );
    c.upload(
        "stname",
        "st_name past .strtab (EINVAL)",
        edit(v.clone(), |b| {
            let k = sym(b, "xen_extra_version");
            let o = sym_off(b, k);
            put32(b, o, 0xffff)
        }),
    );
    c.upload(
        "wax",
        "a section both writable and executable (EOPNOTSUPP)",
        edit(v.clone(), |b| {
            let h = shdr(b, sec(b, ".text.xen_extra_version"));
            put64(b, h + 8, 7)
        }),
    );

    // Symbols.
    c.upload(
        "common",
        "SHN_COMMON symbol (EINVAL)",
        edit(v.clone(), |b| {
            let o = sym_off(b, sym(b, "xen_extra_version"));
            put16(b, o + 6, 0xfff2)
        }),
    );
    c.upload(
        "shndxres",
        "symbol in a reserved section index (EOPNOTSUPP)",
        edit(v.clone(), |b| {
            let o = sym_off(b, sym(b, "xen_extra_version"));
            put16(b, o + 6, 0xff10)
        }),
    );
    c.upload(
        "shndxbig",
        "symbol section index past the sections (EINVAL)",
        edit(v.clone(), |b| {
            let o = sym_off(b, sym(b, "xen_extra_version"));
            put16(b, o + 6, 500)
        }),
    );
    let mut p = base(image, "unknown");
    p.symbols.push(Symbol {
        name: "xsplice_no_such_symbol".into(),
        kind: SymbolKind::NoType,
        global: true,
        definition: None,
    });
    p.sections[0].relocs[0].target = RelocTarget::Symbol(1);
    c.upload(
        "unknownsym",
        "undefined symbol Xen does not have (ENOENT)",
        write(&p),
    );
    let mut p = base(image, "clash");
    p.sections.push(ContentSection::with_data(
        ".text.printk",
        ContentKind::Text,
        16,
        vec![0xc3],
    ));
    p.symbols.push(Symbol {
        name: "printk".into(),
        kind: SymbolKind::Func,
        global: true,
        definition: Some(SymbolDef {
            section: 2,
            offset: 0,
            size: 1,
        }),
    });
    c.upload(
        "clash",
        "a new symbol named like a hypervisor symbol (EEXIST)",
        write(&p),
    );

    // Relocations.
    c.upload(
        "relalink",
        "relocation section linked to the wrong table (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, rela_of(b, ".text.xen_extra_version"));
            put32(b, h + 0x28, 1)
        }),
    );
    c.upload(
        "relaentsize",
        "relocation entsize 8 (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, rela_of(b, ".text.xen_extra_version"));
            put64(b, h + 0x38, 8)
        }),
    );
    c.upload(
        "rel",
        "SHT_REL relocations (EOPNOTSUPP)",
        edit(v.clone(), |b| {
            let h = shdr(b, rela_of(b, ".text.xen_extra_version"));
            put32(b, h + 4, 9);
            put64(b, h + 0x38, 24)
        }),
    );
    c.upload(
        "stnundef",
        "relocation against symbol 0 (EOPNOTSUPP)",
        edit(v.clone(), |b| {
            let o = first_rela(b, ".text.xen_extra_version");
            put64(b, o + 8, 2)
        }),
    );
    c.upload(
        "symbig",
        "relocation symbol past the table (EINVAL)",
        edit(v.clone(), |b| {
            let o = first_rela(b, ".text.xen_extra_version");
            put64(b, o + 8, (999u64 << 32) | 2)
        }),
    );
    c.upload(
        "r32",
        "R_X86_64_32 (EOPNOTSUPP)",
        edit(v.clone(), |b| {
            let o = first_rela(b, ".text.xen_extra_version");
            let info = u64_at(b, o + 8);
            put64(b, o + 8, (info & !0xffff_ffff) | 10)
        }),
    );
    c.upload(
        "reloff",
        "relocation offset past its section (EINVAL)",
        edit(v.clone(), |b| {
            let o = first_rela(b, ".text.xen_extra_version");
            put64(b, o, 6)
        }),
    );
    let mut p = base(image, "overflow");
    p.symbols.push(Symbol {
        name: "xen_extra_version".into(),
        kind: SymbolKind::NoType,
        global: true,
        definition: None,
    });
    // pc32 to (Xen address + 4 GiB): out of range wherever the payload lands.
    p.sections[0].relocs[0].target = RelocTarget::Symbol(1);
    p.sections[0].relocs[0].addend = 1 << 32;
    p.symbols[0].name = "xsplice_overflow".into();
    p.new[0].symbol.name = "xen_extra_version".into();
    c.upload("overflow", "PC32 value out of range (EOVERFLOW)", write(&p));

    // Sections the loader requires, and .livepatch.funcs.
    for (case, name, what) in [
        (
            "nodepends",
            lp::DEPENDS_SECTION,
            "missing .livepatch.depends (EINVAL)",
        ),
        (
            "noxendepends",
            lp::XEN_DEPENDS_SECTION,
            "missing .livepatch.xen_depends (EINVAL)",
        ),
        (
            "nobuildid",
            ".note.gnu.build-id",
            "missing .note.gnu.build-id (EINVAL)",
        ),
        (
            "nofuncs",
            lp::FUNCS_SECTION,
            "nothing to patch: no .livepatch.funcs, no hook (EINVAL)",
        ),
    ] {
        c.upload(
            case,
            what,
            edit(v.clone(), |b| {
                let h = shdr(b, sec(b, name));
                put32(b, h, 0)
            }),
        );
    }
    c.upload(
        "emptyfuncs",
        "empty .livepatch.funcs (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, sec(b, lp::FUNCS_SECTION));
            put64(b, h + 0x20, 0)
        }),
    );
    c.upload(
        "funcssize",
        ".livepatch.funcs not a multiple of 104 bytes (EINVAL)",
        edit(v.clone(), |b| {
            let h = shdr(b, sec(b, lp::FUNCS_SECTION));
            put64(b, h + 0x20, 100)
        }),
    );
    let funcs = |b: &[u8]| sec_data(b, lp::FUNCS_SECTION).0;
    c.upload(
        "version1",
        "livepatch_func version 1 (EOPNOTSUPP)",
        edit(v.clone(), |b| {
            let f = funcs(b);
            b[f + 32] = 1
        }),
    );
    c.upload(
        "oldsize0",
        "old_size 0 (EINVAL)",
        edit(v.clone(), |b| {
            let f = funcs(b);
            put32(b, f + 28, 0)
        }),
    );
    c.upload(
        "oldsize4",
        "old_size 4: no room for the jump (EINVAL)",
        edit(v.clone(), |b| {
            let f = funcs(b);
            put32(b, f + 28, 4)
        }),
    );
    let mut p = base(image, "noname");
    p.new[0].section.address = 0;
    p.new[0].symbol.name = "xsplice_no_such_function".into();
    c.upload(
        "unresolved",
        "old_addr 0 and a name Xen does not know (ENOENT)",
        write(&p),
    );
    let mut p = base(image, "wrongxen");
    p.target_build_id = vec![0x5a; 20];
    p.depends = vec![image.build_id().to_vec()];
    c.upload(
        "wrongxen",
        ".livepatch.xen_depends names another hypervisor (EINVAL)",
        write(&p),
    );
    c.upload(
        "badnote",
        "build-id note of type 1 (EINVAL)",
        edit(v.clone(), |b| {
            let (o, _) = sec_data(b, ".note.gnu.build-id");
            put32(b, o + 8, 1)
        }),
    );
    c.upload(
        "modinfonul",
        ".modinfo not NUL-terminated (EINVAL)",
        edit(v.clone(), |b| {
            let (o, s) = sec_data(b, lp::MODINFO_SECTION);
            b[o + s - 1] = b'x'
        }),
    );
    c.upload("hooksize", ".livepatch.hooks.load of 12 bytes (EINVAL)", {
        let mut b = write(&{
            let mut p = base(image, "hooks");
            p.sections.push(ContentSection::with_data(
                ".text.h",
                ContentKind::Text,
                16,
                vec![0xc3],
            ));
            p.symbols.push(Symbol {
                name: "xsplice_h".into(),
                kind: SymbolKind::Func,
                global: false,
                definition: Some(SymbolDef {
                    section: 2,
                    offset: 0,
                    size: 1,
                }),
            });
            p.symbols.swap(0, 1);
            p.hooks = vec![Hook {
                kind: HookKind::Load,
                symbol: 0,
            }];
            p
        });
        let h = shdr(&b, sec(&b, ".livepatch.hooks.load"));
        put64(&mut b, h + 0x20, 12);
        b
    });
    let mut p = base(image, "exsize");
    p.sections.push(ContentSection::with_data(
        ".ex_table",
        ContentKind::ReadOnly,
        4,
        vec![0; 6],
    ));
    c.upload("extable", ".ex_table of 6 bytes (EINVAL)", write(&p));
    let mut p = base(image, "altsize");
    p.sections.push(ContentSection::with_data(
        ".altinstructions",
        ContentKind::ReadOnly,
        1,
        vec![0; 15],
    ));
    c.upload(
        "altsize",
        ".altinstructions of 15 bytes (EINVAL)",
        write(&p),
    );

    // Loaded-payload rules.
    let dup = good("dup");
    c.files.insert("dup.livepatch".into(), dup.clone());
    c.files.insert("dup2.livepatch".into(), dup);
    c.cases.push(Case {
        name: "duplicates".into(),
        rule: "a second upload of a name (EEXIST) and of a build-id (EEXIST)".into(),
        commands: vec![
            Cmd::Upload {
                name: "dup".into(),
                file: "dup.livepatch".into(),
            },
            Cmd::Upload {
                name: "dup".into(),
                file: "dup.livepatch".into(),
            },
            Cmd::Upload {
                name: "dup2".into(),
                file: "dup2.livepatch".into(),
            },
            Cmd::Unload("dup2".into()),
            Cmd::Unload("dup".into()),
        ],
    });

    // Rules of APPLY.
    let mut p = base(image, "badexpect");
    let mut wrong = old[..8].to_vec();
    wrong[0] ^= 0xff;
    expect(&mut p, wrong, 8);
    c.with(
        "badexpect",
        "expectation differs from the running code (EINVAL at apply)",
        write(&p),
        &[apply("badexpect")],
    );
    let mut p = base(image, "longexpect");
    expect(&mut p, old[..8].to_vec(), 8);
    p.new[0].section.size = 5;
    p.old.as_mut().unwrap()[0].section.size = 5;
    // Written with a 5-byte old_size after the fact: the model refuses 8 > 5.
    let mut b = {
        let mut q = p.clone();
        q.new[0].section.size = target.size as u32;
        q.old.as_mut().unwrap()[0].section.size = target.size as u32;
        write(&q)
    };
    let f = sec_data(&b, lp::FUNCS_SECTION).0;
    put32(&mut b, f + 28, 5);
    c.with(
        "longexpect",
        "expectation longer than old_size (ERANGE at apply)",
        b,
        &[apply("longexpect")],
    );
    let mut p = base(image, "wrongdep");
    p.depends = vec![vec![0x77; 20]];
    c.with(
        "wrongdep",
        ".livepatch.depends names no applied payload (EINVAL at apply)",
        write(&p),
        &[apply("wrongdep")],
    );
    c.with(
        "nodeps",
        "the same with --nodeps applies",
        {
            let mut p = base(image, "nodeps");
            p.depends = vec![vec![0x77; 20]];
            write(&p)
        },
        &[Cmd::Apply {
            name: "nodeps".into(),
            nodeps: true,
        }],
    );

    // A stack of two: revert only from the top; unload an applied one.
    let first = write(&base(image, "first"));
    let first_id = xsplice_payload::read::read(&first).unwrap().build_id;
    let mut second = base(image, "second");
    second.depends = vec![first_id];
    c.files.insert("first.livepatch".into(), first);
    c.files.insert("second.livepatch".into(), write(&second));
    c.cases.push(Case {
        name: "stack".into(),
        rule: "stacked payloads: unload of an applied one refused by the tool, revert only from the top (EBUSY), replace".into(),
        commands: vec![
            Cmd::Upload { name: "first".into(), file: "first.livepatch".into() },
            Cmd::Upload { name: "second".into(), file: "second.livepatch".into() },
            apply("second"),
            apply("first"),
            apply("second"),
            Cmd::Unload("first".into()),
            Cmd::Revert("first".into()),
            Cmd::Revert("second".into()),
            Cmd::Revert("first".into()),
            Cmd::Replace("first".into()),
            Cmd::Replace("second".into()),
            Cmd::Revert("first".into()),
            Cmd::Unload("second".into()),
            Cmd::Unload("first".into()),
        ],
    });

    // Where the simulator is stricter than Xen on purpose (specs/livepatch-format.md).
    // (longexpect above is one too: an expectation longer than its function.)
    c.upload(
        "nop",
        "a NOP entry (new_addr 0): Xen accepts it, the simulator's strict reader does not",
        edit(v.clone(), |b| {
            let f = funcs(b);
            let r = first_rela(b, lp::FUNCS_SECTION);
            // Turn the relocation of new_addr (second entry) into R_X86_64_NONE and NOP 0 bytes.
            let second = r + 24;
            let info = u64_at(b, second + 8);
            put64(b, second + 8, info & !0xffff_ffff);
            put32(b, f + 24, 0);
            // The code's symbol is no longer a replacement: rename it, or it clashes
            // with the hypervisor's xen_extra_version (EEXIST).
            let st = shdr(b, symtab(b));
            let strs = u64_at(b, shdr(b, u32_at(b, st + 0x28) as usize) + 0x18) as usize;
            let k = sym(b, "xen_extra_version");
            let at = strs + u32_at(b, sym_off(b, k)) as usize;
            b[at] = b'X';
        }),
    );

    Corpus {
        cases: c.cases,
        files: c.files,
    }
}
