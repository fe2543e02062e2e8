//! The harness every integration test stands on: real processes holding
//! real ports, started from `tests/fixtures/listener.py`, waited for without
//! sleeping, and always cleaned up.
//!
//! Why it is built this way:
//! - Ports are picked by the kernel (bind `:0`, read, close) so parallel tests
//!   never fight over a fixed number; the tiny window between closing the
//!   probe and the fixture's bind is covered by retrying on `BUSY`.
//! - Fixtures announce themselves (`READY <pid> <port> <start_time> <role>`)
//!   once they are in their final state, and the harness waits for those
//!   lines with a deadline: no sleep-and-hope, no test that hangs forever.
//! - Orphans and daemons are not our children, so `Child` cannot clean them
//!   up. [`Guard`] records every pid a fixture reports together with the
//!   start time the process read about itself, and on drop (panics included)
//!   SIGKILLs only pids whose start time still matches: a recycled pid
//!   belongs to someone else and is left alone.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// Upper bound for any fixture to become ready, or any condition to hold.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often bounded waits re-check their condition.
pub const POLL: Duration = Duration::from_millis(20);
/// How many fresh ports to try when a fixture's bind hits EADDRINUSE.
const PORT_ATTEMPTS: usize = 5;

/// A string no other fixture, in this or any concurrent test process, has:
/// `pwtest-<our pid>-<counter>`.
pub fn unique_tag() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pwtest-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Which kind of socket a port is picked for (the probe binds the same kind
/// the fixture will, so "free" means free for that use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// TCP on 127.0.0.1.
    Tcp4,
    /// TCP on ::1.
    Tcp6,
    /// UDP on 127.0.0.1.
    Udp4,
    /// UDP on ::1.
    Udp6,
}

/// A port the kernel just handed out as free: bind `:0`, read it, close.
pub fn free_port(probe: Probe) -> u16 {
    let port = match probe {
        Probe::Tcp4 => TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()),
        Probe::Tcp6 => TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()),
        Probe::Udp4 => UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|s| s.local_addr()),
        Probe::Udp6 => UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).and_then(|s| s.local_addr()),
    };
    port.expect("the kernel hands out a free loopback port")
        .port()
}

/// `/proc/PID/stat` field 22 (start time in clock ticks since boot), or
/// `None` when the pid does not exist (or is a zombie being reaped).
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm (field 2) is parenthesised and may contain anything, even ") ":
    // the fields we want start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    // rest starts at field 3, so field 22 is the 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// `/proc/PID/stat` field 3 (state letter), `None` when gone.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// Is `pid` still the very process that reported `start_time`, and not a
/// zombie? (A zombie has closed its fds: it holds nothing and is "dead".)
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    proc_start_time(pid) == Some(start_time) && !matches!(proc_state(pid), Some('Z' | 'X') | None)
}

/// Poll `cond` every [`POLL`] until it holds or `timeout` passes; returns
/// whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// The python interpreter, resolved once to its real path: pyenv-style
/// shims are shell scripts that re-exec, slow to start and confusing in
/// `/proc` (and `arg0` tricks need the real binary).
pub fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .stdin(Stdio::null())
            .output()
            .expect("python3 is installed (the fixtures are python scripts)");
        assert!(out.status.success(), "python3 -c failed: {out:?}");
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if p.is_empty() {
            PathBuf::from("python3")
        } else {
            PathBuf::from(p)
        }
    })
}

/// Path of `tests/fixtures/<name>`.
pub fn fixture_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Owns everything a test started. Drop kills it all, panicking or not.
#[derive(Default)]
pub struct Guard {
    /// Direct children: killed (their pid cannot be recycled before we
    /// reap them) and reaped.
    children: Vec<Child>,
    /// Every pid a fixture reported, with the start time it reported.
    pids: Vec<(i32, u64)>,
}

