//! Scenario files: a hypervisor image, settings, and steps with expected results
//! (format in `specs/hypercall.md`, "Scenario files"). Session files of the
//! `xsplice` command set are scenarios whose steps record what happened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xsplice_image::Image;

use crate::boot::SimConfig;
use crate::client::{Client, HypercallError};
use crate::cpu::{Arg, CallOutcome};
use crate::errno::Errno;
use crate::exec::StopAt;
use crate::hypervisor::Hypervisor;
use crate::policy::{DomId, Policy};
use crate::report::{self, ret_matches, show_ret};
use crate::signature::Trust;
use crate::state::{Action, Status};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The hypervisor image (relative paths are relative to the scenario file).
    pub hypervisor: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<usize>,
    /// Trusted certificates: when present, payloads must be signed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust: Vec<PathBuf>,
    /// A privilege policy file (default: only domain 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arena_base: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_write_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instructions: Option<u64>,
    #[serde(default, rename = "step", skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
}

/// Fields shared by CHECK/APPLY/REVERT/UNLOAD steps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionStep {
    pub id: String,
    /// Time bound in ms (0: unbounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomId>,
    /// Hypercall result: `ok` (default) or an errno name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// Status after the deferred work ran (default: the state the action leads to;
    /// `gone` after UNLOAD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Leave the action in flight (default: run the deferred work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_wait: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    Upload {
        id: String,
        payload: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<DomId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<String>,
        /// SHA-256 of the payload file; checked when present (sessions record it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    Get {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<DomId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },
    List {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<DomId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<String>,
        /// `id=STATUS` for every payload, in order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entries: Option<Vec<String>>,
    },
    Check(ActionStep),
    Apply(ActionStep),
    Revert(ActionStep),
    Unload(ActionStep),
    /// Run deferred work now.
    Settle {},
    Call {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpu: Option<usize>,
        function: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        args: Vec<i64>,
        /// Pause at this location (`sym`, `sym+off`, `0xaddr`) instead of returning.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_at: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ret: Option<i64>,
        /// The call must fail with an error containing this text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Resume {
        cpu: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_at: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ret: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Set how long a CPU takes to join a rendezvous; no `ms`: it never joins.
    Rendezvous {
        cpu: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
    },
    BuildId {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<DomId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<String>,
        /// Expected build-id in hex.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// Record the debug dump in the report.
    Dump {},
}

/// What one step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepReport {
    /// 1-based.
    pub n: usize,
    pub what: String,
    pub got: String,
    pub ok: bool,
    /// Why it failed, or extra output (the dump).
    pub note: Option<String>,
    /// The hypervisor's explanation of a refused hypercall or failed action.
    pub why: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Parse { path: PathBuf, why: String },
    #[error("{0}")]
    Setup(String),
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ScenarioError::Parse {
            path: path.into(),
            why: e.to_string(),
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("scenarios serialize")
    }

    fn config(&self) -> SimConfig {
        let d = SimConfig::default();
        SimConfig {
            cpus: self.cpus.unwrap_or(d.cpus),
            max_payload_size: self.max_payload_size.unwrap_or(d.max_payload_size),
            arena_base: self.arena_base.or(d.arena_base),
            site_write_us: self.site_write_us.unwrap_or(d.site_write_us),
            max_instructions: self.max_instructions.unwrap_or(d.max_instructions),
            ..d
        }
    }

    /// Boots the scenario's hypervisor; `base` is the directory of the scenario file.
    pub fn boot(&self, base: &Path) -> Result<Hypervisor, ScenarioError> {
        let image = Image::from_path(&base.join(&self.hypervisor))
            .map_err(|e| ScenarioError::Setup(e.to_string()))?;
        let trust: Vec<PathBuf> = self.trust.iter().map(|t| base.join(t)).collect();
        let trust = Trust::from_paths(&trust).map_err(|e| ScenarioError::Setup(e.to_string()))?;
        let policy = match &self.policy {
            None => Policy::default(),
            Some(p) => {
                let path = base.join(p);
                let text = std::fs::read_to_string(&path).map_err(|source| ScenarioError::Io {
                    path: path.clone(),
                    source,
                })?;
                Policy::parse(&text).map_err(|e| ScenarioError::Parse {
                    path,
                    why: e.to_string(),
                })?
            }
        };
        Hypervisor::boot(image, self.config(), policy, trust)
            .map_err(|e| ScenarioError::Setup(format!("boot: {e}")))
    }
}

