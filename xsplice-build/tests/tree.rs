//! The tree input layer on its own: which objects get rebuilt, flag injection,
//! launchers, the cache, and that the user's trees are left alone.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use xsplice_build::compiler::CompilerSpec;
use xsplice_build::config::InputConfig;
use xsplice_build::inputs::{InputSummary, collect};
use xsplice_build::tree::BaseSource;
use xsplice_build::{NoProgress, ObjectPair};

fn input(orig: &Path, patched: &Path, cc: &str) -> InputConfig {
    InputConfig {
        orig: vec![orig.to_path_buf()],
        patched: vec![patched.to_path_buf()],
        patches: Vec::new(),
        tree_config_file: None,
        compiler: CompilerSpec::parse(cc).unwrap(),
        compiler_given: false,
        cflags: Vec::new(),
        jobs: 2,
        cache_dir: None,
        wrapper_exe: wrapper_exe(),
    }
}

/// A built original tree (as the user has it) and a patched source tree.
fn example_trees(tmp: &Path, patch: &str) -> (PathBuf, PathBuf) {
    let a = tmp.join("a");
    let b = tmp.join("b");
    copy_sources(&example_src(), &a);
    copy_sources(&example_src(), &b);
    run_make(&a, &[]);
    apply_patch(&b, &patch_file(patch));
    (a, b)
}

fn tree_summary(s: &InputSummary) -> &xsplice_build::tree::TreeSummary {
    match s {
        InputSummary::Tree(t) => t,
        other => panic!("expected a tree summary, got {other:?}"),
    }
}

fn names(pairs: &[ObjectPair]) -> Vec<&str> {
    pairs.iter().map(|p| p.name.as_str()).collect()
}

#[test]
fn c_file_change_rebuilds_one_object_with_function_sections() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = example_trees(tmp.path(), "xsa125-fix");
    let before = snapshot(&a);
    let before_b = snapshot(&b);
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&input(&a, &b, "gcc"), &work, &NoProgress).unwrap();
    assert_eq!(before_b, snapshot(&b), "the patched tree was modified");
    let t = tree_summary(&got.summary);
    assert_eq!(t.base, BaseSource::Copied);
    assert!(
        t.base_compiled.is_empty(),
        "A was built: {:?}",
        t.base_compiled
    );
    assert_eq!(t.changed_files, ["common/version.c"]);
    assert_eq!(t.rebuilt, ["common/version.o"]);
    assert_eq!(names(&got.pairs), ["common/version.o"]);
    let pair = &got.pairs[0];
    let orig = pair.orig.as_ref().unwrap();
    let patched = pair.patched.as_ref().unwrap();
    // The user's build had no per-function sections; both diffed objects do.
    for obj in [orig, patched] {
        let s = section_names(obj);
        assert!(s.contains(&".text.do_xen_version".to_string()), "{s:?}");
        assert!(s.contains(&".text.check_args".to_string()), "{s:?}");
        assert!(s.contains(&".rodata.hv_compiler".to_string()), "{s:?}");
    }
    assert!(
        !section_names(&std::fs::read(a.join("common/version.o")).unwrap())
            .contains(&".text.do_xen_version".to_string())
    );
    // The fix changes do_xen_version and nothing else in the file's code.
    assert_ne!(
        section_bytes(orig, ".text.do_xen_version"),
        section_bytes(patched, ".text.do_xen_version")
    );
    assert_eq!(
        section_bytes(orig, ".text.check_args"),
        section_bytes(patched, ".text.check_args")
    );
    // The work copies are mapped to `.`: no scratch path in either object.
    let scratch = work.display().to_string();
    for obj in [orig, patched] {
        assert!(
            !obj.windows(scratch.len()).any(|w| w == scratch.as_bytes()),
            "scratch path leaked into an object"
        );
    }
    assert_eq!(before, snapshot(&a), "the original tree was modified");
}

#[test]
fn header_change_rebuilds_every_includer() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = example_trees(tmp.path(), "struct-layout-change");
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&input(&a, &b, "gcc"), &work, &NoProgress).unwrap();
    let t = tree_summary(&got.summary);
    assert_eq!(t.changed_files, ["include/hv/sched.h"]);
    // Exactly the files that include <hv/sched.h>.
    let mut includers = Vec::new();
    for dir in ["arch", "common", "lib"] {
        for e in std::fs::read_dir(a.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "c")
                && std::fs::read_to_string(&p)
                    .unwrap()
                    .contains("#include <hv/sched.h>")
            {
                includers
                    .push(format!("{dir}/{}", p.file_stem().unwrap().to_str().unwrap()) + ".o");
            }
        }
    }
    includers.sort();
    assert_eq!(includers.len(), 4);
    assert_eq!(t.rebuilt, includers);
    assert_eq!(names(&got.pairs), includers);
    assert!(
        got.pairs
            .iter()
            .all(|p| p.orig.is_some() && p.patched.is_some())
    );
}

