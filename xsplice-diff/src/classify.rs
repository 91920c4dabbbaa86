//! Phase 3: SAME / CHANGED / NEW for every function and data object of the
//! patched object, with the reason.
//!
//! Two paired symbols are the same when their bytes and their keyed relocations are
//! equal (see [`crate::keys`]). A difference made only of integer fields that all
//! moved by the same amount as the function's declaration line (from DWARF) is a
//! line-number-only change: the symbol stays SAME and the recognition is recorded.
//! Changed compiler clones and changed function-local read-only data make every
//! function that references them CHANGED (they are carried, not patched in place).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::correlate::{Correlation, pairable, referrers};
use crate::dwarf::{DebugInfo, SrcLoc};
use crate::entries::Layout;
use crate::keys::{FieldDelta, Side, compare, describe};
use crate::names::clone_of;
use crate::object::{ObjectFile, SectionClass, SymId, SymKind};
use crate::problem::{Problem, ProblemKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum State {
    Same,
    Changed,
    New,
}

/// A recognised line-number-only change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineOnly {
    /// Lines the symbol moved by.
    pub delta: i64,
    pub fields: Vec<FieldDelta>,
}

#[derive(Clone, Debug)]
pub struct SymClass {
    pub state: State,
    pub reason: String,
    pub line_only: Option<LineOnly>,
}

/// The classification of one object pair (keys are patched symbol ids).
#[derive(Clone, Debug, Default)]
pub struct Classification {
    pub symbols: BTreeMap<SymId, SymClass>,
    /// Original symbols with no patched counterpart.
    pub removed: Vec<SymId>,
    /// Every line shift seen between paired functions (for non-function data).
    pub shifts: BTreeSet<i64>,
    pub problems: Vec<Problem>,
}

impl Classification {
    pub fn state(&self, id: SymId) -> Option<State> {
        self.symbols.get(&id).map(|c| c.state)
    }
}

/// The two sides of a pair, keyed through the correlation.
pub fn sides<'a>(
    orig: &'a ObjectFile,
    patched: &'a ObjectFile,
    corr: &Correlation,
    layouts: (&'a Layout, &'a Layout),
) -> (Side<'a>, Side<'a>) {
    let o = Side {
        layout: Some(layouts.0),
        obj: orig,
        paired: corr
            .o2p
            .keys()
            .map(|&o| (o, orig.symbol(o).name.clone()))
            .collect(),
        patched: false,
    };
    let p = Side {
        layout: Some(layouts.1),
        obj: patched,
        paired: corr
            .p2o
            .iter()
            .map(|(&p, &o)| (p, orig.symbol(o).name.clone()))
            .collect(),
        patched: true,
    };
    (o, p)
}

/// Both builds of one object pair, as far as classification needs them.
pub struct Input<'a> {
    pub orig: &'a ObjectFile,
    pub patched: &'a ObjectFile,
    pub corr: &'a Correlation,
    pub o_dbg: &'a DebugInfo,
    pub p_dbg: &'a DebugInfo,
    pub o_lay: &'a Layout,
    pub p_lay: &'a Layout,
}

