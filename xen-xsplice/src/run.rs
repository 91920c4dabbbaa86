//! The commands. [`prepare`] reads payload files and checks their signatures
//! without touching the hypervisor; [`execute`] then talks to it through a
//! [`Transport`]. [`run`] does both, connecting only when the payloads passed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use xsplice_abi::livepatch::{self as abi, Status};
use xsplice_sign::Verified;

use crate::client::{CallError, Client, Listed};
use crate::errno::Errno;
use crate::transport::{Transport, TransportError};
use crate::trust::{Refusal, TrustError, TrustSources};

/// Exit codes (also in `--help`).
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// The hypervisor refused, or an action failed (the errno is printed).
    pub const REFUSED: u8 = 1;
    /// Usage error, unreadable file, bad configuration or certificate.
    pub const USAGE: u8 = 2;
    /// A payload's signature was refused: nothing was sent to the hypervisor.
    pub const SIGNATURE: u8 = 3;
    /// Busy (`EBUSY`/`EAGAIN`): another action is running, or the CPUs did not
    /// stop within the timeout; nothing changed, try again.
    pub const BUSY: u8 = 4;
    /// The action was still in progress when the wait bound ran out.
    pub const STILL_RUNNING: u8 = 5;
    /// The hypervisor cannot be reached (no `/dev/xen/privcmd`, not root).
    pub const NO_HYPERVISOR: u8 = 6;
}

/// Longest payload name Xen takes (128 bytes with the NUL).
pub const MAX_NAME: usize = abi::NAME_SIZE - 1;

/// How actions are issued and waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionOptions {
    /// ACTION's `timeout`: how long the hypervisor may take to stop all CPUs and
    /// patch, in nanoseconds (0: Xen's default, 30 ms).
    pub timeout_ns: u32,
    /// How long to poll GET while the status says `-EAGAIN`.
    pub wait: Duration,
    /// The first pause between polls (doubled each time, up to 64 ms).
    pub poll: Duration,
}

impl Default for ActionOptions {
    fn default() -> Self {
        ActionOptions {
            timeout_ns: 30_000_000,
            wait: Duration::from_secs(5),
            poll: Duration::from_millis(1),
        }
    }
}

/// A command, with plain arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Upload {
        id: String,
        file: PathBuf,
    },
    List {
        json: bool,
    },
    Status {
        id: String,
        json: bool,
    },
    Check {
        id: String,
    },
    Apply {
        id: String,
        nodeps: bool,
    },
    Revert {
        id: String,
    },
    Replace {
        id: String,
    },
    Unload {
        id: String,
    },
    /// Upload, then apply (unload again when the apply fails). `id`: the file's
    /// name up to its last `.` when not given.
    Load {
        file: PathBuf,
        id: Option<String>,
        nodeps: bool,
    },
    UnloadAll,
}

/// Everything a run needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub command: Command,
    pub trust: TrustSources,
    pub action: ActionOptions,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{}: {why}", path.display())]
    Input { path: PathBuf, why: String },
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error("{0}")]
    Signature(Refusal),
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The hypervisor refused a hypercall.
    #[error("{errno}: {sentence}")]
    Refused { errno: Errno, sentence: String },
    /// An action the hypervisor accepted failed (its status carries the errno).
    #[error("{errno}: {sentence}")]
    ActionFailed { errno: Errno, sentence: String },
    #[error("{0}")]
    WrongState(String),
    #[error(
        "{id}: the {action} was still in progress after {waited_ms} ms (GET keeps answering EAGAIN); \
         check again with `xen-xsplice status {id}`"
    )]
    StillRunning {
        id: String,
        action: &'static str,
        waited_ms: u128,
    },
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    /// The process exit code ([`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Input { .. } | Error::Trust(_) | Error::Output(_) => {
                exit::USAGE
            }
            Error::Signature(_) => exit::SIGNATURE,
            Error::Transport(_) => exit::NO_HYPERVISOR,
            Error::Refused { errno, .. } | Error::ActionFailed { errno, .. }
                if matches!(*errno, Errno::EBUSY | Errno::EAGAIN) =>
            {
                exit::BUSY
            }
            Error::Refused { .. } | Error::ActionFailed { .. } | Error::WrongState(_) => {
                exit::REFUSED
            }
            Error::StillRunning { .. } => exit::STILL_RUNNING,
        }
    }

    /// The errno the hypervisor answered, if that is what failed.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Refused { errno, .. } | Error::ActionFailed { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Where the output goes: `out` for results and progress, `err` for warnings.
