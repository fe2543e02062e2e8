//! Real-world holders: stock servers from Debian and PyPI (nginx, apache2,
//! dnsmasq, gunicorn, redis, sshd, supervisord), a shell respawn loop, and
//! the project's founding cases (a Node sidecar, a Python proxy, a dev
//! server whose terminal died) — each started the way a person would, on a
//! loopback port the kernel picked, and checked for class, reasons, owner,
//! plan or refusal, the port afterwards, and that nothing else died.
//!
//! `.ci/setup-realworld.sh` installs the programs; a missing one fails the
//! test with that hint, never skips it. Daemons are not our children: every
//! pid is adopted by a [`Guard`] by identity as soon as it is known, and a
//! respawning parent is killed before its children ([`ParentFirst`]).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::pty::{Pty, PtyBuilder};
use crate::util::*;

mod orphans;
mod servers;
mod supervisors;

/// An installed program's path, or a failure that says how to install it.
fn need(prog: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{prog} is not installed: run .ci/setup-realworld.sh (it installs the real-world servers)")
        })
}

fn root_required(what: &str) {
    assert!(
        is_root(),
        "{what} runs as root and drops privileges: this test must run as root (CI does)"
    );
}

/// Is something bound to `proto:port` (the kernel's table, no holders)?
fn listening(proto: &str, port: u16) -> bool {
    portwarden::discover::Scanner::new()
        .sockets(&portwarden::discover::Options::default())
        .map(|v| {
            v.iter()
                .any(|s| s.port == port && s.proto.as_str() == proto)
        })
        .unwrap_or(false)
}

