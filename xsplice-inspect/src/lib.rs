//! Everything in a payload, as a serde document and as text.
//!
//! [`inspect`] reads a payload with the strict reader and builds an [`Inspection`];
//! [`render_text`] prints it. The JSON form (`serde_json` of `Inspection`) is the
//! stable machine-readable output of `xsplice-inspect --json`.

pub mod disasm;
mod text;

use serde::Serialize;
use xsplice_payload::layout::*;
use xsplice_payload::read::{ElfRelocations, ElfSection, ReadError, read};
use xsplice_payload::{ContentKind, Entry, Payload};
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
    pub name: String,
    pub version: u32,
    /// Hex of `xsplice.id`.
    pub target_build_id: String,
    /// Hex of the payload's own `.note.gnu.build-id`.
    pub build_id: String,
    /// Hex build-ids of payloads this one depends on.
    pub depends: Vec<String>,
    pub new: Vec<EntryView>,
    pub old: Option<Vec<EntryView>>,
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
    for s in &p.sections {
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
    Ok(Inspection {
        file_size: bytes.len() as u64,
        payload_size: bytes.len() as u64,
        signature: None,
        unsigned_but_required: None,
        machine: format!("{:?}", p.machine),
        name: p.name.clone(),
        version: PAYLOAD_VERSION,
        target_build_id: hex::encode(&p.target_build_id),
        build_id: hex::encode(&r.build_id),
        depends: p.depends.iter().map(hex::encode).collect(),
        new: p.new.iter().map(|e| entry_view(p, e)).collect(),
        old: p
            .old
            .as_ref()
            .map(|o| o.iter().map(|e| entry_view(p, e)).collect()),
        content,
        symbols,
        elf_sections: r.elf_sections.clone(),
        elf_relocations: r.elf_relocations.clone(),
    })
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
