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

/// nginx as root from a temp prefix: `user nobody`, two workers, daemon on.
/// Returns the master's pid.
fn start_nginx(g: &mut Guard, dir: &Path, port: u16) -> i32 {
    let nginx = need("nginx");
    let d = dir.display().to_string();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "user nobody nogroup;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {d}/cb; proxy_temp_path {d}/px;\n\
             fastcgi_temp_path {d}/fc; uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;\n\
             server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"ok\"; }} }} }}\n"
        ),
    )
    .unwrap();
    launch_daemon(
        g,
        Command::new(&nginx)
            .args(["-p", &d, "-c"])
            .arg(&conf)
            .args(["-g", "daemon on;"]),
        dir,
        "tcp",
        port,
        &dir.join("nginx.pid"),
    )
}

/// Root's nginx ([`start_nginx`]) on a port the kernel picked, its master
/// and two workers seen and adopted.
struct Nginx {
    /// Dropped first: the processes end before their directory goes.
    _g: Guard,
    _dir: tempfile::TempDir,
    port: u16,
    master: i32,
    hs: Vec<Value>,
}

fn nginx_with_workers() -> Nginx {
    root_required("nginx");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let mut g = Guard::new();
    let master = start_nginx(&mut g, dir.path(), port);
    // The master binds before it forks its workers: wait (bounded) for them.
    let hs = holders_at_least(&mut g, "tcp", port, 3);
    assert_eq!(hs.len(), 3, "master and 2 workers: {hs:#?}");
    Nginx {
        _g: g,
        _dir: dir,
        port,
        master,
        hs,
    }
}

#[test]
fn nginx_workers_as_nobody_are_roots_program_freed_with_consent() {
    let nginx = nginx_with_workers();
    let (port, master, hs) = (nginx.port, nginx.master, &nginx.hs);
    for h in hs {
        assert_eq!(h["class"], "daemon", "{h:#}");
        if pid_of(h) == master {
            assert_eq!(h["user"], "root");
            assert!(reasons(h)[0].contains("it was reparented"), "{h:#}");
            continue;
        }
        // A worker: its own facts first, its master's facts said as such.
        assert_eq!(h["user"], "nobody", "{h:#}");
        assert_eq!(h["ppid"], master, "{h:#}");
        let r = reasons(h);
        assert!(
            r[0].starts_with(&format!(
                "its parent is pid {master} (nginx), its program's leader"
            )),
            "{r:#?}"
        );
        assert!(
            r.iter()
                .all(|x| !x.starts_with("parent is pid 1") && !x.starts_with("leads")),
            "a fact of the master said as the worker's: {r:#?}"
        );
        assert!(has_reason(
            h,
            &format!("its program's leader pid {master} (nginx) leads its own session")
        ));
        // Its owner for policy is its program's: root.
        assert!(
            has_reason(
                h,
                &format!(
                    "runs as uid 65534 (nobody), dropped to by its program's leader pid {master} (nginx), owned by uid 0 (root)"
                )
            ),
            "{r:#?}"
        );
    }
    // Under sudo from uid 1000, root's nginx is still the invoker's.
    let out = portwarden()
        .env("SUDO_UID", "1000")
        .args(["list", "--json", &port.to_string()])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in sockets(&doc) {
        for h in s["holders"].as_array().unwrap() {
            assert_eq!(h["class"], "daemon", "under sudo: {h:#}");
        }
    }
    let text = why(&port.to_string());
    assert!(
        !text.contains("foreign") && !text.contains("refuse"),
        "{text}"
    );
    // The second worker's reasons are the first's: said once.
    let workers: Vec<i32> = hs.iter().map(pid_of).filter(|&p| p != master).collect();
    assert!(
        text.contains(&format!(
            "and 1 worker of the same program (pid {}): same class and reasons as pid {}",
            workers[1], workers[0]
        )),
        "{text}"
    );
    consent_frees(&port.to_string(), "tcp", port, hs);
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
fn roots_nginx_is_foreign_to_its_workers_uid_and_refused_once_per_reason() {
    let nginx = nginx_with_workers();
    let (port, master, hs) = (nginx.port, nginx.master, &nginx.hs);
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = portwarden_for_nobody(bin_dir.path());
    // Run as `nobody`: the workers run as nobody too, but the program is
    // root's — foreign, every one of them, and never signalled.
    let (code, out, err) = run_as_nobody(&bin, &["kill", &port.to_string(), "--yes"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "its program's leader pid {master} (nginx) is owned by uid 0 (root); you are uid 65534"
        )),
        "{err}"
    );
    // Two workers, one reason: said once, the other counted.
    assert!(
        err.contains("(and 1 worker of the same program: pid "),
        "{err}"
    );
    assert_eq!(err.matches("this worker runs as").count(), 1, "{err}");
    for h in hs {
        let pid = pid_of(h);
        assert!(proc_start_time(pid).is_some(), "pid {pid} was signalled");
    }
    assert!(listening("tcp", port));
}

