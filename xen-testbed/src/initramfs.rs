//! The dom0 initramfs: busybox, `/init`, the Xen driver modules, `xen-livepatch` with
//! every shared library it needs, the caller's files and script.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result, cpio, elf, io_err};

/// Where the test bed's own pieces live inside the initramfs.
pub const MODULE_DIR: &str = "/lib/modules/xtb";
pub const LIB_DIR: &str = "/lib/x86_64-linux-gnu";
pub const SCRIPT: &str = "/xtb/script.sh";
pub const HELPERS: &str = "/xtb/lib.sh";

#[derive(Clone)]
enum Node {
    Dir,
    File { perm: u32, data: Vec<u8> },
    Symlink(String),
    CharDevice { major: u32, minor: u32 },
}

/// Files by absolute path; parents are created as directories when the archive is
/// written, and a later insertion at the same path replaces the earlier one.
#[derive(Default)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    pub fn dir(&mut self, path: &str) {
        self.nodes.insert(path.to_owned(), Node::Dir);
    }

    pub fn file(&mut self, path: &str, perm: u32, data: Vec<u8>) {
        self.nodes
            .insert(path.to_owned(), Node::File { perm, data });
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.nodes
            .insert(path.to_owned(), Node::Symlink(target.to_owned()));
    }

    pub fn char_device(&mut self, path: &str, major: u32, minor: u32) {
        self.nodes
            .insert(path.to_owned(), Node::CharDevice { major, minor });
    }

    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    pub fn to_cpio(&self) -> Vec<u8> {
        let mut all = self.nodes.clone();
        for path in self.nodes.keys() {
            let mut p = Path::new(path);
            while let Some(parent) = p.parent() {
                if parent == Path::new("/") {
                    break;
                }
                all.entry(parent.to_string_lossy().into_owned())
                    .or_insert(Node::Dir);
                p = parent;
            }
        }
        let mut w = cpio::Writer::new();
        // Sorted by path, so every directory comes before what it contains.
        for (path, node) in &all {
            match node {
                Node::Dir => w.dir(path, 0o755),
                Node::File { perm, data } => w.file(path, *perm, data),
                Node::Symlink(target) => w.symlink(path, target),
                Node::CharDevice { major, minor } => w.char_device(path, 0o600, *major, *minor),
            }
        }
        w.finish()
    }
}

/// Checks a caller-chosen destination: `/` followed by non-empty components, none of
/// them `.` or `..`, no NUL (so the string is the path's one spelling).
pub fn check_dest(path: &str) -> Result<()> {
    let ok = path.strip_prefix('/').is_some_and(|rest| {
        rest.split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
            && !rest.contains('\0')
    });
    if ok {
        Ok(())
    } else {
        Err(Error::BadDestination(path.to_owned()))
    }
}

/// Resolves `path` inside an unpacked package `root`, following symbolic links the way
/// they would resolve on the installed system (absolute targets start at `root`).
pub fn resolve_in(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut current = path.strip_prefix("/").unwrap_or(path).to_path_buf();
    for _ in 0..40 {
        let full = root.join(&current);
        let meta = fs::symlink_metadata(&full).ok()?;
        if !meta.file_type().is_symlink() {
            return Some(full);
        }
        let target = fs::read_link(&full).ok()?;
        current = if target.is_absolute() {
            target.strip_prefix("/").ok()?.to_path_buf()
        } else {
            current.parent().unwrap_or(Path::new("")).join(target)
        };
        current = normalize(&current)?;
    }
    None
}

fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir => {}
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Finds shared libraries by file name: the unpacked packages' library directories
/// first, then the host's (Debian's multiarch directories).
pub struct LibrarySearch {
    /// (root to resolve symlinks in, directory relative to it)
    dirs: Vec<(PathBuf, PathBuf)>,
}

impl LibrarySearch {
    pub fn new(package_roots: &[PathBuf]) -> Self {
        let rel = [
            "usr/lib/x86_64-linux-gnu",
            "lib/x86_64-linux-gnu",
            "usr/lib64",
            "lib64",
            "usr/lib",
            "lib",
        ];
        let mut dirs = Vec::new();
        for root in package_roots {
            for r in rel {
                dirs.push((root.clone(), PathBuf::from(r)));
            }
        }
        for r in rel {
            dirs.push((PathBuf::from("/"), PathBuf::from(r)));
        }
        Self { dirs }
    }

