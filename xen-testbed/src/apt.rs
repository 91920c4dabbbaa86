//! Resolving, downloading and unpacking the Debian packages of the test bed without
//! installing them: `apt-cache` for names and candidate versions, `apt-get download`
//! for the `.deb`, `dpkg-deb` (and `tar` for a partial unpack) into a cache directory
//! keyed by package name and version.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Error, Result, io_err};

/// The Xen release whose Debian packages the test bed boots.
pub const XEN_RELEASE: &str = "4.17";

/// One unpacked package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Debian package name, e.g. `xen-hypervisor-4.17-amd64`.
    pub name: String,
    /// The version that was downloaded (the apt candidate when it was prepared).
    pub version: String,
    /// Where its files were unpacked (the package's `/` is this directory).
    pub root: PathBuf,
}

/// Which part of a package to unpack: everything, or only `tar` members matching these
/// wildcards (the kernel package is 400 MB of modules of which we need a handful).
#[derive(Clone, Copy)]
pub(crate) enum Members {
    All,
    Only(&'static [&'static str]),
}

/// The kernel image and the Xen driver modules of the dom0 kernel package.
pub(crate) const KERNEL_MEMBERS: &[&str] =
    &["./boot/vmlinuz-*", "./lib/modules/*/kernel/drivers/xen/*"];

fn run(package: &str, cmd: &mut Command) -> Result<String> {
    let command = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Package {
            package: package.to_owned(),
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Package {
            package: package.to_owned(),
            command,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// `Depends:`/`PreDepends:` of each package in `apt-cache depends` output, by package.
fn parse_depends(text: &str) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    let mut current = None;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.starts_with('|') && !line.trim().is_empty() {
            current = Some(line.trim().to_owned());
            map.entry(line.trim().to_owned()).or_default();
            continue;
        }
        let body = line.trim_start().trim_start_matches('|');
        let dep = body
            .strip_prefix("Depends:")
            .or_else(|| body.strip_prefix("PreDepends:"));
        if let (Some(dep), Some(pkg)) = (dep, &current) {
            let dep = dep.trim();
            if !dep.starts_with('<') {
                map.entry(pkg.clone()).or_default().push(dep.to_owned());
            }
        }
    }
    map
}

/// The names of the packages the test bed needs, resolved through apt's metadata: the
/// hypervisor and its debug symbols, the tools and every `libxen*` library they pull
/// in (transitively), the kernel `linux-image-amd64` currently points at, and busybox.
fn resolve_names() -> Result<Vec<(String, Members)>> {
    let hypervisor = format!("xen-hypervisor-{XEN_RELEASE}-amd64");
    let utils = format!("xen-utils-{XEN_RELEASE}");
    let meta = "linux-image-amd64";
    // One call for the whole closure: apt-cache rebuilds its cache on every call when
    // the package cache file is disabled (Debian's container images), ~1.5 s each.
    let mut cmd = Command::new("apt-cache");
    cmd.args([
        "depends",
        "--recurse",
        "--no-recommends",
        "--no-suggests",
        "--no-conflicts",
    ])
    .args([
        "--no-breaks",
        "--no-replaces",
        "--no-enhances",
        &utils,
        meta,
    ]);
    let deps = parse_depends(&run(&format!("{utils} {meta}"), &mut cmd)?);

    let mut names = vec![
        (hypervisor.clone(), Members::All),
        (format!("{hypervisor}-dbg"), Members::All),
        (utils.clone(), Members::All),
    ];
    let mut libs = BTreeSet::new();
    let mut frontier = vec![utils];
    while let Some(pkg) = frontier.pop() {
        for dep in deps.get(&pkg).into_iter().flatten() {
            if dep.starts_with("libxen") && libs.insert(dep.clone()) {
                frontier.push(dep.clone());
            }
        }
    }
    names.extend(libs.into_iter().map(|l| (l, Members::All)));

    let kernel = deps
        .get(meta)
        .into_iter()
        .flatten()
        .find(|d| d.starts_with("linux-image-"))
        .ok_or_else(|| Error::Package {
            package: meta.to_owned(),
            command: format!("apt-cache depends {meta}"),
            detail: "no linux-image-* dependency (run `apt-get update`?)".into(),
        })?;
    names.push((kernel.clone(), Members::Only(KERNEL_MEMBERS)));
    names.push(("busybox-static".to_owned(), Members::All));
    Ok(names)
}

/// `Candidate:` per package from `apt-cache policy` output.
fn parse_policy(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            current = Some(line.trim_end_matches(':').to_owned());
        } else if let (Some(v), Some(pkg)) =
            (line.trim().strip_prefix("Candidate:"), current.as_ref())
        {
            map.insert(pkg.clone(), v.trim().to_owned());
        }
    }
    map
}

