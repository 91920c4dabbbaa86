//! Xen out of the box, on small synthetic trees laid out like a Xen checkout: the
//! hypervisor in `xen/` (its Makefile, Kconfig, public header and `.config`), a
//! top-level Makefile that would build the tools (and here fails), `Config.mk` that
//! `xen/Makefile` includes from the parent, a generated `compile.h` stamped with the
//! build's date. No real Xen needed; `tests/real_xen.rs` and the README's section
//! cover the real thing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::snapshot;

const XEN_MAKEFILE: &str = r#"include ../Config.mk
XEN_BUILD_DATE ?= $(shell LC_ALL=C date)
XEN_BUILD_TIME ?= $(shell date +%T.%N)
XEN_BUILD_HOST ?= $(shell hostname)
XEN_WHOAMI ?= $(USER)
XEN_DOMAIN ?= example.org
CFLAGS = -O2 -g -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
  -fcf-protection=none -mno-red-zone -fno-asynchronous-unwind-tables -nostdinc -Iinclude
OBJS := common/foo.o common/version.o
all: xen-syms
xen-syms: $(OBJS) xen.lds
	ld -nostdlib -static --build-id=sha1 -T xen.lds -o $@ $(OBJS)
include/xen/compile.h: FORCE
	@mkdir -p include/xen
	@printf '#define XEN_COMPILE_DATE "%s"\n#define XEN_COMPILE_TIME "%s"\n#define XEN_COMPILE_BY "%s"\n#define XEN_COMPILE_DOMAIN "%s"\n#define XEN_COMPILE_HOST "%s"\n' \
	  "$(XEN_BUILD_DATE)" "$(XEN_BUILD_TIME)" "$(XEN_WHOAMI)" "$(XEN_DOMAIN)" "$(XEN_BUILD_HOST)" > $@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi
common/version.o: include/xen/compile.h
# Like Kbuild: the command of each object is recorded with its dependencies in
# dir/.file.o.cmd (here gcc's rule under a cmd_ line).
%.o: %.c
	gcc $(CFLAGS) $(EXTRA) -MMD -MP -MF $(@D)/.$(@F).d -c $< -o $@
	@{ echo 'cmd_$@ := gcc $(CFLAGS) $(EXTRA) -MMD -MP -MF $(@D)/.$(@F).d -c $< -o $@'; cat $(@D)/.$(@F).d; } > $(@D)/.$(@F).cmd
defconfig:
	printf 'CONFIG_LIVEPATCH=y\nCONFIG_HVM=y\n' > .config
FORCE:
.PHONY: all defconfig FORCE
-include $(foreach o,$(OBJS),$(dir $(o)).$(notdir $(o)).d)
"#;

const LINK: &str = r#"ENTRY(start_xen)
PHDRS { text PT_LOAD FLAGS(5); ro PT_LOAD FLAGS(4); rw PT_LOAD FLAGS(6); }
SECTIONS {
  . = 0x400000;
  .text : { *(.text .text.*) } :text
  . = ALIGN(4096);
  .rodata : { *(.rodata .rodata.*) } :ro
  .note.gnu.build-id : { *(.note.gnu.build-id) } :ro
  . = ALIGN(4096);
  .data : { *(.data .data.*) } :rw
  .bss : { *(.bss .bss.*) *(COMMON) } :rw
  /DISCARD/ : { *(.comment) *(.note.GNU-stack) *(.eh_frame) *(.note.gnu.property) }
}
"#;

const FOO_C: &str = r#"int foo_limit = 4;

int foo_check(int x)
{
    if (x > foo_limit)
        return -1;
    return x * 3 + foo_limit;
}

int foo_other(int y)
{
    return y * 7 + foo_limit;
}

const char *xen_compile_date(void);

void start_xen(void)
{
    foo_check(1);
    foo_other(2);
    xen_compile_date();
}
"#;

const VERSION_C: &str = r#"#include <xen/compile.h>

const char *xen_compile_date(void)
{
    return XEN_COMPILE_DATE;
}
"#;

const FIX: (&str, &str) = ("if (x > foo_limit)", "if (x >= foo_limit)");