pub struct Console<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// A payload file read and checked.
#[derive(Clone, Debug)]
pub struct Payload {
    pub file: PathBuf,
    /// The file as it is, signature trailer included: what is uploaded.
    pub bytes: Vec<u8>,
    /// The valid signature (`None` under `--insecure-unsigned`).
    pub signature: Option<Verified>,
}

/// A command ready to run: its payload (if it uploads one) has passed the
/// signature check.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub command: Command,
    pub payload: Option<Payload>,
    pub action: ActionOptions,
}

/// Checks a payload name as Xen takes it: 1 to 127 bytes, no NUL.
pub fn check_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > MAX_NAME || id.contains('\0') {
        return Err(Error::Usage(format!(
            "payload ID `{}`: 1 to {MAX_NAME} bytes without NUL",
            id.escape_debug()
        )));
    }
    Ok(())
}

/// `load`'s default ID: the file name up to its last `.` (as `xen-livepatch`).
pub fn id_from_file(file: &Path) -> Result<String, Error> {
    let base = file.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Error::Usage(format!("{}: no usable file name for an ID", file.display()))
    })?;
    let id = match base.rfind('.') {
        Some(i) if i > 0 => &base[..i],
        _ => base,
    };
    check_id(id)?;
    Ok(id.to_string())
}

/// Reads the payload of an uploading command and checks its signature. Nothing
/// here reaches the hypervisor.
pub fn prepare(cfg: &Config, con: &mut Console) -> Result<Prepared, Error> {
    let file = match &cfg.command {
        Command::Upload { id, file } => {
            check_id(id)?;
            Some(file)
        }
        Command::Load { file, id, .. } => {
            match id {
                Some(id) => check_id(id)?,
                None => drop(id_from_file(file)?),
            }
            Some(file)
        }
        Command::Status { id, .. }
        | Command::Check { id }
        | Command::Apply { id, .. }
        | Command::Revert { id }
        | Command::Replace { id }
        | Command::Unload { id } => {
            check_id(id)?;
            None
        }
        Command::List { .. } | Command::UnloadAll => None,
    };
    let payload = match file {
        None => None,
        Some(file) => {
            let trust = cfg.trust.load()?;
            let bytes = std::fs::read(file).map_err(|e| Error::Input {
                path: file.clone(),
                why: e.to_string(),
            })?;
            let signature = trust.check(file, &bytes).map_err(Error::Signature)?;
            match &signature {
                None => writeln!(
                    con.err,
                    "xen-xsplice: warning: --insecure-unsigned: the signature of {} is NOT checked; \
                     whatever it holds will run inside the hypervisor",
                    file.display()
                )?,
                Some(v) => {
                    let from = trust
                        .origin(v)
                        .map(|p| format!(" (trusted certificate {})", p.display()))
                        .unwrap_or_default();
                    writeln!(con.out, "{}: {v}{from}", file.display())?;
                }
            }
            Some(Payload {
                file: file.clone(),
                bytes,
                signature,
            })
        }
    };
    Ok(Prepared {
        command: cfg.command.clone(),
        payload,
        action: cfg.action,
    })
}

/// [`prepare`], then [`execute`] on the transport `connect` opens (called only
/// when the payloads passed their checks).
pub fn run<T: Transport>(
    cfg: &Config,
    connect: impl FnOnce() -> Result<T, TransportError>,
    con: &mut Console,
) -> Result<(), Error> {
    let prepared = prepare(cfg, con)?;
    let mut t = connect()?;
    execute(&prepared, &mut t, con)
}

/// The sub-operation a sentence is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Upload,
    Get,
    List,
    Action(u32),
}

