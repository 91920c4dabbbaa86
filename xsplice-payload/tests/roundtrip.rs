//! Model → bytes → model.

use xsplice_payload::fixtures;
use xsplice_payload::read::read;
use xsplice_payload::write::to_bytes;
use xsplice_payload::*;

#[test]
fn xsa125_round_trips_with_the_designs_values() {
    let model = fixtures::xsa125();
    let bytes = to_bytes(&model, Flavour::Xsplice).unwrap();
    let back = read(&bytes).unwrap();
    assert_eq!(back.payload, model);
    let e = &back.payload.new[0];
    assert_eq!(e.symbol.name, "do_xen_version");
    assert_eq!(e.symbol.label, "do_xen_version+<0x0>");
    assert_eq!(e.section.address, 0xffff82d080112f9e);
    assert_eq!(e.section.flags, layout::XSPLICE_SECTION_TEXT);
    assert_eq!(e.reloc.unwrap().isns_added, -4);
    assert_eq!(e.patch.size, 1728);
    let code = &back.payload.sections[e.patch.content.section];
    assert_eq!(&code.data[..3], &[0x83, 0xff, 0x09]);
    assert_eq!(code.data.len(), 1728);
    assert_eq!(back.build_id.len(), 20);
}

#[test]
fn full_fixture_round_trips() {
    let model = fixtures::full();
    let bytes = to_bytes(&model, Flavour::Xsplice).unwrap();
    let back = read(&bytes).unwrap();
    assert_eq!(back.payload, model);
    assert_eq!(back.payload.depends, vec![vec![0xab; 20]]);
}

#[test]
fn writer_is_deterministic_and_build_id_names_the_content() {
    let a = to_bytes(&fixtures::full(), Flavour::Xsplice).unwrap();
    let b = to_bytes(&fixtures::full(), Flavour::Xsplice).unwrap();
    assert_eq!(a, b);
    let mut other = fixtures::full();
    other.name = "another-name".into();
    let c = to_bytes(&other, Flavour::Xsplice).unwrap();
    let (ida, idc) = (read(&a).unwrap().build_id, read(&c).unwrap().build_id);
    assert_ne!(ida, idc);
    assert_ne!(ida, vec![0; 20]);
}

#[test]
fn writer_refuses_invalid_models() {
    let mut m = fixtures::xsa125();
    m.name = "x".repeat(41);
    let e = to_bytes(&m, Flavour::Xsplice).unwrap_err();
    assert!(e.to_string().contains("name"), "{e}");

    let mut m = fixtures::xsa125();
    m.new[0].section.flags = layout::XSPLICE_SECTION_DATA;
    let e = to_bytes(&m, Flavour::Xsplice).unwrap_err();
    assert!(e.to_string().contains("writable data"), "{e}");

    let mut m = fixtures::xsa125();
    m.new[0].section.size = 4;
    let e = to_bytes(&m, Flavour::Xsplice).unwrap_err();
    assert!(
        e.to_string().contains("cannot hold the 5-byte trampoline"),
        "{e}"
    );

    let mut m = fixtures::xsa125();
    m.new[0].patch.size = 1729;
    let e = to_bytes(&m, Flavour::Xsplice).unwrap_err();
    assert!(e.to_string().contains("new[0].patch.content"), "{e}");
}
