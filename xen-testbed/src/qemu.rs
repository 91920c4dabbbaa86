//! Running QEMU with a deadline while collecting the serial console.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::apt::describe;
use crate::{Error, Result};

/// The line `/init` prints once the script has finished.
const DONE: &[u8] = b"@@XTB DONE rc=";

/// After DONE, how long the machine gets to power itself off before it is killed.
pub const POWER_OFF_GRACE: Duration = Duration::from_secs(10);

/// Kills the child when dropped (a panicking caller must not leave QEMU running).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// What one QEMU run produced.
pub struct Outcome {
    pub serial: Vec<u8>,
    pub stderr: Vec<u8>,
    /// How QEMU ended: its exit status, or that it was killed after DONE.
    pub ended: String,
}

fn collect(mut from: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, thread::JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buf);
    let handle = thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match from.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .expect("not poisoned")
                    .extend_from_slice(&chunk[..n]),
            }
        }
    });
    (buf, handle)
}

/// Runs `cmd` (a QEMU whose serial port is its standard output) until it exits, or
/// until `grace` after the console shows DONE, or until `timeout`.
pub fn run(mut cmd: Command, qemu: &Path, timeout: Duration, grace: Duration) -> Result<Outcome> {
    let command = describe(&cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::QemuSpawn {
            qemu: qemu.to_path_buf(),
            source,
        })?;
    let mut guard = Guard(child);
    let (serial, serial_reader) = collect(guard.0.stdout.take().expect("piped"));
    let (stderr, stderr_reader) = collect(guard.0.stderr.take().expect("piped"));

    let start = Instant::now();
    let mut done_at: Option<Instant> = None;
    let mut scanned: usize = 0;
    let ended = loop {
        if let Some(status) = guard.0.try_wait().map_err(|e| Error::Command {
            command: command.clone(),
            detail: e.to_string(),
        })? {
            break format!("QEMU exited ({status})");
        }
        if done_at.is_none() {
            let buf = serial.lock().expect("not poisoned");
            let from = scanned.saturating_sub(DONE.len());
            if buf[from..].windows(DONE.len()).any(|w| w == DONE) {
                done_at = Some(Instant::now());
            }
            scanned = buf.len();
        }
        if done_at.is_some_and(|t| t.elapsed() > grace) {
            let _ = guard.0.kill();
            let _ = guard.0.wait();
            break "killed: the machine did not power off after the script".to_owned();
        }
        if start.elapsed() > timeout {
            let _ = guard.0.kill();
            let _ = guard.0.wait();
            let _ = serial_reader.join();
            let serial = std::mem::take(&mut *serial.lock().expect("not poisoned"));
            return Err(Error::Timeout {
                secs: timeout.as_secs(),
                serial: String::from_utf8_lossy(&serial).replace('\r', ""),
            });
        }
        thread::sleep(Duration::from_millis(25));
    };
    let _ = serial_reader.join();
    let _ = stderr_reader.join();
    let serial = std::mem::take(&mut *serial.lock().expect("not poisoned"));
    let stderr = std::mem::take(&mut *stderr.lock().expect("not poisoned"));
    Ok(Outcome {
        serial,
        stderr,
        ended,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn exits() {
        let o = run(
            sh("echo hello; echo oops >&2; exit 3"),
            Path::new("sh"),
            10 * SEC,
            SEC,
        )
        .unwrap();
        assert_eq!(o.serial, b"hello\n");
        assert_eq!(o.stderr, b"oops\n");
        assert!(o.ended.contains('3'), "{}", o.ended);
    }

    #[test]
    fn times_out_with_the_console() {
        let start = Instant::now();
        let e = run(sh("echo booting; exec sleep 30"), Path::new("sh"), SEC, SEC)
            .err()
            .unwrap();
        assert!(start.elapsed() < 10 * SEC);
        let Error::Timeout { secs, serial } = &e else {
            panic!("{e}")
        };
        assert_eq!((*secs, serial.as_str()), (1, "booting\n"));
        assert!(e.to_string().contains("booting"), "{e}");
    }

    #[test]
    fn killed_after_done() {
        let start = Instant::now();
        let o = run(
            sh("echo '@@XTB DONE rc=0'; exec sleep 30"),
            Path::new("sh"),
            20 * SEC,
            SEC / 10,
        )
        .unwrap();
        assert!(start.elapsed() < 10 * SEC);
        assert!(o.ended.starts_with("killed"), "{}", o.ended);
        assert_eq!(o.serial, b"@@XTB DONE rc=0\n");
    }

    #[test]
    fn missing_qemu() {
        let e = run(
            Command::new("/nonexistent/qemu"),
            Path::new("/nonexistent/qemu"),
            SEC,
            SEC,
        )
        .err()
        .unwrap();
        assert!(matches!(e, Error::QemuSpawn { .. }), "{e}");
        assert!(e.to_string().contains("qemu-system-x86"), "{e}");
    }
}
