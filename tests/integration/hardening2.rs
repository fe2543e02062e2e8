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

// ---------------------------------------------------------------------------
// 1. Holders visible only through a thread

fn thread_holder_is_found_and_killed(mode: &str) {
    let mut guard = Guard::new();
    let (pid, port) = start(&mut guard, mode, &[], true);
    if mode == "exit-main" {
        // The main thread's stat shows Z once it is gone; the process lives.
        assert!(
            wait_until(READY_TIMEOUT, || proc_state(pid) == Some('Z')),
            "the main thread exited"
        );
    }
    let p = port.to_string();
    let doc = list_json(&[&p]);
    let s = socket_at(&doc, "tcp", "127.0.0.1", port);
    assert_eq!(holder_pids(&s), vec![pid], "{mode}: holder found: {s}");
    let h = holder(&s, pid);
    let cmd: Vec<&str> = h["cmdline"]
        .as_array()
        .expect("cmdline")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(cmd.contains(&mode), "{mode}: command line shown: {h}");

    let (code, out, err) = pw(&["kill", &p, "--yes", "--only", mode, "--grace", "2s"]);
    assert_eq!(
        code, 0,
        "{mode}: kill frees the port\nstdout: {out}\nstderr: {err}"
    );
    assert!(out.contains("free"), "{out}");
    assert!(
        wait_until(READY_TIMEOUT, || ended(pid)),
        "{mode}: the holder was killed"
    );
    assert!(can_bind("tcp", "127.0.0.1", port), "{mode}: port free");
}

#[test]
fn thread_holder_whose_main_thread_exited_is_found_and_killed() {
    thread_holder_is_found_and_killed("exit-main");
}

#[test]
fn thread_holder_with_an_unshared_fd_table_is_found_and_killed() {
    thread_holder_is_found_and_killed("unshare");
}

// ---------------------------------------------------------------------------
// 2. Unresolved sockets get the true reason

#[test]
fn unresolved_socket_in_flight_names_what_was_checked() {
    let mut guard = Guard::new();
    let (pid, port) = start(&mut guard, "inflight", &[], true);
    assert_eq!(next_line(pid as u32), "sent", "the fd is in flight");
    let p = port.to_string();
    let doc = list_json(&[&p]);
    let s = socket_at(&doc, "tcp", "127.0.0.1", port);
    assert_eq!(holder_pids(&s), Vec::<i32>::new(), "nobody holds it: {s}");
    let why = s["unresolved"].as_str().expect("a reason");
    assert!(
        why.contains("SCM_RIGHTS") && why.contains("in flight"),
        "{why}"
    );
    assert!(
        !why.contains("its holder is in another PID namespace"),
        "no namespace claim that was not checked: {why}"
    );
    if is_root() {
        // Either every process was searched, or it names the ones whose
        // fds are protected even from root (a sandbox's pid 1).
        assert!(
            why.contains("searched") || why.contains("could not be inspected even as root"),
            "says what was searched: {why}"
        );
    }

    let (code, out, err) = pw(&["kill", &p, "--yes", "--json"]);
    assert_eq!(code, 3, "refused\nstdout: {out}\nstderr: {err}");
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    let r = &doc["plan"]["refusals"][0];
    assert!(r["pid"].is_null(), "no invented pid: {r}");
    assert!(r["class"].is_null(), "no invented class: {r}");
    assert_eq!(r["unresolved"], true, "{r}");
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|t| t.contains("in flight")),
        "{r}"
    );
    assert!(!ended(pid), "nothing was signalled");
}

