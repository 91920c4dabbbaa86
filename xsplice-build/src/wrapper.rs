//! The compiler wrapper. A tree's own `make` runs with a directory of shims first in
//! `PATH` (`gcc`, `cc`, … all pointing at the `xsplice-build` executable), so the
//! tree's command lines — and so its own "did the command change" checks — stay
//! exactly what they were. Each shim call injects the builder's flags
//! ([`crate::compiler::inject_flags`]), runs the real compiler (through the configured
//! launcher, if any) and records what it compiled in a log directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compiler::{analyse, inject_flags};

/// Directory where each compile writes its [`CompileRecord`].
pub const ENV_LOG: &str = "XSPLICE_WRAP_LOG";
/// The shim directory (left out when searching `PATH` for the real compiler).
pub const ENV_SHIM: &str = "XSPLICE_WRAP_SHIM";
/// Tree root mapped to `.` in debug info and `__FILE__`.
pub const ENV_ROOT: &str = "XSPLICE_WRAP_ROOT";
/// Launcher words (`ccache`), whitespace separated; empty for none.
pub const ENV_LAUNCHER: &str = "XSPLICE_WRAP_LAUNCHER";

/// One object compiled during a tree build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompileRecord {
    /// Absolute working directory of the compile.
    pub cwd: PathBuf,
    /// Launcher words (may be empty).
    pub launcher: Vec<String>,
    /// The real compiler program that ran.
    pub compiler: PathBuf,
    /// The arguments as the tree's build gave them (before injection).
    pub args: Vec<String>,
    /// The source file, as written in `args`.
    pub source: String,
    /// The object file, as written in `args`.
    pub output: String,
}

/// The wrapper's settings, passed through the environment of `make`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrapperEnv {
    pub log_dir: PathBuf,
    pub shim_dir: PathBuf,
    pub root: PathBuf,
    pub launcher: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    #[error("compiler wrapper: cannot find `{name}` in PATH (outside {shim})")]
    NotFound { name: String, shim: PathBuf },
    #[error("compiler wrapper: cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("compiler wrapper: cannot write record in {dir}: {source}")]
    Record {
        dir: PathBuf,
        source: std::io::Error,
    },
}

impl WrapperEnv {
    /// Reads the settings from the process environment; `None` when not wrapping.
    pub fn from_env() -> Option<WrapperEnv> {
        let log_dir = std::env::var_os(ENV_LOG)?;
        let shim_dir = std::env::var_os(ENV_SHIM)?;
        let root = std::env::var_os(ENV_ROOT)?;
        let launcher = std::env::var(ENV_LAUNCHER)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        Some(WrapperEnv {
            log_dir: log_dir.into(),
            shim_dir: shim_dir.into(),
            root: root.into(),
            launcher,
        })
    }

    /// The variables to set for a child process so its compiler calls are wrapped.
    pub fn vars(&self) -> Vec<(String, OsString)> {
        vec![
            (ENV_LOG.to_string(), self.log_dir.clone().into_os_string()),
            (ENV_SHIM.to_string(), self.shim_dir.clone().into_os_string()),
            (ENV_ROOT.to_string(), self.root.clone().into_os_string()),
            (ENV_LAUNCHER.to_string(), self.launcher.join(" ").into()),
        ]
    }
}

/// Whether an executable started as `argv0` is a compiler shim rather than the tool.
pub fn is_shim_invocation(argv0: &str) -> bool {
    let name = Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    !name.starts_with("xsplice-build") && std::env::var_os(ENV_LOG).is_some()
}

/// Set in the environment of the compiler the wrapper starts: a shim started with it
/// was reached again from inside that compiler (a launcher searching `PATH`) and
/// only passes the call through.
pub const ENV_ACTIVE: &str = "XSPLICE_WRAP_ACTIVE";

/// The real compiler for a shim name, and the launcher found in its place in `PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealCompiler {
    pub compiler: PathBuf,
    /// A launcher that masquerades as the compiler earlier in `PATH` (Debian's
    /// `/usr/lib/ccache/gcc` → `ccache`); run it with the compiler's absolute path.
    pub masquerade: Option<PathBuf>,
}

fn is_launcher(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| crate::compiler::LAUNCHERS.contains(&n))
}

