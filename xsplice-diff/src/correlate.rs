//! Phase 2: pair the symbols of the original and the patched object.
//!
//! - ordinary names pair by name;
//! - compiler clones (`foo.isra.0`) pair by their number-free key (`foo.isra`), then
//!   by exact name;
//! - function-scope statics (`counter.1234` → `counter.1240`) pair through the
//!   already-paired functions and data that reference them; two candidates are an
//!   ambiguity (a refusal);
//! - special statics (`__func__.N`, `CSWTCH.N`, `.LC*`...) are never paired.

use std::collections::{BTreeMap, BTreeSet};

use crate::names::{clone_of, is_special_static, static_local_base};
use crate::object::{ObjectFile, SymId, SymKind, Target};
use crate::problem::{Problem, ProblemKind};

/// The pairing of one object pair.
#[derive(Clone, Debug, Default)]
pub struct Correlation {
    /// Patched symbol → original symbol.
    pub p2o: BTreeMap<SymId, SymId>,
    /// Original symbol → patched symbol.
    pub o2p: BTreeMap<SymId, SymId>,
    /// How a patched symbol was paired, when not simply by name.
    pub how: BTreeMap<SymId, String>,
    pub problems: Vec<Problem>,
}

/// Symbols that take part in pairing: named functions and objects, not special statics.
pub fn pairable(obj: &ObjectFile) -> Vec<SymId> {
    obj.defined_symbols()
        .filter(|s| !is_special_static(&s.name))
        .map(|s| s.index)
        .collect()
}

fn is_static_local(obj: &ObjectFile, id: SymId) -> bool {
    let s = obj.symbol(id);
    s.kind == SymKind::Object && !s.global && static_local_base(&s.name).is_some()
}

