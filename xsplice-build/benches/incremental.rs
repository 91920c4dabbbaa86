//! Benchmark (prints numbers, asserts nothing about time): on a generated tree of
//! C files (default 500, `XSPLICE_BENCH_FILES` to change) with a one-file patch,
//! - what existing tools do: a full build of the original and of the patched tree;
//! - `xsplice-build` with the original build reused: the ratio of the two;
//! - diff throughput, in MB of objects per second through `xsplice_diff::diff_objects`:
//!   every object pair of the one-file patch (all but one pair identical), and every
//!   pair of a header change that alters every object.
//!
//! Run: `cargo bench -p xsplice-build --bench incremental`.
//!
//! On a real Xen too when `XSPLICE_BENCH_XEN_TREE` names a built Xen checkout and
//! `XSPLICE_BENCH_XEN_PATCH` a one-file fix for it (e.g. stable-4.18 at c90cec6dfd
//! and `git format-patch -1 1ac5088ca0`): side by side, a plain incremental
//! `make -C xen` of the same change in a copy of the tree, and `xsplice-build
//! --patch` on the tree itself (the ratio of the two, and each phase).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// One C file: a handful of functions with loops, a switch and strings, so objects
/// have realistic sections and relocations.
fn c_file(i: usize, files: usize) -> String {
    let mut s = format!(
        "#include \"common.h\"\n#include \"mod{}.h\"\n\nstatic const char *const names_{i}[] = {{ \"alpha-{i}\", \"beta-{i}\", \"gamma-{i}\", \"delta-{i}\" }};\nstatic int counter_{i};\n\n",
        i % 10
    );
    for f in 0..8 {
        s += &format!(
            "static int helper_{i}_{f}(int x)\n{{\n    int acc = {f};\n    for (int k = 0; k < x; k++)\n        acc = acc * 31 + k + (int)names_{i}[k & 3][0];\n    return acc;\n}}\n\n\
             int fn_{i}_{f}(int x, int y)\n{{\n    switch (x & 7) {{\n    case 0: return helper_{i}_{f}(y) + SCALE;\n    case 1: return y * {f} - 3;\n    case 2: return y ^ 0x55;\n    case 3: counter_{i}++; return counter_{i};\n    case 4: return helper_{i}_{f}(y + 1) - 1;\n    case 5: return (int)names_{i}[y & 3][1];\n    case 6: return y << 2;\n    default: return fn_{}_{f}(x - 1, y);\n    }}\n}}\n\n",
            (i + 1) % files
        );
    }
    s
}

fn generate(root: &Path, files: usize) {
    write(root, "include/common.h", "#define SCALE 7\n");
    for m in 0..10 {
        let mut h = format!("#ifndef MOD{m}_H\n#define MOD{m}_H\n");
        for i in (0..files).filter(|i| i % 10 == m) {
            for f in 0..8 {
                h += &format!("int fn_{i}_{f}(int x, int y);\n");
            }
        }
        // Every file calls into the next one, whatever its module.
        for i in 0..files {
            for f in 0..8 {
                h += &format!("int fn_{i}_{f}(int x, int y);\n");
            }
        }
        h += "#endif\n";
        write(root, &format!("include/mod{m}.h"), &h);
    }
    for i in 0..files {
        write(root, &format!("src/d{}/f{i}.c", i % 20), &c_file(i, files));
    }
    write(
        root,
        "src/start.c",
        "int fn_0_0(int x, int y);\nvoid _start(void) { for (;;) fn_0_0(1, 2); }\n",
    );
    write(
        root,
        "Makefile",
        "CFLAGS := -O2 -g -fno-pic -fno-asynchronous-unwind-tables -ffunction-sections -fdata-sections -Iinclude\n\
         SRCS := $(sort $(wildcard src/*.c src/*/*.c))\nOBJS := $(SRCS:.c=.o)\n\
         prog: $(OBJS)\n\t$(LD) -static -nostdlib --build-id=sha1 -e _start -o $@ $(OBJS)\n\
         %.o: %.c\n\t$(CC) $(CFLAGS) -MMD -MP -c $< -o $@\n\
         -include $(OBJS:.o=.d)\n",
    );
}

fn copy(src: &Path, dst: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .status()
        .unwrap();
    assert!(st.success());
}

