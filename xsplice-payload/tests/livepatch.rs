//! The livepatch encoding: round trip, determinism, the rules of the encoding, and
//! the bytes Xen's loader reads (checked against binutils' view of the file).

use std::process::Command;

use xsplice_payload::livepatch::layout::*;
use xsplice_payload::read::read;
use xsplice_payload::write::to_bytes;
use xsplice_payload::*;

#[test]
fn full_fixture_round_trips_and_is_deterministic() {
    let model = fixtures::livepatch_full();
    let bytes = to_bytes(&model, Flavour::Livepatch).unwrap();
    let back = read(&bytes).unwrap();
    assert_eq!(back.flavour, Flavour::Livepatch);
    assert_eq!(back.payload, model);
    assert_eq!(to_bytes(&back.payload, Flavour::Livepatch).unwrap(), bytes);
    assert_eq!(to_bytes(&model, Flavour::Livepatch).unwrap(), bytes);
}

#[test]
fn no_xsplice_sections_and_every_section_xen_reads_is_allocated() {
    let bytes = to_bytes(&fixtures::livepatch_full(), Flavour::Livepatch).unwrap();
    let r = read(&bytes).unwrap();
    let names: Vec<&str> = r.elf_sections.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".xsplice")),
        "{names:?}"
    );
    for want in [
        FUNCS_SECTION,
        DEPENDS_SECTION,
        XEN_DEPENDS_SECTION,
        ".note.gnu.build-id",
        ".livepatch.hooks.load",
        ".livepatch.hooks.unload",
        MODINFO_SECTION,
    ] {
        let s = r
            .elf_sections
            .iter()
            .find(|s| s.name == want)
            .unwrap_or_else(|| panic!("{want} missing from {names:?}"));
        assert_ne!(s.flags & 2, 0, "{want} must be SHF_ALLOC");
        assert!(s.offset >= 64, "{want}: Xen refuses sh_offset < 64");
    }
    // The expectation bytes travel in `expect`, not in a section of their own.
    assert!(
        !names.iter().any(|n| n.starts_with(".rodata.old")),
        "{names:?}"
    );
}

/// Offsets Xen reads, checked on the bytes: entry i of .livepatch.funcs.
#[test]
fn livepatch_func_bytes_are_what_xen_reads() {
    let model = fixtures::livepatch_full();
    let bytes = to_bytes(&model, Flavour::Livepatch).unwrap();
    let r = read(&bytes).unwrap();
    let funcs = r
        .elf_sections
        .iter()
        .find(|s| s.name == FUNCS_SECTION)
        .unwrap();
    assert_eq!(funcs.size, 2 * 104);
    let e = &bytes[funcs.offset as usize..(funcs.offset + funcs.size) as usize];
    let u64_at = |o: usize| u64::from_le_bytes(e[o..o + 8].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(e[o..o + 4].try_into().unwrap());
    // Entry 0: do_domctl at its address; entry 1 by name (old_addr 0).
    assert_eq!(u64_at(16), 0xffff_82d0_8010_3079);
    assert_eq!(u64_at(104 + 16), 0);
    assert_eq!((u32_at(24), u32_at(28)), (22, 0x1c0));
    assert_eq!((u32_at(104 + 24), u32_at(104 + 28)), (10, 0x20));
    assert_eq!((e[32], e[104 + 32]), (2, 2), "version");
    assert!(e[33..72].iter().all(|&b| b == 0), "_pad");
    assert_eq!(e[72], 0x01 | (10 << 1), "expect: enabled, len 10");
    assert_eq!(
        &e[73..83],
        &[0x53, 0x48, 0x89, 0xe0, 0x48, 0x25, 0x00, 0x80, 0xff, 0xff]
    );
    assert!(e[83..104].iter().all(|&b| b == 0));
    assert_eq!(e[104 + 72], 0x01 | (6 << 1));
    // name and new_addr are zero, filled by R_X86_64_64 relocations.
    let relocs = r
        .elf_relocations
        .iter()
        .find(|g| g.target_section == FUNCS_SECTION)
        .unwrap();
    let mut fields: Vec<(u64, &str, &str, i64)> = relocs
        .entries
        .iter()
        .map(|x| (x.offset, x.type_name.as_str(), x.symbol.as_str(), x.addend))
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            (0, "R_X86_64_64", STRINGS_SECTION, 0),
            (8, "R_X86_64_64", ".text.do_domctl", 0),
            (104, "R_X86_64_64", STRINGS_SECTION, 10),
            (112, "R_X86_64_64", ".text.helper", 0),
        ]
    );
}

