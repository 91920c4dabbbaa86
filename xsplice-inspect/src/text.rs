//! The human-readable rendering of an [`Inspection`].

use std::fmt::Write;

use crate::{EntryView, Inspection};

fn flags(f: &[&str]) -> String {
    if f.is_empty() {
        "-".into()
    } else {
        f.join("|")
    }
}

fn entries(out: &mut String, title: &str, list: &[EntryView]) {
    let _ = writeln!(
        out,
        "{title}: {} patch{}",
        list.len(),
        if list.len() == 1 { "" } else { "es" }
    );
    for (i, e) in list.iter().enumerate() {
        let _ = writeln!(
            out,
            "  [{i}] {}  (label {})",
            e.symbol,
            if e.label.is_empty() { "-" } else { &e.label }
        );
        let _ = writeln!(
            out,
            "      patch    {} size {} addr {:#x} content {}",
            e.patch_type, e.size, e.addr, e.content
        );
        let _ = writeln!(
            out,
            "      section  address {:#x} size {} flags {}",
            e.section_address,
            e.section_size,
            flags(&e.section_flags)
        );
        if let Some(r) = &e.reloc {
            let _ = writeln!(
                out,
                "      reloc    addr {:#x} isns_target {} isns_added {}",
                r.addr, r.isns_target, r.isns_added
            );
            let _ = writeln!(
                out,
                "      howto    {} flags {} size {} r_shift {} mask {:#x}",
                r.howto,
                flags(&r.howto_flags),
                r.howto_size,
                r.r_shift,
                r.mask
            );
        }
    }
}