/// A Xen-like checkout at `root`, configured, not built.
fn xen_checkout(root: &Path) {
    let files: &[(&str, &str)] = &[
        ("Config.mk", "XEN_ROOT ?= $(CURDIR)/..\n"),
        (
            "Makefile",
            "all:\n\t@echo 'the top-level make builds the tools too' >&2; false\n",
        ),
        ("tools/libs/big.c", "int not_part_of_the_hypervisor;\n"),
        ("docs/README", "docs\n"),
        ("xen/Makefile", XEN_MAKEFILE),
        ("xen/Kconfig", "mainmenu \"Xen Configuration\"\n"),
        ("xen/include/public/xen.h", "/* the public ABI */\n"),
        ("xen/xen.lds", LINK),
        ("xen/common/foo.c", FOO_C),
        ("xen/common/version.c", VERSION_C),
        ("xen/.config", "CONFIG_LIVEPATCH=y\nCONFIG_HVM=y\n"),
    ];
    for (rel, text) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn make_xen(root: &Path) {
    let out = Command::new("make")
        .args(["-C", "xen"])
        .current_dir(root)
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A built checkout `a` and an unbuilt patched checkout `b` (the fix applied).
fn trees(tmp: &Path) -> (PathBuf, PathBuf) {
    let a = tmp.join("a");
    let b = tmp.join("b");
    xen_checkout(&a);
    make_xen(&a);
    xen_checkout(&b);
    std::fs::write(b.join("xen/common/foo.c"), FOO_C.replace(FIX.0, FIX.1)).unwrap();
    (a, b)
}

const FIX_PATCH: &str = r#"From 0123456789abcdef Mon Sep 17 00:00:00 2001
From: Security Team <security@example.org>
Subject: [PATCH] xen/foo: enforce the bounds check

This is XSA-999.
---
 xen/common/foo.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/xen/common/foo.c b/xen/common/foo.c
index 1111111..2222222 100644
--- a/xen/common/foo.c
+++ b/xen/common/foo.c
@@ -2,7 +2,7 @@ int foo_limit = 4;
 
 int foo_check(int x)
 {
-    if (x > foo_limit)
+    if (x >= foo_limit)
         return -1;
     return x * 3 + foo_limit;
 }
-- 
2.39.2
"#;

fn xsplice_build(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xsplice-build"))
        .current_dir(dir)
        .env_remove("CC")
        .env_remove("CFLAGS")
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_xen_checkout_builds_without_a_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b) = trees(tmp.path());
    let before = snapshot(&a);
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patched",
            "b",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "fix.livepatch",
            "--report",
            "r.json",
            "--work-dir",
            "work",
            "--timings",
        ],
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // The preset is printed first, with what it does.
    assert!(err.starts_with("preset: xen (detected: "), "{err}");
    assert!(
        err.contains("build: `make -C xen`, objects as goals"),
        "{err}"
    );
    assert!(err.contains("not copied: tools docs"), "{err}");
    assert!(
        err.contains("(the original build's, from xen/include/xen/compile.h)"),
        "{err}"
    );
    assert!(err.contains("timings:\n"), "{err}");
    assert!(err.contains("patched build"), "{err}");
    let r = report(&tmp.path().join("r.json"));
    let i = &r["inputs"];
    assert_eq!(i["preset"]["name"], "xen");
    assert_eq!(
        i["build"]["command"],
        serde_json::json!(["make", "-C", "xen"])
    );
    assert_eq!(i["build"]["object_goals"], true);
    assert_eq!(i["changed_files"], serde_json::json!(["xen/common/foo.c"]));
    assert_eq!(i["rebuilt"], serde_json::json!(["xen/common/foo.o"]));
    // The build date was pinned to the original build's: its copy is up to date
    // as it is, compile.h is not regenerated and version.o is not recompiled.
    assert_eq!(i["base_compiled"], serde_json::json!([]), "{err}");
    assert_eq!(
        i["build"]["env"]["XEN_DOMAIN"], "example.org",
        "pins read from compile.h"
    );
    let t = &r["timings"];
    for k in [
        "copy_ms",
        "base_build_ms",
        "patched_build_ms",
        "original_objects_ms",
        "diff_ms",
        "write_ms",
        "total_ms",
    ] {
        assert!(t[k].is_u64(), "{k}: {t}");
    }
    assert!(t["total_ms"].as_u64() >= t["patched_build_ms"].as_u64());
    let patched: Vec<&str> = r["diff"]["patched"]
        .as_array()
        .map(|v| v.iter().filter_map(|p| p["symbol"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        patched.contains(&"foo_check") || err.contains("patch foo_check"),
        "{err}"
    );
    // tools/ and docs/ were not copied; the user's tree was only read.
    let work = tmp.path().join("work");
    assert!(work.join("orig/xen/common/foo.o").is_file());
    assert!(!work.join("orig/tools").exists());
    assert!(!work.join("orig/docs").exists());
    assert_eq!(snapshot(&a), before);

    // `--orig a/xen --patched b/xen`: the hypervisor directories stand for their
    // checkouts; the same payload.
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a/xen",
            "--patched",
            "b/xen",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "sub/fix.livepatch",
        ],
    );
    assert!(!o.status.success(), "sub/ does not exist");
    std::fs::create_dir(tmp.path().join("sub")).unwrap();
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a/xen",
            "--patched",
            "b/xen",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "sub/fix.livepatch",
        ],
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("--orig a/xen: Xen's hypervisor directory; building its checkout"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("fix.livepatch")).unwrap(),
        std::fs::read(tmp.path().join("sub/fix.livepatch")).unwrap()
    );
}

