//! `xen-xsplice`: thin glue over the `xen_xsplice` library (arguments → plain
//! config → library → print).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xen_xsplice::run::{self, ActionOptions, Command, Config, Console, exit};
use xen_xsplice::trust::{ENV_CONFIG, TrustSources};

const AFTER_HELP: &str = "\
Examples:
  xen-xsplice --trust /etc/xsplice/payloads.pem load /root/xsa475.livepatch
  xen-xsplice list
  xen-xsplice revert xsa475 && xen-xsplice unload xsa475

Signatures: a payload is uploaded only when its signature verifies against a trusted
certificate: --trust CERT (repeatable), else every *.pem/*.crt/*.cer/*.der file of
the keyring directory named by the configuration file (--config FILE, else
$XEN_XSPLICE_CONFIG, else /etc/xsplice/xen-xsplice.toml: `keyring = \"DIR\"`; default
/etc/xsplice/trusted.d/). The signed file is uploaded as it is, trailer included.

Exit codes:
  0  done
  1  the hypervisor refused, or the action failed (the errno is printed: EEXIST, EINVAL...)
  2  usage error, unreadable file, bad configuration or certificate
  3  signature refused (unsigned, bad signature, unknown key): nothing reached the hypervisor
  4  busy (EBUSY/EAGAIN): another action is running or the CPUs did not stop in time; retry
  5  the action was still in progress when --wait ran out
  6  the hypervisor cannot be reached (no /dev/xen/privcmd, not root in dom0)

Shell completions and the man page: xen-xsplice --generate bash|zsh|fish|man";

/// Manage hot patches of a running Xen (4.17 to 4.20) from dom0, signatures enforced.
///
/// Talks to the hypervisor through /dev/xen/privcmd (hypercall buffers from
/// /dev/xen/hypercall); needs root in dom0. CHECK: Xen checks a payload when it is
/// uploaded, so `check ID` succeeds when GET shows it CHECKED with rc 0.
#[derive(Parser, Debug)]
#[command(name = "xen-xsplice", version, after_help = AFTER_HELP)]
struct Args {
    /// A trusted certificate (PEM or DER; a PEM file may hold several). Repeatable;
    /// when given, the keyring directory is not read.
    #[arg(long, value_name = "CERT", global = true)]
    trust: Vec<PathBuf>,
    /// The configuration file naming the keyring directory
    /// [default: $XEN_XSPLICE_CONFIG, else /etc/xsplice/xen-xsplice.toml if present].
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Upload without checking signatures (labs only; warns every time).
    #[arg(long, global = true)]
    insecure_unsigned: bool,
    /// How long the hypervisor may take to stop the CPUs and patch: a number with a
    /// unit (ns, us, ms, s; a bare number is ms), at most 4294967295 ns; 0 is Xen's
    /// default (30 ms).
    #[arg(long, value_name = "TIME", default_value = "30ms", global = true, value_parser = run::parse_timeout)]
    timeout: u32,
    /// How long to keep polling the status while the hypervisor answers EAGAIN
    /// (ms or s; a bare number is ms).
    #[arg(long, value_name = "TIME", default_value = "5s", global = true, value_parser = run::parse_wait)]
    wait: std::time::Duration,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Verify FILE's signature and upload it as ID (Xen checks it: CHECKED).
    #[command(
        after_help = "Example:\n  xen-xsplice --trust cert.pem upload xsa475 /root/xsa475.livepatch"
    )]
    Upload {
        /// The payload's name in the hypervisor (1 to 127 bytes).
        id: String,
        /// The signed payload file.
        file: PathBuf,
    },
    /// List the loaded payloads (a table like xen-livepatch's, or JSON).
    #[command(after_help = "Example:\n  xen-xsplice list --json")]
    List {
        /// Print a JSON array of {name, state, rc, errno, metadata}.
        #[arg(long)]
        json: bool,
    },
    /// Show a payload's state and the result of its last action.
    #[command(after_help = "Example:\n  xen-xsplice status xsa475")]
    Status {
        id: String,
        /// Print JSON {name, state, rc, errno}.
        #[arg(long)]
        json: bool,
    },
    /// Succeed when the payload is CHECKED with rc 0 (Xen has no CHECK action: it
    /// checks at upload).
    #[command(after_help = "Example:\n  xen-xsplice check xsa475 && xen-xsplice apply xsa475")]
    Check { id: String },
    /// Apply a CHECKED payload and wait until it is APPLIED.
    #[command(after_help = "Example:\n  xen-xsplice apply xsa475 --timeout 50ms")]
    Apply {
        id: String,
        /// Check only the hypervisor's build-id, not the payload stack's order.
        #[arg(long)]
        nodeps: bool,
    },
    /// Revert an APPLIED payload (the most recently applied one).
    #[command(after_help = "Example:\n  xen-xsplice revert xsa475")]
    Revert { id: String },
    /// Revert every applied payload and apply this one, atomically.
    #[command(after_help = "Example:\n  xen-xsplice replace xsa475-v2")]
    Replace { id: String },
    /// Unload a CHECKED payload.
    #[command(after_help = "Example:\n  xen-xsplice unload xsa475")]
    Unload { id: String },
    /// Verify, upload and apply FILE; unload it again if the apply fails.
    #[command(
        after_help = "Example:\n  xen-xsplice --trust cert.pem load /root/xsa475.livepatch   # ID: xsa475"
    )]
    Load {
        /// The signed payload file.
        file: PathBuf,
        /// The payload's name [default: the file name up to its last `.`].
        #[arg(long)]
        id: Option<String>,
        /// Check only the hypervisor's build-id when applying.
        #[arg(long)]
        nodeps: bool,
    },
    /// Revert every applied payload (newest first) and unload everything.
    #[command(name = "unload-all", after_help = "Example:\n  xen-xsplice unload-all")]
    UnloadAll,
}

fn config(args: Args) -> Config {
    let command = match args.command {
        Cmd::Upload { id, file } => Command::Upload { id, file },
        Cmd::List { json } => Command::List { json },
        Cmd::Status { id, json } => Command::Status { id, json },
        Cmd::Check { id } => Command::Check { id },
        Cmd::Apply { id, nodeps } => Command::Apply { id, nodeps },
        Cmd::Revert { id } => Command::Revert { id },
        Cmd::Replace { id } => Command::Replace { id },
        Cmd::Unload { id } => Command::Unload { id },
        Cmd::Load { file, id, nodeps } => Command::Load { file, id, nodeps },
        Cmd::UnloadAll => Command::UnloadAll,
    };
    let config_file = args.config.or_else(|| {
        std::env::var_os(ENV_CONFIG)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    Config {
        command,
        trust: TrustSources {
            certificates: args.trust,
            config_file,
            insecure_unsigned: args.insecure_unsigned,
        },
        action: ActionOptions {
            timeout_ns: args.timeout,
            wait: args.wait,
            ..ActionOptions::default()
        },
    }
}

fn main() -> ExitCode {
    if let Some(code) =
        xsplice_cli::generate_hook(<Args as clap::CommandFactory>::command, exit::USAGE)
    {
        return code;
    }
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let cfg = config(args);
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    let result = run::run(
        &cfg,
        xen_xsplice::privcmd::Privcmd::open,
        &mut Console {
            out: &mut out,
            err: &mut err,
        },
    );
    std::io::Write::flush(&mut out).ok();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xen-xsplice: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