/// Finds the program `name` in `path`, skipping the shim directory, anything that
/// resolves to the wrapper itself, and launchers masquerading as compilers (the
/// first of which is returned alongside, to be run as the launcher).
pub fn find_real_compiler(name: &str, path: &OsString, env: &WrapperEnv) -> Option<RealCompiler> {
    if name.contains('/') {
        return Some(RealCompiler {
            compiler: PathBuf::from(name),
            masquerade: None,
        });
    }
    let shim = std::fs::canonicalize(&env.shim_dir).unwrap_or_else(|_| env.shim_dir.clone());
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok());
    let mut masquerade = None;
    for dir in std::env::split_paths(path) {
        let canon = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if canon == shim {
            continue;
        }
        let candidate = dir.join(name);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let resolved = std::fs::canonicalize(&candidate).ok();
        if me.is_some() && resolved == me {
            continue;
        }
        if let Some(r) = resolved.filter(|r| is_launcher(r)) {
            masquerade.get_or_insert(r);
            continue;
        }
        return Some(RealCompiler {
            compiler: candidate,
            masquerade,
        });
    }
    None
}

/// Runs one wrapped compiler call and returns its exit code.
pub fn run(argv0: &str, args: Vec<String>, env: &WrapperEnv) -> Result<i32, WrapError> {
    let name = Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(argv0)
        .to_string();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = find_real_compiler(&name, &path, env).ok_or_else(|| WrapError::NotFound {
        name: name.clone(),
        shim: env.shim_dir.clone(),
    })?;
    let real = found.compiler;
    let nested = std::env::var_os(ENV_ACTIVE).is_some();
    let launcher: Vec<String> = if nested {
        Vec::new()
    } else if !env.launcher.is_empty() {
        env.launcher.clone()
    } else {
        found
            .masquerade
            .map(|m| vec![m.display().to_string()])
            .unwrap_or_default()
    };
    let final_args = if nested {
        args.clone()
    } else {
        inject_flags(&args, &env.root)
    };
    let mut cmd = match launcher.split_first() {
        Some((l, rest)) => {
            let mut c = Command::new(l);
            c.args(rest).arg(&real);
            c
        }
        None => Command::new(&real),
    };
    cmd.args(&final_args).env(ENV_ACTIVE, "1");
    let status = cmd.status().map_err(|source| WrapError::Spawn {
        program: launcher
            .first()
            .cloned()
            .unwrap_or_else(|| real.display().to_string()),
        source,
    })?;
    let code = status.code().unwrap_or(1);
    if code == 0 && !nested {
        let inv = analyse(&args);
        if let (true, Some(source), Some(output)) = (inv.compiles, inv.source, inv.output) {
            if output != "/dev/null" {
                let cwd = std::env::current_dir().map_err(|source| WrapError::Record {
                    dir: env.log_dir.clone(),
                    source,
                })?;
                let record = CompileRecord {
                    cwd,
                    launcher,
                    compiler: real,
                    args,
                    source,
                    output,
                };
                write_record(&env.log_dir, &record)?;
            }
        }
    }
    Ok(code)
}

/// Writes a record under a name derived from its object path (a recompile of the same
/// object replaces the earlier record), atomically.
fn write_record(dir: &Path, record: &CompileRecord) -> Result<(), WrapError> {
    let mut h = Sha256::new();
    h.update(record.cwd.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(record.output.as_bytes());
    let name = hex::encode(&h.finalize()[..16]);
    let err = |source| WrapError::Record {
        dir: dir.to_path_buf(),
        source,
    };
    let json = serde_json::to_vec(record).map_err(|e| err(std::io::Error::other(e)))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, json).map_err(err)?;
    std::fs::rename(&tmp, dir.join(format!("{name}.json"))).map_err(err)?;
    Ok(())
}

/// Reads every record of a log directory, sorted by working directory then output.
pub fn read_records(dir: &Path) -> Result<Vec<CompileRecord>, crate::BuildError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| crate::BuildError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| crate::BuildError::io(dir, e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| crate::BuildError::io(&path, e))?;
        let record: CompileRecord =
            serde_json::from_slice(&bytes).map_err(|e| crate::BuildError::Record {
                path: path.clone(),
                why: e.to_string(),
            })?;
        out.push(record);
    }
    out.sort_by(|a, b| (&a.cwd, &a.output).cmp(&(&b.cwd, &b.output)));
    Ok(out)
}
