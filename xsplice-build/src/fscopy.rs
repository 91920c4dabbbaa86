//! Copies of source trees and the difference between two trees.
//!
//! Copies keep modification times (so `make` in the copy sees what was up to date in
//! the original as still up to date), keep symbolic links (absolute links into the
//! tree are retargeted into the copy) and rewrite the tree's root path inside
//! dependency files (`*.d`, `.*.cmd`), so the copy's `make` tracks the copy's headers
//! and never the original's. Version-control directories are never copied.

use std::fs::{File, FileTimes};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rayon::prelude::*;

use crate::BuildError;
use crate::progress::Progress;

/// Directory names never copied nor compared.
pub const SKIPPED_DIRS: &[&str] = &[".git", ".hg", ".svn"];

/// A file marking the builder's own scratch and cache directories: a directory
/// holding it is never copied nor compared, wherever it is.
pub const SCRATCH_MARKER: &str = ".xsplice-build-scratch";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    Dir,
    File,
    Symlink,
}

/// One entry of a tree, relative to its root.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TreeEntry {
    pub rel: PathBuf,
    pub kind: EntryKind,
}

/// Whether a file is one of the dependency files build systems write (gcc's `.d`,
/// Kbuild's `.*.cmd`); these may hold absolute paths of the tree.
pub fn is_dep_file(rel: &Path) -> bool {
    let Some(name) = rel.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.ends_with(".d") || (name.starts_with('.') && name.ends_with(".cmd"))
}

fn excluded(rel: &Path, exclude: &[String]) -> bool {
    exclude.iter().any(|e| rel.starts_with(e))
}

/// Lists a tree (sorted, parents before children), skipping version-control
/// directories and the `exclude` prefixes (relative paths).
pub fn list_tree(root: &Path, exclude: &[String]) -> Result<Vec<TreeEntry>, BuildError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| BuildError::io(&dir, e))? {
            let entry = entry.map_err(|e| BuildError::io(&dir, e))?;
            names.push(entry.file_name());
        }
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            if name.to_str().is_some_and(|n| SKIPPED_DIRS.contains(&n)) {
                continue;
            }
            let child = rel.join(&name);
            if excluded(&child, exclude) {
                continue;
            }
            let path = root.join(&child);
            let meta = std::fs::symlink_metadata(&path).map_err(|e| BuildError::io(&path, e))?;
            let kind = if meta.file_type().is_symlink() {
                EntryKind::Symlink
            } else if meta.is_dir() {
                if path.join(SCRATCH_MARKER).exists() {
                    continue;
                }
                EntryKind::Dir
            } else if meta.is_file() {
                EntryKind::File
            } else {
                continue; // sockets, fifos: not part of a source tree
            };
            out.push(TreeEntry {
                rel: child.clone(),
                kind,
            });
            if kind == EntryKind::Dir {
                subdirs.push(child);
            }
        }
        // Depth-first, in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}

/// What a copy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
    pub files: u64,
    pub bytes: u64,
    /// The newest modification time of a copied file.
    pub newest: Option<SystemTime>,
}

fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    if from.is_empty() || hay.len() < from.len() {
        return None;
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    let mut found = false;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
            found = true;
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    found.then_some(out)
}

fn set_times(path: &Path, modified: SystemTime, accessed: SystemTime) -> Result<(), BuildError> {
    let f = File::open(path).map_err(|e| BuildError::io(path, e))?;
    f.set_times(
        FileTimes::new()
            .set_modified(modified)
            .set_accessed(accessed),
    )
    .map_err(|e| BuildError::io(path, e))
}