pub fn classify(input: &Input<'_>) -> Classification {
    let Input {
        orig,
        patched,
        corr,
        o_dbg,
        p_dbg,
        o_lay,
        p_lay,
    } = *input;
    let (o_side, p_side) = sides(orig, patched, corr, (o_lay, p_lay));
    let mut out = Classification::default();
    let own_shift = |o: SymId, p: SymId| -> Option<i64> {
        let a = o_dbg.function_loc(&orig.symbol(o).name)?;
        let b = p_dbg.function_loc(&patched.symbol(p).name)?;
        (a.file == b.file).then(|| b.line as i64 - a.line as i64)
    };
    for (&p, &o) in &corr.p2o {
        if patched.symbol(p).kind == SymKind::Func {
            if let Some(d) = own_shift(o, p).filter(|&d| d != 0) {
                out.shifts.insert(d);
            }
        }
    }

    for p in pairable(patched) {
        let ps = patched.symbol(p);
        let Some(&o) = corr.p2o.get(&p) else {
            let reason = match ps.kind {
                SymKind::Func => "new function (not in the original object)",
                _ => "new data (not in the original object)",
            };
            out.symbols.insert(
                p,
                SymClass {
                    state: State::New,
                    reason: reason.to_string(),
                    line_only: None,
                },
            );
            continue;
        };
        let os = orig.symbol(o);
        let o_class = os.section.map(|s| orig.section(s).class);
        let p_class = ps.section.map(|s| patched.section(s).class);
        let changed = |reason: String| SymClass {
            state: State::Changed,
            reason,
            line_only: None,
        };
        if os.kind != ps.kind {
            out.symbols.insert(
                p,
                changed(format!("symbol type {:?} → {:?}", os.kind, ps.kind)),
            );
            continue;
        }
        let init = |obj: &ObjectFile, s: Option<usize>| s.is_some_and(|s| obj.section(s).is_init());
        if o_class != p_class || init(orig, os.section) != init(patched, ps.section) {
            let name = |obj: &ObjectFile, s: Option<usize>| {
                s.map_or("?".to_string(), |s| obj.section(s).name.clone())
            };
            out.symbols.insert(
                p,
                changed(format!(
                    "moved from {} to {}",
                    name(orig, os.section),
                    name(patched, ps.section)
                )),
            );
            continue;
        }
        let d = compare(
            patched,
            &o_side.symbol_content(o),
            &p_side.symbol_content(p),
        );
        let ed = entries_diff(&o_side, &p_side, o, p);
        if let Some(why) = d.structural.clone().or(ed.structural) {
            out.symbols.insert(p, changed(why));
            continue;
        }
        if d.is_equal() && !ed.lines.is_empty() {
            let first = &ed.lines[0];
            let delta = first.patched - first.orig;
            let uniform = ed.lines.iter().all(|f| f.patched - f.orig == delta);
            let how = if uniform {
                format!("moved by {delta:+}")
            } else {
                "changed".to_string()
            };
            let reason = format!(
                "line-number-only change: {} line number(s) in its {} entries {how}, code identical",
                ed.lines.len(),
                ed.tables.join(", ")
            );
            out.symbols.insert(
                p,
                SymClass {
                    state: State::Same,
                    reason,
                    line_only: Some(LineOnly {
                        delta: if uniform { delta } else { 0 },
                        fields: ed.lines,
                    }),
                },
            );
            continue;
        }
        if d.is_equal() {
            let how = corr
                .how
                .get(&p)
                .map_or(String::new(), |h| format!(" ({h})"));
            out.symbols.insert(
                p,
                SymClass {
                    state: State::Same,
                    reason: format!("identical{how}"),
                    line_only: None,
                },
            );
            continue;
        }
        let allowed: Vec<Shift> = if ps.kind == SymKind::Func {
            function_shifts(o_dbg, p_dbg, &os.name, &ps.name)
        } else {
            out.shifts
                .iter()
                .map(|&delta| Shift {
                    delta,
                    decl: None,
                    what: "code around it".into(),
                })
                .collect()
        };
        if let Some(delta) = line_only_delta(&d.fields, &allowed, o_dbg, p_dbg) {
            let uniform = d.fields.iter().all(|f| f.patched - f.orig == delta);
            let whose: Vec<&str> = allowed
                .iter()
                .filter(|s| d.fields.iter().any(|f| f.patched - f.orig == s.delta))
                .map(|s| s.what.as_str())
                .collect();
            let moved = if uniform {
                format!("moved by {delta:+}")
            } else {
                "moved".to_string()
            };
            let reason = format!(
                "line-number-only change: {} field(s) hold source lines that {moved}, as {} did",
                d.fields.len() + ed.lines.len(),
                whose.join(" / ")
            );
            let mut fields = d.fields;
            fields.extend(ed.lines);
            let line_only = Some(LineOnly { delta, fields });
            out.symbols.insert(
                p,
                SymClass {
                    state: State::Same,
                    reason,
                    line_only,
                },
            );
            continue;
        }
        let f = &d.fields[0];
        let why = if o_dbg.present && p_dbg.present {
            ""
        } else {
            " (without DWARF, line-number-only changes cannot be recognised)"
        };
        let what = if f.what == "addend" {
            "relocation addends"
        } else {
            "bytes"
        };
        out.symbols.insert(
            p,
            changed(format!("{what} differ at +{:#x}{why}", f.offset)),
        );
    }

    cold_parts(patched, &mut out);
    propagate(patched, p_dbg, &mut out);
    out.removed = pairable(orig)
        .into_iter()
        .filter(|o| !corr.o2p.contains_key(o))
        .collect();
    out
}

