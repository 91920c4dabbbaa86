//! Phase 6: the payload model from the closure.
//!
//! One content section per carried item (`.text.<name>`, `.rodata.<name>`,
//! `.data.<name>`, `.bss.<name>`, or the anonymous section's own name), one string
//! section for every carried string, one symbol per carried symbol (local, except new
//! globals), one undefined symbol per image name used. Per patch site one `Entry`:
//! a trampoline (`RELOC_TEXT`, howto `RELOC_PATCH|PC_REL`) from the old function to
//! the new code; with `old_code`, the old function's bytes from the image as an
//! `INLINE_TEXT`/`MATCH_EXACT` check.

use std::collections::BTreeMap;

use xsplice_payload::layout::*;
use xsplice_payload::{
    ContentKind, ContentRef, ContentSection, Entry, Hook, Patch, PatchSymbol, Payload, Reloc,
    RelocTarget, SectionInfo, Symbol, SymbolDef, SymbolKind,
};

use crate::closure::{Closure, Dest};
use crate::image::ImageView;
use crate::object::SymKind;

/// What the caller decides about the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffOptions {
    /// The encoding the payload is for: its rules are checked on the model.
    pub flavour: xsplice_payload::Flavour,
    /// Payload name (xsplice: 1..=40 bytes; livepatch: up to 127).
    pub name: String,
    /// Build-ids of payloads that must be applied first.
    pub depends: Vec<Vec<u8>>,
    /// Also record the old functions' bytes (`xsplice.old`).
    pub old_code: bool,
}

/// Why an old function's bytes could not be recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the {size} bytes of {name} at {addr:#x} from the image (not file-backed)")]
pub struct OldCodeError {
    pub name: String,
    pub addr: u64,
    pub size: u64,
}

