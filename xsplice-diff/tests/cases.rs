//! Source-directive test cases: every `tests/cases/*.c` is one patch.
//!
//! Case file format:
//! - `//#File: dir/name.c` starts a new source file (the first one defaults to
//!   `<case>.c`); `//#NewFile: path` one only the patched build has. Each file is
//!   compiled from its own directory by its base name, so its `STT_FILE` is the
//!   base name, as in a recursive make. Files not ending in `.c` (headers) are
//!   only written.
//! - `//- text` lines exist only in the original, `//+ text` only in the patched build.
//! - `//#Cflags: ...` adds compiler flags.
//! - `//#Format: livepatch` builds a livepatch payload (default: xsplice).
//! - `//#ImageFilePrefix: dir/` links the image from copies of the original objects
//!   whose `STT_FILE` is rewritten to `dir/<file>` (as Xen's build does), while the
//!   objects diffed keep the base name.
//! - `//#Expect<What>: args` lines are checked against the outcome (see `check`).
//!   Payload sections: `ExpectPayloadSection: NAME SIZE|absent`,
//!   `ExpectPayloadRelocs: NAME target+addend...` (globs, in offset order; targets
//!   are symbol or section names), `ExpectPayloadBytes: NAME hex`,
//!   `ExpectBugLine: NAME INDEX MARKER` (the Xen bug frame number INDEX of section
//!   NAME holds the patched line of the first line containing MARKER).
//!
//! Each case is compiled with gcc in a temporary directory; the original objects are
//! linked (`-nostdlib -static`, with a build-id) into the image the payload targets.

use std::path::{Path, PathBuf};
use std::process::Command;

use xsplice_diff::{DiffOptions, DiffOutcome, ObjectPair, diff_objects};

struct Case {
    files: Vec<(String, String, String)>, // path, orig source, patched source
    /// Files only in the patched build.
    added: Vec<String>,
    cflags: Vec<String>,
    expects: Vec<(String, String)>,
    image_file_prefix: Option<String>,
    format: xsplice_payload::Flavour,
}

