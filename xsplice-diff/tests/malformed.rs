//! Objects are untrusted: malformed ones give errors naming the object and the file
//! offset, and no mutation of a real object makes any phase panic.

use std::process::Command;

use object::read::elf::{FileHeader, SectionHeader};
use xsplice_diff::{DiffOptions, ObjectFile, ObjectPair, analyse_pair, diff_objects};

const SRC: &str = r#"
struct req { int op; int len; char buf[64]; };
extern void panic_at(const char *msg, int code) __attribute__((cold, noreturn));
void __attribute__((noinline)) panic_at(const char *msg, int code) { for (;;) __asm__ volatile("" :: "r"(msg), "r"(code)); }
static int __attribute__((noinline)) req_len(struct req *r) { return r->len * 2 + 1; }
int table_op(int c, int v) {
  static int calls;
  calls++;
  switch (c) { case 0: return v + 10; case 1: return v * 3; case 2: return v - 7; case 3: return v ^ 0x55;
  case 4: return v << 2; case 5: return v >> 1; case 6: return v | calls; default: return -1; }
}
int handle(struct req *r, int x) {
  if (__builtin_expect(r->op > 1000, 0)) panic_at(__func__, r->op);
  if (x < 0) panic_at("neg", x);
  return req_len(r) + table_op(x, r->op);
}
int counter = 4;
int guarded_load(const int *p, int v) {
  int x;
  __asm__ volatile("1: movl (%1), %0\n2:\n"
    ".pushsection .fixup, \"ax\"\n3: movl $-14, %0\n jmp 2b\n.popsection\n"
    ".pushsection .ex_table, \"a\"\n .p2align 2\n .long 1b - ., 3b - .\n.popsection" : "=r"(x) : "r"(p));
  if (v < 0) __asm__ volatile(".Lb%=: ud2\n.pushsection .bug_frames.2, \"a\", @progbits\n .p2align 2\n"
    ".Lf%=:\n .long (.Lb%= - .Lf%=) + %c0\n .long (%c1 - .Lf%=) + %c2\n.popsection"
    :: "i"((__LINE__ >> 7) << 24), "i"(__FILE__), "i"((__LINE__ & 127) << 24));
  __asm__ volatile("661: nop; nop; nop\n662:\n.pushsection .altinstructions, \"a\"\n"
    " .long 661b - .\n .long 663f - .\n .word 1\n .byte 3, 3, 0, 0\n.popsection\n"
    ".pushsection .altinstr_replacement, \"ax\"\n663: lfence\n.popsection");
  return x + v;
}
"#;

fn compile(dir: &std::path::Path, src: &str) -> Vec<u8> {
    std::fs::write(dir.join("m.c"), src).unwrap();
    let out = Command::new("gcc")
        .current_dir(dir)
        .args([
            "-c",
            "-O2",
            "-ffunction-sections",
            "-fdata-sections",
            "-g",
            "-fvisibility=hidden",
            "m.c",
            "-o",
            "m.o",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dir.join("m.o")).unwrap()
}

fn image(dir: &std::path::Path) -> xsplice_image::Image {
    let out = Command::new("gcc")
        .current_dir(dir)
        .args([
            "-nostdlib",
            "-static",
            "-Wl,--build-id",
            "-Wl,-e,0",
            "m.o",
            "-o",
            "image.elf",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    xsplice_image::Image::from_path(&dir.join("image.elf")).unwrap()
}

#[test]
fn clear_errors_for_broken_headers() {
    let dir = tempfile::tempdir().unwrap();
    let good = compile(dir.path(), SRC);

    let e = ObjectFile::parse("x/bad.o", b"hello").unwrap_err();
    assert_eq!(
        e.to_string(),
        "x/bad.o: ELF header (file offset 0x0): not an ELF file"
    );

    let mut b = good.clone();
    b[4] = 1; // ELFCLASS32
    assert!(
        ObjectFile::parse("m.o", &b)
            .unwrap_err()
            .to_string()
            .contains("not a 64-bit ELF file")
    );

    let mut b = good.clone();
    b[16] = 2; // ET_EXEC
    let e = ObjectFile::parse("m.o", &b).unwrap_err();
    assert_eq!(
        (e.offset, e.why.as_str()),
        (0x10, "not a relocatable object (ET_REL)")
    );

    let mut b = good.clone();
    b[18] = 0xb7; // EM_AARCH64
    b[19] = 0;
    assert!(
        ObjectFile::parse("m.o", &b)
            .unwrap_err()
            .to_string()
            .contains("unsupported machine 183")
    );

    // A relocation naming a symbol past the symbol table.
    let hdr = object::elf::FileHeader64::<object::Endianness>::parse(&good[..]).unwrap();
    let endian = hdr.endian().unwrap();
    let sections = hdr.sections(endian, &good[..]).unwrap();
    let rela = sections
        .iter()
        .find(|s| sections.section_name(endian, s).unwrap() == b".rela.text.handle")
        .unwrap();
    let off = rela.sh_offset(endian) as usize + 24; // second entry
    let mut b = good.clone();
    b[off + 12..off + 16].copy_from_slice(&0xffffu32.to_le_bytes()); // r_info symbol half
    let e = ObjectFile::parse("m.o", &b).unwrap_err();
    assert_eq!(e.offset, off as u64);
    assert!(
        e.to_string().contains("relocation section")
            && e.why.contains("symbol index 65535 out of range"),
        "{e}"
    );
}

#[test]
fn mutated_objects_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let orig = compile(dir.path(), SRC);
    let img = image(dir.path());
    let patched = compile(
        dir.path(),
        &SRC.replace("v * 3", "v * 5")
            .replace("counter = 4", "counter = 5")
            .replace("return x + v;", "return x + v + 1;"),
    );
    let opts = DiffOptions {
        flavour: xsplice_payload::Flavour::Xsplice,
        name: "fuzz".into(),
        depends: vec![],
        old_code: true,
    };
    // Unmutated, the pair gives a payload carrying every kind of special section,
    // so the mutations below go through the entry and piece code.
    let code_only = compile(
        dir.path(),
        &SRC.replace("v * 3", "v * 5")
            .replace("return x + v;", "return x + v + 1;"),
    );
    let clean = diff_objects(
        &[ObjectPair {
            name: "m.o".into(),
            orig: Some(orig.clone()),
            patched: Some(code_only),
        }],
        &img,
        &opts,
    )
    .unwrap();
    let xsplice_diff::DiffOutcome::Payload { payload, .. } = clean else {
        panic!("{}", clean.report().to_text())
    };
    for name in [
        ".ex_table",
        ".fixup",
        ".bug_frames.2",
        ".altinstructions",
        ".altinstr_replacement",
    ] {
        assert!(payload.sections.iter().any(|s| s.name == name), "no {name}");
    }
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut errors = 0;
    for round in 0..400 {
        let mut b = patched.clone();
        let flips = 1 + (next() % 8) as usize;
        for _ in 0..flips {
            let i = (next() % b.len() as u64) as usize;
            b[i] = next() as u8;
        }
        if round % 5 == 0 {
            b.truncate((next() % b.len() as u64) as usize);
        }
        let pair = ObjectPair {
            name: "m.o".into(),
            orig: Some(orig.clone()),
            patched: Some(b),
        };
        if analyse_pair(&pair).is_err() {
            errors += 1;
        }
        let _ = diff_objects(&[pair], &img, &opts);
    }
    // Some mutations must have been caught as errors (truncations at least).
    assert!(errors >= 80, "only {errors} errors");
}
