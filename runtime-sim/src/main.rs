//! `runtime-sim`: thin command-line glue over the `runtime_sim` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

const AFTER_HELP: &str = "\
Examples:
  runtime-sim verify --hypervisor xen-syms fix.livepatch --probe 'do_xen_version(0,0)=0x40012'
  runtime-sim run scenario.toml

Shell completions and the man page: runtime-sim --generate bash|zsh|fish|man";

const VERIFY_HELP: &str = "\
Example:
  runtime-sim verify --hypervisor xen-syms --trust signing.crt fix.livepatch \\
      --probe 'do_xen_version(0,0)=0x40012' --probe 'xen_extra_version()=\"-fixed\"'";
use runtime_sim::scenario;
use runtime_sim::session::Session;
use runtime_sim::state::Action;
use runtime_sim::verify::{Probe, VerifyConfig, verify};

#[derive(Parser)]
#[command(
    name = "runtime-sim",
    version,
    about = "Simulated hypervisor for xSplice payloads",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario file and print a table of its steps.
    #[command(
        after_help = "Example:\n  runtime-sim run fix-cycle.toml   (steps: upload, check, apply, call, revert; specs/hypercall.md §8)"
    )]
    Run { scenario: PathBuf },
    /// Upload, check, apply, revert and unload a payload, running probes in between.
    #[command(after_help = VERIFY_HELP)]
    Verify {
        #[arg(long)]
        hypervisor: PathBuf,
        /// Trusted certificate (repeatable): payloads must then be signed.
        #[arg(long)]
        trust: Vec<PathBuf>,
        #[arg(long, default_value_t = 2)]
        cpus: usize,
        payload: PathBuf,
        /// An earlier payload of the hotpatch stack (repeatable, in order): uploaded
        /// and applied first, as on a host that already runs it.
        #[arg(long, value_name = "EARLIER")]
        applied: Vec<PathBuf>,
        /// FUNCTION(ARGS)=VALUE: the value the call must return once patched; a "quoted" VALUE is the string the returned pointer must point at.
        /// FUNCTION(ARGS) alone: the value it returns on --expect-from's image.
        #[arg(long = "probe", required = true)]
        probes: Vec<String>,
        /// The patched build of the hypervisor (the tree the payload was built
        /// from, fully built): supplies the expected value of probes given without one.
        #[arg(long = "expect-from", value_name = "PATCHED_IMAGE")]
        expect_from: Option<PathBuf>,
    },
    /// Create a session file for the `xsplice` commands.
    #[command(
        after_help = "Example:\n  runtime-sim session host.session --hypervisor xen-syms --trust signing.crt"
    )]
    Session {
        session: PathBuf,
        #[arg(long)]
        hypervisor: PathBuf,
        #[arg(long)]
        cpus: Option<usize>,
        #[arg(long)]
        trust: Vec<PathBuf>,
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// The design's xen-xsplice tool, against a session file.
    #[command(
        after_help = "Example:\n  runtime-sim xsplice host.session upload fix fix.xsplice\n  runtime-sim xsplice host.session apply fix"
    )]
    Xsplice {
        session: PathBuf,
        #[command(subcommand)]
        cmd: Ctl,
    },
}

#[derive(Subcommand)]
enum Ctl {
    /// Upload FILE as payload ID.
    Upload { id: String, file: PathBuf },
    /// List payloads and their states.
    List,
    Check {
        id: String,
        #[arg(long, default_value_t = 0)]
        time: u64,
    },
    Apply {
        id: String,
        #[arg(long, default_value_t = 0)]
        time: u64,
    },
    Revert {
        id: String,
        #[arg(long, default_value_t = 0)]
        time: u64,
    },
    Unload {
        id: String,
        #[arg(long, default_value_t = 0)]
        time: u64,
    },
    /// Call a hypervisor function: 'name(1, 2)'.
    Call {
        call: String,
        #[arg(long, default_value_t = 0)]
        cpu: usize,
    },
    /// Print every payload and CPU (the debug key handler).
    Dump,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("runtime-sim: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    if let Some(code) = xsplice_cli::generate_hook(<Cli as clap::CommandFactory>::command, 2) {
        return code;
    }
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run { scenario } => match scenario::run_file(&scenario) {
            Ok(reports) => {
                print!("{}", scenario::table(&reports));
                if reports.iter().all(|r| r.ok) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => fail(e),
        },
        Cmd::Verify {
            hypervisor,
            trust,
            cpus,
            payload,
            applied,
            probes,
            expect_from,
        } => {
            let probes: Result<Vec<Probe>, String> =
                probes.iter().map(|p| Probe::parse(p)).collect();
            let probes = match probes {
                Ok(p) => p,
                Err(e) => return fail(e),
            };
            let cfg = VerifyConfig {
                hypervisor,
                trust,
                payload,
                applied,
                probes,
                cpus,
                expect_from,
            };
            match verify(&cfg) {
                Ok(r) => {
                    print!("{}", r.render());
                    if r.ok() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => fail(e),
            }
        }
        Cmd::Session {
            session,
            hypervisor,
            cpus,
            trust,
            policy,
        } => match Session::create(&session, &hypervisor, cpus, &trust, policy.as_deref()) {
            Ok(_) => {
                println!("created session {}", session.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Cmd::Xsplice { session, cmd } => {
            let mut s = match Session::open(&session) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let out = match cmd {
                Ctl::Upload { id, file } => s.upload(&id, &file),
                Ctl::List => Ok(s.list()),
                Ctl::Check { id, time } => s.action(Action::Check, &id, time),
                Ctl::Apply { id, time } => s.action(Action::Apply, &id, time),
                Ctl::Revert { id, time } => s.action(Action::Revert, &id, time),
                Ctl::Unload { id, time } => s.action(Action::Unload, &id, time),
                Ctl::Call { call, cpu } => s.call(cpu, &call),
                Ctl::Dump => Ok(s.dump()),
            };
            match out {
                Ok(o) => {
                    print!("{}", o.text);
                    if o.ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => fail(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn man_page_completion_and_help_document_the_tool() {
        use clap::CommandFactory;
        xsplice_cli::check_documents(
            super::Cli::command,
            &[".TH runtime-sim 1", "verify", "session", "xsplice"],
            &[
                "complete -F _runtime__sim",
                "verify",
                "--hypervisor",
                "--probe",
                "--trust",
            ],
        )
        .unwrap();
    }
}
