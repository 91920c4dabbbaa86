//! Inputs given as files: C sources (compiled here with `CC`/`CFLAGS`) and objects.
//!
//! Files of the original and patched lists are paired by file name; when each list
//! holds one file they are paired whatever their names, and the patched one is
//! compiled under the original's name (so `__FILE__` and the object's file symbol
//! match the original build).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rayon::prelude::*;
use serde::Serialize;

use crate::compiler::{CompilerSpec, inject_flags};
use crate::progress::Progress;
use crate::{BuildError, ObjectPair};

/// What a file input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    CSource,
    Object,
}

/// Classifies a file input by its name.
pub fn file_kind(path: &Path) -> Result<FileKind, BuildError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("c") => Ok(FileKind::CSource),
        Some("o") => Ok(FileKind::Object),
        _ => Err(BuildError::Input {
            path: path.to_path_buf(),
            why: "expected a directory, a C file (.c) or an object file (.o)".to_string(),
        }),
    }
}

/// One pairing of the two lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePair {
    /// The name the pair is compiled and reported under (the original's file name).
    pub name: String,
    pub orig: Option<PathBuf>,
    pub patched: Option<PathBuf>,
}

fn file_name(p: &Path) -> Result<String, BuildError> {
    p.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| BuildError::Input {
            path: p.to_path_buf(),
            why: "has no usable file name".to_string(),
        })
}

/// Pairs the lists by file name (or the single files of each).
pub fn pair_files(orig: &[PathBuf], patched: &[PathBuf]) -> Result<Vec<FilePair>, BuildError> {
    if orig.len() == 1 && patched.len() == 1 {
        return Ok(vec![FilePair {
            name: file_name(&orig[0])?,
            orig: Some(orig[0].clone()),
            patched: Some(patched[0].clone()),
        }]);
    }
    let mut map: BTreeMap<String, FilePair> = BTreeMap::new();
    for (list, is_orig) in [(orig, true), (patched, false)] {
        for p in list {
            let name = file_name(p)?;
            let e = map.entry(name.clone()).or_insert_with(|| FilePair {
                name: name.clone(),
                orig: None,
                patched: None,
            });
            let slot = if is_orig { &mut e.orig } else { &mut e.patched };
            if let Some(prev) = slot {
                return Err(BuildError::Input {
                    path: p.clone(),
                    why: format!(
                        "same file name as {} in the same list; files are paired by name",
                        prev.display()
                    ),
                });
            }
            *slot = Some(p.clone());
        }
    }
    for pair in map.values() {
        if let (Some(o), Some(p)) = (&pair.orig, &pair.patched) {
            if file_kind(o)? != file_kind(p)? {
                return Err(BuildError::Input {
                    path: p.clone(),
                    why: format!(
                        "is paired with {} but is not the same kind of file",
                        o.display()
                    ),
                });
            }
        }
    }
    Ok(map.into_values().collect())
}

/// Compiles or reads both sides of every pair.
pub fn collect_files(
    orig: &[PathBuf],
    patched: &[PathBuf],
    compiler: &CompilerSpec,
    cflags: &[String],
    work: &Path,
    progress: &dyn Progress,
) -> Result<Vec<ObjectPair>, BuildError> {
    for p in orig.iter().chain(patched) {
        file_kind(p)?;
        if !p.is_file() {
            return Err(BuildError::Input {
                path: p.clone(),
                why: "no such file".to_string(),
            });
        }
    }
    let pairs = pair_files(orig, patched)?;
    progress.phase("compile", pairs.len() as u64 * 2);
    let out: Result<Vec<ObjectPair>, BuildError> = pairs
        .par_iter()
        .map(|fp| {
            let side = |src: &Option<PathBuf>, dir: &str| -> Result<Option<Vec<u8>>, BuildError> {
                let r = match src {
                    None => None,
                    Some(p) => Some(object_bytes(
                        p,
                        &fp.name,
                        compiler,
                        cflags,
                        &work.join(dir),
                    )?),
                };
                progress.advance(1);
                Ok(r)
            };
            let stem = Path::new(&fp.name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(ObjectPair {
                name: format!("{stem}.o"),
                orig: side(&fp.orig, "orig")?,
                patched: side(&fp.patched, "patched")?,
            })
        })
        .collect();
    progress.finish();
    out
}

/// The object for one input: read it, or compile it as `name` into `out_dir`.
fn object_bytes(
    path: &Path,
    name: &str,
    compiler: &CompilerSpec,
    cflags: &[String],
    out_dir: &Path,
) -> Result<Vec<u8>, BuildError> {
    if file_kind(path)? == FileKind::Object {
        return std::fs::read(path).map_err(|e| BuildError::io(path, e));
    }
    let abs = crate::tree::absolute(path)?;
    let src_dir = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
    std::fs::create_dir_all(out_dir).map_err(|e| BuildError::io(out_dir, e))?;
    let stem = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let obj = out_dir.join(format!("{stem}.o"));
    // Compile under the pair's name: copy the source when its own name differs.
    let (cwd, extra) = if abs.file_name().and_then(|n| n.to_str()) == Some(name) {
        (src_dir, Vec::new())
    } else {
        let dir = out_dir.join("src");
        std::fs::create_dir_all(&dir).map_err(|e| BuildError::io(&dir, e))?;
        let copy = dir.join(name);
        std::fs::copy(&abs, &copy).map_err(|e| BuildError::io(&copy, e))?;
        (
            dir,
            vec!["-iquote".to_string(), src_dir.display().to_string()],
        )
    };
    let mut args: Vec<String> = cflags.to_vec();
    args.extend(extra);
    args.extend([
        "-c".to_string(),
        name.to_string(),
        "-o".to_string(),
        obj.display().to_string(),
    ]);
    let argv = compiler.argv();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .args(inject_flags(&args, &cwd))
        .current_dir(&cwd)
        .stdin(Stdio::null());
    let out = cmd.output().map_err(|source| BuildError::Spawn {
        program: argv[0].clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(BuildError::Compile {
            side: if out_dir.ends_with("orig") {
                "original"
            } else {
                "patched"
            },
            source_file: path.display().to_string(),
            dir: cwd,
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    std::fs::read(&obj).map_err(|e| BuildError::io(&obj, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn single_files_pair_whatever_their_names() {
        let v = pair_files(&[p("a/x.c")], &[p("b/y.c")]).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].name, "x.c");
    }

    #[test]
    fn lists_pair_by_name() {
        let v = pair_files(&[p("a/x.c"), p("a/y.c")], &[p("b/y.c"), p("b/z.c")]).unwrap();
        let names: Vec<_> = v
            .iter()
            .map(|f| (f.name.as_str(), f.orig.is_some(), f.patched.is_some()))
            .collect();
        assert_eq!(
            names,
            [
                ("x.c", true, false),
                ("y.c", true, true),
                ("z.c", false, true)
            ]
        );
    }

    #[test]
    fn duplicate_names_and_mixed_kinds_are_errors() {
        let e = pair_files(&[p("a/x.c"), p("b/x.c")], &[p("c/x.c"), p("c/w.c")]).unwrap_err();
        assert!(e.to_string().contains("b/x.c"), "{e}");
        let e = pair_files(&[p("a/x.c"), p("a/w.c")], &[p("b/x.o"), p("b/w.c")]);
        assert!(e.is_ok(), "different names x.c/x.o do not pair");
        let e = file_kind(&p("a/x.h")).unwrap_err().to_string();
        assert!(e.starts_with("input a/x.h: expected a directory"), "{e}");
    }
}
