//! Which objects a change touches, read from the tree's own dependency files
//! (gcc's `.d` from `-MD`/`-MMD`, Kbuild's `.*.cmd` with `deps_T :=` and
//! `source_T :=`), for the object-goal fast path of `tree.rs` (see
//! `specs/build-incremental.md`, "Object goals").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::BuildError;
use crate::fscopy::{self, EntryKind};

/// `(targets, prerequisites)` of every rule of one dependency file, as written.
pub fn parse_rules(text: &str) -> Vec<(Vec<String>, Vec<String>)> {
    // Join continuation lines.
    let mut logical = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if let Some(l) = line.strip_suffix('\\') {
            cur.push_str(l);
            cur.push(' ');
        } else {
            cur.push_str(line);
            logical.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        logical.push(cur);
    }
    let words = |s: &str| -> Vec<String> {
        // `$(wildcard include/config/x.h)` entries are Kconfig stamps, not files of
        // the change; other make syntax is skipped too.
        let mut out = Vec::new();
        let mut depth = 0usize;
        for w in s.split_whitespace() {
            if w.starts_with("$(") {
                depth += w.matches('(').count();
                depth = depth.saturating_sub(w.matches(')').count());
                continue;
            }
            if depth > 0 {
                depth += w.matches('(').count();
                depth = depth.saturating_sub(w.matches(')').count());
                continue;
            }
            out.push(w.to_string());
        }
        out
    };
    let mut rules = Vec::new();
    for l in logical {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with("cmd_") {
            continue;
        }
        if let Some((lhs, rhs)) = l.split_once(":=") {
            let lhs = lhs.trim();
            let target = lhs
                .strip_prefix("deps_")
                .or_else(|| lhs.strip_prefix("source_"));
            if let Some(t) = target {
                rules.push((vec![t.to_string()], words(rhs)));
            }
            continue;
        }
        if let Some((lhs, rhs)) = l.split_once(':') {
            let targets = words(lhs);
            let deps = words(rhs);
            if !targets.is_empty() && !deps.is_empty() {
                rules.push((targets, deps));
            }
        }
    }
    rules
}

/// The commands Kbuild-style `.*.cmd` files record (`cmd_T := ...`), by target.
pub fn recorded_commands(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("cmd_")?;
            let (t, c) = rest.split_once(" := ")?;
            Some((t.trim().to_string(), c.trim().to_string()))
        })
        .collect()
}

/// Splits a shell command line into words (single and double quotes, backslash
/// escapes); `None` for shell syntax beyond that (`;`, `|`, `$(...)`...).
pub fn shell_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        '$' | '`' => return None,
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            ';' | '|' | '&' | '<' | '>' | '$' | '`' | '(' | ')' => return None,
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// The `-C DIR` of a make command line (relative to the tree root), else the root.
pub fn make_dir(command: &[String]) -> PathBuf {
    let mut it = command.iter();
    while let Some(a) = it.next() {
        if a == "-C" || a == "--directory" {
            if let Some(d) = it.next() {
                return PathBuf::from(d);
            }
        } else if let Some(d) = a.strip_prefix("--directory=") {
            return PathBuf::from(d);
        } else if let Some(d) = a.strip_prefix("-C") {
            return PathBuf::from(d);
        }
    }
    PathBuf::new()
}

/// Lexically normalised path (`a/./b/../c` → `a/c`), without touching the disk.
pub(crate) fn lexical(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// An object to build as a goal, with the command its last build ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Goal {
    /// Relative to the make directory.
    pub target: String,
    /// `cmd_T` of its `.*.cmd` file, when the tree records one.
    pub command: Option<String>,
}

