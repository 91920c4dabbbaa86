//! The table of special sections: sections the compiler and the hypervisor's own
//! macros fill with fixed-size entries that describe code elsewhere (bug frames,
//! exception tables, alternatives...), the code pieces those entries point at, and
//! sections with other special rules.
//!
//! Everything the diff knows about them is in this one table. [`SpecialTable::builtin`]
//! holds the x86-64 values of Xen and Linux; [`SpecialTable::parse`] reads overrides
//! in a small line format (see [`SpecialTable::parse`]) for trees whose structures
//! differ.

use std::fmt;

/// What a special section is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// An array of fixed-size entries, each describing one place in the code.
    Entries(EntrySpec),
    /// Code reached only through entries or from the functions they describe
    /// (`.altinstr_replacement`, `.fixup`): split into pieces at the offsets
    /// referenced from elsewhere, a piece is carried with what references it.
    Satellite,
    /// Never loaded (the linker discards it): not compared, not carried.
    Discard,
    /// Per-CPU variables: existing ones are referenced by name, new ones cannot
    /// be added by a payload (the per-CPU areas are laid out at boot).
    PerCpu,
    /// Cannot appear in a payload; a change (or any content in a new object) is
    /// refused with this reason.
    Refuse(String),
    /// Pointers to functions the loader calls (Xen's `.livepatch.hooks.<kind>`): not
    /// compared; each function pointed at is carried and becomes a hook of the
    /// payload (the livepatch encoding has hooks, the xsplice one has none).
    Hooks,
}

/// The layout of one entry of an [`Role::Entries`] section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntrySpec {
    /// Bytes per entry.
    pub size: u64,
    /// Offset of the relocated field that locates the code the entry is about
    /// (the entry's *owner* is the function containing that place).
    pub owner: u64,
    /// Offsets of PC-relative fields measured from the entry's start rather than
    /// from the field itself (`.long target - entry_start`): their addend is biased
    /// by the field's offset.
    pub entry_relative: Vec<u64>,
    /// Where the source line number lives, if anywhere.
    pub line: Vec<LinePart>,
    /// Fields pointing at satellite code whose length the entry stores: that code
    /// is never cut into pieces (`struct alt_instr`'s `repl_len`).
    pub lengths: Vec<SatelliteLength>,
    /// The loader registers these entries for a payload. `false`: a payload that
    /// would need one is refused.
    pub loader: bool,
}

/// Some bits of a source line number stored in an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinePart {
    /// Bits `[shift, shift + width)` of the addend of the relocation at entry
    /// offset `field` hold line bits `[at, at + width)`.
    Addend {
        field: u64,
        shift: u32,
        width: u32,
        at: u32,
    },
    /// A little-endian unsigned integer of `width` bytes at entry offset `offset`
    /// holds the line.
    Bytes { offset: u64, width: u32 },
}

/// The length of the satellite code a field points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SatelliteLength {
    /// Entry offset of the relocated field pointing at the code.
    pub field: u64,
    /// Entry offset and width (bytes, little-endian) of the length.
    pub offset: u64,
    pub width: u32,
}

/// One row of the table: a section name (exact, or a prefix ending in `*`) and its role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecialSpec {
    pub pattern: String,
    pub role: Role,
}

impl SpecialSpec {
    pub fn matches(&self, name: &str) -> bool {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => self.pattern == name,
        }
    }
}

/// The special sections known to the diff. Later rows override earlier ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecialTable {
    specs: Vec<SpecialSpec>,
}

impl Default for SpecialTable {
    fn default() -> Self {
        SpecialTable::builtin()
    }
}

/// A malformed line of a special-section table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("special section table line {line}: {why}")]
pub struct TableError {
    pub line: usize,
    pub why: String,
}

/// Xen's bug frame (`struct bug_frame`, xen/include/xen/bug.h): two 32-bit words,
/// each a 24-bit displacement from the frame's start plus 7 bits of the line number
/// (high bits in the first word, low bits in the second). `.bug_frames.3`
/// (assertions) carries a second 8-byte slot whose second word points at the message.
fn xen_bug_frame(size: u64) -> Role {
    let mut entry_relative = vec![4];
    if size == 16 {
        entry_relative.push(12);
    }
    Role::Entries(EntrySpec {
        size,
        owner: 0,
        entry_relative,
        line: vec![
            LinePart::Addend {
                field: 0,
                shift: 24,
                width: 7,
                at: 7,
            },
            LinePart::Addend {
                field: 4,
                shift: 24,
                width: 7,
                at: 0,
            },
        ],
        lengths: Vec::new(),
        loader: true,
    })
}

