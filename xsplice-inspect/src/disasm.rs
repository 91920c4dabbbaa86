//! Disassembly of a payload's code with its ELF relocations shown inline.

use capstone::prelude::*;
use serde::Serialize;
use xsplice_payload::{ContentSection, Machine, Payload, RelocTarget};

/// One decoded instruction, or a run of identical ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Insn {
    /// Offset in its section.
    pub offset: u64,
    /// Instruction bytes, hex.
    pub bytes: String,
    /// `mnemonic operands`, or `(bad)` for undecodable bytes.
    pub text: String,
    /// Relocations whose bytes fall inside this instruction, as `TYPE symbol+addend`.
    pub relocs: Vec<String>,
    /// How many identical consecutive instructions this line stands for (≥ 1).
    pub repeat: u32,
}

/// `symbol+0x10` / `symbol-0x4` / `symbol`.
pub fn symbolic(name: &str, addend: i64) -> String {
    match addend {
        0 => name.to_string(),
        a if a < 0 => format!("{name}-{:#x}", a.unsigned_abs()),
        a => format!("{name}+{a:#x}"),
    }
}

/// Name of a relocation's target as it will be resolved.
pub fn target_name(p: &Payload, t: RelocTarget) -> String {
    match t {
        RelocTarget::Symbol(i) => p
            .symbols
            .get(i)
            .map_or_else(|| format!("<symbol {i}>"), |s| s.name.clone()),
        RelocTarget::Section(i) => p
            .sections
            .get(i)
            .map_or_else(|| format!("<section {i}>"), |s| s.name.clone()),
    }
}

/// Disassembles a text section. Runs of more than `COLLAPSE` identical instructions
/// without relocations are folded into one line with a repeat count.
pub fn disassemble(p: &Payload, section: &ContentSection) -> Result<Vec<Insn>, String> {
    const COLLAPSE: u32 = 3;
    let cs = match p.machine {
        Machine::X86_64 => Capstone::new()
            .x86()
            .mode(arch::x86::ArchMode::Mode64)
            .syntax(arch::x86::ArchSyntax::Att)
            .build(),
    }
    .map_err(|e| format!("capstone: {e}"))?;
    let arch = p.machine.arch();
    let mut out: Vec<Insn> = Vec::new();
    let data = &section.data;
    let mut pos = 0usize;
    while pos < data.len() {
        let insns = cs
            .disasm_count(&data[pos..], pos as u64, 1)
            .map_err(|e| format!("capstone: {e}"))?;
        let (len, text) = match insns.iter().next() {
            Some(i) => {
                let ops = i.op_str().unwrap_or("");
                let m = i.mnemonic().unwrap_or("?");
                (
                    i.bytes().len(),
                    if ops.is_empty() {
                        m.to_string()
                    } else {
                        format!("{m} {ops}")
                    },
                )
            }
            None => (1, "(bad)".to_string()),
        };
        let end = (pos + len) as u64;
        let relocs: Vec<String> = section
            .relocs
            .iter()
            .filter(|r| r.offset >= pos as u64 && r.offset < end)
            .map(|r| {
                let ty = arch.reloc_info(r.r_type).map_or("?", |k| k.name);
                format!("{ty} {}", symbolic(&target_name(p, r.target), r.addend))
            })
            .collect();
        let bytes = hex::encode(&data[pos..pos + len]);
        match out.last_mut() {
            Some(last)
                if last.bytes == bytes
                    && last.text == text
                    && relocs.is_empty()
                    && last.relocs.is_empty() =>
            {
                last.repeat += 1;
            }
            _ => out.push(Insn {
                offset: pos as u64,
                bytes,
                text,
                relocs,
                repeat: 1,
            }),
        }
        pos += len;
    }
    // Expand short runs back: only long runs are folded.
    let mut expanded = Vec::with_capacity(out.len());
    for i in out {
        if i.repeat > 1 && i.repeat <= COLLAPSE {
            let len = (i.bytes.len() / 2) as u64;
            for k in 0..u64::from(i.repeat) {
                expanded.push(Insn {
                    offset: i.offset + k * len,
                    repeat: 1,
                    ..i.clone()
                });
            }
        } else {
            expanded.push(i);
        }
    }
    Ok(expanded)
}
