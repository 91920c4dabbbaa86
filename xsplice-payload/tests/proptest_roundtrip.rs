//! Generated models round-trip: model → bytes → model, equal; and writing is a function.

use proptest::prelude::*;
use xsplice_payload::layout::*;
use xsplice_payload::read::read;
use xsplice_payload::write::to_bytes;
use xsplice_payload::*;

/// Raw random choices, mapped onto a valid model by `build` (so shrinking works on
/// plain numbers while every generated model obeys the format rules).
#[derive(Debug, Clone)]
struct Recipe {
    name: String,
    target: Vec<u8>,
    depends: Vec<Vec<u8>>,
    sections: Vec<(u8, Vec<u8>, u8)>,
    symbols: Vec<(bool, u8, u8, u16, u16)>,
    relocs: Vec<(u8, u16, u8, u8, i64)>,
    entries: Vec<(u64, u32, u16, u8, bool)>,
    with_old: bool,
}

fn recipe() -> impl Strategy<Value = Recipe> {
    (
        "[a-zA-Z0-9_.-]{1,40}",
        prop::collection::vec(any::<u8>(), 1..=64),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 1..=32), 0..3),
        prop::collection::vec(
            (
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 16..200),
                0u8..5,
            ),
            1..6,
        ),
        prop::collection::vec(
            (
                any::<bool>(),
                any::<u8>(),
                any::<u8>(),
                any::<u16>(),
                any::<u16>(),
            ),
            0..8,
        ),
        prop::collection::vec(
            (
                any::<u8>(),
                any::<u16>(),
                any::<u8>(),
                any::<u8>(),
                any::<i64>(),
            ),
            0..12,
        ),
        prop::collection::vec(
            (
                any::<u64>(),
                5u32..5000,
                any::<u16>(),
                any::<u8>(),
                any::<bool>(),
            ),
            1..5,
        ),
        any::<bool>(),
    )
        .prop_map(
            |(name, target, depends, sections, symbols, relocs, entries, with_old)| Recipe {
                name,
                target,
                depends,
                sections,
                symbols,
                relocs,
                entries,
                with_old,
            },
        )
}

fn build(r: &Recipe) -> Payload {
    let kinds = [
        ContentKind::Text,
        ContentKind::ReadOnly,
        ContentKind::Strings,
        ContentKind::Data,
        ContentKind::Bss,
    ];
    // Section 0 is always text so every entry has code to point at.
    let mut sections: Vec<ContentSection> = r
        .sections
        .iter()
        .enumerate()
        .map(|(i, (k, data, align))| {
            let kind = if i == 0 {
                ContentKind::Text
            } else {
                kinds[*k as usize % kinds.len()]
            };
            let name = format!(".sec{i}.{kind:?}").to_lowercase();
            if kind == ContentKind::Bss {
                ContentSection {
                    size: data.len() as u64,
                    ..ContentSection::with_data(&name, kind, 1 << align, vec![])
                }
            } else {
                ContentSection::with_data(&name, kind, 1 << align, data.clone())
            }
        })
        .collect();
    let mut symbols: Vec<Symbol> = Vec::new();
    let (mut locals, mut globals) = (Vec::new(), Vec::new());
    for (i, (global, kind, sec, off, size)) in r.symbols.iter().enumerate() {
        let kind = [SymbolKind::NoType, SymbolKind::Func, SymbolKind::Object][*kind as usize % 3];
        let defined = *sec % 4 != 0 || !global;
        let definition = defined.then(|| {
            let section = *sec as usize % sections.len();
            let len = sections[section].size;
            let offset = u64::from(*off) % len;
            SymbolDef {
                section,
                offset,
                size: u64::from(*size) % (len - offset + 1),
            }
        });
        let s = Symbol {
            name: format!("sym{i}"),
            kind,
            global: *global || !defined,
            definition,
        };
        if s.global {
            globals.push(s)
        } else {
            locals.push(s)
        }
    }
    symbols.extend(locals);
    symbols.extend(globals);
    let types = [
        object::elf::R_X86_64_64,
        object::elf::R_X86_64_PC32,
        object::elf::R_X86_64_PLT32,
        object::elf::R_X86_64_32S,
    ];
    for (sec, off, ty, target, addend) in &r.relocs {
        let si = *sec as usize % sections.len();
        if sections[si].kind == ContentKind::Bss {
            continue;
        }
        let r_type = types[*ty as usize % types.len()];
        let width = if r_type == object::elf::R_X86_64_64 {
            8
        } else {
            4
        };
        let size = sections[si].size;
        if size < width {
            continue;
        }
        let offset = u64::from(*off) % (size - width + 1);
        let target = if symbols.is_empty() || target % 2 == 0 {
            RelocTarget::Section(*target as usize % sections.len())
        } else {
            RelocTarget::Symbol(*target as usize % symbols.len())
        };
        sections[si].relocs.push(Reloc {
            offset,
            r_type,
            target,
            addend: *addend,
        });
    }
    let code_len = sections[0].size;
    let mut new = Vec::new();
    let mut old = Vec::new();
    for (i, (addr, fsize, off, isns, _)) in r.entries.iter().enumerate() {
        let offset = u64::from(*off) % code_len;
        let size = (code_len - offset) as u32;
        let name = format!("fn{i}");
        new.push(Entry {
            symbol: PatchSymbol {
                name: name.clone(),
                label: format!("{name}+<0x0>"),
            },
            section: SectionInfo {
                address: *addr,
                size: *fsize,
                flags: XSPLICE_SECTION_TEXT
                    | (u32::from(*isns & 1) * XSPLICE_SECTION_NO_STACKCHECK),
            },
            reloc: Some(RelocInfo {
                addr: *addr,
                isns_target: 0,
                isns_added: -4,
                howto: Howto::trampoline(),
            }),
            patch: Patch {
                kind: XSPLICE_PATCH_RELOC_TEXT,
                size,
                addr: 0,
                content: ContentRef { section: 0, offset },
            },
        });
    }
    if r.with_old {
        let bytes: Vec<u8> = r.target.iter().cycle().take(5).copied().collect();
        sections.push(ContentSection::with_data(
            ".rodata.old",
            ContentKind::ReadOnly,
            1,
            bytes,
        ));
        let s = sections.len() - 1;
        for (i, (addr, fsize, _, _, keep)) in r.entries.iter().enumerate() {
            if *keep || i == 0 {
                old.push(Entry {
                    symbol: PatchSymbol {
                        name: format!("fn{i}"),
                        label: String::new(),
                    },
                    section: SectionInfo {
                        address: *addr,
                        size: *fsize,
                        flags: XSPLICE_SECTION_TEXT | XSPLICE_SECTION_MATCH_EXACT,
                    },
                    reloc: None,
                    patch: Patch {
                        kind: XSPLICE_PATCH_INLINE_TEXT,
                        size: 5,
                        addr: 0,
                        content: ContentRef {
                            section: s,
                            offset: 0,
                        },
                    },
                });
            }
        }
    }
    Payload {
        machine: Machine::X86_64,
        name: r.name.clone(),
        target_build_id: r.target.clone(),
        depends: r.depends.clone(),
        new,
        old: r.with_old.then_some(old),
        sections,
        symbols,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_models_round_trip(r in recipe()) {
        let model = build(&r);
        model.validate().expect("the generator builds valid models");
        let bytes = to_bytes(&model).unwrap();
        let back = read(&bytes).unwrap();
        prop_assert_eq!(&back.payload, &model);
        prop_assert_eq!(to_bytes(&back.payload).unwrap(), bytes);
    }
}
