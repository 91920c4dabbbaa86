//! DWARF facts of one object: where functions and variables are declared, the
//! layout of every struct/union, and which structs each function or variable uses.
//!
//! Debug sections of a relocatable object are relocated first (string and line
//! offsets are relocations in an `.o`). A malformed DWARF section never fails the
//! diff: it leaves `error` set and the checks that need DWARF say they could not run.

use std::collections::{BTreeMap, BTreeSet};

use gimli::{AttributeValue, EndianSlice, LittleEndian, UnitOffset};
use serde::Serialize;

use crate::names::{clone_of, strip_number};
use crate::object::{ObjectFile, SectionClass, Target};

type R<'a> = EndianSlice<'a, LittleEndian>;

/// Deepest DIE nesting walked (real C code stays far below).
const MAX_DIE_DEPTH: u32 = 200;

/// A source position.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SrcLoc {
    pub file: String,
    pub line: u64,
}

impl std::fmt::Display for SrcLoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Layout of a struct or union.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypeLayout {
    pub size: Option<u64>,
    pub members: Vec<Member>,
    #[serde(skip)]
    pub loc: Option<SrcLoc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    pub name: String,
    pub offset: Option<u64>,
    pub ty: String,
    pub bit_size: Option<u64>,
    pub bit_offset: Option<u64>,
}

/// What the DWARF of one object says.
#[derive(Clone, Debug, Default)]
pub struct DebugInfo {
    /// The object has `.debug_info`.
    pub present: bool,
    /// Set when DWARF is present but could not be read.
    pub error: Option<String>,
    pub functions: BTreeMap<String, SrcLoc>,
    pub variables: BTreeMap<String, SrcLoc>,
    /// `struct foo` / `union bar` / `typedef baz` (anonymous struct behind a typedef).
    pub types: BTreeMap<String, TypeLayout>,
    /// Function or file-scope variable name → struct/union keys it uses.
    pub uses: BTreeMap<String, BTreeSet<String>>,
    /// Source file → lines that have code (rows of the line programs).
    pub lines: BTreeMap<String, BTreeSet<u64>>,
    /// Function → the functions inlined into it (at any depth).
    pub inlined: BTreeMap<String, BTreeSet<String>>,
}

impl DebugInfo {
    /// Reads the DWARF of `obj`.
    pub fn read(obj: &ObjectFile) -> DebugInfo {
        let sections = relocated_debug_sections(obj);
        let mut info = DebugInfo {
            present: sections.contains_key(".debug_info"),
            ..DebugInfo::default()
        };
        if !info.present {
            return info;
        }
        if let Err(e) = info.load(&sections) {
            info.error = Some(format!("{}: unreadable DWARF: {e}", obj.name));
        }
        info
    }

    /// Declaration of a function symbol (clones and numbered names map to their origin).
    pub fn function_loc(&self, symbol: &str) -> Option<&SrcLoc> {
        self.functions
            .get(symbol)
            .or_else(|| clone_of(symbol).and_then(|c| self.functions.get(c.origin)))
            .or_else(|| strip_number(symbol).and_then(|b| self.functions.get(b)))
    }

    /// The functions inlined into a function symbol (clones map to their origin).
    pub fn inlined_into(&self, symbol: &str) -> Vec<&str> {
        self.inlined
            .get(symbol)
            .or_else(|| clone_of(symbol).and_then(|c| self.inlined.get(c.origin)))
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Declaration of a variable symbol (`counter.12` → `counter`).
    pub fn variable_loc(&self, symbol: &str) -> Option<&SrcLoc> {
        self.variables
            .get(symbol)
            .or_else(|| strip_number(symbol).and_then(|b| self.variables.get(b)))
    }

    /// `line` has code in `file` (any file when `None`), per the line programs.
    pub fn has_code_line(&self, file: Option<&str>, line: i64) -> bool {
        let Ok(line) = u64::try_from(line) else {
            return false;
        };
        match file {
            Some(f) => self.lines.get(f).is_some_and(|l| l.contains(&line)),
            None => self.lines.values().any(|l| l.contains(&line)),
        }
    }

    /// Declaration of a function or a variable.
    pub fn loc(&self, symbol: &str) -> Option<String> {
        self.function_loc(symbol)
            .or_else(|| self.variable_loc(symbol))
            .map(ToString::to_string)
    }

    fn load(&mut self, sections: &BTreeMap<String, Vec<u8>>) -> gimli::Result<()> {
        let dwarf = gimli::Dwarf::load(|id| -> gimli::Result<R<'_>> {
            let data = sections.get(id.name()).map(Vec::as_slice).unwrap_or(&[]);
            Ok(EndianSlice::new(data, LittleEndian))
        })?;
        let mut units = dwarf.units();
        while let Some(header) = units.next()? {
            let unit = dwarf.unit(header)?;
            let mut cx = UnitCx {
                dwarf: &dwarf,
                unit: &unit,
                info: self,
            };
            cx.line_rows()?;
            let mut tree = unit.entries_tree(None)?;
            let root = tree.root()?;
            cx.walk(root, None, 0)?;
        }
        Ok(())
    }
}