impl Guard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Take ownership of a direct child.
    pub fn child(&mut self, child: Child) -> &mut Child {
        self.children.push(child);
        self.children.last_mut().expect("just pushed")
    }

    /// The `i`-th direct child taken with [`Guard::child`].
    pub fn child_mut(&mut self, i: usize) -> &mut Child {
        &mut self.children[i]
    }

    /// Record a pid (not necessarily our child) by its identity.
    pub fn adopt(&mut self, pid: i32, start_time: u64) {
        if pid > 1 && !self.pids.contains(&(pid, start_time)) {
            self.pids.push((pid, start_time));
        }
    }

    /// Kill and reap everything now (what Drop does).
    ///
    /// Everything is stopped before anything is killed: a parent that
    /// restarts its children (an nginx master respawns a worker the moment
    /// it dies, supervisord its programs) must not get the chance to start
    /// a new one that nobody would then reap.
    pub fn cleanup(&mut self) {
        let ours: Vec<i32> = self
            .pids
            .iter()
            .filter(|&&(pid, start)| pid > 1 && proc_start_time(pid) == Some(start))
            .map(|&(pid, _)| pid)
            .rev()
            .chain(self.children.iter().map(|c| c.id() as i32))
            .collect();
        for sig in [Signal::SIGSTOP, Signal::SIGKILL] {
            for &pid in &ours {
                let _ = kill(Pid::from_raw(pid), sig);
            }
        }
        for child in &mut self.children {
            // std's Child::kill is safe against reuse: an unreaped child's
            // pid cannot be handed to anyone else.
            let _ = child.kill();
            let _ = child.wait();
        }
        self.pids.clear();
        self.children.clear();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// One process a fixture reported as ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Its pid.
    pub pid: i32,
    /// The port it was started for.
    pub port: u16,
    /// `/proc/PID/stat` field 22, as the process read it about itself.
    pub start_time: u64,
    /// `holder`, `parent`, `worker`, `leader`, `escapee`.
    pub role: String,
}

/// How to start a fixture (see the docstring of `listener.py`).
#[derive(Debug, Clone)]
pub struct Spec {
    /// `listen`, `prefork`, `orphan`, `daemon`, `stuck`, `group`, `escapee`.
    pub mode: &'static str,
    /// `--bind proto,addr[,v6only]` entries (default: `tcp,127.0.0.1`).
    pub binds: Vec<String>,
    /// Picks the port (and is retried with a fresh one on BUSY).
    pub probe: Probe,
    /// Extra arguments (`--workers 3`, `--backlog 1`, `--ignore-term`, ...).
    pub extra: Vec<String>,
    /// How many READY lines to wait for.
    pub expect_ready: usize,
    /// argv[0] of the python process (`exec -a`), for hostile names.
    pub arg0: Option<OsString>,
    /// Drop to this uid (and gid, no groups) before binding (root only).
    pub as_uid: Option<u32>,
    /// A string unique to this fixture, put on its command line (`--tag`).
    pub tag: String,
    /// Extra arguments that need not be UTF-8 (after `extra`).
    pub os_extra: Vec<OsString>,
    /// Run inside this network namespace (`ip netns exec NS`).
    pub netns: Option<String>,
}

impl Spec {
    /// A fixture in `mode` with one TCP 127.0.0.1 bind, one READY line.
    pub fn new(mode: &'static str) -> Self {
        Spec {
            mode,
            binds: Vec::new(),
            probe: Probe::Tcp4,
            extra: Vec::new(),
            expect_ready: 1,
            arg0: None,
            as_uid: None,
            tag: unique_tag(),
            os_extra: Vec::new(),
            netns: None,
        }
    }