fn entries(size: u64, loader: bool) -> Role {
    Role::Entries(EntrySpec {
        size,
        owner: 0,
        entry_relative: Vec::new(),
        line: Vec::new(),
        lengths: Vec::new(),
        loader,
    })
}

/// `struct alt_instr` of `size` bytes whose replacement length byte is at `len_at`.
fn alt_instr(size: u64, len_at: u64) -> Role {
    Role::Entries(EntrySpec {
        size,
        owner: 0,
        entry_relative: Vec::new(),
        line: Vec::new(),
        lengths: vec![SatelliteLength {
            field: 4,
            offset: len_at,
            width: 1,
        }],
        loader: true,
    })
}

fn spec(pattern: &str, role: Role) -> SpecialSpec {
    SpecialSpec {
        pattern: pattern.to_string(),
        role,
    }
}

impl SpecialTable {
    /// The default table: [`SpecialTable::xen_x86_64`] plus the rows of
    /// [`SpecialTable::linux_x86_64`] whose names Xen does not use.
    pub fn builtin() -> SpecialTable {
        let mut t = SpecialTable::xen_x86_64();
        for row in SpecialTable::linux_x86_64().specs {
            if !t.specs.iter().any(|x| x.pattern == row.pattern) {
                t.specs.push(row);
            }
        }
        t
    }

    /// x86-64 Xen (4.x): `.bug_frames.0`‥`.2` 8 bytes, `.bug_frames.3` 16 bytes
    /// (`struct bug_frame` plus the message slot); `.ex_table` and `.ex_table.pre` 8
    /// bytes (`struct exception_table_entry { s32 addr, cont; }`; the loader only
    /// takes `.ex_table`); `.altinstructions` 14 bytes (`struct alt_instr`, packed:
    /// `s32 orig, repl; u16 cpuid; u8 orig_len, repl_len, pad_len, priv`) with its
    /// replacement code in `.altinstr_replacement`; `.fixup` code reached from
    /// exception table entries; `.discard` (length checks, discarded by the
    /// linker); per-CPU data in `.bss.percpu*`/`.data.percpu*`; Xen's livepatch
    /// hooks (`.livepatch.hooks.*`) carried as the payload's hooks; the other
    /// metadata sections of Xen's livepatch format are refused.
    pub fn xen_x86_64() -> SpecialTable {
        let mut specs = vec![
            spec(".bug_frames.0", xen_bug_frame(8)),
            spec(".bug_frames.1", xen_bug_frame(8)),
            spec(".bug_frames.2", xen_bug_frame(8)),
            spec(".bug_frames.3", xen_bug_frame(16)),
            spec(".ex_table", entries(8, true)),
            spec(".ex_table.pre", entries(8, false)),
            spec(".altinstructions", alt_instr(14, 11)),
            spec(".altinstr_replacement", Role::Satellite),
            spec(".fixup", Role::Satellite),
            spec(".discard", Role::Discard),
            spec(".bss.percpu*", Role::PerCpu),
            spec(".data.percpu*", Role::PerCpu),
            spec(".livepatch.hooks.*", Role::Hooks),
        ];
        for s in [
            ".livepatch.funcs",
            ".livepatch.depends",
            ".livepatch.xen_depends",
            ".modinfo",
        ] {
            specs.push(spec(
                s,
                Role::Refuse(
                    "metadata of Xen's livepatch format: the builder writes it, sources cannot"
                        .to_string(),
                ),
            ));
        }
        SpecialTable { specs }
    }

