//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSection};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn example_src() -> PathBuf {
    repo_root().join("examples/hypervisor")
}

pub fn patch_file(name: &str) -> PathBuf {
    repo_root()
        .join("examples/patches")
        .join(format!("{name}.patch"))
}

/// Copies the source files of a directory (no build products).
pub fn copy_sources(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_sources(&p, &dst.join(&name));
        } else if !(name.ends_with(".o") || name.ends_with(".d") || name == "hv-syms") {
            std::fs::copy(&p, dst.join(&name)).unwrap();
        }
    }
}

pub fn apply_patch(dir: &Path, patch: &Path) {
    let st = Command::new("git")
        .args(["apply", "-p1", "--unsafe-paths"])
        .arg(patch)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "applying {}", patch.display());
}

pub fn run_make(dir: &Path, args: &[&str]) {
    let out = Command::new("make")
        .args(args)
        .current_dir(dir)
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file of a tree with its content and modification time.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    let mut m = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, m: &mut BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, m);
            } else {
                let meta = std::fs::metadata(&p).unwrap();
                m.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    (std::fs::read(&p).unwrap(), meta.modified().unwrap()),
                );
            }
        }
    }
    walk(root, root, &mut m);
    m
}

/// Names of the sections of an ELF object.
pub fn section_names(obj: &[u8]) -> Vec<String> {
    let f = object::File::parse(obj).unwrap();
    f.sections()
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect()
}

/// Bytes of one section of an ELF object.
pub fn section_bytes(obj: &[u8], name: &str) -> Option<Vec<u8>> {
    let f = object::File::parse(obj).unwrap();
    let s = f.section_by_name(name)?;
    Some(s.data().unwrap().to_vec())
}

pub fn wrapper_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xsplice-build"))
}

/// A launcher script named `ccache` that logs each call's arguments to `log` and
/// runs the rest.
pub fn fake_launcher(dir: &Path, log: &Path) -> PathBuf {
    let dir = dir.join("launcher-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("ccache");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}