    fn find(&self, name: &str) -> Option<PathBuf> {
        self.dirs.iter().find_map(|(root, dir)| {
            let found = resolve_in(root, &dir.join(name))?;
            found.is_file().then_some(found)
        })
    }

    /// Adds the interpreter and the transitive `DT_NEEDED` closure of `bytes` to `tree`
    /// (libraries under [`LIB_DIR`], the interpreter at its own path). Not an ELF
    /// file or a static one: nothing to add.
    pub fn add_dependencies(&self, tree: &mut Tree, what: &str, bytes: &[u8]) -> Result<()> {
        let Some(first) = elf::dynamic(bytes) else {
            return Ok(());
        };
        if let Some(interp) = &first.interpreter
            && !tree.contains(interp)
        {
            let host = resolve_in(Path::new("/"), Path::new(interp))
                .filter(|p| p.is_file())
                .ok_or_else(|| Error::MissingLibrary {
                    name: interp.clone(),
                    needed_by: what.to_owned(),
                })?;
            tree.file(interp, 0o755, fs::read(&host).map_err(io_err(&host))?);
        }
        let mut seen = BTreeSet::new();
        let mut queue: Vec<(String, String)> = first
            .needed
            .into_iter()
            .map(|n| (n, what.to_owned()))
            .collect();
        while let Some((name, needed_by)) = queue.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let dest = format!("{LIB_DIR}/{name}");
            let path = self.find(&name).ok_or_else(|| Error::MissingLibrary {
                name: name.clone(),
                needed_by: needed_by.clone(),
            })?;
            let data = fs::read(&path).map_err(io_err(&path))?;
            if let Some(dynamic) = elf::dynamic(&data) {
                queue.extend(dynamic.needed.into_iter().map(|n| (n, name.clone())));
            }
            if !tree.contains(&dest) {
                tree.file(&dest, 0o755, data);
            }
        }
        Ok(())
    }
}

/// Kernel modules of the dom0 kernel by module name (`-` and `_` are the same).
pub struct Modules {
    by_name: BTreeMap<String, PathBuf>,
}

fn module_key(name: &str) -> String {
    name.replace('-', "_")
}

impl Modules {
    /// Indexes every `*.ko`, `*.ko.xz`, `*.ko.zst` below `dir`.
    pub fn scan(dir: &Path) -> Result<Self> {
        let mut by_name = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).map_err(io_err(&d))? {
                let path = entry.map_err(io_err(&d))?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let file = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let stem = [".ko", ".ko.xz", ".ko.zst"]
                    .iter()
                    .find_map(|ext| file.strip_suffix(ext));
                if let Some(stem) = stem {
                    by_name.insert(module_key(stem), path);
                }
            }
        }
        Ok(Self { by_name })
    }

    /// The uncompressed bytes of module `name`.
    fn read(&self, name: &str) -> Result<Vec<u8>> {
        let path = self
            .by_name
            .get(&module_key(name))
            .ok_or_else(|| Error::MissingModule(name.to_owned()))?;
        let name = path.to_string_lossy();
        let tool = if name.ends_with(".xz") {
            "xz"
        } else if name.ends_with(".zst") {
            "zstd"
        } else {
            return fs::read(path).map_err(io_err(path));
        };
        crate::decompress(tool, path)
    }

    /// Adds `wanted` and everything they depend on to `tree` under [`MODULE_DIR`] and
    /// returns the module names in load order (dependencies first).
    pub fn add(&self, tree: &mut Tree, wanted: &[String]) -> Result<Vec<String>> {
        fn visit(
            m: &Modules,
            name: &str,
            tree: &mut Tree,
            order: &mut Vec<String>,
            active: &mut BTreeSet<String>,
        ) -> Result<()> {
            let key = module_key(name);
            if order.contains(&key) || !active.insert(key.clone()) {
                return Ok(());
            }
            let data = m.read(name)?;
            for dep in elf::module_depends(&data).unwrap_or_default() {
                visit(m, &dep, tree, order, active)?;
            }
            tree.file(&format!("{MODULE_DIR}/{key}.ko"), 0o644, data);
            order.push(key);
            Ok(())
        }
        let mut order = Vec::new();
        let mut active = BTreeSet::new();
        for name in wanted {
            visit(self, name, tree, &mut order, &mut active)?;
        }
        Ok(order)
    }
}