    /// x86-64 Linux (6.x): `__bug_table` 12 bytes (`s32 bug_addr, file; u16 line,
    /// flags`), `__ex_table` 12 (`s32 insn, fixup, data`), `__jump_table` 16 (`s32
    /// code, target; long key`), `.static_call_sites` 8, `.smp_locks`,
    /// `.retpoline_sites`, `.return_sites`, `.call_sites`, `.ibt_endbr_seal` 4
    /// (`s32`), `.altinstructions` 14 (`s32 instr, repl; u32 ft_flags; u8 instrlen,
    /// replacementlen`) with `.altinstr_replacement` and `.altinstr_aux`,
    /// `.discard.*`, per-CPU data in `.data..percpu*`.
    pub fn linux_x86_64() -> SpecialTable {
        let mut specs = vec![spec(
            "__bug_table",
            Role::Entries(EntrySpec {
                size: 12,
                owner: 0,
                entry_relative: Vec::new(),
                line: vec![LinePart::Bytes {
                    offset: 8,
                    width: 2,
                }],
                lengths: Vec::new(),
                loader: true,
            }),
        )];
        specs.push(spec("__ex_table", entries(12, true)));
        specs.push(spec("__jump_table", entries(16, true)));
        specs.push(spec(".static_call_sites", entries(8, true)));
        for s in [
            ".smp_locks",
            ".retpoline_sites",
            ".return_sites",
            ".call_sites",
            ".ibt_endbr_seal",
        ] {
            specs.push(spec(s, entries(4, true)));
        }
        specs.push(spec(".altinstructions", alt_instr(14, 13)));
        specs.push(spec(".altinstr_replacement", Role::Satellite));
        specs.push(spec(".altinstr_aux", Role::Satellite));
        specs.push(spec(".discard.*", Role::Discard));
        specs.push(spec(".data..percpu*", Role::PerCpu));
        SpecialTable { specs }
    }

    /// A table with no rows (every special section is compared whole).
    pub fn empty() -> SpecialTable {
        SpecialTable { specs: Vec::new() }
    }

    /// The rows, in order (later rows win).
    pub fn specs(&self) -> &[SpecialSpec] {
        &self.specs
    }

    /// Adds a row that overrides earlier ones for the names it matches.
    pub fn push(&mut self, spec: SpecialSpec) {
        self.specs.push(spec);
    }

    /// The role of a section, if the table knows its name.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.specs
            .iter()
            .rev()
            .find(|s| s.matches(name))
            .map(|s| &s.role)
    }

    /// Parses rows and appends them (overriding earlier rows), one per line:
    ///
    /// ```text
    /// # comment
    /// <name|prefix*> entries size=<n> [owner=<off>] [entry-relative=<off>,..]
    ///                        [line=addend:<field>:<shift>:<width>:<at>,..|line=bytes:<off>:<width>]
    ///                        [length=<field>:<off>:<width>,..] [loader=no]
    /// <name|prefix*> satellite | discard | percpu | hooks | refuse <reason...>
    /// ```
    ///
    /// Numbers are decimal or `0x` hexadecimal.
    pub fn parse_into(&mut self, text: &str) -> Result<(), TableError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |why: String| TableError { line: i + 1, why };
            let mut words = line.split_whitespace();
            let pattern = words.next().expect("non-empty line has a word").to_string();
            let role = match words.next() {
                Some("satellite") => Role::Satellite,
                Some("discard") => Role::Discard,
                Some("percpu") => Role::PerCpu,
                Some("hooks") => Role::Hooks,
                Some("refuse") => {
                    let reason: Vec<&str> = words.by_ref().collect();
                    if reason.is_empty() {
                        return Err(err("refuse needs a reason".into()));
                    }
                    Role::Refuse(reason.join(" "))
                }
                Some("entries") => Role::Entries(parse_entries(words.by_ref()).map_err(err)?),
                Some(other) => {
                    return Err(err(format!(
                        "unknown role {other:?} (entries, satellite, discard, percpu, hooks, refuse)"
                    )));
                }
                None => return Err(err(format!("{pattern}: missing role"))),
            };
            if let Some(extra) = words.next() {
                return Err(err(format!("unexpected {extra:?}")));
            }
            self.specs.push(SpecialSpec { pattern, role });
        }
        Ok(())
    }

    /// The built-in table with the rows of `text` appended.
    pub fn parse(text: &str) -> Result<SpecialTable, TableError> {
        let mut t = SpecialTable::builtin();
        t.parse_into(text)?;
        Ok(t)
    }
}