    /// Run it inside a network namespace the test created.
    pub fn in_netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.to_string());
        self
    }

    /// Add a `--bind proto,addr[,v6only]`.
    pub fn bind(mut self, b: &str) -> Self {
        self.binds.push(b.to_string());
        self
    }

    /// Pick the port with this probe.
    pub fn probe(mut self, p: Probe) -> Self {
        self.probe = p;
        self
    }

    /// Extra command-line arguments for the script.
    pub fn args(mut self, a: &[&str]) -> Self {
        self.extra.extend(a.iter().map(|s| s.to_string()));
        self
    }

    /// One extra argument that may be any bytes (hostile argv tests).
    pub fn os_arg(mut self, a: impl Into<OsString>) -> Self {
        self.os_extra.push(a.into());
        self
    }

    /// Number of READY lines to wait for.
    pub fn ready(mut self, n: usize) -> Self {
        self.expect_ready = n;
        self
    }

    /// argv[0] for the interpreter process.
    pub fn arg0(mut self, a: impl Into<OsString>) -> Self {
        self.arg0 = Some(a.into());
        self
    }

    /// Run as another uid (and its gid), with no supplementary groups.
    pub fn run_as(mut self, uid: u32) -> Self {
        self.as_uid = Some(uid);
        self
    }

    /// Start it, retrying on a port race, and wait until it is ready.
    pub fn start(self) -> Fixture {
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match self.try_start(free_port(self.probe)) {
                Ok(f) => return f,
                Err(Attempt::Busy(msg)) => last = msg,
                Err(Attempt::Failed(msg)) => panic!("fixture {:?} failed: {msg}", self.mode),
            }
        }
        panic!(
            "fixture {:?}: no free port after {PORT_ATTEMPTS} attempts: {last}",
            self.mode
        );
    }

    /// Start it on a port the test chose (e.g. one a `wait --listening` is
    /// already watching); no retry.
    /// `None` when the port turned out to be taken (BUSY).
    pub fn start_on(self, port: u16) -> Option<Fixture> {
        match self.try_start(port) {
            Ok(f) => Some(f),
            Err(Attempt::Busy(_)) => None,
            Err(Attempt::Failed(m)) => {
                panic!("fixture {:?} on port {port} failed: {m}", self.mode)
            }
        }
    }

    fn command(&self, port: u16) -> Command {
        let script = fixture_script("listener.py");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(python());
                c
            }
            None => Command::new(python()),
        };
        if let Some(a0) = &self.arg0 {
            std::os::unix::process::CommandExt::arg0(&mut cmd, a0);
        }
        cmd.arg(script)
            .arg(self.mode)
            .arg("--port")
            .arg(port.to_string());
        for b in &self.binds {
            cmd.arg("--bind").arg(b);
        }
        if let Some(uid) = self.as_uid {
            // The script drops privileges itself (setgroups, setgid, setuid)
            // before binding: the interpreter may live where that uid cannot
            // read (pyenv under /root), so `setpriv python3` is no option.
            cmd.arg("--uid").arg(uid.to_string());
        }
        // Its own process group, like a job started from a shell: the
        // realistic case for `kill` (which signals whole groups), and it
        // keeps a group-wide signal from ever reaching the test runner.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.arg("--tag")
            .arg(&self.tag)
            .args(&self.extra)
            .args(&self.os_extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Bytecode caches would be written next to the script.
            .env("PYTHONDONTWRITEBYTECODE", "1");
        cmd
    }

    fn try_start(&self, port: u16) -> Result<Fixture, Attempt> {
        let mut guard = Guard::new();
        let mut child = self
            .command(port)
            .spawn()
            .map_err(|e| Attempt::Failed(format!("spawn: {e}")))?;
        let launcher = child.id() as i32;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        guard.child(child);

        // Lines arrive on a channel so waiting for them has a deadline.
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let err_text = Arc::new(Mutex::new(String::new()));
        {
            let err_text = Arc::clone(&err_text);
            thread::spawn(move || {
                let mut buf = Vec::new();
                let mut r = stderr;
                let mut chunk = [0u8; 4096];
                while let Ok(n) = r.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    *err_text.lock().expect("stderr buffer") =
                        String::from_utf8_lossy(&buf).into_owned();
                }
            });
        }
        let stderr_now = || err_text.lock().expect("stderr buffer").clone();

        let mut ready = Vec::new();
        let mut launcher_line = None;
        let deadline = Instant::now() + READY_TIMEOUT;
        while ready.len() < self.expect_ready {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Attempt::Failed(format!(
                        "not ready after {READY_TIMEOUT:?} ({} of {} READY lines); stderr: {}",
                        ready.len(),
                        self.expect_ready,
                        stderr_now()
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Give the stderr reader a moment to collect the traceback.
                    wait_until(Duration::from_millis(500), || !stderr_now().is_empty());
                    return Err(Attempt::Failed(format!(
                        "stdout closed before ready ({} of {} READY lines); stderr: {}",
                        ready.len(),
                        self.expect_ready,
                        stderr_now()
                    )));
                }
            };
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["BUSY", ..] => return Err(Attempt::Busy(line.clone())),
                ["READY", pid, port_s, start, role] => {
                    let r = Ready {
                        pid: pid.parse().expect("READY pid"),
                        port: port_s.parse().expect("READY port"),
                        start_time: start.parse().expect("READY start time"),
                        role: role.to_string(),
                    };
                    guard.adopt(r.pid, r.start_time);
                    ready.push(r);
                }
                ["LAUNCHER", _, intermediate] => {
                    launcher_line = Some(intermediate.parse::<i32>().expect("LAUNCHER pid"));
                }
                _ => {
                    return Err(Attempt::Failed(format!(
                        "unexpected fixture output: {line:?}"
                    )));
                }
            }
        }

        let mut fx = Fixture {
            port,
            tag: self.tag.clone(),
            launcher,
            intermediate: launcher_line,
            ready,
            guard,
            lines: rx,
        };
        // Orphans and daemons: READY comes from the grandchild; the
        // launcher (which bound the socket first) must be gone before the
        // grandchild is the only holder.
        if matches!(self.mode, "orphan" | "daemon") {
            let child = fx.guard.children.first_mut().expect("launcher child");
            let exited = wait_until(READY_TIMEOUT, || matches!(child.try_wait(), Ok(Some(_))));
            if !exited {
                return Err(Attempt::Failed("launcher did not exit".into()));
            }
            if fx.intermediate.is_none() {
                // LAUNCHER is printed just before the launcher exits.
                if let Ok(l) = fx.lines.recv_timeout(READY_TIMEOUT) {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    if let ["LAUNCHER", _, i] = f.as_slice() {
                        fx.intermediate = i.parse().ok();
                    }
                }
            }
        }
        Ok(fx)
    }
}