#[test]
fn unbuilt_original_is_built_once_then_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    copy_sources(&example_src(), &a);
    copy_sources(&example_src(), &b);
    apply_patch(&b, &patch_file("xsa132-fix"));
    let cache = tmp.path().join("cache");
    let mut cfg = input(&a, &b, "gcc");
    cfg.cache_dir = Some(cache.clone());

    let work1 = tmp.path().join("w1");
    std::fs::create_dir(&work1).unwrap();
    let first = collect(&cfg, &work1, &NoProgress).unwrap();
    let t1 = tree_summary(&first.summary);
    assert_eq!(t1.base, BaseSource::Copied);
    assert_eq!(t1.base_compiled.len(), 10, "{:?}", t1.base_compiled);
    assert_eq!(t1.rebuilt, ["arch/arch_domctl.o"]);

    let work2 = tmp.path().join("w2");
    std::fs::create_dir(&work2).unwrap();
    let second = collect(&cfg, &work2, &NoProgress).unwrap();
    let t2 = tree_summary(&second.summary);
    assert_eq!(t2.base, BaseSource::Cache);
    assert!(t2.base_compiled.is_empty());
    assert_eq!(t2.rebuilt, ["arch/arch_domctl.o"]);
    // Same objects, byte for byte, from different scratch directories.
    assert_eq!(first.pairs, second.pairs);

    // Touching the original tree invalidates the cache entry.
    let f = a.join("common/domain.c");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text + "\n").unwrap();
    let work3 = tmp.path().join("w3");
    std::fs::create_dir(&work3).unwrap();
    let third = collect(&cfg, &work3, &NoProgress).unwrap();
    assert_eq!(tree_summary(&third.summary).base, BaseSource::Copied);
}

#[test]
fn launcher_runs_every_wrapped_compile() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = example_trees(tmp.path(), "new-helper");
    let log = tmp.path().join("launcher.log");
    let launcher = fake_launcher(tmp.path(), &log);
    let mut cfg = input(&a, &b, &format!("{} gcc", launcher.display()));
    cfg.compiler_given = true;
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&cfg, &work, &NoProgress).unwrap();
    assert_eq!(names(&got.pairs), ["common/domctl.o"]);
    assert!(got.pairs[0].orig.is_some());
    let calls = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    // One call for the patched build's compile, one for the original's recompile.
    assert_eq!(lines.len(), 2, "{calls}");
    for l in &lines {
        // The tree calls `cc`: the launcher gets the real one, not the shim.
        let first = l.split_whitespace().next().unwrap();
        assert!(first.ends_with("/cc") && !first.contains("shim"), "{l}");
        assert!(l.contains("-c common/domctl.c"), "{l}");
        assert!(l.contains("-ffunction-sections -fdata-sections"), "{l}");
        assert!(l.contains("-ffile-prefix-map="), "{l}");
    }
}

#[test]
fn no_change_builds_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    copy_sources(&example_src(), &a);
    copy_sources(&example_src(), &b);
    run_make(&a, &[]);
    // The patched tree was built too: its products are not changes.
    run_make(&b, &[]);
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&input(&a, &b, "gcc"), &work, &NoProgress).unwrap();
    let t = tree_summary(&got.summary);
    assert!(t.changed_files.is_empty(), "{:?}", t.changed_files);
    assert!(got.pairs.is_empty());
}

#[test]
fn failing_build_names_the_side_and_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = example_trees(tmp.path(), "xsa125-fix");
    let f = b.join("common/version.c");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replace("return -ENOSYS;", "return -ENOSYS")).unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let e = collect(&input(&a, &b, "gcc"), &work, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("building the patched tree failed: `make -j2`"),
        "{e}"
    );
    assert!(e.contains("make-patched.log"), "{e}");
    assert!(e.contains("version.c"), "{e}");
}