/// Lines of a source file that moved by `delta`: those at or after `decl` (when
/// known) in its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shift {
    pub delta: i64,
    pub decl: Option<SrcLoc>,
    /// Whose declaration moved (`the function`, `inlined foo`...).
    pub what: String,
}

/// The shifts that can explain line numbers in a function's code: its own
/// declaration's, and those of the functions inlined into it (a `__LINE__` in an
/// inline function of a header moves with the header).
pub fn function_shifts(
    o_dbg: &DebugInfo,
    p_dbg: &DebugInfo,
    o_name: &str,
    p_name: &str,
) -> Vec<Shift> {
    let shift = |a: Option<&SrcLoc>, b: Option<&SrcLoc>, what: String| -> Option<Shift> {
        let (a, b) = (a?, b?);
        let delta = b.line as i64 - a.line as i64;
        (a.file == b.file && delta != 0).then(|| Shift {
            delta,
            decl: Some(a.clone()),
            what,
        })
    };
    let own = o_dbg.function_loc(o_name);
    let mut out: Vec<Shift> = shift(own, p_dbg.function_loc(p_name), "the function".into())
        .into_iter()
        .collect();
    for callee in o_dbg.inlined_into(o_name) {
        let what = format!("inlined {callee}");
        if let Some(s) = shift(o_dbg.function_loc(callee), p_dbg.function_loc(callee), what) {
            if !out.iter().any(|x| x.delta == s.delta && x.decl == s.decl) {
                out.push(s);
            }
        }
    }
    out
}

/// The line shift (of the first field) when every differing field is a source
/// line moved by one of the `allowed` shifts: the old value is a line with code in
/// the original (in the shift's file, at or after its declaration when known), the
/// new one a line with code in the patched build.
pub fn line_only_delta(
    fields: &[FieldDelta],
    allowed: &[Shift],
    o_dbg: &DebugInfo,
    p_dbg: &DebugInfo,
) -> Option<i64> {
    let first = fields.first()?;
    // Fields are any 64-bit values (fuzzed objects): a difference that overflows is
    // no line shift.
    let explained = |f: &FieldDelta| {
        allowed.iter().any(|s| {
            let file = s.decl.as_ref().map(|d| d.file.as_str());
            f.patched.checked_sub(f.orig) == Some(s.delta)
                && s.decl.as_ref().is_none_or(|d| f.orig >= d.line as i64)
                && o_dbg.has_code_line(file, f.orig)
                && p_dbg.has_code_line(file, f.patched)
        })
    };
    let delta = first.patched.checked_sub(first.orig)?;
    fields.iter().all(explained).then_some(delta)
}

/// Symbols whose change is carried by changing the functions that use them.
fn carried_by_users(obj: &ObjectFile, id: SymId) -> Option<&'static str> {
    let s = obj.symbol(id);
    if s.kind == SymKind::Func && clone_of(&s.name).is_some() {
        return Some("compiler clone");
    }
    let class = s.section.map(|x| obj.section(x).class);
    if s.kind == SymKind::Object
        && !s.global
        && matches!(class, Some(SectionClass::ReadOnly | SectionClass::Strings))
    {
        return Some("read-only static");
    }
    None
}

