//! Diff every object pair of a directory against an image and print the report:
//! `cargo run --release -p xsplice-diff --example diff_dir -- DIR IMAGE [--json] [--out PAYLOAD]`
//!
//! DIR holds `<name>.orig.o` / `<name>.patched.o` files, where `<name>` is the
//! object's relative path with `/` written as `+` (`arch+x86+domain.o`). A name with
//! only one side is an added or removed object. Exits with the diff's exit code.

use std::collections::BTreeMap;

use xsplice_diff::{DiffOptions, ObjectPair, diff_objects};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: diff_dir DIR IMAGE [--json] [--out PAYLOAD]");
        std::process::exit(1);
    }
    let fail = |msg: String| -> ! {
        eprintln!("error: {msg}");
        std::process::exit(1)
    };
    let entries = std::fs::read_dir(&args[0]).unwrap_or_else(|e| fail(format!("{}: {e}", args[0])));
    let mut pairs: BTreeMap<String, ObjectPair> = BTreeMap::new();
    for e in entries {
        let path = e
            .unwrap_or_else(|e| fail(format!("{}: {e}", args[0])))
            .path();
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (stem, orig) = if let Some(s) = file.strip_suffix(".orig.o") {
            (s, true)
        } else if let Some(s) = file.strip_suffix(".patched.o") {
            (s, false)
        } else {
            continue;
        };
        let name = stem.replace('+', "/");
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        let p = pairs.entry(name.clone()).or_insert(ObjectPair {
            name,
            orig: None,
            patched: None,
        });
        if orig {
            p.orig = Some(bytes);
        } else {
            p.patched = Some(bytes);
        }
    }
    let image =
        xsplice_image::Image::from_path(args[1].as_ref()).unwrap_or_else(|e| fail(e.to_string()));
    let opts = DiffOptions {
        flavour: xsplice_payload::Flavour::Xsplice,
        name: "diff-dir".into(),
        depends: Vec::new(),
        old_code: true,
    };
    let pairs: Vec<ObjectPair> = pairs.into_values().collect();
    let out = diff_objects(&pairs, &image, &opts).unwrap_or_else(|e| fail(e.to_string()));
    if args.iter().any(|a| a == "--json") {
        println!(
            "{}",
            serde_json::to_string_pretty(out.report()).expect("report serializes")
        );
    } else {
        print!("{}", out.report().to_text());
    }
    if let xsplice_diff::DiffOutcome::Payload { payload, .. } = &out {
        match xsplice_payload::write::to_bytes(payload, xsplice_payload::Flavour::Xsplice) {
            Ok(b) => {
                eprintln!(
                    "payload: {} bytes, {} sections",
                    b.len(),
                    payload.sections.len()
                );
                if let Some(i) = args.iter().position(|a| a == "--out") {
                    let Some(path) = args.get(i + 1) else {
                        fail("--out needs a file name".into())
                    };
                    std::fs::write(path, &b).unwrap_or_else(|e| fail(format!("{path}: {e}")));
                }
            }
            Err(e) => fail(format!("payload does not write: {e}")),
        }
    }
    std::process::exit(out.exit_code());
}