#[test]
fn notes_name_the_hypervisor_and_the_previous_payload() {
    let mut model = fixtures::livepatch_full();
    let bytes = to_bytes(&model, Flavour::Livepatch).unwrap();
    let note_desc = |bytes: &[u8], name: &str| {
        let r = read(bytes).unwrap();
        let s = r
            .elf_sections
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .clone();
        bytes[s.offset as usize + 16..(s.offset + s.size) as usize].to_vec()
    };
    assert_eq!(
        note_desc(&bytes, XEN_DEPENDS_SECTION),
        model.target_build_id
    );
    assert_eq!(note_desc(&bytes, DEPENDS_SECTION), vec![0xab; 20]);
    // The first payload of a stack depends on the hypervisor itself.
    model.depends.clear();
    let first = to_bytes(&model, Flavour::Livepatch).unwrap();
    assert_eq!(note_desc(&first, DEPENDS_SECTION), model.target_build_id);
    assert_eq!(read(&first).unwrap().payload.depends, Vec::<Vec<u8>>::new());
}

#[test]
fn the_encoding_refuses_what_xen_cannot_load() {
    let full = fixtures::livepatch_full();
    let refuse = |m: Payload, why: &str| {
        let e = to_bytes(&m, Flavour::Livepatch).unwrap_err().to_string();
        assert!(e.contains(why), "{e}\n(wanted `{why}`)");
    };
    let mut m = full.clone();
    m.depends.push(vec![1; 20]);
    refuse(m, "depends on one payload");
    let mut m = full.clone();
    m.sections[1].relocs[0].r_type = object::elf::R_X86_64_32S;
    refuse(m, "does not implement R_X86_64_32S (11)");
    let mut m = full.clone();
    m.name = "n".repeat(128);
    refuse(m, "0..=127 bytes");
    let mut m = full.clone();
    m.hooks[0].symbol = 6; // printk: undefined
    refuse(m, "not a function defined in the payload's text");
    // The xsplice encoding has no hooks, and its name is at most 40 bytes.
    let e = to_bytes(&full, Flavour::Xsplice).unwrap_err().to_string();
    assert!(e.contains("no hooks"), "{e}");
    // Inline patches exist only in the xsplice encoding.
    let mut m = fixtures::full();
    m.sections[1].relocs[0].r_type = object::elf::R_X86_64_PC32;
    refuse(
        m,
        "new[2].patch.type: a livepatch payload replaces whole functions (trampolines) only",
    );
}

#[test]
fn the_same_model_encodes_both_ways() {
    let mut m = fixtures::xsa125();
    let x = to_bytes(&m, Flavour::Xsplice).unwrap();
    let l = to_bytes(&m, Flavour::Livepatch).unwrap();
    assert_eq!(read(&x).unwrap().flavour, Flavour::Xsplice);
    let back = read(&l).unwrap();
    assert_eq!(back.flavour, Flavour::Livepatch);
    assert_eq!(back.payload, m);
    m.name.clear();
    assert!(
        to_bytes(&m, Flavour::Xsplice).is_err(),
        "xsplice names are 1..=40 bytes"
    );
    let unnamed = to_bytes(&m, Flavour::Livepatch).unwrap();
    assert_eq!(read(&unnamed).unwrap().payload.name, "");
}

/// binutils reads the file as we mean it: `readelf` agrees on section flags and
/// `objdump -r` on the relocations of `.livepatch.funcs`.
#[test]
fn binutils_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.livepatch");
    std::fs::write(
        &path,
        to_bytes(&fixtures::livepatch_full(), Flavour::Livepatch).unwrap(),
    )
    .unwrap();
    let out = Command::new("readelf")
        .arg("-SW")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let flags = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .and_then(|l| l.split(']').nth(1))
            .map(|rest| rest.split_whitespace().nth(6).unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("{name} not in readelf -S:\n{text}"))
    };
    assert_eq!(flags(FUNCS_SECTION), "WA");
    assert_eq!(flags(".note.gnu.build-id"), "A");
    assert_eq!(flags(XEN_DEPENDS_SECTION), "A");
    assert_eq!(flags(".livepatch.hooks.load"), "A");
    let out = Command::new("objdump")
        .args(["-r", "-j", FUNCS_SECTION])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("R_X86_64_64").count(), 4, "{text}");
}