fn parse_case(name: &str, text: &str) -> Case {
    let mut files: Vec<(String, String, String)> = Vec::new();
    let mut cflags = Vec::new();
    let mut expects = Vec::new();
    let mut added = Vec::new();
    let mut image_file_prefix = None;
    let mut format = xsplice_payload::Flavour::Xsplice;
    // With explicit files, what precedes the first one (the case's comment) is no file.
    let multi = text
        .lines()
        .any(|l| l.starts_with("//#File:") || l.starts_with("//#NewFile:"));
    for line in text.lines() {
        if multi
            && files.is_empty()
            && !line.starts_with("//#File:")
            && !line.starts_with("//#NewFile:")
        {
            if let Some(rest) = line.strip_prefix("//#") {
                let (key, val) = rest.split_once(':').unwrap_or((rest, ""));
                match key {
                    "Cflags" => cflags.extend(val.split_whitespace().map(str::to_string)),
                    "ImageFilePrefix" => image_file_prefix = Some(val.trim().to_string()),
                    "Format" => format = val.trim().parse().unwrap(),
                    k if k.starts_with("Expect") => {
                        expects.push((k.to_string(), val.trim().to_string()))
                    }
                    _ => {}
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("//#") {
            let (key, val) = rest.split_once(':').unwrap_or((rest, ""));
            let val = val.trim().to_string();
            match key {
                "File" => files.push((val, String::new(), String::new())),
                "NewFile" => {
                    added.push(val.clone());
                    files.push((val, String::new(), String::new()));
                }
                "Cflags" => cflags.extend(val.split_whitespace().map(str::to_string)),
                "ImageFilePrefix" => image_file_prefix = Some(val),
                "Format" => format = val.parse().unwrap(),
                k if k.starts_with("Expect") => expects.push((k.to_string(), val)),
                other => panic!("{name}: unknown directive {other}"),
            }
            if key == "File" || key == "NewFile" {
                continue;
            }
        }
        if files.is_empty() {
            files.push((format!("{name}.c"), String::new(), String::new()));
        }
        let f = files.last_mut().unwrap();
        if let Some(o) = line.strip_prefix("//-") {
            f.1.push_str(o);
            f.1.push('\n');
        } else if let Some(p) = line.strip_prefix("//+") {
            f.2.push_str(p);
            f.2.push('\n');
        } else {
            for s in [&mut f.1, &mut f.2] {
                s.push_str(line);
                s.push('\n');
            }
        }
    }
    Case {
        files,
        added,
        cflags,
        expects,
        image_file_prefix,
        format,
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles every file of one build; returns (relative object path, bytes).
fn build(root: &Path, case: &Case, patched: bool) -> Vec<(String, Vec<u8>)> {
    let mut objs = Vec::new();
    for (path, o, p) in &case.files {
        if !patched && case.added.contains(path) {
            continue;
        }
        let src = root.join(path);
        std::fs::create_dir_all(src.parent().unwrap()).unwrap();
        std::fs::write(&src, if patched { p } else { o }).unwrap();
        if !path.ends_with(".c") {
            continue; // a header: written, included by the sources
        }
        let dir = src.parent().unwrap();
        let base = src.file_name().unwrap().to_str().unwrap();
        let obj = base.replace(".c", ".o");
        run(Command::new("gcc")
            .current_dir(dir)
            .args([
                "-c",
                "-O2",
                "-ffunction-sections",
                "-fdata-sections",
                "-g",
                "-fvisibility=hidden",
            ])
            .arg(format!("-ffile-prefix-map={}=.", dir.display()))
            .args(&case.cflags)
            .args([base, "-o", &obj]));
        let rel = path.replace(".c", ".o");
        objs.push((rel, std::fs::read(dir.join(&obj)).unwrap()));
    }
    objs
}

fn link_image(root: &Path, objs: &[(String, Vec<u8>)], file_prefix: Option<&str>) -> PathBuf {
    let out = root.join("image.elf");
    let mut cmd = Command::new("gcc");
    cmd.current_dir(root)
        .args(["-nostdlib", "-static", "-Wl,--build-id", "-Wl,-e,0", "-o"])
        .arg(&out);
    for (rel, _) in objs {
        match file_prefix {
            Some(prefix) => {
                let src = Path::new(rel).with_extension("c");
                let base = src.file_name().unwrap().to_str().unwrap();
                let linked = format!("{rel}.image.o");
                run(Command::new("objcopy")
                    .current_dir(root)
                    .arg(format!("--redefine-sym={base}={prefix}{base}"))
                    .args([rel.as_str(), linked.as_str()]));
                cmd.arg(linked);
            }
            None => {
                cmd.arg(rel);
            }
        }
    }
    run(&mut cmd);
    out
}

/// Compiles and diffs one case.
fn outcome(name: &str) -> (Case, DiffOutcome, xsplice_image::Image) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(format!("{name}.c"));
    let case = parse_case(name, &std::fs::read_to_string(&path).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("orig"), tmp.path().join("patched"));
    let orig = build(&a, &case, false);
    let patched = build(&b, &case, true);
    let image =
        xsplice_image::Image::from_path(&link_image(&a, &orig, case.image_file_prefix.as_deref()))
            .unwrap();
    let pairs: Vec<ObjectPair> = patched
        .into_iter()
        .map(|(n, p)| {
            let o = orig.iter().find(|(m, _)| *m == n).map(|(_, o)| o.clone());
            ObjectPair {
                name: n,
                orig: o,
                patched: Some(p),
            }
        })
        .collect();
    let opts = DiffOptions {
        flavour: case.format,
        name: name.chars().take(40).collect(),
        depends: Vec::new(),
        old_code: true,
    };
    let out = diff_objects(&pairs, &image, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    (case, out, image)
}

/// `*` matches any run of characters (`struct*dev`, `count.*`).
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

fn check_case(name: &str) {
    let (case, out, image) = outcome(name);
    let report = out.report();
    let text = report.to_text();
    let json = serde_json::to_string_pretty(report).unwrap();
    let ctx = format!("case {name}\n--- report ---\n{text}\n--- json ---\n{json}");
    let sym_state = |n: &str| -> Vec<&str> {
        report
            .objects
            .iter()
            .flat_map(|o| &o.symbols)
            .filter(|s| glob(n, &s.name))
            .map(|s| s.state)
            .collect()
    };
    let payload = match &out {
        DiffOutcome::Payload { payload, .. } => Some(payload),
        _ => None,
    };
    if std::env::var_os("XSPLICE_DIFF_DUMP").is_some() {
        println!("{ctx}\n--- payload ---\n{payload:#?}");
    }
    for (key, val) in &case.expects {
        let args: Vec<&str> = val.split_whitespace().collect();
        match key.as_str() {
            "ExpectOutcome" => {
                let got = match out {
                    DiffOutcome::Payload { .. } => "payload",
                    DiffOutcome::NoChange(_) => "nochange",
                    DiffOutcome::Refused(_) => "refused",
                };
                assert_eq!(got, val, "{ctx}");
            }
            "ExpectChanged" | "ExpectNew" | "ExpectSame" => {
                let want = &key["Expect".len()..].to_lowercase();
                for a in &args {
                    let st = sym_state(a);
                    assert!(
                        !st.is_empty() && st.iter().all(|s| s == want),
                        "{a}: want {want}, got {st:?}\n{ctx}"
                    );
                }
            }
            "ExpectPatched" => {
                let got: Vec<&str> = report.patched.iter().map(|p| p.function.as_str()).collect();
                let want: Vec<&str> = args.clone();
                assert_eq!(got, want, "patched functions\n{ctx}");
                let p = payload.expect("a payload");
                for (e, w) in p.new.iter().zip(&want) {
                    assert_eq!(&e.symbol.name, w);
                    assert_eq!(e.symbol.label, format!("{w}+<0x0>"));
                    let sym = image.lookup(w).unwrap();
                    assert_eq!(
                        (e.section.address, u64::from(e.section.size)),
                        (sym.addr, sym.size),
                        "{w} address/size"
                    );
                    // The old-code check carries the image's bytes of the old function.
                    let old = p
                        .old
                        .as_ref()
                        .unwrap()
                        .iter()
                        .find(|o| &o.symbol.name == w)
                        .unwrap();
                    let c = &p.sections[old.patch.content.section];
                    assert_eq!(c.data, image.read(sym.addr, sym.size).unwrap());
                }
            }
            "ExpectCarried" => {
                for a in &args {
                    assert!(
                        report.carried.iter().any(|c| glob(a, &c.name)),
                        "{a} not carried\n{ctx}"
                    );
                }
            }
            "ExpectNotCarried" => {
                for a in &args {
                    assert!(
                        !report.carried.iter().any(|c| glob(a, &c.name)),
                        "{a} carried\n{ctx}"
                    );
                }
            }
            "ExpectLineOnly" => {
                for a in &args {
                    assert!(
                        report.line_only.iter().any(|l| glob(a, &l.symbol)),
                        "{a} not line-only\n{ctx}"
                    );
                    assert_eq!(sym_state(a), ["same"], "{ctx}");
                }
            }
            "ExpectString" => {
                let want = val.trim_matches('"');
                let p = payload.expect("a payload");
                let found = p.sections.iter().any(|s| {
                    s.kind == xsplice_payload::ContentKind::Strings
                        && s.data.split(|&b| b == 0).any(|x| x == want.as_bytes())
                });
                assert!(found, "string {want:?} not in the payload\n{ctx}");
            }
            "ExpectUndefined" => {
                let p = payload.expect("a payload");
                for a in &args {
                    assert!(
                        p.symbols
                            .iter()
                            .any(|s| s.definition.is_none() && glob(a, &s.name)),
                        "undefined {a} missing: {:?}\n{ctx}",
                        p.symbols
                            .iter()
                            .filter(|s| s.definition.is_none())
                            .map(|s| &s.name)
                            .collect::<Vec<_>>()
                    );
                }
            }
            "ExpectRefusal" => {
                let (kind, rest) = val.split_once(' ').unwrap_or((val.as_str(), ""));
                let (subject, needle) = rest.split_once(' ').unwrap_or((rest, ""));
                let hit = report.refusals.iter().any(|p| {
                    format!("{:?}", p.kind) == kind
                        && glob(subject, &p.subject)
                        && (needle.is_empty() || glob(&format!("*{needle}*"), &p.to_string()))
                });
                assert!(hit, "refusal {val:?} missing\n{ctx}");
            }
            "ExpectLineDelta" => {
                let l = report
                    .line_only
                    .iter()
                    .find(|l| glob(args[0], &l.symbol))
                    .unwrap_or_else(|| panic!("{ctx}"));
                assert_eq!(l.change.delta.to_string(), args[1], "{ctx}");
            }
            "ExpectSection" => {
                let (sec, verdict) = val.split_once(' ').unwrap();
                let hit = report
                    .objects
                    .iter()
                    .flat_map(|o| &o.sections)
                    .any(|s| s.name == sec && glob(&format!("{verdict}*"), &s.verdict));
                assert!(hit, "section {val:?}\n{ctx}");
            }
            "ExpectRelocTypes" => {} // checked with the payload below
            "ExpectRefusalCount" => assert_eq!(report.refusals.len().to_string(), *val, "{ctx}"),
            "ExpectWarning" => assert!(
                report.warnings.iter().any(|w| w.contains(val.as_str())),
                "warning {val:?}\n{ctx}"
            ),
            "ExpectHook" => {
                let p = payload.expect("a payload");
                let got: Vec<String> = p
                    .hooks
                    .iter()
                    .map(|h| format!("{:?} {}", h.kind, p.symbols[h.symbol].name))
                    .collect();
                assert!(got.contains(val), "hook {val:?} not in {got:?}\n{ctx}");
            }
            "ExpectPayloadSection" => {
                let p = payload.expect("a payload");
                let sec = p.sections.iter().find(|s| s.name == args[0]);
                match args[1] {
                    "absent" => assert!(sec.is_none(), "{} present\n{ctx}", args[0]),
                    n => assert_eq!(
                        sec.map(|s| s.size.to_string()),
                        Some(n.to_string()),
                        "size of {}\n{ctx}",
                        args[0]
                    ),
                }
            }
            "ExpectPayloadRelocs" => {
                let p = payload.expect("a payload");
                let got = payload_relocs(p, args[0]);
                assert_eq!(
                    got.len(),
                    args.len() - 1,
                    "relocations of {}: {got:?}\n{ctx}",
                    args[0]
                );
                for (g, w) in got.iter().zip(&args[1..]) {
                    assert!(glob(w, g), "relocation {g} is not {w}: {got:?}\n{ctx}");
                }
            }
            "ExpectPayloadBytes" => {
                let p = payload.expect("a payload");
                let sec = p
                    .sections
                    .iter()
                    .find(|s| s.name == args[0])
                    .unwrap_or_else(|| panic!("no {}\n{ctx}", args[0]));
                let hex: String = sec.data.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(hex, args[1..].concat(), "bytes of {}\n{ctx}", args[0]);
            }
            "ExpectBugLine" => {
                let p = payload.expect("a payload");
                let index: u64 = args[1].parse().unwrap();
                let sec = p
                    .sections
                    .iter()
                    .find(|s| s.name == args[0])
                    .unwrap_or_else(|| panic!("no {}\n{ctx}", args[0]));
                let addend = |off: u64| {
                    sec.relocs
                        .iter()
                        .find(|r| r.offset == off)
                        .map(|r| r.addend)
                        .unwrap_or_else(|| panic!("no relocation at {off}\n{ctx}"))
                };
                let at = index * 8;
                let line = (((addend(at) >> 24) & 0x7f) << 7) | ((addend(at + 4) >> 24) & 0x7f);
                let want = case
                    .files
                    .iter()
                    .find_map(|(_, _, patched)| {
                        patched
                            .lines()
                            .position(|l| l.contains(args[2]) && !l.starts_with("//#"))
                    })
                    .unwrap_or_else(|| panic!("marker {} not in the patched source", args[2]))
                    + 1;
                assert_eq!(
                    line, want as i64,
                    "line of bug frame {index} of {}\n{ctx}",
                    args[0]
                );
            }
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
    if let Some(p) = payload {
        if let Some((_, want)) = case.expects.iter().find(|(k, _)| k == "ExpectRelocTypes") {
            let mut got: Vec<String> = p
                .sections
                .iter()
                .flat_map(|s| &s.relocs)
                .map(|r| {
                    p.machine
                        .arch()
                        .reloc_info(r.r_type)
                        .unwrap()
                        .name
                        .to_string()
                })
                .collect();
            got.sort();
            got.dedup();
            assert_eq!(got.join(" "), *want, "{ctx}");
        }
        // Emitted payloads write and read back unchanged (livepatch: the model read
        // back writes the same bytes).
        let bytes = xsplice_payload::write::to_bytes(p, case.format)
            .unwrap_or_else(|e| panic!("{ctx}\nwrite: {e}"));
        let back =
            xsplice_payload::read::read(&bytes).unwrap_or_else(|e| panic!("{ctx}\nread: {e}"));
        if case.format == xsplice_payload::Flavour::Xsplice {
            assert_eq!(&back.payload, p, "{ctx}");
        } else {
            assert_eq!(
                xsplice_payload::write::to_bytes(&back.payload, case.format).unwrap(),
                bytes,
                "{ctx}"
            );
        }
        assert_eq!(p.target_build_id, image.build_id());
    }
}

/// The relocations of a payload section as `target+addend`, in offset order.
fn payload_relocs(p: &xsplice_payload::Payload, name: &str) -> Vec<String> {
    let Some(sec) = p.sections.iter().find(|s| s.name == name) else {
        return Vec::new();
    };
    let mut relocs = sec.relocs.clone();
    relocs.sort_by_key(|r| r.offset);
    relocs
        .iter()
        .map(|r| {
            let t = match r.target {
                xsplice_payload::RelocTarget::Symbol(i) => p.symbols[i].name.clone(),
                xsplice_payload::RelocTarget::Section(i) => p.sections[i].name.clone(),
            };
            if r.addend < 0 {
                format!("{t}-{:#x}", -r.addend)
            } else {
                format!("{t}+{:#x}", r.addend)
            }
        })
        .collect()
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => { $( #[test] fn $name() { check_case(stringify!($name)); } )* };
}

cases!(
    changed_function,
    clone_isra_cold,
    new_function_string,
    static_local_renamed,
    func_strings,
    jump_table,
    line_shift,
    changed_data,
    init_code,
    too_small,
    too_small_endbr,
    struct_layout,
    ambiguous_local,
    unsupported_reloc,
    static_twins,
    static_ambiguous,
    new_data,
    new_object,
    bug_frame_line_shift,
    bug_frame_changed,
    no_dwarf,
    line_data,
    no_function_sections,
    init_moved,
    shift_and_constant,
    moved_data,
    special_statics,
    ops_table,
    ops_table_private,
    jump_table_nopic,
    xen_bug_frames,
    ex_table_fixup,
    ex_table_changed_only,
    alternatives,
    entries_unowned,
    special_malformed,
    ex_table_pre,
    percpu_new,
    percpu_existing,
    cold_part,
    read_mostly_imm,
    trailing_code,
    livepatch_hooks,
    livepatch_hooks_carried,
    livepatch_abs32,
    file_prefix,
    inlined_line_shift,
    unknown_section,
);