/// The candidate version of each package (what `apt-get install` would pick now).
fn candidates(names: &[String]) -> Result<Vec<String>> {
    let mut cmd = Command::new("apt-cache");
    cmd.arg("policy").args(names);
    let policy = parse_policy(&run(&names.join(" "), &mut cmd)?);
    names
        .iter()
        .map(|name| match policy.get(name).map(String::as_str) {
            Some(v) if !v.is_empty() && v != "(none)" => Ok(v.to_owned()),
            _ => Err(Error::Package {
                package: name.clone(),
                command: format!("apt-cache policy {name}"),
                detail: "no installation candidate (run `apt-get update`?)".into(),
            }),
        })
        .collect()
}

/// What apt would pick now: `(name, candidate version, members)` per package.
///
/// Resolving takes two `apt-cache` calls (~3 s), so the answer is kept in
/// `cache/resolved` together with a fingerprint of apt's inputs (the package lists,
/// dpkg's status, apt's configuration and preferences) and reused while that
/// fingerprint is unchanged: `apt-get update` bringing a newer version changes the
/// lists, and the next preparation resolves again.
pub(crate) fn resolve(cache: &Path) -> Result<Vec<(String, String, Members)>> {
    let file = cache.join("resolved");
    let fingerprint = apt_fingerprint();
    if let Ok(text) = fs::read_to_string(&file)
        && let Some((fp, body)) = text.split_once("\n--\n")
        && fp == fingerprint
        && let Some(found) = parse_resolved(body)
    {
        return Ok(found);
    }
    let names = resolve_names()?;
    let plain: Vec<String> = names.iter().map(|(n, _)| n.clone()).collect();
    let versions = candidates(&plain)?;
    let found: Vec<(String, String, Members)> = names
        .into_iter()
        .zip(versions)
        .map(|((n, m), v)| (n, v, m))
        .collect();
    let mut body = String::new();
    for (n, v, m) in &found {
        let kind = match m {
            Members::All => "all",
            Members::Only(_) => "kernel",
        };
        body.push_str(&format!("{n} {v} {kind}\n"));
    }
    // Best effort: a cache that cannot be written only costs the next preparation time.
    let _ = crate::write_atomic(&file, format!("{fingerprint}\n--\n{body}").as_bytes());
    Ok(found)
}

fn parse_resolved(body: &str) -> Option<Vec<(String, String, Members)>> {
    body.lines()
        .map(|line| {
            let mut w = line.split(' ');
            let (n, v, kind) = (w.next()?, w.next()?, w.next()?);
            let m = match kind {
                "all" => Members::All,
                "kernel" => Members::Only(KERNEL_MEMBERS),
                _ => return None,
            };
            Some((n.to_owned(), v.to_owned(), m))
        })
        .collect::<Option<Vec<_>>>()
        .filter(|v| !v.is_empty())
}

/// Name, size and modification time of everything apt's answer depends on.
fn apt_fingerprint() -> String {
    let mut lines = Vec::new();
    let mut add = |path: &Path| {
        if let Ok(meta) = fs::metadata(path) {
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            lines.push(format!("{} {} {mtime}", path.display(), meta.len()));
        }
    };
    for dir in [
        "/var/lib/apt/lists",
        "/etc/apt/apt.conf.d",
        "/etc/apt/preferences.d",
        "/etc/apt/sources.list.d",
    ] {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries.iter().filter(|e| e.is_file()) {
            add(e);
        }
    }
    for f in [
        "/var/lib/dpkg/status",
        "/etc/apt/sources.list",
        "/etc/apt/preferences",
    ] {
        add(Path::new(f));
    }
    lines.join("\n")
}

/// A directory name for `name` at `version` (the epoch's `:` is not portable).
fn dir_name(name: &str, version: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "+-.~".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("{}_{}", clean(name), clean(version))
}