/// Start a launcher (which daemonises and exits, or stays: `stays`), its
/// stderr in `log`; then wait until `proto:port` is bound.
fn launch(g: &mut Guard, cmd: &mut Command, log: &Path, proto: &str, port: u16) {
    let err = std::fs::File::create(log).expect("log file");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    g.child(child);
    let up = wait_until(READY_TIMEOUT, || listening(proto, port));
    assert!(
        up,
        "{cmd:?} did not bind {proto}:{port}; its stderr: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The holders of `proto:port` as `list --json` reports them (by pid),
/// each adopted by the guard.
fn holders(g: &mut Guard, proto: &str, port: u16) -> Vec<Value> {
    let doc = list_json(&[&format!("{proto}:{port}")]);
    let mut out: Vec<Value> = Vec::new();
    for s in sockets(&doc) {
        for h in s["holders"].as_array().cloned().unwrap_or_default() {
            if !out.iter().any(|o| o["pid"] == h["pid"]) {
                out.push(h);
            }
        }
    }
    // Workers first, then leaders: a master killed first would only take
    // longer to tidy up after.
    for h in out.iter().rev() {
        let pid = h["pid"].as_i64().expect("pid") as i32;
        if let Some(st) = proc_start_time(pid) {
            g.adopt(pid, st);
        }
    }
    out
}

/// The one holder of `proto:port` (asserted), adopted by the guard.
fn sole_holder(g: &mut Guard, proto: &str, port: u16) -> Value {
    let hs = holders(g, proto, port);
    assert_eq!(hs.len(), 1, "{hs:#?}");
    hs.into_iter().next().expect("one holder")
}

/// The one holder of `proto:port` (asserted), of `class` and with each of
/// `evidence` among its reasons; adopted by the guard.
fn sole_of_class(g: &mut Guard, proto: &str, port: u16, class: &str, evidence: &[&str]) -> Value {
    let h = sole_holder(g, proto, port);
    assert_eq!(h["class"], class, "{h:#}");
    for e in evidence {
        assert!(has_reason(&h, e), "missing `{e}`: {h:#}");
    }
    h
}

/// The holders of `proto:port` once there are at least `n` of them, or
/// what there are when the (bounded) wait ends: the caller asserts.
fn holders_at_least(g: &mut Guard, proto: &str, port: u16, n: usize) -> Vec<Value> {
    let mut hs = Vec::new();
    wait_until(READY_TIMEOUT, || {
        hs = holders(g, proto, port);
        hs.len() >= n
    });
    hs
}

fn pid_of(h: &Value) -> i32 {
    h["pid"].as_i64().expect("pid") as i32
}

fn reasons(h: &Value) -> Vec<String> {
    h["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn has_reason(h: &Value, needle: &str) -> bool {
    reasons(h).iter().any(|r| r.contains(needle))
}

/// `portwarden why SPEC`, stdout.
fn why(spec: &str) -> String {
    let out = portwarden().args(["why", spec]).output().expect("run why");
    assert!(out.status.success(), "why {spec}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `portwarden kill ARGS --json` with extra environment: exit code and the
/// document.
fn kill_json(args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let mut c = portwarden();
    c.arg("kill").args(args).arg("--json");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run kill");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kill --json is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

/// Start a bystander listener, kill `spec` with consent only (`--yes`, no
/// `--force`) and check: exit 0, every holder in `hs` gone, the port free,
/// the bystander alive.
fn consent_frees(spec: &str, proto: &str, port: u16, hs: &[Value]) {
    let bystander = Spec::new("listen").start();
    let bystander = bystander.one("holder");
    let pids: Vec<i32> = hs.iter().map(pid_of).collect();
    let starts: Vec<(i32, u64)> = pids
        .iter()
        .filter_map(|&p| proc_start_time(p).map(|s| (p, s)))
        .collect();
    let (code, doc) = kill_json(&[spec, "--yes"], &[]);
    assert_eq!(code, 0, "kill {spec} --yes: {doc:#}");
    assert!(
        doc["plan"]["refusals"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "{doc:#}"
    );
    assert!(!doc["report"]["port_free_after_ms"].is_null(), "{doc:#}");
    // The plan named every holder (no `--force` was needed for any).
    let planned: Vec<i64> = doc["plan"]["targets"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["pid"].as_i64()).collect())
        .unwrap_or_default();
    for p in &pids {
        assert!(
            planned.contains(&i64::from(*p)),
            "pid {p} not planned: {doc:#}"
        );
    }
    assert!(!listening(proto, port), "{spec} still bound");
    for (p, s) in starts {
        assert!(
            wait_until(READY_TIMEOUT, || !is_alive(p, s)),
            "holder {p} survived"
        );
    }
    assert!(
        is_alive(bystander.pid, bystander.start_time),
        "a bystander died"
    );
}

/// Kill a respawning parent before its children (so it cannot restart
/// them), on drop — panicking or not.
struct ParentFirst(i32, u64);

impl Drop for ParentFirst {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let kids: Vec<(i32, u64)> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&p| {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .ok()
                    .and_then(|s| {
                        let rest = &s[s.rfind(')')? + 2..];
                        rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                    })
                    == Some(self.0)
            })
            .filter_map(|p| proc_start_time(p).map(|s| (p, s)))
            .collect();
        if proc_start_time(self.0) == Some(self.1) {
            let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
        }
        for (p, s) in kids {
            if proc_start_time(p) == Some(s) {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
        }
    }
}

/// A pid written to a file by a daemon, waited for (bounded).
fn pid_file(path: &Path) -> i32 {
    let mut pid = None;
    wait_until(READY_TIMEOUT, || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        pid.is_some()
    });
    pid.unwrap_or_else(|| panic!("no pid in {}", path.display()))
}

fn adopt(g: &mut Guard, pid: i32) {
    if let Some(st) = proc_start_time(pid) {
        g.adopt(pid, st);
    }
}

/// [`launch`] a daemon (its launcher's stderr in `dir`/launch.log) that
/// writes its pid to `pid_path`; that pid, read (bounded) and adopted.
fn launch_daemon(
    g: &mut Guard,
    cmd: &mut Command,
    dir: &Path,
    proto: &str,
    port: u16,
    pid_path: &Path,
) -> i32 {
    launch(g, cmd, &dir.join("launch.log"), proto, port);
    let pid = pid_file(pid_path);
    adopt(g, pid);
    pid
}

/// [`launch`] a program that stays in the foreground, in a process group
/// of its own (as a job-control shell starts it), serving tcp on `port`;
/// its pid (the guard's first child).
fn launch_in_own_group(g: &mut Guard, cmd: &mut Command, dir: &Path, port: u16) -> i32 {
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    launch(g, cmd, &dir.join("launch.log"), "tcp", port);
    g.child_mut(0).id() as i32
}

/// A config home (for `XDG_CONFIG_HOME`, as text) whose config sets
/// `respawn_watch`: a loaded machine restarts a program slowly, the
/// default watch is for a machine at rest.
fn respawn_watch_home(watch: &str) -> (tempfile::TempDir, String) {
    let cfg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cfg.path().join("portwarden")).unwrap();
    std::fs::write(
        cfg.path().join("portwarden/config.toml"),
        format!("respawn_watch = \"{watch}\"\n"),
    )
    .unwrap();
    let xdg = cfg.path().display().to_string();
    (cfg, xdg)
}

/// A copy of the portwarden binary that uid 65534 can run (the checkout
/// may live where it cannot).
fn portwarden_for_nobody(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("portwarden");
    std::fs::copy(portwarden_path(), &bin).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// `bin ARGS` as uid/gid 65534, stdin at EOF: (exit code, stdout, stderr).
fn run_as_nobody(bin: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(bin);
    std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
    std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
    let out = cmd
        .args(args)
        .env_remove("SUDO_UID")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sudo_uid_is_ignored_unless_running_as_root() {
    root_required("a process of another uid");
    let dir = tempfile::tempdir().unwrap();
    let bin = portwarden_for_nobody(dir.path());
    // A listener started as uid 65534 from the start (exec'd, so its /proc
    // entries are its own and it can see them).
    let port = free_port(Probe::Tcp4);
    // The system interpreter: a per-user one (pyenv under /root) is not
    // reachable for uid 65534.
    let py = Path::new("/usr/bin/python3");
    assert!(
        py.is_file(),
        "/usr/bin/python3 is missing (apt-get install python3)"
    );
    let mut g = Guard::new();
    let mut lc = Command::new(py);
    lc.args([
        "-c",
        &format!(
            "import socket, time\ns = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(8)\ntime.sleep(3600)"
        ),
    ])
    .current_dir("/")
    .stdin(Stdio::null());
    std::os::unix::process::CommandExt::uid(&mut lc, 65534);
    std::os::unix::process::CommandExt::gid(&mut lc, 65534);
    let listener = lc.spawn().expect("spawn listener as 65534");
    let lpid = listener.id() as i32;
    g.child(listener);
    assert!(wait_until(READY_TIMEOUT, || listening("tcp", port)));
    let mut cmd = Command::new(&bin);
    std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
    std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
    let out = cmd
        .env("SUDO_UID", "0")
        .args(["list", "--json", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = holder(&socket_at(&doc, "tcp", "127.0.0.1", port), lpid);
    assert_ne!(
        h["class"], "foreign",
        "SUDO_UID=0 from a non-root user: {h:#}"
    );
}
