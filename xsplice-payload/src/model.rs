//! The typed model of a payload: what the writer takes and the reader returns.
//!
//! The model holds values, never file offsets or pointers: `ContentRef` names a
//! content section by index and an offset in it; relocations name a symbol or a
//! section by index. `Payload::validate` enforces every rule of
//! `specs/payload-format.md` that does not depend on the ELF encoding, so the writer
//! cannot produce a payload the reader would refuse.

use serde::Serialize;

use crate::arch::Machine;
use crate::flavour::Flavour;
use crate::layout::*;

/// A whole payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Payload {
    pub machine: Machine,
    /// Payload name (`xsplice.name`): 1..=40 bytes, no NUL.
    pub name: String,
    /// GNU build-id of the hypervisor this payload was built against (`xsplice.id`).
    pub target_build_id: Vec<u8>,
    /// Build-ids of payloads that must be applied before this one (`.xsplice.depends`).
    pub depends: Vec<Vec<u8>>,
    /// `xsplice.new`: what to patch and with what.
    pub new: Vec<Entry>,
    /// `xsplice.old`: expected bytes of the running code, checked before applying.
    pub old: Option<Vec<Entry>>,
    /// Sections carrying new code and data, with their ELF relocations.
    pub sections: Vec<ContentSection>,
    /// ELF symbols other than section symbols (defined in `sections`, or undefined and
    /// resolved against the running hypervisor and loaded payloads).
    pub symbols: Vec<Symbol>,
    /// Functions the loader calls around load, apply, revert and unload (livepatch
    /// only: the xSplice design has no hooks).
    pub hooks: Vec<Hook>,
}

/// When a hook runs (Xen's `.livepatch.hooks.*` sections).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum HookKind {
    /// `void f(void)`, at APPLY before the functions are patched; several allowed.
    Load,
    /// `void f(void)`, at REVERT after the functions are restored; several allowed.
    Unload,
    /// `int f(payload)`, before APPLY is scheduled; non-zero vetoes it. At most one.
    PreApply,
    /// Replaces the built-in patching at APPLY. At most one.
    Apply,
    /// After APPLY, outside the rendezvous. At most one.
    PostApply,
    /// `int f(payload)`, before REVERT is scheduled; non-zero vetoes it. At most one.
    PreRevert,
    /// Replaces the built-in restoring at REVERT. At most one.
    Revert,
    /// After REVERT. At most one.
    PostRevert,
}

impl HookKind {
    pub const ALL: [HookKind; 8] = [
        HookKind::Load,
        HookKind::Unload,
        HookKind::PreApply,
        HookKind::Apply,
        HookKind::PostApply,
        HookKind::PreRevert,
        HookKind::Revert,
        HookKind::PostRevert,
    ];

    /// Load and unload hooks are arrays; the others hold one function.
    pub fn many(self) -> bool {
        matches!(self, HookKind::Load | HookKind::Unload)
    }
}

/// One hook: a function of the payload (a defined `Func` symbol in a text section).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Hook {
    pub kind: HookKind,
    /// Index into `Payload::symbols`.
    pub symbol: usize,
}

/// One patch site: an `xsplice_reloc` (new code only), `xsplice_section` and
/// `xsplice_patch`, all sharing one `xsplice_symbol` (the design's 1:1 relations).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub symbol: PatchSymbol,
    pub section: SectionInfo,
    /// Present in new code, absent in old code.
    pub reloc: Option<RelocInfo>,
    pub patch: Patch,
}

