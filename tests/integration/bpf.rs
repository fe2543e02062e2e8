//! The BPF holder finder (`list --method bpf`) against the `/proc` walk
//! (`--method proc`) and against what each fixture says it is.
//!
//! These run as root (CI does): the iterator is root-only. When BPF cannot
//! be loaded here, the tests fail with the loader's reason — a silent skip
//! would hide exactly the regression they exist for.
//!
//! The C fixture `tests/fixtures/bpf_holders.c` is compiled once per test
//! process with `cc -pthread` (a missing compiler is a failure).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

/// `list --json --method M ARGS`, with a failure that shows stderr (the
/// loader's reason when BPF is refused).
fn list_with(method: &str, args: &[&str]) -> Value {
    let out = portwarden()
        .args(["list", "--json", "--verbose", "--method", method])
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run portwarden");
    assert!(
        out.status.success(),
        "portwarden list --method {method} failed: {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("list --json output is JSON")
}

/// (proto, addr, port) → holder pids, for the sockets on `port`.
fn holders_on(doc: &Value, port: u16) -> BTreeMap<(String, String), Vec<i32>> {
    sockets(doc)
        .into_iter()
        .filter(|s| s["port"] == port)
        .map(|s| {
            let key = (
                s["proto"].as_str().unwrap_or("?").to_string(),
                s["addr"].as_str().unwrap_or("?").to_string(),
            );
            (key, holder_pids(&s))
        })
        .collect()
}

/// The BPF and /proc methods see the same holders on `port`, and they are
/// `expect` on every socket there.
fn assert_methods_agree(port: u16, expect: &[i32], what: &str) {
    let spec = port.to_string();
    let bpf = holders_on(&list_with("bpf", &[&spec]), port);
    let proc = holders_on(&list_with("proc", &[&spec]), port);
    assert!(!bpf.is_empty(), "{what}: no socket on port {port}");
    assert_eq!(bpf, proc, "{what}: BPF and /proc disagree");
    for (key, pids) in &bpf {
        assert_eq!(pids, expect, "{what}: holders of {key:?}");
    }
}

#[test]
fn bpf_agrees_with_proc_on_prefork_group_udp_and_v6() {
    let prefork = Spec::new("prefork")
        .args(&["--workers", "3"])
        .ready(4)
        .start();
    assert_methods_agree(prefork.port, &prefork.all_pids(), "prefork");

    let group = Spec::new("group").ready(2).start();
    assert_methods_agree(group.port, &group.pids("holder"), "group");

    let udp = Spec::new("listen")
        .bind("udp,127.0.0.1")
        .probe(Probe::Udp4)
        .start();
    assert_methods_agree(udp.port, &udp.pids("holder"), "udp");

    let v6 = Spec::new("listen")
        .bind("tcp,::1,v6only")
        .bind("udp,::1,v6only")
        .probe(Probe::Tcp6)
        .start();
    assert_methods_agree(v6.port, &v6.pids("holder"), "v6 tcp+udp");
}

/// The compiled C fixture (once per test process).
fn holders_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let out = dir.join("bpf_holders");
        // Concurrent test processes: build under a private name, then
        // rename (atomic) over whatever another one built.
        let tmp = dir.join(format!("bpf_holders.{}", std::process::id()));
        let status = Command::new("cc")
            .args(["-pthread", "-O1", "-Wall", "-o"])
            .arg(&tmp)
            .arg(fixture_script("bpf_holders.c"))
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run cc to build the C fixture ({e}): install gcc or clang")
            });
        assert!(status.success(), "cc failed on bpf_holders.c: {status}");
        std::fs::rename(&tmp, &out).expect("install the fixture binary");
        out
    })
}

