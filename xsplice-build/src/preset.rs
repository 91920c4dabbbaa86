//! Presets: how well-known trees are built, so they work without an `xsplice.toml`.
//!
//! Only Xen so far. A Xen checkout is recognised by `xen/Makefile`, `xen/Kconfig` and
//! `xen/include/public/xen.h` (the hypervisor's directory, its Kconfig root and its
//! public ABI header, present in every Xen release with Kconfig). The preset (see
//! `specs/build-incremental.md`, "Presets"):
//!
//! - `command = "make -C xen"`: the hypervisor only (the top-level `make` builds the
//!   tools, docs and stub domains too);
//! - `object_goals = true`: Xen's make takes objects as goals;
//! - `exclude`: `tools` (unless `CONFIG_XSM_FLASK_POLICY` builds its policy from
//!   there), `docs`, `stubdom`, `automation`, `dist`;
//! - `[build.env]` pins `XEN_BUILD_DATE`, `XEN_BUILD_TIME`, `XEN_BUILD_HOST`,
//!   `XEN_WHOAMI`, `XEN_DOMAIN` to the values the original build used (read from its
//!   `xen/include/xen/compile.h`), so the builder's copy does not regenerate that
//!   header; fixed values when the tree was never built;
//! - `config_files = ["xen/.config"]`; `ignore` the generated files a built patched
//!   tree holds (`compile.h`, Kconfig's outputs).
//!
//! Every key of an `xsplice.toml` replaces the preset's; `build.preset = "none"`
//! turns it off.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::BuildError;
use crate::config::TreeConfig;

/// A preset applied, for the user and the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PresetInfo {
    /// `xen`.
    pub name: String,
    /// Why it was chosen (the markers found, or the configuration file).
    pub reason: String,
    /// Where the build-environment pins come from.
    pub pins_from: String,
    /// Keys the configuration file replaced.
    pub overridden: Vec<String>,
}

impl PresetInfo {
    /// One paragraph for stderr: the preset and the configuration in effect.
    pub fn describe(&self, tree: &TreeConfig) -> String {
        let mut t = format!("preset: {} ({})\n", self.name, self.reason);
        let mut cmd = tree.command.join(" ");
        if !tree.args.is_empty() {
            cmd.push(' ');
            cmd.push_str(&tree.args.join(" "));
        }
        t.push_str(&format!(
            "  build: `{cmd}`{}\n",
            if tree.object_goals {
                ", objects as goals"
            } else {
                ""
            }
        ));
        if !tree.exclude.is_empty() {
            t.push_str(&format!("  not copied: {}\n", tree.exclude.join(" ")));
        }
        if !tree.env.is_empty() {
            let pins: Vec<String> = tree.env.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            t.push_str(&format!(
                "  environment ({}): {}\n",
                self.pins_from,
                pins.join(" ")
            ));
        }
        if self.overridden.is_empty() {
            t.push_str("  (any of it can be replaced in xsplice.toml's [build] table)\n");
        } else {
            t.push_str(&format!(
                "  replaced by the configuration file: {}\n",
                self.overridden.join(", ")
            ));
        }
        t
    }
}

/// Files that mark the hypervisor directory of a Xen checkout.
const XEN_DIR_MARKERS: &[&str] = &["Makefile", "Kconfig", "include/public/xen.h"];

/// Whether `dir` is Xen's hypervisor directory (`xen/` of a checkout).
pub fn is_xen_hypervisor_dir(dir: &Path) -> bool {
    XEN_DIR_MARKERS.iter().all(|m| dir.join(m).is_file())
}

/// Whether `root` is a Xen checkout (its `xen/` directory is the hypervisor's).
pub fn is_xen_checkout(root: &Path) -> bool {
    is_xen_hypervisor_dir(&root.join("xen"))
}

/// `--orig A/xen` (or `--patched B/xen`): the checkout root to use instead, or an
/// error when the directory is a hypervisor directory without its checkout (Xen's
/// build needs `../Config.mk` and `../config/`). `None`: not a Xen directory.
pub fn checkout_of_hypervisor_dir(flag: &str, dir: &Path) -> Result<Option<PathBuf>, BuildError> {
    if !is_xen_hypervisor_dir(dir) || is_xen_checkout(dir) {
        return Ok(None);
    }
    match dir.parent() {
        Some(parent) if parent.join("Config.mk").is_file() => Ok(Some(parent.to_path_buf())),
        _ => Err(BuildError::Usage {
            what: format!(
                "{flag} {}: this is Xen's hypervisor directory without the rest of its checkout \
                 (no ../Config.mk): Xen's build needs the whole checkout; give the checkout's root",
                dir.display()
            ),
        }),
    }
}

