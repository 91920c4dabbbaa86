//! The report: every function, data object and special section of every object
//! pair, its state and why it is in or out of the payload; refusals with
//! `file:line`; recognised line-number-only changes; warnings. Serializable with
//! serde (the CLI writes it as JSON) and renderable as short text.

use serde::Serialize;

use crate::classify::{LineOnly, State};
use crate::closure::{CarryKey, Closure};
use crate::names::clone_of;
use crate::object::SymKind;
use crate::problem::Problem;
use crate::{Pair, PairStatus};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Hex build-id of the target image.
    pub target_build_id: String,
    pub objects: Vec<ObjectReport>,
    /// Functions of the image redirected to new code.
    pub patched: Vec<PatchedReport>,
    /// Everything carried into the payload.
    pub carried: Vec<CarriedReport>,
    /// Line-number-only changes recognised (and left out).
    pub line_only: Vec<LineOnlyReport>,
    pub refusals: Vec<Problem>,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectReport {
    pub name: String,
    pub status: PairStatus,
    pub symbols: Vec<SymbolReport>,
    /// Sections compared whole (special sections, code without symbols).
    pub sections: Vec<SectionReport>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SymbolReport {
    pub name: String,
    /// `function` or `data`.
    pub kind: &'static str,
    /// `same`, `changed`, `new` or `removed`.
    pub state: &'static str,
    pub in_payload: bool,
    /// Why it is in or out.
    pub reason: String,
    pub location: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SectionReport {
    pub name: String,
    pub verdict: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PatchedReport {
    pub function: String,
    pub object: String,
    pub address: u64,
    pub old_size: u64,
    pub new_size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CarriedReport {
    pub name: String,
    pub object: String,
    pub size: u64,
    pub why: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineOnlyReport {
    pub object: String,
    pub symbol: String,
    pub reason: String,
    #[serde(flatten)]
    pub change: LineOnly,
}

/// How the `why` of a carried special section begins.
pub const SPECIAL_WHY: &str = "special section: ";

fn state_name(s: State) -> &'static str {
    match s {
        State::Same => "same",
        State::Changed => "changed",
        State::New => "new",
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Builds the report. `closure` is `None` when the analysis stopped before it.
pub fn build(
    pairs: &[Pair],
    closure: Option<&Closure>,
    problems: &[Problem],
    warnings: &[String],
    build_id: &[u8],
) -> Report {
    let mut r = Report {
        target_build_id: hex(build_id),
        ..Report::default()
    };
    for (i, p) in pairs.iter().enumerate() {
        let carried = |id| {
            closure
                .and_then(|c| c.item_of(i, CarryKey::Sym(id)))
                .is_some()
        };
        let mut symbols = Vec::new();
        for (&id, c) in &p.class.symbols {
            let s = p.patched.symbol(id);
            let in_payload = carried(id);
            let reason = match (c.state, in_payload) {
                (State::Same, _) => format!("{}; left in the image", c.reason),
                (_, true)
                    if s.kind == SymKind::Func
                        && clone_of(&s.name).is_some()
                        && c.state == State::Changed =>
                {
                    format!(
                        "{}; carried, reached through its changed callers (no trampoline)",
                        c.reason
                    )
                }
                (State::Changed, true) if s.kind == SymKind::Func => {
                    format!("{}; new code carried, old function patched", c.reason)
                }
                (_, true) => format!("{}; carried", c.reason),
                (_, false) => format!("{}; not carried (nothing in new code uses it)", c.reason),
            };
            symbols.push(SymbolReport {
                name: s.name.clone(),
                kind: if s.kind == SymKind::Func {
                    "function"
                } else {
                    "data"
                },
                state: state_name(c.state),
                in_payload,
                reason,
                location: p.p_dbg.loc(&s.name),
            });
            if let Some(l) = &c.line_only {
                r.line_only.push(LineOnlyReport {
                    object: p.name.clone(),
                    symbol: s.name.clone(),
                    reason: c.reason.clone(),
                    change: l.clone(),
                });
            }
        }
        for &o in &p.class.removed {
            let s = p.orig.symbol(o);
            symbols.push(SymbolReport {
                name: s.name.clone(),
                kind: if s.kind == SymKind::Func { "function" } else { "data" },
                state: "removed",
                in_payload: false,
                reason: "not in the patched object; the running copy stays (callers that changed no longer use it)".to_string(),
                location: p.o_dbg.loc(&s.name),
            });
        }
        let sections = p
            .refusals
            .sections
            .iter()
            .map(|(n, v)| SectionReport {
                name: n.clone(),
                verdict: v.clone(),
            })
            .collect();
        r.objects.push(ObjectReport {
            name: p.name.clone(),
            status: p.status,
            symbols,
            sections,
        });
    }
    if let Some(c) = closure {
        for s in &c.sites {
            r.patched.push(PatchedReport {
                function: s.image_name.clone(),
                object: pairs[s.pair].name.clone(),
                address: s.addr,
                old_size: s.size,
                new_size: c.items[s.item].size,
            });
        }
        // Special-section entries and pieces: one line per section and object.
        let mut grouped: Vec<(usize, String, u64, usize, bool, Vec<String>)> = Vec::new();
        for it in &c.items {
            let Some(g) = &it.group else {
                r.carried.push(CarriedReport {
                    name: it.name.clone(),
                    object: pairs[it.pair].name.clone(),
                    size: it.size,
                    why: it.why.clone(),
                });
                continue;
            };
            let piece = matches!(it.key, CarryKey::Piece { .. });
            let about = it.about.clone().unwrap_or_default();
            match grouped.iter_mut().find(|x| x.0 == it.pair && &x.1 == g) {
                Some(x) => {
                    x.2 += it.size;
                    x.3 += 1;
                    if !about.is_empty() && !x.5.contains(&about) {
                        x.5.push(about);
                    }
                }
                None => grouped.push((it.pair, g.clone(), it.size, 1, piece, vec![about])),
            }
        }
        for (pair, name, size, n, piece, about) in grouped {
            let why = if piece {
                let pieces = if n == 1 { "piece" } else { "pieces" };
                format!(
                    "{SPECIAL_WHY}{n} {pieces} of code reached from the carried entries and code"
                )
            } else {
                let entries = if n == 1 { "entry" } else { "entries" };
                format!("{SPECIAL_WHY}{n} {entries} for {}", about.join(", "))
            };
            r.carried.push(CarriedReport {
                name,
                object: pairs[pair].name.clone(),
                size,
                why,
            });
        }
    }
    r.refusals = problems.to_vec();
    r.warnings = warnings.to_vec();
    r
}

impl Report {
    /// A few lines for a terminal.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        let count = |st: &str| {
            self.objects
                .iter()
                .flat_map(|o| &o.symbols)
                .filter(|s| s.state == st)
                .count()
        };
        t.push_str(&format!(
            "{} object(s): {} changed, {} new, {} removed symbol(s); {} line-number-only change(s) ignored\n",
            self.objects.len(),
            count("changed"),
            count("new"),
            count("removed"),
            self.line_only.len()
                + self
                    .objects
                    .iter()
                    .flat_map(|o| &o.sections)
                    .filter(|s| s.verdict.starts_with("line-number-only"))
                    .count()
        ));
        for p in &self.patched {
            t.push_str(&format!(
                "patch {} ({}) at {:#x}: {} → {} bytes\n",
                p.function, p.object, p.address, p.old_size, p.new_size
            ));
        }
        for o in &self.objects {
            for s in o
                .symbols
                .iter()
                .filter(|s| s.state == "new" && s.in_payload)
            {
                t.push_str(&format!("new {} {} ({})\n", s.kind, s.name, o.name));
            }
        }
        for c in self
            .carried
            .iter()
            .filter(|c| c.why.starts_with(SPECIAL_WHY))
        {
            t.push_str(&format!(
                "carried {} ({}): {}\n",
                c.name,
                c.object,
                &c.why[SPECIAL_WHY.len()..]
            ));
        }
        for l in &self.line_only {
            t.push_str(&format!(
                "line-only {} ({}): {}\n",
                l.symbol, l.object, l.reason
            ));
        }
        // Sections whose verdict is routine (split into entries, discarded, per-CPU,
        // satellite code) stay in the JSON report only.
        let routine = |v: &str| {
            v == "unchanged"
                || v.starts_with("discarded")
                || v.starts_with("per-CPU")
                || v.starts_with("code reached through entries")
                || v.ends_with("entries are carried with the functions they describe")
        };
        for o in &self.objects {
            for sec in o.sections.iter().filter(|s| !routine(&s.verdict)) {
                t.push_str(&format!(
                    "section {} ({}): {}\n",
                    sec.name, o.name, sec.verdict
                ));
            }
        }
        for p in &self.refusals {
            t.push_str(&format!("refused: {p}\n"));
        }
        for w in &self.warnings {
            t.push_str(&format!("warning: {w}\n"));
        }
        t
    }
}