#[test]
fn apache2_prefork_is_roots_daemon_freed_with_consent() {
    root_required("apache2");
    let apache = need("apache2");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let port = free_port(Probe::Tcp4);
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    let conf = dir.path().join("apache2.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerRoot {d}\nDefaultRuntimeDir {d}/run\nPidFile {d}/run/apache2.pid\n\
             LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so\n\
             LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n\
             ServerName localhost\nListen 127.0.0.1:{port}\nUser nobody\nGroup nogroup\n\
             ErrorLog {d}/error.log\nDocumentRoot {d}\nStartServers 3\nMinSpareServers 2\nMaxSpareServers 4\n"
        ),
    )
    .unwrap();
    let mut g = Guard::new();
    let master = launch_daemon(
        &mut g,
        Command::new(&apache)
            .args(["-d", &d, "-f"])
            .arg(&conf)
            .args(["-k", "start"]),
        dir.path(),
        "tcp",
        port,
        &dir.path().join("run/apache2.pid"),
    );
    // Prefork children appear right after the master binds, and each runs
    // as root for the moment between its fork and its setuid: wait (bounded)
    // until at least 3 holders are there and every child has dropped.
    let mut hs = Vec::new();
    wait_until(READY_TIMEOUT, || {
        hs = holders(&mut g, "tcp", port);
        hs.len() >= 3
            && hs
                .iter()
                .all(|h| pid_of(h) == master || h["user"] == "nobody")
    });
    assert!(hs.len() >= 3, "master and its children: {hs:#?}");
    for h in &hs {
        assert_eq!(h["class"], "daemon", "{h:#}");
        if pid_of(h) != master {
            assert_eq!(h["user"], "nobody", "{h:#}");
            assert!(has_reason(
                h,
                &format!("its program's leader pid {master} (apache2) leads its own session")
            ));
        }
    }
    consent_frees(&port.to_string(), "tcp", port, &hs);
}

#[test]
fn dnsmasq_udp_double_fork_is_a_daemon() {
    // Stock dnsmasq binds as root and then drops to `nobody`: still root's
    // program (its socket says who bound it), freed without --force.
    dnsmasq_case(&[], "nobody");
}

#[test]
fn dnsmasq_that_keeps_roots_uid_is_a_daemon() {
    dnsmasq_case(&["--user=root"], "root");
}

fn dnsmasq_case(extra: &[&str], user: &str) {
    root_required("dnsmasq");
    let dnsmasq = need("dnsmasq");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Udp4);
    let mut g = Guard::new();
    let pidf = dir.path().join("dnsmasq.pid");
    launch_daemon(
        &mut g,
        Command::new(&dnsmasq)
            .arg(format!("--port={port}"))
            .args([
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
            ])
            .args(extra)
            .arg(format!("--pid-file={}", pidf.display())),
        dir.path(),
        "udp",
        port,
        &pidf,
    );
    let h = &sole_of_class(
        &mut g,
        "udp",
        port,
        "daemon",
        &["the double fork of a daemon", "has working directory / "],
    );
    assert_eq!(h["user"], user);
    if user != "root" {
        assert!(has_reason(h, "its socket was created by uid 0"), "{h:#}");
    }
    consent_frees(&format!("udp:{port}"), "udp", port, std::slice::from_ref(h));
}

