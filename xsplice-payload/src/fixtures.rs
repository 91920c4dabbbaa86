//! Payload models used as test fixtures and fuzzing seeds across the workspace.

use crate::arch::Machine;
use crate::layout::*;
use crate::model::*;

/// The design's example target: build-id "92dd05a6…" as raw bytes.
pub const XSA125_TARGET: [u8; 20] = [
    0x92, 0xdd, 0x05, 0xa6, 0x15, 0x56, 0xc5, 0x54, 0x15, 0x5b, 0x15, 0x08, 0xc9, 0xcf, 0x67, 0xd9,
    0x93, 0x33, 0x6d, 0x28,
];

/// The design's `xsa125` example, field for field: one trampoline on
/// `do_xen_version` at 0xffff82d080112f9e, 1728 bytes of new code starting
/// `83 ff 09`, one reloc with `isns_added` -4, one section with `XSPLICE_SECTION_TEXT`.
/// The example leaves the howto's `size` unset; the format requires 4 (rel32).
pub fn xsa125() -> Payload {
    let mut code = vec![0u8; 1728];
    code[..3].copy_from_slice(&[0x83, 0xff, 0x09]);
    let address = 0xffff_82d0_8011_2f9e;
    Payload {
        machine: Machine::X86_64,
        hooks: Vec::new(),
        name: "xsa125".into(),
        target_build_id: XSA125_TARGET.to_vec(),
        depends: vec![],
        new: vec![Entry::trampoline(
            Machine::X86_64,
            "do_xen_version",
            address,
            1728,
            ContentRef {
                section: 0,
                offset: 0,
            },
            1728,
        )],
        old: None,
        sections: vec![ContentSection::with_data(
            ".text.do_xen_version",
            ContentKind::Text,
            16,
            code,
        )],
        symbols: vec![Symbol {
            name: "do_xen_version".into(),
            kind: SymbolKind::Func,
            global: true,
            definition: Some(SymbolDef {
                section: 0,
                offset: 0,
                size: 1728,
            }),
        }],
    }
}