fn number(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("{s:?} is not a number"))
}

fn parse_entries<'a>(words: impl Iterator<Item = &'a str>) -> Result<EntrySpec, String> {
    let mut e = EntrySpec {
        size: 0,
        owner: 0,
        entry_relative: Vec::new(),
        line: Vec::new(),
        lengths: Vec::new(),
        loader: true,
    };
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("{w:?}: expected key=value"))?;
        match k {
            "size" => e.size = number(v)?,
            "owner" => e.owner = number(v)?,
            "entry-relative" => {
                e.entry_relative = v.split(',').map(number).collect::<Result<_, _>>()?
            }
            "loader" => {
                e.loader = match v {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(format!("loader={v}: expected yes or no")),
                }
            }
            "length" => {
                for part in v.split(',') {
                    let f: Vec<&str> = part.split(':').collect();
                    let [field, off, width] = f.as_slice() else {
                        return Err(format!("length {part:?}: expected FIELD:OFFSET:WIDTH"));
                    };
                    e.lengths.push(SatelliteLength {
                        field: number(field)?,
                        offset: number(off)?,
                        width: small(width)?,
                    });
                }
            }
            "line" => {
                for part in v.split(',') {
                    let f: Vec<&str> = part.split(':').collect();
                    let p = match f.as_slice() {
                        ["addend", field, shift, width, at] => LinePart::Addend {
                            field: number(field)?,
                            shift: small(shift)?,
                            width: small(width)?,
                            at: small(at)?,
                        },
                        ["bytes", off, width] => LinePart::Bytes {
                            offset: number(off)?,
                            width: small(width)?,
                        },
                        _ => {
                            return Err(format!(
                                "line part {part:?}: expected addend:FIELD:SHIFT:WIDTH:AT or bytes:OFFSET:WIDTH"
                            ));
                        }
                    };
                    e.line.push(p);
                }
            }
            _ => return Err(format!("unknown key {k:?}")),
        }
    }
    if e.size == 0 {
        return Err("entries need size=<bytes> (> 0)".into());
    }
    if e.owner.checked_add(4).is_none_or(|end| end > e.size) {
        return Err(format!(
            "owner={} is not inside a {}-byte entry",
            e.owner, e.size
        ));
    }
    for l in &e.lengths {
        if !(1..=8).contains(&l.width)
            || l.offset + u64::from(l.width) > e.size
            || l.field >= e.size
        {
            return Err(format!("length {l:?} does not fit the entry"));
        }
    }
    for p in &e.line {
        let ok = match *p {
            LinePart::Addend {
                field,
                shift,
                width,
                at,
            } => field < e.size && shift + width <= 63 && at + width <= 63 && width > 0,
            LinePart::Bytes { offset, width } => {
                (1..=8).contains(&width) && offset + u64::from(width) <= e.size
            }
        };
        if !ok {
            return Err(format!("line part {p:?} does not fit the entry"));
        }
    }
    Ok(e)
}

fn small(s: &str) -> Result<u32, String> {
    number(s).and_then(|n| u32::try_from(n).map_err(|_| format!("{s} is too large")))
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Entries(e) => write!(f, "{}-byte entries", e.size),
            Role::Satellite => f.write_str("code reached through entries"),
            Role::Discard => f.write_str("discarded by the linker"),
            Role::PerCpu => f.write_str("per-CPU data"),
            Role::Refuse(r) => write!(f, "refused: {r}"),
            Role::Hooks => f.write_str("loader hooks"),
        }
    }
}

