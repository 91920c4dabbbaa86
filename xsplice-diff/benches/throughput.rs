//! Diff throughput: a generated C file with many functions (switches, strings,
//! static locals, `__LINE__`), compiled twice with one function changed; prints MB of
//! objects diffed per second. `cargo bench -p xsplice-diff --bench throughput`
//! (`XSPLICE_BENCH_FUNCS=N` to change the size; default 1500).

use std::process::Command;
use std::time::Instant;

use xsplice_diff::{DiffOptions, DiffOutcome, ObjectPair, diff_objects};

fn source(n: usize, changed: usize) -> String {
    let mut s = String::from(
        "struct s { int a, b; char name[16]; };\nextern void sink(const char *, int);\n",
    );
    for i in 0..n {
        let k = if i == changed { i + 1 } else { i };
        s.push_str(&format!(
            "static int st_{i}(struct s *p, int x) {{ static int c; c++; if (x > {i}) sink(\"msg {i}\", __LINE__); \
             switch (x & 7) {{ case 0: return p->a + {k}; case 1: return p->b * {i}; case 2: return x ^ {i}; case 3: return c; \
             case 4: return x - 3; case 5: return x * x; case 6: return p->name[x & 15]; default: return -1; }} }}\n"
        ));
    }
    for i in 0..n {
        s.push_str(&format!(
            "int f_{i}(struct s *p, int x) {{ return st_{i}(p, x) + st_{}(p, x + 1); }}\n",
            (i * 7) % n
        ));
    }
    s.push_str(
        "void sink(const char *a, int b) { __asm__ volatile(\"\" :: \"r\"(a), \"r\"(b)); }\n",
    );
    s
}

fn gcc(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("gcc")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("gcc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let n: usize = std::env::var("XSPLICE_BENCH_FUNCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.c"), source(n, usize::MAX)).unwrap();
    std::fs::write(d.join("b.c"), source(n, n / 2)).unwrap();
    let flags = [
        "-c",
        "-O2",
        "-ffunction-sections",
        "-fdata-sections",
        "-g",
        "-fvisibility=hidden",
    ];
    gcc(d, &[&flags[..], &["a.c", "-o", "a.o"]].concat());
    gcc(d, &[&flags[..], &["b.c", "-o", "b.o"]].concat());
    gcc(
        d,
        &[
            "-nostdlib",
            "-static",
            "-Wl,--build-id",
            "-Wl,-e,0",
            "a.o",
            "-o",
            "image.elf",
        ],
    );
    let image = xsplice_image::Image::from_path(&d.join("image.elf")).unwrap();
    let pair = ObjectPair {
        name: "a.o".into(),
        orig: Some(std::fs::read(d.join("a.o")).unwrap()),
        patched: Some(std::fs::read(d.join("b.o")).unwrap()),
    };
    let bytes = pair.orig.as_ref().unwrap().len() + pair.patched.as_ref().unwrap().len();
    let opts = DiffOptions {
        flavour: xsplice_payload::Flavour::Xsplice,
        name: "bench".into(),
        depends: Vec::new(),
        old_code: true,
    };
    let runs = 5;
    let start = Instant::now();
    let mut patched = 0;
    for _ in 0..runs {
        let out = diff_objects(std::slice::from_ref(&pair), &image, &opts).unwrap();
        if let DiffOutcome::Payload { payload, .. } = out {
            patched = payload.new.len();
        }
    }
    let secs = start.elapsed().as_secs_f64() / runs as f64;
    println!(
        "diff throughput: {:.1} MB of objects ({n} functions) in {:.3} s = {:.1} MB/s; {patched} function(s) patched",
        bytes as f64 / 1e6,
        secs,
        bytes as f64 / 1e6 / secs
    );
}