impl Entry {
    /// The design's trampoline entry: `xsplice_symbol` `name` / `name+<0x0>`,
    /// `xsplice_section` (the old function: `address`, `old_size`, `TEXT`),
    /// `xsplice_reloc` (RELOC_PATCH, PC-relative, the machine's `isns_added`) and
    /// `xsplice_patch` (RELOC_TEXT: `code_size` bytes of new code at `content`).
    pub fn trampoline(
        machine: Machine,
        name: &str,
        address: u64,
        old_size: u32,
        content: ContentRef,
        code_size: u32,
    ) -> Entry {
        Entry {
            symbol: PatchSymbol {
                name: name.to_string(),
                label: format!("{name}+<0x0>"),
            },
            section: SectionInfo {
                address,
                size: old_size,
                flags: XSPLICE_SECTION_TEXT,
            },
            reloc: Some(RelocInfo {
                addr: address,
                isns_target: 0,
                isns_added: machine.arch().trampoline_isns_added(),
                howto: Howto::trampoline(),
            }),
            patch: Patch {
                kind: XSPLICE_PATCH_RELOC_TEXT,
                size: code_size,
                addr: 0,
                content,
            },
        }
    }
}

/// `xsplice_symbol`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PatchSymbol {
    /// Hypervisor symbol to patch; locals as `file#symbol`.
    pub name: String,
    /// Unique diagnostic name, `name+<0xOFF>`.
    pub label: String,
}

/// `xsplice_section`: safety data about the patched location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SectionInfo {
    /// Address of the patched symbol in the target, 0 when unknown.
    pub address: u64,
    /// Size of the patched function or object in the target.
    pub size: u32,
    /// `XSPLICE_SECTION_*`.
    pub flags: u32,
}

/// `xsplice_reloc` and its `xsplice_reloc_howto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RelocInfo {
    /// Address of the patch site in the target, 0 when unknown.
    pub addr: u64,
    pub isns_target: i64,
    pub isns_added: i64,
    pub howto: Howto,
}

/// `xsplice_reloc_howto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Howto {
    pub howto: u32,
    pub flag: u32,
    pub size: u32,
    pub r_shift: u32,
    pub mask: u64,
}

impl Howto {
    /// The howto of a trampoline: a PC-relative jump with a 4-byte displacement.
    pub const fn trampoline() -> Howto {
        Howto {
            howto: XSPLICE_HOWTO_RELOC_PATCH,
            flag: XSPLICE_HOWTO_FLAG_PC_REL,
            size: 4,
            r_shift: 0,
            mask: u64::MAX,
        }
    }
    /// The howto of an in-place replacement of `size` bytes.
    pub const fn inline(size: u32) -> Howto {
        Howto {
            howto: XSPLICE_HOWTO_INLINE,
            flag: 0,
            size,
            r_shift: 0,
            mask: u64::MAX,
        }
    }
}

/// `xsplice_patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Patch {
    /// `XSPLICE_PATCH_*`.
    pub kind: u32,
    /// Number of content bytes.
    pub size: u32,
    /// Inline patches: offset from the symbol's start. Trampolines: 0.
    pub addr: u64,
    /// Where the content bytes are.
    pub content: ContentRef,
}

/// A byte position inside one of `Payload::sections`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ContentRef {
    pub section: usize,
    pub offset: u64,
}

/// A section of new code or data carried by the payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContentSection {
    /// ELF section name, e.g. `.text.do_xen_version`. Must not start with `.xsplice`
    /// or `.rela`, nor be one of the ELF bookkeeping names.
    pub name: String,
    pub kind: ContentKind,
    /// Power of two, ≥ 1.
    pub align: u64,
    /// Bytes of the section (empty for `Bss`).
    pub data: Vec<u8>,
    /// Size of a `Bss` section (must equal `data.len()` for the other kinds).
    pub size: u64,
    pub relocs: Vec<Reloc>,
}

impl ContentSection {
    /// A section with bytes.
    pub fn with_data(name: &str, kind: ContentKind, align: u64, data: Vec<u8>) -> Self {
        ContentSection {
            name: name.to_string(),
            kind,
            align,
            size: data.len() as u64,
            data,
            relocs: Vec::new(),
        }
    }
}

/// How a content section is mapped by the loader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ContentKind {
    /// SHF_ALLOC|SHF_EXECINSTR, PROGBITS: read + execute.
    Text,
    /// SHF_ALLOC, PROGBITS: read only.
    ReadOnly,
    /// SHF_ALLOC|SHF_MERGE|SHF_STRINGS, entsize 1: read-only strings.
    Strings,
    /// SHF_ALLOC|SHF_WRITE, PROGBITS: new writable data.
    Data,
    /// SHF_ALLOC|SHF_WRITE, NOBITS: new zero-initialised data.
    Bss,
}

