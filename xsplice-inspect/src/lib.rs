//! Everything in a payload, as a serde document and as text.
//!
//! [`inspect`] reads a payload with the strict reader and builds an [`Inspection`];
//! [`render_text`] prints it. The JSON form (`serde_json` of `Inspection`) is the
//! stable machine-readable output of `xsplice-inspect --json`.

pub mod disasm;
mod text;

use serde::Serialize;
use xsplice_payload::layout::*;
use xsplice_payload::livepatch::layout as lp;
use xsplice_payload::read::{ElfRelocations, ElfSection, ReadError, read};
use xsplice_payload::{ContentKind, Entry, Flavour, HookKind, Payload};
pub use xsplice_sign::{Certificate, Trailer};

pub use disasm::Insn;
pub use text::render_text;

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Trailer(#[from] xsplice_sign::TrailerError),
    #[error("disassembling {section}: {why}")]
    Disassembly { section: String, why: String },
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    pub file_size: u64,
    /// Bytes of the payload proper (the signed bytes when a signature is appended).
    pub payload_size: u64,
    /// The appended signature, if any.
    pub signature: Option<SignatureView>,
    /// Set when certificates were given but the payload carries no signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsigned_but_required: Option<Verification>,
    pub machine: String,
    /// The encoding: `xsplice` (`.xsplice` structures) or `livepatch` (Xen's).
    pub format: Flavour,
    /// xsplice: `xsplice.name`; livepatch: `name=` of `.modinfo` (the name given at
    /// upload is the one the hypervisor uses).
    pub name: String,
    /// `xsplice.version`, or the `version` of every `livepatch_func`.
    pub version: u32,
    /// Hex of `xsplice.id` / of the `.livepatch.xen_depends` note.
    pub target_build_id: String,
    /// Hex of the payload's own `.note.gnu.build-id`.
    pub build_id: String,
    /// Hex build-ids of payloads this one depends on.
    pub depends: Vec<String>,
    /// xsplice: `xsplice.new` (empty for livepatch).
    pub new: Vec<EntryView>,
    /// xsplice: `xsplice.old`.
    pub old: Option<Vec<EntryView>>,
    /// livepatch: the entries of `.livepatch.funcs` (empty for xsplice).
    pub functions: Vec<FuncView>,
    /// livepatch: `.livepatch.hooks.*`.
    pub hooks: Vec<HookView>,
    /// livepatch: the NUL-separated strings of `.modinfo` (Xen's LIST metadata).
    pub metadata: Vec<String>,
    pub content: Vec<ContentView>,
    pub symbols: Vec<SymbolView>,
    pub elf_sections: Vec<ElfSection>,
    pub elf_relocations: Vec<ElfRelocations>,
}

/// An appended signature and what was checked about it.
#[derive(Clone, Debug, Serialize)]
pub struct SignatureView {
    pub trailer: Trailer,
    /// `None` when the trailer obeys every structural rule, else why not.
    pub structure_error: Option<String>,
    pub verification: Verification,
}

/// The outcome of checking a signature against trusted certificates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verification {
    /// No certificate was given.
    NotChecked,
    /// Verified with the certificate of this subject.
    Valid { subject: String },
    /// Does not verify, and why.
    Invalid { reason: String },
}