/// Runs steps against a hypervisor, one report per step. Steps run on even after
/// one fails, so the report is complete.
pub struct Runner {
    pub hv: Hypervisor,
    base: PathBuf,
    clients: BTreeMap<DomId, Client>,
}

fn result_name(r: &Result<(), HypercallError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => e.errno.name(),
    }
}

fn errno_ok(want: &Option<String>, r: &Result<(), HypercallError>) -> bool {
    let want = want.as_deref().unwrap_or("ok");
    match r {
        Ok(()) => want == "ok",
        Err(e) => Errno::from_name(want) == Some(e.errno),
    }
}

/// SHA-256 of a payload file, hex.
pub fn file_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Runner {
    pub fn new(hv: Hypervisor, base: &Path) -> Runner {
        Runner {
            hv,
            base: base.into(),
            clients: BTreeMap::new(),
        }
    }

    /// Runs one step. `n` is its 1-based number.
    pub fn step(&mut self, n: usize, step: &Step) -> StepReport {
        let mut rep = StepReport {
            n,
            what: String::new(),
            got: String::new(),
            ok: true,
            note: None,
            why: None,
        };
        match step {
            Step::Upload {
                id,
                payload,
                domain,
                expect,
                sha256,
            } => {
                rep.what = format!("upload {id} {}", payload.display());
                let path = self.base.join(payload);
                let bytes = match std::fs::read(&path) {
                    Ok(b) => b,
                    Err(e) => {
                        rep.got = "unreadable".into();
                        rep.ok = false;
                        rep.note = Some(format!("{}: {e}", payload.display()));
                        return rep;
                    }
                };
                if let Some(want) = sha256
                    && *want != file_sha256(&bytes)
                {
                    rep.got = "changed".into();
                    rep.ok = false;
                    rep.note = Some(format!(
                        "{} changed since it was recorded (sha256 {})",
                        payload.display(),
                        file_sha256(&bytes)
                    ));
                    return rep;
                }
                let r = self.with_client(*domain, |c, hv| c.upload(hv, id, &bytes));
                self.finish_call(&mut rep, expect, r);
            }
            Step::Get {
                id,
                domain,
                expect,
                status,
            } => {
                rep.what = format!("get {id}");
                let r = self.with_client(*domain, |c, hv| c.get(hv, id));
                let st = r.as_ref().ok().copied();
                self.finish_call(&mut rep, expect, r.map(|_| ()));
                if let Some(s) = st {
                    rep.got = s.name();
                    check_status(&mut rep, status, Some(s));
                }
            }
            Step::List {
                domain,
                expect,
                entries,
            } => {
                rep.what = "list".into();
                let r = self.with_client(*domain, |c, hv| c.list(hv, 8));
                let got = r.as_ref().ok().cloned();
                self.finish_call(&mut rep, expect, r.map(|_| ()));
                if let Some(list) = got {
                    let have: Vec<String> = list
                        .iter()
                        .map(|s| format!("{}={}", s.id, s.status.name()))
                        .collect();
                    rep.got = have.join(" ");
                    if let Some(want) = entries
                        && *want != have
                    {
                        rep.ok = false;
                        rep.note = Some(format!("expected {}", want.join(" ")));
                    }
                }
            }
            Step::Check(a) => self.action(&mut rep, Action::Check, a),
            Step::Apply(a) => self.action(&mut rep, Action::Apply, a),
            Step::Revert(a) => self.action(&mut rep, Action::Revert, a),
            Step::Unload(a) => self.action(&mut rep, Action::Unload, a),
            Step::Settle {} => {
                rep.what = "settle".into();
                let done = self.hv.settle();
                rep.got = format!("{} completion(s)", done.len());
            }
            Step::Call {
                cpu,
                function,
                args,
                stop_at,
                ret,
                error,
            } => {
                let cpu = cpu.unwrap_or(0);
                let shown: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                rep.what = format!("cpu{cpu}: {function}({})", shown.join(", "));
                let stop = match stop_at.as_deref().map(|s| self.hv.resolve_location(s)) {
                    None => None,
                    Some(Ok(a)) => Some(StopAt::Address(a)),
                    Some(Err(e)) => {
                        rep.got = "bad stop".into();
                        rep.ok = false;
                        rep.note = Some(e.to_string());
                        return rep;
                    }
                };
                let args: Vec<Arg> = args.iter().map(|&a| Arg::Int(a as u64)).collect();
                let r = self.hv.call_until(cpu, function, &args, stop);
                call_outcome(&mut rep, r, stop_at, ret, error);
            }
            Step::Resume {
                cpu,
                stop_at,
                ret,
                error,
            } => {
                rep.what = format!("cpu{cpu}: resume");
                let stop = match stop_at.as_deref().map(|s| self.hv.resolve_location(s)) {
                    None => None,
                    Some(Ok(a)) => Some(StopAt::Address(a)),
                    Some(Err(e)) => {
                        rep.got = "bad stop".into();
                        rep.ok = false;
                        rep.note = Some(e.to_string());
                        return rep;
                    }
                };
                let r = self.hv.resume(*cpu, stop);
                call_outcome(&mut rep, r, stop_at, ret, error);
            }
            Step::Rendezvous { cpu, ms } => {
                rep.what = format!("cpu{cpu}: rendezvous");
                match self.hv.set_rendezvous(*cpu, *ms) {
                    Ok(()) => rep.got = ms.map_or("never".into(), |m| format!("{m} ms")),
                    Err(e) => {
                        rep.got = "error".into();
                        rep.ok = false;
                        rep.note = Some(e.to_string());
                    }
                }
            }
            Step::BuildId {
                domain,
                expect,
                value,
            } => {
                rep.what = "build-id".into();
                let r = self.with_client(*domain, |c, hv| c.build_id(hv));
                let got = r.as_ref().ok().cloned();
                self.finish_call(&mut rep, expect, r.map(|_| ()));
                if let Some(id) = got {
                    rep.got = hex::encode(&id);
                    if let Some(v) = value
                        && !v.eq_ignore_ascii_case(&rep.got)
                    {
                        rep.ok = false;
                        rep.note = Some(format!("expected {v}"));
                    }
                }
            }
            Step::Dump {} => {
                rep.what = "dump".into();
                rep.got = "-".into();
                rep.note = Some(report::dump(&self.hv));
            }
        }
        rep
    }

    fn with_client<T>(
        &mut self,
        dom: Option<DomId>,
        f: impl FnOnce(&mut Client, &mut Hypervisor) -> T,
    ) -> T {
        let d = dom.unwrap_or(0);
        let c = self.clients.entry(d).or_insert_with(|| Client::new(d));
        f(c, &mut self.hv)
    }

    fn finish_call(
        &mut self,
        rep: &mut StepReport,
        expect: &Option<String>,
        r: Result<(), HypercallError>,
    ) {
        rep.got = result_name(&r);
        if let Err(e) = &r {
            rep.why = e.why.clone();
        }
        if !errno_ok(expect, &r) {
            rep.ok = false;
            rep.note = Some(match &r {
                Err(e) => format!(
                    "expected {}; {}",
                    expect.as_deref().unwrap_or("ok"),
                    e.why.as_deref().unwrap_or("")
                ),
                Ok(()) => format!("expected {}", expect.as_deref().unwrap_or("ok")),
            });
        } else if let Err(e) = &r {
            rep.note = e.why.clone();
        }
    }

    fn action(&mut self, rep: &mut StepReport, action: Action, a: &ActionStep) {
        rep.what = format!("{} {}", action.name(), a.id);
        let time = a.time.unwrap_or(0);
        let r = self.with_client(a.domain, |c, hv| c.action(hv, &a.id, action, time));
        let started = r.is_ok();
        self.finish_call(rep, &a.expect, r);
        if !started || a.no_wait == Some(true) {
            if started {
                let st = self.with_client(a.domain, |c, hv| c.get(hv, &a.id)).ok();
                rep.got = report::status_or_gone(st);
                check_status(rep, &a.status, st);
            }
            return;
        }
        self.hv.settle();
        let st = self.with_client(Some(0), |c, hv| c.get(hv, &a.id)).ok();
        rep.got = report::status_or_gone(st);
        let default = match action.next_state() {
            Some(s) => s.code(),
            None => 0,
        };
        let want = a
            .status
            .clone()
            .unwrap_or_else(|| match Status::from_code(default) {
                Some(s) => s.name(),
                None => "gone".into(),
            });
        check_status(rep, &Some(want), st);
        // A failed action (expected or not) shows why, as a refused hypercall does.
        if matches!(st, Some(Status::Error(_)))
            && let Some(f) = self.hv.payloads().iter().find(|r| r.id.to_string() == a.id)
            && let Some(e) = &f.error
        {
            rep.why = Some(e.why.clone());
            rep.note = Some(match rep.note.take() {
                Some(n) if !rep.ok => format!("{n}: {}", e.why),
                _ => e.why.clone(),
            });
        } else if !rep.ok
            && let Some(f) = self.hv.payloads().iter().find(|r| r.id.to_string() == a.id)
            && let Some(e) = &f.error
        {
            rep.note = Some(format!(
                "{}: {}",
                rep.note.take().unwrap_or_default(),
                e.why
            ));
        }
    }
}

