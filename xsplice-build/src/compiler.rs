//! The C compiler: how to invoke it (launcher + compiler + flags) and what the
//! builder changes in a compile command (the flags it injects).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Compiler launchers recognised as the first word of `CC` (`CC="ccache gcc"`).
pub const LAUNCHERS: &[&str] = &["ccache", "sccache", "distcc", "icecc", "buildcache"];

/// How to run the C compiler: an optional launcher (ccache, sccache, distcc) and the
/// compiler's own argv (`gcc`, or `gcc -m64`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompilerSpec {
    pub launcher: Vec<String>,
    pub compiler: Vec<String>,
}

impl CompilerSpec {
    /// Parses a `CC`-style value: whitespace-separated words, the first of which is a
    /// launcher when its file name is one of [`LAUNCHERS`]. `None` for an empty value.
    pub fn parse(cc: &str) -> Option<CompilerSpec> {
        let words: Vec<String> = cc.split_whitespace().map(str::to_string).collect();
        let first = words.first()?;
        let base = Path::new(first)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(first);
        if LAUNCHERS.contains(&base) {
            if words.len() < 2 {
                // A launcher alone (`CC=ccache`): it runs the default compiler.
                return Some(CompilerSpec {
                    launcher: words,
                    compiler: vec!["cc".to_string()],
                });
            }
            return Some(CompilerSpec {
                launcher: words[..1].to_vec(),
                compiler: words[1..].to_vec(),
            });
        }
        Some(CompilerSpec {
            launcher: Vec::new(),
            compiler: words,
        })
    }

    /// The compiler's program name (`gcc` for `/usr/bin/gcc -m64`).
    pub fn program_name(&self) -> String {
        let first = self.compiler.first().map(String::as_str).unwrap_or("cc");
        Path::new(first)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(first)
            .to_string()
    }

    /// The full argv prefix: launcher words then compiler words.
    pub fn argv(&self) -> Vec<String> {
        self.launcher
            .iter()
            .chain(self.compiler.iter())
            .cloned()
            .collect()
    }
}

impl Default for CompilerSpec {
    fn default() -> Self {
        CompilerSpec {
            launcher: Vec::new(),
            compiler: vec!["cc".to_string()],
        }
    }
}

/// gcc options whose value is the next argument.
const OPTIONS_WITH_VALUE: &[&str] = &[
    "-o",
    "-I",
    "-D",
    "-U",
    "-include",
    "-imacros",
    "-isystem",
    "-iquote",
    "-idirafter",
    "-iprefix",
    "-iwithprefix",
    "-isysroot",
    "-MF",
    "-MT",
    "-MQ",
    "-x",
    "-L",
    "-l",
    "-Xassembler",
    "-Xlinker",
    "-Xpreprocessor",
    "--param",
    "-aux-info",
    "-dumpdir",
    "-dumpbase",
    "-dumpbase-ext",
    "-T",
];

/// File name extensions of sources that produce an object with `-c`.
const SOURCE_EXTENSIONS: &[&str] = &["c", "i", "s", "S", "sx", "cc", "cpp", "cxx"];

/// What a compiler command line does, as far as the builder cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// `-c` is present: sources are compiled to objects, not linked.
    pub compiles: bool,
    /// The single source file, when there is exactly one.
    pub source: Option<String>,
    /// The object written: `-o` value, or the source's stem + `.o` with `-c`.
    pub output: Option<String>,
}

/// The make targets a compile names for its dependency output (`-MQ`/`-MT`): the
/// object a build's rule finally produces when the compile writes a temporary file
/// that a later step (objcopy, rename) turns into the real object.
pub fn dependency_targets(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "-MQ" || a == "-MT" {
            if let Some(v) = args.get(i + 1) {
                out.push(v.clone());
            }
            i += 1;
        } else if let Some(v) = a.strip_prefix("-MQ").or_else(|| a.strip_prefix("-MT")) {
            if !v.is_empty() {
                out.push(v.to_string());
            }
        }
        i += 1;
    }
    out
}