#[test]
fn patch_files_stand_in_for_the_patched_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b) = trees(tmp.path());
    std::fs::write(tmp.path().join("xsa999.patch"), FIX_PATCH).unwrap();
    let before = snapshot(&a);
    std::fs::create_dir_all(tmp.path().join("p")).unwrap();
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patch",
            "xsa999.patch",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "p/fix.livepatch",
            "--report",
            "r.json",
        ],
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("patches applied: xsa999.patch"), "{err}");
    assert_eq!(snapshot(&a), before, "the original tree is only read");
    let r = report(&tmp.path().join("r.json"));
    assert_eq!(r["inputs"]["patches"], serde_json::json!(["xsa999.patch"]));
    assert_eq!(
        r["inputs"]["changed_files"],
        serde_json::json!(["xen/common/foo.c"])
    );
    // The same payload as from the patched tree.
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patched",
            "b",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "fix.livepatch",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(tmp.path().join("fix.livepatch")).unwrap(),
        std::fs::read(tmp.path().join("p/fix.livepatch")).unwrap()
    );

    // Two patches in order: the second one undoes the first: no change (exit 3).
    let revert = FIX_PATCH.replace(
        "-    if (x > foo_limit)\n+    if (x >= foo_limit)",
        "-    if (x >= foo_limit)\n+    if (x > foo_limit)",
    );
    std::fs::write(tmp.path().join("revert.patch"), revert).unwrap();
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patch",
            "xsa999.patch",
            "--patch",
            "revert.patch",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "none.livepatch",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));

    // The revert alone does not apply: the error names the patch, the file and the
    // hunk, and nothing is written.
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patch",
            "revert.patch",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "bad.livepatch",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "error: --patch revert.patch: hunk #1 (`@@ -2,7 +2,7 @@ int foo_limit = 4;`) of xen/common/foo.c does not apply: line 5 is `    if (x > foo_limit)`, the hunk expects `    if (x >= foo_limit)`"
        ),
        "{err}"
    );
    assert!(!tmp.path().join("bad.livepatch").exists());

    // --patch and --patched are one or the other; a missing patch file is named.
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patched",
            "b",
            "--patch",
            "xsa999.patch",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "x.livepatch",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patch",
            "nope.patch",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "x.livepatch",
        ],
    );
    assert!(stderr(&o).contains("nope.patch"), "{}", stderr(&o));
}