/// Copies one regular file, keeping its times; dependency files get `from_roots`
/// rewritten to `to_root`.
fn copy_file(
    src: &Path,
    dst: &Path,
    rel: &Path,
    from_roots: &[String],
    to_root: &str,
) -> Result<(u64, SystemTime), BuildError> {
    let meta = std::fs::metadata(src).map_err(|e| BuildError::io(src, e))?;
    let mut rewritten = None;
    if is_dep_file(rel) {
        let bytes = std::fs::read(src).map_err(|e| BuildError::io(src, e))?;
        let mut cur: Option<Vec<u8>> = None;
        for from in from_roots {
            let base = cur.as_deref().unwrap_or(&bytes);
            if let Some(r) = replace_bytes(base, from.as_bytes(), to_root.as_bytes()) {
                cur = Some(r);
            }
        }
        rewritten = cur;
    }
    match rewritten {
        Some(bytes) => {
            std::fs::write(dst, bytes).map_err(|e| BuildError::io(dst, e))?;
            std::fs::set_permissions(dst, meta.permissions())
                .map_err(|e| BuildError::io(dst, e))?;
        }
        None => {
            std::fs::copy(src, dst).map_err(|e| BuildError::io(dst, e))?;
        }
    }
    let modified = meta.modified().map_err(|e| BuildError::io(src, e))?;
    let accessed = meta.accessed().unwrap_or(modified);
    set_times(dst, modified, accessed)?;
    Ok((meta.len(), modified))
}

/// The spellings of a root path that may appear inside its files (as given, and
/// with symbolic links resolved).
pub fn root_spellings(root: &Path) -> Vec<String> {
    let mut v = vec![root.display().to_string()];
    if let Ok(c) = std::fs::canonicalize(root) {
        let c = c.display().to_string();
        if !v.contains(&c) {
            v.push(c);
        }
    }
    // Longest first, so a longer spelling is not half-replaced by a shorter one.
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v
}

/// Copies the tree `src` to `dst` (which must not exist), in parallel on the
/// current rayon pool.
pub fn copy_tree(
    src: &Path,
    dst: &Path,
    exclude: &[String],
    progress: &dyn Progress,
) -> Result<CopyStats, BuildError> {
    copy_tree_filtered(src, dst, exclude, &|_| false, progress)
}

/// [`copy_tree`], leaving out the regular files for which `skip` (given the relative
/// path) is true.
pub fn copy_tree_filtered(
    src: &Path,
    dst: &Path,
    exclude: &[String],
    skip: &(dyn Fn(&Path) -> bool + Sync),
    progress: &dyn Progress,
) -> Result<CopyStats, BuildError> {
    if dst.exists() {
        return Err(BuildError::Usage {
            what: format!("{}: copy destination already exists", dst.display()),
        });
    }
    let entries = list_tree(src, exclude)?;
    std::fs::create_dir_all(dst).map_err(|e| BuildError::io(dst, e))?;
    let from_roots = root_spellings(src);
    let to_root = dst.display().to_string();
    let mut files = Vec::new();
    for e in &entries {
        let s = src.join(&e.rel);
        let d = dst.join(&e.rel);
        match e.kind {
            EntryKind::Dir => std::fs::create_dir(&d).map_err(|err| BuildError::io(&d, err))?,
            EntryKind::Symlink => {
                let target = std::fs::read_link(&s).map_err(|err| BuildError::io(&s, err))?;
                let target = retarget(&target, &from_roots, &to_root);
                std::os::unix::fs::symlink(&target, &d).map_err(|err| BuildError::io(&d, err))?;
            }
            EntryKind::File if skip(&e.rel) => {}
            EntryKind::File => files.push(&e.rel),
        }
    }
    progress.phase("copy", files.len() as u64);
    let results: Vec<(u64, SystemTime)> = files
        .par_iter()
        .map(|rel| {
            let r = copy_file(&src.join(rel), &dst.join(rel), rel, &from_roots, &to_root);
            progress.advance(1);
            r
        })
        .collect::<Result<_, _>>()?;
    progress.finish();
    // Directory times last: creating entries changed them.
    for e in entries.iter().rev().filter(|e| e.kind == EntryKind::Dir) {
        let s = src.join(&e.rel);
        if let Ok(m) = std::fs::metadata(&s) {
            if let Ok(t) = m.modified() {
                let _ = set_times(&dst.join(&e.rel), t, m.accessed().unwrap_or(t));
            }
        }
    }
    Ok(CopyStats {
        files: results.len() as u64,
        bytes: results.iter().map(|r| r.0).sum(),
        newest: results.iter().map(|r| r.1).max(),
    })
}

fn retarget(target: &Path, from_roots: &[String], to_root: &str) -> PathBuf {
    if target.is_absolute() {
        for from in from_roots {
            if let Ok(rest) = target.strip_prefix(from) {
                return Path::new(to_root).join(rest);
            }
        }
    }
    target.to_path_buf()
}

