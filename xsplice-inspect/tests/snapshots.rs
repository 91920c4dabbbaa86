//! Snapshot tests of the payload layout: the text dump and a structural dump
//! (section names, sizes, offsets, relocations) of the fixture payloads.
//! Re-bless with `INSTA_UPDATE=always cargo test -p xsplice-inspect` or `cargo insta review`.

use xsplice_inspect::{inspect, render_text};
use xsplice_payload::fixtures;
use xsplice_payload::write::to_bytes;

fn structural(bytes: &[u8]) -> String {
    let r = xsplice_payload::read::read(bytes).unwrap();
    let mut out = String::new();
    for s in &r.elf_sections {
        out.push_str(&format!(
            "[{:>2}] {:<24} type={} flags={:#x} offset={:#06x} size={:#06x} align={} link={} info={} entsize={}\n",
            s.index, s.name, s.sh_type, s.flags, s.offset, s.size, s.align, s.link, s.info, s.entsize
        ));
    }
    for g in &r.elf_relocations {
        out.push_str(&format!("{} -> {}\n", g.rela_section, g.target_section));
        for e in &g.entries {
            out.push_str(&format!(
                "  {:#06x} {} {}#{} {:+}\n",
                e.offset, e.type_name, e.symbol, e.symbol_index, e.addend
            ));
        }
    }
    for s in &r.elf_symbols {
        out.push_str(&format!(
            "sym {:>2} {:<20} {} {} {} value={:#x} size={:#x}\n",
            s.index, s.name, s.kind, s.bind, s.section, s.value, s.size
        ));
    }
    out
}

#[test]
fn xsa125_text() {
    let bytes = to_bytes(&fixtures::xsa125(), xsplice_payload::Flavour::Xsplice).unwrap();
    insta::assert_snapshot!(render_text(&inspect(&bytes).unwrap()));
}

#[test]
fn full_text() {
    let bytes = to_bytes(&fixtures::full(), xsplice_payload::Flavour::Xsplice).unwrap();
    insta::assert_snapshot!(render_text(&inspect(&bytes).unwrap()));
}

#[test]
fn xsa125_structure() {
    insta::assert_snapshot!(structural(
        &to_bytes(&fixtures::xsa125(), xsplice_payload::Flavour::Xsplice).unwrap()
    ));
}

#[test]
fn full_structure() {
    insta::assert_snapshot!(structural(
        &to_bytes(&fixtures::full(), xsplice_payload::Flavour::Xsplice).unwrap()
    ));
}

#[test]
fn full_json() {
    let bytes = to_bytes(&fixtures::full(), xsplice_payload::Flavour::Xsplice).unwrap();
    let json = serde_json::to_value(inspect(&bytes).unwrap()).unwrap();
    insta::assert_json_snapshot!(json);
}

#[test]
fn livepatch_full_text() {
    let bytes = to_bytes(
        &fixtures::livepatch_full(),
        xsplice_payload::Flavour::Livepatch,
    )
    .unwrap();
    insta::assert_snapshot!(render_text(&inspect(&bytes).unwrap()));
}

#[test]
fn livepatch_full_structure() {
    insta::assert_snapshot!(structural(
        &to_bytes(
            &fixtures::livepatch_full(),
            xsplice_payload::Flavour::Livepatch
        )
        .unwrap()
    ));
}

#[test]
fn livepatch_full_json() {
    let bytes = to_bytes(
        &fixtures::livepatch_full(),
        xsplice_payload::Flavour::Livepatch,
    )
    .unwrap();
    let json = serde_json::to_value(inspect(&bytes).unwrap()).unwrap();
    insta::assert_json_snapshot!(json);
}