enum Attempt {
    Busy(String),
    Failed(String),
}

/// A running fixture. Dropping it kills every process it reported.
pub struct Fixture {
    /// The port it bound.
    pub port: u16,
    /// On every reported process's command line: `kill --only TAG` can
    /// only ever match this fixture, whoever else shares the port number.
    pub tag: String,
    /// Pid of the process the test spawned (for orphans/daemons: exited).
    pub launcher: i32,
    /// Orphan/daemon modes: the intermediate process that forked the holder.
    pub intermediate: Option<i32>,
    /// Every READY line, in arrival order.
    pub ready: Vec<Ready>,
    /// Owns the processes.
    pub guard: Guard,
    lines: Receiver<String>,
}

impl Fixture {
    /// Pids of every reported process with this role.
    pub fn pids(&self, role: &str) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .ready
            .iter()
            .filter(|r| r.role == role)
            .map(|r| r.pid)
            .collect();
        v.sort_unstable();
        v
    }

    /// The single process with this role.
    pub fn one(&self, role: &str) -> &Ready {
        let v: Vec<&Ready> = self.ready.iter().filter(|r| r.role == role).collect();
        assert_eq!(v.len(), 1, "expected one {role:?} in {:?}", self.ready);
        v[0]
    }

    /// Wait (bounded) for the next `READY` line with this role, adopt its
    /// process into the guard and return it.
    pub fn next_ready(&mut self, role: &str, timeout: Duration) -> Option<Ready> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            if let ["READY", pid, port, start, r] =
                line.split_whitespace().collect::<Vec<_>>().as_slice()
            {
                let ready = Ready {
                    pid: pid.parse().ok()?,
                    port: port.parse().ok()?,
                    start_time: start.parse().ok()?,
                    role: r.to_string(),
                };
                self.guard.adopt(ready.pid, ready.start_time);
                if ready.role == role {
                    self.ready.push(ready.clone());
                    return Some(ready);
                }
            }
        }
    }

    /// Every reported pid, ascending.
    pub fn all_pids(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.ready.iter().map(|r| r.pid).collect();
        v.sort_unstable();
        v
    }
}

/// Can a fresh socket bind `addr:port` right now? (After a successful
/// `kill`, the port must be usable again at once.)
pub fn can_bind(proto: &str, addr: &str, port: u16) -> bool {
    let ip: std::net::IpAddr = addr.parse().expect("an IP address");
    match proto {
        "tcp" => TcpListener::bind((ip, port)).is_ok(),
        "udp" => UdpSocket::bind((ip, port)).is_ok(),
        other => panic!("unknown proto {other}"),
    }
}

