//! Our reader against two independent ones: binutils (`readelf`, `objdump`) and goblin.
//! Every fixture payload must be read by them without warnings, and the sections,
//! symbols and relocations they list must agree with ours.

use std::process::Command;

use xsplice_payload::fixtures;
use xsplice_payload::read::{ReadPayload, read};
use xsplice_payload::write::to_bytes;

fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "xsa125",
            to_bytes(&fixtures::xsa125(), xsplice_payload::Flavour::Xsplice).unwrap(),
        ),
        (
            "full",
            to_bytes(&fixtures::full(), xsplice_payload::Flavour::Xsplice).unwrap(),
        ),
    ]
}

fn run(tool: &str, args: &[&str], path: &std::path::Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{tool} failed: {stderr}");
    assert!(stderr.trim().is_empty(), "{tool} warned: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        !stdout.to_lowercase().contains("warning"),
        "{tool} output has a warning:\n{stdout}"
    );
    stdout
}

/// (section, offset, type, symbol, addend) from `readelf -r -W`.
fn readelf_relocs(text: &str) -> Vec<(String, u64, String, String, i64)> {
    let mut out = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Relocation section '") {
            section = rest.split('\'').next().unwrap().to_string();
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 5 || !cols[2].starts_with("R_") {
            continue;
        }
        let offset = u64::from_str_radix(cols[0], 16).unwrap();
        let (sym, sign, val) = (cols[4], cols[5], cols[6]);
        let mag = i64::from_str_radix(val, 16).unwrap();
        let addend = if sign == "-" { -mag } else { mag };
        out.push((
            section.clone(),
            offset,
            cols[2].to_string(),
            sym.to_string(),
            addend,
        ));
    }
    out
}

fn our_relocs(p: &ReadPayload) -> Vec<(String, u64, String, String, i64)> {
    p.elf_relocations
        .iter()
        .flat_map(|g| {
            g.entries.iter().map(|r| {
                (
                    g.rela_section.clone(),
                    r.offset,
                    r.type_name.clone(),
                    r.symbol.clone(),
                    r.addend,
                )
            })
        })
        .collect()
}

/// (target section, offset, type, symbol, addend) from the relocations `objdump -dr`
/// prints inline in its disassembly (`\t\t\tc: R_X86_64_PLT32\tname-0x4`).
fn objdump_inline_relocs(text: &str) -> Vec<(String, u64, String, String, i64)> {
    let mut out = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Disassembly of section ") {
            section = rest.trim_end_matches(':').to_string();
            continue;
        }
        let Some(rest) = line.strip_prefix("\t\t\t") else {
            continue;
        };
        let (offset, rest) = rest.split_once(": ").unwrap();
        let (ty, value) = rest.split_once('\t').unwrap();
        let (sym, addend) = match (value.rfind("+0x"), value.rfind("-0x")) {
            (Some(i), _) => (
                &value[..i],
                i64::from_str_radix(&value[i + 3..], 16).unwrap(),
            ),
            (None, Some(i)) => (
                &value[..i],
                -i64::from_str_radix(&value[i + 3..], 16).unwrap(),
            ),
            (None, None) => (value, 0),
        };
        out.push((
            section.clone(),
            u64::from_str_radix(offset, 16).unwrap(),
            ty.to_string(),
            sym.to_string(),
            addend,
        ));
    }
    out
}

/// (name, value, size, type, bind, section) from `readelf -s -W`.
fn readelf_symbols(
    text: &str,
    section_names: &[(usize, String)],
) -> Vec<(String, u64, u64, String, String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 7 || !cols[0].ends_with(':') || cols[0] == "0:" {
            continue;
        }
        let Ok(value) = u64::from_str_radix(cols[1], 16) else {
            continue;
        };
        let ndx = match cols[6] {
            "UND" => "UND".to_string(),
            "ABS" => "ABS".to_string(),
            n => section_names
                .iter()
                .find(|(i, _)| i.to_string() == n)
                .unwrap()
                .1
                .clone(),
        };
        let name = cols.get(7).map(|s| s.to_string()).unwrap_or_default();
        out.push((
            name,
            value,
            cols[2].parse().unwrap(),
            cols[3].to_string(),
            cols[4].to_string(),
            ndx,
        ));
    }
    out
}

