//! Test fixtures: a small freestanding hypervisor compiled with gcc at test time, and
//! payload models built against it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use runtime_sim::{Hypervisor, Policy, SimConfig, Trust};
use xsplice_image::Image;
use xsplice_payload::*;

/// The test hypervisor. Nothing in the simulator knows these names.
pub const HV_C: &str = r#"
#define F __attribute__((noipa))
int counter = 5;
const char banner[16] = "xsplice-sim";
static F int helper(int x) { return x * 3 + 1; }
F int do_version(int cmd) { if (cmd == 0) return 263; return -38; }
F int add(int a, int b) { return a + b + helper(a) - helper(a); }
F long sum_buf(const unsigned char *p, long n) { long s = 0; for (long i = 0; i < n; i++) s += p[i]; return s; }
F void fill(unsigned char *p, long n, int v) { for (long i = 0; i < n; i++) p[i] = (unsigned char)v; }
F int leaf(int x) { return x + counter; }
F int middle(int x) { return leaf(x) * 2; }
F int outer(int x) { return middle(x) + 1; }
F int tiny(void) { return 0; }
F int get_counter(void) { return counter; }
F int bump_counter(int by) { counter += by; return counter; }
F int call_helper(int x) { return helper(x); }
F int spin(void) { volatile int x = 0; for (;;) x++; return x; }
F char banner_char(int i) { return banner[i]; }
F int magic(void) { return 0x12345678; }
F const char *banner_at(int i) { return banner + i; }
void entry(void) { for (;;) ; }
"#;

/// Compiled with `-fcf-protection=branch`: every function starts with ENDBR64.
pub const CET_C: &str = r#"
#define F __attribute__((noipa))
F int cet_small(int x) { return x * 5; }
F int cet_big(int x, int y) { int r = 0; for (int i = 0; i < y; i++) r += x ^ i; return r; }
static F int helper(int x) { return x * 7 + 2; }
F int cet_helper(int x) { return helper(x); }
"#;

pub fn gcc_image(dir: &Path, build_id: &str) -> PathBuf {
    std::fs::write(dir.join("hv.c"), HV_C).unwrap();
    std::fs::write(dir.join("cet.c"), CET_C).unwrap();
    let out = dir.join("hv.elf");
    let obj = |src: &str, extra: &[&str]| {
        let o = dir.join(format!("{src}.o"));
        let st = Command::new("gcc")
            .current_dir(dir)
            .args([
                "-O2",
                "-ffreestanding",
                "-fno-stack-protector",
                "-fno-pie",
                "-fcf-protection=none",
                "-c",
            ])
            .args(extra)
            .arg(src)
            .arg("-o")
            .arg(&o)
            .status()
            .expect("gcc runs");
        assert!(st.success(), "gcc failed on {src}");
        o
    };
    let a = obj("hv.c", &[]);
    let b = obj("cet.c", &["-fcf-protection=branch"]);
    let st = Command::new("gcc")
        .current_dir(dir)
        .args(["-nostdlib", "-static", "-no-pie", "-Wl,-e,entry"])
        .arg(format!("-Wl,--build-id={build_id}"))
        .arg(&a)
        .arg(&b)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("gcc links");
    assert!(st.success());
    out
}

pub const BUILD_ID: &str = "0x1122334455667788990011223344556677889900";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = gcc_image(dir.path(), BUILD_ID);
        Fixture { dir, path }
    }
    pub fn image(&self) -> Image {
        Image::from_path(&self.path).unwrap()
    }
    pub fn boot(&self) -> Hypervisor {
        self.boot_with(SimConfig::default())
    }
    pub fn boot_with(&self, config: SimConfig) -> Hypervisor {
        Hypervisor::boot(self.image(), config, Policy::default(), Trust::none()).unwrap()
    }
    pub fn build_id(&self) -> Vec<u8> {
        self.image().build_id().to_vec()
    }
}

/// A symbol of the image: address and size.
pub fn sym(image: &Image, name: &str) -> (u64, u64) {
    let s = image.lookup(name).unwrap();
    (s.addr, s.size)
}

/// One trampoline entry patching `target` with the code at `sections[section]`.
pub fn trampoline_entry(image: &Image, target: &str, section: usize, code_len: u32) -> Entry {
    let (addr, size) = sym(image, target);
    Entry::trampoline(
        Machine::X86_64,
        target,
        addr,
        size as u32,
        ContentRef { section, offset: 0 },
        code_len,
    )
}