fn gunicorn_app(dir: &Path) {
    std::fs::write(
        dir.join("app.py"),
        "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
    )
    .unwrap();
    let ok = Command::new(python())
        .args(["-c", "import gunicorn"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "gunicorn is not installed for {}: run .ci/setup-realworld.sh (pip install gunicorn)",
        python().display()
    );
}

#[test]
fn gunicorn_daemon_with_workers_is_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    gunicorn_app(dir.path());
    let port = free_port(Probe::Tcp4);
    let mut g = Guard::new();
    let pidf = dir.path().join("gunicorn.pid");
    let master = launch_daemon(
        &mut g,
        Command::new(python())
            .args(["-m", "gunicorn", "--daemon", "--workers", "3", "-b"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--pid")
            .arg(&pidf)
            .arg("--chdir")
            .arg(dir.path())
            .arg("app:app")
            .current_dir(dir.path()),
        dir.path(),
        "tcp",
        port,
        &pidf,
    );
    let hs = holders_at_least(&mut g, "tcp", port, 4);
    assert_eq!(hs.len(), 4, "master and 3 workers: {hs:#?}");
    for h in &hs {
        assert_eq!(h["class"], "daemon", "{h:#}");
        if pid_of(h) == master {
            assert!(has_reason(h, "the double fork of a daemon"), "{h:#}");
            assert!(has_reason(h, "has stdin on /dev/null"), "{h:#}");
        } else {
            assert!(reasons(h)[0].starts_with("its parent is pid"), "{h:#}");
        }
    }
    consent_frees(&port.to_string(), "tcp", port, &hs);
}

#[test]
fn gunicorn_workers_of_a_running_master_are_live() {
    let dir = tempfile::tempdir().unwrap();
    gunicorn_app(dir.path());
    let port = free_port(Probe::Tcp4);
    let mut g = Guard::new();
    let mut cmd = Command::new(python());
    cmd.args(["-m", "gunicorn", "--workers", "3", "-b"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("app:app")
        .current_dir(dir.path());
    let master = launch_in_own_group(&mut g, &mut cmd, dir.path(), port);
    let hs = holders_at_least(&mut g, "tcp", port, 4);
    assert_eq!(hs.len(), 4, "{hs:#?}");
    for h in &hs {
        assert_eq!(h["class"], "live", "{h:#}");
        if pid_of(h) != master {
            assert!(
                reasons(h)[0].starts_with(&format!("parent pid {master} (")),
                "{h:#}"
            );
        }
    }
    // Live needs consent: refused without --yes (no terminal to ask).
    let (code, _) = kill_json(&[&port.to_string()], &[]);
    assert_eq!(code, 3);
    consent_frees(&port.to_string(), "tcp", port, &hs);
}

#[test]
fn redis_daemonize_yes_is_a_daemon() {
    let redis = need("redis-server");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let pidf = dir.path().join("redis.pid");
    let mut g = Guard::new();
    launch_daemon(
        &mut g,
        Command::new(&redis)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--daemonize", "yes", "--save", "", "--appendonly", "no"])
            .arg("--pidfile")
            .arg(&pidf)
            .arg("--dir")
            .arg(dir.path()),
        dir.path(),
        "tcp",
        port,
        &pidf,
    );
    let h = &sole_of_class(
        &mut g,
        "tcp",
        port,
        "daemon",
        &["leads its own session", "has stdout on /dev/null"],
    );
    consent_frees(&port.to_string(), "tcp", port, std::slice::from_ref(h));
}

#[test]
fn sshd_is_a_daemon() {
    root_required("sshd");
    let sshd = need("sshd");
    let keygen = need("ssh-keygen");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("host_key");
    let st = Command::new(keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "ssh-keygen failed");
    let pidf = dir.path().join("sshd.pid");
    let conf = dir.path().join("sshd_config");
    std::fs::write(
        &conf,
        format!(
            "ListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nUsePAM no\n",
            key.display(),
            pidf.display()
        ),
    )
    .unwrap();
    // Its privilege-separation directory (the Debian package's unit makes it).
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = free_port(Probe::Tcp4);
    let mut g = Guard::new();
    launch_daemon(
        &mut g,
        Command::new(&sshd)
            .arg("-f")
            .arg(&conf)
            .args(["-p", &port.to_string()]),
        dir.path(),
        "tcp",
        port,
        &pidf,
    );
    let h = &sole_of_class(&mut g, "tcp", port, "daemon", &["has working directory / "]);
    consent_frees(&port.to_string(), "tcp", port, std::slice::from_ref(h));
}

/// supervisord from a temp config (unix socket in `dir`) running `web`,
/// python's http.server on `port` with autorestart. Returns its config
/// file and supervisord's pid.
fn start_supervisord(g: &mut Guard, dir: &Path, port: u16) -> (PathBuf, i32) {
    let supervisord = need("supervisord");
    let d = dir.display().to_string();
    let conf = dir.join("supervisord.conf");
    std::fs::write(
        &conf,
        format!(
            "[unix_http_server]\nfile={d}/supervisor.sock\n\
             [supervisord]\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\nchildlogdir={d}\n\
             [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
             [supervisorctl]\nserverurl=unix://{d}/supervisor.sock\n\
             [program:web]\ncommand={} -m http.server {port} --bind 127.0.0.1\ndirectory={d}\nautorestart=true\nstartsecs=1\n",
            python().display()
        ),
    )
    .unwrap();
    launch(
        g,
        Command::new(&supervisord).arg("-c").arg(&conf),
        &dir.join("launch.log"),
        "tcp",
        port,
    );
    (conf.clone(), pid_file(&dir.join("supervisord.pid")))
}

#[test]
fn supervisord_program_is_managed_refused_and_forcing_reports_the_respawn() {
    let supervisorctl = need("supervisorctl");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let mut g = Guard::new();
    let (conf, sup) = start_supervisord(&mut g, dir.path(), port);
    // Dropped first (declared last): supervisord dies before its children.
    let _sup_first = ParentFirst(sup, proc_start_time(sup).expect("supervisord alive"));
    let h = &sole_holder(&mut g, "tcp", port);
    let stop = format!("supervisorctl -c {} stop web", conf.display());
    assert_eq!(h["class"], "managed", "{h:#}");
    assert_eq!(h["ppid"], sup);
    assert!(has_reason(h, "supervisord program web"), "{h:#}");
    assert!(has_reason(h, &stop), "{h:#}");
    assert_eq!(h["manager"]["kind"], "supervisord", "{h:#}");

    // Refused without --force, naming the stop command; nothing signalled.
    let (code, doc) = kill_json(&[&port.to_string(), "--yes"], &[]);
    assert_eq!(code, 3, "{doc:#}");
    let refusal = doc["plan"]["refusals"][0]["reason"].as_str().unwrap_or("");
    assert!(refusal.contains(&stop), "{doc:#}");
    assert!(is_alive(pid_of(h), proc_start_time(pid_of(h)).unwrap()));

    // Forced: the program dies, supervisord restarts it, and the report
    // says so (exit 4), naming the respawner and the stop command.
    let bystander = Spec::new("listen").start();
    // A generous watch: a loaded machine restarts python slowly (the 2 s
    // default is for a machine at rest).
    let (_cfg, xdg) = respawn_watch_home("10s");
    let (code, doc) = kill_json(
        &[&port.to_string(), "--yes", "--force"],
        &[("XDG_CONFIG_HOME", xdg.as_str())],
    );
    assert_eq!(code, 4, "{doc:#}");
    let held = &doc["report"]["still_held"][0];
    assert!(
        held["respawner"]
            .as_str()
            .is_some_and(|r| r.contains(&format!("pid {sup} (supervisord)"))
                && r.contains("supervisord program web")),
        "{doc:#}"
    );
    assert!(
        held["next_step"]
            .as_str()
            .is_some_and(|n| n.contains(&stop)),
        "{doc:#}"
    );
    assert!(
        doc["plan"]["respawners"][0]["supervised"] == true,
        "{doc:#}"
    );
    holders(&mut g, "tcp", port);
    assert!(
        is_alive(sup, proc_start_time(sup).unwrap()),
        "supervisord died"
    );
    assert!(is_alive(
        bystander.one("holder").pid,
        bystander.one("holder").start_time
    ));

    // The advice works: the port is free and stays free.
    let st = Command::new(supervisorctl)
        .arg("-c")
        .arg(&conf)
        .args(["stop", "web"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{stop} failed");
    assert!(wait_until(READY_TIMEOUT, || !listening("tcp", port)));
}

/// A service directory whose `run` serves http on `port`, supervised by
/// `supervise DIR` (runit's runsv, s6's s6-supervise): the holder is
/// managed, named by its directory, refused, and the advised command
/// (`stop`, run as the user would) frees the port.
fn service_dir_supervisor(supervise: &str, describe: &str, stop: &[&str]) {
    let sup_bin = need(supervise);
    let stop_bin = need(stop[0]);
    let dir = tempfile::tempdir().unwrap();
    let svc = dir.path().join("web");
    std::fs::create_dir_all(&svc).unwrap();
    let port = free_port(Probe::Tcp4);
    let run = svc.join("run");
    std::fs::write(
        &run,
        format!(
            "#!/bin/sh\nexec {} -m http.server {port} --bind 127.0.0.1\n",
            python().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut g = Guard::new();
    let mut cmd = Command::new(&sup_bin);
    cmd.arg(&svc).current_dir(dir.path());
    let sup = launch_in_own_group(&mut g, &mut cmd, dir.path(), port);
    let _sup_first = ParentFirst(sup, proc_start_time(sup).expect("supervisor alive"));
    let h = &sole_holder(&mut g, "tcp", port);
    let dir_s = svc.display().to_string();
    let advice = format!("{} {dir_s}", stop.join(" "));
    assert_eq!(h["class"], "managed", "{h:#}");
    assert!(has_reason(h, &format!("{describe} {dir_s}")), "{h:#}");
    assert!(has_reason(h, &format!("`{advice}`")), "{h:#}");
    let (code, doc) = kill_json(&[&port.to_string(), "--yes"], &[]);
    assert_eq!(code, 3, "{doc:#}");
    // The advice, run as a person would, frees the port.
    let st = Command::new(stop_bin)
        .args(&stop[1..])
        .arg(&svc)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{advice} failed");
    assert!(wait_until(READY_TIMEOUT, || !listening("tcp", port)));
    assert!(
        is_alive(sup, proc_start_time(sup).unwrap()),
        "the supervisor died"
    );
}

#[test]
fn runit_service_is_managed_and_sv_down_frees_it() {
    service_dir_supervisor("runsv", "runit service", &["sv", "down"]);
}

#[test]
fn s6_service_is_managed_and_s6_svc_down_frees_it() {
    service_dir_supervisor("s6-supervise", "s6 service", &["s6-svc", "-d"]);
}

#[test]
fn shell_respawn_loop_is_reported_with_the_next_step() {
    let bash = need("bash");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    // `set -m`: each run of the server is its own process group, as a
    // job-control shell does — so killing the holder's group spares the loop.
    let script = format!(
        "set -m; while true; do {} -m http.server {port} --bind 127.0.0.1; done",
        python().display()
    );
    let mut g = Guard::new();
    let mut cmd = Command::new(bash);
    cmd.args(["-c", &script]).current_dir(dir.path());
    let loop_pid = launch_in_own_group(&mut g, &mut cmd, dir.path(), port);
    let _loop_first = ParentFirst(loop_pid, proc_start_time(loop_pid).expect("loop alive"));
    let h = &sole_holder(&mut g, "tcp", port);
    assert_eq!(h["class"], "live", "{h:#}");
    assert_eq!(h["ppid"], loop_pid);

    // A generous watch: the loop restarts python, which takes a moment on
    // a loaded machine.
    let (_cfg, xdg) = respawn_watch_home("8s");
    let (code, doc) = kill_json(
        &[&port.to_string(), "--yes"],
        &[("XDG_CONFIG_HOME", xdg.as_str())],
    );
    assert_eq!(code, 4, "{doc:#}");
    let held = &doc["report"]["still_held"][0];
    assert_eq!(
        held["respawner"],
        format!("pid {loop_pid} (bash)"),
        "{doc:#}"
    );
    assert!(
        held["next_step"]
            .as_str()
            .is_some_and(|n| n.contains(&format!("kill {loop_pid}"))),
        "{doc:#}"
    );
    holders(&mut g, "tcp", port);
    assert!(
        is_alive(loop_pid, proc_start_time(loop_pid).unwrap()),
        "the loop itself is not a target"
    );
    // Human form: the same next step in the summary.
    let out = portwarden()
        .env("XDG_CONFIG_HOME", &xdg)
        .args(["kill", &port.to_string(), "--yes"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains(&format!("respawned by pid {loop_pid} (bash)"))
            && text.contains(&format!(
                "next: end the respawning parent first (`kill {loop_pid}`"
            )),
        "{text}"
    );
    holders(&mut g, "tcp", port);
}

/// Read `PREFIX <pid>` from a child's stdout (bounded).
fn read_tagged_pid(out: impl Read + Send + 'static, prefix: &'static str) -> i32 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Some(p) = line.strip_prefix(prefix) {
                let _ = tx.send(p.trim().parse::<i32>().ok());
                break;
            }
        }
    });
    rx.recv_timeout(READY_TIMEOUT)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no `{prefix}` line"))
}

/// Read `PREFIX <pid>` from what a program in a terminal wrote (bounded):
/// a whole line of its own, so neither the echo of the command that prints
/// it (which also holds the prefix) nor half a pid counts.
fn tagged_pid(term: &Pty, prefix: &str) -> i32 {
    let pid_line = |raw: &str| {
        raw.split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .find_map(|l| l.strip_prefix(prefix))
            .map(|p| p.trim().parse::<i32>().ok())
    };
    let raw = term.wait_for_raw(&format!("a `{prefix}` line"), |raw| pid_line(raw).is_some());
    pid_line(&raw)
        .flatten()
        .unwrap_or_else(|| panic!("no `{prefix}` line"))
}

/// Start a launcher (stdout piped, guarded) that prints `PREFIX <pid>` of
/// what it started; that pid, read (bounded) and adopted.
fn spawn_tagged(g: &mut Guard, cmd: &mut Command, prefix: &'static str) -> i32 {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    g.child(child);
    let pid = read_tagged_pid(out, prefix);
    adopt(g, pid);
    pid
}

/// Kill a direct child (the launcher) and reap it.
fn kill_launcher(g: &mut Guard, i: usize) {
    let c = g.child_mut(i);
    let _ = c.kill();
    let _ = c.wait();
}

fn orphan_is_freed(g: &mut Guard, port: u16, pid: i32, evidence: &[&str]) {
    let h = &sole_of_class(g, "tcp", port, "orphan", evidence);
    assert_eq!(pid_of(h), pid);
    consent_frees(&port.to_string(), "tcp", port, std::slice::from_ref(h));
}

#[test]
fn node_detached_sidecar_of_a_killed_app_is_an_orphan() {
    let node = need("node");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let app = dir.path().join("app.js");
    std::fs::write(
        &app,
        format!(
            "const {{ spawn }} = require('child_process');\n\
             const c = spawn(process.execPath, ['-e', \"require('net').createServer().listen({port}, '127.0.0.1', () => console.log('up'))\"], {{ detached: true }});\n\
             c.stdout.on('data', d => {{ if (String(d).includes('up')) console.log('SIDECAR ' + c.pid); }});\n\
             setInterval(() => {{}}, 1e6);\n"
        ),
    )
    .unwrap();
    let mut g = Guard::new();
    let sidecar = spawn_tagged(
        &mut g,
        Command::new(node).arg(&app).current_dir(dir.path()),
        "SIDECAR ",
    );
    kill_launcher(&mut g, 0);
    orphan_is_freed(
        &mut g,
        port,
        sidecar,
        &[
            "has stdin on a socket, a channel from its launcher",
            "leads its own session",
            &format!("has working directory {}", dir.path().display()),
        ],
    );
}

#[test]
fn python_new_session_proxy_of_a_killed_wrapper_is_an_orphan() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let wrapper = dir.path().join("wrapper.py");
    std::fs::write(
        &wrapper,
        format!(
            "import subprocess, sys, time\n\
             proxy = \"import socket, time\\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\\ns.bind(('127.0.0.1', {port})); s.listen(8)\\nprint('up', flush=True)\\ntime.sleep(3600)\"\n\
             p = subprocess.Popen([sys.executable, '-c', proxy], start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n\
             p.stdout.readline()\n\
             print(f'PROXY {{p.pid}}', flush=True)\n\
             time.sleep(3600)\n"
        ),
    )
    .unwrap();
    let mut g = Guard::new();
    let proxy = spawn_tagged(
        &mut g,
        Command::new(python()).arg(&wrapper).current_dir(dir.path()),
        "PROXY ",
    );
    kill_launcher(&mut g, 0);
    orphan_is_freed(
        &mut g,
        port,
        proxy,
        &[
            "has stdout on a pipe nobody reads any more",
            "leads its own session",
        ],
    );
}

#[test]
fn http_server_of_a_killed_terminal_shell_is_an_orphan() {
    let bash = need("bash");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let mut shell = PtyBuilder::new(bash)
        .args(["--norc", "--noprofile", "-i"])
        .cwd(dir.path())
        .spawn();
    shell.keys(&format!(
        "{} -m http.server {port} --bind 127.0.0.1 & echo SERVER $!\n",
        python().display()
    ));
    let server = tagged_pid(&shell, "SERVER ");
    let mut g = Guard::new();
    adopt(&mut g, server);
    assert!(wait_until(READY_TIMEOUT, || listening("tcp", port)));
    // The terminal's shell is killed outright (SIGKILL: it cannot pass a
    // hangup on to its jobs, as after an OOM kill or a crashed session).
    shell.kill_outright();
    orphan_is_freed(
        &mut g,
        port,
        server,
        &[
            "has stdout on terminal /dev/pts/",
            "whose leader (the shell or launcher that started it) is gone",
            &format!("has working directory {}", dir.path().display()),
        ],
    );
    drop(shell);
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
