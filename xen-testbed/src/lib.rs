//! A real Xen hypervisor test bed: boots Debian's Xen 4.17 (or a hypervisor you built,
//! [`Testbed::with_hypervisor`]) under QEMU (TCG) with a Linux dom0 running a busybox initramfs, runs a shell script there (typically
//! Xen's own `xen-livepatch` on payload files put into the initramfs) and returns the
//! serial console, split per command.
//!
//! ```no_run
//! let bed = xen_testbed::Testbed::prepare_default()?;
//! let payload = std::fs::read("fix.livepatch")?;
//! let t = bed.run_commands(
//!     &[("/tmp/fix.livepatch", &payload[..])],
//!     &["xen-livepatch upload fix /tmp/fix.livepatch", "xen-livepatch list"],
//! )?;
//! assert_eq!(t.commands[0].rc, 0, "{}", t.commands[0].output());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Nothing is installed: the packages are fetched with `apt-get download` and unpacked
//! into a cache directory (see [`Testbed::prepare`]). Only QEMU
//! (`qemu-system-x86_64`, Debian package `qemu-system-x86`) must be installed.

mod apt;
mod bzimage;
mod cpio;
mod elf;
mod initramfs;
mod livepatch;
mod qemu;
mod transcript;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use apt::{Package, XEN_RELEASE};
pub use livepatch::{ListEntry, parse_list};
pub use transcript::{CommandResult, Transcript, XEN_PREFIX};

/// Environment variable: the cache directory of [`Testbed::prepare_default`].
pub const ENV_CACHE: &str = "XEN_TESTBED_CACHE";
/// Environment variable: the QEMU binary (default `qemu-system-x86_64`).
pub const ENV_QEMU: &str = "XEN_TESTBED_QEMU";
/// Environment variable: the default boot timeout in seconds (default 180).
pub const ENV_TIMEOUT: &str = "XEN_TESTBED_TIMEOUT";