#[test]
fn binutils_read_every_fixture_without_warnings_and_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut inline_seen = 0;
    for (name, bytes) in fixtures() {
        let path = dir.path().join(format!("{name}.xsplice"));
        std::fs::write(&path, &bytes).unwrap();
        let ours = read(&bytes).unwrap();

        run("readelf", &["-a", "-W"], &path);
        let disasm = run("objdump", &["-dr"], &path);
        assert!(disasm.contains("file format elf64-x86-64"), "{disasm}");
        // objdump shows the relocations of code inline: exactly ours for text sections.
        let text_sections: Vec<&str> = ours
            .elf_sections
            .iter()
            .filter(|s| s.flags & u64::from(object::elf::SHF_EXECINSTR) != 0)
            .map(|s| s.name.as_str())
            .collect();
        let inline = objdump_inline_relocs(&disasm);
        let mine: Vec<_> = ours
            .elf_relocations
            .iter()
            .filter(|g| text_sections.contains(&g.target_section.as_str()))
            .flat_map(|g| {
                g.entries.iter().map(|r| {
                    (
                        g.target_section.clone(),
                        r.offset,
                        r.type_name.clone(),
                        r.symbol.clone(),
                        r.addend,
                    )
                })
            })
            .collect();
        assert_eq!(inline, mine, "{name}: objdump's inline relocations differ");
        assert!(!text_sections.is_empty());
        inline_seen += inline.len();

        let relocs = readelf_relocs(&run("readelf", &["-r", "-W"], &path));
        assert_eq!(relocs, our_relocs(&ours), "{name}: relocations differ");
        assert!(!relocs.is_empty());

        let names: Vec<(usize, String)> = ours
            .elf_sections
            .iter()
            .map(|s| (s.index, s.name.clone()))
            .collect();
        let mut theirs = readelf_symbols(&run("readelf", &["-s", "-W"], &path), &names);
        // readelf prints section symbols without a name; ours name them by section.
        for s in theirs.iter_mut().filter(|s| s.3 == "SECTION") {
            s.0 = String::new();
        }
        let mine: Vec<_> = ours
            .elf_symbols
            .iter()
            .map(|s| {
                let n = if s.kind == "SECTION" {
                    String::new()
                } else {
                    s.name.clone()
                };
                (
                    n,
                    s.value,
                    s.size,
                    s.kind.clone(),
                    s.bind.clone(),
                    s.section.clone(),
                )
            })
            .collect();
        assert_eq!(theirs, mine, "{name}: symbols differ");
    }
    assert!(
        inline_seen > 0,
        "no fixture has a code relocation to compare"
    );
}

#[test]
fn goblin_agrees_on_sections_symbols_and_relocations() {
    for (name, bytes) in fixtures() {
        let ours = read(&bytes).unwrap();
        let g = goblin::elf::Elf::parse(&bytes).unwrap();
        assert_eq!(g.header.e_type, goblin::elf::header::ET_REL);

        let theirs: Vec<(String, u32, u64, u64, u64)> = g
            .section_headers
            .iter()
            .skip(1)
            .map(|s| {
                (
                    g.shdr_strtab.get_at(s.sh_name).unwrap().to_string(),
                    s.sh_type,
                    s.sh_flags,
                    s.sh_offset,
                    s.sh_size,
                )
            })
            .collect();
        let mine: Vec<(String, u32, u64, u64, u64)> = ours
            .elf_sections
            .iter()
            .map(|s| (s.name.clone(), s.sh_type, s.flags, s.offset, s.size))
            .collect();
        assert_eq!(theirs, mine, "{name}: sections differ");

        let theirs: Vec<(String, u64, u64, u8, usize)> = g
            .syms
            .iter()
            .skip(1)
            .map(|s| {
                (
                    g.strtab.get_at(s.st_name).unwrap_or("").to_string(),
                    s.st_value,
                    s.st_size,
                    s.st_bind(),
                    s.st_shndx,
                )
            })
            .collect();
        let mine: Vec<(String, u64, u64, u8, usize)> = ours
            .elf_symbols
            .iter()
            .map(|s| {
                let shndx = match s.section.as_str() {
                    "UND" => 0,
                    sec => {
                        ours.elf_sections
                            .iter()
                            .find(|x| x.name == sec)
                            .unwrap()
                            .index
                    }
                };
                let name = if s.kind == "SECTION" {
                    String::new()
                } else {
                    s.name.clone()
                };
                (name, s.value, s.size, u8::from(s.bind == "GLOBAL"), shndx)
            })
            .collect();
        assert_eq!(theirs, mine, "{name}: symbols differ");

        let mut theirs: Vec<(String, u64, u32, usize, i64)> = Vec::new();
        for (idx, relocs) in &g.shdr_relocs {
            let sec = &g.section_headers[*idx];
            let rela_name = g.shdr_strtab.get_at(sec.sh_name).unwrap().to_string();
            for r in relocs.iter() {
                theirs.push((
                    rela_name.clone(),
                    r.r_offset,
                    r.r_type,
                    r.r_sym,
                    r.r_addend.unwrap(),
                ));
            }
        }
        let mine: Vec<(String, u64, u32, usize, i64)> = ours
            .elf_relocations
            .iter()
            .flat_map(|g| {
                g.entries.iter().map(|r| {
                    (
                        g.rela_section.clone(),
                        r.offset,
                        r.r_type,
                        r.symbol_index,
                        r.addend,
                    )
                })
            })
            .collect();
        assert_eq!(theirs, mine, "{name}: relocations differ");
    }
}