/// What `errno` means when the hypervisor answers it to `op` on payload `id`.
fn sentence(op: Op, id: &str, e: Errno) -> String {
    let dmesg = "Xen's console (xl dmesg) gives the reason";
    match (op, e) {
        (_, Errno::EPERM) => {
            "this domain may not manage live patches (run it in dom0; an XSM policy may forbid it)"
                .into()
        }
        (_, Errno::EACCES) => format!(
            "the hypervisor refused sysctl interface versions {:#x} and {:#x}: it is not Xen 4.17 or later",
            abi::INTERFACE_VERSION_4_17,
            abi::INTERFACE_VERSION_4_21
        ),
        (_, Errno::ENOSYS) => {
            "the hypervisor has no live-patching support (built without CONFIG_LIVEPATCH), or is not Xen"
                .into()
        }
        (Op::Get | Op::Action(_), Errno::ENOENT) => format!("no payload named {id} is loaded"),
        (Op::Upload, Errno::EEXIST) => format!("a payload named {id} is already loaded"),
        (Op::Upload, Errno::EINVAL) => format!(
            "Xen refused {id} as malformed or not built for this hypervisor (e.g. a wrong build-id \
             in .livepatch.xen_depends); {dmesg}"
        ),
        (Op::Upload, Errno::EOPNOTSUPP) => format!(
            "{id} uses something Xen's loader does not support (e.g. a relocation type it does not \
             handle, another payload version); {dmesg}"
        ),
        (Op::Upload, Errno::ENOENT) => {
            format!("{id} refers to a symbol this hypervisor does not have; {dmesg}")
        }
        (Op::Upload, Errno::ENOMEM) => format!("Xen has no memory left for {id}"),
        (Op::Upload, Errno::EFAULT) => {
            format!("Xen could not read {id} from the hypercall buffers")
        }
        (Op::Upload, Errno::ENODATA) => format!("{id} lacks a build-id note Xen needs; {dmesg}"),
        (Op::Upload, Errno::EOVERFLOW | Errno::ERANGE) => {
            format!("a relocation of {id} does not fit its target; {dmesg}")
        }
        (Op::Upload, Errno::E2BIG) => format!("{id} is larger than Xen accepts"),
        (Op::Upload, _) => format!("Xen refused {id}; {dmesg}"),
        (Op::List, Errno::EBUSY) => {
            "the list of payloads kept changing while it was read; try again".into()
        }
        (Op::Action(_), Errno::EBUSY) if op == Op::Action(abi::ACTION_REVERT) => format!(
            "{id} is not the most recently applied payload (revert the ones applied after it first), \
             or another action is running"
        ),
        (Op::Action(_), Errno::EBUSY) => {
            format!("another live-patch action is running, so {id} was left as it was; try again")
        }
        (Op::Action(abi::ACTION_UNLOAD), Errno::EINVAL) => {
            format!("{id} is applied: revert it before unloading it")
        }
        (Op::Action(abi::ACTION_APPLY | abi::ACTION_REPLACE), Errno::EINVAL) => format!(
            "{id} does not fit what runs now: its .livepatch.depends names neither this \
             hypervisor nor the most recently applied payload (apply in order, or --nodeps), or \
             the old code it expects differs; {dmesg}"
        ),
        (Op::Action(abi::ACTION_REPLACE), Errno::EOPNOTSUPP) => format!(
            "REPLACE is not supported when {id} or an applied payload has apply/revert hooks"
        ),
        (Op::Action(_), Errno::ERANGE) => {
            format!("an expectation of {id} is longer than the function it checks")
        }
        (Op::Action(c), _) => format!("the hypervisor refused to {} {id}; {dmesg}", abi::action_name(c)),
        (Op::Get, _) | (Op::List, _) => format!("the hypervisor refused the query; {dmesg}"),
    }
}

/// What a failed action's status `rc` means.
fn result_sentence(cmd: u32, id: &str, e: Errno, timeout_ns: u32) -> String {
    let verb = abi::action_name(cmd);
    match e {
        Errno::EBUSY => format!(
            "the {verb} of {id} did not happen: the CPUs did not all stop within the timeout ({}) \
             or a safety check failed; nothing was changed; try again, or give a longer --timeout",
            show_timeout(timeout_ns)
        ),
        Errno::EINVAL if cmd == abi::ACTION_APPLY => format!(
            "{id} cannot be applied again: it was reverted and has writable data (unload it and \
             upload it again), or its old code differs"
        ),
        _ => format!("the {verb} of {id} failed; Xen's console (xl dmesg) gives the reason"),
    }
}

