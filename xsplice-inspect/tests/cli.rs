//! The binary: exit codes, error text, JSON.

use std::process::Command;

use xsplice_payload::fixtures;
use xsplice_payload::write::to_bytes;

fn inspect(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xsplice-inspect"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn prints_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.xsplice");
    std::fs::write(&path, to_bytes(&fixtures::full()).unwrap()).unwrap();
    let (code, out, err) = inspect(&[path.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("xsplice payload \"xsa132-and-friends\""));
    assert!(
        out.contains("callq 0xd    ; R_X86_64_PLT32 new_helper-0x4"),
        "{out}"
    );

    let (code, out, _) = inspect(&[path.as_os_str(), "--json".as_ref()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "xsa132-and-friends");
    assert_eq!(v["new"][0]["reloc"]["isns_added"], -4);
    assert_eq!(v["new"][0]["reloc"]["howto_flags"][0], "PC_REL");
    assert_eq!(v["old"][1]["section_flags"][1], "MATCH_EXACT");
}

#[test]
fn malformed_input_exits_1_with_the_readers_error_and_no_partial_dump() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.xsplice");
    let mut bytes = to_bytes(&fixtures::xsa125()).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&path, &bytes).unwrap();
    let (code, out, err) = inspect(&[path.as_os_str()]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "partial dump: {out}");
    assert!(
        err.contains("bad.xsplice: truncated file: Elf64_Ehdr.e_shoff at file offset 0x28"),
        "{err}"
    );

    let (code, _, err) = inspect(&[dir.path().join("missing").as_os_str()]);
    assert_eq!(code, 1);
    assert!(err.contains("missing: No such file"), "{err}");
}
