//! Special sections of one object cut into what the diff handles one by one:
//! entry tables into their fixed-size entries (each with the function it is
//! about, its *owner*), satellite code sections into pieces at the offsets other
//! sections reference. Built once per object from the [`SpecialTable`].

use std::collections::{BTreeMap, BTreeSet};

use crate::object::{ObjectFile, Reloc, SecId, SectionClass, SymId, SymKind};
use crate::problem::{Problem, ProblemKind};
use crate::special::{EntrySpec, LinePart, Role, SpecialTable};

/// A relocation of an entry, offset relative to the entry's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryReloc {
    pub reloc: Reloc,
    /// The addend without the line-number bits stored in it.
    pub addend: i64,
    /// Subtract from `target + addend` to get the place the field is about (the
    /// field's offset for fields measured from the entry's start, else 0).
    pub bias: i64,
    /// `reloc.addend - addend`: the line bits, added back when the entry is carried.
    pub line_bits: i64,
}

impl EntryReloc {
    /// The addend that locates the referenced place (`target + place`).
    pub fn place(&self) -> i64 {
        self.addend.wrapping_sub(self.bias)
    }
}

/// One entry of a table.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Offset in its section.
    pub offset: u64,
    /// The function the entry describes (where its owner field points).
    pub owner: Option<SymId>,
    /// The source line stored in the entry, when the table says where.
    pub line: Option<u64>,
    pub relocs: Vec<EntryReloc>,
}

/// An entry table section.
#[derive(Clone, Debug)]
pub struct Table {
    pub sec: SecId,
    pub name: String,
    pub spec: EntrySpec,
    pub entries: Vec<Entry>,
}

/// The special sections of one object.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub tables: Vec<Table>,
    /// Satellite sections: sorted start offsets of their pieces (the first is 0).
    pub pieces: BTreeMap<SecId, Vec<u64>>,
    /// Role of every section the table knows.
    pub roles: BTreeMap<SecId, Role>,
    /// Entries per owner: (table index, entry index).
    pub by_owner: BTreeMap<SymId, Vec<(usize, usize)>>,
    /// Malformed tables (size not a multiple of the entry size...).
    pub problems: Vec<Problem>,
}

impl Layout {
    pub fn build(obj: &ObjectFile, table: &SpecialTable) -> Layout {
        let mut out = Layout::default();
        for s in &obj.sections {
            if s.class == SectionClass::Meta || s.class == SectionClass::Debug {
                continue;
            }
            if let Some(role) = table.role(&s.name) {
                out.roles.insert(s.index, role.clone());
            }
        }
        let satellites: BTreeSet<SecId> = out
            .roles
            .iter()
            .filter(|(_, r)| **r == Role::Satellite)
            .map(|(&s, _)| s)
            .collect();
        let roles: Vec<(SecId, Role)> = out.roles.iter().map(|(&s, r)| (s, r.clone())).collect();
        for (sec, role) in roles {
            if let Role::Entries(spec) = role {
                if let Some(t) = split(obj, sec, &spec, &mut out.problems) {
                    out.tables.push(t);
                }
            }
        }
        // Piece boundaries: every place in a satellite referenced from another section.
        for &sat in &satellites {
            out.pieces.insert(sat, vec![0]);
        }
        for t in &out.tables {
            for e in &t.entries {
                for r in &e.relocs {
                    if let Some((sec, pos)) = obj.resolve(r.reloc.target, r.place()) {
                        add_piece(&mut out.pieces, sec, pos, obj);
                    }
                }
            }
        }
        let in_table: BTreeSet<SecId> = out.tables.iter().map(|t| t.sec).collect();
        for s in &obj.sections {
            if satellites.contains(&s.index) || in_table.contains(&s.index) {
                continue;
            }
            for r in &s.relocs {
                if let Some((sec, pos)) = obj.resolve(r.target, r.addend.wrapping_add(r.adjust)) {
                    add_piece(&mut out.pieces, sec, pos, obj);
                }
            }
        }
        // Satellite code whose length an entry stores stays in one piece.
        for t in &out.tables {
            let data = &obj.section(t.sec).data;
            for l in &t.spec.lengths {
                for e in &t.entries {
                    let Some(r) = e.relocs.iter().find(|r| r.reloc.offset == l.field) else {
                        continue;
                    };
                    let Some((sec, pos)) = obj.resolve(r.reloc.target, r.place()) else {
                        continue;
                    };
                    let at = (e.offset + l.offset) as usize;
                    let Some(b) = data.get(at..at + l.width as usize) else {
                        continue;
                    };
                    let len = b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x));
                    if let (Some(v), Ok(pos)) = (out.pieces.get_mut(&sec), u64::try_from(pos)) {
                        v.retain(|&s| s <= pos || s >= pos.saturating_add(len));
                    }
                }
            }
        }
        for (ti, t) in out.tables.iter().enumerate() {
            for (ei, e) in t.entries.iter().enumerate() {
                if let Some(o) = e.owner {
                    out.by_owner.entry(o).or_default().push((ti, ei));
                }
            }
        }
        out
    }

    /// The piece of satellite `sec` containing `pos`: `[start, end)`.
    pub fn piece(&self, obj: &ObjectFile, sec: SecId, pos: i64) -> Option<(u64, u64)> {
        let starts = self.pieces.get(&sec)?;
        let size = obj.section(sec).size;
        let pos = u64::try_from(pos).ok().filter(|&p| p <= size)?;
        if pos == size {
            // A zero-length piece at the end (an empty alternative replacement).
            return Some((size, size));
        }
        let i = starts.partition_point(|&s| s <= pos).checked_sub(1)?;
        let end = starts.get(i + 1).copied().unwrap_or(size);
        Some((starts[i], end))
    }

    pub fn is_satellite(&self, sec: SecId) -> bool {
        self.pieces.contains_key(&sec)
    }

    pub fn table_of(&self, sec: SecId) -> Option<&Table> {
        self.tables.iter().find(|t| t.sec == sec)
    }

    /// The entries describing `owner`, as (table, entry).
    pub fn entries_of(&self, owner: SymId) -> impl Iterator<Item = (&Table, &Entry)> {
        self.by_owner
            .get(&owner)
            .into_iter()
            .flatten()
            .map(|&(t, e)| (&self.tables[t], &self.tables[t].entries[e]))
    }
}