fn show_timeout(ns: u32) -> String {
    match ns {
        0 => "Xen's default, 30 ms".into(),
        n if n % 1_000_000 == 0 => format!("{} ms", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{} us", n / 1_000),
        n => format!("{n} ns"),
    }
}

/// `CHECKED`, `APPLIED, action in progress`, `CHECKED, last action failed: EBUSY
/// (device or resource busy)`.
pub fn status_text(s: Status) -> String {
    match s.rc {
        0 => s.state_name(),
        rc if rc == -Errno::EAGAIN.0 => format!("{}, action in progress", s.state_name()),
        rc => {
            let e = Errno::from_negative(i64::from(rc));
            format!(
                "{}, last action failed: {} ({})",
                s.state_name(),
                e,
                e.description()
            )
        }
    }
}

fn refused(op: Op, id: &str) -> impl Fn(CallError) -> Error + '_ {
    move |e| match e {
        CallError::Transport(t) => Error::Transport(t),
        CallError::Hypervisor(errno) => Error::Refused {
            errno,
            sentence: sentence(op, id, errno),
        },
    }
}

struct Session<'c, 'a, 't> {
    client: Client<'t>,
    con: &'c mut Console<'a>,
    opts: ActionOptions,
}

impl Session<'_, '_, '_> {
    fn get(&mut self, id: &str) -> Result<Status, Error> {
        self.client.get(id).map_err(refused(Op::Get, id))
    }

    /// Issues `cmd` on `id`, then follows its status until it settles, printing each
    /// change. `Ok(false)`: nothing to do (already in the wanted state).
    fn act(&mut self, id: &str, cmd: u32, flags: u32) -> Result<bool, Error> {
        let verb = abi::action_name(cmd);
        let before = self.get(id)?;
        writeln!(self.con.out, "{id}: {}", status_text(before))?;
        if before.rc == -Errno::EAGAIN.0 {
            return Err(Error::Refused {
                errno: Errno::EAGAIN,
                sentence: format!("an action on {id} is already in progress; try again"),
            });
        }
        let applied = before.state == abi::STATE_APPLIED;
        let target = match cmd {
            abi::ACTION_APPLY | abi::ACTION_REPLACE => abi::STATE_APPLIED,
            abi::ACTION_REVERT => abi::STATE_CHECKED,
            _ => 0,
        };
        match cmd {
            abi::ACTION_UNLOAD if applied => {
                return Err(Error::WrongState(format!(
                    "{id} is APPLIED: revert it before unloading it"
                )));
            }
            abi::ACTION_UNLOAD => {}
            _ if before.state == target => {
                writeln!(
                    self.con.out,
                    "{id}: already {}, nothing to do",
                    before.state_name()
                )?;
                return Ok(false);
            }
            _ => {}
        }
        let timeout = self.opts.timeout_ns;
        let nodeps = if flags & abi::ACTION_APPLY_NODEPS != 0 {
            ", nodeps"
        } else {
            ""
        };
        writeln!(
            self.con.out,
            "{id}: {verb} requested (timeout {}{nodeps})",
            show_timeout(timeout)
        )?;
        self.client
            .action(id, cmd, timeout, flags)
            .map_err(refused(Op::Action(cmd), id))?;
        let mut prev = before;
        let mut waited = Duration::ZERO;
        let mut pause = self.opts.poll.max(Duration::from_micros(100));
        loop {
            self.client.transport().pause(pause);
            waited += pause;
            pause = (pause * 2).min(Duration::from_millis(64));
            let now = match self.client.get(id) {
                Err(CallError::Hypervisor(Errno::ENOENT)) if cmd == abi::ACTION_UNLOAD => {
                    writeln!(self.con.out, "{id}: unloaded")?;
                    return Ok(true);
                }
                r => r.map_err(refused(Op::Get, id))?,
            };
            if now != prev {
                writeln!(self.con.out, "{id}: {}", status_text(now))?;
                prev = now;
            }
            if now.rc == -Errno::EAGAIN.0 {
                if waited >= self.opts.wait {
                    return Err(Error::StillRunning {
                        id: id.to_string(),
                        action: verb,
                        waited_ms: waited.as_millis(),
                    });
                }
                continue;
            }
            if now.rc < 0 {
                let errno = Errno::from_negative(i64::from(now.rc));
                return Err(Error::ActionFailed {
                    errno,
                    sentence: result_sentence(cmd, id, errno, timeout),
                });
            }
            if cmd == abi::ACTION_UNLOAD {
                if waited >= self.opts.wait {
                    return Err(Error::WrongState(format!(
                        "{id}: still loaded after the unload ({})",
                        status_text(now)
                    )));
                }
                continue;
            }
            if now.state != target {
                return Err(Error::WrongState(format!(
                    "{id}: the {verb} finished but {id} is {}",
                    status_text(now)
                )));
            }
            return Ok(true);
        }
    }

    fn upload(&mut self, id: &str, p: &Payload) -> Result<(), Error> {
        writeln!(
            self.con.out,
            "{id}: uploading {} ({} bytes)",
            p.file.display(),
            p.bytes.len()
        )?;
        match self.client.upload(id, &p.bytes) {
            Ok(()) => {}
            Err(CallError::Hypervisor(Errno::EEXIST)) => {
                // Xen answers EEXIST for a taken name and for a build-id or global
                // symbol another payload already has: tell which.
                let sentence = match self.client.get(id) {
                    Ok(_) => sentence(Op::Upload, id, Errno::EEXIST),
                    Err(_) => format!(
                        "{id}'s build-id or one of its global symbols is already provided by a \
                         loaded payload; Xen's console (xl dmesg) says which"
                    ),
                };
                return Err(Error::Refused {
                    errno: Errno::EEXIST,
                    sentence,
                });
            }
            Err(e) => return Err(refused(Op::Upload, id)(e)),
        }
        let s = self.get(id)?;
        writeln!(self.con.out, "{id}: {}", status_text(s))?;
        Ok(())
    }

    fn list(&mut self) -> Result<Vec<Listed>, Error> {
        self.client.list().map_err(refused(Op::List, ""))
    }

    fn unload_all(&mut self) -> Result<(), Error> {
        let mut reverted = 0usize;
        loop {
            let all = self.list()?;
            let applied: Vec<&Listed> = all
                .iter()
                .filter(|e| e.status.state == abi::STATE_APPLIED)
                .collect();
            if applied.is_empty() {
                break;
            }
            // Xen reverts only the most recently applied payload; LIST shows upload
            // order, so try the newest first and move on when told EBUSY.
            let mut progressed = false;
            for e in applied.iter().rev() {
                match self.act(&e.name, abi::ACTION_REVERT, 0) {
                    Ok(_) => {
                        progressed = true;
                        reverted += 1;
                        break;
                    }
                    Err(Error::Refused {
                        errno: Errno::EBUSY,
                        ..
                    }) => {
                        writeln!(
                            self.con.out,
                            "{}: not the most recently applied; trying the next one",
                            e.name
                        )?;
                    }
                    Err(err) => return Err(err),
                }
            }
            if !progressed {
                return Err(Error::Refused {
                    errno: Errno::EBUSY,
                    sentence: "no applied payload could be reverted; try again".into(),
                });
            }
        }
        let all = self.list()?;
        for e in &all {
            self.act(&e.name, abi::ACTION_UNLOAD, 0)?;
        }
        if all.is_empty() && reverted == 0 {
            writeln!(self.con.out, "nothing loaded")?;
        } else {
            writeln!(
                self.con.out,
                "reverted {reverted}, unloaded {}: nothing is loaded now",
                all.len()
            )?;
        }
        Ok(())
    }
}