/// A tree whose rule compiles to a temporary file (naming the real object with
/// `-MQ`) and then post-processes it, as Xen does to make local symbols unique.
fn post_processing_tree(root: &Path) {
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("src/one.c"),
        "static int helper(int x) { return x + 1; }\nint one(int x) { return helper(x) * 2; }\n",
    )
    .unwrap();
    std::fs::write(root.join("src/two.c"), "int two(int x) { return x - 2; }\n").unwrap();
    std::fs::write(
        root.join("Makefile"),
        "OBJS := src/one.o src/two.o\nall: $(OBJS)\n\
         src/%.o: src/%.c\n\
         \t$(CC) -O2 -c $< -o src/.$*.o.tmp -MMD -MF src/.$*.o.d -MQ $@\n\
         \tobjcopy --redefine-sym $*.c=src/$*.c src/.$*.o.tmp $@ && rm -f src/.$*.o.tmp\n\
         -include $(OBJS:src/%.o=src/.%.o.d)\n",
    )
    .unwrap();
}

fn file_symbols(obj: &[u8]) -> Vec<String> {
    use object::{Object, ObjectSymbol, SymbolKind};
    let f = object::File::parse(obj).unwrap();
    f.symbols()
        .filter(|s| s.kind() == SymbolKind::File)
        .map(|s| s.name().unwrap().to_string())
        .collect()
}

#[test]
fn post_processed_objects_come_from_the_trees_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    post_processing_tree(&a);
    post_processing_tree(&b);
    run_make(&a, &[]);
    let f = b.join("src/one.c");
    let s = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, s.replace("x + 1", "x + 3")).unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&input(&a, &b, "gcc"), &work, &NoProgress).unwrap();
    let t = tree_summary(&got.summary);
    // The compile wrote src/.one.o.tmp; the object that matters is src/one.o.
    assert_eq!(t.rebuilt, ["src/one.o"]);
    assert!(t.transient.is_empty(), "{:?}", t.transient);
    assert_eq!(names(&got.pairs), ["src/one.o"]);
    let pair = &got.pairs[0];
    for obj in [pair.orig.as_ref().unwrap(), pair.patched.as_ref().unwrap()] {
        assert_eq!(
            file_symbols(obj),
            ["src/one.c"],
            "post-processing not applied"
        );
        assert!(section_names(obj).contains(&".text.one".to_string()));
    }
    assert_ne!(pair.orig, pair.patched);
}

/// A tree that fixes its compiler by absolute path.
fn absolute_cc_tree(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(root.join("x.c"), "int x(int a) { return a + 1; }\n").unwrap();
    let cc = std::fs::canonicalize("/usr/bin/cc").unwrap();
    std::fs::write(
        root.join("Makefile"),
        format!(
            "CC := {}\nx.o: x.c\n\t$(CC) -O2 -c x.c -o x.o\n",
            cc.display()
        ),
    )
    .unwrap();
}

#[test]
fn absolute_compiler_path_warns_then_pass_cc_wraps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    absolute_cc_tree(&a);
    absolute_cc_tree(&b);
    run_make(&a, &[]);
    std::fs::write(b.join("x.c"), "int x(int a) { return a + 2; }\n").unwrap();
    let work = tmp.path().join("w1");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&input(&a, &b, "gcc"), &work, &NoProgress).unwrap();
    let t = tree_summary(&got.summary);
    assert!(got.pairs.is_empty());
    assert_eq!(t.warnings.len(), 1);
    assert!(
        t.warnings[0].contains("compiled nothing through the wrapper although 1 file(s) changed")
    );

    std::fs::write(a.join("xsplice.toml"), "[build]\npass_cc = true\n").unwrap();
    std::fs::write(b.join("xsplice.toml"), "[build]\npass_cc = true\n").unwrap();
    let work = tmp.path().join("w2");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&input(&a, &b, "gcc"), &work, &NoProgress).unwrap();
    assert_eq!(names(&got.pairs), ["x.o"]);
    assert!(tree_summary(&got.summary).warnings.is_empty());
    assert!(section_names(got.pairs[0].orig.as_ref().unwrap()).contains(&".text.x".to_string()));
}

#[test]
fn a_tree_is_one_directory_on_each_side() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    copy_sources(&example_src(), &a);
    let mut cfg = input(&a, &a.join("common/version.c"), "gcc");
    let e = collect(&cfg, tmp.path(), &NoProgress)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "a tree is given as one directory for --orig and one for --patched"
    );
    cfg.patched = vec![a.clone(), a.clone()];
    assert!(collect(&cfg, tmp.path(), &NoProgress).is_err());
}