/// Run the C fixture and wait (bounded) for `n` READY lines:
/// (pid, port, role) each.
fn holders_fixture(guard: &mut Guard, args: &[&str], n: usize) -> Vec<(i32, u16, String)> {
    let mut cmd = Command::new(holders_bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Its own pipe, not the test's stderr: forked children that outlive
        // the fixture by a moment (PR_SET_PDEATHSIG) would hold that open.
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("start bpf_holders");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    guard.child(child);
    let err_text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&err_text);
    thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        *sink.lock().expect("stderr text") = text;
    });
    let err = move || {
        // Give the reader a moment to collect what the fixture said.
        wait_until(Duration::from_millis(500), || {
            !err_text.lock().expect("stderr text").is_empty()
        });
        err_text.lock().expect("stderr text").clone()
    };
    let (tx, rx) = mpsc::channel::<String>();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => {
                panic!("bpf_holders {args:?}: not ready in time; stderr: {}", err())
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("bpf_holders {args:?} exited early; stderr: {}", err())
            }
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        let ["READY", pid, port, role] = f.as_slice() else {
            panic!("unexpected fixture output {line:?}");
        };
        let pid: i32 = pid.parse().expect("pid");
        if let Some(st) = proc_start_time(pid) {
            guard.adopt(pid, st);
        }
        out.push((pid, port.parse().expect("port"), role.to_string()));
    }
    out
}

#[test]
fn bpf_agrees_with_proc_on_a_socket_passed_with_scm_rights() {
    let mut guard = Guard::new();
    let ready = holders_fixture(&mut guard, &["scm"], 4);
    let mut pids: Vec<i32> = ready.iter().map(|r| r.0).collect();
    pids.sort_unstable();
    assert!(ready.iter().any(|r| r.2 == "receiver"), "{ready:?}");
    assert_methods_agree(ready[0].1, &pids, "fork + SCM_RIGHTS");
}

/// Holders whose fd table is not the one `/proc/PID/fd` shows: the BPF
/// iterator finds them under their tgid.
#[test]
fn bpf_finds_holders_that_live_only_in_a_thread() {
    for (mode, lines) in [("thread", 1), ("unshare", 2)] {
        let mut guard = Guard::new();
        let ready = holders_fixture(&mut guard, &[mode], lines);
        let pid = ready[0].0;
        if mode == "thread" {
            assert_eq!(proc_state(pid), Some('Z'), "the leader is a zombie");
        }
        // unshare: the thread's socket and the leader's share an fd number
        // in two tables of one process — both are found.
        for (p, port, role) in &ready {
            assert_eq!(*p, pid, "{ready:?}");
            let doc = list_with("bpf", &[&port.to_string()]);
            let s = socket_at(&doc, "tcp", "127.0.0.1", *port);
            assert_eq!(holder_pids(&s), vec![pid], "{mode} {role}: {s}");
        }
    }
}

#[test]
fn bpf_reports_pids_of_the_readers_pid_namespace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = r#"
set -eu
"$FX" listen > "$D/ready" &
i=0
while ! grep -q READY "$D/ready"; do
    i=$((i+1)); [ "$i" -lt 500 ] || { echo "fixture not ready" >&2; exit 1; }
    sleep 0.02
done
"$PW" list --json --method bpf > "$D/bpf.json"
"$PW" list --json --method proc > "$D/proc.json"
"#;
    let mut guard = Guard::new();
    let child = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sh", "-c", script])
        .env("FX", holders_bin())
        .env("PW", portwarden_path())
        .env("D", dir.path())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run unshare (util-linux) ({e})"));
    let child = guard.child(child);
    // Bounded: when sh (pid 1 of the namespace) exits, the fixture dies.
    let done = wait_until(Duration::from_secs(60), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    assert!(done, "unshare did not finish");
    let status = child.wait().expect("status");
    assert!(status.success(), "namespace script failed: {status}");

    let line = std::fs::read_to_string(dir.path().join("ready")).expect("ready line");
    let f: Vec<&str> = line.split_whitespace().collect();
    let (pid, port): (i32, u16) = (f[1].parse().expect("pid"), f[2].parse().expect("port"));
    let read = |name: &str| -> Value {
        let text = std::fs::read(dir.path().join(name)).expect("json");
        serde_json::from_slice(&text).expect("JSON")
    };
    let (bpf, proc) = (read("bpf.json"), read("proc.json"));
    let sb = socket_at(&bpf, "tcp", "127.0.0.1", port);
    let sp = socket_at(&proc, "tcp", "127.0.0.1", port);
    assert_eq!(holder_pids(&sb), vec![pid], "BPF in the namespace: {sb}");
    assert_eq!(holder_pids(&sp), vec![pid], "/proc in the namespace: {sp}");
    assert!(
        pid < 100,
        "a pid of the new namespace, not the host's: {pid}"
    );
}