/// An ELF relocation (RELA) inside a content section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Reloc {
    pub offset: u64,
    /// Machine relocation type (`R_X86_64_*`).
    pub r_type: u32,
    pub target: RelocTarget,
    pub addend: i64,
}

/// What a relocation refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RelocTarget {
    /// Index into `Payload::symbols`.
    Symbol(usize),
    /// The start of `Payload::sections[i]` (an ELF section symbol).
    Section(usize),
}

/// A named ELF symbol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    /// STB_GLOBAL when true, STB_LOCAL otherwise. Undefined symbols are global.
    pub global: bool,
    /// `None`: undefined, resolved by name at load time.
    pub definition: Option<SymbolDef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SymbolKind {
    NoType,
    Func,
    Object,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SymbolDef {
    pub section: usize,
    pub offset: u64,
    pub size: u64,
}

/// A rule of the format that a model breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid payload model: {what}: {why}")]
pub struct ModelError {
    /// Where: `new[2].patch.size`, `sections[3].relocs[0]`...
    pub what: String,
    pub why: String,
}

fn bad(what: impl Into<String>, why: impl Into<String>) -> ModelError {
    ModelError {
        what: what.into(),
        why: why.into(),
    }
}

/// Section names the content may not use (they belong to either encoding or to ELF).
pub fn reserved_section_name(name: &str) -> bool {
    name.starts_with(".xsplice")
        || crate::livepatch::layout::is_format_section(name)
        || name.starts_with(".rela")
        || name.starts_with(".rel.")
        || matches!(
            name,
            "" | ".symtab" | ".strtab" | ".shstrtab" | ".note.gnu.build-id"
        )
}

impl Payload {
    /// Checks every rule of the model and of the encoding `flavour`, so that the
    /// writer cannot produce a payload its reader would refuse.
    pub fn validate(&self, flavour: Flavour) -> Result<(), ModelError> {
        let arch = self.machine.arch();
        let max = flavour.max_name_len();
        // A livepatch payload is named at upload; the name in the file is a default.
        let min = usize::from(flavour == Flavour::Xsplice);
        if self.name.len() < min || self.name.len() > max {
            return Err(bad(
                "name",
                format!(
                    "must be {min}..={max} bytes for a {flavour} payload, is {}",
                    self.name.len()
                ),
            ));
        }
        if self.name.contains('\0') {
            return Err(bad("name", "contains a NUL byte"));
        }
        check_build_id("target_build_id", &self.target_build_id)?;
        for (i, d) in self.depends.iter().enumerate() {
            check_build_id(&format!("depends[{i}]"), d)?;
        }
        if flavour == Flavour::Livepatch && self.depends.len() > 1 {
            return Err(bad(
                "depends",
                format!(
                    "a livepatch payload depends on one payload (the one applied before it), not {}",
                    self.depends.len()
                ),
            ));
        }
        for (i, s) in self.sections.iter().enumerate() {
            let at = format!("sections[{i}] ({})", s.name);
            if reserved_section_name(&s.name) || s.name.contains('\0') {
                return Err(bad(at, "reserved or invalid section name"));
            }
            if self.sections[..i].iter().any(|o| o.name == s.name) {
                return Err(bad(at, "duplicate section name"));
            }
            if !s.align.is_power_of_two() || s.align > MAX_SECTION_ALIGN {
                return Err(bad(
                    at,
                    format!(
                        "alignment {} is not a power of two <= {MAX_SECTION_ALIGN}",
                        s.align
                    ),
                ));
            }
            match s.kind {
                ContentKind::Bss if !s.data.is_empty() => {
                    return Err(bad(at, "a Bss section carries no bytes"));
                }
                ContentKind::Bss => {}
                _ if s.size != s.data.len() as u64 => {
                    return Err(bad(
                        at,
                        format!("size {} != data length {}", s.size, s.data.len()),
                    ));
                }
                _ => {}
            }
            if s.kind == ContentKind::Bss && !s.relocs.is_empty() {
                return Err(bad(at, "a Bss section cannot have relocations"));
            }
            for (j, r) in s.relocs.iter().enumerate() {
                let at = format!("sections[{i}].relocs[{j}]");
                let Some(info) = arch.reloc_info(r.r_type) else {
                    return Err(bad(at, format!("relocation type {} not allowed", r.r_type)));
                };
                if flavour == Flavour::Livepatch && !arch.xen_loader_relocs().contains(&r.r_type) {
                    return Err(bad(
                        at,
                        format!(
                            "Xen's livepatch loader does not implement {}",
                            arch.reloc_type_name(r.r_type)
                        ),
                    ));
                }
                let end = r.offset.checked_add(info.width as u64);
                if end.is_none_or(|e| e > s.size) {
                    return Err(bad(
                        at,
                        format!(
                            "offset {:#x} + {} past section end {:#x}",
                            r.offset, info.width, s.size
                        ),
                    ));
                }
                match r.target {
                    RelocTarget::Symbol(k) if k >= self.symbols.len() => {
                        return Err(bad(at, format!("symbol index {k} out of range")));
                    }
                    RelocTarget::Section(k) if k >= self.sections.len() => {
                        return Err(bad(at, format!("section index {k} out of range")));
                    }
                    _ => {}
                }
            }
        }
        for (i, sym) in self.symbols.iter().enumerate() {
            let at = format!("symbols[{i}] ({})", sym.name);
            if sym.name.is_empty() || sym.name.contains('\0') {
                return Err(bad(at, "empty name or NUL in name"));
            }
            match sym.definition {
                None if !sym.global => return Err(bad(at, "an undefined symbol must be global")),
                None => {}
                Some(d) => {
                    let Some(sec) = self.sections.get(d.section) else {
                        return Err(bad(at, format!("section index {} out of range", d.section)));
                    };
                    if d.offset.checked_add(d.size).is_none_or(|e| e > sec.size) {
                        return Err(bad(
                            at,
                            format!("[{:#x}, +{:#x}) is outside {}", d.offset, d.size, sec.name),
                        ));
                    }
                }
            }
            if sym.global
                && self.symbols[..i]
                    .iter()
                    .any(|o| o.global && o.name == sym.name)
            {
                return Err(bad(at, "duplicate global symbol"));
            }
        }
        self.validate_hooks(flavour)?;
        if self.new.is_empty() && (flavour == Flavour::Xsplice || self.hooks.is_empty()) {
            return Err(bad(
                "new",
                "a payload patches at least one location (or, livepatch only, has a hook)",
            ));
        }
        for (i, e) in self.new.iter().enumerate() {
            self.validate_entry(&format!("new[{i}]"), e, false)?;
            if flavour == Flavour::Livepatch && e.patch.kind != XSPLICE_PATCH_RELOC_TEXT {
                return Err(bad(
                    format!("new[{i}].patch.type"),
                    "a livepatch payload replaces whole functions (trampolines) only",
                ));
            }
        }
        if let Some(old) = &self.old {
            if old.is_empty() {
                return Err(bad("old", "present but empty: omit it instead"));
            }
            for (i, e) in old.iter().enumerate() {
                let at = format!("old[{i}]");
                self.validate_entry(&at, e, true)?;
                if flavour == Flavour::Livepatch && e.patch.addr != 0 {
                    return Err(bad(
                        format!("{at}.patch.addr"),
                        "a livepatch expectation compares the bytes at the function's start",
                    ));
                }
                if !self.new.iter().any(|n| n.symbol.name == e.symbol.name) {
                    return Err(bad(
                        at,
                        format!("checks {} which no new entry patches", e.symbol.name),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_hooks(&self, flavour: Flavour) -> Result<(), ModelError> {
        if flavour == Flavour::Xsplice && !self.hooks.is_empty() {
            return Err(bad(
                "hooks",
                "the xsplice format has no hooks (Xen's livepatch format has)",
            ));
        }
        for (i, h) in self.hooks.iter().enumerate() {
            let at = format!("hooks[{i}] ({:?})", h.kind);
            let sym = self
                .symbols
                .get(h.symbol)
                .ok_or_else(|| bad(&at, format!("symbol index {} out of range", h.symbol)))?;
            let text = sym
                .definition
                .and_then(|d| self.sections.get(d.section))
                .is_some_and(|s| s.kind == ContentKind::Text);
            if !text {
                return Err(bad(
                    at,
                    format!(
                        "{} is not a function defined in the payload's text",
                        sym.name
                    ),
                ));
            }
            if !h.kind.many() && self.hooks[..i].iter().any(|o| o.kind == h.kind) {
                return Err(bad(at, "this kind of hook holds one function"));
            }
        }
        Ok(())
    }

    fn validate_entry(&self, at: &str, e: &Entry, old: bool) -> Result<(), ModelError> {
        let arch = self.machine.arch();
        if e.symbol.name.is_empty() || e.symbol.name.contains('\0') || e.symbol.label.contains('\0')
        {
            return Err(bad(format!("{at}.symbol"), "empty name or NUL in a string"));
        }
        let flags = e.section.flags;
        if flags & !XSPLICE_SECTION_ALL != 0 {
            return Err(bad(
                format!("{at}.section.flags"),
                format!("unknown bits {:#x}", flags & !XSPLICE_SECTION_ALL),
            ));
        }
        let kind = flags & XSPLICE_SECTION_KIND_MASK;
        if kind.count_ones() != 1 {
            return Err(bad(
                format!("{at}.section.flags"),
                "exactly one of TEXT, RODATA, DATA, STRING must be set",
            ));
        }
        if kind == XSPLICE_SECTION_DATA {
            return Err(bad(
                format!("{at}.section.flags"),
                "writable data (DATA) cannot be patched",
            ));
        }
        let inline_flag = flags & XSPLICE_SECTION_TEXT_INLINE != 0;
        let p = &e.patch;
        let sec = self.sections.get(p.content.section).ok_or_else(|| {
            bad(
                format!("{at}.patch.content"),
                format!("section index {} out of range", p.content.section),
            )
        })?;
        if p.content
            .offset
            .checked_add(u64::from(p.size))
            .is_none_or(|end| end > sec.size)
            || sec.kind == ContentKind::Bss
        {
            return Err(bad(
                format!("{at}.patch.content"),
                format!(
                    "{} bytes at {:#x} are not inside {} ({:#x} bytes)",
                    p.size, p.content.offset, sec.name, sec.size
                ),
            ));
        }
        if p.size == 0 {
            return Err(bad(format!("{at}.patch.size"), "must not be zero"));
        }
        match (old, &e.reloc) {
            (true, Some(_)) => {
                return Err(bad(
                    format!("{at}.reloc"),
                    "old code carries no xsplice_reloc",
                ));
            }
            (false, None) => {
                return Err(bad(
                    format!("{at}.reloc"),
                    "new code needs an xsplice_reloc per patch",
                ));
            }
            _ => {}
        }
        if old {
            // Old code: the content is the bytes expected at symbol+addr.
            if !matches!(
                p.kind,
                XSPLICE_PATCH_INLINE_TEXT | XSPLICE_PATCH_INLINE_DATA
            ) {
                return Err(bad(
                    format!("{at}.patch.type"),
                    "old code entries are INLINE_TEXT or INLINE_DATA",
                ));
            }
            return check_inline_fits(at, e);
        }
        let r = e.reloc.as_ref().expect("checked above");
        if r.howto.flag & !XSPLICE_HOWTO_FLAG_ALL != 0 {
            return Err(bad(
                format!("{at}.reloc.howto.flag"),
                format!("unknown bits {:#x}", r.howto.flag),
            ));
        }
        if r.addr != 0
            && e.section.address != 0
            && r.addr != e.section.address.wrapping_add(r.isns_target as u64)
        {
            return Err(bad(
                format!("{at}.reloc.addr"),
                "disagrees with section.address + isns_target",
            ));
        }
        match p.kind {
            XSPLICE_PATCH_RELOC_TEXT => {
                if kind != XSPLICE_SECTION_TEXT || inline_flag {
                    return Err(bad(
                        format!("{at}.section.flags"),
                        "a trampoline patch needs TEXT without TEXT_INLINE",
                    ));
                }
                if sec.kind != ContentKind::Text {
                    return Err(bad(
                        format!("{at}.patch.content"),
                        format!(
                            "new code must be in an executable section, {} is not",
                            sec.name
                        ),
                    ));
                }
                if p.addr != 0 {
                    return Err(bad(
                        format!("{at}.patch.addr"),
                        "must be 0 for a trampoline patch",
                    ));
                }
                let h = r.howto;
                if h.howto != XSPLICE_HOWTO_RELOC_PATCH || h.flag & XSPLICE_HOWTO_FLAG_PC_REL == 0 {
                    return Err(bad(
                        format!("{at}.reloc.howto"),
                        "a trampoline patch needs howto RELOC_PATCH with PC_REL",
                    ));
                }
                if h.size != arch.trampoline_disp_size() || h.r_shift != 0 {
                    return Err(bad(
                        format!("{at}.reloc.howto"),
                        format!(
                            "size must be {} and r_shift 0 on {:?}",
                            arch.trampoline_disp_size(),
                            self.machine
                        ),
                    ));
                }
                if r.isns_added != arch.trampoline_isns_added() {
                    return Err(bad(
                        format!("{at}.reloc.isns_added"),
                        format!(
                            "must be {} on {:?}",
                            arch.trampoline_isns_added(),
                            self.machine
                        ),
                    ));
                }
                if (e.section.size as usize) < arch.trampoline_len() {
                    return Err(bad(
                        format!("{at}.section.size"),
                        format!(
                            "{} bytes cannot hold the {}-byte trampoline",
                            e.section.size,
                            arch.trampoline_len()
                        ),
                    ));
                }
            }
            XSPLICE_PATCH_INLINE_TEXT | XSPLICE_PATCH_INLINE_DATA => {
                let text = p.kind == XSPLICE_PATCH_INLINE_TEXT;
                if text && (kind != XSPLICE_SECTION_TEXT || !inline_flag) {
                    return Err(bad(
                        format!("{at}.section.flags"),
                        "INLINE_TEXT needs TEXT|TEXT_INLINE",
                    ));
                }
                if !text && (kind == XSPLICE_SECTION_TEXT || inline_flag) {
                    return Err(bad(
                        format!("{at}.section.flags"),
                        "INLINE_DATA needs RODATA or STRING, without TEXT_INLINE",
                    ));
                }
                if r.howto.howto != XSPLICE_HOWTO_INLINE || r.howto.size != p.size {
                    return Err(bad(
                        format!("{at}.reloc.howto"),
                        "an inline patch needs howto INLINE with size = patch size",
                    ));
                }
                check_inline_fits(at, e)?;
            }
            other => {
                return Err(bad(
                    format!("{at}.patch.type"),
                    format!("unknown patch type {other}"),
                ));
            }
        }
        Ok(())
    }
}

fn check_inline_fits(at: &str, e: &Entry) -> Result<(), ModelError> {
    let end = e.patch.addr.checked_add(u64::from(e.patch.size));
    if end.is_none_or(|end| end > u64::from(e.section.size)) {
        return Err(bad(
            format!("{at}.patch"),
            format!(
                "{} bytes at offset {:#x} do not fit in the {}-byte target",
                e.patch.size, e.patch.addr, e.section.size
            ),
        ));
    }
    Ok(())
}

fn check_build_id(at: &str, id: &[u8]) -> Result<(), ModelError> {
    if id.is_empty() || id.len() > MAX_BUILD_ID_LEN {
        return Err(bad(
            at,
            format!(
                "a build-id is 1..={MAX_BUILD_ID_LEN} bytes, this one {}",
                id.len()
            ),
        ));
    }
    Ok(())
}
