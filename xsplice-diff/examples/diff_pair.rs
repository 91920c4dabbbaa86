//! Diff one object pair against an image and print the text report:
//! `cargo run --release -p xsplice-diff --example diff_pair -- ORIG.o PATCHED.o IMAGE [--json]`

use std::time::Instant;

use xsplice_diff::{DiffOptions, ObjectPair, diff_objects};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: diff_pair ORIG.o PATCHED.o IMAGE [--json]");
        std::process::exit(1);
    }
    let read = |p: &str| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let image = xsplice_image::Image::from_path(args[2].as_ref()).unwrap_or_else(|e| panic!("{e}"));
    let name = std::path::Path::new(&args[1])
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let pair = ObjectPair {
        name,
        orig: Some(read(&args[0])),
        patched: Some(read(&args[1])),
    };
    let bytes = pair.orig.as_ref().unwrap().len() + pair.patched.as_ref().unwrap().len();
    let opts = DiffOptions {
        flavour: xsplice_payload::Flavour::Xsplice,
        name: "example".into(),
        depends: Vec::new(),
        old_code: false,
    };
    let start = Instant::now();
    let out = diff_objects(&[pair], &image, &opts).unwrap_or_else(|e| panic!("{e}"));
    let secs = start.elapsed().as_secs_f64();
    if args.iter().any(|a| a == "--json") {
        println!("{}", serde_json::to_string_pretty(out.report()).unwrap());
    } else {
        print!("{}", out.report().to_text());
    }
    eprintln!(
        "exit code {}; {:.1} MB of objects in {secs:.3} s",
        out.exit_code(),
        bytes as f64 / 1e6
    );
}
