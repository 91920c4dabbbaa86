//! Sessions for the `xen-xsplice`-shaped command set.
//!
//! A simulated hypervisor lives only as long as one process, so a session is a
//! scenario file that journals every state-changing command with the outcome it
//! had. Each command boots the image, replays the journal (which must reproduce the
//! recorded outcomes exactly: the simulator is deterministic, and payload files are
//! pinned by SHA-256), runs the new command, and appends it. The file stays a valid
//! scenario: `runtime-sim run SESSION` replays it with a table.

use std::path::{Path, PathBuf};

use crate::cpu::Arg;
use crate::report::{self, show_ret};
use crate::scenario::{ActionStep, Runner, Scenario, ScenarioError, Step, file_sha256};
use crate::state::{Action, Status};
use crate::verify::Probe;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("{path}: already exists")]
    Exists { path: PathBuf },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: replay diverged at step {n} ({what}): got {got}{}", note.as_ref().map(|n| format!("; {n}")).unwrap_or_default())]
    Diverged {
        path: PathBuf,
        n: usize,
        what: String,
        got: String,
        note: Option<String>,
    },
    #[error("{0}")]
    Usage(String),
}

/// An open session: the journal and the hypervisor it replays to.
pub struct Session {
    path: PathBuf,
    scenario: Scenario,
    pub runner: Runner,
}

/// What a command printed and whether it succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub text: String,
    pub ok: bool,
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `target` as the session file should name it: relative to the session's directory
/// when it lies below it, else absolute. `target` is relative to the current
/// directory, as the user typed it; an error names it that way.
fn relative_to(dir: &Path, target: &Path) -> Result<PathBuf, SessionError> {
    let t = target.canonicalize().map_err(|source| ScenarioError::Io {
        path: target.into(),
        source,
    })?;
    let d = dir.canonicalize().map_err(|source| SessionError::Write {
        path: dir.into(),
        source,
    })?;
    Ok(t.strip_prefix(&d).map(Path::to_path_buf).unwrap_or(t))
}

