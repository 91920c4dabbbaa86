//! A hotpatch stack, end to end, on a program that is not the bundled example: the
//! first fix (A → B) and a second fix of the same function (B → C) built with
//! `--depends` on the first, both against the image built from A. The simulator runs
//! both in order, refuses the second fix when it was built without the dependency
//! (it would undo the first), and reverts them top first.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
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
    std::fs::write(dir.join("cidx.c"), src).unwrap();
    dir.join("cidx.c")
}

fn image_from(src: &Path) -> PathBuf {
    let dir = src.parent().unwrap();
    let st = Command::new("gcc")
        .args(CFLAGS.split_whitespace())
        .args(["-ffunction-sections", "-c", "cidx.c", "-o", "cidx.o"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("ld")
        .args(["-static", "-nostdlib", "--build-id=sha1", "-e", "_start"])
        .args(["-o", "image", "cidx.o"])
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
