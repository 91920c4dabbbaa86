//! Configuration: how to build a tree (`xsplice.toml`) and the plain settings the
//! binary validates its flags into.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::BuildError;
use crate::compiler::CompilerSpec;

/// File name of a tree's build configuration, looked up at the original tree's root.
pub const TREE_CONFIG_FILE: &str = "xsplice.toml";

/// How a make-driven tree is built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TreeConfig {
    /// The build command run at the tree root, as a user would type it
    /// (default `make`; e.g. `make -C xen`).
    pub command: Vec<String>,
    /// Extra arguments appended to the command (e.g. `XEN_TARGET_ARCH=x86_64`).
    pub args: Vec<String>,
    /// Extra environment for the build (e.g. a fixed build date).
    pub env: BTreeMap<String, String>,
    /// Paths (relative to the root) neither copied nor compared (e.g. `tools`).
    pub exclude: Vec<String>,
    /// Compiler program names the build may call (each gets a shim). The configured
    /// compiler's name is always added.
    pub compilers: Vec<String>,
    /// Also pass `CC=<shim>` on the command line, for trees that call the compiler
    /// by absolute path or ignore `PATH`.
    pub pass_cc: bool,
    /// The build command accepts object files as goals (paths relative to the
    /// compiler's working directory, e.g. Xen's `make -C xen common/dm.o`): the
    /// original objects are then rebuilt without relinking the whole tree.
    pub object_goals: bool,
    /// Configuration files (Kconfig `.config`, relative paths) that must hold the
    /// same options in both trees; the patched tree's copy is never carried.
    pub config_files: Vec<String>,
    /// Paths of the patched tree never carried into the build (generated files a
    /// built patched tree holds, such as a header stamped with its build date).
    pub ignore: Vec<String>,
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig {
            command: vec!["make".to_string()],
            args: Vec::new(),
            env: BTreeMap::new(),
            exclude: Vec::new(),
            compilers: vec!["cc".to_string(), "gcc".to_string(), "clang".to_string()],
            pass_cc: false,
            object_goals: false,
            config_files: vec![".config".to_string()],
            ignore: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Words {
    Line(String),
    List(Vec<String>),
}

impl Words {
    fn into_vec(self) -> Vec<String> {
        match self {
            Words::Line(s) => s.split_whitespace().map(str::to_string).collect(),
            Words::List(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRoot {
    build: Option<FileBuild>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBuild {
    command: Option<Words>,
    args: Option<Words>,
    env: Option<BTreeMap<String, String>>,
    exclude: Option<Vec<String>>,
    compilers: Option<Vec<String>>,
    pass_cc: Option<bool>,
    object_goals: Option<bool>,
    config_files: Option<Vec<String>>,
    ignore: Option<Vec<String>>,
    /// `"xen"`, `"none"` or `"auto"` (default: detected from the tree).
    preset: Option<String>,
}

/// Which preset a configuration file asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresetChoice {
    /// Detect from the tree (the default).
    Auto,
    /// No preset: the plain defaults.
    None,
    /// Xen's.
    Xen,
}

/// The configuration in effect and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub tree: TreeConfig,
    /// The preset applied, if any.
    pub preset: Option<crate::preset::PresetInfo>,
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
}

fn relative_list(path: &Path, key: &str, list: &[String]) -> Result<(), BuildError> {
    for p in list {
        if p.is_empty() || Path::new(p).is_absolute() || p.split('/').any(|c| c == "..") {
            return Err(BuildError::Config {
                path: path.to_path_buf(),
                why: format!("build.{key} entry `{p}` must be a relative path inside the tree"),
            });
        }
    }
    Ok(())
}

impl TreeConfig {
    /// Parses `xsplice.toml` text onto the defaults; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<TreeConfig, BuildError> {
        Ok(TreeConfig::parse_onto(TreeConfig::default(), text, path)?.0)
    }

    /// The preset `xsplice.toml` text asks for.
    pub fn preset_in(text: &str, path: &Path) -> Result<PresetChoice, BuildError> {
        let root: FileRoot = toml::from_str(text).map_err(|e| BuildError::Config {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        match root.build.and_then(|b| b.preset).as_deref() {
            None | Some("auto") => Ok(PresetChoice::Auto),
            Some("none") => Ok(PresetChoice::None),
            Some("xen") => Ok(PresetChoice::Xen),
            Some(other) => Err(BuildError::Config {
                path: path.to_path_buf(),
                why: format!("build.preset `{other}`: expected \"xen\", \"none\" or \"auto\""),
            }),
        }
    }

    /// Parses `xsplice.toml` text, each key given replacing the one of `base` (a
    /// preset or the defaults). Also returns the names of the keys given.
    pub fn parse_onto(
        base: TreeConfig,
        text: &str,
        path: &Path,
    ) -> Result<(TreeConfig, Vec<&'static str>), BuildError> {
        let root: FileRoot = toml::from_str(text).map_err(|e| BuildError::Config {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        let mut cfg = base;
        let mut given = Vec::new();
        let Some(b) = root.build else {
            return Ok((cfg, given));
        };
        if let Some(c) = b.command {
            given.push("command");
            cfg.command = c.into_vec();
            if cfg.command.is_empty() {
                return Err(BuildError::Config {
                    path: path.to_path_buf(),
                    why: "build.command is empty".to_string(),
                });
            }
        }
        if let Some(a) = b.args {
            given.push("args");
            cfg.args = a.into_vec();
        }
        if let Some(e) = b.env {
            given.push("env");
            cfg.env = e;
        }
        if let Some(x) = b.exclude {
            given.push("exclude");
            relative_list(path, "exclude", &x)?;
            cfg.exclude = x;
        }
        if let Some(c) = b.compilers {
            given.push("compilers");
            cfg.compilers = c;
        }
        if let Some(p) = b.pass_cc {
            given.push("pass_cc");
            cfg.pass_cc = p;
        }
        if let Some(g) = b.object_goals {
            given.push("object_goals");
            cfg.object_goals = g;
        }
        if let Some(c) = b.config_files {
            given.push("config_files");
            relative_list(path, "config_files", &c)?;
            cfg.config_files = c;
        }
        if let Some(i) = b.ignore {
            given.push("ignore");
            relative_list(path, "ignore", &i)?;
            cfg.ignore = i;
        }
        Ok((cfg, given))
    }

    /// The configuration in effect for the original tree at `root`: the preset (the
    /// one `build.preset` names, else the one detected), then every key of the
    /// configuration file (`file`, else `xsplice.toml` at `root` when present).
    pub fn resolve(file: Option<&Path>, root: &Path) -> Result<Resolved, BuildError> {
        let path = match file {
            Some(f) => Some(f.to_path_buf()),
            None => Some(root.join(TREE_CONFIG_FILE)).filter(|p| p.exists()),
        };
        let text = match &path {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| BuildError::io(p, e))?),
            None => None,
        };
        let choice = match (&text, &path) {
            (Some(t), Some(p)) => TreeConfig::preset_in(t, p)?,
            _ => PresetChoice::Auto,
        };
        let preset = match choice {
            PresetChoice::None => None,
            PresetChoice::Xen => Some(crate::preset::xen(root, "build.preset = \"xen\"")),
            PresetChoice::Auto => crate::preset::detect(root),
        };
        let (base, mut info) = match preset {
            Some((cfg, info)) => (cfg, Some(info)),
            None => (TreeConfig::default(), None),
        };
        let tree = match (&text, &path) {
            (Some(t), Some(p)) => {
                let (cfg, given) = TreeConfig::parse_onto(base, t, p)?;
                if let Some(i) = info.as_mut() {
                    i.overridden = given.iter().map(|g| g.to_string()).collect();
                }
                cfg
            }
            _ => base,
        };
        Ok(Resolved {
            tree,
            preset: info,
            file: path,
        })
    }
}

/// Everything the input phase needs.
#[derive(Clone, Debug)]
pub struct InputConfig {
    pub orig: Vec<PathBuf>,
    /// Empty when `patches` stand in for the patched tree.
    pub patched: Vec<PathBuf>,
    /// `--patch`: unified diffs applied in order to the original tree's files.
    pub patches: Vec<PathBuf>,
    /// `--config`: the tree configuration file, instead of `<orig>/xsplice.toml`.
    pub tree_config_file: Option<PathBuf>,
    /// The compiler (from `CC`) for C files, and the launcher for trees.
    pub compiler: CompilerSpec,
    /// Whether `CC` was given (trees then get a shim for its program name).
    pub compiler_given: bool,
    /// Flags for compiling C files (from `CFLAGS`).
    pub cflags: Vec<String>,
    pub jobs: usize,
    /// Where built copies of original trees are kept between runs.
    pub cache_dir: Option<PathBuf>,
    /// The executable that acts as the compiler shim (`xsplice-build` itself).
    pub wrapper_exe: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_file() {
        let text = r#"
[build]
command = "make -C xen"
args = ["XEN_TARGET_ARCH=x86_64", "debug=n"]
exclude = ["tools", "docs"]
compilers = ["gcc"]
pass_cc = true
object_goals = true
[build.env]
XEN_BUILD_DATE = "Thu Jan  1 00:00:00 UTC 1970"
"#;
        let c = TreeConfig::parse(text, Path::new("x.toml")).unwrap();
        assert_eq!(c.command, ["make", "-C", "xen"]);
        assert_eq!(c.args, ["XEN_TARGET_ARCH=x86_64", "debug=n"]);
        assert_eq!(c.exclude, ["tools", "docs"]);
        assert_eq!(c.compilers, ["gcc"]);
        assert!(c.pass_cc);
        assert!(c.object_goals);
        assert_eq!(c.env["XEN_BUILD_DATE"], "Thu Jan  1 00:00:00 UTC 1970");
    }

    #[test]
    fn rejects_unknown_keys_and_escaping_excludes() {
        let e = TreeConfig::parse("[build]\ncomand = \"make\"\n", Path::new("t/xsplice.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t/xsplice.toml: "), "{e}");
        assert!(e.contains("comand"), "{e}");
        let e = TreeConfig::parse("[build]\nexclude = [\"../x\"]\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`../x`"), "{e}");
        let e = TreeConfig::parse("[build]\ncommand = []\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("build.command is empty"), "{e}");
    }

    #[test]
    fn empty_file_is_default() {
        assert_eq!(
            TreeConfig::parse("", Path::new("x")).unwrap(),
            TreeConfig::default()
        );
    }
}