/// A payload exercising every part of the format: two patched functions (one of
/// them a `file#symbol` local), a new helper, a new string, a jump table in
/// read-only data, calls and data references to the running hypervisor, old code to
/// check, an inline patch of a read-only byte, and a dependency on an earlier payload.
pub fn full() -> Payload {
    // do_domctl: push %rbx; lea .LC0(%rip),%rdi; call new_helper; call printk;
    //            xor %eax,%eax; pop %rbx; ret
    let domctl = vec![
        0x53, 0x48, 0x8d, 0x3d, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0x31, 0xc0, 0x5b,
        0xc3,
    ];
    // new_helper: mov table(,%rdi,8),%rax; jmp *%rax  (jump table in .rodata)
    let helper = vec![0x48, 0x8b, 0x04, 0xfd, 0, 0, 0, 0, 0xff, 0xe0];
    // helper (file-local in the hypervisor): mov counter(%rip),%eax; add $1,%eax; ret
    let local = vec![0x8b, 0x05, 0, 0, 0, 0, 0x83, 0xc0, 0x01, 0xc3];
    let table = vec![0u8; 16];
    let strings = b"domctl: fixed path\0".to_vec();
    let old_domctl = vec![0x53, 0x48, 0x89, 0xe0, 0x48, 0x25, 0x00, 0x80, 0xff, 0xff];
    let old_local = vec![0x8b, 0x05, 0x10, 0x20, 0x00, 0x00];

    let mut sections = vec![
        ContentSection::with_data(".text.do_domctl", ContentKind::Text, 16, domctl),
        ContentSection::with_data(".text.new_helper", ContentKind::Text, 16, helper),
        ContentSection::with_data(".text.helper", ContentKind::Text, 16, local),
        ContentSection::with_data(".rodata.new_helper", ContentKind::ReadOnly, 8, table),
        ContentSection::with_data(".rodata.str1.1", ContentKind::Strings, 1, strings),
        ContentSection::with_data(
            ".rodata.old_code",
            ContentKind::ReadOnly,
            1,
            [old_domctl, old_local].concat(),
        ),
        ContentSection::with_data(".rodata.inline", ContentKind::ReadOnly, 1, vec![0x07]),
        ContentSection {
            size: 64,
            ..ContentSection::with_data(".bss.new_state", ContentKind::Bss, 8, vec![])
        },
    ];
    // Symbols: locals first, then globals.
    let symbols = vec![
        sym("new_state", SymbolKind::Object, false, Some((7, 0, 64))),
        sym("helper", SymbolKind::Func, false, Some((2, 0, 10))),
        sym("do_domctl", SymbolKind::Func, true, Some((0, 0, 22))),
        sym("new_helper", SymbolKind::Func, true, Some((1, 0, 10))),
        sym("printk", SymbolKind::NoType, true, None),
        sym("domctl.c#counter", SymbolKind::NoType, true, None),
        sym("case_a", SymbolKind::NoType, true, None),
        sym("case_b", SymbolKind::NoType, true, None),
    ];
    use object::elf::{R_X86_64_32S, R_X86_64_64, R_X86_64_PC32, R_X86_64_PLT32};
    let r = |offset, r_type, target, addend| Reloc {
        offset,
        r_type,
        target,
        addend,
    };
    sections[0].relocs = vec![
        r(4, R_X86_64_PC32, RelocTarget::Section(4), -4),
        r(9, R_X86_64_PLT32, RelocTarget::Symbol(3), -4),
        r(14, R_X86_64_PLT32, RelocTarget::Symbol(4), -4),
    ];
    sections[1].relocs = vec![r(4, R_X86_64_32S, RelocTarget::Section(3), 0)];
    sections[2].relocs = vec![r(2, R_X86_64_PC32, RelocTarget::Symbol(5), -4)];
    sections[3].relocs = vec![
        r(0, R_X86_64_64, RelocTarget::Symbol(6), 0),
        r(8, R_X86_64_64, RelocTarget::Symbol(7), 0x10),
    ];

    let trampoline = |name: &str, address: u64, size: u32, section: usize, code_size: u32| {
        Entry::trampoline(
            Machine::X86_64,
            name,
            address,
            size,
            ContentRef { section, offset: 0 },
            code_size,
        )
    };
    let check = |name: &str, address: u64, size: u32, offset: u64, len: u32| Entry {
        symbol: PatchSymbol {
            name: name.into(),
            label: format!("{name}+<0x0>"),
        },
        section: SectionInfo {
            address,
            size,
            flags: XSPLICE_SECTION_TEXT | XSPLICE_SECTION_MATCH_EXACT,
        },
        reloc: None,
        patch: Patch {
            kind: XSPLICE_PATCH_INLINE_TEXT,
            size: len,
            addr: 0,
            content: ContentRef { section: 5, offset },
        },
    };
    let new = vec![
        trampoline("do_domctl", 0xffff_82d0_8010_3079, 0x1c0, 0, 22),
        trampoline("domctl.c#helper", 0xffff_82d0_8010_3300, 0x20, 2, 10),
        Entry {
            symbol: PatchSymbol {
                name: "domctl_limit".into(),
                label: "domctl_limit+<0x3>".into(),
            },
            section: SectionInfo {
                address: 0xffff_82d0_8030_0000,
                size: 8,
                flags: XSPLICE_SECTION_RODATA,
            },
            reloc: Some(RelocInfo {
                addr: 0xffff_82d0_8030_0003,
                isns_target: 3,
                isns_added: 0,
                howto: Howto::inline(1),
            }),
            patch: Patch {
                kind: XSPLICE_PATCH_INLINE_DATA,
                size: 1,
                addr: 3,
                content: ContentRef {
                    section: 6,
                    offset: 0,
                },
            },
        },
    ];
    let old = vec![
        check("do_domctl", 0xffff_82d0_8010_3079, 0x1c0, 0, 10),
        check("domctl.c#helper", 0xffff_82d0_8010_3300, 0x20, 10, 6),
    ];
    Payload {
        machine: Machine::X86_64,
        hooks: Vec::new(),
        name: "xsa132-and-friends".into(),
        target_build_id: (0u8..20)
            .map(|i| i.wrapping_mul(13).wrapping_add(7))
            .collect(),
        depends: vec![vec![0xab; 20]],
        new,
        old: Some(old),
        sections,
        symbols,
    }
}