/// A payload replacing each `(target, code)` by the given machine code.
pub fn replace(image: &Image, name: &str, funcs: &[(&str, Vec<u8>)]) -> Payload {
    let mut sections = Vec::new();
    let mut new = Vec::new();
    let mut symbols = Vec::new();
    for (i, (target, code)) in funcs.iter().enumerate() {
        let bare = target.rsplit_once('#').map_or(*target, |(_, n)| n);
        sections.push(ContentSection::with_data(
            &format!(".text.{bare}"),
            ContentKind::Text,
            16,
            code.clone(),
        ));
        new.push(trampoline_entry(image, target, i, code.len() as u32));
        symbols.push(Symbol {
            name: bare.to_string(),
            kind: SymbolKind::Func,
            global: !target.contains('#'),
            definition: Some(SymbolDef {
                section: i,
                offset: 0,
                size: code.len() as u64,
            }),
        });
    }
    // Locals first.
    symbols.sort_by_key(|s| s.global);
    Payload {
        machine: Machine::X86_64,
        hooks: Vec::new(),
        name: name.into(),
        target_build_id: image.build_id().to_vec(),
        depends: vec![],
        new,
        old: None,
        sections,
        symbols,
    }
}

/// `mov eax, v; ret`
pub fn ret_const(v: u32) -> Vec<u8> {
    let mut c = vec![0xb8];
    c.extend_from_slice(&v.to_le_bytes());
    c.push(0xc3);
    c
}

pub fn bytes(p: &Payload) -> Vec<u8> {
    xsplice_payload::write::to_bytes(p, xsplice_payload::Flavour::Xsplice).unwrap()
}

/// A payload replacing `target` by `mov edi, arg; jmp callee` (a tail call through a
/// PLT32 relocation against the undefined symbol `callee`).
pub fn tail_call(image: &Image, name: &str, target: &str, callee: &str, arg: u32) -> Payload {
    let mut code = vec![0xbf];
    code.extend_from_slice(&arg.to_le_bytes());
    code.extend_from_slice(&[0xe9, 0, 0, 0, 0]);
    let mut p = replace(image, name, &[(target, code)]);
    p.symbols.push(Symbol {
        name: callee.into(),
        kind: SymbolKind::NoType,
        global: true,
        definition: None,
    });
    let k = p.symbols.len() - 1;
    p.sections[0].relocs.push(Reloc {
        offset: 6,
        r_type: object::elf::R_X86_64_PLT32,
        target: RelocTarget::Symbol(k),
        addend: -4,
    });
    p
}

/// File offset of the section called `name` in a written payload.
pub fn section_offset(file: &[u8], name: &str) -> (u64, u64) {
    let r = xsplice_payload::read::read(file).unwrap();
    let s = r.elf_sections.iter().find(|s| s.name == name).unwrap();
    (s.offset, s.size)
}

/// File offset of the section header of `name`.
pub fn section_header_offset(file: &[u8], name: &str) -> usize {
    let r = xsplice_payload::read::read(file).unwrap();
    let s = r.elf_sections.iter().find(|s| s.name == name).unwrap();
    let shoff = u64::from_le_bytes(file[0x28..0x30].try_into().unwrap()) as usize;
    let entsize = u16::from_le_bytes(file[0x3a..0x3c].try_into().unwrap()) as usize;
    shoff + s.index * entsize
}

/// A fresh RSA key and self-signed certificate (`key.pem`, `cert.pem`) in `dir`,
/// made with openssl, named `name`.
pub fn make_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key.pem"));
    let cert = dir.join(format!("{name}.cert.pem"));
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["genrsa", "-out", key.to_str().unwrap(), "2048"]);
    run(&[
        "req",
        "-new",
        "-x509",
        "-key",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
        "-days",
        "36500",
        "-subj",
        &format!("/O=xsplice tests/CN={name}"),
        "-addext",
        "subjectKeyIdentifier=hash",
    ]);
    (key, cert)
}

/// `payload` signed with the key and certificate from [`make_cert`].
pub fn sign(payload: &[u8], key: &Path, cert: &Path) -> Vec<u8> {
    let k = xsplice_sign::SigningKey::from_pem_or_der(&std::fs::read(key).unwrap(), None).unwrap();
    let c = xsplice_sign::Certificate::from_pem_or_der(&std::fs::read(cert).unwrap()).unwrap();
    xsplice_sign::sign(payload, &k, &c, &xsplice_sign::SignOptions::default()).unwrap()
}

/// The test hypervisor linked in the top 2 GiB of the address space (kernel code
/// model), as real hypervisors are: exercises high canonical addresses.
pub fn gcc_high_image(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("hv.c"), HV_C).unwrap();
    let out = dir.join("hv-high.elf");
    let st = Command::new("gcc")
        .current_dir(dir)
        .args([
            "-O2",
            "-ffreestanding",
            "-fno-stack-protector",
            "-fno-pie",
            "-no-pie",
            "-mcmodel=kernel",
            "-mno-red-zone",
            "-fcf-protection=none",
            "-nostdlib",
            "-static",
            "-Wl,-e,entry",
            "-Wl,--build-id",
            "-Wl,-Ttext-segment=0xffffffff80000000",
            "hv.c",
            "-o",
        ])
        .arg(&out)
        .status()
        .expect("gcc runs");
    assert!(st.success());
    out
}