/// The `list` table, as `xen-livepatch list` prints it.
pub fn list_table(entries: &[Listed]) -> String {
    if entries.is_empty() {
        return "Nothing to list\n".into();
    }
    let mut s = format!(" {:<39}| status     | metadata\n", "ID");
    s.push_str(&format!(
        "{}+{}+{}\n",
        "-".repeat(40),
        "-".repeat(12),
        "-".repeat(15)
    ));
    for e in entries {
        let state = match e.status.state {
            abi::STATE_CHECKED | abi::STATE_APPLIED => e.status.state_name(),
            _ => "unknown".into(),
        };
        let rc = if e.status.rc != 0 {
            let errno = Errno::from_negative(i64::from(e.status.rc));
            format!(" ({}, {})", errno.0, errno.description())
        } else {
            String::new()
        };
        s.push_str(&format!(
            "{:<40}| {state}{rc}    | {}\n",
            e.name,
            e.metadata_text()
        ));
    }
    s
}

fn entry_json(e: &Listed) -> serde_json::Value {
    let meta = e.metadata.strip_suffix(&[0]).unwrap_or(&e.metadata);
    let metadata: Vec<String> = if meta.is_empty() {
        Vec::new()
    } else {
        meta.split(|&b| b == 0)
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect()
    };
    serde_json::json!({
        "name": e.name,
        "state": e.status.state_name(),
        "rc": e.status.rc,
        "errno": (e.status.rc < 0).then(|| Errno::from_negative(i64::from(e.status.rc)).name()),
        "metadata": metadata,
    })
}