/// Makes sure every `(name, version, members)` is unpacked under `cache/pkgs/` and
/// returns them. Already unpacked: reused without running anything. The others are
/// downloaded with one `apt-get download` into a fresh directory, unpacked next to
/// their final place and renamed into place, so concurrent and interrupted
/// preparations never leave a partial tree under a final name.
pub(crate) fn ensure_all(
    cache: &Path,
    wanted: &[(String, String, Members)],
) -> Result<Vec<Package>> {
    let pkgs = cache.join("pkgs");
    let packages: Vec<Package> = wanted
        .iter()
        .map(|(name, version, _)| Package {
            name: name.clone(),
            version: version.clone(),
            root: pkgs.join(dir_name(name, version)),
        })
        .collect();
    let missing: Vec<(&Package, Members)> = packages
        .iter()
        .zip(wanted)
        .filter(|(p, _)| !p.root.is_dir())
        .map(|(p, (_, _, m))| (p, *m))
        .collect();
    if missing.is_empty() {
        return Ok(packages);
    }

    fs::create_dir_all(&pkgs).map_err(io_err(&pkgs))?;
    let work = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(&pkgs)
        .map_err(io_err(&pkgs))?;
    let download = work.path().join("deb");
    fs::create_dir(&download).map_err(io_err(&download))?;
    let specs: Vec<String> = missing
        .iter()
        .map(|(p, _)| format!("{}={}", p.name, p.version))
        .collect();
    let names: Vec<&str> = missing.iter().map(|(p, _)| p.name.as_str()).collect();
    run(
        &names.join(" "),
        Command::new("apt-get")
            .args(["download", "-q"])
            .args(&specs)
            .current_dir(&download),
    )?;
    let debs: Vec<PathBuf> = fs::read_dir(&download)
        .map_err(io_err(&download))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();

    for (package, members) in missing {
        let name = &package.name;
        // `NAME_VERSION_ARCH.deb`; package names cannot contain `_`.
        let prefix = format!("{name}_");
        let deb = debs
            .iter()
            .find(|d| {
                d.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with(&prefix))
            })
            .ok_or_else(|| Error::Package {
                package: name.clone(),
                command: format!("apt-get download {name}={}", package.version),
                detail: "no .deb was written".into(),
            })?;
        let tree = work.path().join(format!("tree-{name}"));
        fs::create_dir(&tree).map_err(io_err(&tree))?;
        match members {
            Members::All => {
                run(name, Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree))?;
            }
            Members::Only(patterns) => unpack_some(name, deb, &tree, patterns)?,
        }
        match fs::rename(&tree, &package.root) {
            Ok(()) => {}
            // Someone else finished the same package first: theirs is as good as ours.
            Err(_) if package.root.is_dir() => {}
            Err(e) => {
                return Err(Error::Io {
                    path: package.root.clone(),
                    source: e,
                });
            }
        }
    }
    Ok(packages)
}

/// `dpkg-deb --fsys-tarfile DEB | tar -x -C TREE --wildcards PATTERNS...`
fn unpack_some(name: &str, deb: &Path, tree: &Path, patterns: &[&str]) -> Result<()> {
    let mut dpkg = Command::new("dpkg-deb");
    dpkg.arg("--fsys-tarfile").arg(deb);
    let mut tar = Command::new("tar");
    tar.arg("-x")
        .arg("-C")
        .arg(tree)
        .arg("--wildcards")
        .args(patterns);
    let command = format!("{} | {}", describe(&dpkg), describe(&tar));
    let fail = |detail: String| Error::Package {
        package: name.to_owned(),
        command: command.clone(),
        detail,
    };

    let mut producer = dpkg
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let stdout = producer.stdout.take().expect("piped");
    let consumer = tar
        .stdin(stdout)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let produced = producer
        .wait_with_output()
        .map_err(|e| fail(e.to_string()))?;
    let consumed = consumer.map_err(|e| fail(e.to_string()))?;
    for (what, out) in [("dpkg-deb", &produced), ("tar", &consumed)] {
        if !out.status.success() {
            return Err(fail(format!(
                "{what}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_output() {
        let text = "xen-utils-4.17\n  Depends: libc6\n  Depends: libxenmisc4.17\n |Depends: libxencall1\n  Depends: <python3:any>\n    python3\n  Recommends: libxenfoo\nlibxenmisc4.17\n  PreDepends: libxendevicemodel1\n";
        let map = parse_depends(text);
        assert_eq!(
            map["xen-utils-4.17"],
            ["libc6", "libxenmisc4.17", "libxencall1"]
        );
        assert_eq!(map["libxenmisc4.17"], ["libxendevicemodel1"]);
    }

    #[test]
    fn policy_output() {
        let text = "busybox-static:\n  Installed: (none)\n  Candidate: 1:1.35.0-4+deb12u1+b1\n  Version table:\n     1:1.35.0-4+deb12u1+b1 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\nnothing:\n  Installed: (none)\n  Candidate: (none)\n";
        let map = parse_policy(text);
        assert_eq!(map["busybox-static"], "1:1.35.0-4+deb12u1+b1");
        assert_eq!(map["nothing"], "(none)");
    }

    #[test]
    fn dir_names_are_plain() {
        assert_eq!(
            dir_name("busybox-static", "1:1.35.0-4+deb12u1+b1"),
            "busybox-static_1_1.35.0-4+deb12u1+b1"
        );
    }
}
