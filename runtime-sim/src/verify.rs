//! `runtime-sim verify`: does a payload behave as promised?
//!
//! upload → check → run every probe on the unpatched hypervisor and record the
//! results → apply → every probe must return its expected value → revert → every
//! probe must return what it returned before → unload. All through the hypercall
//! interface as domain 0.
//!
//! With `--applied EARLIER` (repeatable, in order) the earlier payloads of a hotpatch
//! stack are uploaded and applied first, as on a host that already runs them; the
//! "unpatched" values are then those of the hypervisor with that stack.

use std::path::PathBuf;

use xsplice_image::Image;

use crate::boot::SimConfig;
use crate::client::Client;
use crate::cpu::Arg;
use crate::errno::Failure;
use crate::hypervisor::Hypervisor;
use crate::livepatch::Interface;
use crate::livepatch::client::LivepatchClient;
use crate::policy::Policy;
use crate::report::{ret_matches, show_ret, status_or_gone};
use crate::signature::Trust;
use crate::state::{Action, Status};
use xsplice_abi::livepatch as abi;

/// `function(args)=value`, or `function(args)` when the expected value comes from
/// running the same call on the patched build (`--expect-from`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub function: String,
    pub args: Vec<i64>,
    pub want: Option<Want>,
}

/// What a probe must return once patched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    /// The return value (`=263`, `=-22`, `=0x10`).
    Int(i64),
    /// The NUL-terminated string the returned pointer points at (`="-xsplice"`),
    /// for functions returning `const char *`.
    Str(String),
}

impl std::fmt::Display for Want {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Want::Int(v) => write!(f, "{v}"),
            Want::Str(t) => write!(f, "{t:?}"),
        }
    }
}

/// What one run of a probe returned: the return value, and for string probes the
/// string it points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    pub ret: u64,
    pub text: Option<String>,
}

impl Got {
    fn show(&self) -> String {
        match &self.text {
            Some(t) => format!("{t:?}"),
            None => show_ret(self.ret),
        }
    }
    /// The part of the result a probe compares.
    fn same(&self, other: &Got) -> bool {
        match (&self.text, &other.text) {
            (Some(a), Some(b)) => a == b,
            _ => self.ret == other.ret,
        }
    }
}

/// Longest string a string probe reads.
const MAX_PROBE_STRING: u64 = 4096;

impl Probe {
    /// Parses `do_version(0)=263` or `do_version(0)`; arguments and value in
    /// decimal or `0x` hex, optionally negative.
    pub fn parse(text: &str) -> Result<Probe, String> {
        Probe::parse_as(text, "probe", "FUNCTION(ARGS)[=VALUE]")
    }

    /// A call without an expected value: `FUNCTION(ARGS)`.
    pub fn parse_call(text: &str) -> Result<Probe, String> {
        if text.contains('=') {
            return Err(format!(
                "call `{text}`: a call takes no `=VALUE` (expected FUNCTION(ARGS))"
            ));
        }
        Probe::parse_as(text, "call", "FUNCTION(ARGS)")
    }

    fn parse_as(text: &str, what: &str, form: &str) -> Result<Probe, String> {
        let bad = |why: &str| format!("{what} `{text}`: {why} (expected {form})");
        let (call, value) = match text.rsplit_once('=') {
            Some((c, v)) => (c, Some(v)),
            None => (text, None),
        };
        let call = call.trim();
        let (function, rest) = call.split_once('(').ok_or_else(|| bad("no `(`"))?;
        let args = rest
            .strip_suffix(')')
            .ok_or_else(|| bad("no closing `)`"))?;
        let function = function.trim();
        if function.is_empty() {
            return Err(bad("no function name"));
        }
        let args = if args.trim().is_empty() {
            Vec::new()
        } else {
            args.split(',')
                .map(|a| {
                    parse_int(a.trim()).ok_or_else(|| bad(&format!("bad argument `{}`", a.trim())))
                })
                .collect::<Result<_, _>>()?
        };
        let want = match value.map(str::trim) {
            Some(v) if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') => {
                Some(Want::Str(v[1..v.len() - 1].to_string()))
            }
            Some(v) => Some(Want::Int(parse_int(v).ok_or_else(|| bad("bad value"))?)),
            None => None,
        };
        Ok(Probe {
            function: function.to_string(),
            args,
            want,
        })
    }

    pub fn call_text(&self) -> String {
        let a: Vec<String> = self.args.iter().map(|a| a.to_string()).collect();
        format!("{}({})", self.function, a.join(", "))
    }
}

