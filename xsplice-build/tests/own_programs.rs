//! End to end on small programs of their own (not the bundled example): source
//! fixes built by xsplice-build against the image built from A, then run in
//! runtime-sim.
//!
//! - A hotpatch stack: the first fix (A → B) and a second fix of the same function
//!   (B → C) built with `--depends` on the first. The simulator runs both in order,
//!   refuses the second fix when it was built without the dependency (it would undo
//!   the first), and reverts them top first.
//! - Exception tables: a guest accessor whose faults are fixed up through `.ex_table`
//!   (Xen's layout), in the image and in the payload's new code.
//! - Bug frames (Xen's layout): WARN continues, BUG and failed assertions stop the
//!   call with their source location, in the image and in the payload's new code.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use runtime_sim::verify::{Probe, VerifyConfig, verify};
use runtime_sim::*;
use xsplice_image::Image;

const CFLAGS: &str = "-O2 -ffreestanding -fno-pic -fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables -g";

/// A: an index check with two bugs (off by one, negative indices accepted).
const A: &str = r#"
#define F __attribute__((noipa))
int limit = 16;
F int check_index(int i) { if (i > limit) return -22; return i; }
F int scaled(int x) { return x * 3 + 1; }
void _start(void) { for (;;) ; }
"#;

fn write_tree(root: &Path, name: &str, src: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("prog.c"), src).unwrap();
    dir.join("prog.c")
}

