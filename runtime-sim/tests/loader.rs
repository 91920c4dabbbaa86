//! UPLOAD of untrusted payloads: every loader rule with a crafted payload, and memory
//! byte-identical after each refusal.

mod common;

use common::*;
use runtime_sim::*;
use xsplice_payload::*;

/// Uploads and expects a refusal with `errno`; nothing may change.
fn refused(hv: &mut Hypervisor, bytes: &[u8], errno: Errno) -> String {
    let before = hv.memory().clone();
    let (v, n) = (hv.version(), hv.payloads().len());
    let f = hv
        .upload(PayloadId::new("x").unwrap(), bytes)
        .expect_err("upload must be refused");
    assert_eq!(f.errno, errno, "{}", f.why);
    assert_eq!(hv.memory().first_difference(&before), None);
    assert_eq!((hv.version(), hv.payloads().len()), (v, n));
    f.why
}

fn up(hv: &mut Hypervisor, id: &str, p: &Payload) {
    hv.upload(PayloadId::new(id).unwrap(), &bytes(p)).unwrap();
}

fn run(hv: &mut Hypervisor, id: &str, a: Action) -> Status {
    let id = PayloadId::new(id).unwrap();
    hv.action(&id, a, 0).unwrap();
    hv.settle();
    hv.get(&id).unwrap()
}

#[test]
fn malformed_elf_is_refused() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let good = bytes(&replace(&image, "p", &[("do_version", ret_const(1))]));
    let why = refused(&mut hv, b"not an ELF file at all", Errno::ENOEXEC);
    assert!(why.contains("magic"), "{why}");
    let mut b = good.clone();
    b[18] = 183; // EM_AARCH64
    refused(&mut hv, &b, Errno::ENOEXEC);
    let why = refused(&mut hv, &good[..good.len() / 2], Errno::EINVAL);
    assert!(why.contains("offset"), "{why}");

    // W+X content section.
    let mut b = good.clone();
    let sh = section_header_offset(&b, ".text.do_version");
    b[sh + 8] |= 1; // SHF_WRITE on an AX section
    let why = refused(&mut hv, &b, Errno::EINVAL);
    assert!(why.contains(".text.do_version"), "{why}");
}

#[test]
fn relocation_rules() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let good = bytes(&tail_call(&image, "p", "do_version", "leaf", 41));
    let (rela, _) = section_offset(&good, ".rela.text.do_version");
    let info = rela as usize + 8;
    let sym_of = |b: &[u8]| u32::from_le_bytes(b[info + 4..info + 8].try_into().unwrap());

    let mut b = good.clone();
    b[info..info + 4].copy_from_slice(&9u32.to_le_bytes()); // R_X86_64_GOTPCREL
    refused(&mut hv, &b, Errno::EOPNOTSUPP);
    let mut b = good.clone();
    b[info + 4..info + 8].copy_from_slice(&0u32.to_le_bytes()); // STN_UNDEF
    refused(&mut hv, &b, Errno::EOPNOTSUPP);
    let mut b = good.clone();
    b[info + 4..info + 8].copy_from_slice(&(sym_of(&good) + 1000).to_le_bytes());
    refused(&mut hv, &b, Errno::EINVAL);
    let mut b = good.clone();
    b[rela as usize..rela as usize + 8].copy_from_slice(&8u64.to_le_bytes()); // past the 10-byte section
    refused(&mut hv, &b, Errno::EINVAL);

    // The untouched payload loads and its relocation resolves `leaf`.
    hv.upload(PayloadId::new("p").unwrap(), &good).unwrap();
    assert_eq!(run(&mut hv, "p", Action::Check), Status::Checked);
    assert_eq!(run(&mut hv, "p", Action::Apply), Status::Applied);
    assert_eq!(
        hv.call(0, "do_version", &[Arg::Int(0)]).unwrap().ret,
        46,
        "leaf(41) = 41 + counter"
    );
}