pub fn emit(
    closure: &Closure,
    image: &dyn ImageView,
    opts: &DiffOptions,
) -> Result<Payload, OldCodeError> {
    let mut names = Names::default();
    let mut sections: Vec<ContentSection> = Vec::new();
    let mut symbols: Vec<Symbol> = Vec::new();
    let mut item_symbol: Vec<Option<usize>> = vec![None; closure.items.len()];
    // Where each item lands: (section index, offset in it).
    let mut loc: Vec<(usize, u64)> = vec![(0, 0); closure.items.len()];

    // Special-section entries and pieces are gathered, per name, in one section
    // (the loader finds `.ex_table`, `.altinstructions`... by name), in object
    // order; the other items get a section each.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, item) in closure.items.iter().enumerate() {
        match &item.group {
            Some(g) => match groups.iter_mut().find(|(n, _)| n == g) {
                Some((_, v)) => v.push(i),
                None => groups.push((g.clone(), vec![i])),
            },
            None => {
                let base = match (item.sym_kind, item.kind) {
                    (None, _) => item.name.clone(),
                    (_, ContentKind::Text) => format!(".text.{}", item.name),
                    (_, ContentKind::Data) => format!(".data.{}", item.name),
                    (_, ContentKind::Bss) => format!(".bss.{}", item.name),
                    (_, _) => format!(".rodata.{}", item.name),
                };
                let mut sec = ContentSection::with_data(
                    &names.unique(&base),
                    item.kind,
                    item.align,
                    item.data.clone(),
                );
                sec.size = item.size;
                sections.push(sec);
                loc[i] = (sections.len() - 1, 0);
                item_symbol[i] = item.sym_kind.map(|k| {
                    symbols.push(Symbol {
                        name: item.name.clone(),
                        kind: match k {
                            SymKind::Func => SymbolKind::Func,
                            SymKind::Object => SymbolKind::Object,
                            _ => SymbolKind::NoType,
                        },
                        global: item.global,
                        definition: Some(SymbolDef {
                            section: sections.len() - 1,
                            offset: 0,
                            size: item.size,
                        }),
                    });
                    symbols.len() - 1
                });
            }
        }
    }
    for (name, mut members) in groups {
        members.sort_by_key(|&i| (closure.items[i].pair, closure.items[i].order));
        let first = &closure.items[members[0]];
        let align = members
            .iter()
            .map(|&i| closure.items[i].align)
            .max()
            .unwrap_or(1);
        let mut data: Vec<u8> = Vec::new();
        let index = sections.len();
        for &i in &members {
            let it = &closure.items[i];
            let pad = (data.len() as u64).next_multiple_of(it.align.max(1)) as usize - data.len();
            data.extend(std::iter::repeat_n(0u8, pad));
            loc[i] = (index, data.len() as u64);
            data.extend_from_slice(&it.data);
        }
        sections.push(ContentSection::with_data(
            &names.unique(&name),
            first.kind,
            align,
            data,
        ));
    }

    // Strings, in first-use order.
    let mut strings: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    let mut str_data: Vec<u8> = Vec::new();
    for item in &closure.items {
        for r in &item.relocs {
            if let Dest::Str(s) = &r.dest {
                if !strings.contains_key(s) {
                    strings.insert(s.clone(), str_data.len() as u64);
                    str_data.extend_from_slice(s);
                    str_data.push(0);
                }
            }
        }
    }
    let str_section = (!str_data.is_empty()).then(|| {
        sections.push(ContentSection::with_data(
            &names.unique(".rodata.str1.1"),
            ContentKind::Strings,
            1,
            str_data,
        ));
        sections.len() - 1
    });

    // Undefined symbols, in first-use order.
    let mut undefined: BTreeMap<String, usize> = BTreeMap::new();
    for (i, item) in closure.items.iter().enumerate() {
        let (at_sec, at_off) = loc[i];
        let mut relocs = Vec::with_capacity(item.relocs.len());
        for r in &item.relocs {
            let (target, addend) = match &r.dest {
                Dest::Item(j) => match item_symbol[*j] {
                    Some(s) => (RelocTarget::Symbol(s), r.addend),
                    None => (
                        RelocTarget::Section(loc[*j].0),
                        r.addend.wrapping_add(loc[*j].1 as i64),
                    ),
                },
                Dest::Str(s) => {
                    let off = strings[s] as i64;
                    (
                        RelocTarget::Section(str_section.expect("strings exist")),
                        off.wrapping_add(r.addend),
                    )
                }
                Dest::Image(name) => {
                    let idx = *undefined.entry(name.clone()).or_insert_with(|| {
                        symbols.push(Symbol {
                            name: name.clone(),
                            kind: SymbolKind::NoType,
                            global: true,
                            definition: None,
                        });
                        symbols.len() - 1
                    });
                    (RelocTarget::Symbol(idx), r.addend)
                }
            };
            relocs.push(Reloc {
                offset: at_off + r.offset,
                r_type: r.r_type,
                target,
                addend,
            });
        }
        sections[at_sec].relocs.extend(relocs);
    }
    for s in &mut sections {
        s.relocs.sort_by_key(|r| r.offset);
    }

    let mut new = Vec::new();
    let mut old = Vec::new();
    for site in &closure.sites {
        let item = &closure.items[site.item];
        let symbol = PatchSymbol {
            name: site.image_name.clone(),
            label: format!("{}+<0x0>", site.image_name),
        };
        new.push(Entry::trampoline(
            image.machine(),
            &site.image_name,
            site.addr,
            site.size as u32,
            ContentRef {
                section: loc[site.item].0,
                offset: loc[site.item].1,
            },
            item.size as u32,
        ));
        if opts.old_code {
            let err = || OldCodeError {
                name: site.image_name.clone(),
                addr: site.addr,
                size: site.size,
            };
            let bytes = image.read(site.addr, site.size).ok_or_else(err)?.to_vec();
            let name = names.unique(&format!(
                ".rodata.old.{}",
                site.image_name.replace('#', ".")
            ));
            sections.push(ContentSection::with_data(
                &name,
                ContentKind::ReadOnly,
                1,
                bytes,
            ));
            old.push(Entry {
                symbol,
                section: SectionInfo {
                    address: site.addr,
                    size: site.size as u32,
                    flags: XSPLICE_SECTION_TEXT
                        | XSPLICE_SECTION_TEXT_INLINE
                        | XSPLICE_SECTION_MATCH_EXACT,
                },
                reloc: None,
                patch: Patch {
                    kind: XSPLICE_PATCH_INLINE_TEXT,
                    size: site.size as u32,
                    addr: 0,
                    content: ContentRef {
                        section: sections.len() - 1,
                        offset: 0,
                    },
                },
            });
        }
    }

    // ELF symbol tables list locals first: use that order so the model is the one a
    // reader gets back from the written file.
    let mut order: Vec<usize> = (0..symbols.len()).collect();
    order.sort_by_key(|&i| symbols[i].global);
    let mut new_index = vec![0; symbols.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let symbols: Vec<Symbol> = order.iter().map(|&i| symbols[i].clone()).collect();
    for s in &mut sections {
        for r in &mut s.relocs {
            if let RelocTarget::Symbol(i) = r.target {
                r.target = RelocTarget::Symbol(new_index[i]);
            }
        }
    }

    let hooks = closure
        .hooks
        .iter()
        .filter_map(|&(kind, item)| {
            item_symbol[item].map(|old| Hook {
                kind,
                symbol: new_index[old],
            })
        })
        .collect();
    Ok(Payload {
        machine: image.machine(),
        name: opts.name.clone(),
        target_build_id: image.build_id().to_vec(),
        depends: opts.depends.clone(),
        new,
        old: opts.old_code.then_some(old),
        sections,
        symbols,
        hooks,
    })
}

/// Section names made unique by a numeric suffix, deterministically.
#[derive(Default)]
struct Names {
    used: std::collections::BTreeSet<String>,
}

impl Names {
    fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 0;
        while !self.used.insert(name.clone()) {
            k += 1;
            name = format!("{base}.{k}");
        }
        name
    }
}
