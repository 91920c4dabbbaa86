//! End to end: the binary on the example hypervisor and each of its patches, on a
//! generated tree nobody wrote for the example, and on plain C files.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use xsplice_payload::read::read;

struct Built {
    _tmp: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
    dir: PathBuf,
}

/// A built example tree (the user's production build) and a patched copy.
fn example(patch: &str) -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let a = dir.join("a");
    let b = dir.join("b");
    copy_sources(&example_src(), &a);
    copy_sources(&example_src(), &b);
    run_make(&a, &[]);
    apply_patch(&b, &patch_file(patch));
    Built {
        _tmp: tmp,
        a,
        b,
        dir,
    }
}

fn xsplice_build(args: &[&str], extra: &[&Path], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(wrapper_exe());
    c.args(args)
        .args(extra)
        .env_remove("CC")
        .env_remove("CFLAGS");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn build_payload(t: &Built, out: &str, more: &[&str]) -> (Output, PathBuf) {
    let o = t.dir.join(out);
    let mut args = vec![
        "--orig".to_string(),
        t.a.display().to_string(),
        "--patched".to_string(),
        t.b.display().to_string(),
        "--target".to_string(),
        t.a.join("hv-syms").display().to_string(),
        "-o".to_string(),
        o.display().to_string(),
    ];
    args.extend(more.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    (xsplice_build(&refs, &[], &[]), o)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn patched_names(payload: &[u8]) -> Vec<String> {
    let r = read(payload).unwrap();
    r.payload
        .new
        .iter()
        .map(|e| e.symbol.name.clone())
        .collect()
}

fn image_build_id(path: &Path) -> Vec<u8> {
    xsplice_image::Image::from_path(path)
        .unwrap()
        .build_id()
        .to_vec()
}

#[test]
fn xsa125_fix_patches_do_xen_version() {
    let t = example("xsa125-fix");
    let report = t.dir.join("report.json");
    let (out, o) = build_payload(
        &t,
        "xsa125.xsplice",
        &["--report", report.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bytes = std::fs::read(&o).unwrap();
    let r = read(&bytes).unwrap();
    assert_eq!(r.payload.name, "xsa125");
    assert_eq!(
        r.payload.target_build_id,
        image_build_id(&t.a.join("hv-syms"))
    );
    assert_eq!(patched_names(&bytes), ["do_xen_version"]);
    let e = &r.payload.new[0];
    let img = xsplice_image::Image::from_path(&t.a.join("hv-syms")).unwrap();
    let sym = img.lookup("do_xen_version").unwrap();
    assert_eq!(e.section.address, sym.addr);
    assert_eq!(u64::from(e.section.size), sym.size);
    assert!(r.payload.old.is_none());
    // The unchanged static helper it calls is resolved in the image as file#name.
    assert!(
        r.payload
            .symbols
            .iter()
            .any(|s| s.name == "version.c#check_args"),
        "{:?}",
        r.payload
            .symbols
            .iter()
            .map(|s| &s.name)
            .collect::<Vec<_>>()
    );
    // The report: JSON on disk, text on stderr.
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["verdict"], "payload");
    assert_eq!(json["inputs"]["kind"], "tree");
    assert_eq!(json["inputs"]["rebuilt"][0], "common/version.o");
    assert_eq!(json["payload_build_id"], hex::encode(&r.build_id));
    let text = stderr(&out);
    assert!(
        text.contains("patch do_xen_version (common/version.o)"),
        "{text}"
    );
    assert!(
        text.contains("1 object(s) rebuilt (original build reused)"),
        "{text}"
    );
}

#[test]
fn xsa132_fix_with_old_code_and_depends() {
    let t = example("xsa132-fix");
    let (out, o) = build_payload(&t, "xsa132.xsplice", &["--old-code", "--name", "xsa132"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bytes = std::fs::read(&o).unwrap();
    let r = read(&bytes).unwrap();
    assert_eq!(patched_names(&bytes), ["arch_do_domctl"]);
    // --old-code: the old entry carries the image's bytes of the function.
    let old = r.payload.old.as_ref().expect("old code recorded");
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].symbol.name, "arch_do_domctl");

    // A second payload stacked on the first records its build-id.
    let dep = o.display().to_string();
    let (out2, o2) = build_payload(&t, "stacked.xsplice", &["--depends", &dep]);
    assert_eq!(out2.status.code(), Some(0), "{}", stderr(&out2));
    let r2 = read(&std::fs::read(&o2).unwrap()).unwrap();
    assert_eq!(r2.payload.depends, vec![r.build_id.clone()]);
}

#[test]
fn new_helper_carries_new_function_and_string() {
    let t = example("new-helper");
    let (out, o) = build_payload(&t, "helper.xsplice", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bytes = std::fs::read(&o).unwrap();
    let r = read(&bytes).unwrap();
    assert_eq!(patched_names(&bytes), ["do_domctl"]);
    assert!(
        r.payload
            .symbols
            .iter()
            .any(|s| s.name == "max_vcpus_invalid" && s.definition.is_some())
    );
    let needle = b"domctl: max_vcpus out of range for domain";
    assert!(
        r.payload
            .sections
            .iter()
            .any(|s| s.data.windows(needle.len()).any(|w| w == needle)),
        "new string not carried"
    );
}

fn expect_refusal(patch: &str, code: i32, needle: &str) {
    let t = example(patch);
    let (out, o) = build_payload(&t, "x.xsplice", &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{patch}: {err}");
    assert!(err.contains(needle), "{patch}: {err}");
    assert!(!o.exists(), "{patch}: a payload was written");
    // Nothing half-written next to the output either.
    let leftovers: Vec<_> = std::fs::read_dir(&t.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".xsplice-build"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn changed_data_initialiser_is_refused() {
    expect_refusal("data-init-change", 2, "opt_max_domains");
}

#[test]
fn init_code_change_is_refused() {
    expect_refusal("init-change", 2, "hv_init");
}

#[test]
fn line_shift_only_is_no_change() {
    expect_refusal("line-shift-only", 3, "no functional change");
}

#[test]
fn too_small_function_is_refused() {
    expect_refusal("too-small-function", 2, "arch_get_features");
}

#[test]
fn struct_layout_change_is_refused() {
    expect_refusal("struct-layout-change", 2, "struct domain");
}

#[test]
fn payload_is_deterministic() {
    let t = example("xsa125-fix");
    // Different scratch directories, job counts and output paths; same payload.
    let (o1, p1) = build_payload(&t, "one.xsplice", &["--name", "det", "-j", "2"]);
    let (o2, p2) = build_payload(&t, "two.xsplice", &["--name", "det", "-j", "1"]);
    assert_eq!(o1.status.code(), Some(0), "{}", stderr(&o1));
    assert_eq!(o2.status.code(), Some(0), "{}", stderr(&o2));
    assert_eq!(std::fs::read(p1).unwrap(), std::fs::read(p2).unwrap());
}

#[test]
fn user_errors_exit_1_and_name_the_thing() {
    let t = example("xsa125-fix");
    let missing = t.dir.join("nope");
    let (out, o) = build_payload(&t, "x.xsplice", &["--depends", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(missing.to_str().unwrap()),
        "{}",
        stderr(&out)
    );
    assert!(!o.exists());

    let not_payload = t.a.join("Makefile");
    let (out, _) = build_payload(
        &t,
        "x.xsplice",
        &["--depends", not_payload.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--depends"), "{}", stderr(&out));

    let out = xsplice_build(
        &[
            "--orig",
            "/nonexistent/a",
            "--patched",
            "b",
            "--target",
            "t",
            "-o",
            "o",
        ],
        &[],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("input /nonexistent/a: no such file"),
        "{}",
        stderr(&out)
    );

    let (out, _) = build_payload(&t, "x.xsplice", &["--name", &"n".repeat(41)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--name"), "{}", stderr(&out));

    // The target is not an image.
    let o = t.dir.join("y.xsplice");
    let out = xsplice_build(
        &[
            "--orig",
            t.a.to_str().unwrap(),
            "--patched",
            t.b.to_str().unwrap(),
            "-o",
        ],
        &[&o, Path::new("--target"), &t.a.join("Makefile")],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Makefile"), "{}", stderr(&out));
    assert!(!o.exists());
}

/// A tree with another layout: sources under `src/`, headers under `inc/`, the
/// Makefile in `build/` (so the command is `make -C build`, from xsplice.toml),
/// objects in `build/obj/`, different flags, its own linker invocation.
fn generated_tree(root: &Path) {
    let w = |p: &str, s: &str| {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, s).unwrap();
    };
    w(
        "xsplice.toml",
        "[build]\ncommand = \"make -C build\"\nargs = [\"OPT=-O1\"]\n",
    );
    w(
        "inc/calc.h",
        "int scale(int x);\nint offset(int x);\nint calc_entry(int a, int b);\n",
    );
    w(
        "src/scale.c",
        "#include \"calc.h\"\nstatic int factor = 3;\nint scale(int x) { return x * factor + 1; }\n",
    );
    w(
        "src/offset.c",
        "#include \"calc.h\"\nstatic const char *const names[] = { \"zero\", \"one\" };\n\
         int offset(int x) { return x + (int)names[x & 1][0]; }\n",
    );
    w(
        "src/main.c",
        "#include \"calc.h\"\nint calc_entry(int a, int b) { return scale(a) - offset(b); }\n\
         void _start(void) { for (;;) calc_entry(1, 2); }\n",
    );
    w(
        "build/Makefile",
        "OPT ?= -O2\nSRCS := $(wildcard ../src/*.c)\nOBJS := $(patsubst ../src/%.c,obj/%.o,$(SRCS))\n\
         prog: $(OBJS)\n\t$(LD) -static -nostdlib --build-id=sha1 -e _start -o $@ $^\n\
         obj/%.o: ../src/%.c\n\t@mkdir -p obj\n\t$(CC) $(OPT) -g -fno-pic -fno-asynchronous-unwind-tables -I../inc -MMD -c $< -o $@\n\
         -include $(OBJS:.o=.d)\n",
    );
}

#[test]
fn generated_tree_with_its_own_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    generated_tree(&a);
    generated_tree(&b);
    run_make(&a.join("build"), &["OPT=-O1"]);
    let f = b.join("src/scale.c");
    let s = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, s.replace("x * factor + 1", "x * factor + 2")).unwrap();
    let o = tmp.path().join("calc.xsplice");
    let report = tmp.path().join("calc.json");
    let out = xsplice_build(
        &[
            "--orig",
            a.to_str().unwrap(),
            "--patched",
            b.to_str().unwrap(),
            "-o",
        ],
        &[
            &o,
            Path::new("--target"),
            &a.join("build/prog"),
            Path::new("--report"),
            &report,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(patched_names(&std::fs::read(&o).unwrap()), ["scale"]);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(
        json["inputs"]["rebuilt"],
        serde_json::json!(["build/obj/scale.o"])
    );

    // A header change reaches every includer through the tree's own .d files.
    let h = b.join("inc/calc.h");
    std::fs::write(
        &h,
        std::fs::read_to_string(&h).unwrap() + "int unused_decl(void);\n",
    )
    .unwrap();
    let out = xsplice_build(
        &[
            "--orig",
            a.to_str().unwrap(),
            "--patched",
            b.to_str().unwrap(),
            "-o",
        ],
        &[
            &o,
            Path::new("--target"),
            &a.join("build/prog"),
            Path::new("--report"),
            &report,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(
        json["inputs"]["rebuilt"],
        serde_json::json!([
            "build/obj/main.o",
            "build/obj/offset.o",
            "build/obj/scale.o"
        ])
    );
}

#[test]
fn c_files_compiled_with_cc_and_cflags() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    generated_tree(&a);
    generated_tree(&b);
    let cflags = "-O1 -g -fno-pic -fno-asynchronous-unwind-tables -I../inc";
    // The image: built from the same files with the same flags.
    for f in ["scale", "offset", "main"] {
        let st = Command::new("gcc")
            .args(cflags.split_whitespace())
            .args([
                "-ffunction-sections",
                "-c",
                &format!("{f}.c"),
                "-o",
                &format!("{f}.o"),
            ])
            .current_dir(a.join("src"))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let st = Command::new("ld")
        .args([
            "-static",
            "-nostdlib",
            "--build-id=sha1",
            "-e",
            "_start",
            "-o",
            "prog",
        ])
        .args(["scale.o", "offset.o", "main.o"])
        .current_dir(a.join("src"))
        .status()
        .unwrap();
    assert!(st.success());
    let f = b.join("src/offset.c");
    let s = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, s.replace("x + (int)", "x - (int)")).unwrap();
    let log = tmp.path().join("launcher.log");
    let launcher = fake_launcher(tmp.path(), &log);
    let o = tmp.path().join("files.xsplice");
    let out = xsplice_build(
        &["-o", o.to_str().unwrap(), "--target"],
        &[
            &a.join("src/prog"),
            Path::new("--orig"),
            &a.join("src/scale.c"),
            &a.join("src/offset.c"),
            Path::new("--patched"),
            &b.join("src/scale.c"),
            &b.join("src/offset.c"),
        ],
        &[
            ("CC", &format!("{} gcc", launcher.display())),
            ("CFLAGS", cflags),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(patched_names(&std::fs::read(&o).unwrap()), ["offset"]);
    // Four compiles, all through the launcher, all with the injected flags.
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.lines().count(), 4, "{calls}");
    assert!(
        calls
            .lines()
            .all(|l| l.starts_with("gcc -O1 -g") && l.contains("-fdata-sections"))
    );

    // Objects as inputs: the same result without compiling.
    let oa = tmp.path().join("oa");
    let ob = tmp.path().join("ob");
    std::fs::create_dir_all(&oa).unwrap();
    std::fs::create_dir_all(&ob).unwrap();
    for (src, dst) in [(&a, &oa), (&b, &ob)] {
        let st = Command::new("gcc")
            .args(cflags.split_whitespace())
            .args([
                "-ffunction-sections",
                "-fdata-sections",
                "-c",
                "offset.c",
                "-o",
            ])
            .arg(dst.join("offset.o"))
            .current_dir(src.join("src"))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let o2 = tmp.path().join("objs.xsplice");
    let out = xsplice_build(
        &["-o", o2.to_str().unwrap(), "--target"],
        &[
            &a.join("src/prog"),
            Path::new("--orig"),
            &oa.join("offset.o"),
            Path::new("--patched"),
            &ob.join("offset.o"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(patched_names(&std::fs::read(&o2).unwrap()), ["offset"]);
}

/// `--special-sections` adds rows to the special-section table: a section the user
/// declares off-limits is refused by name, and a malformed table is an error naming
/// the file and line, with nothing written.
#[test]
fn special_sections_file_is_honoured() {
    let t = example("xsa125-fix");
    let table = t.dir.join("special.txt");
    std::fs::write(
        &table,
        "# site rules\n.rodata.do_xen_version refuse jump tables are not allowed here\n",
    )
    .unwrap();
    let (o, out) = build_payload(
        &t,
        "p.xsplice",
        &["--special-sections", table.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("jump tables are not allowed here"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());

    std::fs::write(&table, ".ex_table entries\n").unwrap();
    let (o, out) = build_payload(
        &t,
        "q.xsplice",
        &["--special-sections", table.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("special.txt: line 1:"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}