fn functions(out: &mut String, i: &Inspection) {
    let n = i.functions.len();
    let _ = writeln!(
        out,
        "functions (.livepatch.funcs): {n} function{}",
        if n == 1 { "" } else { "s" }
    );
    for (k, f) in i.functions.iter().enumerate() {
        let _ = writeln!(out, "  [{k}] {}", f.name);
        let old = if f.old_addr == 0 {
            "looked up by name".to_string()
        } else {
            format!("{:#x}", f.old_addr)
        };
        let _ = writeln!(out, "      old      {old}, {} bytes", f.old_size);
        let _ = writeln!(out, "      new      {}, {} bytes", f.new_addr, f.new_size);
        if f.expect.is_empty() {
            let _ = writeln!(out, "      expect   none");
        } else {
            let _ = writeln!(
                out,
                "      expect   {} bytes: {}",
                f.expect.len() / 2,
                f.expect
                    .as_bytes()
                    .chunks(2)
                    .map(|c| std::str::from_utf8(c).unwrap_or("??"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    if i.hooks.is_empty() {
        let _ = writeln!(out, "hooks: none");
    } else {
        let _ = writeln!(out, "hooks:");
        for h in &i.hooks {
            let _ = writeln!(out, "  {:<28} {}", h.section, h.function);
        }
    }
}

/// Renders the report as text.
pub fn render_text(i: &Inspection) -> String {
    let mut out = String::new();
    let livepatch = i.format == xsplice_payload::Flavour::Livepatch;
    let _ = writeln!(
        out,
        "{} payload \"{}\" ({}, {} bytes)",
        i.format, i.name, i.machine, i.file_size
    );
    let _ = writeln!(out, "  version          {}", i.version);
    let _ = writeln!(out, "  target build-id  {}", i.target_build_id);
    let _ = writeln!(out, "  build-id         {}", i.build_id);
    match (&i.signature, &i.unsigned_but_required) {
        (Some(sig), _) => {
            let _ = writeln!(out, "  signature        {}", sig.trailer);
            if let Some(e) = &sig.structure_error {
                let _ = writeln!(out, "                   MALFORMED: {e}");
            }
            let _ = writeln!(
                out,
                "                   signed bytes: {} of {}",
                i.payload_size, i.file_size
            );
            let _ = writeln!(
                out,
                "                   {}",
                verification(&sig.verification)
            );
        }
        (None, Some(v)) => {
            let _ = writeln!(out, "  signature        none; {}", verification(v));
        }
        (None, None) => {
            let _ = writeln!(out, "  signature        none");
        }
    }
    if i.depends.is_empty() {
        let _ = writeln!(
            out,
            "  depends          (none: applies on the hypervisor itself)"
        );
    }
    for d in &i.depends {
        let _ = writeln!(out, "  depends          {d}");
    }
    for m in &i.metadata {
        let _ = writeln!(out, "  metadata         {m}");
    }
    out.push('\n');
    if livepatch {
        functions(&mut out, i);
    } else {
        entries(&mut out, "new code", &i.new);
        match &i.old {
            None => {
                let _ = writeln!(out, "old code: none");
            }
            Some(old) => entries(&mut out, "old code (expected bytes)", old),
        }
    }
    let _ = writeln!(out, "\ncontent sections:");
    for c in &i.content {
        let _ = writeln!(
            out,
            "  {}  {:?}  {} bytes  align {}",
            c.name, c.kind, c.size, c.align
        );
        match &c.disassembly {
            Some(insns) => {
                for x in insns {
                    let mut line =
                        format!("    {:04x}: {:<24} {}", x.offset, spaced(&x.bytes), x.text);
                    if x.repeat > 1 {
                        let _ = write!(line, "    (x{})", x.repeat);
                    }
                    for r in &x.relocs {
                        let _ = write!(line, "    ; {r}");
                    }
                    let _ = writeln!(out, "{}", line.trim_end());
                }
            }
            None => {
                for r in &c.relocs {
                    let _ = writeln!(out, "    reloc {r}");
                }
            }
        }
    }
    let _ = writeln!(out, "\nsymbols:");
    for s in &i.symbols {
        let bind = if s.global { "global" } else { "local" };
        let _ = writeln!(
            out,
            "  {:<28} {:<7} {:<6} {}",
            s.name, s.kind, bind, s.definition
        );
    }
    let _ = writeln!(out, "\nELF sections:");
    let _ = writeln!(
        out,
        "  {:>3} {:<24} {:<8} {:<5} {:>8} {:>8} {:>5}",
        "nr", "name", "type", "flags", "offset", "size", "align"
    );
    for s in &i.elf_sections {
        let _ = writeln!(
            out,
            "  {:>3} {:<24} {:<8} {:<5} {:>8x} {:>8x} {:>5}",
            s.index,
            s.name,
            section_type(s.sh_type),
            section_flags(s.flags),
            s.offset,
            s.size,
            s.align
        );
    }
    let _ = writeln!(out, "\nELF relocations:");
    for g in &i.elf_relocations {
        let _ = writeln!(
            out,
            "  {} ({} entries, for {})",
            g.rela_section,
            g.entries.len(),
            g.target_section
        );
        for r in &g.entries {
            let _ = writeln!(
                out,
                "    {:#06x} {:<16} {}",
                r.offset,
                r.type_name,
                crate::disasm::symbolic(&r.symbol, r.addend)
            );
        }
    }
    out
}

fn verification(v: &crate::Verification) -> String {
    match v {
        crate::Verification::NotChecked => "verification: not checked (give --cert)".into(),
        crate::Verification::Valid { subject } => {
            format!("verification: VALID, signed by {subject}")
        }
        crate::Verification::Invalid { reason } => format!("verification: INVALID: {reason}"),
    }
}

fn spaced(hex: &str) -> String {
    let pairs: Vec<&str> = (0..hex.len()).step_by(2).map(|i| &hex[i..i + 2]).collect();
    let mut s = pairs.join(" ");
    if s.len() > 24 {
        s.truncate(21);
        s.push_str("...");
    }
    s
}

fn section_type(t: u32) -> String {
    match t {
        1 => "PROGBITS".into(),
        2 => "SYMTAB".into(),
        3 => "STRTAB".into(),
        4 => "RELA".into(),
        7 => "NOTE".into(),
        8 => "NOBITS".into(),
        n => format!("{n:#x}"),
    }
}

/// readelf's letters: W write, A alloc, X execute, M merge, S strings, I info link.
fn section_flags(f: u64) -> String {
    let letters = [
        (0x1, 'W'),
        (0x2, 'A'),
        (0x4, 'X'),
        (0x10, 'M'),
        (0x20, 'S'),
        (0x40, 'I'),
    ];
    let s: String = letters
        .iter()
        .filter(|(bit, _)| f & bit != 0)
        .map(|(_, c)| *c)
        .collect();
    if s.is_empty() { "-".into() } else { s }
}