fn sym(name: &str, kind: SymbolKind, global: bool, def: Option<(usize, u64, u64)>) -> Symbol {
    Symbol {
        name: name.into(),
        kind,
        global,
        definition: def.map(|(section, offset, size)| SymbolDef {
            section,
            offset,
            size,
        }),
    }
}

/// A livepatch payload exercising every part of that encoding, in the form the
/// livepatch reader returns (so it round-trips exactly): two patched functions (one
/// a `file#symbol` local, at an address the loader must look up by name), a new
/// helper reached through a jump table, a new string, references to the running
/// hypervisor, expectations on both old functions, load and unload hooks, and a
/// dependency on an earlier payload.
pub fn livepatch_full() -> Payload {
    use object::elf::{R_X86_64_64, R_X86_64_PC32, R_X86_64_PLT32};
    // do_domctl: push %rbx; lea .LC0(%rip),%rdi; call new_helper; call printk;
    //            xor %eax,%eax; pop %rbx; ret
    let domctl = vec![
        0x53, 0x48, 0x8d, 0x3d, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0x31, 0xc0, 0x5b,
        0xc3,
    ];
    // new_helper: lea table(%rip),%rax; jmp *(%rax,%rdi,8)
    let helper = vec![0x48, 0x8d, 0x05, 0, 0, 0, 0, 0xff, 0x24, 0xf8];
    // helper (file-local in the hypervisor): mov counter(%rip),%eax; add $1,%eax; ret
    let local = vec![0x8b, 0x05, 0, 0, 0, 0, 0x83, 0xc0, 0x01, 0xc3];
    // the hooks: ret
    let hook = vec![0xc3];
    let mut sections = vec![
        ContentSection::with_data(".text.do_domctl", ContentKind::Text, 16, domctl),
        ContentSection::with_data(".text.new_helper", ContentKind::Text, 16, helper),
        ContentSection::with_data(".text.helper", ContentKind::Text, 16, local),
        ContentSection::with_data(".text.on_load", ContentKind::Text, 16, hook.clone()),
        ContentSection::with_data(".text.on_unload", ContentKind::Text, 16, hook),
        ContentSection::with_data(".rodata.new_helper", ContentKind::ReadOnly, 8, vec![0; 16]),
        ContentSection::with_data(
            ".rodata.str1.1",
            ContentKind::Strings,
            1,
            b"domctl: fixed path\0".to_vec(),
        ),
        ContentSection {
            size: 64,
            ..ContentSection::with_data(".bss.new_state", ContentKind::Bss, 8, vec![])
        },
        // Expectations last, one section each, as the reader rebuilds them.
        ContentSection::with_data(
            ".rodata.old.do_domctl",
            ContentKind::ReadOnly,
            1,
            vec![0x53, 0x48, 0x89, 0xe0, 0x48, 0x25, 0x00, 0x80, 0xff, 0xff],
        ),
        ContentSection::with_data(
            ".rodata.old.domctl.c.helper",
            ContentKind::ReadOnly,
            1,
            vec![0x8b, 0x05, 0x10, 0x20, 0x00, 0x00],
        ),
    ];
    let symbols = vec![
        sym("new_state", SymbolKind::Object, false, Some((7, 0, 64))),
        sym("helper", SymbolKind::Func, false, Some((2, 0, 10))),
        sym("on_load", SymbolKind::Func, false, Some((3, 0, 1))),
        sym("on_unload", SymbolKind::Func, false, Some((4, 0, 1))),
        sym("do_domctl", SymbolKind::Func, true, Some((0, 0, 22))),
        sym("new_helper", SymbolKind::Func, true, Some((1, 0, 10))),
        sym("printk", SymbolKind::NoType, true, None),
        sym("domctl.c#counter", SymbolKind::NoType, true, None),
        sym("case_a", SymbolKind::NoType, true, None),
        sym("case_b", SymbolKind::NoType, true, None),
    ];
    let r = |offset, r_type, target, addend| Reloc {
        offset,
        r_type,
        target,
        addend,
    };
    sections[0].relocs = vec![
        r(4, R_X86_64_PC32, RelocTarget::Section(6), -4),
        r(9, R_X86_64_PLT32, RelocTarget::Symbol(5), -4),
        r(14, R_X86_64_PLT32, RelocTarget::Symbol(6), -4),
    ];
    sections[1].relocs = vec![r(3, R_X86_64_PC32, RelocTarget::Section(5), -4)];
    sections[2].relocs = vec![r(2, R_X86_64_PC32, RelocTarget::Symbol(7), -4)];
    sections[5].relocs = vec![
        r(0, R_X86_64_64, RelocTarget::Symbol(8), 0),
        r(8, R_X86_64_64, RelocTarget::Symbol(9), 0x10),
    ];
    let trampoline = |name: &str, address: u64, size: u32, section: usize, code_size: u32| {
        Entry::trampoline(
            Machine::X86_64,
            name,
            address,
            size,
            ContentRef { section, offset: 0 },
            code_size,
        )
    };
    let expect = |name: &str, address: u64, size: u32, section: usize, len: u32| Entry {
        symbol: PatchSymbol {
            name: name.into(),
            label: format!("{name}+<0x0>"),
        },
        section: SectionInfo {
            address,
            size,
            flags: XSPLICE_SECTION_TEXT | XSPLICE_SECTION_TEXT_INLINE | XSPLICE_SECTION_MATCH_EXACT,
        },
        reloc: None,
        patch: Patch {
            kind: XSPLICE_PATCH_INLINE_TEXT,
            size: len,
            addr: 0,
            content: ContentRef { section, offset: 0 },
        },
    };
    Payload {
        machine: Machine::X86_64,
        name: "xsa132-livepatch".into(),
        target_build_id: (0u8..20)
            .map(|i| i.wrapping_mul(13).wrapping_add(7))
            .collect(),
        depends: vec![vec![0xab; 20]],
        new: vec![
            trampoline("do_domctl", 0xffff_82d0_8010_3079, 0x1c0, 0, 22),
            trampoline("domctl.c#helper", 0, 0x20, 2, 10),
        ],
        old: Some(vec![
            expect("do_domctl", 0xffff_82d0_8010_3079, 0x1c0, 8, 10),
            expect("domctl.c#helper", 0, 0x20, 9, 6),
        ]),
        sections,
        symbols,
        hooks: vec![
            Hook {
                kind: HookKind::Load,
                symbol: 2,
            },
            Hook {
                kind: HookKind::Unload,
                symbol: 3,
            },
        ],
    }
}

