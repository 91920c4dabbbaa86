//! Phase 4: everything that makes an object pair impossible to patch safely.
//! All problems are collected; none stops the others from being found.

use std::collections::BTreeSet;

use crate::classify::{Classification, State, entry_difference, line_only_delta, sides};
use crate::correlate::Correlation;
use crate::dwarf::{DebugInfo, TypeLayout};
use crate::entries::Layout;
use crate::keys::compare;
use crate::names::clone_of;
use crate::object::{ObjectFile, SectionClass, SymKind};
use crate::problem::{Problem, ProblemKind};
use crate::special::Role;

/// Problems and warnings of one object pair.
#[derive(Clone, Debug, Default)]
pub struct Refusals {
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    /// Sections compared whole, with what was found (for the report).
    pub sections: Vec<(String, String)>,
}

pub struct PairView<'a> {
    pub orig: &'a ObjectFile,
    pub patched: &'a ObjectFile,
    pub corr: &'a Correlation,
    pub class: &'a Classification,
    pub o_dbg: &'a DebugInfo,
    pub p_dbg: &'a DebugInfo,
    pub o_lay: &'a Layout,
    pub p_lay: &'a Layout,
}

pub fn check(v: &PairView<'_>) -> Refusals {
    let mut r = Refusals::default();
    r.problems.extend(v.p_lay.problems.iter().cloned());
    for p in &v.o_lay.problems {
        if !r.problems.contains(p) {
            r.problems.push(p.clone());
        }
    }
    changed_symbols(v, &mut r);
    sections(v, &mut r);
    struct_layouts(v, &mut r);
    for dbg in [v.o_dbg, v.p_dbg] {
        if let Some(e) = &dbg.error {
            r.warnings.push(e.clone());
        }
    }
    if !v.o_dbg.present || !v.p_dbg.present {
        r.warnings.push(format!(
            "{}: no DWARF (compile with -g): struct layout check could not run, no source locations, line-number-only changes not recognised",
            v.patched.name
        ));
    }
    r
}

fn changed_symbols(v: &PairView<'_>, r: &mut Refusals) {
    let p = v.patched;
    for (&id, c) in &v.class.symbols {
        let s = p.symbol(id);
        let Some(sec) = s.section.map(|x| p.section(x)) else {
            continue;
        };
        let loc = v.p_dbg.loc(&s.name);
        let was_init = v
            .corr
            .p2o
            .get(&id)
            .and_then(|&o| v.orig.symbol(o).section)
            .is_some_and(|x| v.orig.section(x).is_init());
        if (sec.is_init() || was_init) && c.state != State::Same {
            let what = if s.kind == SymKind::Func {
                "init-only code"
            } else {
                "init-only data"
            };
            r.problems.push(
                Problem::new(
                    ProblemKind::InitCode,
                    &p.name,
                    &s.name,
                    format!("{} {what} in {}: it ran at boot and is discarded, a payload cannot change it", state_word(c.state), sec.name),
                )
                .at(loc),
            );
            continue;
        }
        if c.state == State::New && matches!(v.p_lay.roles.get(&sec.index), Some(Role::PerCpu)) {
            r.problems.push(
                Problem::new(
                    ProblemKind::SpecialSection,
                    &p.name,
                    &s.name,
                    format!("new per-CPU variable in {}: the per-CPU areas are laid out at boot, a payload cannot add to them", sec.name),
                )
                .at(loc),
            );
            continue;
        }
        if c.state != State::Changed || s.kind == SymKind::Func {
            continue;
        }
        match sec.class {
            SectionClass::Data | SectionClass::Bss => r.problems.push(
                Problem::new(
                    ProblemKind::ChangedData,
                    &p.name,
                    &s.name,
                    format!(
                        "initial value of existing data in {} changed ({}): the running value cannot be patched safely",
                        sec.name, c.reason
                    ),
                )
                .at(loc),
            ),
            SectionClass::ReadOnly | SectionClass::Strings if s.global => r.problems.push(
                Problem::new(
                    ProblemKind::ChangedData,
                    &p.name,
                    &s.name,
                    format!(
                        "global read-only data in {} changed ({}): code in other objects keeps reading the old copy",
                        sec.name, c.reason
                    ),
                )
                .at(loc),
            ),
            SectionClass::ReadOnly | SectionClass::Strings => {}
            _ => r.problems.push(
                Problem::new(
                    ProblemKind::UnknownSection,
                    &p.name,
                    &s.name,
                    format!("changed symbol in section {} that the tool does not know how to carry", sec.name),
                )
                .at(loc),
            ),
        }
    }
}