/// A copy of the binary under test that uid 65534 can run, whatever the
/// checkout's directories allow (a clone under /root is not traversable).
fn binary_for_nobody() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("portwarden");
    std::fs::copy(portwarden_path(), &bin).expect("copy the binary");
    for (path, mode) in [(dir.path(), 0o755), (bin.as_path(), 0o755)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    (dir, bin)
}

#[test]
fn auto_falls_back_to_proc_for_a_non_root_user_and_says_so() {
    let fx = Spec::new("listen").run_as(65534).start();
    let (_dir, bin) = binary_for_nobody();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["why", &fx.port.to_string()])
        .env("HOME", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run setpriv (util-linux) ({e})"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "why as nobody: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("holders found by the /proc walk") && text.contains("not running as root"),
        "why must name the fallback: {text}"
    );
    // (Its holder stays unresolved: the fixture dropped to uid 65534 from
    // root, which leaves it non-dumpable, so its fds are root's to read.)
    assert!(text.contains(&format!("127.0.0.1:{}", fx.port)), "{text}");

    // `list --verbose` says the same on stderr.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["list", "--verbose", &fx.port.to_string()])
        .env("HOME", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .expect("setpriv list");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "list as nobody: {err}");
    assert!(
        err.contains("holders found by the /proc walk") && err.contains("not running as root"),
        "list --verbose must name the fallback: {err}"
    );

    // As root, `why` names the method too (which one depends on the load).
    let root = portwarden()
        .args(["why", &fx.port.to_string()])
        .output()
        .expect("why");
    assert!(
        String::from_utf8_lossy(&root.stdout).contains("holders found by"),
        "{}",
        String::from_utf8_lossy(&root.stdout)
    );
}

/// One `read()` of a BPF iterator visits at most ~1M objects and fails
/// with EAGAIN when that produced no output: a run of over 2M non-socket
/// fds (in back-to-back pids: one process when RLIMIT_NOFILE allows, else
/// as many as it takes) makes at least one read see nothing but them, and
/// the reader must resume instead of stopping.
#[test]
fn bpf_survives_two_million_fds_without_a_socket() {
    const FDS: u64 = 2_100_000;
    let mut guard = Guard::new();
    let ready = holders_fixture(&mut guard, &["manyfds", &FDS.to_string()], 1);
    let (pid, port, _) = ready[0].clone();
    let doc = list_with("bpf", &[&port.to_string()]);
    let s = socket_at(&doc, "tcp", "127.0.0.1", port);
    assert_eq!(holder_pids(&s), vec![pid], "{s}");
}

/// The TUI's scanner loads the iterator once and re-reads it on a refresh
/// that would otherwise walk many new processes' fds: a thread-only holder
/// (which no `/proc/PID/fd` shows) among a crowd of new processes is found
/// by an incremental scan.
#[test]
fn incremental_scan_rereads_the_loaded_iterator() {
    use portwarden::discover::{Finder, Method, Options, Scanner};
    let opts = Options::default();
    let mut sc = Scanner::with_method(Method::Bpf);
    sc.full_every = 1000;
    sc.scan(&opts).expect("first scan");
    assert_eq!(sc.last_method().map(|r| r.finder), Some(Finder::Bpf));

    let mut guard = Guard::new();
    // A fifth of the machine's processes, new: enough that the iterator's
    // one pass is cheaper than their fd walks, too few for a full rescan.
    let running = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .count();
    for _ in 0..running / 5 + 1 {
        let child = Command::new("sleep")
            .arg("120")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        guard.child(child);
    }
    let ready = holders_fixture(&mut guard, &["thread"], 1);
    let (pid, port, _) = ready[0].clone();
    let snap = sc.scan(&opts).expect("refresh");
    assert!(!sc.last_scan().full, "expected an incremental scan");
    let report = sc.last_method().expect("a report");
    assert_eq!(report.finder, Finder::Bpf, "{report}");
    let holders: Vec<i32> = snap
        .sockets_on(port, None)
        .flat_map(|s| s.holders.clone())
        .collect();
    assert_eq!(holders, vec![pid], "the thread-only holder");
}
