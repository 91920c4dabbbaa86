//! Phase 5: what goes into the payload, and where every reference of the new code
//! goes.
//!
//! Roots are the changed and new functions of every pair. Their relocations are
//! followed: new and changed symbols, compiler-made statics and anonymous read-only
//! data (jump tables, constants) are carried; strings are carried by content;
//! unchanged symbols become references resolved by name in the image (`name` for
//! globals, `file#name` for locals). Changed functions that are entry points get a
//! patch site: their address and size in the image, checked against the trampoline.

use std::collections::{BTreeMap, VecDeque};

use xsplice_payload::ContentKind;

use crate::Pair;
use crate::classify::State;
use crate::image::{ImageView, Lookup};
use crate::keys::string_at;
use crate::names::{clone_of, is_special_static};
use crate::object::{ObjectFile, Reloc, SecId, SectionClass, SymId, SymKind, Target};
use crate::problem::{Problem, ProblemKind};

/// Something carried from a patched object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CarryKey {
    Sym(SymId),
    /// A whole anonymous read-only section.
    Sec(SecId),
    /// One entry of a special entry table (bug frame, exception table entry,
    /// alternative...) at `offset` in section `sec`.
    Entry {
        sec: SecId,
        offset: u64,
    },
    /// The piece of satellite code (`.fixup`, `.altinstr_replacement`) starting at
    /// `start` in section `sec`.
    Piece {
        sec: SecId,
        start: u64,
    },
}

/// Where a relocation of carried bytes goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Another carried item (index in `Closure::items`); addend relative to its start.
    Item(usize),
    /// A symbol of the running image, by (qualified) name.
    Image(String),
    /// A string (without NUL); addend relative to its first byte.
    Str(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct Resolved {
    /// Offset inside the item.
    pub offset: u64,
    pub r_type: u32,
    pub dest: Dest,
    pub addend: i64,
}

/// Bytes carried into the payload.
#[derive(Clone, Debug)]
pub struct Item {
    pub pair: usize,
    pub key: CarryKey,
    /// Symbol name (or section name for anonymous sections).
    pub name: String,
    /// `Some` for symbols: how the payload defines it.
    pub sym_kind: Option<SymKind>,
    /// A new global: defined as a global symbol of the payload.
    pub global: bool,
    pub kind: ContentKind,
    pub align: u64,
    pub data: Vec<u8>,
    pub size: u64,
    pub relocs: Vec<Resolved>,
    /// Why it is carried.
    pub why: String,
    /// Entries and pieces: the payload section they are gathered in (the special
    /// section's own name); `None`: a section of its own.
    pub group: Option<String>,
    /// Offset in the object's section (orders the members of a group).
    pub order: u64,
    /// Entries: the function they describe.
    pub about: Option<String>,
}

/// A relocation waiting to be resolved.
#[derive(Clone, Copy, Debug)]
struct Raw {
    r: Reloc,
    /// Added to the resolved addend (entry-relative bias and line bits).
    extra: i64,
}

/// A function of the image redirected to new code.
#[derive(Clone, Debug)]
pub struct Site {
    pub pair: usize,
    pub sym: SymId,
    /// Name in the image (`file#name` for locals).
    pub image_name: String,
    pub addr: u64,
    pub size: u64,
    /// The carried new code.
    pub item: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Closure {
    pub items: Vec<Item>,
    pub sites: Vec<Site>,
    /// Loader hooks (`.livepatch.hooks.*` of the patched objects): the kind and the
    /// carried function, in object and slot order.
    pub hooks: Vec<(xsplice_payload::HookKind, usize)>,
    pub problems: Vec<Problem>,
    index: BTreeMap<(usize, CarryKey), usize>,
}

impl Closure {
    pub fn item_of(&self, pair: usize, key: CarryKey) -> Option<usize> {
        self.index.get(&(pair, key)).copied()
    }
}

struct Walk<'a> {
    pairs: &'a [Pair],
    image: &'a dyn ImageView,
    out: Closure,
    queue: VecDeque<usize>,
    /// New global symbols of all pairs, by name.
    new_globals: BTreeMap<String, (usize, SymId)>,
    /// Relocations of queued items, not yet resolved.
    raw: BTreeMap<usize, Vec<Raw>>,
}

/// The `file#name` / `name` an original symbol has in the image.
pub fn image_name(orig: &ObjectFile, o: SymId) -> String {
    let s = orig.symbol(o);
    match (&s.file, s.global) {
        (Some(f), false) => format!("{f}#{}", s.name),
        _ => s.name.clone(),
    }
}

pub fn build(pairs: &[Pair], image: &dyn ImageView) -> Closure {
    let mut new_globals = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        for (&id, c) in &p.class.symbols {
            let s = p.patched.symbol(id);
            if c.state == State::New && s.global {
                if let Some((j, _)) = new_globals.insert(s.name.clone(), (i, id)) {
                    problems.push(Problem::new(
                        ProblemKind::DuplicateSymbol,
                        &p.name,
                        &s.name,
                        format!("new global also defined in {}", pairs[j].name),
                    ));
                }
            }
        }
    }
    let mut w = Walk {
        pairs,
        image,
        out: Closure {
            problems,
            ..Closure::default()
        },
        queue: VecDeque::new(),
        new_globals,
        raw: BTreeMap::new(),
    };
    for (i, p) in pairs.iter().enumerate() {
        for (&id, c) in &p.class.symbols {
            let s = p.patched.symbol(id);
            if s.kind != SymKind::Func || c.state == State::Same {
                continue;
            }
            if s.section.is_some_and(|x| p.patched.section(x).is_init()) {
                continue; // refused elsewhere
            }
            let why = match c.state {
                State::New => "new function".to_string(),
                _ => format!("changed function: {}", c.reason),
            };
            let item = w.carry(i, CarryKey::Sym(id), &why);
            if c.state == State::Changed && clone_of(&s.name).is_none() {
                if let Some(item) = item {
                    w.site(i, id, item);
                }
            }
        }
    }
    w.hooks();
    while let Some(item) = w.queue.pop_front() {
        w.resolve_item(item);
    }
    w.unknown_tables();
    w.out
}