pub fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let v = match digits.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()? as i64,
        None => digits.parse::<u64>().ok()? as i64,
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

#[derive(Clone, Debug)]
pub struct VerifyConfig {
    pub hypervisor: PathBuf,
    pub trust: Vec<PathBuf>,
    pub payload: PathBuf,
    /// Earlier payloads of the stack, applied (in order) before anything else.
    pub applied: Vec<PathBuf>,
    pub probes: Vec<Probe>,
    pub cpus: usize,
    /// The patched build's image: probes without `=VALUE` expect what they return
    /// there, so the payload is shown to behave as the patched build.
    pub expect_from: Option<PathBuf>,
}

/// One probe's three runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeRow {
    pub probe: Probe,
    pub before: Result<Got, String>,
    pub patched: Option<Result<Got, String>>,
    pub reverted: Option<Result<Got, String>>,
}

impl ProbeRow {
    fn patched_ok(&self) -> bool {
        match (&self.patched, &self.probe.want) {
            (Some(Ok(g)), Some(Want::Int(w))) => ret_matches(g.ret, *w),
            (Some(Ok(g)), Some(Want::Str(w))) => g.text.as_deref() == Some(w.as_str()),
            _ => false,
        }
    }
    fn reverted_ok(&self) -> bool {
        matches!((&self.before, &self.reverted), (Ok(b), Some(Ok(r))) if b.same(r))
    }
    pub fn ok(&self) -> bool {
        self.before.is_ok() && self.patched_ok() && self.reverted_ok()
    }
}