#[test]
fn config_file_outside_the_tree_is_used() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    // The Makefile is one level down: only the configured command finds it.
    copy_sources(&example_src(), &a.join("hv"));
    copy_sources(&example_src(), &b.join("hv"));
    run_make(&a.join("hv"), &[]);
    apply_patch(&b.join("hv"), &patch_file("xsa132-fix"));
    let conf = tmp.path().join("build.toml");
    std::fs::write(&conf, "[build]\ncommand = [\"make\", \"-C\", \"hv\"]\n").unwrap();
    let mut cfg = input(&a, &b, "gcc");
    cfg.tree_config_file = Some(conf);
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&cfg, &work, &NoProgress).unwrap();
    assert_eq!(names(&got.pairs), ["hv/arch/arch_domctl.o"]);

    // Without it, `make` at the root has no Makefile: a clear error.
    cfg.tree_config_file = None;
    let work = tmp.path().join("work2");
    std::fs::create_dir(&work).unwrap();
    let e = collect(&cfg, &work, &NoProgress).unwrap_err().to_string();
    assert!(
        e.starts_with("building the original tree failed: `make -j2`"),
        "{e}"
    );
    assert!(e.contains("make-orig.log"), "{e}");
}

#[test]
fn header_change_without_dependency_tracking_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let mk = |root: &Path| {
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(root.join("k.h"), "#define K 1\n").unwrap();
        std::fs::write(
            root.join("x.c"),
            "#include \"k.h\"\nint x(int a) { return a + K; }\n",
        )
        .unwrap();
        std::fs::write(
            root.join("Makefile"),
            "x.o: x.c\n\t$(CC) -O2 -c x.c -o x.o\n",
        )
        .unwrap();
    };
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    mk(&a);
    mk(&b);
    run_make(&a, &[]);
    std::fs::write(b.join("k.h"), "#define K 2\n").unwrap();
    let work = tmp.path().join("w");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&input(&a, &b, "gcc"), &work, &NoProgress).unwrap();
    let t = tree_summary(&got.summary);
    assert!(got.pairs.is_empty(), "the tree's make did not rebuild x.o");
    assert!(
        t.warnings
            .iter()
            .any(|w| w.starts_with("header(s) k.h changed but the tree has no dependency files")),
        "{:?}",
        t.warnings
    );
}

#[test]
fn scratch_and_cache_inside_the_trees_are_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = example_trees(tmp.path(), "xsa125-fix");
    let mut cfg = input(&a, &b, "gcc");
    // Relative to nothing in particular: both live inside the trees.
    cfg.cache_dir = Some(a.join(".cache"));
    let work = b.join(".work");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&cfg, &work, &NoProgress).unwrap();
    let t = tree_summary(&got.summary);
    assert_eq!(t.changed_files, ["common/version.c"]);
    assert_eq!(names(&got.pairs), ["common/version.o"]);
    assert!(!work.join("orig/.cache").exists());
    let work2 = b.join(".work2");
    std::fs::create_dir(&work2).unwrap();
    let again = collect(&cfg, &work2, &NoProgress).unwrap();
    // The first run's scratch (inside the patched tree) is not a change.
    assert_eq!(
        tree_summary(&again.summary).changed_files,
        ["common/version.c"]
    );
    assert_eq!(tree_summary(&again.summary).base, BaseSource::Cache);
    assert_eq!(again.pairs, got.pairs);
}

#[test]
fn object_goals_rebuild_original_objects_without_relinking() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = example_trees(tmp.path(), "struct-layout-change");
    std::fs::write(a.join("xsplice.toml"), "[build]\nobject_goals = true\n").unwrap();
    std::fs::write(b.join("xsplice.toml"), "[build]\nobject_goals = true\n").unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&input(&a, &b, "gcc"), &work, &NoProgress).unwrap();
    assert_eq!(got.pairs.len(), 4);
    assert!(
        got.pairs
            .iter()
            .all(|p| p.orig.is_some() && p.orig != p.patched)
    );
    let patched_log = std::fs::read_to_string(work.join("make-patched.log")).unwrap();
    let orig_log = std::fs::read_to_string(work.join("make-orig-objects.log")).unwrap();
    assert!(patched_log.contains("-o hv-syms"), "{patched_log}");
    assert!(!orig_log.contains("-o hv-syms"), "{orig_log}");
    assert_eq!(orig_log.matches(" -c ").count(), 4, "{orig_log}");
}