impl LinePart {
    /// The line bits this part holds, given the entry's bytes and the addend of
    /// the relocation at `field` (if any); and the addend with those bits removed.
    pub fn bits(&self, addend: Option<i64>, bytes: &[u8]) -> Option<(u64, Option<i64>)> {
        match *self {
            LinePart::Addend {
                shift, width, at, ..
            } => {
                let a = addend?;
                let mask = (1i64 << width) - 1;
                let v = (a >> shift) & mask;
                Some(((v as u64) << at, Some(a - (v << shift))))
            }
            LinePart::Bytes { offset, width } => {
                let b = bytes.get(offset as usize..offset as usize + width as usize)?;
                let v = b
                    .iter()
                    .rev()
                    .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
                Some((v, None))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roles() {
        let t = SpecialTable::builtin();
        let size = |n: &str| match t.role(n) {
            Some(Role::Entries(e)) => Some(e.size),
            _ => None,
        };
        assert_eq!(size(".bug_frames.2"), Some(8));
        assert_eq!(size(".bug_frames.3"), Some(16));
        assert_eq!(size(".ex_table"), Some(8));
        assert_eq!(size(".altinstructions"), Some(14));
        assert_eq!(size("__ex_table"), Some(12));
        assert_eq!(size("__jump_table"), Some(16));
        assert_eq!(t.role(".altinstr_replacement"), Some(&Role::Satellite));
        assert_eq!(t.role(".bss.percpu.read_mostly"), Some(&Role::PerCpu));
        assert_eq!(t.role(".discard.reachable"), Some(&Role::Discard));
        assert_eq!(t.role(".livepatch.hooks.load"), Some(&Role::Hooks));
        assert!(matches!(t.role(".livepatch.funcs"), Some(Role::Refuse(_))));
        assert_eq!(t.role(".text.foo"), None);
        assert_eq!(t.role(".bug_frames"), None);
        assert_eq!(SpecialTable::empty().role(".ex_table"), None);
    }

    #[test]
    fn overrides_parse_and_win() {
        let t = SpecialTable::parse(
            "# Linux 5.x alternatives\n.altinstructions entries size=13 owner=0\n\
             .my_table entries size=0x10 entry-relative=4,8 line=addend:0:24:7:7,bytes:12:2 loader=no\n\
             .old_fixups satellite # trailing comment\n.hooks refuse not here\n",
        )
        .unwrap();
        assert!(matches!(t.role(".altinstructions"), Some(Role::Entries(e)) if e.size == 13));
        let Some(Role::Entries(e)) = t.role(".my_table") else {
            panic!()
        };
        assert_eq!(
            (e.size, e.entry_relative.clone(), e.loader, e.line.len()),
            (16, vec![4, 8], false, 2)
        );
        assert_eq!(t.role(".old_fixups"), Some(&Role::Satellite));
        assert_eq!(t.role(".hooks"), Some(&Role::Refuse("not here".into())));
    }

    #[test]
    fn bad_tables_name_the_line() {
        let e = SpecialTable::parse("ok satellite\n.x entries owner=0\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.why.contains("size"), "{e}");
        let e = SpecialTable::parse(".x frobnicate").unwrap_err();
        assert!(e.to_string().contains("unknown role \"frobnicate\""), "{e}");
        let e = SpecialTable::parse(".x entries size=8 owner=6").unwrap_err();
        assert!(e.why.contains("owner=6"), "{e}");
        let e = SpecialTable::parse(".x entries size=8 line=bytes:7:2").unwrap_err();
        assert!(e.why.contains("does not fit"), "{e}");
        let e = SpecialTable::parse(".x refuse").unwrap_err();
        assert!(e.why.contains("reason"), "{e}");
        let e = SpecialTable::parse(".x satellite extra").unwrap_err();
        assert!(e.why.contains("unexpected"), "{e}");
    }

    #[test]
    fn line_bits_of_a_xen_bug_frame() {
        // Line 2001 = 15 << 7 | 81: the first word's addend carries 15 << 24 on top
        // of the displacement 0x377, the second 81 << 24 on top of 4.
        let Some(Role::Entries(e)) = SpecialTable::builtin().role(".bug_frames.2").cloned() else {
            panic!()
        };
        let (hi, a0) = e.line[0].bits(Some(0x0f00_0377), &[]).unwrap();
        let (lo, a1) = e.line[1].bits(Some(0x5100_0004), &[]).unwrap();
        assert_eq!(hi | lo, 2001);
        assert_eq!((a0, a1), (Some(0x377), Some(4)));
        let linux = LinePart::Bytes {
            offset: 8,
            width: 2,
        };
        assert_eq!(
            linux.bits(None, &[0, 0, 0, 0, 0, 0, 0, 0, 0xd1, 0x07, 0, 0]),
            Some((2001, None))
        );
    }
}