#[derive(Clone, Debug)]
pub struct VerifyReport {
    pub build_id: String,
    /// Where expected values came from, when not given on the command line.
    pub expected_from: Option<String>,
    /// (step, result, held)
    pub steps: Vec<(String, String, bool)>,
    pub probes: Vec<ProbeRow>,
    /// Why steps failed.
    pub notes: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| s.2) && self.probes.iter().all(ProbeRow::ok)
    }

    pub fn render(&self) -> String {
        let mut s = format!("hypervisor build-id {}\n", self.build_id);
        if let Some(from) = &self.expected_from {
            s += &format!("expected values: from the patched build {from}\n");
        }
        s += "\n";
        let sw = self
            .steps
            .iter()
            .map(|t| t.0.len())
            .max()
            .unwrap_or(0)
            .max(8);
        s += &format!("{:<sw$}  {:<12}  ok\n", "step", "result");
        for (step, res, ok) in &self.steps {
            s += &format!(
                "{step:<sw$}  {res:<12}  {}\n",
                if *ok { "yes" } else { "NO" }
            );
        }
        let show = |r: &Option<Result<Got, String>>| match r {
            None => "-".to_string(),
            Some(Ok(v)) => v.show(),
            Some(Err(_)) => "error".to_string(),
        };
        let w = self
            .probes
            .iter()
            .map(|p| p.probe.call_text().len())
            .max()
            .unwrap_or(5)
            .max(5);
        s += &format!(
            "\n{:<w$}  {:>10}  {:>10}  {:>10}  {:>10}  ok\n",
            "probe", "unpatched", "patched", "expected", "reverted"
        );
        let mut errors = Vec::new();
        for p in &self.probes {
            s += &format!(
                "{:<w$}  {:>10}  {:>10}  {:>10}  {:>10}  {}\n",
                p.probe.call_text(),
                show(&Some(p.before.clone())),
                show(&p.patched),
                p.probe
                    .want
                    .as_ref()
                    .map_or("-".to_string(), |w| w.to_string()),
                show(&p.reverted),
                if p.ok() { "yes" } else { "NO" }
            );
            for r in [Some(&p.before), p.patched.as_ref(), p.reverted.as_ref()]
                .into_iter()
                .flatten()
            {
                if let Err(e) = r {
                    errors.push(format!("{}: {e}", p.probe.call_text()));
                }
            }
        }
        for e in errors.iter().chain(&self.notes) {
            s += &format!("  {e}\n");
        }
        s += if self.ok() {
            "\nverified: every probe held\n"
        } else {
            "\nNOT verified\n"
        };
        s
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct VerifyError(pub String);

fn run_probes(hv: &mut Hypervisor, probes: &[Probe]) -> Vec<Result<Got, String>> {
    probes
        .iter()
        .map(|p| {
            let args: Vec<Arg> = p.args.iter().map(|&a| Arg::Int(a as u64)).collect();
            let ret = hv
                .call(0, &p.function, &args)
                .map(|r| r.ret)
                .map_err(|e| e.to_string())?;
            let text = match p.want {
                Some(Want::Str(_)) => Some(c_string(hv, ret)?),
                _ => None,
            };
            Ok(Got { ret, text })
        })
        .collect()
}

/// The NUL-terminated string at `addr` in the hypervisor's memory.
fn c_string(hv: &Hypervisor, addr: u64) -> Result<String, String> {
    let mut bytes = Vec::new();
    for i in 0..MAX_PROBE_STRING {
        let b = hv
            .memory()
            .read(addr.wrapping_add(i), 1)
            .map_err(|e| format!("the returned pointer {addr:#x} is not a readable string: {e}"))?;
        if b[0] == 0 {
            return Ok(String::from_utf8_lossy(&bytes).into_owned());
        }
        bytes.push(b[0]);
    }
    Err(format!(
        "no NUL within {MAX_PROBE_STRING} bytes of the returned pointer {addr:#x}"
    ))
}

/// Runs the verification. Errors are setup problems (unreadable files); everything
/// about the payload is in the report.
pub fn verify(cfg: &VerifyConfig) -> Result<VerifyReport, VerifyError> {
    let image = Image::from_path(&cfg.hypervisor).map_err(|e| VerifyError(e.to_string()))?;
    let trust = Trust::from_paths(&cfg.trust).map_err(|e| VerifyError(e.to_string()))?;
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| VerifyError(format!("{}: cannot read: {e}", p.display())))
    };
    let bytes = read(&cfg.payload)?;
    let earlier = cfg
        .applied
        .iter()
        .map(read)
        .collect::<Result<Vec<_>, _>>()?;
    let config = SimConfig {
        cpus: cfg.cpus,
        ..SimConfig::default()
    };
    let (probes, expected_from) = expected_values(cfg, &config)?;
    let mut hv = Hypervisor::boot(image, config, Policy::default(), trust)
        .map_err(|e| VerifyError(format!("boot: {e}")))?;
    let mut report = VerifyReport {
        build_id: hex::encode(hv.build_id()),
        expected_from,
        steps: Vec::new(),
        probes: Vec::new(),
        notes: Vec::new(),
    };
    let mut t = Toolstack::for_hypervisor(&hv);
    let mut notes = Vec::new();
    for (n, (b, path)) in earlier.iter().zip(&cfg.applied).enumerate() {
        let id = format!("applied-{}", n + 1);
        if let Err(why) = apply_earlier(&mut hv, &mut t, &id, b) {
            report.steps.push((id, "refused".into(), false));
            report
                .notes
                .push(format!("--applied {}: {why}", path.display()));
            return Ok(report);
        }
        report.steps.push((id, "APPLIED".into(), true));
    }
    let id = "verify";
    let up = t.upload(&mut hv, id, &bytes);
    report.steps.push(("upload".into(), up.0.clone(), up.1));
    if let Some(why) = up.2 {
        notes.push(why);
    }
    let mut act = |hv: &mut Hypervisor, t: &mut Toolstack, a: Action| -> bool {
        let (shown, ok, why) = t.act(hv, id, a);
        if let Some(why) = why {
            notes.push(format!("{}: {why}", a.name()));
        }
        report.steps.push((a.name().to_string(), shown, ok));
        ok
    };
    let before = run_probes(&mut hv, &probes);
    report.probes = probes
        .iter()
        .zip(before)
        .map(|(p, b)| ProbeRow {
            probe: p.clone(),
            before: b,
            patched: None,
            reverted: None,
        })
        .collect();
    let checked = up.1 && (t.checks_at_upload() || act(&mut hv, &mut t, Action::Check));
    if checked {
        if act(&mut hv, &mut t, Action::Apply) {
            for (row, r) in report.probes.iter_mut().zip(run_probes(&mut hv, &probes)) {
                row.patched = Some(r);
            }
            if act(&mut hv, &mut t, Action::Revert) {
                for (row, r) in report.probes.iter_mut().zip(run_probes(&mut hv, &probes)) {
                    row.reverted = Some(r);
                }
            }
        }
        act(&mut hv, &mut t, Action::Unload);
    }
    report.notes = notes;
    Ok(report)
}

