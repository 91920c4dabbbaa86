//! `xsplice-build`: thin glue over the `xsplice_build` library. Also acts as the
//! compiler shim when a tree's build starts it under a compiler's name.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use xsplice_build::compiler::CompilerSpec;
use xsplice_build::config::InputConfig;
use xsplice_build::run::{BuildConfig, run};
use xsplice_build::{BuildError, Progress, wrapper};

const AFTER_HELP: &str = "\
Examples:
  # A built Xen checkout A and the advisory's patch (no xsplice.toml needed):
  xsplice-build --orig A --patch xsa475.patch --target A/xen/xen-syms -o xsa475.livepatch
  # Two trees, or two versions of C files:
  xsplice-build --orig A --patched B --target A/xen/xen-syms -o fix.livepatch --timings
  xsplice-build --orig a/version.c --patched b/version.c --target xen-syms -o fix.livepatch

Shell completions and the man page: xsplice-build --generate bash|zsh|fish|man";

/// Build an xSplice payload from two versions of a C code base.
///
/// Exit codes: 0 payload written, 1 error, 2 unreconcilable difference,
/// 3 no functional change. CC (launchers such as `ccache gcc` included) and CFLAGS
/// are honoured. Xen checkouts are recognised and built with Xen's preset (printed
/// on stderr); an xsplice.toml at the original tree's root overrides it.
#[derive(Parser, Debug)]
#[command(name = "xsplice-build", version, after_help = AFTER_HELP)]
struct Args {
    /// Original sources: a tree directory, or C/object files.
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    orig: Vec<PathBuf>,
    /// Patched sources: a tree directory, or C/object files.
    #[arg(long, num_args = 1.., value_name = "PATH", required_unless_present = "patch", conflicts_with = "patch")]
    patched: Vec<PathBuf>,
    /// A unified diff (git format-patch or diff -u, a/ b/ paths) applied to a copy of
    /// the --orig tree, in place of --patched; repeatable, applied in order.
    #[arg(long, value_name = "FILE")]
    patch: Vec<PathBuf>,
    /// Print the time of each phase on stderr (also in the JSON report).
    #[arg(long)]
    timings: bool,
    /// The running hypervisor image built from the original sources.
    #[arg(long, value_name = "IMAGE")]
    target: PathBuf,
    /// Payload file to write.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: PathBuf,
    /// Record the old functions' bytes in the payload (checked before applying).
    #[arg(long)]
    old_code: bool,
    /// A payload that must be applied before this one (repeatable).
    #[arg(long, value_name = "PAYLOAD")]
    depends: Vec<PathBuf>,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Parallel jobs (compiles, copies, make -j).
    #[arg(short = 'j', long, value_name = "N")]
    jobs: Option<usize>,
    /// Payload name (default: the output file's name without extension).
    #[arg(long)]
    name: Option<String>,
    /// Payload format: `livepatch` (Xen 4.14+'s .livepatch.funcs) or `xsplice` (the
    /// design's .xsplice structures). Default: what the target speaks.
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Tree build configuration (default: xsplice.toml at the original tree's root).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Keep built copies of original trees here, keyed by the tree's state.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Scratch directory (kept); default: a temporary directory, removed.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Extra rows for the special-section table (bug frames, exception tables,
    /// alternatives...): one `NAME ROLE ...` per line, later rows win; see
    /// xsplice-diff/src/special.rs for the built-in Xen and Linux rows.
    #[arg(long, value_name = "FILE")]
    special_sections: Option<PathBuf>,
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
struct Bar {
    bar: Mutex<Option<ProgressBar>>,
    visible: bool,
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: u64) {
        let bar = if total > 0 {
            ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{msg:>18} [{bar:30}] {pos}/{len} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            )
        } else {
            let b = ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(std::time::Duration::from_millis(200));
            b
        };
        if !self.visible {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_message(name.to_string());
        if let Ok(mut g) = self.bar.lock() {
            if let Some(old) = g.replace(bar) {
                old.finish_and_clear();
            }
        }
    }
    fn advance(&self, n: u64) {
        if let Ok(g) = self.bar.lock() {
            if let Some(b) = g.as_ref() {
                b.inc(n);
            }
        }
    }
    fn finish(&self) {
        if let Ok(mut g) = self.bar.lock() {
            if let Some(b) = g.take() {
                b.finish_and_clear();
            }
        }
    }
    fn message(&self, msg: &str) {
        if let Ok(g) = self.bar.lock() {
            if let Some(b) = g.as_ref() {
                b.set_message(msg.to_string());
            }
        }
    }
    fn note(&self, msg: &str) {
        match self.bar.lock().ok().as_ref().and_then(|g| g.as_ref()) {
            Some(b) if self.visible => b.suspend(|| eprintln!("{msg}")),
            _ => eprintln!("{msg}"),
        }
    }
}

fn config(args: Args) -> Result<BuildConfig, BuildError> {
    let usage = |what: String| BuildError::Usage { what };
    if let Some(name) = &args.name
        && (name.is_empty() || name.contains('\0'))
    {
        return Err(usage(format!(
            "--name `{name}`: a payload name is at least one byte, without NUL"
        )));
    }
    let format = match args.format.as_deref() {
        None => None,
        Some(f) => Some(f.parse().map_err(|e| usage(format!("--format: {e}")))?),
    };
    let jobs = match args.jobs {
        Some(0) => return Err(usage("-j 0: need at least one job".to_string())),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let cc = std::env::var("CC").ok().filter(|s| !s.trim().is_empty());
    let compiler = match &cc {
        Some(s) => CompilerSpec::parse(s).unwrap_or_default(),
        None => CompilerSpec::default(),
    };
    let cflags = match std::env::var("CFLAGS") {
        Ok(s) => s.split_whitespace().map(str::to_string).collect(),
        Err(_) => vec!["-O2".to_string(), "-g".to_string()],
    };
    let wrapper_exe = std::env::current_exe()
        .map_err(|e| usage(format!("cannot locate the xsplice-build executable: {e}")))?;
    for p in args.orig.iter().chain(&args.patched).chain(&args.patch) {
        if !p.exists() {
            return Err(BuildError::Input {
                path: p.clone(),
                why: "no such file or directory".to_string(),
            });
        }
    }
    Ok(BuildConfig {
        input: InputConfig {
            orig: args.orig,
            patched: args.patched,
            patches: args.patch,
            tree_config_file: args.config,
            compiler,
            compiler_given: cc.is_some(),
            cflags,
            jobs,
            cache_dir: args.cache_dir,
            wrapper_exe,
        },
        target: args.target,
        output: args.output,
        name: args.name,
        format,
        old_code: args.old_code,
        depends: args.depends,
        report: args.report,
        work_dir: args.work_dir,
        special_sections: args.special_sections,
    })
}

fn main() -> ExitCode {
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_default();
    if wrapper::is_shim_invocation(&argv0) {
        let Some(env) = wrapper::WrapperEnv::from_env() else {
            eprintln!("xsplice-build: compiler wrapper started without its settings");
            return ExitCode::from(1);
        };
        return match wrapper::run(&argv0, argv.collect(), &env) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("xsplice-build: {e}");
                ExitCode::from(127)
            }
        };
    }
    if let Some(code) = xsplice_cli::generate_hook(<Args as clap::CommandFactory>::command, 1) {
        return code;
    }
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let show_timings = args.timings;
    let cfg = match config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xsplice-build: error: {e}");
            return ExitCode::from(1);
        }
    };
    let bar = Bar {
        bar: Mutex::new(None),
        visible: std::io::stderr().is_terminal(),
    };
    match run(&cfg, &bar) {
        Ok(report) => {
            bar.finish();
            eprint!("{}", report.to_text());
            if show_timings {
                eprint!("{}", report.timings.to_text());
            }
            ExitCode::from(report.verdict.exit_code())
        }
        Err(e) => {
            bar.finish();
            eprintln!("xsplice-build: error: {e}");
            ExitCode::from(1)
        }
    }
}
