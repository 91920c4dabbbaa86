//! Phase 4: everything that makes an object pair impossible to patch safely.
//! All problems are collected; none stops the others from being found.

use std::collections::BTreeSet;

use crate::classify::{Classification, State, line_only_delta, sides};
use crate::correlate::Correlation;
use crate::dwarf::{DebugInfo, TypeLayout};
use crate::keys::compare;
use crate::names::clone_of;
use crate::object::{ObjectFile, SectionClass, SymKind};
use crate::problem::{Problem, ProblemKind};

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
}

pub fn check(v: &PairView<'_>) -> Refusals {
    let mut r = Refusals::default();
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

/// Sections compared whole: special sections (bug frames, exception tables...) and
/// code/data not described by any symbol.
fn sections(v: &PairView<'_>, r: &mut Refusals) {
    let (o_side, p_side) = sides(v.orig, v.patched, v.corr);
    let whole = |obj: &ObjectFile, i: usize| -> bool {
        let s = obj.section(i);
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
    for (obj, _) in [(v.orig, 0), (v.patched, 1)] {
        for s in &obj.sections {
            if whole(obj, s.index) {
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
        let verdict = match (o, p) {
            (Some(o), Some(p)) => {
                let a = o_side.content(o, 0, v.orig.section(o).size, 0);
                let b = p_side.content(p, 0, v.patched.section(p).size, 0);
                let d = compare(v.patched, &a, &b);
                if d.is_equal() {
                    "unchanged".to_string()
                } else if d.structural.is_none()
                    && line_only_delta(&d.fields, &v.class.shifts, v.o_dbg, v.p_dbg, None).is_some()
                {
                    "line-number-only change, ignored".to_string()
                } else {
                    let why = d.structural.unwrap_or_else(|| {
                        let f = &d.fields[0];
                        format!("{} at +{:#x}: {} → {}", f.what, f.offset, f.orig, f.patched)
                    });
                    refuse_section(v, r, name, &why);
                    format!("changed ({why})")
                }
            }
            (None, Some(p)) if v.patched.section(p).size > 0 => {
                refuse_section(v, r, name, "new section");
                "new".to_string()
            }
            (Some(_), None) => "removed (the running copy stays)".to_string(),
            _ => "empty".to_string(),
        };
        r.sections.push((name.to_string(), verdict));
    }
}

fn refuse_section(v: &PairView<'_>, r: &mut Refusals, name: &str, why: &str) {
    r.problems.push(Problem::new(
        ProblemKind::UnknownSection,
        &v.patched.name,
        name,
        format!("section changed ({why}) and the tool does not know how to carry it (special sections such as bug frames, exception tables or alternatives are not supported)"),
    ));
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