/// Path of the portwarden binary cargo built for these tests.
pub fn portwarden_path() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_portwarden"))
}

/// Is `euid` root? Tests that need another user's process skip otherwise.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Print why a test is not checking anything, in a form that survives
/// nextest's output capture (shown with `--no-capture` or on failure) and
/// is greppable: `SKIP <test>: <reason>`.
pub fn skip(test: &str, reason: &str) {
    eprintln!("SKIP {test}: {reason}");
}

/// The portwarden binary under test: stdin at EOF and never a terminal (so
/// it can never wait for an answer), no `SUDO_UID` inherited (so the
/// invoking uid is ours), and a hard timeout so a hang fails the test.
///
/// assert_cmd always gives the child a stdin pipe; writing an empty input
/// makes it close that pipe at once, which is what `Stdio::null()` would
/// give (immediate EOF). Without an input it would keep the pipe open while
/// waiting with a timeout.
pub fn portwarden() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("portwarden").expect("portwarden binary built");
    c.write_stdin(Vec::<u8>::new())
        .env_remove("SUDO_UID")
        .timeout(Duration::from_secs(30));
    c
}

/// Run `portwarden list --json ARGS...`, assert success, parse stdout.
pub fn list_json(args: &[&str]) -> Value {
    let out = portwarden()
        .arg("list")
        .arg("--json")
        .args(args)
        .output()
        .expect("run portwarden");
    assert!(
        out.status.success(),
        "portwarden list --json {args:?} failed: {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "list --json output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The `sockets` array of a `list --json` document (checking `schema`).
pub fn sockets(doc: &Value) -> Vec<Value> {
    assert_eq!(doc["schema"], 1, "schema version in {doc}");
    doc["sockets"]
        .as_array()
        .unwrap_or_else(|| panic!("no sockets array in {doc}"))
        .clone()
}

/// Sockets of a document matching proto and bind address.
pub fn sockets_at(doc: &Value, proto: &str, addr: &str, port: u16) -> Vec<Value> {
    sockets(doc)
        .into_iter()
        .filter(|s| s["proto"] == proto && s["addr"] == addr && s["port"] == port)
        .collect()
}

/// The one socket at proto/addr/port, with a readable failure otherwise.
pub fn socket_at(doc: &Value, proto: &str, addr: &str, port: u16) -> Value {
    let v = sockets_at(doc, proto, addr, port);
    assert_eq!(
        v.len(),
        1,
        "expected one {proto} socket at {addr} port {port}, got {}:\n{doc:#}",
        v.len()
    );
    v[0].clone()
}

/// Holder pids of a socket object, ascending.
pub fn holder_pids(sock: &Value) -> Vec<i32> {
    let mut v: Vec<i32> = sock["holders"]
        .as_array()
        .unwrap_or_else(|| panic!("no holders array in {sock}"))
        .iter()
        .map(|h| h["pid"].as_i64().expect("holder pid") as i32)
        .collect();
    v.sort_unstable();
    v
}

/// The holder object with this pid.
pub fn holder(sock: &Value, pid: i32) -> Value {
    sock["holders"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["pid"] == pid))
        .unwrap_or_else(|| panic!("pid {pid} is not a holder of {sock:#}"))
        .clone()
}

/// The harness checks itself: these run whether or not the CLI exists yet,
/// so a broken fixture is never mistaken for a portwarden bug.
mod selftest {
    use super::*;

    #[test]
    fn harness_free_port_is_bindable() {
        for probe in [Probe::Tcp4, Probe::Tcp6, Probe::Udp4, Probe::Udp6] {
            let p = free_port(probe);
            assert_ne!(p, 0);
        }
    }

    #[test]
    fn harness_start_time_matches_proc_and_rejects_missing_pids() {
        let me = std::process::id() as i32;
        assert!(proc_start_time(me).is_some());
        assert!(is_alive(me, proc_start_time(me).expect("own start time")));
        // pid_max is at most 2^22: this pid cannot exist.
        assert_eq!(proc_start_time(i32::MAX), None);
    }

    #[test]
    fn harness_guard_kills_an_orphan_it_does_not_parent() {
        let fx = Spec::new("orphan").start();
        let h = fx.one("holder").clone();
        assert_ne!(h.pid, fx.launcher);
        assert!(is_alive(h.pid, h.start_time));
        // The socket really is bound by the orphan.
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, fx.port)).is_err());
        drop(fx);
        assert!(
            wait_until(READY_TIMEOUT, || !is_alive(h.pid, h.start_time)),
            "guard left orphan {} alive",
            h.pid
        );
        assert!(
            wait_until(READY_TIMEOUT, || TcpListener::bind((
                Ipv4Addr::LOCALHOST,
                h.port
            ))
            .is_ok()),
            "port {} still held after the guard ran",
            h.port
        );
    }

    #[test]
    fn harness_guard_spares_a_pid_whose_start_time_differs() {
        // Our own pid with a wrong start time plays a recycled pid: the
        // guard must not signal it (if it did, this test process would die).
        let me = std::process::id() as i32;
        let real = proc_start_time(me).expect("own start time");
        let mut g = Guard::new();
        g.adopt(me, real + 1);
        g.cleanup();
        assert!(is_alive(me, real));
    }

    #[test]
    fn harness_guard_cleans_up_when_the_test_panics() {
        let holder = std::sync::Arc::new(Mutex::new(None));
        let h2 = std::sync::Arc::clone(&holder);
        let r = std::panic::catch_unwind(move || {
            let fx = Spec::new("prefork")
                .args(&["--workers", "2"])
                .ready(3)
                .start();
            *h2.lock().expect("lock") = Some(fx.ready.clone());
            panic!("simulated test failure");
        });
        assert!(r.is_err());
        let procs = holder
            .lock()
            .expect("lock")
            .clone()
            .expect("fixture started");
        assert_eq!(procs.len(), 3);
        for p in procs {
            assert!(
                wait_until(READY_TIMEOUT, || !is_alive(p.pid, p.start_time)),
                "pid {} ({}) survived a panicking test",
                p.pid,
                p.role
            );
        }
    }

    /// Fields 5 and 6 of /proc/PID/stat: (pgrp, session).
    fn pgid_sid(pid: i32) -> (i32, i32) {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let f: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
            .split_whitespace()
            .collect();
        (f[2].parse().expect("pgrp"), f[3].parse().expect("session"))
    }

    #[test]
    fn harness_group_fixture_has_leader_and_holder_in_a_new_group() {
        let fx = Spec::new("group").ready(2).start();
        let leader = fx.one("leader").pid;
        let holder = fx.one("holder").pid;
        assert_eq!(pgid_sid(leader).0, leader, "leader leads its group");
        assert_eq!(
            pgid_sid(holder).0,
            leader,
            "holder is in the leader's group"
        );
        assert_ne!(pgid_sid(leader).0, pgid_sid(std::process::id() as i32).0);
    }

    #[test]
    fn harness_escapee_fixture_leaves_group_and_session() {
        let fx = Spec::new("escapee").ready(2).start();
        let holder = fx.one("holder").pid;
        let esc = fx.one("escapee").pid;
        assert_eq!(pgid_sid(esc), (esc, esc), "setsid: own group and session");
        assert_ne!(pgid_sid(holder).0, esc);
    }

    #[test]
    fn harness_ignore_term_fixture_survives_sigterm() {
        let fx = Spec::new("listen").args(&["--ignore-term"]).start();
        let r = fx.one("holder").clone();
        kill(Pid::from_raw(r.pid), Signal::SIGTERM).expect("signal our own fixture");
        // Bounded proof of a negative: had it died, 300 ms is plenty.
        assert!(!wait_until(Duration::from_millis(300), || !is_alive(
            r.pid,
            r.start_time
        )));
        drop(fx);
        assert!(wait_until(READY_TIMEOUT, || !is_alive(r.pid, r.start_time)));
    }

    #[test]
    fn harness_retries_a_busy_port() {
        // Occupy a port, then ask for a fixture on it: the script must say
        // BUSY (exit 98) rather than time out.
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let spec = Spec::new("listen");
        match spec.try_start(port) {
            Err(Attempt::Busy(line)) => assert!(line.starts_with("BUSY"), "{line}"),
            Ok(_) => panic!("fixture bound a port that was taken"),
            Err(Attempt::Failed(m)) => panic!("expected BUSY, got failure: {m}"),
        }
    }
}
