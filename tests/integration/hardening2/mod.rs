//! Hardening, round two (issue 11): each class of defect the adversarial
//! suite found, shown with a real process.
//!
//! 1. Holders visible only through a thread (`pthread_exit`ed main thread,
//!    `unshare(CLONE_FILES)`): found by `list`, killed by `kill`.
//! 2. Unresolved sockets get the true reason (a socket held only in flight
//!    in an SCM_RIGHTS message), and `kill --json` invents no holder.
//! 3. A group kill converges on a group that keeps forking.
//! 4. Bounded input: a config that is `/dev/zero`, `/dev/urandom`, a FIFO;
//!    a command line far longer than 64 KiB.
//! 5. Everything printed is escaped (config keys, clap's quoted arguments,
//!    paths from the environment).
//! 6. TUI job control: Ctrl-Z/SIGTSTP give the terminal back and stop,
//!    SIGCONT takes it again and redraws; 128+n after a fatal signal.
//! 8. The TUI offers force only when forcing would do something.
//! 9. Repeated ports are merged; a long "still held by" list is folded.
//! 10. Non-terminating first signals are usage errors; `why` says when a
//!     holder is stopped.
//!
//! The states Python cannot make come from `tests/fixtures/pwfix.c`,
//! compiled here with the machine's `cc` (a missing compiler fails the
//! test). Everything listens on 127.0.0.1 on kernel-assigned ports; every
//! process is reaped by a guard; every wait is bounded.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use crate::pty::Pty;
use crate::util::*;

mod converge;
mod holders;
mod input;
mod tui;

// ---------------------------------------------------------------------------
// Helpers

/// The compiled `tests/fixtures/pwfix.c`, built once per test process into
/// cargo's scratch directory (compiled to a private name, then renamed, so
/// concurrent test processes never run a half-written binary).
fn pwfix() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = fixture_script("pwfix.c");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let bin = dir.join("pwfix");
        let tmp = dir.join(format!("pwfix.{}", std::process::id()));
        let out = Command::new("cc")
            .args(["-Wall", "-O0", "-pthread", "-o"])
            .arg(&tmp)
            .arg(&src)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `cc` to build {} ({e}): install a C compiler (gcc)",
                    src.display()
                )
            });
        assert!(
            out.status.success(),
            "cc failed on {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(&tmp, &bin).expect("rename the built fixture");
        bin
    })
}

/// Read one line of `child`'s stdout within [`READY_TIMEOUT`].
fn line_of(child: &mut Child) -> String {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        loop {
            let mut l = String::new();
            match r.read_line(&mut l) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx.send(l.trim().to_string()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    // Keep the reader thread's channel: later lines are read from it.
    let first = rx
        .recv_timeout(READY_TIMEOUT)
        .expect("the fixture printed its first line in time");
    LINES.lock().unwrap().push((child.id(), rx));
    first
}

/// Line readers of running fixtures, by pid (so a test can wait for a
/// fixture's later lines).
static LINES: Mutex<Vec<(u32, mpsc::Receiver<String>)>> = Mutex::new(Vec::new());

/// The line reader of fixture `pid` (its later lines), taken from
/// [`LINES`].
fn take_lines(pid: u32) -> mpsc::Receiver<String> {
    let mut all = LINES.lock().unwrap();
    let i = all.iter().position(|(p, _)| *p == pid).expect("a reader");
    all.remove(i).1
}

/// The next line of fixture `pid` after its first, within the timeout.
fn next_line(pid: u32) -> String {
    take_lines(pid)
        .recv_timeout(READY_TIMEOUT)
        .expect("the fixture printed its next line in time")
}

/// Start `pwfix MODE ARGS…` under `guard` (own process group when
/// `group`); returns its pid and the port it printed.
fn start(guard: &mut Guard, mode: &str, args: &[&str], group: bool) -> (i32, u16) {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(pwfix());
    cmd.arg(mode)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    if group {
        cmd.process_group(0);
    }
    let child = guard.child(cmd.spawn().expect("spawn pwfix"));
    let pid = child.id() as i32;
    let port = line_of(child).parse().expect("pwfix prints its port");
    (pid, port)
}

/// Kills a whole process group the test created, then reaps its leader.
/// The leader is our unreaped child until then, so its pid (the group id)
/// cannot be reused by anyone else while we signal the group.
struct GroupGuard {
    leader: Option<Child>,
}

impl GroupGuard {
    /// `pwfix MODE` as the leader of a process group of its own, its
    /// stdout piped.
    fn start(mode: &str) -> GroupGuard {
        use std::os::unix::process::CommandExt;
        let child = Command::new(pwfix())
            .arg(mode)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn pwfix {mode}: {e}"));
        GroupGuard {
            leader: Some(child),
        }
    }

    fn pgid(&self) -> i32 {
        self.leader.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// The leader's first line (its port).
    fn first_line(&mut self) -> String {
        line_of(self.leader.as_mut().expect("leader"))
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let pgid = self.pgid();
        if pgid > 1 {
            // Bounded: members forked while we kill are killed next time.
            for _ in 0..50 {
                if killpg(Pid::from_raw(pgid), Signal::SIGKILL).is_err() {
                    break;
                }
                if members(pgid).is_empty() {
                    break;
                }
                std::thread::sleep(POLL);
            }
        }
        if let Some(mut c) = self.leader.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Live (not zombie) processes in group `pgid`, from /proc.
fn members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
            && !matches!(f.first(), Some(&"Z") | Some(&"X"))
        {
            out.push(pid);
        }
    }
    out
}

/// (exit code, stdout, stderr) of `portwarden ARGS…` with no config file.
fn pw(args: &[&str]) -> (i32, String, String) {
    let mut c = portwarden();
    c.env("XDG_CONFIG_HOME", "/nonexistent-portwarden-test")
        .args(args);
    run(c)
}

fn run(mut c: assert_cmd::Command) -> (i32, String, String) {
    let out = c.output().expect("run portwarden");
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {:?}", out.status));
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether direct child `pid` (held by the guard) is gone: exited and
/// reaped, or a zombie.
fn ended(pid: i32) -> bool {
    !matches!(proc_state(pid), Some(s) if s != 'Z' && s != 'X')
}