fn add_piece(pieces: &mut BTreeMap<SecId, Vec<u64>>, sec: SecId, pos: i64, obj: &ObjectFile) {
    let Some(v) = pieces.get_mut(&sec) else {
        return;
    };
    let Ok(pos) = u64::try_from(pos) else { return };
    if pos >= obj.section(sec).size {
        return;
    }
    if let Err(i) = v.binary_search(&pos) {
        v.insert(i, pos);
    }
}

/// Cuts one entry table into entries; `None` (with a problem) when its size does
/// not fit the table's entry size.
fn split(
    obj: &ObjectFile,
    sec: SecId,
    spec: &EntrySpec,
    problems: &mut Vec<Problem>,
) -> Option<Table> {
    let s = obj.section(sec);
    if s.data.len() as u64 != s.size {
        problems.push(Problem::new(
            ProblemKind::SpecialSection,
            &obj.name,
            &s.name,
            "an entry table without file bytes (NOBITS): the special section table does not describe this build",
        ));
        return None;
    }
    if !s.size.is_multiple_of(spec.size) {
        problems.push(Problem::new(
            ProblemKind::SpecialSection,
            &obj.name,
            &s.name,
            format!(
                "{} bytes is not a whole number of {}-byte entries: the special section table does not describe this build (override it)",
                s.size, spec.size
            ),
        ));
        return None;
    }
    let mut entries: Vec<Entry> = (0..s.size / spec.size)
        .map(|i| Entry {
            offset: i * spec.size,
            owner: None,
            line: None,
            relocs: Vec::new(),
        })
        .collect();
    for r in &s.relocs {
        let i = (r.offset / spec.size) as usize;
        let Some(e) = entries.get_mut(i) else {
            continue;
        };
        let field = r.offset - e.offset;
        let bias = if spec.entry_relative.contains(&field) {
            field as i64
        } else {
            0
        };
        e.relocs.push(EntryReloc {
            reloc: Reloc {
                offset: field,
                adjust: 0,
                ..*r
            },
            addend: r.addend,
            bias,
            line_bits: 0,
        });
    }
    for e in &mut entries {
        e.relocs.sort_by_key(|r| r.reloc.offset);
        let bytes = s
            .data
            .get(e.offset as usize..(e.offset + spec.size) as usize)
            .unwrap_or(&[]);
        let mut line: Option<u64> = None;
        for part in &spec.line {
            let field = match part {
                LinePart::Addend { field, .. } => Some(*field),
                LinePart::Bytes { .. } => None,
            };
            let r = field.and_then(|f| e.relocs.iter_mut().find(|r| r.reloc.offset == f));
            let addend = r.as_ref().map(|r| r.addend);
            if let Some((bits, stripped)) = part.bits(addend, bytes) {
                line = Some(line.unwrap_or(0) | bits);
                if let (Some(r), Some(a)) = (r, stripped) {
                    r.line_bits = r.reloc.addend.wrapping_sub(a);
                    r.addend = a;
                }
            }
        }
        e.line = line;
        e.owner = e
            .relocs
            .iter()
            .find(|r| r.reloc.offset == spec.owner)
            .and_then(|r| obj.resolve(r.reloc.target, r.place()))
            .and_then(|(sec, pos)| u64::try_from(pos).ok().map(|p| (sec, p)))
            .and_then(|(sec, pos)| obj.symbol_at(sec, pos))
            .filter(|&id| obj.symbol(id).kind == SymKind::Func);
    }
    Some(Table {
        sec,
        name: s.name.clone(),
        spec: spec.clone(),
        entries,
    })
}