/// A payload making the hypervisor function `function` (at `addr`, `size` bytes, in
/// the hypervisor with build-id `target`) return a pointer to `text`: `lea
/// text(%rip),%rax; ret` and the string. The tests on real Xen replace
/// `xen_extra_version` with it (observable in `/sys/hypervisor/version/extra`).
pub fn returns_string(
    name: &str,
    target: &[u8],
    function: &str,
    addr: u64,
    size: u32,
    text: &str,
) -> Payload {
    let mut code = ContentSection::with_data(
        &format!(".text.{function}"),
        ContentKind::Text,
        16,
        vec![0x48, 0x8d, 0x05, 0, 0, 0, 0, 0xc3],
    );
    code.relocs.push(Reloc {
        offset: 3,
        r_type: object::elf::R_X86_64_PC32,
        target: RelocTarget::Section(1),
        addend: -4,
    });
    let mut s = text.as_bytes().to_vec();
    s.push(0);
    Payload {
        machine: Machine::X86_64,
        name: name.into(),
        target_build_id: target.to_vec(),
        depends: vec![],
        new: vec![Entry::trampoline(
            Machine::X86_64,
            function,
            addr,
            size,
            ContentRef {
                section: 0,
                offset: 0,
            },
            8,
        )],
        old: None,
        sections: vec![
            code,
            ContentSection::with_data(".rodata.str1.1", ContentKind::Strings, 1, s),
        ],
        symbols: vec![sym(function, SymbolKind::Func, false, Some((0, 0, 8)))],
        hooks: vec![],
    }
}
