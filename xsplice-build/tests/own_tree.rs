//! The binary on a make-driven tree written here, laid out unlike the example:
//! sources in `src/<subsystem>/`, headers in `include/os/`, objects in `out/`, its
//! own flag variable (`MYFLAGS`) and a launcher the Makefile puts in front of the
//! compiler (`$(LAUNCH) $(TOOLCC)`), a linker script with a section of its own.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use xsplice_payload::read::read;

const MAKEFILE: &str = r#"LAUNCH ?= tools/launch
TOOLCC ?= gcc
MYFLAGS = -O2 -g -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
  -fcf-protection=none -mno-red-zone -fno-asynchronous-unwind-tables -nostdinc -Iinclude
SRCS := $(sort $(wildcard src/*/*.c))
OBJS := $(patsubst src/%.c,out/%.o,$(SRCS))
all: out/kernel.elf
out/kernel.elf: $(OBJS) scripts/link.lds
	ld -nostdlib -static --build-id=sha1 -T scripts/link.lds -o $@ $(OBJS)
out/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(LAUNCH) $(TOOLCC) $(MYFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@
-include $(OBJS:.o=.d)
"#;

const LINK: &str = r#"ENTRY(kmain)
PHDRS { text PT_LOAD FLAGS(5); ro PT_LOAD FLAGS(4); rw PT_LOAD FLAGS(6); }
SECTIONS {
  . = 0x400000;
  .text : { *(.text .text.*) *(.fastpath) } :text
  .init.text : { *(.init.text) } :text
  . = ALIGN(4096);
  .rodata : { *(.rodata .rodata.*) } :ro
  .note.gnu.build-id : { *(.note.gnu.build-id) } :ro
  . = ALIGN(4096);
  .data : { *(.data .data.*) } :rw
  .bss : { *(.bss .bss.*) *(COMMON) } :rw
  /DISCARD/ : { *(.comment) *(.note.GNU-stack) *(.eh_frame) *(.note.gnu.property) }
}
"#;

const TYPES_H: &str = r#"#ifndef OS_TYPES_H
#define OS_TYPES_H
typedef unsigned long u64;
typedef unsigned int u32;
#define __init __attribute__((section(".init.text")))
#define NR_SLOTS 4
struct task {
    u32 id;
    u32 prio;
    u64 runtime;
};
struct task *task_get(u32 id);
u64 sched_tick(struct task *t, u64 delta);
int klog(const char *msg, u64 v);
#endif
"#;

const SCHED_C: &str = r#"#include <os/types.h>

static struct task tasks[NR_SLOTS];
u64 sched_quantum = 100;

struct task *task_get(u32 id)
{
    if (id >= NR_SLOTS)
        return 0;
    return &tasks[id];
}

u64 sched_tick(struct task *t, u64 delta)
{
    t->runtime += delta > sched_quantum ? sched_quantum : delta;
    if (t->runtime > 1000)
        t->prio++;
    return t->runtime;
}

int sched_tiny(void)
{
    return 0;
}

void __init sched_init(void)
{
    for (u32 i = 0; i < NR_SLOTS; i++) {
        tasks[i].id = i;
        tasks[i].prio = 1;
    }
}
"#;

const LOG_C: &str = r#"#include <os/types.h>

static char logbuf[64];
static u32 logpos;

int klog(const char *msg, u64 v)
{
    while (*msg && logpos < sizeof(logbuf) - 1)
        logbuf[logpos++] = *msg++;
    return (int)(v + logpos);
}

struct logent {
    u32 level;
    u64 stamp;
};
struct logent last_ent;

void log_set(u32 l, u64 s)
{
    last_ent.level = l;
    last_ent.stamp = s;
}

__attribute__((section(".fastpath"))) int fast_op(int x)
{
    return x * 3 + 1;
}
"#;

const MAIN_C: &str = r#"#include <os/types.h>

u64 kmain(void)
{
    return sched_tick(task_get(1), 5) + (u64)klog("boot", 0);
}
"#;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The tree, with a launcher script at `tools/launch` that logs its arguments to
/// `$LAUNCH_LOG` and runs the rest.
fn own_tree(root: &Path) {
    write(root, "Makefile", MAKEFILE);
    write(root, "scripts/link.lds", LINK);
    write(root, "include/os/types.h", TYPES_H);
    write(root, "src/core/sched.c", SCHED_C);
    write(root, "src/core/log.c", LOG_C);
    write(root, "src/drv/main.c", MAIN_C);
    write(
        root,
        "tools/launch",
        "#!/bin/sh\n[ -n \"$LAUNCH_LOG\" ] && echo \"$@\" >> \"$LAUNCH_LOG\"\nexec \"$@\"\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("tools/launch"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

struct Trees {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    a: PathBuf,
    b: PathBuf,
}

impl Trees {
    /// A built tree `a`, and an unbuilt copy `b` with `edits` (file, from, to) made.
    fn new(edits: &[(&str, &str, &str)]) -> Trees {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let (a, b) = (dir.join("a"), dir.join("b"));
        own_tree(&a);
        own_tree(&b);
        run_make(&a, &[]);
        for (file, from, to) in edits {
            let p = b.join(file);
            let s = std::fs::read_to_string(&p).unwrap();
            assert!(s.contains(from), "{file}: {from}");
            std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
        }
        Trees {
            _tmp: tmp,
            dir,
            a,
            b,
        }
    }

    fn image(&self) -> PathBuf {
        self.a.join("out/kernel.elf")
    }

    fn run(&self, more: &[&str], envs: &[(&str, &Path)]) -> Output {
        let mut c = Command::new(wrapper_exe());
        c.arg("--orig")
            .arg(&self.a)
            .arg("--patched")
            .arg(&self.b)
            .arg("--target")
            .arg(self.image())
            .args(more)
            .env_remove("CC")
            .env_remove("CFLAGS")
            .env_remove("LAUNCH_LOG");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `file:line` of the first line of the patched tree's `file` containing `needle`.
fn line_of(t: &Trees, file: &str, needle: &str) -> String {
    let text = std::fs::read_to_string(t.b.join(file)).unwrap();
    let n = text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in {file}"));
    format!("{file}:{}", n + 1)
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".xsplice-build"))
        .collect()
}

#[test]
fn fix_through_the_trees_own_launcher_and_flags() {
    let t = Trees::new(&[(
        "src/core/sched.c",
        "    t->runtime +=",
        "    if (!t)\n        return (u64)klog(\"sched_tick: no task\", 0);\n    t->runtime +=",
    )]);
    let log = t.dir.join("launch.log");
    let out_path = t.dir.join("fix.xsplice");
    let report = t.dir.join("fix.json");
    let o = t.run(
        &[
            "-o",
            out_path.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "-j",
            "1",
        ],
        &[("LAUNCH_LOG", &log)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let payload = read(&std::fs::read(&out_path).unwrap()).unwrap();
    let names: Vec<&str> = payload
        .payload
        .new
        .iter()
        .map(|e| e.symbol.name.as_str())
        .collect();
    assert_eq!(names, ["sched_tick"]);
    // The tree's launcher ran the compiles (patched and original sched.o), with the
    // tree's own flags; the builder's flags are added behind the launcher.
    let calls = std::fs::read_to_string(&log).unwrap();
    let sched: Vec<&str> = calls
        .lines()
        .filter(|l| l.contains("-c src/core/sched.c"))
        .collect();
    assert_eq!(sched.len(), 2, "{calls}");
    assert!(
        sched
            .iter()
            .all(|l| l.starts_with("gcc -O2 -g -ffreestanding"))
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["verdict"], "payload");
    assert_eq!(
        json["inputs"]["rebuilt"],
        serde_json::json!(["out/core/sched.o"])
    );
    // A plain file: readable as any file the user creates there.
    use std::os::unix::fs::PermissionsExt;
    let plain = t.dir.join("plain");
    std::fs::write(&plain, b"").unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out_path), mode(&plain));
    assert_eq!(mode(&report), mode(&plain));
}

#[test]
fn every_refusal_is_reported_with_its_file_and_line() {
    let t = Trees::new(&[
        // changed initial value of existing data
        (
            "src/core/sched.c",
            "u64 sched_quantum = 100;",
            "u64 sched_quantum = 200;",
        ),
        // init-only code
        (
            "src/core/sched.c",
            "tasks[i].prio = 1;",
            "tasks[i].prio = 2;",
        ),
        // a function smaller than the trampoline
        (
            "src/core/sched.c",
            "    return 0;\n}\n\nvoid",
            "    return 1;\n}\n\nvoid",
        ),
        // a struct layout used by existing data
        (
            "src/core/log.c",
            "    u32 level;\n",
            "    u32 level;\n    u64 cpu;\n",
        ),
        // a section the tool does not know
        ("src/core/log.c", "x * 3 + 1", "x * 5 + 1"),
    ]);
    let out_path = t.dir.join("x.xsplice");
    let report = t.dir.join("x.json");
    let o = t.run(
        &[
            "-o",
            out_path.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        &[],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!out_path.exists());
    assert!(leftovers(&t.dir).is_empty(), "{:?}", leftovers(&t.dir));
    // All of them, in one run, each with the subject and where it is in the source.
    let want = [
        format!(
            "{}: sched_quantum (out/core/sched.o): initial value of existing data",
            line_of(&t, "src/core/sched.c", "sched_quantum =")
        ),
        format!(
            "{}: sched_init (out/core/sched.o): changed init-only code",
            line_of(&t, "src/core/sched.c", "sched_init(void)")
        ),
        format!(
            "{}: sched_tiny (out/core/sched.o): changed function is 3 bytes in the image, the trampoline needs 5",
            line_of(&t, "src/core/sched.c", "sched_tiny(void)")
        ),
        format!(
            "{}: struct logent (out/core/log.o): layout changed (size 16 → 24; member cpu added; member stamp offset 8 → 16) while existing code or data uses it: last_ent",
            line_of(&t, "src/core/log.c", "struct logent {")
        ),
        format!(
            "{}: .fastpath (out/core/log.o): section changed",
            line_of(&t, "src/core/log.c", "fast_op(int x)")
        ),
        format!(
            "{}: fast_op (out/core/log.o): needed (changed function",
            line_of(&t, "src/core/log.c", "fast_op(int x)")
        ),
    ];
    for w in &want {
        assert!(
            err.lines()
                .any(|l| l.starts_with("refused: ") && l.contains(w.as_str())),
            "missing `{w}` in:\n{err}"
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["verdict"], "refused");
    let refusals = json["diff"]["refusals"].as_array().unwrap();
    let mut kinds: Vec<&str> = refusals
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "ChangedData",
            "InitCode",
            "StructLayout",
            "TooSmall",
            "UnknownSection"
        ]
    );
    for r in refusals {
        assert!(r["location"].is_string(), "no file:line: {r}");
    }
}

#[test]
fn output_paths_are_checked_before_building() {
    let t = Trees::new(&[]);
    let missing = t.dir.join("nowhere/x.xsplice");
    let o = t.run(&["-o", missing.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "-o {}: directory {} does not exist",
            missing.display(),
            t.dir.join("nowhere").display()
        )),
        "{}",
        stderr(&o)
    );
    let o = t.run(&["-o", t.dir.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is a directory"), "{}", stderr(&o));
    // A report that cannot be written: no payload either.
    let out_path = t.dir.join("p.xsplice");
    let o = t.run(
        &[
            "-o",
            out_path.to_str().unwrap(),
            "--report",
            t.dir.join("nowhere/r.json").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--report"), "{}", stderr(&o));
    assert!(!out_path.exists());
    assert!(leftovers(&t.dir).is_empty());
}

#[test]
fn depends_on_a_payload_for_another_hypervisor_is_an_error() {
    let t = Trees::new(&[(
        "src/core/sched.c",
        "    t->runtime +=",
        "    if (!t)\n        return 0;\n    t->runtime +=",
    )]);
    let first = t.dir.join("first.xsplice");
    let o = t.run(&["-o", first.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The same payload, claiming another hypervisor.
    let mut other = read(&std::fs::read(&first).unwrap()).unwrap().payload;
    other.target_build_id = vec![0xab; 20];
    let foreign = t.dir.join("foreign.xsplice");
    std::fs::write(
        &foreign,
        xsplice_payload::write::to_bytes(&other, xsplice_payload::Flavour::Xsplice).unwrap(),
    )
    .unwrap();

    let second = t.dir.join("second.xsplice");
    let o = t.run(
        &[
            "-o",
            second.to_str().unwrap(),
            "--depends",
            foreign.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "--depends {}: built for the hypervisor with build-id abababab",
            foreign.display()
        )),
        "{err}"
    );
    assert!(!second.exists());

    // A payload for this hypervisor is accepted; its build-id is the dependency.
    let o = t.run(
        &[
            "-o",
            second.to_str().unwrap(),
            "--depends",
            first.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dep = read(&std::fs::read(&second).unwrap()).unwrap();
    let first_id = read(&std::fs::read(&first).unwrap()).unwrap().build_id;
    assert_eq!(dep.payload.depends, [first_id]);
}

#[test]
fn cache_entry_is_not_reused_when_inherited_flags_change() {
    let t = Trees::new(&[("src/core/sched.c", "t->prio++", "t->prio += 2")]);
    let cache = t.dir.join("cache");
    let report = t.dir.join("r.json");
    let base = |cflags: Option<&str>| -> String {
        let out_path = t.dir.join("p.xsplice");
        let mut c = Command::new(wrapper_exe());
        c.arg("--orig")
            .arg(&t.a)
            .arg("--patched")
            .arg(&t.b)
            .arg("--target")
            .arg(t.image())
            .arg("-o")
            .arg(&out_path)
            .arg("--report")
            .arg(&report)
            .arg("--cache-dir")
            .arg(&cache)
            .env_remove("CC")
            .env_remove("CFLAGS");
        if let Some(f) = cflags {
            c.env("CFLAGS", f);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        json["inputs"]["base"].as_str().unwrap().to_string()
    };
    assert_eq!(base(None), "copied");
    assert_eq!(base(None), "cache");
    // A tree's make may take its flags from the environment: another entry.
    assert_eq!(base(Some("-O1 -g")), "copied");
    assert_eq!(base(Some("-O1 -g")), "cache");
}

#[test]
fn failed_build_log_outlives_the_scratch_directory() {
    let t = Trees::new(&[(
        "src/core/sched.c",
        "return 0;\n}\n\nvoid",
        "return 0\n}\n\nvoid",
    )]);
    let out_path = t.dir.join("p.xsplice");
    let o = t.run(&["-o", out_path.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("building the patched tree failed"), "{err}");
    let log = err
        .split("full log: ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .unwrap_or_else(|| panic!("no log named: {err}"));
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| panic!("{log}: {e}"));
    assert!(text.contains("src/core/sched.c:"), "{text}");
    assert!(text.contains("error:"), "{text}");
    std::fs::remove_file(log).unwrap();
    assert!(!out_path.exists());
}
