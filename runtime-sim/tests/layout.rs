//! Boot: a hypervisor's own layout symbols decide how its text is mapped, whatever
//! the ELF flags say. Debian's `xen-syms` flags `.text` WAX inside one RWE segment;
//! Xen maps `[_stext, _etext)` read-only and executable all the same.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use runtime_sim::{Action, Hypervisor, PayloadId, Policy, SimConfig, Status, Trust};
use xsplice_image::Image;

/// The test hypervisor linked into one RWX segment with `.text` flagged writable,
/// as Debian's xen-syms is; with `_stext`/`_etext` around the text when
/// `layout_symbols`.
fn wax_image(dir: &Path, layout_symbols: bool) -> Image {
    std::fs::write(dir.join("hv.c"), HV_C).unwrap();
    let elf = dir.join(format!("wax-{layout_symbols}.elf"));
    let (start, end) = if layout_symbols {
        ("_stext = .;", "_etext = .;")
    } else {
        ("", "")
    };
    let script = dir.join(format!("wax-{layout_symbols}.lds"));
    std::fs::write(
        &script,
        format!(
            "ENTRY(entry)\nSECTIONS {{\n  . = 0x400000;\n  .text : {{ {start} *(.text .text.*) {end} }}\n  \
             .rodata : {{ *(.rodata .rodata.*) }}\n  .data : {{ *(.data .data.*) }}\n  \
             .bss : {{ *(.bss .bss.* COMMON) }}\n}}\n"
        ),
    )
    .unwrap();
    let mut gcc = Command::new("gcc");
    gcc.current_dir(dir).args([
        "-O2",
        "-ffreestanding",
        "-fno-stack-protector",
        "-fno-pie",
        "-no-pie",
        "-fcf-protection=none",
        "-nostdlib",
        "-static",
        "-Wl,-e,entry",
        "-Wl,--build-id",
        "-Wl,-N",
    ]);
    gcc.arg(format!("-Wl,-T,{}", script.display()));
    assert!(
        gcc.arg("hv.c")
            .arg("-o")
            .arg(&elf)
            .status()
            .unwrap()
            .success()
    );
    let st = Command::new("objcopy")
        .args(["--set-section-flags", ".text=alloc,load,contents,code"])
        .arg(&elf)
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new("readelf")
        .arg("-SW")
        .arg(&elf)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains(" .text ") && l.contains("WAX")),
        "the fixture must have a WAX .text:\n{text}"
    );
    Image::from_path(&elf).unwrap()
}

fn check(image: Image) -> (Result<Status, String>, Hypervisor) {
    let payload = replace(&image, "fix", &[("do_version", ret_const(7))]);
    let mut hv = Hypervisor::boot(
        image,
        SimConfig::default(),
        Policy::default(),
        Trust::none(),
    )
    .unwrap();
    let id = PayloadId::new("fix").unwrap();
    hv.upload(id, &bytes(&payload)).unwrap();
    hv.action(&id, Action::Check, 0).unwrap();
    hv.settle();
    let r = hv.payload(&id).unwrap();
    let res = match &r.error {
        Some(f) => Err(f.why.clone()),
        None => Ok(r.status()),
    };
    (res, hv)
}

#[test]
fn text_between_stext_and_etext_is_code_whatever_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (res, mut hv) = check(wax_image(dir.path(), true));
    assert_eq!(res, Ok(Status::Checked));
    let id = PayloadId::new("fix").unwrap();
    hv.action(&id, Action::Apply, 0).unwrap();
    hv.settle();
    assert_eq!(hv.get(&id).unwrap(), Status::Applied);
    assert_eq!(
        hv.call(0, "do_version", &[runtime_sim::Arg::Int(0)])
            .unwrap()
            .ret,
        7
    );
    // Mapped RX: the hypervisor's code cannot write its own text.
    let (addr, _) = sym(hv.image(), "do_version");
    let perm = hv.memory().perm(addr).unwrap();
    assert!(perm.exec && !perm.write, "{perm:?}");
}

#[test]
fn without_layout_symbols_the_flags_decide_and_wax_text_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (res, _) = check(wax_image(dir.path(), false));
    let why = res.unwrap_err();
    assert!(
        why.contains("is writable data, which is never patched"),
        "{why}"
    );
}
