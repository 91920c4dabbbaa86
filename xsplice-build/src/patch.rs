//! `--patch FILE`: unified diffs applied to a copy of the original tree's files.
//!
//! The input is what security advisories ship: `git format-patch` output (mail
//! headers, message, diffstat, `diff --git` sections, a signature) or plain
//! `diff -u`/`diff -Nu` output, paths with one leading component (`a/`, `b/`) that is
//! stripped (`-p1`). Hunks apply with their context matching exactly; a hunk whose
//! lines are found at another line than its header says (an offset, as after an
//! unrelated change earlier in the file) applies there, as `patch` and `git apply`
//! do, but no fuzz: every context and removed line must match byte for byte.
//!
//! Nothing of the original tree is written: the results go to a separate directory
//! that holds only the files the patches touch.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::BuildError;

/// One line of a hunk, with its line terminator (absent on a last line without one).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Line {
    Context(Vec<u8>),
    Remove(Vec<u8>),
    Add(Vec<u8>),
}

/// One `@@ -a,b +c,d @@` hunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hunk {
    /// 1-based number of the hunk within its file's section.
    pub number: usize,
    /// The `@@ ... @@` line as written (without the line end).
    pub header: String,
    old_start: usize,
    old_len: usize,
    lines: Vec<Line>,
}

impl Hunk {
    fn old_lines(&self) -> Vec<&[u8]> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::Context(t) | Line::Remove(t) => Some(t.as_slice()),
                Line::Add(_) => None,
            })
            .collect()
    }
    fn new_lines(&self) -> Vec<&[u8]> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::Context(t) | Line::Add(t) => Some(t.as_slice()),
                Line::Remove(_) => None,
            })
            .collect()
    }
}

/// The changes to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePatch {
    /// Path before (`None`: the file is created), with the first component stripped.
    pub old: Option<String>,
    /// Path after (`None`: the file is deleted).
    pub new: Option<String>,
    pub hunks: Vec<Hunk>,
}

impl FilePatch {
    /// The path the section is about.
    pub fn path(&self) -> &str {
        self.new.as_deref().or(self.old.as_deref()).unwrap_or("")
    }
}

fn perr(patch: &Path, why: String) -> BuildError {
    BuildError::Patch {
        patch: patch.to_path_buf(),
        why,
    }
}

/// Splits bytes into lines, each keeping its `\n` (the last may have none).
fn split_lines(text: &[u8]) -> Vec<&[u8]> {
    let mut v = Vec::new();
    let mut start = 0;
    for (i, b) in text.iter().enumerate() {
        if *b == b'\n' {
            v.push(&text[start..=i]);
            start = i + 1;
        }
    }
    if start < text.len() {
        v.push(&text[start..]);
    }
    v
}

fn trim_eol(l: &[u8]) -> &[u8] {
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// The path of a `---`/`+++` line: up to a tab (diff's timestamp), `/dev/null` →
/// `None`, the first component stripped (`-p1`).
fn header_path(patch: &Path, lineno: usize, rest: &[u8]) -> Result<Option<String>, BuildError> {
    let rest = trim_eol(rest);
    let raw = String::from_utf8_lossy(rest);
    let raw = raw.split('\t').next().unwrap_or("").trim_end();
    if raw.starts_with('"') {
        return Err(perr(
            patch,
            format!("line {lineno}: quoted path {raw} (unusual characters) is not supported"),
        ));
    }
    if raw == "/dev/null" {
        return Ok(None);
    }
    let stripped = match raw.split_once('/') {
        Some((_, rest)) if !rest.is_empty() => rest,
        _ => {
            return Err(perr(
                patch,
                format!(
                    "line {lineno}: path `{raw}` has no leading directory to strip \
                     (patches are applied with -p1: a/FILE, b/FILE)"
                ),
            ));
        }
    };
    let p = Path::new(stripped);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, Component::ParentDir | Component::RootDir))
    {
        return Err(perr(
            patch,
            format!("line {lineno}: path `{raw}` leaves the tree"),
        ));
    }
    Ok(Some(stripped.to_string()))
}

/// `@@ -a[,b] +c[,d] @@` → (a, b, c, d).
fn parse_range(s: &str) -> Option<(usize, usize)> {
    let (start, len) = match s.split_once(',') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => (s.parse().ok()?, 1),
    };
    Some((start, len))
}

fn parse_hunk_header(line: &str) -> Option<(usize, usize, usize)> {
    let rest = line.strip_prefix("@@ -")?;
    let (old, rest) = rest.split_once(" +")?;
    let (new, _) = rest.split_once(" @@")?;
    let (old_start, old_len) = parse_range(old)?;
    let (_, new_len) = parse_range(new)?;
    Some((old_start, old_len, new_len))
}