/// Runs a prepared command on a transport.
pub fn execute(p: &Prepared, t: &mut dyn Transport, con: &mut Console) -> Result<(), Error> {
    let mut s = Session {
        client: Client::new(t),
        con,
        opts: p.action,
    };
    let payload = || p.payload.as_ref().expect("prepare read the payload");
    match &p.command {
        Command::Upload { id, .. } => s.upload(id, payload()),
        Command::List { json } => {
            let all = s.list()?;
            if *json {
                let v: Vec<_> = all.iter().map(entry_json).collect();
                writeln!(
                    s.con.out,
                    "{}",
                    serde_json::to_string_pretty(&v).expect("json")
                )?;
            } else {
                write!(s.con.out, "{}", list_table(&all))?;
            }
            Ok(())
        }
        Command::Status { id, json } => {
            let st = s.get(id)?;
            if *json {
                let e = Listed {
                    name: id.clone(),
                    status: st,
                    metadata: Vec::new(),
                };
                let mut v = entry_json(&e);
                v.as_object_mut().expect("object").remove("metadata");
                writeln!(
                    s.con.out,
                    "{}",
                    serde_json::to_string_pretty(&v).expect("json")
                )?;
            } else {
                writeln!(s.con.out, "{id}: {}", status_text(st))?;
            }
            Ok(())
        }
        Command::Check { id } => {
            let st = s.get(id)?;
            writeln!(s.con.out, "{id}: {}", status_text(st))?;
            if st.state == abi::STATE_CHECKED && st.rc == 0 {
                writeln!(
                    s.con.out,
                    "{id}: checked: loaded, not applied, no failed action"
                )?;
                Ok(())
            } else if st.rc != 0 {
                Err(Error::WrongState(format!(
                    "{id} is not CHECKED with rc 0: {}",
                    status_text(st)
                )))
            } else {
                Err(Error::WrongState(format!(
                    "{id} is {}, not CHECKED",
                    st.state_name()
                )))
            }
        }
        Command::Apply { id, nodeps } => {
            let flags = if *nodeps { abi::ACTION_APPLY_NODEPS } else { 0 };
            s.act(id, abi::ACTION_APPLY, flags).map(drop)
        }
        Command::Revert { id } => s.act(id, abi::ACTION_REVERT, 0).map(drop),
        Command::Replace { id } => s.act(id, abi::ACTION_REPLACE, 0).map(drop),
        Command::Unload { id } => s.act(id, abi::ACTION_UNLOAD, 0).map(drop),
        Command::Load { file, id, nodeps } => {
            let id = match id {
                Some(id) => id.clone(),
                None => id_from_file(file)?,
            };
            s.upload(&id, payload())?;
            let flags = if *nodeps { abi::ACTION_APPLY_NODEPS } else { 0 };
            if let Err(e) = s.act(&id, abi::ACTION_APPLY, flags) {
                writeln!(s.con.out, "{id}: the apply failed ({e}); unloading it")?;
                match s.act(&id, abi::ACTION_UNLOAD, 0) {
                    Ok(_) => {}
                    Err(u) => writeln!(s.con.out, "{id}: the unload failed too: {u}")?,
                }
                return Err(e);
            }
            Ok(())
        }
        Command::UnloadAll => s.unload_all(),
    }
}