/// How a file of the patched tree differs from the original tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum ChangeKind {
    Modified,
    Added,
}

/// A file to carry from the patched tree into the build copy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Change {
    pub rel: PathBuf,
    pub kind: ChangeKind,
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

fn same_content(a: &Path, b: &Path) -> Result<bool, BuildError> {
    let ma = std::fs::metadata(a).map_err(|e| BuildError::io(a, e))?;
    let mb = std::fs::metadata(b).map_err(|e| BuildError::io(b, e))?;
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let x = std::fs::read(a).map_err(|e| BuildError::io(a, e))?;
    let y = std::fs::read(b).map_err(|e| BuildError::io(b, e))?;
    Ok(x == y)
}

/// The files of `patched` that are new or differ from `orig`. Build products are
/// ignored on the patched side (ELF files, dependency files), so `patched` may be a
/// clean checkout or a built tree. Files only in `orig` are not reported: in a built
/// `orig` they are its build products.
pub fn diff_trees(
    orig: &Path,
    patched: &Path,
    exclude: &[String],
) -> Result<Vec<Change>, BuildError> {
    let entries = list_tree(patched, exclude)?;
    let mut changes: Vec<Change> = entries
        .par_iter()
        .filter(|e| e.kind != EntryKind::Dir && !is_dep_file(&e.rel))
        .map(|e| -> Result<Option<Change>, BuildError> {
            let p = patched.join(&e.rel);
            let o = orig.join(&e.rel);
            if e.kind == EntryKind::Symlink {
                let pt = std::fs::read_link(&p).map_err(|err| BuildError::io(&p, err))?;
                return Ok(match std::fs::read_link(&o) {
                    Ok(ot) if ot == pt => None,
                    Ok(_) => Some(Change {
                        rel: e.rel.clone(),
                        kind: ChangeKind::Modified,
                    }),
                    Err(_) if std::fs::symlink_metadata(&o).is_ok() => Some(Change {
                        rel: e.rel.clone(),
                        kind: ChangeKind::Modified,
                    }),
                    Err(_) => Some(Change {
                        rel: e.rel.clone(),
                        kind: ChangeKind::Added,
                    }),
                });
            }
            if is_elf(&p) {
                return Ok(None);
            }
            let om = std::fs::symlink_metadata(&o);
            Ok(match om {
                Ok(m) if m.is_file() => {
                    if same_content(&o, &p)? {
                        None
                    } else {
                        Some(Change {
                            rel: e.rel.clone(),
                            kind: ChangeKind::Modified,
                        })
                    }
                }
                Ok(_) => Some(Change {
                    rel: e.rel.clone(),
                    kind: ChangeKind::Modified,
                }),
                Err(_) => Some(Change {
                    rel: e.rel.clone(),
                    kind: ChangeKind::Added,
                }),
            })
        })
        .filter_map(|r| r.transpose())
        .collect::<Result<_, _>>()?;
    changes.sort();
    Ok(changes)
}