#[test]
fn relocation_overflow_is_eoverflow() {
    let fx = Fixture::new();
    let image = fx.image();
    // Payload memory 16 GiB away from the hypervisor: rel32 cannot reach it.
    let mut hv = fx.boot_with(SimConfig {
        arena_base: Some(0x4_0000_0000),
        ..SimConfig::default()
    });
    let why = refused(
        &mut hv,
        &bytes(&tail_call(&image, "p", "do_version", "leaf", 41)),
        Errno::EOVERFLOW,
    );
    assert!(
        why.contains("R_X86_64_PLT32") && why.contains("leaf"),
        "{why}"
    );
}

#[test]
fn build_ids_are_enforced() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let mut p = replace(&image, "p", &[("do_version", ret_const(1))]);
    p.target_build_id = vec![0x55; 20];
    let why = refused(&mut hv, &bytes(&p), Errno::ENOEXEC);
    assert!(why.contains("5555"), "{why}");
    let good = bytes(&replace(&image, "p", &[("do_version", ret_const(1))]));
    hv.upload(PayloadId::new("first").unwrap(), &good).unwrap();
    let why = refused(&mut hv, &good, Errno::EEXIST);
    assert!(why.contains("build-id"), "{why}");
}

#[test]
fn symbols_resolve_against_hypervisor_then_payloads() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    // Unknown and ambiguous names.
    let why = refused(
        &mut hv,
        &bytes(&tail_call(&image, "p", "do_version", "no_such_fn", 1)),
        Errno::ENOENT,
    );
    assert!(why.contains("no_such_fn"), "{why}");
    let why = refused(
        &mut hv,
        &bytes(&tail_call(&image, "p", "do_version", "helper", 1)),
        Errno::EINVAL,
    );
    assert!(
        why.contains("hv.c#helper") && why.contains("cet.c#helper"),
        "{why}"
    );

    // A file-local hypervisor symbol, named file#symbol.
    up(
        &mut hv,
        "local",
        &tail_call(&image, "local", "do_version", "hv.c#helper", 2),
    );
    run(&mut hv, "local", Action::Check);
    assert_eq!(run(&mut hv, "local", Action::Apply), Status::Applied);
    assert_eq!(hv.call(0, "do_version", &[Arg::Int(0)]).unwrap().ret, 7);

    // A payload exporting a new function, and one using it.
    let mut lib = replace(&image, "lib", &[("get_counter", ret_const(99))]);
    lib.sections.push(ContentSection::with_data(
        ".text.lib_value",
        ContentKind::Text,
        16,
        ret_const(1234),
    ));
    lib.symbols.push(Symbol {
        name: "lib_value".into(),
        kind: SymbolKind::Func,
        global: true,
        definition: Some(SymbolDef {
            section: 1,
            offset: 0,
            size: 6,
        }),
    });
    up(&mut hv, "lib", &lib);
    assert_eq!(hv.call(0, "lib_value", &[]).unwrap().ret, 1234);
    up(
        &mut hv,
        "user",
        &tail_call(&image, "user", "magic", "lib_value", 0),
    );
    run(&mut hv, "user", Action::Check);
    run(&mut hv, "user", Action::Apply);
    assert_eq!(hv.call(0, "magic", &[]).unwrap().ret, 1234);
    // The provider cannot go while a user is loaded.
    let lib_id = PayloadId::new("lib").unwrap();
    let f = hv.action(&lib_id, Action::Unload, 0).unwrap_err();
    assert_eq!(f.errno, Errno::EBUSY);
    assert!(f.why.contains("user"), "{}", f.why);
    run(&mut hv, "user", Action::Revert);
    let user = PayloadId::new("user").unwrap();
    hv.action(&user, Action::Unload, 0).unwrap();
    hv.settle();
    hv.action(&lib_id, Action::Unload, 0).unwrap();
    hv.settle();
    assert!(hv.payload(&lib_id).is_none());
}