/// The preset for the tree at `root`, when it is one a preset knows.
pub fn detect(root: &Path) -> Option<(TreeConfig, PresetInfo)> {
    is_xen_checkout(root).then(|| {
        xen(
            root,
            "detected: xen/Makefile, xen/Kconfig and xen/include/public/xen.h",
        )
    })
}

/// `#define NAME "value"` lines of Xen's generated `compile.h`.
fn compile_h(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("#define ") else {
            continue;
        };
        let mut parts = rest.splitn(2, char::is_whitespace);
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let value = value.trim();
        if let Some(v) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            m.insert(name.to_string(), v.to_string());
        }
    }
    m
}

/// Xen's preset for the checkout at `root`; `reason` says why it applies.
pub fn xen(root: &Path, reason: &str) -> (TreeConfig, PresetInfo) {
    // The variables Xen's Makefile takes the build's date, user and host from, and
    // the compile.h macros it writes them to.
    const PINS: &[(&str, &str, &str)] = &[
        (
            "XEN_BUILD_DATE",
            "XEN_COMPILE_DATE",
            "Thu Jan  1 00:00:00 UTC 1970",
        ),
        ("XEN_BUILD_TIME", "XEN_COMPILE_TIME", "00:00:00"),
        ("XEN_BUILD_HOST", "XEN_COMPILE_HOST", "xsplice-build"),
        ("XEN_WHOAMI", "XEN_COMPILE_BY", "xsplice-build"),
        ("XEN_DOMAIN", "XEN_COMPILE_DOMAIN", "localdomain"),
    ];
    let compile_h_path = root.join("xen/include/xen/compile.h");
    let built = std::fs::read_to_string(&compile_h_path)
        .ok()
        .map(|t| compile_h(&t))
        .filter(|m| PINS.iter().all(|(_, mac, _)| m.contains_key(*mac)));
    let mut env = BTreeMap::new();
    for (var, mac, fixed) in PINS {
        let v = match &built {
            Some(m) => m[*mac].clone(),
            None => fixed.to_string(),
        };
        env.insert(var.to_string(), v);
    }
    let pins_from = if built.is_some() {
        "the original build's, from xen/include/xen/compile.h".to_string()
    } else {
        "fixed: the original tree has no xen/include/xen/compile.h".to_string()
    };
    let flask_policy = std::fs::read_to_string(root.join("xen/.config"))
        .map(|t| kconfig_options(&t).get("CONFIG_XSM_FLASK_POLICY") == Some(&"y".to_string()))
        .unwrap_or(false);
    let mut exclude: Vec<String> = ["docs", "stubdom", "automation", "dist"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if !flask_policy {
        exclude.insert(0, "tools".to_string());
    }
    let cfg = TreeConfig {
        command: vec!["make".into(), "-C".into(), "xen".into()],
        env,
        exclude,
        object_goals: true,
        config_files: vec!["xen/.config".to_string()],
        ignore: [
            "xen/.config.old",
            "xen/.banner",
            "xen/include/xen/compile.h",
            "xen/include/config",
            "xen/include/generated",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..TreeConfig::default()
    };
    let info = PresetInfo {
        name: "xen".to_string(),
        reason: reason.to_string(),
        pins_from,
        overridden: Vec::new(),
    };
    (cfg, info)
}

/// The options of a Kconfig `.config`: `CONFIG_X=value`, and `# CONFIG_X is not set`
/// as `n`.
pub fn kconfig_options(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(name) = rest.strip_suffix(" is not set") {
                if name.starts_with("CONFIG_") && !name.contains(' ') {
                    m.insert(name.to_string(), "n".to_string());
                }
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.starts_with("CONFIG_") {
                m.insert(k.to_string(), v.to_string());
            }
        }
    }
    m
}

/// The options whose values differ, as `CONFIG_X (A: y, B: n)`.
pub fn kconfig_differences(a: &str, b: &str) -> Vec<String> {
    let (a, b) = (kconfig_options(a), kconfig_options(b));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let unset = "unset".to_string();
    keys.into_iter()
        .filter_map(|k| {
            let (va, vb) = (a.get(k).unwrap_or(&unset), b.get(k).unwrap_or(&unset));
            (va != vb).then(|| format!("{k} (original: {va}, patched: {vb})"))
        })
        .collect()
}

/// Checks the configuration files of `tree` hold the same options in `orig` and
/// `patched` (when both have them).
pub fn check_config_files(
    tree: &TreeConfig,
    orig: &Path,
    patched: &Path,
) -> Result<(), BuildError> {
    for rel in &tree.config_files {
        let (a, b) = (orig.join(rel), patched.join(rel));
        let (Ok(ta), Ok(tb)) = (std::fs::read(&a), std::fs::read(&b)) else {
            continue;
        };
        if ta == tb {
            continue;
        }
        let diff =
            kconfig_differences(&String::from_utf8_lossy(&ta), &String::from_utf8_lossy(&tb));
        if diff.is_empty() {
            continue; // comments only
        }
        return Err(BuildError::Usage {
            what: format!(
                "{} and {} differ in {} option(s): {}. A payload is built with the running \
                 hypervisor's configuration: make them equal (e.g. `cp {} {}`)",
                a.display(),
                b.display(),
                diff.len(),
                diff.join(", "),
                a.display(),
                b.display()
            ),
        });
    }
    Ok(())
}

/// Xen-specific checks of the original tree before anything is built: it must be
/// configured. Returns notes for the user (a tree never built gets a full build).
pub fn xen_preflight(orig: &Path, orig_given: &Path) -> Result<Vec<String>, BuildError> {
    let xen = orig.join("xen");
    let mut notes = Vec::new();
    let config = xen.join(".config");
    let Ok(text) = std::fs::read_to_string(&config) else {
        let shown = orig_given.join("xen");
        return Err(BuildError::Usage {
            what: format!(
                "{} is not configured (no xen/.config). Configure it as the running hypervisor \
                 was built: copy that build's .config to {}/.config, or for Xen's defaults run\n    \
                 make -C {} defconfig\nthen run xsplice-build again (its copy of the tree is \
                 built once; the tree itself is only read)",
                orig_given.display(),
                shown.display(),
                shown.display()
            ),
        });
    };
    if kconfig_options(&text)
        .get("CONFIG_LIVEPATCH")
        .map(String::as_str)
        != Some("y")
    {
        notes.push(format!(
            "warning: {} has no CONFIG_LIVEPATCH=y: a hypervisor built from it cannot load payloads",
            config.display()
        ));
    }
    if !xen.join("xen-syms").is_file() {
        notes.push(format!(
            "{} has not been built (no xen/xen-syms): its copy gets one full build first \
             (a few minutes; later runs with --cache-dir reuse it)",
            orig_given.display()
        ));
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kconfig_differences_name_the_options() {
        let a = "# comment A\nCONFIG_LIVEPATCH=y\n# CONFIG_DEBUG is not set\nCONFIG_NR_CPUS=256\n";
        let b = "# comment B\nCONFIG_LIVEPATCH=y\nCONFIG_DEBUG=y\nCONFIG_HVM=y\n";
        assert_eq!(
            kconfig_differences(a, b),
            [
                "CONFIG_DEBUG (original: n, patched: y)",
                "CONFIG_HVM (original: unset, patched: y)",
                "CONFIG_NR_CPUS (original: 256, patched: unset)",
            ]
        );
        assert!(kconfig_differences(a, &a.replace("comment A", "other")).is_empty());
    }

    #[test]
    fn compile_h_values() {
        let m = compile_h(
            "#define XEN_COMPILE_DATE\t\"Wed Dec  2 06:40:47 UTC 2026\"\n#define XEN_COMPILE_BY\t\t\"\"\n#define XEN_VERSION 4\n",
        );
        assert_eq!(m["XEN_COMPILE_DATE"], "Wed Dec  2 06:40:47 UTC 2026");
        assert_eq!(m["XEN_COMPILE_BY"], "");
        assert!(!m.contains_key("XEN_VERSION"));
    }
}