fn state_word(s: State) -> &'static str {
    match s {
        State::Same => "unchanged",
        State::Changed => "changed",
        State::New => "new",
    }
}

/// Sections compared whole: unknown special sections and code/data not described
/// by any symbol. Entry tables are compared entry by entry with the functions
/// they describe (classify); here only their entries that describe no function
/// are compared. Satellite code is compared through what references it.
fn sections(v: &PairView<'_>, r: &mut Refusals) {
    let (o_side, p_side) = sides(v.orig, v.patched, v.corr, (v.o_lay, v.p_lay));
    let role = |lay: &Layout, i: usize| lay.roles.get(&i).cloned();
    let whole = |obj: &ObjectFile, lay: &Layout, i: usize| -> bool {
        let s = obj.section(i);
        if role(lay, i).is_some() {
            return true;
        }
        match s.class {
            SectionClass::Other => true,
            SectionClass::Text | SectionClass::Data | SectionClass::Bss => {
                s.size > 0
                    && !obj.symbols.iter().any(|y| {
                        y.section == Some(i) && matches!(y.kind, SymKind::Func | SymKind::Object)
                    })
            }
            _ => false,
        }
    };
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (obj, lay) in [(v.orig, v.o_lay), (v.patched, v.p_lay)] {
        for s in &obj.sections {
            if whole(obj, lay, s.index) {
                names.insert(&s.name);
            }
        }
    }
    for name in names {
        let find = |obj: &ObjectFile| {
            obj.sections
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.index)
        };
        let (o, p) = (find(v.orig), find(v.patched));
        let known = p
            .and_then(|p| role(v.p_lay, p))
            .or_else(|| o.and_then(|o| role(v.o_lay, o)));
        let verdict = match known {
            Some(Role::Discard) => "discarded by the linker, not compared".to_string(),
            Some(Role::Hooks) => {
                "loader hooks: not compared, their functions carried as the payload's hooks"
                    .to_string()
            }
            Some(Role::PerCpu) => "per-CPU data, compared symbol by symbol".to_string(),
            Some(Role::Satellite) => {
                let n = p.and_then(|p| v.p_lay.pieces.get(&p)).map_or(0, Vec::len);
                format!(
                    "code reached through entries: {n} piece(s), each carried with what uses it"
                )
            }
            Some(Role::Entries(spec)) => {
                table_verdict(v, r, name, spec.size, o, p, &o_side, &p_side)
            }
            Some(Role::Refuse(why)) => {
                whole_verdict(v, r, name, o, p, &o_side, &p_side, Some(&why))
            }
            None => whole_verdict(v, r, name, o, p, &o_side, &p_side, None),
        };
        r.sections.push((name.to_string(), verdict));
    }
}