/// The toolstack of the interface the hypervisor speaks: the design's xsplice
/// (upload, check, apply, revert, unload) or Xen's livepatch (upload checks; apply,
/// revert, unload).
enum Toolstack {
    Xsplice(Client),
    Livepatch(LivepatchClient),
}

impl Toolstack {
    fn for_hypervisor(hv: &Hypervisor) -> Toolstack {
        match hv.interface() {
            Interface::Xsplice => Toolstack::Xsplice(Client::new(0)),
            Interface::Livepatch => Toolstack::Livepatch(LivepatchClient::new(0)),
        }
    }

    fn checks_at_upload(&self) -> bool {
        matches!(self, Toolstack::Livepatch(_))
    }

    /// (status shown, held, why not)
    fn upload(
        &mut self,
        hv: &mut Hypervisor,
        id: &str,
        bytes: &[u8],
    ) -> (String, bool, Option<String>) {
        let (r, ok_state) = match self {
            Toolstack::Xsplice(c) => (c.upload(hv, id, bytes), "LOADED"),
            Toolstack::Livepatch(c) => (c.upload(hv, id, bytes), "CHECKED"),
        };
        match r {
            Ok(()) => (ok_state.into(), true, None),
            Err(e) => (format!("-{}", e.errno), false, Some(e.to_string())),
        }
    }

