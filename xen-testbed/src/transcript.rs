//! Parsing the serial console of one boot into per-command results.
//!
//! Xen's console is the machine's serial port and dom0's console (`hvc0`) is written
//! through Xen to the same port, so one stream carries Xen's lines (`(XEN) ...`), the
//! dom0 kernel's messages and the script's output. The `@@XTB` marker lines printed by
//! `/init` and `xtb_run` (see [`crate::initramfs::HELPERS_SH`]) delimit it.

/// The prefix Xen puts in front of each line of its own console messages.
pub const XEN_PREFIX: &str = "(XEN) ";

/// One command run through `xtb_run` in dom0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    /// The command (exactly as given to [`crate::Testbed::run_commands`]; from a raw
    /// script, as echoed by `xtb_run`, newlines turned into spaces).
    pub cmd: String,
    /// Its standard output (`\r\n` of the console turned into `\n`).
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// Its exit code.
    pub rc: i32,
    /// The console lines printed while it ran (Xen's `(XEN) ...` lines, dom0 kernel
    /// messages), in order.
    pub console: Vec<String>,
}

impl CommandResult {
    /// Standard output followed by standard error.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The errno `xen-livepatch` reported: it prints `Error N: <strerror>` on stderr
    /// when a hypercall fails and exits with 1 whatever N is. The last such line.
    pub fn reported_errno(&self) -> Option<i32> {
        self.stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("Error ")?.split_once(':')?.0.parse().ok())
    }

    /// Xen's own console messages printed while the command ran, without the `(XEN) `
    /// prefix.
    pub fn xen_messages(&self) -> Vec<&str> {
        xen_messages(self.console.iter().map(String::as_str))
    }
}

fn xen_messages<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    lines
        .filter_map(|l| l.find(XEN_PREFIX).map(|i| &l[i + XEN_PREFIX.len()..]))
        .collect()
}

/// Everything one boot printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// The whole serial console, `\r` removed, invalid UTF-8 replaced.
    pub serial: String,
    /// The commands run through `xtb_run`, in order.
    pub commands: Vec<CommandResult>,
    /// Whether `/init` finished its setup and started the script (`@@XTB READY`).
    pub ready: bool,
    /// Setup steps of `/init` that failed (e.g. `insmod xenfs`).
    pub setup_failures: Vec<String>,
    /// The exit code of the script (`@@XTB DONE rc=N`), `None` if it never finished.
    pub script_rc: Option<i32>,
}

impl Transcript {
    /// Parses a console log.
    pub fn parse(raw: &[u8]) -> Self {
        let serial = String::from_utf8_lossy(raw).replace('\r', "");
        let mut commands = Vec::new();
        let mut ready = false;
        let mut setup_failures = Vec::new();
        let mut script_rc = None;

        enum State {
            Outside,
            Running,
            Stdout,
            Stderr,
        }
        let mut state = State::Outside;
        let mut current: Option<(u64, CommandResult)> = None;
        let marker = |line: &str, word: &str, n: u64| -> bool {
            line.strip_prefix("@@XTB ")
                .and_then(|r| r.strip_prefix(word))
                .and_then(|r| r.strip_prefix(' '))
                .is_some_and(|r| r.split(' ').next() == Some(n.to_string().as_str()))
        };
        let lines: Vec<&str> = serial.split('\n').collect();
        for line in &lines {
            let line = *line;
            match state {
                State::Outside | State::Running => {
                    if let Some(rest) = line.strip_prefix("@@XTB RUN ") {
                        let (n, cmd) = rest.split_once(' ').unwrap_or((rest, ""));
                        if let Ok(n) = n.parse() {
                            current = Some((
                                n,
                                CommandResult {
                                    cmd: cmd.to_owned(),
                                    stdout: String::new(),
                                    stderr: String::new(),
                                    rc: -1,
                                    console: Vec::new(),
                                },
                            ));
                            state = State::Running;
                            continue;
                        }
                    }
                    if let (State::Running, Some((n, cmd))) = (&state, &mut current) {
                        if marker(line, "BEGIN", *n) {
                            state = State::Stdout;
                        } else {
                            cmd.console.push(line.to_owned());
                        }
                        continue;
                    }
                    if line == "@@XTB READY" {
                        ready = true;
                    } else if let Some(step) = line.strip_prefix("@@XTB SETUP-FAILED ") {
                        setup_failures.push(step.to_owned());
                    } else if let Some(rc) = line.strip_prefix("@@XTB DONE rc=") {
                        script_rc = rc.trim().parse().ok();
                    }
                }
                State::Stdout | State::Stderr => {
                    let (n, cmd) = current.as_mut().expect("a command is open");
                    if matches!(state, State::Stdout) && marker(line, "STDERR", *n) {
                        state = State::Stderr;
                    } else if matches!(state, State::Stderr) && marker(line, "END", *n) {
                        cmd.rc = line
                            .rsplit_once("rc=")
                            .and_then(|(_, rc)| rc.trim().parse().ok())
                            .unwrap_or(-1);
                        let (_, mut done) = current.take().expect("open");
                        // `xtb_run` prints one newline after each stream.
                        for s in [&mut done.stdout, &mut done.stderr] {
                            s.pop();
                        }
                        commands.push(done);
                        state = State::Outside;
                    } else {
                        let out = if matches!(state, State::Stdout) {
                            &mut cmd.stdout
                        } else {
                            &mut cmd.stderr
                        };
                        out.push_str(line);
                        out.push('\n');
                    }
                }
            }
        }
        Self {
            serial,
            commands,
            ready,
            setup_failures,
            script_rc,
        }
    }