fn write_atomic(path: &Path, text: &str) -> Result<(), SessionError> {
    let err = |source| SessionError::Write {
        path: path.into(),
        source,
    };
    let dir = dir_of(path);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(err)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

impl Session {
    /// Starts a session file for an image. Fails if the file exists.
    pub fn create(
        path: &Path,
        hypervisor: &Path,
        cpus: Option<usize>,
        trust: &[PathBuf],
        policy: Option<&Path>,
    ) -> Result<Session, SessionError> {
        if path.exists() {
            return Err(SessionError::Exists { path: path.into() });
        }
        let dir = dir_of(path);
        let scenario = Scenario {
            hypervisor: relative_to(&dir, hypervisor)?,
            cpus,
            trust: trust
                .iter()
                .map(|t| relative_to(&dir, t))
                .collect::<Result<_, _>>()?,
            policy: policy.map(|p| relative_to(&dir, p)).transpose()?,
            ..Scenario::default()
        };
        let hv = scenario.boot(&dir)?;
        let s = Session {
            path: path.into(),
            runner: Runner::new(hv, &dir),
            scenario,
        };
        s.save()?;
        Ok(s)
    }

    /// Opens a session: boots and replays its journal.
    pub fn open(path: &Path) -> Result<Session, SessionError> {
        let scenario = Scenario::load(path)?;
        let dir = dir_of(path);
        let hv = scenario.boot(&dir)?;
        let mut runner = Runner::new(hv, &dir);
        for (i, st) in scenario.steps.iter().enumerate() {
            let r = runner.step(i + 1, st);
            if !r.ok {
                return Err(SessionError::Diverged {
                    path: path.into(),
                    n: r.n,
                    what: r.what,
                    got: r.got,
                    note: r.note,
                });
            }
        }
        Ok(Session {
            path: path.into(),
            scenario,
            runner,
        })
    }

    pub fn save(&self) -> Result<(), SessionError> {
        let text = format!(
            "# runtime-sim session: every command that changed state, with its outcome.\n\
             # Replayed by each `runtime-sim xsplice` command; `runtime-sim run` replays it too.\n{}",
            self.scenario.to_toml()
        );
        write_atomic(&self.path, &text)
    }

    fn record(&mut self, step: Step) -> Result<(), SessionError> {
        self.scenario.steps.push(step);
        self.save()
    }

    /// `upload <id> <file>`.
    pub fn upload(&mut self, id: &str, file: &Path) -> Result<Output, SessionError> {
        let bytes = std::fs::read(file).map_err(|source| {
            SessionError::Scenario(ScenarioError::Io {
                path: file.into(),
                source,
            })
        })?;
        let mut text = format!("Uploading {} ({} bytes)\n", file.display(), bytes.len());
        let dir = dir_of(&self.path);
        let mut step = Step::Upload {
            id: id.into(),
            payload: relative_to(&dir, file)?,
            domain: None,
            expect: None,
            sha256: Some(file_sha256(&bytes)),
        };
        let r = self.runner.step(self.scenario.steps.len() + 1, &step);
        let ok = r.got == "ok";
        if !ok {
            text += &format!(
                "Upload failed: {}, error: {}{}\n",
                file.display(),
                r.got,
                r.why.map(|n| format!(" ({n})")).unwrap_or_default()
            );
            if let Step::Upload { expect, .. } = &mut step {
                *expect = Some(r.got.clone());
            }
        }
        self.record(step)?;
        Ok(Output { text, ok })
    }

    /// `list`.
    pub fn list(&mut self) -> Output {
        let r = self.runner.step(
            0,
            &Step::List {
                domain: None,
                expect: None,
                entries: None,
            },
        );
        let hv = &self.runner.hv;
        let entries: Vec<crate::client::Summary> = hv
            .payloads()
            .iter()
            .map(|p| crate::client::Summary {
                id: p.id,
                status: p.status(),
            })
            .collect();
        Output {
            text: report::list_table(&entries),
            ok: r.ok,
        }
    }

    /// `check|apply|revert|unload <id>`: like the design's tool, checks the state,
    /// starts the action, then polls GET (running the hypervisor's deferred work
    /// between polls, at most 30 times) until the expected state.
    pub fn action(&mut self, action: Action, id: &str, time: u64) -> Result<Output, SessionError> {
        let mut text = String::new();
        let before = self
            .runner
            .hv
            .payloads()
            .iter()
            .find(|r| r.id.to_string() == id)
            .map(|r| r.status());
        if let Some(st) = before {
            text += &format!(
                "{id}: state is {} ({:#x}). Commencing {}:",
                st.name(),
                st.code(),
                action.name()
            );
        }
        let mut step_fields = ActionStep {
            id: id.into(),
            time: (time != 0).then_some(time),
            ..ActionStep::default()
        };
        let r = self.runner.step(
            self.scenario.steps.len() + 1,
            &wrap(
                action,
                ActionStep {
                    no_wait: Some(true),
                    status: None,
                    ..step_fields.clone()
                },
            ),
        );
        if r.got != "PROGRESS" {
            // Refused by the hypercall itself.
            let errno = r.got.clone();
            text += &format!(
                "{}{id} failed with {errno}{}\n",
                if before.is_some() { " " } else { "" },
                r.why.map(|n| format!(" ({n})")).unwrap_or_default()
            );
            step_fields.expect = Some(errno);
            self.record(wrap(action, step_fields))?;
            return Ok(Output { text, ok: false });
        }
        let mut polls = 0;
        let status = loop {
            let st = self
                .runner
                .hv
                .payloads()
                .iter()
                .find(|r| r.id.to_string() == id)
                .map(|r| r.status());
            if st != Some(Status::Progress) || polls == 30 {
                break st;
            }
            text += ".";
            polls += 1;
            self.runner.hv.run_pending();
        };
        let want = action.next_state().map(|s| s.code());
        let ok = status.map(|s| s.code()) == want;
        if ok {
            text += " completed!\n";
        } else {
            let why = self
                .runner
                .hv
                .payloads()
                .iter()
                .find(|r| r.id.to_string() == id)
                .and_then(|r| r.error.as_ref())
                .map(|f| format!(" ({})", f.why))
                .unwrap_or_default();
            text += &format!(" {id} ended in {}{why}\n", report::status_or_gone(status));
        }
        step_fields.status = Some(report::status_or_gone(status));
        // Replays run the deferred work to completion; record only settled outcomes.
        if status == Some(Status::Progress) {
            step_fields.no_wait = Some(true);
        }
        self.record(wrap(action, step_fields))?;
        Ok(Output { text, ok })
    }

    /// `call 'fn(args)'` on CPU `cpu`.
    pub fn call(&mut self, cpu: usize, text: &str) -> Result<Output, SessionError> {
        let p = Probe::parse_call(text).map_err(SessionError::Usage)?;
        let args: Vec<Arg> = p.args.iter().map(|&a| Arg::Int(a as u64)).collect();
        let r = self.runner.hv.call(cpu, &p.function, &args);
        let (out, step) = match r {
            Ok(res) => (
                Output {
                    text: format!("{} = {}\n", p.call_text(), show_ret(res.ret)),
                    ok: true,
                },
                Step::Call {
                    cpu: Some(cpu),
                    function: p.function.clone(),
                    args: p.args.clone(),
                    stop_at: None,
                    ret: Some(res.ret as i64),
                    error: None,
                },
            ),
            Err(e) => (
                Output {
                    text: format!("{}: {e}\n", p.call_text()),
                    ok: false,
                },
                Step::Call {
                    cpu: Some(cpu),
                    function: p.function.clone(),
                    args: p.args.clone(),
                    stop_at: None,
                    ret: None,
                    error: Some(e.to_string()),
                },
            ),
        };
        self.record(step)?;
        Ok(out)
    }

    /// The debug-key dump.
    pub fn dump(&self) -> Output {
        Output {
            text: report::dump(&self.runner.hv),
            ok: true,
        }
    }
}

fn wrap(action: Action, a: ActionStep) -> Step {
    match action {
        Action::Check => Step::Check(a),
        Action::Apply => Step::Apply(a),
        Action::Revert => Step::Revert(a),
        Action::Unload => Step::Unload(a),
        Action::Replace => unreachable!("the design's command set has no replace"),
    }
}
