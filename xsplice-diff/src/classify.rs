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
use crate::keys::{FieldDelta, Side, compare};
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
) -> (Side<'a>, Side<'a>) {
    let o = Side {
        obj: orig,
        paired: corr
            .o2p
            .keys()
            .map(|&o| (o, orig.symbol(o).name.clone()))
            .collect(),
        patched: false,
    };
    let p = Side {
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

pub fn classify(
    orig: &ObjectFile,
    patched: &ObjectFile,
    corr: &Correlation,
    o_dbg: &DebugInfo,
    p_dbg: &DebugInfo,
) -> Classification {
    let (o_side, p_side) = sides(orig, patched, corr);
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
        if let Some(s) = d.structural {
            out.symbols.insert(p, changed(s));
            continue;
        }
        let allowed: BTreeSet<i64> = match (ps.kind, own_shift(o, p)) {
            (SymKind::Func, Some(own)) => [own].into_iter().filter(|&x| x != 0).collect(),
            _ => out.shifts.clone(),
        };
        let decl = (ps.kind == SymKind::Func)
            .then(|| o_dbg.function_loc(&os.name))
            .flatten();
        if let Some(delta) = line_only_delta(&d.fields, &allowed, o_dbg, p_dbg, decl) {
            let what = if ps.kind == SymKind::Func {
                "function"
            } else {
                "code around it"
            };
            let reason = format!(
                "line-number-only change: {} field(s) hold source lines that moved by {delta:+}, as the {what} did",
                d.fields.len()
            );
            let line_only = Some(LineOnly {
                delta,
                fields: d.fields,
            });
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

    propagate(patched, p_dbg, &mut out);
    out.removed = pairable(orig)
        .into_iter()
        .filter(|o| !corr.o2p.contains_key(o))
        .collect();
    out
}

/// The line shift when every differing field is a source line moved by one of the
/// `allowed` shifts: the old value is a line with code in the original (at or after
/// the function's declaration when `decl` is known), the new one a line with code
/// in the patched build.
pub fn line_only_delta(
    fields: &[FieldDelta],
    allowed: &BTreeSet<i64>,
    o_dbg: &DebugInfo,
    p_dbg: &DebugInfo,
    decl: Option<&SrcLoc>,
) -> Option<i64> {
    let first = fields.first()?;
    // Fields are any 64-bit values (fuzzed objects): a difference that overflows is
    // no line shift.
    let delta = first.patched.checked_sub(first.orig)?;
    if !allowed.contains(&delta) {
        return None;
    }
    let file = decl.map(|d| d.file.as_str());
    let ok = fields.iter().all(|f| {
        f.patched.checked_sub(f.orig) == Some(delta)
            && decl.is_none_or(|d| f.orig >= d.line as i64)
            && o_dbg.has_code_line(file, f.orig)
            && p_dbg.has_code_line(file, f.patched)
    });
    ok.then_some(delta)
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