#[allow(clippy::too_many_arguments)]
fn whole_verdict(
    v: &PairView<'_>,
    r: &mut Refusals,
    name: &str,
    o: Option<usize>,
    p: Option<usize>,
    o_side: &crate::keys::Side<'_>,
    p_side: &crate::keys::Side<'_>,
    refuse_why: Option<&str>,
) -> String {
    match (o, p) {
        (Some(o), Some(p)) => {
            let a = o_side.content(o, 0, v.orig.section(o).size, 0);
            let b = p_side.content(p, 0, v.patched.section(p).size, 0);
            let d = compare(v.patched, &a, &b);
            if d.is_equal() {
                "unchanged".to_string()
            } else if d.structural.is_none()
                && line_only_delta(
                    &d.fields,
                    &v.class
                        .shifts
                        .iter()
                        .map(|&delta| crate::classify::Shift {
                            delta,
                            decl: None,
                            what: String::new(),
                        })
                        .collect::<Vec<_>>(),
                    v.o_dbg,
                    v.p_dbg,
                )
                .is_some()
            {
                "line-number-only change, ignored".to_string()
            } else {
                let why = d.structural.unwrap_or_else(|| {
                    let f = &d.fields[0];
                    format!("{} at +{:#x}: {} → {}", f.what, f.offset, f.orig, f.patched)
                });
                refuse_section(v, r, name, &why, refuse_why);
                format!("changed ({why})")
            }
        }
        (None, Some(p)) if v.patched.section(p).size > 0 => {
            refuse_section(v, r, name, "new section", refuse_why);
            "new".to_string()
        }
        (Some(_), None) => "removed (the running copy stays)".to_string(),
        _ => "empty".to_string(),
    }
}

