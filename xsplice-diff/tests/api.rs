//! The library API as the build tool uses it: options, determinism, pair kinds,
//! input errors.

use std::path::Path;
use std::process::Command;

use xsplice_diff::{
    DiffError, DiffOptions, DiffOutcome, ObjectPair, PairStatus, SpecialTable, analyse_pair,
    analyse_pair_with, diff_analysed, diff_objects, diff_with_table,
};

fn gcc(dir: &Path, args: &[&str]) {
    let out = Command::new("gcc")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn compile(dir: &Path, name: &str, src: &str) -> Vec<u8> {
    std::fs::write(dir.join(format!("{name}.c")), src).unwrap();
    let prefix = format!("-ffile-prefix-map={}=.", dir.display());
    gcc(
        dir,
        &[
            "-c",
            "-O2",
            "-ffunction-sections",
            "-fdata-sections",
            "-g",
            "-fvisibility=hidden",
            &prefix,
            &format!("{name}.c"),
            "-o",
            &format!("{name}.o"),
        ],
    );
    std::fs::read(dir.join(format!("{name}.o"))).unwrap()
}

const A: &str = "__attribute__((noinline)) int helper(int x) { return x * 7 + 1; }\n\
                 int compute(int x) { return helper(x) * 3 + 11; }\n";
const B: &str = "__attribute__((noinline)) int helper(int x) { return x * 7 + 1; }\n\
                 int compute(int x) { return helper(x) * 5 + 11; }\n";
const C: &str = "int untouched(int x) { return x * x + 12345; }\n";

struct Fixture {
    _dir: tempfile::TempDir,
    a: Vec<u8>,
    b: Vec<u8>,
    c: Vec<u8>,
    image: xsplice_image::Image,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("o");
    let p = dir.path().join("p");
    std::fs::create_dir_all(&o).unwrap();
    std::fs::create_dir_all(&p).unwrap();
    let a = compile(&o, "m", A);
    let c = compile(&o, "c", C);
    let b = compile(&p, "m", B);
    gcc(
        &o,
        &[
            "-nostdlib",
            "-static",
            "-Wl,--build-id",
            "-Wl,-e,0",
            "m.o",
            "c.o",
            "-o",
            "image.elf",
        ],
    );
    let image = xsplice_image::Image::from_path(&o.join("image.elf")).unwrap();
    Fixture {
        _dir: dir,
        a,
        b,
        c,
        image,
    }
}

fn opts(old_code: bool) -> DiffOptions {
    DiffOptions {
        flavour: xsplice_payload::Flavour::Xsplice,
        name: "api-test".into(),
        depends: vec![vec![0xab; 20]],
        old_code,
    }
}

#[test]
fn payload_options_and_determinism() {
    let f = fixture();
    let pairs = [
        ObjectPair {
            name: "dir/m.o".into(),
            orig: Some(f.a.clone()),
            patched: Some(f.b.clone()),
        },
        ObjectPair {
            name: "c.o".into(),
            orig: Some(f.c.clone()),
            patched: Some(f.c.clone()),
        },
    ];
    let out = diff_objects(&pairs, &f.image, &opts(false)).unwrap();
    assert_eq!(out.exit_code(), 0);
    let DiffOutcome::Payload { payload, report } = &out else {
        panic!("{:?}", out.report())
    };
    assert_eq!(payload.name, "api-test");
    assert_eq!(payload.depends, vec![vec![0xab; 20]]);
    assert_eq!(payload.target_build_id, f.image.build_id());
    assert!(payload.old.is_none());
    assert_eq!(
        report.objects.iter().map(|o| o.status).collect::<Vec<_>>(),
        [PairStatus::Modified, PairStatus::Identical]
    );
    // helper is referenced in the image by its global name, compute is patched.
    assert!(
        payload
            .symbols
            .iter()
            .any(|s| s.name == "helper" && s.definition.is_none())
    );
    assert_eq!(payload.new.len(), 1);
    assert_eq!(payload.new[0].symbol.name, "compute");

    // Same input, same payload bytes and same report.
    let again = diff_objects(&pairs, &f.image, &opts(false)).unwrap();
    let bytes = |o: &DiffOutcome| match o {
        DiffOutcome::Payload { payload, .. } => {
            xsplice_payload::write::to_bytes(payload, xsplice_payload::Flavour::Xsplice).unwrap()
        }
        _ => unreachable!(),
    };
    assert_eq!(bytes(&out), bytes(&again));
    let json = serde_json::to_string(out.report()).unwrap();
    assert_eq!(json, serde_json::to_string(again.report()).unwrap());
    assert!(
        !json.contains(&*f._dir.path().to_string_lossy()),
        "absolute path in the report: {json}"
    );

    // The two halves, as a parallel caller would use them.
    let analysed = pairs.iter().map(|p| analyse_pair(p).unwrap()).collect();
    let split = diff_analysed(analysed, &f.image, &opts(false)).unwrap();
    assert_eq!(bytes(&split), bytes(&out));
}

#[test]
fn no_change_removed_and_added_objects() {
    let f = fixture();
    let same = [ObjectPair {
        name: "m.o".into(),
        orig: Some(f.a.clone()),
        patched: Some(f.a.clone()),
    }];
    let out = diff_objects(&same, &f.image, &opts(true)).unwrap();
    assert_eq!(out.exit_code(), 3);
    assert!(matches!(out, DiffOutcome::NoChange(_)));

    let removed = [ObjectPair {
        name: "c.o".into(),
        orig: Some(f.c.clone()),
        patched: None,
    }];
    let out = diff_objects(&removed, &f.image, &opts(true)).unwrap();
    assert_eq!(out.exit_code(), 3);
    assert_eq!(out.report().objects[0].status, PairStatus::Removed);

    // An added object alone patches nothing: its functions are new, nothing calls them.
    let added = [ObjectPair {
        name: "new.o".into(),
        orig: None,
        patched: Some(f.c.clone()),
    }];
    let out = diff_objects(&added, &f.image, &opts(true)).unwrap();
    assert_eq!(out.exit_code(), 3, "{}", out.report().to_text());
    let syms = &out.report().objects[0].symbols;
    assert_eq!(
        syms.iter()
            .map(|s| (s.name.as_str(), s.state))
            .collect::<Vec<_>>(),
        [("untouched", "new")]
    );
}

#[test]
fn input_errors() {
    let f = fixture();
    let e = analyse_pair(&ObjectPair {
        name: "x.o".into(),
        orig: None,
        patched: None,
    })
    .err()
    .unwrap();
    assert!(matches!(e, DiffError::EmptyPair { .. }));
    assert_eq!(
        e.to_string(),
        "x.o: object pair has neither an original nor a patched object"
    );
    let e = analyse_pair(&ObjectPair {
        name: "/abs/x.o".into(),
        orig: Some(f.a.clone()),
        patched: None,
    })
    .err()
    .unwrap();
    assert_eq!(
        e.to_string(),
        "/abs/x.o: object name must be a relative path"
    );
    let e = diff_objects(
        &[ObjectPair {
            name: "junk.o".into(),
            orig: Some(b"junk".to_vec()),
            patched: Some(f.b.clone()),
        }],
        &f.image,
        &opts(true),
    )
    .err()
    .unwrap();
    assert_eq!(
        e.to_string(),
        "junk.o: ELF header (file offset 0x0): not an ELF file"
    );
}

/// A project's own entry table: unknown to the built-in table, it still points at
/// a changed function, whose new code would run without its entry: refused.
/// Described by an override, only the changed function's entry is carried.
#[test]
fn special_section_table_overrides() {
    let src = |k: &str| {
        format!(
            "#define MARK(tag) __asm__ volatile(\"1: nop\\n.pushsection .my_marks, \\\"a\\\"\\n .p2align 2\\n .long 1b - .\\n .long \" #tag \"\\n.popsection\")\n\
             __attribute__((noinline)) int first(int v) {{ MARK(7); return v + 1; }}\n\
             __attribute__((noinline)) int second(int v) {{ MARK(9); return v * {k}; }}\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let (o, p) = (dir.path().join("o"), dir.path().join("p"));
    std::fs::create_dir_all(&o).unwrap();
    std::fs::create_dir_all(&p).unwrap();
    let a = compile(&o, "t", &src("3"));
    let b = compile(&p, "t", &src("5"));
    gcc(
        &o,
        &[
            "-nostdlib",
            "-static",
            "-Wl,--build-id",
            "-Wl,-e,0",
            "t.o",
            "-o",
            "image.elf",
        ],
    );
    let image = xsplice_image::Image::from_path(&o.join("image.elf")).unwrap();
    let pairs = [ObjectPair {
        name: "t.o".into(),
        orig: Some(a),
        patched: Some(b),
    }];
    let builtin = diff_objects(&pairs, &image, &opts(false)).unwrap();
    assert_eq!(builtin.exit_code(), 2, "{}", builtin.report().to_text());
    assert!(
        builtin
            .report()
            .refusals
            .iter()
            .any(|p| p.subject == ".my_marks"
                && p.message.contains("describes carried code (second)")
                && p.message.contains("not in the special section table")),
        "{}",
        builtin.report().to_text()
    );

    let table = SpecialTable::parse(".my_marks entries size=8 owner=0\n").unwrap();
    let out = diff_with_table(&pairs, &image, &opts(false), &table).unwrap();
    let DiffOutcome::Payload { payload, .. } = &out else {
        panic!("{}", out.report().to_text())
    };
    let marks = payload
        .sections
        .iter()
        .find(|s| s.name == ".my_marks")
        .expect("the entry table is carried");
    // One entry (second's): its tag and a relocation to the new code.
    assert_eq!(marks.data, [0, 0, 0, 0, 9, 0, 0, 0]);
    assert_eq!(marks.relocs.len(), 1);
    let xsplice_payload::RelocTarget::Symbol(s) = marks.relocs[0].target else {
        panic!("{:?}", marks.relocs)
    };
    assert_eq!(payload.symbols[s].name, "second");
    assert!(payload.symbols[s].definition.is_some());

    // The same through the two halves.
    let analysed = pairs
        .iter()
        .map(|p| analyse_pair_with(p, &table).unwrap())
        .collect();
    let split = diff_analysed(analysed, &image, &opts(false)).unwrap();
    assert_eq!(split.exit_code(), 0);
}