/// One patch site.
#[derive(Clone, Debug, Serialize)]
pub struct EntryView {
    pub symbol: String,
    pub label: String,
    /// `RELOC_TEXT`, `INLINE_TEXT`, `INLINE_DATA` (or the number if unknown).
    pub patch_type: String,
    /// Patch size in bytes.
    pub size: u32,
    /// `xsplice_patch.addr`.
    pub addr: u64,
    /// Where the content bytes are: `section+offset`.
    pub content: String,
    /// `xsplice_section.address` / `.size` / decoded flags.
    pub section_address: u64,
    pub section_size: u32,
    pub section_flags: Vec<&'static str>,
    pub reloc: Option<RelocView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RelocView {
    pub addr: u64,
    pub isns_target: i64,
    pub isns_added: i64,
    /// `INLINE`, `RELOC_PATCH` (or the number).
    pub howto: String,
    pub howto_flags: Vec<&'static str>,
    pub howto_size: u32,
    pub r_shift: u32,
    pub mask: u64,
}

/// One `struct livepatch_func`.
#[derive(Clone, Debug, Serialize)]
pub struct FuncView {
    pub name: String,
    /// 0: looked up by `name` at upload.
    pub old_addr: u64,
    pub old_size: u32,
    /// Where `new_addr` points: `section+offset`.
    pub new_addr: String,
    pub new_size: u32,
    /// Hex of the bytes `expect` compares at `old_addr` (empty: disabled).
    pub expect: String,
}

/// One hook function.
#[derive(Clone, Debug, Serialize)]
pub struct HookView {
    pub kind: HookKind,
    pub section: &'static str,
    pub function: String,
}

/// A code or data section of the payload.
#[derive(Clone, Debug, Serialize)]
pub struct ContentView {
    pub name: String,
    pub kind: ContentKind,
    pub size: u64,
    pub align: u64,
    /// `offset TYPE symbol+addend` for every relocation.
    pub relocs: Vec<String>,
    /// Text sections only.
    pub disassembly: Option<Vec<Insn>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SymbolView {
    pub name: String,
    pub kind: String,
    pub global: bool,
    /// `section+offset (size N)`, or `undefined (resolved in the hypervisor)`.
    pub definition: String,
}

/// Reads `bytes` and builds the report, without checking a signature.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, InspectError> {
    inspect_with(bytes, &[])
}

/// Reads `bytes` (a payload, possibly with an appended signature) and builds the
/// report; with `trusted` certificates the signature is verified (an unsigned
/// payload then reports `Invalid`).
pub fn inspect_with(bytes: &[u8], trusted: &[Certificate]) -> Result<Inspection, InspectError> {
    let (payload_bytes, trailer) = xsplice_sign::split(bytes)?;
    let verification = |bytes: &[u8]| match xsplice_sign::verify(bytes, trusted) {
        Ok(v) => Verification::Valid { subject: v.subject },
        Err(e) => Verification::Invalid {
            reason: e.to_string(),
        },
    };
    let signature = trailer.map(|trailer| SignatureView {
        structure_error: xsplice_sign::check_trailer(bytes)
            .err()
            .map(|e| e.to_string()),
        verification: if trusted.is_empty() {
            Verification::NotChecked
        } else {
            verification(bytes)
        },
        trailer,
    });
    let mut report = inspect_payload(payload_bytes)?;
    report.file_size = bytes.len() as u64;
    if signature.is_none() && !trusted.is_empty() {
        report.unsigned_but_required = Some(verification(bytes));
    }
    report.signature = signature;
    Ok(report)
}

fn inspect_payload(bytes: &[u8]) -> Result<Inspection, InspectError> {
    let r = read(bytes)?;
    let p = &r.payload;
    let mut content = Vec::with_capacity(p.sections.len());
    // A livepatch file carries old bytes in `expect`, not in sections of their own.
    let not_in_file = match r.flavour {
        Flavour::Xsplice => Vec::new(),
        Flavour::Livepatch => xsplice_payload::livepatch::write::expectation_only_sections(p),
    };
    for (k, s) in p.sections.iter().enumerate() {
        if not_in_file.contains(&k) {
            continue;
        }
        let disassembly = if s.kind == ContentKind::Text {
            Some(
                disasm::disassemble(p, s).map_err(|why| InspectError::Disassembly {
                    section: s.name.clone(),
                    why,
                })?,
            )
        } else {
            None
        };
        let arch = p.machine.arch();
        let relocs = s
            .relocs
            .iter()
            .map(|x| {
                let ty = arch.reloc_info(x.r_type).map_or("?", |k| k.name);
                format!(
                    "{:#06x} {ty} {}",
                    x.offset,
                    disasm::symbolic(&disasm::target_name(p, x.target), x.addend)
                )
            })
            .collect();
        content.push(ContentView {
            name: s.name.clone(),
            kind: s.kind,
            size: s.size,
            align: s.align,
            relocs,
            disassembly,
        });
    }
    let symbols = p
        .symbols
        .iter()
        .map(|s| SymbolView {
            name: s.name.clone(),
            kind: format!("{:?}", s.kind),
            global: s.global,
            definition: match s.definition {
                None => "undefined (resolved in the hypervisor or loaded payloads)".into(),
                Some(d) => format!(
                    "{}+{:#x} (size {:#x})",
                    p.sections[d.section].name, d.offset, d.size
                ),
            },
        })
        .collect();
    let xsplice = r.flavour == Flavour::Xsplice;
    let metadata = r
        .elf_sections
        .iter()
        .find(|s| !xsplice && s.name == lp::MODINFO_SECTION)
        .and_then(|s| bytes.get(s.offset as usize..(s.offset + s.size) as usize))
        .map(|d| {
            d.split(|&b| b == 0)
                .filter(|kv| !kv.is_empty())
                .map(|kv| String::from_utf8_lossy(kv).into_owned())
                .collect()
        })
        .unwrap_or_default();
    Ok(Inspection {
        file_size: bytes.len() as u64,
        payload_size: bytes.len() as u64,
        signature: None,
        unsigned_but_required: None,
        machine: format!("{:?}", p.machine),
        format: r.flavour,
        name: p.name.clone(),
        version: match r.flavour {
            Flavour::Xsplice => PAYLOAD_VERSION,
            Flavour::Livepatch => u32::from(lp::PAYLOAD_VERSION),
        },
        target_build_id: hex::encode(&p.target_build_id),
        build_id: hex::encode(&r.build_id),
        depends: p.depends.iter().map(hex::encode).collect(),
        new: if xsplice {
            p.new.iter().map(|e| entry_view(p, e)).collect()
        } else {
            Vec::new()
        },
        old: p
            .old
            .as_ref()
            .filter(|_| xsplice)
            .map(|o| o.iter().map(|e| entry_view(p, e)).collect()),
        functions: if xsplice {
            Vec::new()
        } else {
            p.new.iter().map(|e| func_view(p, e)).collect()
        },
        hooks: p
            .hooks
            .iter()
            .map(|h| HookView {
                kind: h.kind,
                section: lp::hook_section(h.kind),
                function: p.symbols[h.symbol].name.clone(),
            })
            .collect(),
        metadata,
        content,
        symbols,
        elf_sections: r.elf_sections.clone(),
        elf_relocations: r.elf_relocations.clone(),
    })
}

fn func_view(p: &Payload, e: &Entry) -> FuncView {
    FuncView {
        name: e.symbol.name.clone(),
        old_addr: e.section.address,
        old_size: e.section.size,
        new_addr: format!(
            "{}+{:#x}",
            p.sections[e.patch.content.section].name, e.patch.content.offset
        ),
        new_size: e.patch.size,
        expect: hex::encode(xsplice_payload::livepatch::write::expectation(p, e)),
    }
}

fn patch_type_name(t: u32) -> String {
    match t {
        XSPLICE_PATCH_INLINE_TEXT => "INLINE_TEXT".into(),
        XSPLICE_PATCH_INLINE_DATA => "INLINE_DATA".into(),
        XSPLICE_PATCH_RELOC_TEXT => "RELOC_TEXT".into(),
        n => n.to_string(),
    }
}

fn howto_name(h: u32) -> String {
    match h {
        XSPLICE_HOWTO_INLINE => "INLINE".into(),
        XSPLICE_HOWTO_RELOC_PATCH => "RELOC_PATCH".into(),
        n => n.to_string(),
    }
}

fn entry_view(p: &Payload, e: &Entry) -> EntryView {
    EntryView {
        symbol: e.symbol.name.clone(),
        label: e.symbol.label.clone(),
        patch_type: patch_type_name(e.patch.kind),
        size: e.patch.size,
        addr: e.patch.addr,
        content: format!(
            "{}+{:#x}",
            p.sections[e.patch.content.section].name, e.patch.content.offset
        ),
        section_address: e.section.address,
        section_size: e.section.size,
        section_flags: section_flag_names(e.section.flags),
        reloc: e.reloc.map(|r| RelocView {
            addr: r.addr,
            isns_target: r.isns_target,
            isns_added: r.isns_added,
            howto: howto_name(r.howto.howto),
            howto_flags: howto_flag_names(r.howto.flag),
            howto_size: r.howto.size,
            r_shift: r.howto.r_shift,
            mask: r.howto.mask,
        }),
    }
}

impl Inspection {
    /// False when certificates were given and the signature does not verify.
    pub fn signature_ok(&self) -> bool {
        let bad = |v: &Verification| matches!(v, Verification::Invalid { .. });
        !self.unsigned_but_required.as_ref().is_some_and(bad)
            && !self
                .signature
                .as_ref()
                .is_some_and(|s| bad(&s.verification) || s.structure_error.is_some())
    }
}