fn propagate(patched: &ObjectFile, p_dbg: &DebugInfo, out: &mut Classification) {
    let users = referrers(patched);
    let mut done: BTreeSet<SymId> = BTreeSet::new();
    loop {
        let pending: Vec<(SymId, &'static str)> = out
            .symbols
            .iter()
            .filter(|(id, c)| c.state != State::Same && !done.contains(id))
            .filter_map(|(&id, _)| carried_by_users(patched, id).map(|what| (id, what)))
            .collect();
        if pending.is_empty() {
            break;
        }
        for (id, what) in pending {
            done.insert(id);
            let name = &patched.symbol(id).name;
            let funcs: Vec<SymId> = users
                .get(&id)
                .map(|u| {
                    u.iter()
                        .copied()
                        .filter(|&u| patched.symbol(u).kind == SymKind::Func)
                        .collect()
                })
                .unwrap_or_default();
            if funcs.is_empty()
                && out.symbols[&id].state == State::Changed
                && what == "compiler clone"
            {
                out.problems.push(Problem::new(
                    ProblemKind::OrphanClone,
                    &patched.name,
                    name,
                    "changed compiler clone is not called by any function of its object, so nothing would reach the new code",
                ).at(p_dbg.loc(name)));
            }
            let data_users: Vec<&str> = users
                .get(&id)
                .map(|u| {
                    u.iter()
                        .filter(|&&u| patched.symbol(u).kind != SymKind::Func)
                        .filter(|&&u| out.symbols.get(&u).is_some_and(|c| c.state != State::New))
                        .map(|&u| patched.symbol(u).name.as_str())
                        .collect()
                })
                .unwrap_or_default();
            if !data_users.is_empty() && out.symbols[&id].state == State::Changed {
                out.problems.push(Problem::new(
                    ProblemKind::ChangedData,
                    &patched.name,
                    name,
                    format!(
                        "changed {what} is referenced by existing data ({}), which would keep pointing at the old copy",
                        data_users.join(", ")
                    ),
                ).at(p_dbg.loc(name)));
            }
            for u in funcs {
                if let Some(c) = out.symbols.get_mut(&u) {
                    if c.state == State::Same {
                        c.state = State::Changed;
                        c.reason = format!("uses changed {what} {name}");
                        c.line_only = None;
                    }
                }
            }
        }
    }
}

/// How the special-section entries of two paired functions differ.
#[derive(Debug, Default)]
pub struct EntriesDiff {
    /// A difference that is not a line number, explained.
    pub structural: Option<String>,
    /// Line numbers stored in entries that differ (`what` = `entry line`, `offset`
    /// = the patched entry's offset in its section).
    pub lines: Vec<FieldDelta>,
    /// Tables with line differences.
    pub tables: Vec<String>,
}

/// Compares the entries describing `o` (original) and `p` (patched), table by
/// table, in section order: bytes outside relocated fields and line numbers,
/// relocations by key.
pub fn entries_diff(o_side: &Side<'_>, p_side: &Side<'_>, o: SymId, p: SymId) -> EntriesDiff {
    let mut out = EntriesDiff::default();
    let (Some(ol), Some(pl)) = (o_side.layout, p_side.layout) else {
        return out;
    };
    let group = |lay: &'_ Layout, id: SymId| {
        let mut m: BTreeMap<String, Vec<crate::entries::Entry>> = BTreeMap::new();
        for (t, e) in lay.entries_of(id) {
            m.entry(t.name.clone()).or_default().push(e.clone());
        }
        m
    };
    let (og, pg) = (group(ol, o), group(pl, p));
    let names: BTreeSet<&String> = og.keys().chain(pg.keys()).collect();
    for name in names {
        let empty = Vec::new();
        let (a, b) = (
            og.get(name).unwrap_or(&empty),
            pg.get(name).unwrap_or(&empty),
        );
        if a.len() != b.len() {
            out.structural = Some(format!("its {name} entries: {} → {}", a.len(), b.len()));
            return out;
        }
        for (k, (ea, eb)) in a.iter().zip(b).enumerate() {
            if let Some(why) = entry_difference(o_side, p_side, name, ea, eb) {
                out.structural = Some(format!("its {name} entry #{k} changed: {why}"));
                return out;
            }
            if ea.line != eb.line {
                if let (Some(x), Some(y)) = (ea.line, eb.line) {
                    out.lines.push(FieldDelta {
                        offset: eb.offset,
                        what: "entry line",
                        orig: x as i64,
                        patched: y as i64,
                    });
                    if !out.tables.contains(name) {
                        out.tables.push(name.clone());
                    }
                }
            }
        }
    }
    out
}