/// Reads a compiler command line (without the program name).
pub fn analyse(args: &[String]) -> Invocation {
    let mut compiles = false;
    let mut sources = Vec::new();
    let mut output = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "-c" {
            compiles = true;
        } else if a == "-o" {
            output = args.get(i + 1).cloned();
            i += 1;
        } else if let Some(v) = a.strip_prefix("-o") {
            output = Some(v.to_string());
        } else if OPTIONS_WITH_VALUE.contains(&a) {
            i += 1;
        } else if !a.starts_with('-') {
            let ext = Path::new(a).extension().and_then(|e| e.to_str());
            if ext.is_some_and(|e| SOURCE_EXTENSIONS.contains(&e)) {
                sources.push(a.to_string());
            }
        }
        i += 1;
    }
    let source = if sources.len() == 1 {
        sources.pop()
    } else {
        None
    };
    if output.is_none() && compiles {
        output = source.as_ref().and_then(|s| {
            let stem = Path::new(s).file_stem()?.to_str()?;
            Some(format!("{stem}.o"))
        });
    }
    Invocation {
        compiles,
        source,
        output,
    }
}

/// The flags the builder needs in every compile: one section per function and per
/// data object (so the diff can pair and replace them one by one), and build paths
/// mapped to `.` so two copies of a tree compile to identical objects.
pub fn inject_flags(args: &[String], tree_root: &Path) -> Vec<String> {
    if !args.iter().any(|a| a == "-c") {
        return args.to_vec();
    }
    let mut out: Vec<String> = args
        .iter()
        .filter(|a| *a != "-fno-function-sections" && *a != "-fno-data-sections")
        .cloned()
        .collect();
    for flag in ["-ffunction-sections", "-fdata-sections"] {
        if !out.iter().any(|a| a == flag) {
            out.push(flag.to_string());
        }
    }
    out.push(format!("-ffile-prefix-map={}=.", tree_root.display()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn launcher_is_split_from_compiler() {
        let s = CompilerSpec::parse("ccache gcc -m64").unwrap();
        assert_eq!(s.launcher, v("ccache"));
        assert_eq!(s.compiler, v("gcc -m64"));
        assert_eq!(s.program_name(), "gcc");
        let s = CompilerSpec::parse("/usr/bin/sccache /opt/bin/clang").unwrap();
        assert_eq!(s.launcher, v("/usr/bin/sccache"));
        assert_eq!(s.program_name(), "clang");
        let s = CompilerSpec::parse("x86_64-linux-gnu-gcc").unwrap();
        assert!(s.launcher.is_empty());
        assert_eq!(s.argv(), v("x86_64-linux-gnu-gcc"));
        assert_eq!(CompilerSpec::parse("  "), None);
    }

    #[test]
    fn analyse_finds_source_and_output() {
        let inv = analyse(&v(
            "-O2 -Iinclude -MMD -MP -c common/version.c -o common/version.o",
        ));
        assert!(inv.compiles);
        assert_eq!(inv.source.as_deref(), Some("common/version.c"));
        assert_eq!(inv.output.as_deref(), Some("common/version.o"));
        // -I with a separate value that looks like a source is not a source.
        let inv = analyse(&v("-I x.c -c y.c"));
        assert_eq!(inv.source.as_deref(), Some("y.c"));
        assert_eq!(inv.output.as_deref(), Some("y.o"));
        let inv = analyse(&v("-c -x c /dev/null -o/dev/null"));
        assert_eq!(inv.source, None);
        assert_eq!(inv.output.as_deref(), Some("/dev/null"));
        let inv = analyse(&v("a.o b.o -o prog"));
        assert!(!inv.compiles);
    }

    #[test]
    fn dependency_targets_found() {
        let a = v("-c dm.c -o common/.dm.o.tmp -MQ common/dm.o -MTx.o");
        assert_eq!(dependency_targets(&a), ["common/dm.o", "x.o"]);
        assert!(dependency_targets(&v("-c a.c")).is_empty());
    }

    #[test]
    fn flags_injected_once_and_only_for_compiles() {
        let root = Path::new("/tmp/tree");
        let out = inject_flags(&v("-O2 -c a.c -o a.o"), root);
        assert_eq!(
            out,
            v(
                "-O2 -c a.c -o a.o -ffunction-sections -fdata-sections -ffile-prefix-map=/tmp/tree=."
            )
        );
        let out = inject_flags(&v("-ffunction-sections -fno-data-sections -c a.c"), root);
        assert_eq!(
            out,
            v("-ffunction-sections -c a.c -fdata-sections -ffile-prefix-map=/tmp/tree=.")
        );
        let link = v("a.o -o prog");
        assert_eq!(inject_flags(&link, root), link);
    }
}