/// The object goals (paths relative to `root/mdir`, sorted) whose recorded inputs
/// include one of `changed` (paths relative to `root`), or `None` when a changed
/// file is an input of no object (a Makefile, a linker script, a file this
/// configuration does not compile...): then only the full build knows what to do.
pub fn objects_touched(
    root: &Path,
    mdir: &Path,
    exclude: &[String],
    changed: &[PathBuf],
) -> Result<Option<Vec<Goal>>, BuildError> {
    let mut commands: BTreeMap<String, String> = BTreeMap::new();
    let base = lexical(&root.join(mdir));
    let wanted: BTreeSet<PathBuf> = changed.iter().map(|c| lexical(&root.join(c))).collect();
    let mut hits: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for e in fscopy::list_tree(root, exclude)? {
        if e.kind != EntryKind::File || !fscopy::is_dep_file(&e.rel) {
            continue;
        }
        let path = root.join(&e.rel);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let dep_dir = path.parent().unwrap_or(root).to_path_buf();
        for (t, c) in recorded_commands(&text) {
            commands.insert(t, c);
        }
        let resolve = |w: &str| -> Vec<PathBuf> {
            let p = Path::new(w);
            if p.is_absolute() {
                vec![lexical(p)]
            } else {
                vec![lexical(&base.join(p)), lexical(&dep_dir.join(p))]
            }
        };
        for (targets, deps) in parse_rules(&text) {
            let hit: Vec<&PathBuf> = deps
                .iter()
                .flat_map(|d| resolve(d))
                .filter_map(|d| wanted.get(&d))
                .collect();
            if hit.is_empty() {
                continue;
            }
            for t in &targets {
                // Goals are objects named relative to the make directory.
                if !t.ends_with(".o") || Path::new(t).is_absolute() {
                    continue;
                }
                let abs = lexical(&base.join(t));
                if !abs.is_file() {
                    continue;
                }
                let Ok(goal) = abs.strip_prefix(&base) else {
                    continue;
                };
                for h in &hit {
                    hits.entry((*h).clone())
                        .or_default()
                        .insert(goal.to_string_lossy().into_owned());
                }
            }
        }
    }
    if wanted.iter().any(|w| !hits.contains_key(w)) {
        return Ok(None);
    }
    let goals: BTreeSet<String> = hits.into_values().flatten().collect();
    Ok(Some(
        goals
            .into_iter()
            .map(|target| Goal {
                command: commands.get(&target).cloned(),
                target,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kbuild_cmd_and_gcc_d_files() {
        let cmd = "cmd_a/b.o := gcc -c a/b.c -o a/.b.o.tmp -MQ a/b.o\n\n\
source_a/b.o := a/b.c\n\n\
deps_a/b.o := \\\n  include/x.h \\\n    $(wildcard include/config/y.h) \\\n  include/z.h \\\n\n\
a/b.o: $(deps_a/b.o)\n\n$(deps_a/b.o):\n";
        let r = parse_rules(cmd);
        assert_eq!(
            r,
            [
                (vec!["a/b.o".to_string()], vec!["a/b.c".to_string()]),
                (
                    vec!["a/b.o".to_string()],
                    vec!["include/x.h".to_string(), "include/z.h".to_string()]
                ),
            ]
        );
        let d = "out/x.o: src/x.c include/os/types.h \\\n  include/os/y.h\ninclude/os/types.h:\n";
        assert_eq!(
            parse_rules(d),
            [(
                vec!["out/x.o".to_string()],
                vec![
                    "src/x.c".to_string(),
                    "include/os/types.h".to_string(),
                    "include/os/y.h".to_string()
                ]
            )]
        );
    }

    #[test]
    fn shell_words_and_recorded_commands() {
        assert_eq!(
            shell_words(r#"gcc -c a.c '-DX=a b' "-DY=\"q\"" -o a\ b.o"#).unwrap(),
            ["gcc", "-c", "a.c", "-DX=a b", "-DY=\"q\"", "-o", "a b.o"]
        );
        assert_eq!(shell_words("a; b"), None);
        assert_eq!(shell_words("echo $(x)"), None);
        assert_eq!(
            recorded_commands("cmd_a/b.o := gcc -c a/b.c\nsource_a/b.o := a/b.c\n"),
            [("a/b.o".to_string(), "gcc -c a/b.c".to_string())]
        );
    }

    #[test]
    fn make_dir_of_commands() {
        let v = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(make_dir(&v("make -C xen")), Path::new("xen"));
        assert_eq!(make_dir(&v("make -Cxen")), Path::new("xen"));
        assert_eq!(make_dir(&v("make --directory=xen")), Path::new("xen"));
        assert_eq!(make_dir(&v("make")), Path::new(""));
    }

    #[test]
    fn objects_touched_by_a_change() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let w = |rel: &str, text: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("xen/a/b.c", "");
        w("xen/a/b.o", "");
        w("xen/a/c.c", "");
        w("xen/a/c.o", "");
        w("xen/include/x.h", "");
        w("xen/Makefile", "");
        w(
            "xen/a/.b.o.cmd",
            "source_a/b.o := a/b.c\ndeps_a/b.o := \\\n  include/x.h \\\n\n",
        );
        w(
            "xen/a/.c.o.cmd",
            "source_a/c.o := a/c.c\ndeps_a/c.o := \\\n\n",
        );
        let t = |changed: &[&str]| {
            let c: Vec<PathBuf> = changed.iter().map(PathBuf::from).collect();
            objects_touched(root, Path::new("xen"), &[], &c)
                .unwrap()
                .map(|g| g.into_iter().map(|g| g.target).collect::<Vec<_>>())
        };
        assert_eq!(t(&["xen/a/b.c"]), Some(vec!["a/b.o".to_string()]));
        assert_eq!(t(&["xen/include/x.h"]), Some(vec!["a/b.o".to_string()]));
        assert_eq!(
            t(&["xen/a/b.c", "xen/a/c.c"]),
            Some(vec!["a/b.o".to_string(), "a/c.o".to_string()])
        );
        assert_eq!(t(&["xen/Makefile"]), None);
        assert_eq!(t(&["xen/a/b.c", "xen/Makefile"]), None);
    }
}