fn image_from(src: &Path) -> PathBuf {
    let dir = src.parent().unwrap();
    let st = Command::new("gcc")
        .args(CFLAGS.split_whitespace())
        .args(["-ffunction-sections", "-c", "prog.c", "-o", "prog.o"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("ld")
        .args(["-static", "-nostdlib", "--build-id=sha1", "-e", "_start"])
        .args(["-o", "image", "prog.o"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success());
    dir.join("image")
}

fn build(orig: &Path, patched: &Path, image: &Path, out: &Path, depends: Option<&Path>) -> Output {
    let mut c = Command::new(wrapper_exe());
    c.arg("--orig")
        .arg(orig)
        .arg("--patched")
        .arg(patched)
        .arg("--target")
        .arg(image)
        .arg("-o")
        .arg(out)
        .env("CC", "gcc")
        .env("CFLAGS", CFLAGS);
    if let Some(d) = depends {
        c.arg("--depends").arg(d);
    }
    c.output().unwrap()
}

fn ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn pid(s: &str) -> PayloadId {
    PayloadId::new(s).unwrap()
}

fn act(hv: &mut Hypervisor, id: &str, a: Action) -> Status {
    hv.action(&pid(id), a, 0).unwrap();
    hv.settle();
    hv.get(&pid(id)).unwrap()
}

fn check_index(hv: &mut Hypervisor, i: i64) -> i64 {
    hv.call(0, "check_index", &[Arg::Int(i as u64)])
        .unwrap()
        .ret as i32 as i64
}

#[test]
fn second_fix_of_a_function_stacks_on_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_tree(tmp.path(), "a", A);
    let b = write_tree(
        tmp.path(),
        "b",
        &A.replace("if (i > limit)", "if (i >= limit)"),
    );
    let c = write_tree(
        tmp.path(),
        "c",
        &A.replace("if (i > limit)", "if (i < 0 || i >= limit)"),
    );
    let image = image_from(&a);
    let first = tmp.path().join("first.xsplice");
    let second = tmp.path().join("second.xsplice");
    let unstacked = tmp.path().join("unstacked.xsplice");
    ok(&build(&a, &b, &image, &first, None));
    ok(&build(&b, &c, &image, &second, Some(&first)));
    ok(&build(&b, &c, &image, &unstacked, None));

    let img = Image::from_path(&image).unwrap();
    let mut hv =
        Hypervisor::boot(img, SimConfig::default(), Policy::default(), Trust::none()).unwrap();
    let booted = hv.memory().clone();
    for (id, file) in [
        ("first", &first),
        ("second", &second),
        ("unstacked", &unstacked),
    ] {
        hv.upload(pid(id), &std::fs::read(file).unwrap()).unwrap();
    }
    // Unpatched: both bugs.
    assert_eq!(check_index(&mut hv, 16), 16);
    assert_eq!(check_index(&mut hv, -1), -1);

    // The second fix needs the first loaded to check, applied to apply.
    assert_eq!(act(&mut hv, "second", Action::Check), Status::Checked);
    assert_eq!(
        act(&mut hv, "second", Action::Apply),
        Status::Error(Errno::ENOENT)
    );
    assert_eq!(act(&mut hv, "first", Action::Check), Status::Checked);
    assert_eq!(act(&mut hv, "first", Action::Apply), Status::Applied);
    assert_eq!(check_index(&mut hv, 16), -22);
    assert_eq!(check_index(&mut hv, -1), -1);

    // Built without `--depends first`, the same fix would write over the first
    // payload's trampoline without knowing it: refused, nothing written.
    let before = hv.memory().clone();
    assert_eq!(
        act(&mut hv, "unstacked", Action::Check),
        Status::Error(Errno::EBUSY)
    );
    assert_eq!(hv.memory().first_difference(&before), None);

    assert_eq!(act(&mut hv, "second", Action::Apply), Status::Applied);
    assert_eq!(check_index(&mut hv, 16), -22);
    assert_eq!(check_index(&mut hv, -1), -22);
    assert_eq!(check_index(&mut hv, 15), 15);
    assert_eq!(hv.call(0, "scaled", &[Arg::Int(2)]).unwrap().ret as i32, 7);

    // Only the top of the stack reverts; then the first fix alone is back.
    assert!(hv.action(&pid("first"), Action::Revert, 0).is_err());
    assert_eq!(act(&mut hv, "second", Action::Revert), Status::Reverted);
    assert_eq!(check_index(&mut hv, 16), -22);
    assert_eq!(check_index(&mut hv, -1), -1);
    assert_eq!(act(&mut hv, "first", Action::Revert), Status::Reverted);
    assert_eq!(check_index(&mut hv, 16), 16);

    // `runtime-sim verify --applied first second`: the proof on a host that already
    // runs the first fix.
    let probes = [
        "check_index(-1)=-22",
        "check_index(16)=-22",
        "check_index(3)=3",
    ];
    let cfg = VerifyConfig {
        hypervisor: image.clone(),
        trust: Vec::new(),
        payload: second.clone(),
        applied: vec![first.clone()],
        probes: probes.iter().map(|p| Probe::parse(p).unwrap()).collect(),
        cpus: 1,
        expect_from: None,
    };
    let report = verify(&cfg).unwrap();
    assert!(report.ok(), "{}", report.render());
    assert_eq!(
        report.steps[0],
        ("applied-1".into(), "APPLIED".into(), true)
    );
    // "Unpatched" is the hypervisor with the first fix: -1 still passes.
    let int = |r: &Result<runtime_sim::verify::Got, String>| r.clone().map(|v| v.ret as i32);
    assert_eq!(int(&report.probes[0].before), Ok(-1));
    assert_eq!(int(&report.probes[1].before), Ok(-22));
    let bad = verify(&VerifyConfig {
        payload: unstacked.clone(),
        ..cfg.clone()
    })
    .unwrap();
    assert!(!bad.ok());
    assert!(
        bad.render().contains("does not depend on"),
        "{}",
        bad.render()
    );
    let missing = verify(&VerifyConfig {
        applied: vec![tmp.path().join("nope.xsplice")],
        ..cfg
    })
    .unwrap_err();
    assert!(
        missing.to_string().contains("nope.xsplice: cannot read"),
        "{missing}"
    );

    // Every text and data byte is as booted (stacks were used by the calls).
    for id in ["second", "unstacked", "first"] {
        hv.action(&pid(id), Action::Unload, 0).unwrap();
        hv.settle();
    }
    let mut now = hv.memory().clone();
    for (base, len) in hv.layout().stacks.clone() {
        now.write(base, &booted.read(base, len).unwrap()).unwrap();
    }
    assert_eq!(now.first_difference(&booted), None);
}

/// A guest accessor in Xen's style: a faulting read continues at a fixup that
/// yields -EFAULT (14), listed in `.ex_table` (self-relative `addr`, `cont`).
const GUEST: &str = r#"
#define F __attribute__((noipa))
static inline long read_guest(const long *p) {
    long v;
    asm volatile("1: mov (%1), %0\n2:\n"
                 ".pushsection .fixup,\"ax\"\n3: mov $-14, %0\n jmp 2b\n.popsection\n"
                 ".pushsection .ex_table,\"a\"\n .balign 4\n .long 1b - ., 3b - .\n.popsection"
                 : "=r"(v) : "r"(p) : "memory");
    return v;
}
F long sum_guest(const long *p, long n) {
    long s = 0;
    for (long i = 0; i < n; i++) s += read_guest(p + i);
    return s;
}
void _start(void) { for (;;) ; }
"#;

#[test]
fn exception_fixups_run_in_the_image_and_in_the_payload() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_tree(tmp.path(), "a", GUEST);
    // The fix: a faulting read ends the sum with -EFAULT instead of adding it in.
    let b = write_tree(
        tmp.path(),
        "b",
        &GUEST.replace(
            "s += read_guest(p + i);",
            "{ long v = read_guest(p + i); if (v == -14) return -14; s += v; }",
        ),
    );
    let image = image_from(&a);
    let payload = tmp.path().join("fix.xsplice");
    ok(&build(&a, &b, &image, &payload, None));
    let read = xsplice_payload::read::read(&std::fs::read(&payload).unwrap()).unwrap();
    let names: Vec<&str> = read
        .payload
        .sections
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert!(names.contains(&".ex_table"), "{names:?}");

    let img = Image::from_path(&image).unwrap();
    let mut hv =
        Hypervisor::boot(img, SimConfig::default(), Policy::default(), Trust::none()).unwrap();
    // The image's own table: one entry, for the read in sum_guest.
    assert_eq!(hv.fixups().len(), 1);
    // An unmapped guest address: each read faults and is fixed up.
    let bad = [Arg::Int(0x1000), Arg::Int(3)];
    assert_eq!(hv.call(0, "sum_guest", &bad).unwrap().ret as i64, -42);

    hv.upload(pid("fix"), &std::fs::read(&payload).unwrap())
        .unwrap();
    assert_eq!(
        hv.fixups().len(),
        2,
        "the payload's entry joins the image's"
    );
    assert_eq!(act(&mut hv, "fix", Action::Check), Status::Checked);
    assert_eq!(act(&mut hv, "fix", Action::Apply), Status::Applied);
    // The new code faults at its own instruction: only the payload's entry covers it.
    assert_eq!(hv.call(0, "sum_guest", &bad).unwrap().ret as i64, -14);
    assert_eq!(act(&mut hv, "fix", Action::Revert), Status::Reverted);
    assert_eq!(hv.call(0, "sum_guest", &bad).unwrap().ret as i64, -42);
}

/// WARN/BUG/assert frames written the way Xen's x86 macros lay them out.
const FRAMES: &str = r#"
#define F __attribute__((noipa))
#define STR(x) #x
#define XSTR(x) STR(x)
#define FRAME(type, line, extra_str, extra_words)                                  \
    asm volatile("1: ud2\n"                                                        \
                 ".pushsection .rodata.str1.1,\"aMS\",@progbits,1\n"              \
                 "2: .asciz \"" __FILE__ "\"\n" extra_str                         \
                 ".popsection\n"                                                  \
                 ".pushsection .bug_frames." #type ",\"a\",@progbits\n"           \
                 ".p2align 2\n"                                                   \
                 "3: .long (1b - 3b) + ((" line " >> 7) << 24)\n"                 \
                 ".long (2b - 3b) + ((" line " & 127) << 24)\n" extra_words       \
                 ".popsection")
#define WARN_HERE() FRAME(1, XSTR(__LINE__), "", "")
#define BUG_HERE() FRAME(2, XSTR(__LINE__), "", "")
#define ASSERT_HERE(msg) FRAME(3, XSTR(__LINE__), "4: .asciz \"" msg "\"\n", ".long 0, (4b - 3b)\n")
F long scale(long x) {
    if (x < 0)
        BUG_HERE();
    if (x > 1000)
        WARN_HERE();
    return x * 2;
}
F long positive(long x) {
    if (x <= 0)
        ASSERT_HERE("x > 0");
    return x;
}
void _start(void) { for (;;) ; }
"#;

fn line_of(src: &str, needle: &str) -> usize {
    src.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn bug_frames_warn_continue_and_bug_stops_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_tree(tmp.path(), "a", FRAMES);
    // The fix clamps large values; its WARN stays (on another line).
    let fixed = FRAMES.replace(
        "    if (x > 1000)\n        WARN_HERE();\n",
        "    if (x > 1000) {\n        WARN_HERE();\n        return 2000;\n    }\n",
    );
    let b = write_tree(tmp.path(), "b", &fixed);
    let image = image_from(&a);
    let payload = tmp.path().join("fix.xsplice");
    ok(&build(&a, &b, &image, &payload, None));

    let img = Image::from_path(&image).unwrap();
    let mut hv =
        Hypervisor::boot(img, SimConfig::default(), Policy::default(), Trust::none()).unwrap();
    assert_eq!(hv.bug_frames().len(), 3);
    let call = |hv: &mut Hypervisor, f: &str, x: i64| {
        hv.call(0, f, &[Arg::Int(x as u64)])
            .map(|r| r.ret as i64)
            .map_err(|e| e.to_string())
    };
    // WARN: the hypervisor carries on.
    assert_eq!(call(&mut hv, "scale", 5000), Ok(10000));
    assert_eq!(call(&mut hv, "scale", 7), Ok(14));
    let bug = call(&mut hv, "scale", -1).unwrap_err();
    let want = format!("BUG at prog.c:{}", line_of(FRAMES, "BUG_HERE();"));
    assert!(bug.contains(&want), "{bug} / {want}");
    let assert = call(&mut hv, "positive", 0).unwrap_err();
    let want = format!(
        "assertion `x > 0` failed at prog.c:{}",
        line_of(FRAMES, "ASSERT_HERE(\"x > 0\");")
    );
    assert!(assert.contains(&want), "{assert} / {want}");
    assert_eq!(call(&mut hv, "positive", 3), Ok(3));

    hv.upload(pid("fix"), &std::fs::read(&payload).unwrap())
        .unwrap();
    assert_eq!(act(&mut hv, "fix", Action::Check), Status::Checked);
    assert_eq!(act(&mut hv, "fix", Action::Apply), Status::Applied);
    // The new code's ud2s are described by the payload's own frames, with B's lines.
    assert_eq!(call(&mut hv, "scale", 5000), Ok(2000));
    let bug = call(&mut hv, "scale", -1).unwrap_err();
    let want = format!("BUG at prog.c:{}", line_of(&fixed, "BUG_HERE();"));
    assert!(bug.contains(&want), "{bug} / {want}");
    assert_eq!(act(&mut hv, "fix", Action::Revert), Status::Reverted);
    assert_eq!(call(&mut hv, "scale", 5000), Ok(10000));
}