/// An entry table: split into entries; those describing no function are compared
/// between the builds (they cannot be carried with one).
#[allow(clippy::too_many_arguments)]
fn table_verdict(
    v: &PairView<'_>,
    r: &mut Refusals,
    name: &str,
    size: u64,
    o: Option<usize>,
    p: Option<usize>,
    o_side: &crate::keys::Side<'_>,
    p_side: &crate::keys::Side<'_>,
) -> String {
    let table = |lay: &'_ Layout, sec: Option<usize>| sec.and_then(|s| lay.table_of(s).cloned());
    let (ot, pt) = (table(v.o_lay, o), table(v.p_lay, p));
    let Some(pt) = pt else {
        return match (o, p) {
            (_, Some(_)) => "not split (malformed, refused)".to_string(),
            (Some(_), None) => "removed (the running copy stays)".to_string(),
            (None, None) => "empty".to_string(),
        };
    };
    let unowned = |t: &Option<crate::entries::Table>| -> Vec<crate::entries::Entry> {
        t.as_ref()
            .map(|t| {
                t.entries
                    .iter()
                    .filter(|e| e.owner.is_none())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let (ua, ub) = (unowned(&ot), unowned(&Some(pt.clone())));
    let owners: BTreeSet<usize> = pt.entries.iter().filter_map(|e| e.owner).collect();
    let summary = format!(
        "{} entries of {size} bytes describing {} function(s); {} describe none",
        pt.entries.len(),
        owners.len(),
        ub.len()
    );
    let why = if ua.len() != ub.len() {
        Some(format!(
            "{} → {} entries that describe no function",
            ua.len(),
            ub.len()
        ))
    } else if ot.is_none() && !ub.is_empty() {
        Some("new entries that describe no function".to_string())
    } else {
        ua.iter()
            .zip(&ub)
            .find_map(|(a, b)| entry_difference(o_side, p_side, name, a, b).map(|w| (b.offset, w)))
            .map(|(off, w)| format!("entry at +{off:#x} that describes no function: {w}"))
    };
    if let Some(why) = why {
        r.problems.push(Problem::new(
            ProblemKind::SpecialSection,
            &v.patched.name,
            name,
            format!("{why}: such entries (in code without a function symbol) cannot be carried"),
        ));
        return format!("{summary}; changed ({why})");
    }
    format!("{summary}; entries are carried with the functions they describe")
}

/// `file:line` of the first symbol (by address) with a known declaration in the
/// section `name`, patched build first: a section has no source line of its own.
fn section_loc(v: &PairView<'_>, name: &str) -> Option<String> {
    for (obj, dbg) in [(v.patched, v.p_dbg), (v.orig, v.o_dbg)] {
        let Some(sec) = obj.sections.iter().find(|s| s.name == name) else {
            continue;
        };
        let mut syms: Vec<_> = obj
            .symbols
            .iter()
            .filter(|y| {
                y.section == Some(sec.index) && matches!(y.kind, SymKind::Func | SymKind::Object)
            })
            .collect();
        syms.sort_by_key(|y| (y.value, y.index));
        if let Some(l) = syms.iter().find_map(|y| dbg.loc(&y.name)) {
            return Some(l);
        }
    }
    None
}

fn refuse_section(v: &PairView<'_>, r: &mut Refusals, name: &str, why: &str, refuse: Option<&str>) {
    let loc = section_loc(v, name);
    let p = match refuse {
        Some(reason) => Problem::new(
            ProblemKind::SpecialSection,
            &v.patched.name,
            name,
            format!("section changed ({why}): {reason}"),
        ),
        None => Problem::new(
            ProblemKind::UnknownSection,
            &v.patched.name,
            name,
            format!(
                "section changed ({why}) and the tool does not know how to carry it (not in the special section table: add its entry layout to carry it)"
            ),
        ),
    };
    r.problems.push(p.at(loc));
}

fn struct_layouts(v: &PairView<'_>, r: &mut Refusals) {
    if !v.o_dbg.present || !v.p_dbg.present {
        return;
    }
    let mut existing: BTreeSet<&str> = BTreeSet::new();
    for &o in v.corr.o2p.keys() {
        let n = v.orig.symbol(o).name.as_str();
        existing.insert(n);
        if let Some(c) = clone_of(n) {
            existing.insert(c.origin);
        }
    }
    let exists = |name: &str| existing.contains(name);
    for (key, a) in &v.o_dbg.types {
        let Some(b) = v.p_dbg.types.get(key) else {
            continue;
        };
        if same_layout(a, b) {
            continue;
        }
        let users: Vec<&str> = v
            .o_dbg
            .uses
            .iter()
            .filter(|(u, ks)| ks.contains(key) && exists(u))
            .map(|(u, _)| u.as_str())
            .collect();
        if users.is_empty() {
            continue;
        }
        let loc = b.loc.as_ref().or(a.loc.as_ref()).map(ToString::to_string);
        r.problems.push(
            Problem::new(
                ProblemKind::StructLayout,
                &v.patched.name,
                key,
                format!(
                    "layout changed ({}) while existing code or data uses it: {}; objects already in memory keep the old layout",
                    layout_diff(a, b),
                    users.join(", ")
                ),
            )
            .at(loc),
        );
    }
}

fn same_layout(a: &TypeLayout, b: &TypeLayout) -> bool {
    a.size == b.size && a.members == b.members
}

fn layout_diff(a: &TypeLayout, b: &TypeLayout) -> String {
    let mut parts = Vec::new();
    if a.size != b.size {
        parts.push(format!("size {} → {}", opt(a.size), opt(b.size)));
    }
    for m in &b.members {
        match a.members.iter().find(|x| x.name == m.name) {
            None => parts.push(format!("member {} added", m.name)),
            Some(x) if x.offset != m.offset => parts.push(format!(
                "member {} offset {} → {}",
                m.name,
                opt(x.offset),
                opt(m.offset)
            )),
            Some(x) if x.ty != m.ty => {
                parts.push(format!("member {} type {} → {}", m.name, x.ty, m.ty))
            }
            Some(x) if x != m => parts.push(format!("member {} bit-field changed", m.name)),
            _ => {}
        }
    }
    for m in &a.members {
        if !b.members.iter().any(|x| x.name == m.name) {
            parts.push(format!("member {} removed", m.name));
        }
    }
    if parts.is_empty() {
        parts.push("member order changed".to_string());
    }
    parts.join("; ")
}

fn opt(v: Option<u64>) -> String {
    v.map_or("?".to_string(), |v| v.to_string())
}