#[test]
fn new_globals_must_not_clash() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let with_export = |name: &str, export: &str| {
        let mut p = replace(&image, name, &[("do_version", ret_const(5))]);
        p.sections.push(ContentSection::with_data(
            ".text.extra",
            ContentKind::Text,
            16,
            ret_const(6),
        ));
        p.symbols.push(Symbol {
            name: export.into(),
            kind: SymbolKind::Func,
            global: true,
            definition: Some(SymbolDef {
                section: 1,
                offset: 0,
                size: 6,
            }),
        });
        p
    };
    let why = refused(&mut hv, &bytes(&with_export("a", "leaf")), Errno::EEXIST);
    assert!(
        why.contains("`leaf`") && why.contains("hypervisor"),
        "{why}"
    );
    up(&mut hv, "a", &with_export("a", "shared_new"));
    let why = refused(
        &mut hv,
        &bytes(&with_export("b", "shared_new")),
        Errno::EEXIST,
    );
    assert!(
        why.contains("shared_new") && why.contains("payload `a`"),
        "{why}"
    );
    // The replacement itself may carry the patched function's name.
    up(&mut hv, "c", &with_export("c", "other_new"));
}

#[test]
fn patch_sites_must_exist_and_match() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let mut p = replace(&image, "p", &[("do_version", ret_const(1))]);
    p.new[0].symbol.name = "no_such_fn".into();
    let why = refused(&mut hv, &bytes(&p), Errno::ENOENT);
    assert!(why.contains("no_such_fn"), "{why}");
    let mut p = replace(&image, "p", &[("do_version", ret_const(1))]);
    p.new[0].section.address += 16;
    p.new[0].reloc.as_mut().unwrap().addr += 16;
    let why = refused(&mut hv, &bytes(&p), Errno::EINVAL);
    assert!(why.contains("xsplice_section.address"), "{why}");
    // Alignment above a page: the writer cannot express it, so patch sh_addralign.
    let mut b = bytes(&replace(&image, "p", &[("do_version", ret_const(1))]));
    let sh = section_header_offset(&b, ".text.do_version");
    b[sh + 48..sh + 56].copy_from_slice(&8192u64.to_le_bytes());
    let why = refused(&mut hv, &b, Errno::EINVAL);
    assert!(why.contains(".text.do_version"), "{why}");
}

#[test]
fn sections_are_placed_by_permission() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let mut p = replace(&image, "p", &[("do_version", ret_const(1))]);
    p.sections.push(ContentSection::with_data(
        ".rodata.x",
        ContentKind::ReadOnly,
        8,
        vec![1; 10],
    ));
    p.sections.push(ContentSection::with_data(
        ".data.x",
        ContentKind::Data,
        8,
        vec![2; 10],
    ));
    p.sections.push(ContentSection {
        size: 5000,
        ..ContentSection::with_data(".bss.x", ContentKind::Bss, 64, vec![])
    });
    up(&mut hv, "p", &p);
    let r = hv.payload(&PayloadId::new("p").unwrap()).unwrap();
    let perms: Vec<String> = r
        .loaded
        .regions
        .iter()
        .map(|(_, len, perm)| format!("{perm}:{len:#x}"))
        .collect();
    assert_eq!(perms, ["r-x:0x1000", "r--:0x1000", "rw-:0x2000"]);
    let addr = |i: usize| r.loaded.section_addrs[i];
    let mem = hv.memory();
    assert_eq!(mem.read(addr(0), 6).unwrap(), ret_const(1));
    assert_eq!(mem.read(addr(1), 10).unwrap(), vec![1; 10]);
    assert_eq!(mem.read(addr(2), 10).unwrap(), vec![2; 10]);
    assert_eq!(addr(3) % 64, 0);
    assert_eq!(mem.read(addr(3), 5000).unwrap(), vec![0; 5000]);
    for (i, perm) in [(0, "r-x"), (1, "r--"), (2, "rw-"), (3, "rw-")] {
        assert_eq!(mem.perm(addr(i)).unwrap().to_string(), perm);
    }
}