#[test]
fn unresolved_socket_from_another_pid_namespace_counts_what_it_sees() {
    if !is_root() {
        skip(
            "unresolved_socket_from_another_pid_namespace_counts_what_it_sees",
            "needs root for a PID namespace",
        );
        return;
    }
    let mut guard = Guard::new();
    let (_, port) = start(&mut guard, "listen", &[], true);
    let pw_path = portwarden_path().to_str().expect("UTF-8 path").to_string();
    let p = port.to_string();
    let mut c = assert_cmd::Command::new("unshare");
    c.args([
        "--pid",
        "--fork",
        "--mount-proc",
        "setsid",
        &pw_path,
        "list",
        "--json",
        &p,
    ])
    .write_stdin(Vec::<u8>::new())
    .env("XDG_CONFIG_HOME", "/nonexistent-portwarden-test")
    .timeout(Duration::from_secs(30));
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    let s = socket_at(&doc, "tcp", "127.0.0.1", port);
    let why = s["unresolved"].as_str().expect("a reason");
    assert!(
        why.contains("not the machine's initial one") && why.contains("1 PID namespace(s) visible"),
        "says where it runs and what it sees: {why}"
    );
}

// ---------------------------------------------------------------------------
// 3. A group kill converges

#[test]
fn group_kill_converges_on_a_leader_forking_every_20ms() {
    let mut bystander = Guard::new();
    // Our own child too, in its own group: must survive.
    let (other, _) = start(&mut bystander, "listen", &[], true);

    let mut group = GroupGuard::start("forker");
    let pgid = group.pgid();
    let port: u16 = group.first_line().parse().expect("port");
    assert!(
        wait_until(READY_TIMEOUT, || members(pgid).len() >= 5),
        "the leader forks"
    );
    let p = port.to_string();
    let (code, out, err) = pw(&[
        "kill", &p, "--yes", "--json", "--grace", "300ms", "--only", "forker",
    ]);
    assert_eq!(
        code, 0,
        "converged, port free\nstdout: {out}\nstderr: {err}"
    );
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    let conv = &doc["report"]["convergence"];
    assert!(conv["rounds"].as_u64().is_some_and(|r| r >= 2), "{conv}");
    assert!(conv["newcomers"].as_u64().is_some_and(|n| n >= 1), "{conv}");
    assert!(conv["elapsed_ms"].as_f64().is_some(), "{conv}");
    assert_eq!(conv["bounded"], false, "{conv}");
    assert_eq!(doc["plan"]["groups"], serde_json::json!([pgid]), "{doc}");
    assert!(
        wait_until(READY_TIMEOUT, || members(pgid).is_empty()),
        "group {pgid} is empty: {:?}",
        members(pgid)
    );
    assert!(can_bind("tcp", "127.0.0.1", port), "port free");
    assert!(
        !ended(other),
        "a process outside the planned group survives"
    );

    // The text report says it too.
    drop(group);
    let mut group = GroupGuard::start("forker");
    let port = group.first_line();
    let (code, out, err) = pw(&["kill", &port, "--yes", "--grace", "300ms"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains("newcomer(s) joined the planned groups") && out.contains("rounds"),
        "{out}"
    );
}

/// Kills every pid a `forker-setsid` fixture announced (children in
/// sessions of their own, out of reach of the group guard). A collector
/// thread reads each pid's start time the moment its line arrives, so a
/// pid that died and was reused meanwhile is never signalled.
struct AnnouncedGuard {
    seen: Arc<Mutex<Vec<(i32, u64)>>>,
    done: mpsc::Receiver<()>,
    guard: Guard,
}

impl AnnouncedGuard {
    /// Start collecting the announcements of fixture `leader`.
    fn collect(leader: u32) -> AnnouncedGuard {
        let rx = take_lines(leader);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done) = mpsc::channel();
        let s = Arc::clone(&seen);
        std::thread::spawn(move || {
            // Ends when every writer (leader and children) is gone.
            while let Ok(line) = rx.recv() {
                if let Ok(pid) = line.parse::<i32>()
                    && let Some(st) = proc_start_time(pid)
                {
                    s.lock().unwrap().push((pid, st));
                }
            }
            let _ = done_tx.send(());
        });
        AnnouncedGuard {
            seen,
            done,
            guard: Guard::new(),
        }
    }

    fn kill_announced(&mut self) {
        for &(pid, st) in self.seen.lock().unwrap().iter() {
            self.guard.adopt(pid, st);
        }
        self.guard.cleanup();
    }
}