fn make(dir: &Path, jobs: usize) -> Duration {
    let t = Instant::now();
    let out = Command::new("make")
        .arg(format!("-j{jobs}"))
        .current_dir(dir)
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

fn objects(root: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut stack = vec![root.join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "o") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// The real-Xen side by side (see the top of the file).
fn real_xen(tree: &Path, patch: &Path, jobs: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let copy_dir = tmp.path().join("tree");
    copy(tree, &copy_dir);
    let fixed = tmp.path().join("fixed");
    let applied =
        xsplice_build::patch::apply_patches(tree, &[patch.to_path_buf()], &fixed).unwrap();
    let put = |from: &Path| {
        for rel in &applied.written {
            std::fs::copy(from.join(rel), copy_dir.join(rel)).unwrap();
        }
    };
    let xen_make = |dir: &Path| -> Duration {
        let t = Instant::now();
        let st = Command::new("make")
            .args(["-C", "xen", &format!("-j{jobs}")])
            .current_dir(dir)
            .env_remove("MAKEFLAGS")
            .env_remove("MAKELEVEL")
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        t.elapsed()
    };
    println!("real Xen: {} with {}", tree.display(), patch.display());
    for round in 1..=3 {
        put(&fixed);
        let plain = xen_make(&copy_dir);
        put(tree);
        xen_make(&copy_dir);
        let report = tmp.path().join("r.json");
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_xsplice-build"))
            .arg("--orig")
            .arg(tree)
            .arg("--patch")
            .arg(patch)
            .arg("--target")
            .arg(tree.join("xen/xen-syms"))
            .arg("-o")
            .arg(tmp.path().join("fix.livepatch"))
            .arg("--report")
            .arg(&report)
            .arg(format!("-j{jobs}"))
            .env_remove("MAKEFLAGS")
            .env_remove("MAKELEVEL")
            .output()
            .unwrap();
        let xb = t.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        println!(
            "round {round}: plain incremental make -C xen {:.1} s, xsplice-build {:.1} s: ratio {:.2} ({}; timings {})",
            plain.as_secs_f64(),
            xb.as_secs_f64(),
            xb.as_secs_f64() / plain.as_secs_f64(),
            r["inputs"]["strategy"],
            r["timings"]
        );
    }
}

fn main() {
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let (Some(tree), Some(patch)) = (
        std::env::var_os("XSPLICE_BENCH_XEN_TREE"),
        std::env::var_os("XSPLICE_BENCH_XEN_PATCH"),
    ) {
        real_xen(Path::new(&tree), Path::new(&patch), jobs);
    }
    let files: usize = std::env::var("XSPLICE_BENCH_FILES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    generate(&a, files);
    copy(&a, &b);
    let patched = b.join("src/d7/f7.c");
    let text = std::fs::read_to_string(&patched).unwrap();
    std::fs::write(
        &patched,
        text.replacen("return y ^ 0x55;", "return y ^ 0x5a;", 1),
    )
    .unwrap();

    println!(
        "generated tree: {files} C files in 20 directories, 8 exported functions each; -j{jobs}"
    );
    let full_a = make(&a, jobs);
    let full_b = make(&b, jobs);
    let full = full_a + full_b;
    println!(
        "full builds (what existing tools do): original {:.2} s + patched {:.2} s = {:.2} s",
        full_a.as_secs_f64(),
        full_b.as_secs_f64(),
        full.as_secs_f64()
    );

    // xsplice-build on a fresh patched checkout (unbuilt), the original's build reused.
    let b2 = tmp.path().join("b2");
    std::fs::create_dir_all(&b2).unwrap();
    copy(&a.join("include"), &b2.join("include"));
    copy(&a.join("src"), &b2.join("src"));
    copy(&a.join("Makefile"), &b2.join("Makefile"));
    for o in objects(&b2) {
        std::fs::remove_file(o).unwrap();
    }
    std::fs::copy(&patched, b2.join("src/d7/f7.c")).unwrap();
    let out_path = tmp.path().join("bench.xsplice");
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_xsplice-build"))
        .arg("--orig")
        .arg(&a)
        .arg("--patched")
        .arg(&b2)
        .arg("--target")
        .arg(a.join("prog"))
        .arg("-o")
        .arg(&out_path)
        .arg(format!("-j{jobs}"))
        .env_remove("CC")
        .output()
        .unwrap();
    let ours = t.elapsed();
    let code = out.status.code();
    println!(
        "xsplice-build, original build reused: {:.2} s (exit {:?})\n{}",
        ours.as_secs_f64(),
        code,
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    println!(
        "ratio full builds / xsplice-build: {:.1}x",
        full.as_secs_f64() / ours.as_secs_f64()
    );

    // Diff throughput: the one-file patch's pairs, then a header change that
    // alters every object.
    let c = tmp.path().join("c");
    copy(&a, &c);
    write(&c, "include/common.h", "#define SCALE 9\n");
    make(&c, jobs);
    let image = xsplice_image::Image::from_path(&a.join("prog")).unwrap();
    for (label, other) in [("one-file patch", &b), ("header change", &c)] {
        let mut pairs = Vec::new();
        let mut bytes = 0usize;
        for o in objects(&a) {
            let rel = o.strip_prefix(&a).unwrap();
            let orig = std::fs::read(&o).unwrap();
            let patched = std::fs::read(other.join(rel)).unwrap();
            bytes += orig.len() + patched.len();
            pairs.push(xsplice_build::ObjectPair {
                name: rel.display().to_string(),
                orig: Some(orig),
                patched: Some(patched),
            });
        }
        let changed = pairs.iter().filter(|p| p.orig != p.patched).count();
        let opts = xsplice_diff::DiffOptions {
            flavour: xsplice_payload::Flavour::Xsplice,
            name: "bench".to_string(),
            depends: Vec::new(),
            old_code: false,
        };
        let t = Instant::now();
        let outcome = xsplice_diff::diff_objects(&pairs, &image, &opts);
        let dt = t.elapsed();
        let verdict = match &outcome {
            Ok(o) => format!("exit {}", o.exit_code()),
            Err(e) => format!("error: {e}"),
        };
        println!(
            "diff, {label}: {} object pairs ({changed} differ), {:.1} MB in {:.3} s = {:.1} MB/s ({verdict})",
            pairs.len(),
            bytes as f64 / 1e6,
            dt.as_secs_f64(),
            bytes as f64 / 1e6 / dt.as_secs_f64()
        );
    }
}