struct UnitCx<'a, 'i> {
    dwarf: &'a gimli::Dwarf<R<'a>>,
    unit: &'a gimli::Unit<R<'a>>,
    info: &'i mut DebugInfo,
}

impl<'a> UnitCx<'a, '_> {
    fn walk(
        &mut self,
        node: gimli::EntriesTreeNode<'_, '_, '_, R<'a>>,
        owner: Option<&str>,
        depth: u32,
    ) -> gimli::Result<()> {
        if depth > MAX_DIE_DEPTH {
            return Err(gimli::Error::UnexpectedNull);
        }
        let entry = node.entry().clone();
        let tag = entry.tag();
        let mut owner_name = owner.map(str::to_string);
        match tag {
            gimli::DW_TAG_subprogram => {
                if let Some(name) = self.name_of(&entry)? {
                    if let Some(loc) = self.decl(&entry)? {
                        self.info.functions.entry(name.clone()).or_insert(loc);
                    }
                    if let Some(t) = self.type_of(&entry) {
                        self.use_type(&name, t)?;
                    }
                    owner_name = Some(name);
                }
            }
            gimli::DW_TAG_inlined_subroutine => {
                if let (Some(owner), Some(name)) = (owner, self.name_of(&entry)?) {
                    self.info
                        .inlined
                        .entry(owner.to_string())
                        .or_default()
                        .insert(name);
                }
            }
            gimli::DW_TAG_variable | gimli::DW_TAG_formal_parameter => {
                let name = self.name_of(&entry)?;
                if let (Some(n), gimli::DW_TAG_variable) = (&name, tag) {
                    if let Some(loc) = self.decl(&entry)? {
                        self.info.variables.entry(n.clone()).or_insert(loc);
                    }
                }
                let user = owner_name.clone().or(name);
                if let (Some(user), Some(t)) = (user, self.type_of(&entry)) {
                    self.use_type(&user, t)?;
                }
            }
            gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type => {
                if let Some(key) = self.struct_key(entry.offset())? {
                    if entry.attr_value(gimli::DW_AT_declaration)?.is_none() {
                        let layout = self.layout(entry.offset())?;
                        self.info.types.entry(key).or_insert(layout);
                    }
                }
            }
            _ => {}
        }
        let mut children = node.children();
        while let Some(child) = children.next()? {
            self.walk(child, owner_name.as_deref(), depth + 1)?;
        }
        Ok(())
    }

    /// Records every (file, line) of the unit's line program.
    fn line_rows(&mut self) -> gimli::Result<()> {
        let Some(program) = self.unit.line_program.clone() else {
            return Ok(());
        };
        let mut names: BTreeMap<u64, String> = BTreeMap::new();
        let mut rows = program.rows();
        while let Some((_, row)) = rows.next_row()? {
            let Some(line) = row.line() else { continue };
            let file = row.file_index();
            let name = match names.entry(file) {
                std::collections::btree_map::Entry::Occupied(e) => e.get().clone(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(self.file_name(file)?.unwrap_or_default()).clone()
                }
            };
            self.info.lines.entry(name).or_default().insert(line.get());
        }
        Ok(())
    }

    fn string(&self, v: AttributeValue<R<'a>>) -> gimli::Result<String> {
        let s = self.dwarf.attr_string(self.unit, v)?;
        Ok(s.to_string_lossy().into_owned())
    }

    fn die(
        &self,
        off: UnitOffset,
    ) -> gimli::Result<gimli::DebuggingInformationEntry<'a, 'a, R<'a>>> {
        self.unit.entry(off)
    }

    /// Name, following `DW_AT_abstract_origin` / `DW_AT_specification`.
    fn name_of(
        &self,
        e: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>,
    ) -> gimli::Result<Option<String>> {
        let mut cur = e.clone();
        for _ in 0..4 {
            if let Some(v) = cur.attr_value(gimli::DW_AT_name)? {
                return self.string(v).map(Some);
            }
            match origin(&cur)? {
                Some(o) => cur = self.die(o)?,
                None => break,
            }
        }
        Ok(None)
    }

    fn decl(
        &self,
        e: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>,
    ) -> gimli::Result<Option<SrcLoc>> {
        let mut cur = e.clone();
        for _ in 0..4 {
            let line = cur
                .attr_value(gimli::DW_AT_decl_line)?
                .and_then(|v| v.udata_value());
            let file = cur.attr_value(gimli::DW_AT_decl_file)?;
            if let (Some(line), Some(file)) = (line, file) {
                let file = match file {
                    AttributeValue::FileIndex(i) => self.file_name(i)?,
                    v => v.udata_value().map_or(Ok(None), |i| self.file_name(i))?,
                };
                return Ok(Some(SrcLoc {
                    file: file.unwrap_or_else(|| "?".to_string()),
                    line,
                }));
            }
            match origin(&cur)? {
                Some(o) => cur = self.die(o)?,
                None => break,
            }
        }
        Ok(None)
    }

    fn file_name(&self, index: u64) -> gimli::Result<Option<String>> {
        let Some(lp) = &self.unit.line_program else {
            return Ok(None);
        };
        let header = lp.header();
        let Some(file) = header.file(index) else {
            return Ok(None);
        };
        let name = self.string(file.path_name())?;
        if name.starts_with('/') || file.directory_index() == 0 {
            return Ok(Some(name));
        }
        match file.directory(header) {
            Some(d) => {
                let dir = self.string(d)?;
                Ok(Some(if dir.is_empty() || dir == "." {
                    name
                } else {
                    format!("{dir}/{name}")
                }))
            }
            None => Ok(Some(name)),
        }
    }

    fn type_of(&self, e: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>) -> Option<UnitOffset> {
        match e.attr_value(gimli::DW_AT_type).ok()?? {
            AttributeValue::UnitRef(o) => Some(o),
            _ => None,
        }
    }

    /// `struct foo`, `union bar`, or `typedef baz` for an anonymous one.
    fn struct_key(&self, off: UnitOffset) -> gimli::Result<Option<String>> {
        let e = self.die(off)?;
        let kind = if e.tag() == gimli::DW_TAG_union_type {
            "union"
        } else {
            "struct"
        };
        match e.attr_value(gimli::DW_AT_name)? {
            Some(v) => Ok(Some(format!("{kind} {}", self.string(v)?))),
            None => Ok(None),
        }
    }

    fn layout(&self, off: UnitOffset) -> gimli::Result<TypeLayout> {
        let e = self.die(off)?;
        let size = e
            .attr_value(gimli::DW_AT_byte_size)?
            .and_then(|v| v.udata_value());
        let mut members = Vec::new();
        let mut tree = self.unit.entries_tree(Some(off))?;
        let root = tree.root()?;
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let m = child.entry();
            if m.tag() != gimli::DW_TAG_member {
                continue;
            }
            let name = match m.attr_value(gimli::DW_AT_name)? {
                Some(v) => self.string(v)?,
                None => String::new(),
            };
            let offset = m
                .attr_value(gimli::DW_AT_data_member_location)?
                .and_then(|v| v.udata_value());
            let ty = match self.type_of(m) {
                Some(t) => self.describe(t, 0)?,
                None => "?".to_string(),
            };
            let bit_size = m
                .attr_value(gimli::DW_AT_bit_size)?
                .and_then(|v| v.udata_value());
            let bit_offset = m
                .attr_value(gimli::DW_AT_data_bit_offset)?
                .and_then(|v| v.udata_value());
            members.push(Member {
                name,
                offset,
                ty,
                bit_size,
                bit_offset,
            });
        }
        Ok(TypeLayout {
            size,
            members,
            loc: self.decl(&e)?,
        })
    }

    /// A C-like spelling of a type.
    fn describe(&self, off: UnitOffset, depth: u32) -> gimli::Result<String> {
        if depth > 8 {
            return Ok("…".to_string());
        }
        let e = self.die(off)?;
        let inner = |s: &Self| -> gimli::Result<String> {
            match s.type_of(&e) {
                Some(t) => s.describe(t, depth + 1),
                None => Ok("void".to_string()),
            }
        };
        let name = match e.attr_value(gimli::DW_AT_name)? {
            Some(v) => Some(self.string(v)?),
            None => None,
        };
        Ok(match e.tag() {
            gimli::DW_TAG_pointer_type => format!("{}*", inner(self)?),
            gimli::DW_TAG_const_type => format!("const {}", inner(self)?),
            gimli::DW_TAG_volatile_type => format!("volatile {}", inner(self)?),
            gimli::DW_TAG_array_type => {
                let mut dims = String::new();
                let mut tree = self.unit.entries_tree(Some(off))?;
                let root = tree.root()?;
                let mut ch = root.children();
                while let Some(c) = ch.next()? {
                    let c = c.entry();
                    let n = match c
                        .attr_value(gimli::DW_AT_count)?
                        .and_then(|v| v.udata_value())
                    {
                        Some(n) => Some(n),
                        None => c
                            .attr_value(gimli::DW_AT_upper_bound)?
                            .and_then(|v| v.udata_value())
                            .map(|u| u + 1),
                    };
                    dims.push_str(&n.map_or("[]".to_string(), |n| format!("[{n}]")));
                }
                format!("{}{dims}", inner(self)?)
            }
            gimli::DW_TAG_structure_type => {
                format!("struct {}", name.unwrap_or_else(|| "<anonymous>".into()))
            }
            gimli::DW_TAG_union_type => {
                format!("union {}", name.unwrap_or_else(|| "<anonymous>".into()))
            }
            gimli::DW_TAG_enumeration_type => {
                format!("enum {}", name.unwrap_or_else(|| "<anonymous>".into()))
            }
            gimli::DW_TAG_subroutine_type => "function".to_string(),
            _ => name.unwrap_or_else(|| inner(self).unwrap_or_default()),
        })
    }

    /// Records every struct/union reachable from type `t` as used by `user`.
    fn use_type(&mut self, user: &str, t: UnitOffset) -> gimli::Result<()> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![t];
        let mut found = BTreeSet::new();
        while let Some(off) = stack.pop() {
            if !seen.insert(off) || seen.len() > 10_000 {
                continue;
            }
            let e = self.die(off)?;
            let is_aggregate = matches!(
                e.tag(),
                gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type
            );
            if is_aggregate {
                if let Some(k) = self.struct_key(off)? {
                    found.insert(k);
                }
                let mut tree = self.unit.entries_tree(Some(off))?;
                let root = tree.root()?;
                let mut ch = root.children();
                while let Some(c) = ch.next()? {
                    if let Some(mt) = self.type_of(c.entry()) {
                        stack.push(mt);
                    }
                }
            }
            if e.tag() == gimli::DW_TAG_typedef {
                // An anonymous struct behind a typedef is keyed by the typedef.
                if let (Some(target), Some(name)) =
                    (self.type_of(&e), e.attr_value(gimli::DW_AT_name)?)
                {
                    let te = self.die(target)?;
                    if matches!(
                        te.tag(),
                        gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type
                    ) && te.attr_value(gimli::DW_AT_name)?.is_none()
                    {
                        let key = format!("typedef {}", self.string(name)?);
                        if te.attr_value(gimli::DW_AT_declaration)?.is_none() {
                            let layout = self.layout(target)?;
                            self.info.types.entry(key.clone()).or_insert(layout);
                        }
                        found.insert(key);
                    }
                }
            }
            if let Some(next) = self.type_of(&e) {
                stack.push(next);
            }
        }
        self.info
            .uses
            .entry(user.to_string())
            .or_default()
            .extend(found);
        Ok(())
    }
}