/// Carries `changes` from `patched` into `dst`, giving each carried file a
/// modification time after `newest` (and not before now), so `make` in `dst`
/// rebuilds whatever depends on it.
pub fn apply_changes(
    patched: &Path,
    dst: &Path,
    changes: &[Change],
    newest: Option<SystemTime>,
) -> Result<(), BuildError> {
    let now = SystemTime::now();
    let stamp = match newest {
        Some(n) if n + Duration::from_secs(1) > now => n + Duration::from_secs(1),
        _ => now,
    };
    for c in changes {
        let s = patched.join(&c.rel);
        let d = dst.join(&c.rel);
        if let Some(parent) = d.parent() {
            std::fs::create_dir_all(parent).map_err(|e| BuildError::io(parent, e))?;
        }
        if let Ok(m) = std::fs::symlink_metadata(&d) {
            if m.is_dir() {
                std::fs::remove_dir_all(&d).map_err(|e| BuildError::io(&d, e))?;
            } else {
                std::fs::remove_file(&d).map_err(|e| BuildError::io(&d, e))?;
            }
        }
        let meta = std::fs::symlink_metadata(&s).map_err(|e| BuildError::io(&s, e))?;
        if meta.file_type().is_symlink() {
            let t = std::fs::read_link(&s).map_err(|e| BuildError::io(&s, e))?;
            std::os::unix::fs::symlink(&t, &d).map_err(|e| BuildError::io(&d, e))?;
        } else {
            std::fs::copy(&s, &d).map_err(|e| BuildError::io(&d, e))?;
            set_times(&d, stamp, stamp)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_bytes_replaces_every_occurrence() {
        assert_eq!(
            replace_bytes(b"/a/x /a/y", b"/a", b"/bb").as_deref(),
            Some(&b"/bb/x /bb/y"[..])
        );
        assert_eq!(replace_bytes(b"nothing", b"/a", b"/b"), None);
    }

    #[test]
    fn copy_keeps_times_retargets_links_and_rewrites_dep_files() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir_all(src.join(".git")).unwrap();
        std::fs::write(src.join(".git/HEAD"), "ref").unwrap();
        std::fs::write(src.join("sub/a.c"), "int a;").unwrap();
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        set_times(&src.join("sub/a.c"), old, old).unwrap();
        let dep = format!(
            "sub/a.o: {}/sub/a.c {}/inc/x.h\n",
            src.display(),
            src.display()
        );
        std::fs::write(src.join("sub/a.d"), &dep).unwrap();
        std::os::unix::fs::symlink(src.join("sub"), src.join("abs-link")).unwrap();
        std::os::unix::fs::symlink("sub/a.c", src.join("rel-link")).unwrap();
        std::os::unix::fs::symlink("/usr/include", src.join("outside")).unwrap();
        std::fs::write(src.join("skip-me"), "x").unwrap();

        let dst = tmp.path().join("dst");
        let stats = copy_tree(&src, &dst, &["skip-me".to_string()], &crate::NoProgress).unwrap();
        assert_eq!(stats.files, 2);
        assert!(!dst.join(".git").exists());
        assert!(!dst.join("skip-me").exists());
        let m = std::fs::metadata(dst.join("sub/a.c")).unwrap();
        assert_eq!(m.modified().unwrap(), old);
        assert_eq!(
            std::fs::read_to_string(dst.join("sub/a.d")).unwrap(),
            dep.replace(&src.display().to_string(), &dst.display().to_string())
        );
        assert_eq!(
            std::fs::read_link(dst.join("abs-link")).unwrap(),
            dst.join("sub")
        );
        assert_eq!(
            std::fs::read_link(dst.join("rel-link")).unwrap(),
            Path::new("sub/a.c")
        );
        assert_eq!(
            std::fs::read_link(dst.join("outside")).unwrap(),
            Path::new("/usr/include")
        );
        // The copy is not the original: writing it leaves the original alone.
        std::fs::write(dst.join("sub/a.c"), "int b;").unwrap();
        assert_eq!(
            std::fs::read_to_string(src.join("sub/a.c")).unwrap(),
            "int a;"
        );

        // Differences: modified and added files; ELF and dep files ignored.
        std::fs::write(dst.join("new.h"), "x").unwrap();
        std::fs::write(dst.join("sub/b.o"), b"\x7fELF....").unwrap();
        std::fs::write(dst.join("sub/a.d"), "changed").unwrap();
        let changes = diff_trees(&src, &dst, &[]).unwrap();
        let got: Vec<_> = changes
            .iter()
            .map(|c| (c.rel.display().to_string(), c.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("abs-link".to_string(), ChangeKind::Modified),
                ("new.h".to_string(), ChangeKind::Added),
                ("sub/a.c".to_string(), ChangeKind::Modified),
            ]
        );

        // Carried changes are newer than everything in the copy.
        let newest = SystemTime::now() + Duration::from_secs(100);
        apply_changes(
            &dst,
            &src.with_file_name("carry"),
            &changes[1..],
            Some(newest),
        )
        .unwrap();
        let m = std::fs::metadata(src.with_file_name("carry").join("sub/a.c")).unwrap();
        assert!(m.modified().unwrap() > newest);
    }

    #[test]
    fn dep_files_are_recognised() {
        assert!(is_dep_file(Path::new("common/version.d")));
        assert!(is_dep_file(Path::new("common/.version.o.cmd")));
        assert!(!is_dep_file(Path::new("common/version.c")));
        assert!(!is_dep_file(Path::new("scripts/build.cmd")));
    }
}