/// Why two entries of table `name` differ, ignoring the stored line number.
pub fn entry_difference(
    o_side: &Side<'_>,
    p_side: &Side<'_>,
    name: &str,
    a: &crate::entries::Entry,
    b: &crate::entries::Entry,
) -> Option<String> {
    let (ol, pl) = (o_side.layout?, p_side.layout?);
    let (ta, tb) = (
        ol.tables.iter().find(|t| t.name == name)?,
        pl.tables.iter().find(|t| t.name == name)?,
    );
    let size = ta.spec.size;
    let bytes =
        |obj: &ObjectFile, t: &crate::entries::Table, e: &crate::entries::Entry| -> Vec<u8> {
            let data = &obj.section(t.sec).data;
            let mut v = data
                .get(e.offset as usize..(e.offset + size) as usize)
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            let arch = obj.machine.arch();
            for r in &e.relocs {
                let w = arch
                    .reloc_info(r.reloc.r_type)
                    .map_or(4, |k| k.width as usize);
                for x in v.iter_mut().skip(r.reloc.offset as usize).take(w) {
                    *x = 0;
                }
            }
            for part in &t.spec.line {
                if let crate::special::LinePart::Bytes { offset, width } = *part {
                    for x in v.iter_mut().skip(offset as usize).take(width as usize) {
                        *x = 0;
                    }
                }
            }
            v
        };
    let (ba, bb) = (bytes(o_side.obj, ta, a), bytes(p_side.obj, tb, b));
    if ba != bb {
        let at = ba.iter().zip(&bb).position(|(x, y)| x != y).unwrap_or(0);
        return Some(format!("bytes differ at +{at:#x}"));
    }
    if a.relocs.len() != b.relocs.len() {
        return Some(format!(
            "{} relocations → {}",
            a.relocs.len(),
            b.relocs.len()
        ));
    }
    for (ra, rb) in a.relocs.iter().zip(&b.relocs) {
        let (ka, xa) = o_side.entry_key(ra);
        let (kb, xb) = p_side.entry_key(rb);
        if ra.reloc.offset != rb.reloc.offset || ra.reloc.r_type != rb.reloc.r_type || ka != kb {
            return Some(format!(
                "field +{:#x}: {} → {}",
                ra.reloc.offset,
                describe(&ka),
                describe(&kb)
            ));
        }
        if xa != xb {
            return Some(format!(
                "field +{:#x}: {}+{xa:#x} → +{xb:#x}",
                ra.reloc.offset,
                describe(&ka)
            ));
        }
    }
    None
}

/// A `.cold` part holds code split out of its function and jumps back into it: when
/// the function is carried, the part must be too, or new code would continue in old.
fn cold_parts(patched: &ObjectFile, out: &mut Classification) {
    let changed: BTreeSet<&str> = out
        .symbols
        .iter()
        .filter(|(id, c)| c.state == State::Changed && patched.symbol(**id).kind == SymKind::Func)
        .map(|(&id, _)| patched.symbol(id).name.as_str())
        .filter(|n| clone_of(n).is_none_or(|c| !c.cold))
        .collect();
    for (&id, c) in out.symbols.iter_mut() {
        let s = patched.symbol(id);
        let Some(cl) = clone_of(&s.name) else {
            continue;
        };
        if cl.cold && c.state == State::Same {
            let parent = s
                .name
                .rfind(".cold")
                .map_or(s.name.as_str(), |i| &s.name[..i]);
            if changed.contains(parent) {
                c.state = State::Changed;
                c.reason =
                    format!("cold part of changed {parent}: it jumps back into the function");
                c.line_only = None;
            }
        }
    }
}