fn origin(
    e: &gimli::DebuggingInformationEntry<'_, '_, R<'_>>,
) -> gimli::Result<Option<UnitOffset>> {
    for at in [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification] {
        if let Some(AttributeValue::UnitRef(o)) = e.attr_value(at)? {
            return Ok(Some(o));
        }
    }
    Ok(None)
}

/// Copies of the `.debug_*` sections with their relocations applied.
fn relocated_debug_sections(obj: &ObjectFile) -> BTreeMap<String, Vec<u8>> {
    let arch = obj.machine.arch();
    let mut out = BTreeMap::new();
    for sec in obj
        .sections
        .iter()
        .filter(|s| s.class == SectionClass::Debug)
    {
        let mut data = sec.data.clone();
        for r in &sec.relocs {
            let Some(kind) = arch.reloc_info(r.r_type) else {
                continue;
            };
            if kind.pc_relative {
                continue;
            }
            let base = match r.target {
                Target::Section(_) => 0,
                Target::Symbol(id) => obj.symbol(id).value as i64,
            };
            let value = base.wrapping_add(r.addend) as u64;
            let at = r.offset as usize;
            let width = kind.width as usize;
            if let Some(dst) = data.get_mut(at..at.saturating_add(width)) {
                dst.copy_from_slice(&value.to_le_bytes()[..width]);
            }
        }
        out.insert(sec.name.clone(), data);
    }
    out
}