#[test]
fn a_config_file_overrides_the_preset() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b) = trees(tmp.path());
    // One key replaced; the rest of the preset stays.
    std::fs::write(
        tmp.path().join("extra.toml"),
        "[build]\nargs = [\"XEN_DOMAIN=example.org\"]\n",
    )
    .unwrap();
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patched",
            "b",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "fix.livepatch",
            "--config",
            "extra.toml",
            "--report",
            "r.json",
        ],
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("replaced by the configuration file: args"),
        "{err}"
    );
    let r = report(&tmp.path().join("r.json"));
    assert_eq!(
        r["inputs"]["build"]["args"],
        serde_json::json!(["XEN_DOMAIN=example.org"])
    );
    assert_eq!(
        r["inputs"]["build"]["command"],
        serde_json::json!(["make", "-C", "xen"])
    );
    assert_eq!(
        r["inputs"]["preset"]["overridden"],
        serde_json::json!(["args"])
    );

    // `preset = "none"` in the tree's own xsplice.toml: the plain defaults, so the
    // top-level make runs (and here fails, naming the original tree's build).
    std::fs::write(a.join("xsplice.toml"), "[build]\npreset = \"none\"\n").unwrap();
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patched",
            "b",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "none.livepatch",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("preset: xen"), "{err}");
    assert!(
        err.contains("building the original tree failed: `make -j"),
        "{err}"
    );
    assert!(
        err.contains("the top-level make builds the tools too"),
        "{err}"
    );
    std::fs::write(a.join("xsplice.toml"), "[build]\npreset = \"linux\"\n").unwrap();
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patched",
            "b",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "none.livepatch",
        ],
    );
    assert!(
        stderr(&o).contains("build.preset `linux`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn configurations_must_agree_and_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = trees(tmp.path());
    std::fs::write(
        b.join("xen/.config"),
        "CONFIG_LIVEPATCH=y\n# CONFIG_HVM is not set\nCONFIG_NR_CPUS=64\n",
    )
    .unwrap();
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patched",
            "b",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "x.livepatch",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("differ in 2 option(s): CONFIG_HVM (original: y, patched: n), CONFIG_NR_CPUS (original: unset, patched: 64)"),
        "{err}"
    );
    assert!(!tmp.path().join("x.livepatch").exists());
    // Comments only: the same options, fine (and B's copy is not carried).
    std::fs::write(
        b.join("xen/.config"),
        "# generated elsewhere\nCONFIG_LIVEPATCH=y\nCONFIG_HVM=y\n",
    )
    .unwrap();
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patched",
            "b",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "x.livepatch",
            "--report",
            "r.json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = report(&tmp.path().join("r.json"));
    assert_eq!(
        r["inputs"]["changed_files"],
        serde_json::json!(["xen/common/foo.c"])
    );

    // An unconfigured original: the exact command to type.
    std::fs::remove_file(a.join("xen/.config")).unwrap();
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "a",
            "--patched",
            "b",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "x.livepatch",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("a is not configured (no xen/.config)")
            && err.contains("\n    make -C a/xen defconfig\n"),
        "{err}"
    );
}

#[test]
fn a_tree_never_built_gets_one_full_build() {
    let tmp = tempfile::tempdir().unwrap();
    let (_a, _b) = trees(tmp.path());
    let cold = tmp.path().join("cold");
    xen_checkout(&cold);
    std::fs::write(tmp.path().join("xsa999.patch"), FIX_PATCH).unwrap();
    let o = xsplice_build(
        tmp.path(),
        &[
            "--orig",
            "cold",
            "--patch",
            "xsa999.patch",
            "--target",
            "a/xen/xen-syms",
            "-o",
            "fix.livepatch",
            "--report",
            "r.json",
        ],
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(
            "cold has not been built (no xen/xen-syms): its copy gets one full build first"
        ),
        "{err}"
    );
    assert!(
        err.contains("(fixed: the original tree has no xen/include/xen/compile.h)"),
        "{err}"
    );
    let r = report(&tmp.path().join("r.json"));
    assert_eq!(
        r["inputs"]["base_compiled"],
        serde_json::json!(["xen/common/foo.o", "xen/common/version.o"])
    );
    // The copy's full build recorded the commands: the patched side then takes the
    // fast path (no second whole-tree build).
    assert_eq!(r["inputs"]["strategy"], "object-goals", "{}", r["inputs"]);
    assert!(!cold.join("xen/xen-syms").exists(), "the tree is only read");
}