/// Errors of the test bed. The console-carrying ones show its last lines.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("package {package}: `{command}` failed: {detail}")]
    Package {
        package: String,
        command: String,
        detail: String,
    },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("package {package}: {what} not found in {}", root.display())]
    MissingFile {
        package: String,
        what: String,
        root: PathBuf,
    },
    #[error(
        "shared library {name} (needed by {needed_by}) not found in the packages or on the host"
    )]
    MissingLibrary { name: String, needed_by: String },
    #[error("kernel module {0} not found in the dom0 kernel package")]
    MissingModule(String),
    #[error("{}: {what}", path.display())]
    BadFile { path: PathBuf, what: String },
    #[error("destination {0:?} in the initramfs must be an absolute path without `.`/`..`")]
    BadDestination(String),
    #[error(
        "cannot start {} ({source}); install it with `apt-get install qemu-system-x86` or set {ENV_QEMU}",
        qemu.display()
    )]
    QemuSpawn {
        qemu: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the boot did not finish within {secs} s; last console lines:\n{}",
        transcript::tail(serial, 40)
    )]
    Timeout { secs: u64, serial: String },
    #[error(
        "the script did not finish ({ended}){}\nlast console lines:\n{}",
        qemu_said(qemu_stderr),
        transcript.tail(40)
    )]
    Incomplete {
        ended: String,
        qemu_stderr: String,
        transcript: Box<Transcript>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn qemu_said(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; QEMU said: {stderr}")
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `TOOL -dc PATH` (gzip, xz, zstd) into memory.
pub(crate) fn decompress(tool: &str, path: &Path) -> Result<Vec<u8>> {
    let mut cmd = Command::new(tool);
    cmd.arg("-dc").arg(path);
    let command = apt::describe(&cmd);
    let out = cmd.output().map_err(|e| Error::Command {
        command: command.clone(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            command,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out.stdout)
}

/// How the machine is booted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootOptions {
    /// Wall-clock limit for one boot (QEMU is killed after it). Default 180 s or
    /// `$XEN_TESTBED_TIMEOUT` seconds.
    pub timeout: Duration,
    /// Machine RAM in MiB (default 2048).
    pub memory_mib: u32,
    /// dom0's RAM in MiB (default 512; the rest stays with Xen, e.g. for payloads).
    pub dom0_mem_mib: u32,
    /// Virtual CPUs (default 1).
    pub cpus: u32,
    /// Extra words for Xen's command line (after the test bed's own).
    pub xen_args: String,
    /// Extra words for dom0 Linux's command line.
    pub dom0_args: String,
    /// Kernel modules loaded before the script (dependencies are added).
    pub modules: Vec<String>,
    /// The QEMU binary (`$XEN_TESTBED_QEMU` or `qemu-system-x86_64`).
    pub qemu: PathBuf,
}

impl Default for BootOptions {
    fn default() -> Self {
        let timeout = std::env::var(ENV_TIMEOUT)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(180);
        Self {
            timeout: Duration::from_secs(timeout),
            memory_mib: 2048,
            dom0_mem_mib: 512,
            cpus: 1,
            xen_args: String::new(),
            dom0_args: String::new(),
            modules: ["xen-privcmd", "xen-evtchn", "xenfs"]
                .map(String::from)
                .to_vec(),
            qemu: std::env::var_os(ENV_QEMU)
                .map_or_else(|| "qemu-system-x86_64".into(), PathBuf::from),
        }
    }
}

/// Xen's command line before `dom0_mem=` and [`BootOptions::xen_args`]: console on
/// the first serial port, every log level printed without rate limit (livepatch's
/// refusals are error and warning lines), one dom0 vCPU.
pub const XEN_ARGS: &str =
    "console=com1 com1=115200,8n1 loglvl=all/all guest_loglvl=all/all dom0_max_vcpus=1";

/// dom0 Linux's command line before [`BootOptions::dom0_args`].
pub const DOM0_ARGS: &str = "console=hvc0 rdinit=/init";

/// The unpacked packages and the paths a boot needs.
#[derive(Debug, Clone)]
pub struct Testbed {
    cache_dir: PathBuf,
    packages: Vec<Package>,
    hypervisor: PathBuf,
    xen_syms: PathBuf,
    dom0_kernel: PathBuf,
    modules_dir: PathBuf,
    xen_livepatch: PathBuf,
    xen_livepatch_dest: String,
    busybox: PathBuf,
    options: BootOptions,
}

fn find_file(
    package: &Package,
    dir: &str,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> Result<PathBuf> {
    let base = package.root.join(dir);
    let mut found: Vec<PathBuf> = fs::read_dir(&base)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| pred(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    found.sort();
    found.pop().ok_or_else(|| Error::MissingFile {
        package: package.name.clone(),
        what: format!("{dir}/{what}"),
        root: package.root.clone(),
    })
}

/// Walks `root` for a regular file named `name`.
fn find_named(root: &Path, name: &str) -> Option<PathBuf> {
    let mut stack = vec![root.to_path_buf()];
    let mut found = Vec::new();
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
        {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() && e.file_name() == name {
                found.push(e.path());
            }
        }
    }
    found.sort();
    found.into_iter().next()
}

/// Writes `data` to `path` through a temporary file renamed into place.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    std::io::Write::write_all(&mut tmp, data).map_err(io_err(path))?;
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o644);
    fs::set_permissions(tmp.path(), mode).map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

impl Testbed {
    /// The default cache directory: `$XEN_TESTBED_CACHE`, else
    /// `$CARGO_TARGET_DIR/xen-testbed` (a relative `CARGO_TARGET_DIR` is taken
    /// relative to the workspace root), else `<workspace>/target/xen-testbed`.
    pub fn default_cache_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os(ENV_CACHE).filter(|s| !s.is_empty()) {
            return dir.into();
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."));
        match std::env::var_os("CARGO_TARGET_DIR").filter(|s| !s.is_empty()) {
            Some(t) => workspace.join(t).join("xen-testbed"),
            None => workspace.join("target").join("xen-testbed"),
        }
    }

    /// [`Testbed::prepare`] in [`Testbed::default_cache_dir`].
    pub fn prepare_default() -> Result<Self> {
        Self::prepare(Self::default_cache_dir())
    }

    /// Resolves the packages through apt's metadata (candidate versions now, so a
    /// security update is picked up), downloads and unpacks the ones not already in
    /// `cache_dir/pkgs/<name>_<version>/`, gunzips the hypervisor and checks that it
    /// and the `-dbg` `xen-syms` carry the same build-id. Needs `apt-cache`,
    /// `apt-get`, `dpkg-deb`, `tar` and `gzip`; network only for missing packages.
    pub fn prepare(cache_dir: impl AsRef<Path>) -> Result<Self> {
        let cache_dir = cache_dir.as_ref().to_path_buf();
        fs::create_dir_all(&cache_dir).map_err(io_err(&cache_dir))?;
        let packages = apt::ensure_all(&cache_dir, &apt::resolve(&cache_dir)?)?;
        Self::from_packages(cache_dir, packages)
    }

    fn from_packages(cache_dir: PathBuf, packages: Vec<Package>) -> Result<Self> {
        let by_name = |name: &str| packages.iter().find(|p| p.name == name).expect("resolved");
        let hyp_pkg = by_name(&format!("xen-hypervisor-{XEN_RELEASE}-amd64"));
        let dbg_pkg = by_name(&format!("xen-hypervisor-{XEN_RELEASE}-amd64-dbg"));
        let utils_pkg = by_name(&format!("xen-utils-{XEN_RELEASE}"));
        let kernel_pkg = packages
            .iter()
            .find(|p| p.name.starts_with("linux-image-"))
            .expect("resolved");
        let busybox_pkg = by_name("busybox-static");

        let gz = find_file(hyp_pkg, "boot", "xen-*.gz", |n| {
            n.starts_with("xen-") && n.ends_with(".gz")
        })?;
        let hypervisor = gz.with_extension("");
        if !hypervisor.is_file() {
            write_atomic(&hypervisor, &decompress("gzip", &gz)?)?;
        }
        let xen_syms = find_file(dbg_pkg, "usr/lib/debug/boot", "xen-syms-*", |n| {
            n.starts_with("xen-syms-") && !n.ends_with(".map")
        })?;
        let vmlinuz = find_file(kernel_pkg, "boot", "vmlinuz-*", |n| {
            n.starts_with("vmlinuz-")
        })?;
        let unpacked = vmlinuz.with_file_name(
            vmlinuz
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .replacen("vmlinuz", "vmlinux", 1),
        );
        if !unpacked.is_file() {
            let image = fs::read(&vmlinuz).map_err(io_err(&vmlinuz))?;
            if let Some(elf) = bzimage::vmlinux(&image) {
                write_atomic(&unpacked, &elf)?;
            }
        }
        let dom0_kernel = if unpacked.is_file() {
            unpacked
        } else {
            vmlinuz
        };
        let modules_dir = fs::read_dir(kernel_pkg.root.join("lib/modules"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("kernel"))
            .find(|p| p.is_dir())
            .ok_or_else(|| Error::MissingFile {
                package: kernel_pkg.name.clone(),
                what: "lib/modules/*/kernel".into(),
                root: kernel_pkg.root.clone(),
            })?;
        let xen_livepatch =
            find_named(&utils_pkg.root, "xen-livepatch").ok_or_else(|| Error::MissingFile {
                package: utils_pkg.name.clone(),
                what: "xen-livepatch".into(),
                root: utils_pkg.root.clone(),
            })?;
        let xen_livepatch_dest = format!(
            "/{}",
            xen_livepatch
                .strip_prefix(&utils_pkg.root)
                .expect("found below the root")
                .to_string_lossy()
        );
        let busybox = find_file(busybox_pkg, "bin", "busybox", |n| n == "busybox")?;

        let bed = Self {
            cache_dir,
            packages,
            hypervisor,
            xen_syms,
            dom0_kernel,
            modules_dir,
            xen_livepatch,
            xen_livepatch_dest,
            busybox,
            options: BootOptions::default(),
        };
        check_pair(
            &bed.hypervisor,
            &bed.xen_syms,
            "packages from different builds",
        )?;
        Ok(bed)
    }

    /// Boots `hypervisor` instead of the packaged one, with `xen_syms` as its ELF with
    /// symbols (what payloads are built against): e.g. a Xen source tree's `xen/xen`
    /// (the multiboot image QEMU's `-kernel` takes; a gzipped image must be gunzipped
    /// first) and `xen/xen-syms`. dom0 (kernel, initramfs, `xen-livepatch` 4.17) stays
    /// the same: the 4.17 tools drive any Xen with the same sysctl interface version
    /// (0x15: Xen 4.17 to 4.20). Both files must carry the same GNU build-id.
    pub fn with_hypervisor(
        mut self,
        hypervisor: impl Into<PathBuf>,
        xen_syms: impl Into<PathBuf>,
    ) -> Result<Self> {
        let (hypervisor, xen_syms) = (hypervisor.into(), xen_syms.into());
        check_pair(&hypervisor, &xen_syms, "not built together")?;
        self.hypervisor = hypervisor;
        self.xen_syms = xen_syms;
        Ok(self)
    }

    /// The cache directory in use.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The unpacked packages, with the versions in use.
    pub fn packages(&self) -> &[Package] {
        &self.packages
    }

    /// The `-dbg` package's `xen-syms` (the ELF with symbols that payloads are built
    /// against; same build-id as [`Testbed::hypervisor`]).
    pub fn xen_syms(&self) -> &Path {
        &self.xen_syms
    }

    /// The bootable hypervisor (the package's `xen-*.gz`, gunzipped: a multiboot ELF).
    pub fn hypervisor(&self) -> &Path {
        &self.hypervisor
    }

    /// dom0's kernel as booted: the ELF unpacked from the package's `vmlinuz-*`
    /// (`vmlinux-*` next to it; Xen would spend seconds of emulated time unpacking
    /// it), or the `vmlinuz-*` itself if it could not be unpacked.
    pub fn dom0_kernel(&self) -> &Path {
        &self.dom0_kernel
    }

    /// The `xen-livepatch` binary of the tools package (on the host).
    pub fn xen_livepatch(&self) -> &Path {
        &self.xen_livepatch
    }

    /// Where `xen-livepatch` sits in dom0 (also on dom0's `PATH`).
    pub fn xen_livepatch_in_dom0(&self) -> &str {
        &self.xen_livepatch_dest
    }

    /// The build-id note of [`Testbed::xen_syms`].
    pub fn xen_syms_build_id(&self) -> Result<Vec<u8>> {
        read_build_id(&self.xen_syms)
    }

    /// The build-id note of [`Testbed::hypervisor`].
    pub fn hypervisor_build_id(&self) -> Result<Vec<u8>> {
        read_build_id(&self.hypervisor)
    }

    /// The boot options in use.
    pub fn options(&self) -> &BootOptions {
        &self.options
    }

    /// Changes the boot options (timeout, memory, extra command-line words...).
    pub fn options_mut(&mut self) -> &mut BootOptions {
        &mut self.options
    }

    /// Builds the initramfs: busybox, `/init`, modules, `xen-livepatch` and its
    /// libraries, `files` at their absolute destinations (mode 0755; they replace
    /// what the test bed put at the same path, except `/init` and `/xtb/*`;
    /// dynamically linked executables get their libraries too), `script` at
    /// `/xtb/script.sh`. It returns the newc cpio archive (uncompressed).
    pub fn initramfs(&self, files: &[(&str, &[u8])], script: &str) -> Result<Vec<u8>> {
        let mut tree = initramfs::Tree::default();
        for d in [
            "/bin",
            "/sbin",
            "/usr/bin",
            "/usr/sbin",
            "/proc",
            "/sys",
            "/dev",
            "/tmp",
            "/run",
            "/root",
        ] {
            tree.dir(d);
        }
        tree.char_device("/dev/console", 5, 1);
        tree.file(
            "/bin/busybox",
            0o755,
            fs::read(&self.busybox).map_err(io_err(&self.busybox))?,
        );
        tree.symlink("/bin/sh", "busybox");

        let modules = initramfs::Modules::scan(&self.modules_dir)?;
        let order = modules.add(&mut tree, &self.options.modules)?;

        let roots: Vec<PathBuf> = self.packages.iter().map(|p| p.root.clone()).collect();
        let libs = initramfs::LibrarySearch::new(&roots);
        let lp = fs::read(&self.xen_livepatch).map_err(io_err(&self.xen_livepatch))?;
        libs.add_dependencies(&mut tree, "xen-livepatch", &lp)?;
        tree.file(&self.xen_livepatch_dest, 0o755, lp);
        if self.xen_livepatch_dest != "/usr/sbin/xen-livepatch" {
            tree.symlink("/usr/sbin/xen-livepatch", &self.xen_livepatch_dest);
        }

        for (dest, data) in files {
            initramfs::check_dest(dest)?;
            libs.add_dependencies(&mut tree, dest, data)?;
            tree.file(dest, 0o755, data.to_vec());
        }
        tree.file(
            initramfs::HELPERS,
            0o644,
            initramfs::HELPERS_SH.as_bytes().to_vec(),
        );
        tree.file(initramfs::SCRIPT, 0o755, script.as_bytes().to_vec());
        let tools_dir = Path::new(&self.xen_livepatch_dest)
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let init = initramfs::init_script(&order, &tools_dir);
        tree.file("/init", 0o755, init.into_bytes());
        Ok(tree.to_cpio())
    }

    /// Boots Xen with dom0, runs `script` (a busybox `sh` script; `xtb_run CMD` runs
    /// one command with delimited output, see [`CommandResult`]) after `/init` has
    /// mounted proc, sysfs, devtmpfs and xenfs and loaded the Xen modules, then powers
    /// off. `files` are put into the initramfs (see [`Testbed::initramfs`]). A setup
    /// step of `/init` that failed is in [`Transcript::setup_failures`].
    ///
    /// Errors: [`Error::Timeout`] when the boot takes longer than the timeout,
    /// [`Error::Incomplete`] when the machine stopped before the script finished
    /// (a crash of dom0 or Xen; the partial transcript is in the error).
    pub fn run(&self, files: &[(&str, &[u8])], script: &str) -> Result<Transcript> {
        let cpio = self.initramfs(files, script)?;
        let work = tempfile::Builder::new()
            .prefix("xen-testbed-")
            .tempdir()
            .map_err(io_err(&std::env::temp_dir()))?;
        let initrd = work.path().join("initrd.cpio");
        fs::write(&initrd, &cpio).map_err(io_err(&initrd))?;

        for p in [&self.hypervisor, &self.dom0_kernel, &initrd] {
            let s = p.to_string_lossy();
            if s.contains(',') || s.contains(' ') {
                return Err(Error::BadFile {
                    path: p.clone(),
                    what:
                        "QEMU's multiboot module list cannot carry a path with a comma or a space"
                            .into(),
                });
            }
        }
        let o = &self.options;
        let xen_cmdline = format!(
            "{XEN_ARGS} dom0_mem={m}M,max:{m}M {}",
            o.xen_args,
            m = o.dom0_mem_mib
        );
        let dom0 = format!(
            "{} {},{}",
            self.dom0_kernel.display(),
            format!("{DOM0_ARGS} {}", o.dom0_args).trim_end(),
            initrd.display()
        );
        let mut cmd = Command::new(&o.qemu);
        cmd.args([
            "-nodefaults",
            "-no-user-config",
            "-machine",
            "pc,accel=tcg",
            "-cpu",
            "qemu64",
        ])
        .args(["-m", &o.memory_mib.to_string(), "-smp", &o.cpus.to_string()])
        .args(["-display", "none", "-serial", "stdio", "-no-reboot"])
        .arg("-kernel")
        .arg(&self.hypervisor)
        .args(["-append", xen_cmdline.trim_end()])
        .args(["-initrd", &dom0]);
        let outcome = qemu::run(cmd, &o.qemu, o.timeout, qemu::POWER_OFF_GRACE)?;
        let transcript = Transcript::parse(&outcome.serial);
        if transcript.script_rc.is_none() {
            return Err(Error::Incomplete {
                ended: outcome.ended,
                qemu_stderr: String::from_utf8_lossy(&outcome.stderr).trim().to_owned(),
                transcript: Box::new(transcript),
            });
        }
        Ok(transcript)
    }

    /// [`Testbed::run`] with a script that runs each of `commands` through `xtb_run`
    /// (each in its own subshell, in order, whatever the previous exit codes); the
    /// results carry the commands exactly as given.
    pub fn run_commands(&self, files: &[(&str, &[u8])], commands: &[&str]) -> Result<Transcript> {
        let mut script = String::new();
        for c in commands {
            script.push_str(&format!("xtb_run '{}'\n", c.replace('\'', r"'\''")));
        }
        let mut t = self.run(files, &script)?;
        for (result, cmd) in t.commands.iter_mut().zip(commands) {
            result.cmd = (*cmd).to_owned();
        }
        Ok(t)
    }
}

fn read_build_id(path: &Path) -> Result<Vec<u8>> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    elf::build_id(&bytes).ok_or_else(|| Error::BadFile {
        path: path.to_path_buf(),
        what: if bytes.starts_with(&[0x1f, 0x8b]) {
            "gzip-compressed: gunzip it first".into()
        } else {
            "no GNU build-id note".into()
        },
    })
}

/// Both files carry the same build-id (`why`: what a mismatch means).
fn check_pair(hypervisor: &Path, xen_syms: &Path, why: &str) -> Result<()> {
    let (a, b) = (read_build_id(hypervisor)?, read_build_id(xen_syms)?);
    if a != b {
        return Err(Error::BadFile {
            path: xen_syms.to_path_buf(),
            what: format!(
                "build-id {} differs from the hypervisor's ({}): {why}",
                hex(&b),
                hex(&a)
            ),
        });
    }
    Ok(())
}

/// Lower-case hex of `bytes` (how Xen and `readelf` print build-ids).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::Object;
    use object::{Architecture, BinaryFormat, Endianness, SectionKind};

    /// An ELF object whose `.note.gnu.build-id` holds `id`.
    fn elf_with_build_id(id: &[u8]) -> Vec<u8> {
        let mut note = Vec::new();
        for v in [4u32, u32::try_from(id.len()).unwrap(), 3] {
            note.extend_from_slice(&v.to_le_bytes());
        }
        note.extend_from_slice(b"GNU\0");
        note.extend_from_slice(id);
        let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
        let sec = obj.add_section(vec![], b".note.gnu.build-id".to_vec(), SectionKind::Note);
        obj.append_section_data(sec, &note, 4);
        obj.write().unwrap()
    }

    fn bed(dir: &Path) -> Testbed {
        Testbed {
            cache_dir: dir.to_path_buf(),
            packages: vec![],
            hypervisor: dir.join("packaged-xen"),
            xen_syms: dir.join("packaged-xen-syms"),
            dom0_kernel: dir.join("vmlinux"),
            modules_dir: dir.join("modules"),
            xen_livepatch: dir.join("xen-livepatch"),
            xen_livepatch_dest: "/usr/sbin/xen-livepatch".into(),
            busybox: dir.join("busybox"),
            options: BootOptions::default(),
        }
    }

    #[test]
    fn with_hypervisor_takes_a_matching_pair() {
        let dir = tempfile::tempdir().unwrap();
        let (xen, syms) = (dir.path().join("xen"), dir.path().join("xen-syms"));
        fs::write(&xen, elf_with_build_id(&[0xab; 20])).unwrap();
        fs::write(&syms, elf_with_build_id(&[0xab; 20])).unwrap();
        let b = bed(dir.path()).with_hypervisor(&xen, &syms).unwrap();
        assert_eq!(
            (b.hypervisor(), b.xen_syms()),
            (xen.as_path(), syms.as_path())
        );
        assert_eq!(b.hypervisor_build_id().unwrap(), vec![0xab; 20]);
        assert_eq!(b.xen_syms_build_id().unwrap(), vec![0xab; 20]);
    }

    #[test]
    fn with_hypervisor_refuses_other_builds() {
        let dir = tempfile::tempdir().unwrap();
        let (xen, syms) = (dir.path().join("xen"), dir.path().join("xen-syms"));
        fs::write(&xen, elf_with_build_id(&[1; 20])).unwrap();
        fs::write(&syms, elf_with_build_id(&[2; 20])).unwrap();
        let e = bed(dir.path()).with_hypervisor(&xen, &syms).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&hex(&[2; 20])) && msg.contains(&hex(&[1; 20])),
            "{msg}"
        );
        assert!(msg.contains("not built together"), "{msg}");

        let gz = dir.path().join("xen.gz");
        fs::write(&gz, [0x1f, 0x8b, 8, 0]).unwrap();
        let e = bed(dir.path()).with_hypervisor(&gz, &syms).unwrap_err();
        assert!(e.to_string().contains("gunzip it first"), "{e}");
        let e = bed(dir.path())
            .with_hypervisor(dir.path().join("missing"), &syms)
            .unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
    }
}