    /// Xen's own console messages (every line carrying the `(XEN) ` prefix), without
    /// the prefix.
    pub fn xen_messages(&self) -> Vec<&str> {
        xen_messages(self.serial.lines())
    }

    /// The last `n` lines of the console.
    pub fn tail(&self, n: usize) -> String {
        tail(&self.serial, n)
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_console() {
        let log = "(XEN) Xen version 4.17\r\n[    1.0] kernel\r\n@@XTB READY\r\n\
            @@XTB RUN 1 xen-livepatch upload bad /tmp/g\r\n\
            (XEN) livepatch: bad: Not an ELF\r\n\
            @@XTB BEGIN 1\r\nUploading /tmp/g... failed\r\n\r\n@@XTB STDERR 1\r\nError 22: Invalid argument\r\n\r\n@@XTB END 1 rc=1\r\n\
            @@XTB RUN 2 printf x\r\n@@XTB BEGIN 2\r\nx\r\n@@XTB STDERR 2\r\n\r\n@@XTB END 2 rc=0\r\n\
            @@XTB RUN 3 true\r\n@@XTB BEGIN 3\r\n\r\n@@XTB STDERR 3\r\n\r\n@@XTB END 3 rc=0\r\n\
            @@XTB DONE rc=0\r\n";
        let t = Transcript::parse(log.as_bytes());
        assert!(t.ready);
        assert_eq!(t.script_rc, Some(0));
        assert_eq!(t.commands.len(), 3);
        let c = &t.commands[0];
        assert_eq!(c.cmd, "xen-livepatch upload bad /tmp/g");
        assert_eq!(c.stdout, "Uploading /tmp/g... failed\n");
        assert_eq!(c.stderr, "Error 22: Invalid argument\n");
        assert_eq!(c.rc, 1);
        assert_eq!(c.reported_errno(), Some(22));
        assert_eq!(t.commands[1].reported_errno(), None);
        assert_eq!(c.xen_messages(), ["livepatch: bad: Not an ELF"]);
        assert_eq!(t.commands[1].stdout, "x");
        assert_eq!(t.commands[2].output(), "");
        assert_eq!(
            t.xen_messages(),
            ["Xen version 4.17", "livepatch: bad: Not an ELF"]
        );
    }

    #[test]
    fn output_that_looks_like_markers() {
        let log = "@@XTB READY\n@@XTB RUN 1 x\n@@XTB BEGIN 1\n@@XTB END 1 rc=5\n@@XTB STDERR 2\n\n\
            @@XTB STDERR 1\n@@XTB END 2 rc=3\n\n@@XTB END 1 rc=1\n";
        let t = Transcript::parse(log.as_bytes());
        assert_eq!(t.commands[0].stdout, "@@XTB END 1 rc=5\n@@XTB STDERR 2\n");
        assert_eq!(t.commands[0].stderr, "@@XTB END 2 rc=3\n");
        assert_eq!(t.commands[0].rc, 1);
        assert_eq!(t.script_rc, None);
    }

    #[test]
    fn unfinished() {
        let t = Transcript::parse(b"@@XTB READY\n@@XTB RUN 1 hang\n(XEN) panic\n");
        assert!(t.commands.is_empty());
        assert_eq!(t.tail(1), "(XEN) panic");
    }
}