impl Walk<'_> {
    /// The functions the patched objects' hook sections point at, carried, with
    /// the kind of hook each slot is.
    fn hooks(&mut self) {
        for (i, p) in self.pairs.iter().enumerate() {
            let obj = &p.patched;
            for s in &obj.sections {
                if p.p_lay.roles.get(&s.index) != Some(&crate::special::Role::Hooks) {
                    continue;
                }
                let Some(kind) = xsplice_payload::livepatch::layout::hook_kind(&s.name) else {
                    self.problem(
                        i,
                        ProblemKind::SpecialSection,
                        &s.name,
                        "not one of Xen's hook sections (load, unload, preapply, apply, postapply, prerevert, revert, postrevert)".into(),
                        None,
                    );
                    continue;
                };
                let mut relocs = s.relocs.clone();
                relocs.sort_by_key(|r| r.offset);
                for r in relocs {
                    let target = obj
                        .resolve(r.target, r.addend)
                        .and_then(|(sec, pos)| obj.symbol_at(sec, u64::try_from(pos).ok()?))
                        .filter(|&id| obj.symbol(id).kind == SymKind::Func);
                    let Some(id) = target else {
                        self.problem(
                            i,
                            ProblemKind::SpecialSection,
                            &format!("{}+{:#x}", s.name, r.offset),
                            "a hook must point at a function of this object".into(),
                            None,
                        );
                        continue;
                    };
                    let name = obj.symbol(id).name.clone();
                    if let Some(item) =
                        self.carry(i, CarryKey::Sym(id), &format!("{} hook", s.name))
                    {
                        self.out.hooks.push((kind, item));
                    } else {
                        let loc = p.p_dbg.loc(&name);
                        self.problem(
                            i,
                            ProblemKind::SpecialSection,
                            &name,
                            format!("hook function of {} cannot be carried", s.name),
                            loc,
                        );
                    }
                }
            }
        }
    }

    /// Allocated sections the special section table does not describe but that
    /// point at carried code: their entries cannot be carried, and the new code
    /// would run without them.
    fn unknown_tables(&mut self) {
        for (i, p) in self.pairs.iter().enumerate() {
            let obj = &p.patched;
            for s in &obj.sections {
                let alloc = s.flags & u64::from(object::elf::SHF_ALLOC) != 0;
                if s.class != SectionClass::Other
                    || !alloc
                    || s.is_init()
                    || p.p_lay.roles.contains_key(&s.index)
                {
                    continue;
                }
                let mut hit: Vec<String> = Vec::new();
                for r in &s.relocs {
                    let Some((sec, pos)) = obj.resolve(r.target, r.addend) else {
                        continue;
                    };
                    let Some(id) = u64::try_from(pos)
                        .ok()
                        .and_then(|pos| obj.symbol_at(sec, pos))
                    else {
                        continue;
                    };
                    let f = obj.symbol(id);
                    if f.kind == SymKind::Func
                        && self.out.item_of(i, CarryKey::Sym(id)).is_some()
                        && !hit.contains(&f.name)
                    {
                        hit.push(f.name.clone());
                    }
                }
                if !hit.is_empty() {
                    // The section has no source line of its own: point at the
                    // carried code it describes.
                    let loc = hit.iter().find_map(|f| p.p_dbg.loc(f));
                    let p = Problem::new(
                        ProblemKind::UnknownSection,
                        &self.pairs[i].name,
                        &s.name,
                        format!(
                            "describes carried code ({}) but is not in the special section table: the new code would run without its entries (add the entry layout to carry them)",
                            hit.join(", ")
                        ),
                    )
                    .at(loc);
                    if !self.out.problems.contains(&p) {
                        self.out.problems.push(p);
                    }
                }
            }
        }
    }

    fn problem(
        &mut self,
        pair: usize,
        kind: ProblemKind,
        subject: &str,
        msg: String,
        loc: Option<String>,
    ) {
        let p = Problem::new(kind, &self.pairs[pair].name, subject, msg).at(loc);
        if !self.out.problems.contains(&p) {
            self.out.problems.push(p);
        }
    }

    fn carry(&mut self, pair: usize, key: CarryKey, why: &str) -> Option<usize> {
        if let Some(i) = self.out.item_of(pair, key) {
            return Some(i);
        }
        let p = &self.pairs[pair];
        let obj = &p.patched;
        let plain = |relocs: Vec<Reloc>| -> Vec<Raw> {
            relocs.into_iter().map(|r| Raw { r, extra: 0 }).collect()
        };
        let (name, sec, data, size, relocs, sym_kind, global) = match key {
            CarryKey::Sym(id) => {
                let s = obj.symbol(id);
                let sec = s.section?;
                let Some(data) = obj.symbol_bytes(id) else {
                    let loc = p.p_dbg.loc(&s.name);
                    self.problem(
                        pair,
                        ProblemKind::Unsupported,
                        &s.name,
                        "symbol extends past its section".into(),
                        loc,
                    );
                    return None;
                };
                let state = p.class.state(id);
                (
                    s.name.clone(),
                    sec,
                    data,
                    s.size,
                    plain(obj.symbol_relocs(id)),
                    Some(s.kind),
                    s.global && state == Some(State::New),
                )
            }
            CarryKey::Sec(sec) => {
                let s = obj.section(sec);
                let data = if s.sh_type == object::elf::SHT_NOBITS {
                    vec![0; s.size as usize]
                } else {
                    s.data.clone()
                };
                (
                    s.name.clone(),
                    sec,
                    data,
                    s.size,
                    plain(s.relocs.clone()),
                    None,
                    false,
                )
            }
            CarryKey::Entry { sec, offset } => {
                let got = self.carry_entry(pair, sec, offset, why);
                if got.is_none() {
                    let name = format!("{}+{offset:#x}", obj.section(sec).name);
                    self.problem(
                        pair,
                        ProblemKind::SpecialSection,
                        &name,
                        format!("entry needed ({why}) cannot be read"),
                        None,
                    );
                }
                return got;
            }
            CarryKey::Piece { sec, start } => {
                let got = self.carry_piece(pair, sec, start, why);
                if got.is_none() {
                    let name = format!("{}+{start:#x}", obj.section(sec).name);
                    self.problem(
                        pair,
                        ProblemKind::SpecialSection,
                        &name,
                        format!("code needed ({why}) cannot be read"),
                        None,
                    );
                }
                return got;
            }
        };
        let section = obj.section(sec);
        if let (CarryKey::Sym(id), SectionClass::Text) = (key, section.class) {
            let me = obj.symbol(id);
            let others = obj.symbols_in(sec).iter().any(|&o| {
                let s = obj.symbol(o);
                s.kind == SymKind::Func && (s.value, s.size) != (me.value, me.size)
            });
            if others {
                let loc = p.p_dbg.loc(&name);
                self.problem(
                    pair,
                    ProblemKind::Unsupported,
                    &name,
                    format!(
                        "{} holds several functions (compiled without -ffunction-sections?): calls between them carry no relocation, so the function cannot be moved",
                        section.name
                    ),
                    loc,
                );
                return None;
            }
        }
        let kind = match section.class {
            SectionClass::Text => ContentKind::Text,
            SectionClass::ReadOnly | SectionClass::Strings => ContentKind::ReadOnly,
            SectionClass::Data => ContentKind::Data,
            SectionClass::Bss => ContentKind::Bss,
            _ => {
                let loc = match key {
                    CarryKey::Sym(_) => p.p_dbg.loc(&name),
                    _ => None,
                };
                self.problem(
                    pair,
                    ProblemKind::UnknownSection,
                    &name,
                    format!(
                        "needed ({why}) but its section {} is not one the tool can carry (text, read-only data, data or bss)",
                        section.name
                    ),
                    loc,
                );
                return None;
            }
        };
        let index = self.push(
            pair,
            key,
            Item {
                pair,
                key,
                name,
                sym_kind,
                global,
                kind,
                align: section.align,
                data: if kind == ContentKind::Bss {
                    Vec::new()
                } else {
                    data
                },
                size,
                relocs: Vec::new(),
                why: why.to_string(),
                group: None,
                order: 0,
                about: None,
            },
            relocs,
        );
        if let (CarryKey::Sym(id), ContentKind::Text) = (key, kind) {
            self.carry_entries_of(pair, id);
        }
        Some(index)
    }

    fn push(&mut self, pair: usize, key: CarryKey, item: Item, raw: Vec<Raw>) -> usize {
        let index = self.out.items.len();
        self.out.items.push(item);
        self.out.index.insert((pair, key), index);
        self.raw.insert(index, raw);
        self.queue.push_back(index);
        index
    }

    /// Carried code takes the special-section entries that describe it.
    fn carry_entries_of(&mut self, pair: usize, id: SymId) {
        let p = &self.pairs[pair];
        let wanted: Vec<(SecId, u64, String, bool)> = p
            .p_lay
            .entries_of(id)
            .map(|(t, e)| (t.sec, e.offset, t.name.clone(), t.spec.loader))
            .collect();
        let func = p.patched.symbol(id).name.clone();
        for (sec, offset, table, loader) in wanted {
            if !loader {
                let loc = self.pairs[pair].p_dbg.loc(&func);
                self.problem(
                    pair,
                    ProblemKind::SpecialSection,
                    &func,
                    format!("carried code has {table} entries, which the loader does not register for a payload"),
                    loc,
                );
                continue;
            }
            self.carry(
                pair,
                CarryKey::Entry { sec, offset },
                &format!("{table} entry of carried {func}"),
            );
        }
    }

    fn carry_entry(&mut self, pair: usize, sec: SecId, offset: u64, why: &str) -> Option<usize> {
        let p = &self.pairs[pair];
        let table = p.p_lay.table_of(sec)?;
        let entry = table.entries.iter().find(|e| e.offset == offset)?;
        let section = p.patched.section(sec);
        let size = table.spec.size;
        let data = section
            .data
            .get(offset as usize..(offset + size) as usize)?
            .to_vec();
        let raw = entry
            .relocs
            .iter()
            .map(|er| Raw {
                r: Reloc {
                    addend: er.place(),
                    adjust: 0,
                    ..er.reloc
                },
                extra: er.bias.wrapping_add(er.line_bits),
            })
            .collect();
        let key = CarryKey::Entry { sec, offset };
        let item = Item {
            pair,
            key,
            name: format!("{}+{offset:#x}", table.name),
            sym_kind: None,
            global: false,
            kind: ContentKind::ReadOnly,
            align: section.align,
            data,
            size,
            relocs: Vec::new(),
            why: why.to_string(),
            group: Some(table.name.clone()),
            order: offset,
            about: entry.owner.map(|o| p.patched.symbol(o).name.clone()),
        };
        Some(self.push(pair, key, item, raw))
    }

    fn carry_piece(&mut self, pair: usize, sec: SecId, start: u64, why: &str) -> Option<usize> {
        let p = &self.pairs[pair];
        let obj = &p.patched;
        let (start, end) = p.p_lay.piece(obj, sec, start as i64)?;
        let section = obj.section(sec);
        let data = section.data.get(start as usize..end as usize)?.to_vec();
        let raw = section
            .relocs
            .iter()
            .filter(|r| r.offset >= start && r.offset < end)
            .map(|r| Raw {
                r: Reloc {
                    offset: r.offset - start,
                    ..*r
                },
                extra: 0,
            })
            .collect();
        let exec = section.flags & u64::from(object::elf::SHF_EXECINSTR) != 0;
        let key = CarryKey::Piece { sec, start };
        let item = Item {
            pair,
            key,
            name: format!("{}+{start:#x}", section.name),
            sym_kind: None,
            global: false,
            kind: if exec {
                ContentKind::Text
            } else {
                ContentKind::ReadOnly
            },
            align: section.align,
            data,
            size: end - start,
            relocs: Vec::new(),
            why: why.to_string(),
            group: Some(section.name.clone()),
            order: start,
            about: None,
        };
        Some(self.push(pair, key, item, raw))
    }

    fn site(&mut self, pair: usize, id: SymId, item: usize) {
        let p = &self.pairs[pair];
        let Some(&o) = p.corr.p2o.get(&id) else {
            return;
        };
        let name = image_name(&p.orig, o);
        let loc = p.p_dbg.loc(&p.patched.symbol(id).name);
        match crate::image::find(self.image, &name) {
            Lookup::Found(sym) => {
                let name = sym.qualified.clone();
                let arch = self.image.machine().arch();
                let head = self.image.read(sym.addr, sym.size.min(16)).map(<[u8]>::to_vec).or_else(|| p.orig.symbol_bytes(o));
                let pad = head.as_deref().map_or(0, |h| arch.entry_landing_pad(h));
                let need = (arch.trampoline_len() + pad) as u64;
                if sym.size < need {
                    let why = if pad > 0 { format!(" ({pad}-byte landing pad + {}-byte jump)", arch.trampoline_len()) } else { String::new() };
                    self.problem(
                        pair,
                        ProblemKind::TooSmall,
                        &name,
                        format!("changed function is {} bytes in the image, the trampoline needs {need}{why}", sym.size),
                        loc,
                    );
                } else if u32::try_from(sym.size).is_err() {
                    self.problem(pair, ProblemKind::Unsupported, &name, format!("function size {:#x} does not fit 32 bits", sym.size), loc);
                }
                self.out.sites.push(Site { pair, sym: id, image_name: name, addr: sym.addr, size: sym.size, item });
            }
            Lookup::Missing => self.problem(
                pair,
                ProblemKind::MissingSymbol,
                &name,
                "changed function is not in the image's symbol table (inlined everywhere or discarded by the linker?): nothing to patch".to_string(),
                loc,
            ),
            Lookup::Ambiguous(c) => self.problem(
                pair,
                ProblemKind::AmbiguousSymbol,
                &name,
                format!("changed function has several candidates in the image: {}", c.join(", ")),
                loc,
            ),
        }
    }

    fn resolve_item(&mut self, item: usize) {
        let pair = self.out.items[item].pair;
        let raw = self.raw.remove(&item).unwrap_or_default();
        let mut resolved = Vec::with_capacity(raw.len());
        for x in raw {
            let got = self.resolve(pair, item, &x.r);
            if let Some((dest, addend)) = got {
                resolved.push(Resolved {
                    offset: x.r.offset,
                    r_type: x.r.r_type,
                    dest,
                    addend: addend.wrapping_add(x.extra),
                });
            }
        }
        self.out.items[item].relocs = resolved;
    }

    fn where_(&self, item: usize, r: &Reloc) -> String {
        format!("{}+{:#x}", self.out.items[item].name, r.offset)
    }

    fn resolve(&mut self, pair: usize, item: usize, r: &Reloc) -> Option<(Dest, i64)> {
        let p = &self.pairs[pair];
        let obj = &p.patched;
        let arch = obj.machine.arch();
        if arch.reloc_info(r.r_type).is_none() {
            let at = self.where_(item, r);
            let subject = self.out.items[item].name.clone();
            self.problem(
                pair,
                ProblemKind::UnsupportedReloc,
                &subject,
                format!("relocation {} at {at} is not allowed in a payload (compile without -fno-plt/-fpic GOT access, e.g. with hidden visibility)", arch.reloc_type_name(r.r_type)),
                p.p_dbg.loc(&subject),
            );
            return None;
        }
        match r.target {
            Target::Section(sec) => self.section_dest(pair, item, sec, r.addend, r),
            Target::Symbol(id) => self.symbol_dest(pair, item, id, r.addend, r),
        }
    }

    fn symbol_dest(
        &mut self,
        pair: usize,
        item: usize,
        id: SymId,
        addend: i64,
        r: &Reloc,
    ) -> Option<(Dest, i64)> {
        let p = &self.pairs[pair];
        let s = p.patched.symbol(id);
        let Some(sec) = s.section else {
            if let Some(&(q, qid)) = self.new_globals.get(&s.name) {
                let other = &self.pairs[q].patched;
                let class = other.symbol(qid).section.map(|x| other.section(x).class);
                let moved_data = matches!(class, Some(SectionClass::Data | SectionClass::Bss))
                    && matches!(self.image.find(&s.name), Lookup::Found(_));
                if !moved_data {
                    let it = self.carry(q, CarryKey::Sym(qid), "new global used by new code")?;
                    return Some((Dest::Item(it), addend));
                }
            }
            return self.image_ref(pair, &s.name.clone(), addend, None);
        };
        let class = p.patched.section(sec).class;
        if class == SectionClass::Strings || matches!(s.kind, SymKind::NoType | SymKind::Section) {
            return self.section_dest(pair, item, sec, (s.value as i64).wrapping_add(addend), r);
        }
        if is_special_static(&s.name) {
            let it = self.carry(pair, CarryKey::Sym(id), "compiler-made static, copied")?;
            return Some((Dest::Item(it), addend));
        }
        match p.class.state(id) {
            Some(State::New) => {
                // Writable data moved here from another file: one copy of the state,
                // the running one.
                if s.global && matches!(class, SectionClass::Data | SectionClass::Bss) {
                    let name = s.name.clone();
                    if let Lookup::Found(_) = self.image.find(&name) {
                        return Some((Dest::Image(name), addend));
                    }
                }
                let it = self.carry(pair, CarryKey::Sym(id), "new, used by new code")?;
                Some((Dest::Item(it), addend))
            }
            Some(State::Changed) => {
                let it = self.carry(pair, CarryKey::Sym(id), "changed, used by new code")?;
                Some((Dest::Item(it), addend))
            }
            Some(State::Same) => {
                let o = *p.corr.p2o.get(&id)?;
                let name = image_name(&p.orig, o);
                let fallback =
                    matches!(class, SectionClass::Text | SectionClass::ReadOnly).then_some(id);
                self.image_ref(pair, &name, addend, fallback)
            }
            None => {
                let name = s.name.clone();
                let at = self.where_(item, r);
                self.problem(
                    pair,
                    ProblemKind::Unsupported,
                    &name,
                    format!(
                        "referenced at {at} from new code, in a section the tool does not carry"
                    ),
                    None,
                );
                None
            }
        }
    }

    fn section_dest(
        &mut self,
        pair: usize,
        item: usize,
        sec: SecId,
        pos: i64,
        r: &Reloc,
    ) -> Option<(Dest, i64)> {
        let p = &self.pairs[pair];
        let obj = &p.patched;
        let section = obj.section(sec);
        let probe = pos.wrapping_add(r.adjust);
        if p.p_lay.is_satellite(sec) {
            let Some((start, _)) = p.p_lay.piece(obj, sec, probe) else {
                let at = self.where_(item, r);
                let name = section.name.clone();
                self.problem(
                    pair,
                    ProblemKind::SpecialSection,
                    &name,
                    format!("{at} refers outside the section"),
                    None,
                );
                return None;
            };
            let what = format!("code reached from {}", self.out.items[item].name);
            let it = self.carry(pair, CarryKey::Piece { sec, start }, &what)?;
            return Some((Dest::Item(it), pos - start as i64));
        }
        if section.class == SectionClass::Strings {
            if let Some((start, s)) = string_at(&section.data, probe) {
                return Some((Dest::Str(s.to_vec()), pos - start as i64));
            }
        }
        if let Some(id) = (probe >= 0)
            .then(|| obj.symbol_at(sec, probe as u64))
            .flatten()
        {
            let v = obj.symbol(id).value as i64;
            return self.symbol_dest(pair, item, id, pos - v, r);
        }
        if matches!(
            section.class,
            SectionClass::ReadOnly | SectionClass::Strings
        ) {
            let it = self.carry(
                pair,
                CarryKey::Sec(sec),
                "read-only data used by new code (jump table, constants)",
            )?;
            return Some((Dest::Item(it), pos));
        }
        let at = self.where_(item, r);
        let name = section.name.clone();
        self.problem(
            pair,
            ProblemKind::Unsupported,
            &name,
            format!("new code at {at} refers into this section where no symbol is defined"),
            None,
        );
        None
    }

    /// A reference to the image by name; `carry_instead` is carried when the image lacks it.
    fn image_ref(
        &mut self,
        pair: usize,
        name: &str,
        addend: i64,
        carry_instead: Option<SymId>,
    ) -> Option<(Dest, i64)> {
        match crate::image::find(self.image, name) {
            Lookup::Found(sym) => Some((Dest::Image(sym.qualified), addend)),
            Lookup::Missing => {
                if let Some(id) = carry_instead {
                    let it = self.carry(
                        pair,
                        CarryKey::Sym(id),
                        "unchanged but not in the image (discarded by the linker?), copied",
                    )?;
                    return Some((Dest::Item(it), addend));
                }
                self.problem(
                    pair,
                    ProblemKind::MissingSymbol,
                    name,
                    "used by new code but not in the image nor in the payload".to_string(),
                    None,
                );
                None
            }
            Lookup::Ambiguous(c) => {
                self.problem(
                    pair,
                    ProblemKind::AmbiguousSymbol,
                    name,
                    format!(
                        "used by new code but ambiguous in the image: {}",
                        c.join(", ")
                    ),
                    None,
                );
                None
            }
        }
    }
}
