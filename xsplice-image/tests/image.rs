//! Builds small freestanding images with gcc and reads them back.

use std::path::Path;
use std::process::Command;

use xsplice_image::{Image, ImageError, ImageSymbolKind, LookupError};

fn gcc(dir: &Path, files: &[(&str, &str)], extra: &[&str]) -> std::path::PathBuf {
    for (name, src) in files {
        std::fs::write(dir.join(name), src).unwrap();
    }
    let out = dir.join("hv");
    let mut cmd = Command::new("gcc");
    cmd.current_dir(dir)
        .args([
            "-O2",
            "-ffreestanding",
            "-nostdlib",
            "-static",
            "-fno-pie",
            "-no-pie",
            "-Wl,-e,entry",
        ])
        .args(extra)
        .arg("-o")
        .arg(&out);
    for (name, _) in files {
        cmd.arg(name);
    }
    let st = cmd.status().expect("gcc runs");
    assert!(st.success());
    out
}

const A: &str = "static int helper(int x) { return x * 3 + 1; }\n\
    int counter = 5;\n\
    int a_entry(int x) { return helper(x) + counter; }\n\
    void entry(void) { for (;;) ; }\n";
const B: &str = "static int helper(int x) { return x * 7 + 2; }\n\
    int b_entry(int x) { return helper(x); }\n";

#[test]
fn reads_build_id_symbols_and_file_qualified_locals() {
    let dir = tempfile::tempdir().unwrap();
    let path = gcc(
        dir.path(),
        &[("a.c", A), ("b.c", B)],
        &[
            "-Wl,--build-id=0x0123456789abcdef0123456789abcdef01234567",
            "-fno-inline",
        ],
    );
    let image = Image::from_path(&path).unwrap();
    assert_eq!(
        image.build_id(),
        hex("0123456789abcdef0123456789abcdef01234567")
    );
    assert_eq!(image.machine(), xsplice_payload::Machine::X86_64);

    let a = image.lookup("a_entry").unwrap();
    assert_eq!(a.kind, ImageSymbolKind::Func);
    assert!(a.global && a.size > 0);
    assert_eq!(
        image.lookup("counter").unwrap().kind,
        ImageSymbolKind::Object
    );

    let ha = image.lookup("a.c#helper").unwrap();
    let hb = image.lookup("b.c#helper").unwrap();
    assert_ne!(ha.addr, hb.addr);
    assert_eq!(ha.qualified(), "a.c#helper");
    match image.lookup("helper") {
        Err(LookupError::Ambiguous { candidates, .. }) => {
            assert_eq!(candidates.len(), 2);
            assert!(candidates[0].starts_with("a.c#helper@0x"), "{candidates:?}");
            assert!(candidates[1].starts_with("b.c#helper@0x"), "{candidates:?}");
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    assert_eq!(
        image.lookup("c.c#helper"),
        Err(LookupError::NotFound("c.c#helper".into()))
    );

    // The bytes at a function's address are the function's code.
    let code = image.read(a.addr, a.size).unwrap();
    assert_eq!(code.len() as u64, a.size);
    let seg = image.segment_of(a.addr).unwrap();
    assert!(seg.exec && !seg.write);
    let text = image.sections().iter().find(|s| s.name == ".text").unwrap();
    assert!(text.alloc && text.exec && !text.write);
    assert!(a.addr >= text.addr && a.addr + a.size <= text.addr + text.size);
    let data = image.sections().iter().find(|s| s.name == ".data").unwrap();
    assert!(data.alloc && data.write && !data.exec);
}

#[test]
fn refuses_images_without_build_id_or_symbols() {
    let dir = tempfile::tempdir().unwrap();
    let path = gcc(dir.path(), &[("a.c", A)], &["-Wl,--build-id=none"]);
    let err = Image::from_path(&path).unwrap_err();
    assert!(matches!(err, ImageError::Unsupported { .. }));
    assert!(err.to_string().contains("no GNU build-id"), "{err}");

    let path = gcc(dir.path(), &[("a.c", A)], &["-Wl,--build-id", "-s"]);
    let err = Image::from_path(&path).unwrap_err();
    assert!(err.to_string().contains("no symbol table"), "{err}");
}

#[test]
fn malformed_and_missing_files_are_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = Image::from_path(&missing).unwrap_err();
    assert!(
        err.to_string().contains("nope") && err.to_string().contains("cannot read"),
        "{err}"
    );

    let path = gcc(dir.path(), &[("a.c", A)], &["-Wl,--build-id"]);
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 10, 64, 200, bytes.len() / 2] {
        let truncated = dir.path().join(format!("cut{cut}"));
        std::fs::write(&truncated, &bytes[..cut]).unwrap();
        let err = Image::from_path(&truncated).unwrap_err();
        assert!(err.to_string().contains(&format!("cut{cut}")), "{err}");
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