/// Parses every file section of a patch.
pub fn parse(patch: &Path, text: &[u8]) -> Result<Vec<FilePatch>, BuildError> {
    let lines = split_lines(text);
    let mut files = Vec::new();
    let mut i = 0;
    // `diff --git` extended headers seen since the last section.
    let mut git_header: Option<(usize, String)> = None;
    let mut extended: Vec<String> = Vec::new();
    let flush_git = |git_header: &mut Option<(usize, String)>,
                     extended: &mut Vec<String>|
     -> Result<(), BuildError> {
        // A `diff --git` section without ---/+++ lines: a mode change, a pure rename
        // or a binary change. None of them can be carried as text.
        if let Some((n, h)) = git_header.take() {
            let ext = std::mem::take(extended);
            let what = if ext.iter().any(|e| e.starts_with("rename ")) {
                Some("a rename")
            } else if ext.iter().any(|e| e.starts_with("copy ")) {
                Some("a copy")
            } else if ext
                .iter()
                .any(|e| e.starts_with("Binary files") || e.starts_with("GIT binary patch"))
            {
                Some("a binary change")
            } else if ext
                .iter()
                .any(|e| e.starts_with("new file mode") || e.starts_with("deleted file mode"))
            {
                Some("an empty file created or deleted")
            } else {
                None // mode change only: nothing to build
            };
            if let Some(what) = what {
                return Err(perr(
                    patch,
                    format!("line {n}: `{h}` is {what}, which --patch does not support"),
                ));
            }
        }
        Ok(())
    };
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with(b"diff --git ") {
            flush_git(&mut git_header, &mut extended)?;
            git_header = Some((i + 1, String::from_utf8_lossy(trim_eol(line)).into_owned()));
            i += 1;
            continue;
        }
        let next_is_plus = lines.get(i + 1).is_some_and(|n| n.starts_with(b"+++ "));
        if !(line.starts_with(b"--- ") && next_is_plus) {
            if git_header.is_some() {
                extended.push(String::from_utf8_lossy(trim_eol(line)).into_owned());
            }
            i += 1;
            continue;
        }
        git_header = None;
        extended.clear();
        let old = header_path(patch, i + 1, &line[4..])?;
        let new = header_path(patch, i + 2, &lines[i + 1][4..])?;
        if old.is_none() && new.is_none() {
            return Err(perr(
                patch,
                format!("line {}: both sides are /dev/null", i + 1),
            ));
        }
        i += 2;
        let mut hunks = Vec::new();
        while i < lines.len() && lines[i].starts_with(b"@@ ") {
            let header = String::from_utf8_lossy(trim_eol(lines[i])).into_owned();
            let header_line = i + 1;
            let number = hunks.len() + 1;
            let (old_start, old_len, new_len) = parse_hunk_header(&header).ok_or_else(|| {
                perr(
                    patch,
                    format!("line {header_line}: malformed hunk header `{header}`"),
                )
            })?;
            i += 1;
            let (mut seen_old, mut seen_new) = (0usize, 0usize);
            let mut body = Vec::new();
            while seen_old < old_len || seen_new < new_len {
                let Some(l) = lines.get(i) else {
                    break;
                };
                let (kind, t) = match l.first() {
                    Some(b' ') => (0, &l[1..]),
                    Some(b'-') => (1, &l[1..]),
                    Some(b'+') => (2, &l[1..]),
                    // Some mailers strip the space of an empty context line.
                    Some(b'\n') => (0, &l[..]),
                    Some(b'\r') if l == b"\r\n" => (0, &l[..]),
                    Some(b'\\') => {
                        i += 1;
                        continue;
                    }
                    _ => break,
                };
                match kind {
                    0 => {
                        seen_old += 1;
                        seen_new += 1;
                        body.push(Line::Context(t.to_vec()));
                    }
                    1 => {
                        seen_old += 1;
                        body.push(Line::Remove(t.to_vec()));
                    }
                    _ => {
                        seen_new += 1;
                        body.push(Line::Add(t.to_vec()));
                    }
                }
                i += 1;
                // `\ No newline at end of file` belongs to the line just read.
                if lines.get(i).is_some_and(|n| n.starts_with(b"\\ ")) {
                    if let Some(Line::Context(t) | Line::Remove(t) | Line::Add(t)) = body.last_mut()
                    {
                        if t.last() == Some(&b'\n') {
                            t.pop();
                        }
                    }
                    i += 1;
                }
            }
            if seen_old != old_len || seen_new != new_len {
                return Err(perr(
                    patch,
                    format!(
                        "hunk #{number} (`{header}`, line {header_line}) of {} is truncated or \
                         malformed: its header announces {old_len} old and {new_len} new lines, \
                         the body has {seen_old} and {seen_new}",
                        new.as_deref().or(old.as_deref()).unwrap_or("?")
                    ),
                ));
            }
            hunks.push(Hunk {
                number,
                header,
                old_start,
                old_len,
                lines: body,
            });
        }
        if hunks.is_empty() {
            return Err(perr(
                patch,
                format!(
                    "line {}: the section for {} has no hunk",
                    i,
                    new.as_deref().or(old.as_deref()).unwrap_or("?")
                ),
            ));
        }
        files.push(FilePatch { old, new, hunks });
    }
    flush_git(&mut git_header, &mut extended)?;
    if files.is_empty() {
        return Err(perr(
            patch,
            "no unified diff in this file (expected `--- a/FILE`, `+++ b/FILE` and `@@` hunks)"
                .to_string(),
        ));
    }
    Ok(files)
}