/// Parses `--timeout`: a number with a unit (`30ms`, `500us`, `2000000ns`, `1s`);
/// a bare number is milliseconds. At most 4294967295 ns (ACTION's field is 32
/// bits); 0 asks for Xen's default (30 ms).
pub fn parse_timeout(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: expected a number with an optional unit (ns, us, ms, s)"))?;
    let mul: u64 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "" | "ms" => 1_000_000,
        "s" => 1_000_000_000,
        u => return Err(format!("`{s}`: unknown unit `{u}` (ns, us, ms, s)")),
    };
    n.checked_mul(mul)
        .and_then(|ns| u32::try_from(ns).ok())
        .ok_or_else(|| format!("`{s}`: more than 4294967295 ns (about 4.29 s), ACTION's limit"))
}

/// Parses `--wait`: like [`parse_timeout`] but any length (a bare number is
/// milliseconds).
pub fn parse_wait(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: expected a number with an optional unit (ms, s)"))?;
    match unit.trim() {
        "" | "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        u => Err(format!("`{s}`: unknown unit `{u}` (ms, s)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("30"), Ok(30_000_000));
        assert_eq!(parse_timeout("30ms"), Ok(30_000_000));
        assert_eq!(parse_timeout("500us"), Ok(500_000));
        assert_eq!(parse_timeout("1234ns"), Ok(1234));
        assert_eq!(parse_timeout("4s"), Ok(4_000_000_000));
        assert!(parse_timeout("5s").unwrap_err().contains("4294967295"));
        assert!(parse_timeout("3 parsecs").is_err());
        assert!(parse_timeout("").is_err());
        assert_eq!(parse_wait("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_wait("250"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn ids() {
        assert_eq!(
            id_from_file(Path::new("/tmp/fix.livepatch")).unwrap(),
            "fix"
        );
        assert_eq!(id_from_file(Path::new("a.b.c")).unwrap(), "a.b");
        assert_eq!(id_from_file(Path::new(".hidden")).unwrap(), ".hidden");
        assert!(check_id("").is_err());
        assert!(check_id(&"x".repeat(128)).is_err());
        assert!(check_id(&"x".repeat(127)).is_ok());
    }

    #[test]
    fn table_is_xen_livepatchs() {
        let e = |name: &str, state, rc, meta: &[u8]| Listed {
            name: name.into(),
            status: Status { state, rc },
            metadata: meta.to_vec(),
        };
        let t = list_table(&[
            e("extra", abi::STATE_CHECKED, 0, b"name=extra\0"),
            e("other", abi::STATE_APPLIED, -16, b"a=b\0c=d\0"),
        ]);
        assert_eq!(
            t,
            " ID                                     | status     | metadata\n\
             ----------------------------------------+------------+---------------\n\
             extra                                   | CHECKED    | name=extra\n\
             other                                   | APPLIED (16, device or resource busy)    | a=b;c=d\n"
        );
        assert_eq!(list_table(&[]), "Nothing to list\n");
    }

    #[test]
    fn sentences_name_the_errno() {
        let e = Error::Refused {
            errno: Errno::EEXIST,
            sentence: sentence(Op::Upload, "fix", Errno::EEXIST),
        };
        assert_eq!(
            e.to_string(),
            "EEXIST: a payload named fix is already loaded"
        );
        assert_eq!(e.exit_code(), exit::REFUSED);
        let busy = Error::ActionFailed {
            errno: Errno::EBUSY,
            sentence: result_sentence(abi::ACTION_APPLY, "fix", Errno::EBUSY, 30_000_000),
        };
        assert!(
            busy.to_string()
                .starts_with("EBUSY: the apply of fix did not happen")
        );
        assert!(busy.to_string().contains("30 ms"));
        assert_eq!(busy.exit_code(), exit::BUSY);
        assert_eq!(
            status_text(Status { state: 1, rc: -11 }),
            "CHECKED, action in progress"
        );
    }
}