#[test]
fn help_man_page_and_completions() {
    let o = Command::new(env!("CARGO_BIN_EXE_xsplice-build"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("Examples:\n"), "{help}");
    assert!(help.contains("--patch xsa475.patch"), "{help}");
    for (what, needles) in [
        (
            "man",
            &[
                ".TH xsplice-build 1",
                "\\-\\-orig",
                "\\-\\-patch",
                "\\-\\-target",
            ][..],
        ),
        (
            "bash",
            &[
                "complete -F _xsplice__build",
                "--orig",
                "--patch",
                "--target",
            ][..],
        ),
        ("zsh", &["#compdef xsplice-build", "--orig"][..]),
        ("fish", &["complete -c xsplice-build", "-l patch"][..]),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_xsplice-build"))
            .args(["--generate", what])
            .output()
            .unwrap();
        assert!(o.status.success(), "{what}");
        let text = String::from_utf8_lossy(&o.stdout);
        for n in needles {
            assert!(text.contains(n), "{what} lacks {n}:\n{text}");
        }
    }
    let o = Command::new(env!("CARGO_BIN_EXE_xsplice-build"))
        .args(["--generate", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn only_the_touched_objects_are_built_when_the_tree_records_its_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let (_a, b) = trees(tmp.path());
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "--orig",
            "a",
            "--patched",
            "b",
            "--target",
            "a/xen/xen-syms",
            "-o",
        ];
        args.push(out);
        args.extend_from_slice(extra);
        let o = xsplice_build(tmp.path(), &args);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    for d in ["goals", "full", "fallback"] {
        std::fs::create_dir(tmp.path().join(d)).unwrap();
    }
    let err = run(
        "goals/fix.livepatch",
        &["--report", "goals/r.json", "--work-dir", "goals/work"],
    );
    assert!(
        err.contains("built as goals from the tree's dependency files: no link"),
        "{err}"
    );
    let r = report(&tmp.path().join("goals/r.json"));
    assert_eq!(r["inputs"]["strategy"], "object-goals");
    assert_eq!(
        r["inputs"]["rebuilt"],
        serde_json::json!(["xen/common/foo.o"])
    );
    assert_eq!(r["timings"]["base_build_ms"], 0);
    let work = tmp.path().join("goals/work");
    let log = std::fs::read_to_string(work.join("make-patched.log")).unwrap();
    assert!(!log.contains("ld -nostdlib"), "no link: {log}");
    assert!(
        !work.join("patched/xen/common/version.o").exists(),
        "the copies hold no objects but the goals'"
    );

    // The same payload as the full flow (object goals off in a configuration file).
    std::fs::write(
        tmp.path().join("full.toml"),
        "[build]\nobject_goals = false\n",
    )
    .unwrap();
    let err = run(
        "full/fix.livepatch",
        &["--config", "full.toml", "--report", "full/r.json"],
    );
    let r = report(&tmp.path().join("full/r.json"));
    assert_eq!(r["inputs"]["strategy"], "full", "{err}");
    let goals = std::fs::read(tmp.path().join("goals/fix.livepatch")).unwrap();
    assert_eq!(
        goals,
        std::fs::read(tmp.path().join("full/fix.livepatch")).unwrap()
    );

    // A goal built by another rule than the full build (a variable set for the
    // default goal only): caught against the recorded command, the full flow runs.
    for t in [&tmp.path().join("a"), &b] {
        let mk = t.join("xen/Makefile");
        let text = std::fs::read_to_string(&mk).unwrap();
        std::fs::write(
            &mk,
            text.replace("all: xen-syms\n", "all: EXTRA = -DFULL\nall: xen-syms\n"),
        )
        .unwrap();
    }
    for o in ["foo.o", "version.o"] {
        std::fs::remove_file(tmp.path().join("a/xen/common").join(o)).unwrap();
    }
    make_xen(&tmp.path().join("a"));
    let err = run("fallback/fix.livepatch", &["--report", "fallback/r.json"]);
    let r = report(&tmp.path().join("fallback/r.json"));
    assert_eq!(r["inputs"]["strategy"], "full", "{err}");
    assert!(
        err.contains("warning: building only the objects the change touches did not work (xen/common/foo.o was compiled with other arguments than the original tree's build recorded)")
            || err.contains("common/foo.o was compiled with other arguments than the original tree's build recorded"),
        "{err}"
    );
}

/// On a real, built Xen checkout: `XSPLICE_XEN_TREE=/path/to/xen-checkout
/// XSPLICE_XEN_PATCH=/path/to/fix.patch cargo test --release -p xsplice-build --test
/// xen_preset -- --ignored` (e.g. stable-4.18 at c90cec6dfd and
/// `git format-patch -1 1ac5088ca0`, XSA-475). The tree is only read.
#[test]
#[ignore]
fn real_xen_checkout_with_a_patch() {
    let (Some(tree), Some(patch)) = (
        std::env::var_os("XSPLICE_XEN_TREE"),
        std::env::var_os("XSPLICE_XEN_PATCH"),
    ) else {
        panic!("set XSPLICE_XEN_TREE (a built Xen checkout) and XSPLICE_XEN_PATCH");
    };
    let tree = PathBuf::from(tree);
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_xsplice-build"))
        .current_dir(tmp.path())
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .arg("--orig")
        .arg(&tree)
        .arg("--patch")
        .arg(&patch)
        .arg("--target")
        .arg(tree.join("xen/xen-syms"))
        .args(["-o", "fix.livepatch", "--report", "r.json", "--timings"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.starts_with("preset: xen"), "{err}");
    let r = report(&tmp.path().join("r.json"));
    assert_eq!(r["inputs"]["strategy"], "object-goals", "{err}");
    eprintln!("{err}");
}