/// Object goals built with other flags than in the full build (a target-specific
/// variable of `all`), and goals the build cannot make at all (a recursive make).
#[test]
fn object_goals_fall_back_to_the_full_build() {
    for (makefile, sub) in [
        (
            "all: EXTRA = -DFULL\nall: x.o\n%.o: %.c\n\t$(CC) -O2 $(EXTRA) -MMD -c $< -o $@\n-include x.d\n",
            "",
        ),
        ("all:\n\t$(MAKE) -C sub EXTRA=-DFULL\n", "sub/"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mk = |root: &Path| {
            std::fs::create_dir_all(root.join("sub")).unwrap();
            std::fs::write(root.join("Makefile"), makefile).unwrap();
            std::fs::write(
                root.join("sub/Makefile"),
                "x.o: x.c\n\t$(CC) -O2 $(EXTRA) -MMD -c x.c -o x.o\n-include x.d\n",
            )
            .unwrap();
            std::fs::write(
                root.join(format!("{sub}x.c")),
                "#ifdef FULL\nint x(int a) { return a * 3; }\n#else\nint x(int a) { return a; }\n#endif\n\
                 int y(int a) { return a + 1; }\n",
            )
            .unwrap();
            std::fs::write(root.join("xsplice.toml"), "[build]\nobject_goals = true\n").unwrap();
        };
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        mk(&a);
        mk(&b);
        run_make(&a, &[]);
        let f = b.join(format!("{sub}x.c"));
        let s = std::fs::read_to_string(&f).unwrap();
        std::fs::write(&f, s.replace("a + 1", "a + 2")).unwrap();
        let work = tmp.path().join("w");
        std::fs::create_dir(&work).unwrap();
        let got = collect(&input(&a, &b, "gcc"), &work, &NoProgress).unwrap();
        assert_eq!(names(&got.pairs), [format!("{sub}x.o").as_str()]);
        let p = &got.pairs[0];
        let (o, n) = (p.orig.as_ref().unwrap(), p.patched.as_ref().unwrap());
        // Both sides built with -DFULL: x is the same, y differs.
        assert_eq!(
            section_bytes(o, ".text.x"),
            section_bytes(n, ".text.x"),
            "{makefile}"
        );
        assert_ne!(section_bytes(o, ".text.y"), section_bytes(n, ".text.y"));
        assert!(
            work.join("make-orig-objects-full.log").exists(),
            "{makefile}"
        );
    }
}

/// Debian's ccache setup: a directory of compiler names linked to ccache first in
/// PATH. The shim must not find "gcc" there and loop through it: it runs the
/// masquerading launcher with the real compiler instead.
#[test]
fn masquerading_launcher_in_path_is_used_as_launcher() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = example_trees(tmp.path(), "xsa125-fix");
    let mq = tmp.path().join("mq");
    std::fs::create_dir(&mq).unwrap();
    let log = tmp.path().join("mq.log");
    // Like ccache: under its own name it runs its arguments; under a compiler's name
    // it runs the first other program of that name in PATH.
    let script = format!(
        "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> '{log}'\n\
         if [ \"$(basename \"$0\")\" = ccache ]; then exec \"$@\"; fi\n\
         n=$(basename \"$0\"); IFS=:; for d in $PATH; do\n\
         [ \"$d\" = '{mq}' ] && continue; [ -x \"$d/$n\" ] && exec \"$d/$n\" \"$@\"; done\nexit 127\n",
        log = log.display(),
        mq = mq.display()
    );
    std::fs::write(mq.join("ccache"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(mq.join("ccache"), std::fs::Permissions::from_mode(0o755)).unwrap();
    for n in ["cc", "gcc"] {
        std::os::unix::fs::symlink(mq.join("ccache"), mq.join(n)).unwrap();
    }
    let toml = format!(
        "[build.env]\nPATH = \"{}:{}\"\n",
        mq.display(),
        std::env::var("PATH").unwrap()
    );
    std::fs::write(a.join("xsplice.toml"), &toml).unwrap();
    std::fs::write(b.join("xsplice.toml"), &toml).unwrap();
    let work = tmp.path().join("w");
    std::fs::create_dir(&work).unwrap();
    let got = collect(&input(&a, &b, "gcc"), &work, &NoProgress).unwrap();
    assert_eq!(names(&got.pairs), ["common/version.o"]);
    let calls = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 2, "{calls}");
    for l in lines {
        assert!(l.starts_with("ccache /"), "{l}");
        assert!(l.contains("-ffunction-sections"), "{l}");
    }
}