impl Drop for AnnouncedGuard {
    fn drop(&mut self) {
        // Kill what is known, then what was announced meanwhile, until the
        // output closes (every child is dead) or a bound.
        for _ in 0..50 {
            self.kill_announced();
            if self.done.recv_timeout(POLL).is_ok() {
                break;
            }
        }
        self.kill_announced();
    }
}

/// A `forker-setsid` leader in its own group, with both guards, once it
/// has forked holders (bounded).
fn setsid_forker() -> (GroupGuard, AnnouncedGuard, u16) {
    let mut group = GroupGuard::start("forker-setsid");
    let port: u16 = group.first_line().parse().expect("port");
    let announced = AnnouncedGuard::collect(group.pgid() as u32);
    let p = port.to_string();
    assert!(
        wait_until(READY_TIMEOUT, || list_json(&[&p])["sockets"][0]["holders"]
            .as_array()
            .is_some_and(|h| h.len() >= 3)),
        "the leader forks holders"
    );
    (group, announced, port)
}

#[test]
fn group_kill_never_widens_and_tree_kill_converges() {
    // Children leave the group with setsid: without --tree, those forked
    // after the plan are outside every planned group and are not touched
    // (they keep the port: exit 4).
    let (group, announced, port) = setsid_forker();
    let p = port.to_string();
    let (code, out, err) = pw(&["kill", &p, "--yes", "--json", "--grace", "300ms"]);
    assert_eq!(
        code, 4,
        "newcomers outside the planned groups survive
{out}
{err}"
    );
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    let outcomes = doc["report"]["outcomes"].as_array().expect("outcomes");
    // A child caught between its fork and its setsid was in a planned
    // group then (role "group"); nothing is taken as a descendant.
    assert!(
        outcomes.iter().all(|o| o["role"] != "descendant"),
        "no subtree without --tree: {doc}"
    );
    let signalled: Vec<i64> = outcomes.iter().filter_map(|o| o["pid"].as_i64()).collect();
    let survivors: Vec<i64> = doc["report"]["still_held"][0]["by"]
        .as_array()
        .expect("still held by")
        .iter()
        .filter_map(|b| {
            b.as_str()?
                .strip_prefix("pid ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(!survivors.is_empty(), "{doc}");
    assert!(
        survivors.iter().all(|p| !signalled.contains(p)),
        "processes outside the planned groups were never signalled: {doc}"
    );
    drop(announced);
    drop(group);

    // With --tree they are descendants of a planned holder: converged.
    let (_group, _announced, port) = setsid_forker();
    let p = port.to_string();
    let (code, out, err) = pw(&["kill", &p, "--yes", "--tree", "--json", "--grace", "300ms"]);
    assert_eq!(
        code, 0,
        "converged with --tree
{out}
{err}"
    );
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    let conv = &doc["report"]["convergence"];
    assert!(conv["newcomers"].as_u64().is_some_and(|n| n >= 1), "{conv}");
    let descendants = doc["report"]["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .filter(|o| o["role"] == "descendant")
        .count();
    assert!(
        descendants >= 1,
        "newcomers signalled as descendants: {doc}"
    );
    assert!(can_bind("tcp", "127.0.0.1", port), "port free");
}

// ---------------------------------------------------------------------------
// 4. Bounded input

/// `XDG_CONFIG_HOME` whose `portwarden/config.toml` holds `text`.
fn config_home(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("portwarden")).expect("mkdir");
    std::fs::write(dir.path().join("portwarden/config.toml"), text).expect("write config");
    dir
}

/// `XDG_CONFIG_HOME` whose `portwarden/config.toml` is a symlink to
/// `target` (or, with `None`, a FIFO).
fn config_pointing_at(target: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("portwarden");
    std::fs::create_dir(&conf).expect("mkdir");
    let file = conf.join("config.toml");
    match target {
        Some(t) => std::os::unix::fs::symlink(t, &file).expect("symlink"),
        None => nix::unistd::mkfifo(&file, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo"),
    }
    (dir, file)
}

#[test]
fn input_config_that_is_a_device_or_fifo_is_refused_at_once() {
    for (target, kind) in [
        (Some("/dev/zero"), "character device"),
        (Some("/dev/urandom"), "character device"),
        (None, "FIFO"),
    ] {
        let (dir, file) = config_pointing_at(target);
        for args in [
            &["list"][..],
            &["why", "1"][..],
            &["kill", "1", "--dry-run"][..],
        ] {
            let mut c = portwarden();
            c.env("XDG_CONFIG_HOME", dir.path()).args(args);
            let (code, _, err) = run(c);
            assert_eq!(code, 2, "{target:?} {args:?}: exit 2, stderr: {err}");
            assert!(
                err.contains(&file.display().to_string()) && err.contains(kind),
                "names the path and what it is: {err}"
            );
            assert_eq!(err.trim().lines().count(), 1, "{err}");
        }
    }
}

#[test]
fn input_command_line_longer_than_64k_matches_and_is_marked_cut() {
    let mut guard = Guard::new();
    // 200 KiB in four arguments (one may be at most 128 KiB), then a marker.
    let long = "a".repeat(50 * 1024);
    let marker = unique_tag();
    let (pid, port) = start(
        &mut guard,
        "listen",
        &[&long, &long, &long, &long, &marker],
        true,
    );
    let p = port.to_string();
    let (code, out, err) = pw(&["kill", &p, "--dry-run", "--only", &marker]);
    assert_eq!(
        code, 0,
        "--only matches far into the command line\n{out}\n{err}"
    );
    assert!(out.contains(&pid.to_string()), "{out}");
    assert!(
        out.contains("…(cut)"),
        "the shortened command says so: {out}"
    );
    let (code, out, _) = pw(&["why", &p]);
    assert_eq!(code, 0);
    assert!(out.contains("…(cut)"), "{out}");
    let doc = list_json(&[&p]);
    let h = holder(&socket_at(&doc, "tcp", "127.0.0.1", port), pid);
    // Output stays bounded (64 KiB of arguments), the cut marked; the
    // match above was on the whole line.
    let args = h["cmdline"].as_array().expect("cmdline");
    let last = args.last().and_then(Value::as_str).expect("an argument");
    assert!(last.ends_with("…(cut)"), "last argument: …{}", last.len());
    let total: usize = args.iter().filter_map(Value::as_str).map(str::len).sum();
    assert!(total <= 64 * 1024 + 4, "{total}");
}

// ---------------------------------------------------------------------------
// 5. Everything printed is escaped

/// No ESC, BEL or other C0/C1 control (but the line end) in `s`.
fn assert_inert(what: &str, s: &str) {
    let bad: Vec<char> = s
        .chars()
        .filter(|&c| (c.is_control() && c != '\n') || c == '\u{202e}')
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: raw control characters {bad:?} in {s:?}"
    );
}

#[test]
fn escape_config_errors_clap_errors_and_paths() {
    // An unknown key carrying an OSC title change and a screen clear.
    let dir = config_home("\"x\\u001b]0;pwned\\u0007\\u001b[2J\" = 1\n");
    let mut c = portwarden();
    c.env("XDG_CONFIG_HOME", dir.path()).arg("list");
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert_inert("unknown config key", &err);
    assert!(err.contains("\\e]0;pwned\\x07\\e[2J"), "{err}");

    // clap quotes a hostile argument back.
    for args in [
        &["--\u{1b}]0;pwned\u{7}"][..],
        &["kill", "\u{1b}[2J80"][..],
        &["kill", "80", "--signal", "\u{9b}31m"][..],
    ] {
        let (code, _, err) = pw(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_inert(&format!("{args:?}"), &err);
    }

    // A path from the environment, printed and in an error.
    let evil = dir.path().join("e\u{1b}[2Jvil");
    std::fs::create_dir_all(evil.join("portwarden")).expect("mkdir");
    std::os::unix::fs::symlink("/dev/zero", evil.join("portwarden/config.toml")).expect("symlink");
    let mut c = portwarden();
    c.env("XDG_CONFIG_HOME", &evil).args(["config", "--path"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert_inert("config --path", &out);
    assert!(out.contains("e\\e[2Jvil"), "{out}");
    let mut c = portwarden();
    c.env("XDG_CONFIG_HOME", &evil).arg("list");
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert_inert("config path in an error", &err);
}

// ---------------------------------------------------------------------------
// 9. Repeated and long input is folded

#[test]
fn repeated_ports_are_merged_and_long_holder_lists_folded() {
    let mut guard = Guard::new();
    let (pid, port) = start(&mut guard, "listen", &[], true);
    let p = port.to_string();
    let tcp = format!("tcp:{port}");
    let mut args: Vec<&str> = vec!["kill", "--dry-run"];
    for _ in 0..300 {
        args.push(&p);
        args.push(&tcp);
    }
    let (code, out, err) = pw(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("plan: free port {p} — ")),
        "port named once: {out}"
    );
    let rows = out
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(pid.to_string().as_str()))
        .count();
    assert_eq!(rows, 1, "target once: {out}");

    // A supervisor re-takes the port with 80 holders right after the kill.
    let (sup, port) = start(&mut guard, "respawn80", &[], true);
    let p = port.to_string();
    let (code, out, err) = pw(&["kill", &p, "--yes", "--grace", "1s"]);
    assert_eq!(next_line(sup as u32), "respawned");
    assert_eq!(code, 4, "still held\nstdout: {out}\nstderr: {err}");
    let line = out
        .lines()
        .find(|l| l.contains("still held"))
        .expect("a still-held line");
    assert!(line.contains("and 77 more, see --json"), "{line}");
    assert!(line.len() < 600, "{} bytes: {line}", line.len());
    assert!(!ended(sup), "the supervisor was no target");
}

// ---------------------------------------------------------------------------
// 10. Non-terminating first signals

#[test]
fn signals_that_cannot_end_a_process_are_usage_errors() {
    for sig in [
        "STOP", "CONT", "CHLD", "WINCH", "URG", "TSTP", "TTIN", "TTOU", "SIGSTOP", "19",
    ] {
        let (code, out, err) = pw(&["kill", "1", "--signal", sig, "--dry-run"]);
        assert_eq!(code, 2, "{sig}: stdout {out} stderr {err}");
        assert!(
            err.contains("cannot end a process") && err.contains("TERM") && err.contains("KILL"),
            "{sig}: names the signals that can: {err}"
        );
    }
    let dir = config_home("signal = \"STOP\"\n");
    let mut c = portwarden();
    c.env("XDG_CONFIG_HOME", dir.path())
        .args(["kill", "1", "--dry-run"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot end a process"), "{err}");
}

#[test]
fn why_says_a_holder_is_stopped() {
    let mut guard = Guard::new();
    let (pid, port) = start(&mut guard, "listen", &[], true);
    kill(Pid::from_raw(pid), Signal::SIGSTOP).expect("stop our fixture");
    assert!(wait_until(READY_TIMEOUT, || proc_state(pid) == Some('T')));
    let (code, out, _) = pw(&["why", &port.to_string()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("stopped (T)") && out.contains("SIGCONT"),
        "{out}"
    );
    let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
}

#[test]
fn why_says_a_holder_is_traced() {
    let mut guard = Guard::new();
    let (_, port) = start(&mut guard, "traced", &[], true);
    let (code, out, _) = pw(&["why", &port.to_string()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("traced (t)") && out.contains("tracer"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------
// 6 and 8. The TUI in a pseudo-terminal

/// The TUI at 24×80 with no user config (a stray one could rebind keys).
fn start_tui() -> Pty {
    Pty::portwarden()
        .env("XDG_CONFIG_HOME", "/nonexistent-portwarden-test")
        .spawn()
}

/// Suspend (by `how`), check the terminal was given back and the process
/// stopped; continue, check raw mode and the alternate screen are back and
/// the screen was redrawn.
fn suspend_and_resume(tui: &mut Pty, how: &str) {
    let before = tui.raw_len();
    match how {
        "ctrl-z" => tui.keys("\u{1a}"),
        _ => kill(Pid::from_raw(tui.pid()), Signal::SIGTSTP).expect("SIGTSTP"),
    }
    assert!(
        wait_until(READY_TIMEOUT, || proc_state(tui.pid()) == Some('T')),
        "{how}: the TUI stopped"
    );
    // What was written before the stop may still be on its way to us.
    assert!(
        wait_until(READY_TIMEOUT, || {
            let raw = tui.raw_since(before);
            raw.contains("\x1b[?1049l") && raw.contains("\x1b[?25h")
        }),
        "{how}: alternate screen left and cursor shown"
    );
    assert!(tui.cooked(), "{how}: canonical mode and echo while stopped");

    let before = tui.raw_len();
    kill(Pid::from_raw(tui.pid()), Signal::SIGCONT).expect("SIGCONT");
    assert!(
        wait_until(READY_TIMEOUT, || tui.raw_since(before).contains("PROTO")),
        "{how}: redrawn after SIGCONT; screen:\n{}",
        tui.contents()
    );
    assert!(
        tui.raw_since(before).contains("\x1b[?1049h"),
        "{how}: alternate screen again"
    );
    assert!(
        wait_until(READY_TIMEOUT, || tui.raw_mode()),
        "{how}: raw mode again after SIGCONT"
    );
    // A redraw may be in flight (a clear, then the table): wait, bounded,
    // for the screen to show the table again.
    tui.wait_for("the table after resuming", |s| s.contains("PROTO"));
}

#[test]
fn tui_job_control_suspends_resumes_and_exits_128_plus_n() {
    let mut tui = start_tui();
    tui.wait_for("the first frame", |s| s.contains("PROTO"));
    suspend_and_resume(&mut tui, "ctrl-z");
    suspend_and_resume(&mut tui, "SIGTSTP");
    // Keys work again (help opens), then SIGTERM ends it with 143.
    tui.keys("?");
    tui.wait_for("help", |s| s.contains("Esc"));
    kill(Pid::from_raw(tui.pid()), Signal::SIGTERM).expect("SIGTERM");
    assert_eq!(tui.exit_code(), 128 + 15);
    assert!(tui.cooked(), "terminal restored");

    for (sig, n) in [(Signal::SIGHUP, 1), (Signal::SIGINT, 2)] {
        let mut tui = start_tui();
        tui.wait_for("the first frame", |s| s.contains("PROTO"));
        kill(Pid::from_raw(tui.pid()), sig).expect("signal");
        assert_eq!(tui.exit_code(), 128 + n, "{sig:?}");
    }
}

#[test]
fn tui_offers_no_force_for_its_own_ancestor() {
    // This test process holds the port, and it is the TUI's parent: kill
    // is refused, and forcing could not change that.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let mut tui = start_tui();
    tui.wait_for("the first frame", |s| s.contains("PROTO"));
    tui.keys("/");
    tui.keys(&port);
    tui.keys("\r");
    tui.wait_for("our port, filtered", |s| s.contains(&format!(":{port}")));
    tui.keys("x");
    // Wait for the whole dialog (its last line and the key bar), not just
    // its title: a frame caught mid-draw would show neither offer.
    let screen = tui.wait_for("the refusal, drawn to its end", |s| {
        s.contains("will not kill") && s.contains("Esc] close") && s.contains("Esc close")
    });
    assert!(screen.contains("cannot be forced"), "{screen}");
    assert!(
        !screen.contains("[F]") && !screen.contains("F force"),
        "{screen}"
    );
    // F does nothing: still the same refusal, nothing planned again.
    tui.keys("F");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !tui.contents().contains("FORCE kill?"),
        "{}",
        tui.contents()
    );
    tui.keys("\u{1b}");
    tui.keys("q");
    assert_eq!(tui.exit_code(), 0);
    drop(listener);
}