fn check_status(rep: &mut StepReport, want: &Option<String>, got: Option<Status>) {
    let Some(want) = want else { return };
    let have = report::status_or_gone(got);
    if *want != have {
        rep.ok = false;
        rep.note = Some(format!("expected status {want}"));
    }
}

fn call_outcome(
    rep: &mut StepReport,
    r: Result<CallOutcome, crate::cpu::CallError>,
    stop_at: &Option<String>,
    ret: &Option<i64>,
    error: &Option<String>,
) {
    match r {
        Ok(CallOutcome::Returned(res)) => {
            rep.got = show_ret(res.ret);
            if let Some(want) = ret
                && !ret_matches(res.ret, *want)
            {
                rep.ok = false;
                rep.note = Some(format!("expected {want}"));
            }
            if error.is_some() || stop_at.is_some() {
                rep.ok = false;
                rep.note = Some("expected the call not to return".into());
            }
        }
        Ok(CallOutcome::Paused { rip }) => {
            rep.got = format!("paused at {rip:#x}");
            if stop_at.is_none() || ret.is_some() || error.is_some() {
                rep.ok = false;
            }
        }
        Err(e) => {
            rep.got = "error".into();
            let text = e.to_string();
            rep.ok = error
                .as_ref()
                .is_some_and(|want| text.contains(want.as_str()));
            rep.note = Some(text);
        }
    }
}

/// Runs a whole scenario file.
pub fn run_file(path: &Path) -> Result<Vec<StepReport>, ScenarioError> {
    let s = Scenario::load(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let hv = s.boot(base)?;
    let mut runner = Runner::new(hv, base);
    Ok(s.steps
        .iter()
        .enumerate()
        .map(|(i, st)| runner.step(i + 1, st))
        .collect())
}

/// The report table of a run.
pub fn table(reports: &[StepReport]) -> String {
    let mut s = String::new();
    let w = reports
        .iter()
        .map(|r| r.what.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let g = reports
        .iter()
        .map(|r| r.got.len())
        .max()
        .unwrap_or(6)
        .max(6);
    s += &format!("{:>3}  {:<w$}  {:<g$}  ok\n", "#", "step", "result");
    for r in reports {
        s += &format!(
            "{:>3}  {:<w$}  {:<g$}  {}\n",
            r.n,
            r.what,
            r.got,
            if r.ok { "yes" } else { "NO" }
        );
        if let Some(n) = &r.note {
            for line in n.lines() {
                s += &format!("     {line}\n");
            }
        }
    }
    let failed = reports.iter().filter(|r| !r.ok).count();
    s += &format!("{} passed, {} failed\n", reports.len() - failed, failed);
    s
}