    /// Runs an action to completion: (status shown, reached its state, why not).
    fn act(&mut self, hv: &mut Hypervisor, id: &str, a: Action) -> (String, bool, Option<String>) {
        match self {
            Toolstack::Xsplice(c) => {
                let want = a.next_state().map(|s| match s {
                    crate::state::State::Loaded => Status::Loaded,
                    crate::state::State::Checked => Status::Checked,
                    crate::state::State::Applied => Status::Applied,
                    crate::state::State::Reverted => Status::Reverted,
                });
                let r = c.action(hv, id, a, 0);
                hv.settle();
                let st = c.get(hv, id).ok();
                let ok = r.is_ok() && st == want;
                let shown = match &r {
                    Err(e) => format!("-{}", e.errno),
                    Ok(()) => status_or_gone(st),
                };
                let why = (!ok).then(|| last_failure(hv, id).map(|f| f.why)).flatten();
                (shown, ok, why)
            }
            Toolstack::Livepatch(c) => {
                let (cmd, want) = match a {
                    Action::Apply => (abi::ACTION_APPLY, Some(abi::STATE_APPLIED)),
                    Action::Revert => (abi::ACTION_REVERT, Some(abi::STATE_CHECKED)),
                    Action::Replace => (abi::ACTION_REPLACE, Some(abi::STATE_APPLIED)),
                    Action::Unload => (abi::ACTION_UNLOAD, None),
                    Action::Check => return ("CHECKED".into(), true, None),
                };
                let r = c.action(hv, id, cmd, 0, 0);
                hv.settle();
                let st = c.get(hv, id).ok();
                let ok = r.is_ok() && st.map(|s| (s.state, s.rc)) == want.map(|w| (w, 0));
                let shown = match (&r, st) {
                    (Err(e), _) => format!("-{}", e.errno),
                    (Ok(()), None) => "gone".into(),
                    (Ok(()), Some(s)) if s.rc != 0 => format!("-{}", crate::Errno(-s.rc).name()),
                    (Ok(()), Some(s)) => s.state_name(),
                };
                let why = match &r {
                    Err(e) => (!ok).then(|| e.to_string()),
                    Ok(()) => (!ok).then(|| last_failure(hv, id).map(|f| f.why)).flatten(),
                };
                (shown, ok, why)
            }
        }
    }
}

/// Why the last action on payload `id` failed.
fn last_failure(hv: &Hypervisor, id: &str) -> Option<Failure> {
    hv.payloads()
        .iter()
        .find(|r| r.id.to_string() == id)
        .and_then(|r| r.error.clone())
}

/// Uploads, checks and applies an earlier payload of the stack.
fn apply_earlier(
    hv: &mut Hypervisor,
    t: &mut Toolstack,
    id: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let (_, ok, why) = t.upload(hv, id, bytes);
    if !ok {
        return Err(format!("upload: {}", why.unwrap_or_default()));
    }
    let actions: &[Action] = if t.checks_at_upload() {
        &[Action::Apply]
    } else {
        &[Action::Check, Action::Apply]
    };
    for &a in actions {
        let (shown, ok, why) = t.act(hv, id, a);
        if !ok {
            return Err(format!("{}: {}", a.name(), why.unwrap_or(shown)));
        }
    }
    Ok(())
}

/// Fills in the probes' missing expected values by running them on the patched build
/// (`--expect-from`), booted the same way. A probe without a value and without a
/// patched build, or failing on it, is a setup error.
fn expected_values(
    cfg: &VerifyConfig,
    config: &SimConfig,
) -> Result<(Vec<Probe>, Option<String>), VerifyError> {
    let Some(path) = &cfg.expect_from else {
        if let Some(p) = cfg.probes.iter().find(|p| p.want.is_none()) {
            return Err(VerifyError(format!(
                "probe `{}` has no `=VALUE`: give one, or --expect-from PATCHED_IMAGE",
                p.call_text()
            )));
        }
        return Ok((cfg.probes.clone(), None));
    };
    let image = Image::from_path(path).map_err(|e| VerifyError(e.to_string()))?;
    let build_id = hex::encode(image.build_id());
    let mut patched = Hypervisor::boot(image, config.clone(), Policy::default(), Trust::default())
        .map_err(|e| VerifyError(format!("boot {}: {e}", path.display())))?;
    let results = run_probes(&mut patched, &cfg.probes);
    let mut probes = cfg.probes.clone();
    for (p, r) in probes.iter_mut().zip(results) {
        if p.want.is_none() {
            let v = r.map_err(|e| {
                VerifyError(format!(
                    "probe `{}` fails on the patched build {}: {e}",
                    p.call_text(),
                    path.display()
                ))
            })?;
            p.want = Some(Want::Int(v.ret as i64));
        }
    }
    Ok((
        probes,
        Some(format!("{} (build-id {build_id})", path.display())),
    ))
}