/// Pairs `orig` and `patched` (either may be an empty object for an added/removed file).
pub fn correlate(orig: &ObjectFile, patched: &ObjectFile) -> Correlation {
    let mut c = Correlation::default();
    let o_all = pairable(orig);
    let p_all = pairable(patched);

    // 1. Ordinary names (not static locals, not clones): by exact name.
    let plain = |obj: &ObjectFile, ids: &[SymId]| -> BTreeMap<String, Vec<SymId>> {
        let mut m: BTreeMap<String, Vec<SymId>> = BTreeMap::new();
        for &id in ids {
            let s = obj.symbol(id);
            if !is_static_local(obj, id) && clone_of(&s.name).is_none() {
                m.entry(s.name.clone()).or_default().push(id);
            }
        }
        m
    };
    let o_plain = plain(orig, &o_all);
    for (name, p_ids) in plain(patched, &p_all) {
        let Some(o_ids) = o_plain.get(&name) else {
            continue;
        };
        if o_ids.len() == 1 && p_ids.len() == 1 {
            c.link(o_ids[0], p_ids[0], None);
        } else {
            c.problems.push(Problem::new(
                ProblemKind::AmbiguousMatch,
                &patched.name,
                &name,
                format!(
                    "{} symbols named {name} in the original, {} in the patched object",
                    o_ids.len(),
                    p_ids.len()
                ),
            ));
        }
    }

    // 2. Clones: by number-free key, else by exact name.
    let clones = |obj: &ObjectFile, ids: &[SymId]| -> BTreeMap<String, Vec<SymId>> {
        let mut m: BTreeMap<String, Vec<SymId>> = BTreeMap::new();
        for &id in ids {
            if let Some(cl) = clone_of(&obj.symbol(id).name) {
                m.entry(cl.key).or_default().push(id);
            }
        }
        m
    };
    let o_clones = clones(orig, &o_all);
    for (key, p_ids) in clones(patched, &p_all) {
        let o_ids = o_clones.get(&key).cloned().unwrap_or_default();
        if o_ids.len() == 1 && p_ids.len() == 1 {
            let how = (orig.symbol(o_ids[0]).name != patched.symbol(p_ids[0]).name)
                .then(|| format!("compiler clone paired by its kind ({key})"));
            c.link(o_ids[0], p_ids[0], how);
            continue;
        }
        for p in p_ids {
            let name = &patched.symbol(p).name;
            if let Some(&o) = o_ids.iter().find(|&&o| &orig.symbol(o).name == name) {
                c.link(o, p, None);
            }
        }
    }

    // 3. Function-scope statics: through the paired symbols that reference them.
    let p_refs = referrers(patched);
    let mut claimed: BTreeMap<SymId, SymId> = BTreeMap::new();
    for &p in p_all.iter().filter(|&&p| is_static_local(patched, p)) {
        let pname = &patched.symbol(p).name;
        let base = static_local_base(pname).unwrap_or(pname);
        let users: BTreeSet<SymId> = p_refs.get(&p).cloned().unwrap_or_default();
        let mut candidates: BTreeSet<SymId> = BTreeSet::new();
        let mut through: Vec<String> = Vec::new();
        for u in &users {
            let Some(&ou) = c.p2o.get(u) else { continue };
            through.push(patched.symbol(*u).name.clone());
            for o in uses_of(orig, ou) {
                if is_static_local(orig, o) && static_local_base(&orig.symbol(o).name) == Some(base)
                {
                    candidates.insert(o);
                }
            }
        }
        if users.is_empty() {
            // Not referenced by any symbol (kept for its address?): unique base name.
            let same_base: Vec<SymId> = o_all
                .iter()
                .copied()
                .filter(|&o| {
                    is_static_local(orig, o)
                        && static_local_base(&orig.symbol(o).name) == Some(base)
                })
                .collect();
            let p_same = p_all
                .iter()
                .filter(|&&q| {
                    is_static_local(patched, q)
                        && static_local_base(&patched.symbol(q).name) == Some(base)
                })
                .count();
            if same_base.len() == 1 && p_same == 1 {
                candidates.insert(same_base[0]);
                through.push("its unique name".to_string());
            }
        }
        match candidates.len() {
            0 => {}
            1 => {
                let o = *candidates.iter().next().expect("one candidate");
                if let Some(&other) = claimed.get(&o) {
                    c.problems.push(Problem::new(
                        ProblemKind::AmbiguousMatch,
                        &patched.name,
                        pname,
                        format!(
                            "static {pname} and {} both pair with {} of the original (through {})",
                            patched.symbol(other).name,
                            orig.symbol(o).name,
                            through.join(", ")
                        ),
                    ));
                    continue;
                }
                claimed.insert(o, p);
                let how = format!("static local paired through {}", through.join(", "));
                c.link(o, p, Some(how));
            }
            _ => {
                // Several statics of that name in one function (block-scoped twins):
                // pair by order of first use inside the function, when both builds
                // have the same number of them.
                if let Some(o) = by_position(orig, patched, &c, &users, p, base) {
                    if let std::collections::btree_map::Entry::Vacant(e) = claimed.entry(o) {
                        e.insert(p);
                        let how = format!(
                            "static local paired by position of use in {}",
                            through.join(", ")
                        );
                        c.link(o, p, Some(how));
                        continue;
                    }
                }
                let names: Vec<String> = candidates
                    .iter()
                    .map(|&o| orig.symbol(o).name.clone())
                    .collect();
                c.problems.push(Problem::new(
                    ProblemKind::AmbiguousMatch,
                    &patched.name,
                    pname,
                    format!(
                        "static {pname} (used by {}) could be any of {} in the original",
                        through.join(", "),
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    c
}

impl Correlation {
    fn link(&mut self, o: SymId, p: SymId, how: Option<String>) {
        if self.o2p.contains_key(&o) || self.p2o.contains_key(&p) {
            return;
        }
        self.o2p.insert(o, p);
        self.p2o.insert(p, o);
        if let Some(h) = how {
            self.how.insert(p, h);
        }
    }
}

/// Pairs a static with its twin at the same rank of first use in a paired user.
fn by_position(
    orig: &ObjectFile,
    patched: &ObjectFile,
    c: &Correlation,
    users: &BTreeSet<SymId>,
    p: SymId,
    base: &str,
) -> Option<SymId> {
    let ranked = |obj: &ObjectFile, user: SymId| -> Vec<SymId> {
        let mut seen = Vec::new();
        for r in obj.symbol_relocs(user) {
            if let Target::Symbol(t) = r.target {
                if is_static_local(obj, t)
                    && static_local_base(&obj.symbol(t).name) == Some(base)
                    && !seen.contains(&t)
                {
                    seen.push(t);
                }
            }
        }
        seen
    };
    let u = users.iter().find(|u| c.p2o.contains_key(u))?;
    let (pl, ol) = (ranked(patched, *u), ranked(orig, c.p2o[u]));
    if pl.len() != ol.len() {
        return None;
    }
    pl.iter().position(|&x| x == p).map(|i| ol[i])
}

/// For each symbol, the pairable symbols whose bytes reference it.
pub fn referrers(obj: &ObjectFile) -> BTreeMap<SymId, BTreeSet<SymId>> {
    let mut m: BTreeMap<SymId, BTreeSet<SymId>> = BTreeMap::new();
    for user in pairable(obj) {
        for t in uses_of(obj, user) {
            m.entry(t).or_default().insert(user);
        }
    }
    m
}

/// The defined symbols referenced by the relocations inside `user`.
pub fn uses_of(obj: &ObjectFile, user: SymId) -> BTreeSet<SymId> {
    let mut out = BTreeSet::new();
    for r in obj.symbol_relocs(user) {
        if let Target::Symbol(t) = r.target {
            if obj.symbol(t).section.is_some() && t != user {
                out.insert(t);
            }
        }
    }
    out
}
