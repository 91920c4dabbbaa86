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
use crate::keys::{pc_adjust, string_at};
use crate::names::{clone_of, is_special_static};
use crate::object::{ObjectFile, Reloc, SecId, SectionClass, SymId, SymKind, Target};
use crate::problem::{Problem, ProblemKind};

/// Something carried from a patched object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CarryKey {
    Sym(SymId),
    /// A whole anonymous read-only section.
    Sec(SecId),
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
    raw: BTreeMap<usize, Vec<Reloc>>,
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
    while let Some(item) = w.queue.pop_front() {
        w.resolve_item(item);
    }
    w.out
}

impl Walk<'_> {
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
        let obj = &self.pairs[pair].patched;
        let (name, sec, data, size, relocs, sym_kind, global) = match key {
            CarryKey::Sym(id) => {
                let s = obj.symbol(id);
                let sec = s.section?;
                let Some(data) = obj.symbol_bytes(id) else {
                    self.problem(
                        pair,
                        ProblemKind::Unsupported,
                        &s.name,
                        "symbol extends past its section".into(),
                        None,
                    );
                    return None;
                };
                let state = self.pairs[pair].class.state(id);
                (
                    s.name.clone(),
                    sec,
                    data,
                    s.size,
                    obj.symbol_relocs(id),
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
                    s.relocs.clone(),
                    None,
                    false,
                )
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
                self.problem(
                    pair,
                    ProblemKind::Unsupported,
                    &name,
                    format!(
                        "{} holds several functions (compiled without -ffunction-sections?): calls between them carry no relocation, so the function cannot be moved",
                        section.name
                    ),
                    None,
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
                self.problem(
                    pair,
                    ProblemKind::UnknownSection,
                    &name,
                    format!(
                        "new code needs it but its section {} cannot be carried",
                        section.name
                    ),
                    None,
                );
                return None;
            }
        };
        let index = self.out.items.len();
        self.out.items.push(Item {
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
        });
        self.out.index.insert((pair, key), index);
        self.raw.insert(index, relocs);
        self.queue.push_back(index);
        Some(index)
    }

    fn site(&mut self, pair: usize, id: SymId, item: usize) {
        let p = &self.pairs[pair];
        let Some(&o) = p.corr.p2o.get(&id) else {
            return;
        };
        let name = image_name(&p.orig, o);
        let loc = p.p_dbg.loc(&p.patched.symbol(id).name);
        match self.image.find(&name) {
            Lookup::Found(sym) => {
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
        for r in raw {
            if let Some((dest, addend)) = self.resolve(pair, item, &r) {
                resolved.push(Resolved {
                    offset: r.offset,
                    r_type: r.r_type,
                    dest,
                    addend,
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
        let obj = &self.pairs[pair].patched;
        let section = obj.section(sec);
        let probe = pos.wrapping_add(pc_adjust(obj, r.r_type));
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
        match self.image.find(name) {
            Lookup::Found(_) => Some((Dest::Image(name.to_string()), addend)),
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