fn show(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(trim_eol(line)).into_owned();
    if s.len() > 100 {
        let mut end = 100;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

/// Applies one file's hunks to `text` (the file's current content). Errors name the
/// patch, the file and the hunk.
pub fn apply_file(patch: &Path, fp: &FilePatch, text: &[u8]) -> Result<Vec<u8>, BuildError> {
    let src = split_lines(text);
    let mut out: Vec<u8> = Vec::with_capacity(text.len() + 256);
    let mut pos = 0usize;
    for h in &fp.hunks {
        let old = h.old_lines();
        // Where the header says the hunk starts (0-based); a hunk without old lines
        // inserts after line `old_start`.
        let want = if h.old_len == 0 {
            h.old_start
        } else {
            h.old_start.saturating_sub(1)
        };
        let fits = |p: usize| p + old.len() <= src.len() && src[p..p + old.len()] == old[..];
        let found = if old.is_empty() {
            Some(want.clamp(pos, src.len()))
        } else {
            // Nearest to where the header says, never before the previous hunk.
            let last = src.len().saturating_sub(old.len());
            (0..=src.len()).find_map(|d| {
                let below = want.checked_sub(d).filter(|p| *p >= pos);
                let above = Some(want + d).filter(|p| *p <= last && *p >= pos);
                below.into_iter().chain(above).find(|p| fits(*p))
            })
        };
        let Some(at) = found else {
            // The first line that differs where the header says the hunk goes.
            let start = want.min(src.len());
            let detail = old
                .iter()
                .enumerate()
                .find(|(k, l)| src.get(start + k) != Some(*l))
                .map(|(k, l)| match src.get(start + k) {
                    Some(got) => format!(
                        "line {} is `{}`, the hunk expects `{}`",
                        start + k + 1,
                        show(got),
                        show(l)
                    ),
                    None => format!(
                        "the file ends at line {}, the hunk expects `{}` at line {}",
                        src.len(),
                        show(l),
                        start + k + 1
                    ),
                })
                .unwrap_or_else(|| "the context overlaps an earlier hunk".to_string());
            return Err(perr(
                patch,
                format!(
                    "hunk #{} (`{}`) of {} does not apply: {detail}; its lines are found \
                     nowhere else in the file (already applied, or written for another version?)",
                    h.number,
                    h.header,
                    fp.path()
                ),
            ));
        };
        for l in &src[pos..at] {
            out.extend_from_slice(l);
        }
        for l in h.new_lines() {
            out.extend_from_slice(l);
        }
        pos = at + old.len();
    }
    for l in &src[pos..] {
        out.extend_from_slice(l);
    }
    Ok(out)
}

/// What applying the patches did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Files whose content the patches produced (relative paths), written under the
    /// output directory.
    pub written: Vec<String>,
    /// Files the patches delete (not carried: see the spec's limits).
    pub deleted: Vec<String>,
}

/// Applies `patches` in order to the files of `orig` and writes every file they
/// produce under `out` (same relative path). `orig` is only read.
pub fn apply_patches(orig: &Path, patches: &[PathBuf], out: &Path) -> Result<Applied, BuildError> {
    // Current content of every touched path; `None`: deleted.
    let mut state: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    for patch in patches {
        let text = std::fs::read(patch).map_err(|e| BuildError::io(patch, e))?;
        for fp in parse(patch, &text)? {
            let current = |state: &BTreeMap<String, Option<Vec<u8>>>,
                           rel: &str|
             -> Result<Option<Vec<u8>>, BuildError> {
                if let Some(c) = state.get(rel) {
                    return Ok(c.clone());
                }
                let p = orig.join(rel);
                match std::fs::symlink_metadata(&p) {
                    Ok(m) if m.is_file() => {
                        Ok(Some(std::fs::read(&p).map_err(|e| BuildError::io(&p, e))?))
                    }
                    Ok(_) => Err(perr(
                        patch,
                        format!("{rel}: not a regular file in {}", orig.display()),
                    )),
                    Err(_) => Ok(None),
                }
            };
            match (&fp.old, &fp.new) {
                (None, Some(new)) => {
                    if current(&state, new)?.is_some() {
                        return Err(perr(
                            patch,
                            format!("{new}: the patch creates it, but it already exists"),
                        ));
                    }
                    let body = apply_file(patch, &fp, b"")?;
                    state.insert(new.clone(), Some(body));
                }
                (Some(old), new) => {
                    let Some(text) = current(&state, old)? else {
                        return Err(perr(
                            patch,
                            format!(
                                "{old}: no such file in {} (hunk #1, `{}`)",
                                orig.display(),
                                fp.hunks[0].header
                            ),
                        ));
                    };
                    let body = apply_file(patch, &fp, &text)?;
                    match new {
                        None => {
                            if !body.is_empty() {
                                return Err(perr(
                                    patch,
                                    format!(
                                        "{old}: the patch deletes it, but the file has lines \
                                         the patch does not remove"
                                    ),
                                ));
                            }
                            state.insert(old.clone(), None);
                        }
                        Some(new) => {
                            if new != old {
                                if current(&state, new)?.is_some() {
                                    return Err(perr(
                                        patch,
                                        format!("{new}: renamed onto an existing file"),
                                    ));
                                }
                                state.insert(old.clone(), None);
                            }
                            state.insert(new.clone(), Some(body));
                        }
                    }
                }
                (None, None) => unreachable!("rejected by parse"),
            }
        }
    }
    let mut applied = Applied::default();
    for (rel, content) in state {
        match content {
            Some(bytes) => {
                let dst = out.join(&rel);
                if let Some(parent) = dst.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| BuildError::io(parent, e))?;
                }
                std::fs::write(&dst, &bytes).map_err(|e| BuildError::io(&dst, e))?;
                // Keep the original's permissions (scripts stay executable).
                if let Ok(m) = std::fs::metadata(orig.join(&rel)) {
                    let _ = std::fs::set_permissions(&dst, m.permissions());
                }
                applied.written.push(rel);
            }
            None => {
                if orig.join(&rel).exists() {
                    applied.deleted.push(rel);
                }
            }
        }
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIG: &str = "int a;\nint b;\nint c;\nint d;\nint e;\nint f;\nint g;\nint h;\n";

    fn apply(text: &str, patch: &str) -> Result<String, String> {
        let fps = parse(Path::new("fix.patch"), patch.as_bytes()).map_err(|e| e.to_string())?;
        assert_eq!(fps.len(), 1);
        apply_file(Path::new("fix.patch"), &fps[0], text.as_bytes())
            .map(|b| String::from_utf8(b).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn git_format_patch_applies() {
        let patch = "From 1ac5088ca0 Mon Sep 17 00:00:00 2001\n\
From: A Dev <a@example.org>\n\
Subject: [PATCH] fix\n\
\n\
A message with a line\n\
--- that looks like a header but is not followed by +++.\n\
---\n\
 x.c | 2 +-\n\
 1 file changed, 1 insertion(+), 1 deletion(-)\n\
\n\
diff --git a/x.c b/x.c\n\
index 1111111..2222222 100644\n\
--- a/x.c\n\
+++ b/x.c\n\
@@ -2,3 +2,3 @@ int a;\n \
int b;\n\
-int c;\n\
+int c = 1;\n \
int d;\n\
-- \n\
2.39.2\n";
        assert_eq!(
            apply(ORIG, patch).unwrap(),
            ORIG.replace("int c;", "int c = 1;")
        );
    }

    #[test]
    fn plain_diff_u_with_timestamps_and_offsets() {
        // Header says line 5; the lines are at 2 (an offset): applies there.
        let patch = "--- a/x.c\t2024-01-01 00:00:00.000000000 +0000\n\
+++ b/x.c\t2024-01-02 00:00:00.000000000 +0000\n\
@@ -5,2 +5,3 @@\n \
int b;\n\
+int bb;\n \
int c;\n";
        assert_eq!(
            apply(ORIG, patch).unwrap(),
            ORIG.replace("int b;\n", "int b;\nint bb;\n")
        );
    }

    #[test]
    fn several_hunks_and_no_newline_at_end() {
        let orig = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten";
        let patch = "--- a/f\n+++ b/f\n\
@@ -1,2 +1,2 @@\n-one\n+ONE\n two\n\
@@ -9,2 +9,2 @@\n nine\n-ten\n\\ No newline at end of file\n+TEN\n";
        assert_eq!(
            apply(orig, patch).unwrap(),
            "ONE\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nTEN\n"
        );
    }

    #[test]
    fn a_hunk_that_does_not_apply_names_file_and_hunk() {
        let patch = "--- a/x.c\n+++ b/x.c\n\
@@ -1,2 +1,2 @@\n int a;\n-int b;\n+int B;\n\
@@ -6,3 +6,3 @@ static void f(void)\n int f;\n-int gg;\n+int G;\n int h;\n";
        let e = apply(ORIG, patch).unwrap_err();
        assert!(e.starts_with("--patch fix.patch: hunk #2 (`@@ -6,3 +6,3 @@ static void f(void)`) of x.c does not apply: line 7 is `int g;`, the hunk expects `int gg;`"), "{e}");
    }

    #[test]
    fn already_applied_is_refused() {
        let patch = "--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @@\n-int a;\n+int A;\n int b;\n";
        let once = apply(ORIG, patch).unwrap();
        let e = apply(&once, patch).unwrap_err();
        assert!(e.contains("hunk #1"), "{e}");
        assert!(e.contains("already applied"), "{e}");
    }

    #[test]
    fn malformed_and_unsupported_inputs() {
        let e = parse(Path::new("p"), b"just text\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no unified diff"), "{e}");
        let e = parse(
            Path::new("p"),
            b"--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("hunk #1") && e.contains("truncated"), "{e}");
        let e = parse(
            Path::new("p"),
            b"diff --git a/x b/y\nsimilarity index 100%\nrename from x\nrename to y\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("a rename"), "{e}");
        let e = parse(Path::new("p"), b"--- x\n+++ y\n@@ -1 +1 @@\n-a\n+b\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("-p1"), "{e}");
        let e = parse(
            Path::new("p"),
            b"--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("leaves the tree"), "{e}");
        // A mode change alone is nothing to build.
        let fps = parse(
            Path::new("p"),
            b"diff --git a/s b/s\nold mode 100644\nnew mode 100755\n\
diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
        )
        .unwrap();
        assert_eq!(fps.len(), 1);
    }

    #[test]
    fn patches_apply_in_order_new_and_deleted_files() {
        let tmp = tempfile::tempdir().unwrap();
        let orig = tmp.path().join("a");
        std::fs::create_dir_all(orig.join("d")).unwrap();
        std::fs::write(orig.join("d/x.c"), ORIG).unwrap();
        std::fs::write(orig.join("gone.c"), "bye\n").unwrap();
        let p1 = tmp.path().join("1.patch");
        let p2 = tmp.path().join("2.patch");
        std::fs::write(
            &p1,
            "--- a/d/x.c\n+++ b/d/x.c\n@@ -1,2 +1,2 @@\n-int a;\n+int A;\n int b;\n\
--- /dev/null\n+++ b/d/new.h\n@@ -0,0 +1,1 @@\n+#define NEW 1\n\
--- a/gone.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n",
        )
        .unwrap();
        // The second patch sees the first one's result.
        std::fs::write(
            &p2,
            "--- a/d/x.c\n+++ b/d/x.c\n@@ -1,2 +1,2 @@\n-int A;\n+int AA;\n int b;\n",
        )
        .unwrap();
        let out = tmp.path().join("out");
        let got = apply_patches(&orig, &[p1.clone(), p2], &out).unwrap();
        assert_eq!(got.written, ["d/new.h", "d/x.c"]);
        assert_eq!(got.deleted, ["gone.c"]);
        assert_eq!(
            std::fs::read_to_string(out.join("d/x.c")).unwrap(),
            ORIG.replace("int a;", "int AA;")
        );
        assert_eq!(
            std::fs::read_to_string(out.join("d/new.h")).unwrap(),
            "#define NEW 1\n"
        );
        // The original is untouched.
        assert_eq!(std::fs::read_to_string(orig.join("d/x.c")).unwrap(), ORIG);
        // Applying the first patch twice: the second copy fails and names the hunk.
        let e = apply_patches(&orig, &[p1.clone(), p1], &tmp.path().join("o2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("1.patch: "), "{e}");
    }
}