/// Shell helpers the caller's script can use (sourced before it runs).
///
/// `xtb_run CMD` evaluates CMD in a subshell with stdin from /dev/null and stdout and
/// stderr captured to files, then prints, each on its own line:
/// `@@XTB RUN n <CMD on one line>` (before running it: the console lines that follow,
/// up to BEGIN, were printed while it ran), `@@XTB BEGIN n`, its stdout, an empty
/// line, `@@XTB STDERR n`, its stderr, an empty line, `@@XTB END n rc=<exit code>`.
/// It returns the command's exit code.
pub const HELPERS_SH: &str = r#"xtb_n=0
xtb_run() {
    xtb_n=$((xtb_n + 1))
    printf '@@XTB RUN %d %s\n' "$xtb_n" "$(printf '%s' "$1" | tr '\n' ' ')"
    ( eval "$1" ) </dev/null >/tmp/.xtb-stdout 2>/tmp/.xtb-stderr
    xtb_rc=$?
    echo "@@XTB BEGIN $xtb_n"
    cat /tmp/.xtb-stdout
    echo
    echo "@@XTB STDERR $xtb_n"
    cat /tmp/.xtb-stderr
    echo
    echo "@@XTB END $xtb_n rc=$xtb_rc"
    rm -f /tmp/.xtb-stdout /tmp/.xtb-stderr
    return $xtb_rc
}
"#;

/// `/init`: mounts, busybox applets, modules, xenfs; dom0's console then shows only
/// kernel messages of level warning and above (no informational lines among the
/// script's output); then the caller's script in a subshell, `@@XTB DONE rc=N` and
/// power-off.
pub fn init_script(modules: &[String], extra_path: &str) -> String {
    let mut s = String::from("#!/bin/busybox sh\n");
    s.push_str(
        "/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s
",
    );
    s.push_str(&format!(
        "export PATH=/usr/sbin:/usr/bin:/sbin:/bin:{extra_path}\nexport LD_LIBRARY_PATH={LIB_DIR}\n"
    ));
    s.push_str("export HOME=/root TERM=dumb\nmkdir -p /tmp /run /root /dev/pts\n");
    for m in modules {
        s.push_str(&format!(
            "insmod {MODULE_DIR}/{m}.ko || echo \"@@XTB SETUP-FAILED insmod {m}\"\n"
        ));
    }
    s.push_str(&format!(
        "mount -t xenfs xenfs /proc/xen || echo \"@@XTB SETUP-FAILED mount xenfs\"
echo 5 > /proc/sys/kernel/printk
echo \"@@XTB READY\"
( cd /; . {HELPERS}; . {SCRIPT} )
echo \"@@XTB DONE rc=$?\"
sync
poweroff -f
while :; do sleep 1; done
"
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        for ok in ["/a", "/tmp/payload.livepatch", "/usr/bin/x"] {
            check_dest(ok).unwrap();
        }
        for bad in [
            "", "/", "a/b", "/a/../b", "/a/./b", "/a\0", "//a", "/a/", "/a//b",
        ] {
            assert!(check_dest(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parents_are_created_once() {
        let mut t = Tree::default();
        t.file("/a/b/c", 0o644, b"x".to_vec());
        t.dir("/a");
        t.symlink("/a/l", "b/c");
        let bytes = t.to_cpio();
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches("a/b\0").count(), 1);
        assert!(text.find("a/b\0").unwrap() < text.find("a/b/c\0").unwrap());
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        fs::write(root.join("usr/lib/libx.so.1.0"), b"x").unwrap();
        std::os::unix::fs::symlink("libx.so.1.0", root.join("usr/lib/libx.so.1")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/libx.so.1", root.join("usr/lib/abs")).unwrap();
        std::os::unix::fs::symlink("../usr/lib/abs", root.join("usr/rel")).unwrap();
        let want = Some(root.join("usr/lib/libx.so.1.0"));
        assert_eq!(resolve_in(root, Path::new("/usr/lib/libx.so.1")), want);
        assert_eq!(resolve_in(root, Path::new("usr/lib/abs")), want);
        assert_eq!(resolve_in(root, Path::new("usr/rel")), want);
        assert_eq!(resolve_in(root, Path::new("usr/none")), None);
    }
}
