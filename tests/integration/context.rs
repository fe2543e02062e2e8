//! Project context, connections and `watch` against real processes
//! (issue 13).
//!
//! Listeners run in temporary directories (git repositories, a linked
//! worktree, plain directories) so their working directory is known; the
//! clients are real processes connected over loopback; `watch` runs while
//! the test starts, kills and restarts a listener. Every process is owned
//! by a [`Guard`] and every wait is bounded.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use serde_json::Value;

use crate::pty::Pty;
use crate::util::*;

/// How long any one step may take before the test fails.
const STEP: Duration = Duration::from_secs(15);

/// A process started from `tests/fixtures/context.py`.
struct Proc {
    pid: i32,
    port: u16,
    lines: Receiver<String>,
    stdin: Option<ChildStdin>,
}

impl Proc {
    /// Wait (bounded) for a line equal to `want`.
    fn expect_line(&self, want: &str) {
        loop {
            let l = self
                .lines
                .recv_timeout(STEP)
                .unwrap_or_else(|_| panic!("pid {}: no {want:?} line", self.pid));
            if l == want {
                return;
            }
        }
    }
}

/// Start `context.py ARGS` in `dir`, in its own process group, owned by
/// `g`; wait for its READY line.
fn start(g: &mut Guard, dir: &Path, args: &[&str]) -> Proc {
    let mut cmd = Command::new(python());
    cmd.arg(fixture_script("context.py"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("spawn context.py");
    let stdout = child.stdout.take().expect("stdout");
    let stdin = child.stdin.take();
    g.child(child);
    let lines = lines_of(stdout);
    let first = lines
        .recv_timeout(STEP)
        .unwrap_or_else(|_| panic!("context.py {args:?}: no READY line"));
    let f: Vec<&str> = first.split_whitespace().collect();
    let ["READY", pid, port] = f.as_slice() else {
        panic!("context.py {args:?}: unexpected {first:?}");
    };
    Proc {
        pid: pid.parse().expect("pid"),
        port: port.parse().expect("port"),
        lines,
        stdin,
    }
}

/// Lines of a pipe, on a channel (so reading them has a deadline).
fn lines_of(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// Run `git ARGS` in `dir`; a missing git is a failure that says so.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=pw", "-c", "user.email=pw@example.invalid"])
        .args([
            "-c",
            "init.defaultBranch=trunk",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("git is installed (the project tests build real repositories)");
    assert!(out.status.success(), "git {args:?} failed: {out:?}");
}

/// The one holder of the TCP listener on 127.0.0.1:`port`.
fn holder_of(doc: &Value, port: u16) -> Value {
    let s = socket_at(doc, "tcp", "127.0.0.1", port);
    s["holders"][0].clone()
}

/// `dir`, canonical (what the kernel reports as a cwd).
fn canon(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).expect("canonical path")
}

#[test]
fn project_of_listeners_in_a_repository_and_its_worktree() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("shop");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(repo.join("package.json"), r#"{"name": "shop-web"}"#).unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    git(
        &repo,
        &["worktree", "add", "-q", "-b", "feature/x", "../shop-wt"],
    );
    let wt = tmp.path().join("shop-wt");
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();

    let mut g = Guard::new();
    let main = start(&mut g, &repo.join("src"), &["listen"]);
    let linked = start(&mut g, &wt, &["listen"]);
    let none = start(&mut g, &plain, &["listen"]);
    let doc = list_json(&[
        &main.port.to_string(),
        &linked.port.to_string(),
        &none.port.to_string(),
    ]);

    let h = holder_of(&doc, main.port);
    assert_eq!(h["pid"], main.pid);
    assert_eq!(h["cwd"], canon(&repo.join("src")).display().to_string());
    assert_eq!(
        h["project"],
        serde_json::json!({"root": canon(&repo).display().to_string(), "name": "shop-web",
                           "branch": "trunk", "worktree": false}),
        "{h:#}"
    );
    let h = holder_of(&doc, linked.port);
    assert_eq!(
        h["project"],
        serde_json::json!({"root": canon(&wt).display().to_string(), "name": "shop-web",
                           "branch": "feature/x", "worktree": true}),
        "{h:#}"
    );
    let h = holder_of(&doc, none.port);
    assert_eq!(h["cwd"], canon(&plain).display().to_string());
    assert!(h["project"].is_null(), "{h:#}");
}

#[test]
fn list_and_kill_by_project_touch_only_that_project() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(a.join("deep")).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let mut g = Guard::new();
    let a1 = start(&mut g, &a, &["listen"]);
    let a2 = start(&mut g, &a.join("deep"), &["listen"]);
    let b1 = start(&mut g, &b, &["listen"]);
    let a_start = proc_start_time(a1.pid).unwrap();
    let b_start = proc_start_time(b1.pid).unwrap();

    // A project directory that does not exist is a usage error.
    let out = portwarden()
        .args([
            "list",
            "--project",
            tmp.path().join("nope").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let doc = list_json(&["--project", a.to_str().unwrap()]);
    let ports: Vec<u64> = sockets(&doc)
        .iter()
        .map(|s| s["port"].as_u64().unwrap())
        .collect();
    assert!(ports.contains(&u64::from(a1.port)), "{ports:?}");
    assert!(ports.contains(&u64::from(a2.port)), "{ports:?}");
    assert!(!ports.contains(&u64::from(b1.port)), "{ports:?}");

    // `.` works: run from inside the project.
    let out = portwarden()
        .args(["kill", "--project", ".", "--yes"])
        .current_dir(&a)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("free"), "{text}");
    assert!(
        wait_until(STEP, || !is_alive(a1.pid, a_start)),
        "project a's listener survived"
    );
    assert!(is_alive(b1.pid, b_start), "project b's listener was killed");
    let doc = list_json(&[&b1.port.to_string()]);
    assert_eq!(
        holder_pids(&socket_at(&doc, "tcp", "127.0.0.1", b1.port)),
        vec![b1.pid]
    );
    assert!(sockets(&list_json(&[&a1.port.to_string(), &a2.port.to_string()])).is_empty());
}

#[test]
fn three_local_clients_are_counted_with_their_pids() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = Guard::new();
    let server = start(&mut g, tmp.path(), &["listen"]);
    let port = server.port.to_string();
    let clients: Vec<Proc> = (0..3)
        .map(|_| start(&mut g, tmp.path(), &["client", &port]))
        .collect();
    let doc = list_json(&[&port]);
    let s = socket_at(&doc, "tcp", "127.0.0.1", server.port);
    let c = &s["connections"];
    assert_eq!(c["established"], 3, "{c:#}");
    assert_eq!(c["syn_recv"], 0, "{c:#}");
    let mut got: Vec<(i64, u64)> = c["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert_eq!(k["addr"], "127.0.0.1");
            assert_eq!(k["name"], "python3", "{k}");
            (k["pid"].as_i64().unwrap(), k["port"].as_u64().unwrap())
        })
        .collect();
    got.sort_unstable();
    let mut want: Vec<(i64, u64)> = clients
        .iter()
        .map(|k| (i64::from(k.pid), u64::from(k.port)))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want);

    // `why` names them too.
    let out = portwarden().args(["why", &port]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("connections: 3 established"), "{text}");
    for k in &clients {
        assert!(text.contains(&format!("pid {} (python3)", k.pid)), "{text}");
    }
}

#[test]
fn udp_sockets_have_null_connections() {
    let fx = Spec::new("listen")
        .bind("udp,127.0.0.1")
        .probe(Probe::Udp4)
        .start();
    let doc = list_json(&[&format!("udp:{}", fx.port)]);
    let s = socket_at(&doc, "udp", "127.0.0.1", fx.port);
    assert!(s.get("connections").is_some_and(Value::is_null), "{s:#}");
}

#[test]
fn wait_free_bindable_waits_for_the_last_connection() {
    // Usage: --bindable goes with --free only.
    let out = portwarden()
        .args(["wait", "1", "--listening", "--bindable", "--timeout", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let tmp = tempfile::tempdir().unwrap();
    let mut g = Guard::new();
    let mut server = start(&mut g, tmp.path(), &["linger"]);
    let port = server.port;
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    server.expect_line("CLOSED");

    // No listener: plain `--free` holds at once, and says who still holds
    // a connection on the port.
    let out = portwarden()
        .args(["wait", &port.to_string(), "--free", "--timeout", "10s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("live on"), "{err}");
    assert!(
        err.contains(&format!("pid {} (python3)", server.pid)),
        "{err}"
    );

    // `--bindable` keeps waiting while the connection lives.
    let mut wait = Command::new(portwarden_path())
        .args([
            "wait",
            &port.to_string(),
            "--free",
            "--bindable",
            "--timeout",
            "30s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let wait_pid = wait.id();
    let gone_early = wait_until(Duration::from_secs(1), || {
        matches!(wait.try_wait(), Ok(Some(_)))
    });
    g.child(wait);
    assert!(
        !gone_early,
        "wait --bindable returned while a connection held the port"
    );

    // The last connection goes (reset: no TIME_WAIT): now it returns 0.
    let stdin = server.stdin.as_mut().unwrap();
    writeln!(stdin, "go").unwrap();
    stdin.flush().unwrap();
    server.expect_line("DONE");
    drop(client);
    let mut code = None;
    let wait = g.child_mut(1);
    assert_eq!(wait.id(), wait_pid);
    assert!(
        wait_until(STEP, || match wait.try_wait() {
            Ok(Some(st)) => {
                code = st.code();
                true
            }
            _ => false,
        }),
        "wait --bindable did not return after the connection was gone"
    );
    assert_eq!(code, Some(0));
    assert!(can_bind("tcp", "127.0.0.1", port));
}

#[test]
fn watch_json_reports_listen_close_and_listen_again() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = Guard::new();
    let port = free_port(Probe::Tcp4);
    let mut watch = Command::new(portwarden_path())
        .args(["watch", &port.to_string(), "--json", "--interval", "100ms"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines_of(watch.stdout.take().unwrap());
    let err = lines_of(watch.stderr.take().unwrap());
    let watch_pid = watch.id() as i32;
    g.child(watch);
    let banner = err.recv_timeout(STEP).expect("watch says it started");
    assert!(banner.contains("watching"), "{banner}");

    let next_event = |want: &[&str]| -> Value {
        let line = out
            .recv_timeout(STEP)
            .unwrap_or_else(|_| panic!("no {want:?} event from watch"));
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
        assert_eq!(v["schema"], 1, "{v}");
        let t = v["time"].as_str().unwrap();
        assert!(
            t.len() == 24 && t.ends_with('Z') && &t[10..11] == "T",
            "{t}"
        );
        assert_eq!(
            (v["proto"].as_str(), v["addr"].as_str()),
            (Some("tcp"), Some("127.0.0.1"))
        );
        assert_eq!(v["port"], port, "{v}");
        assert!(
            want.contains(&v["event"].as_str().unwrap()),
            "want {want:?}: {v}"
        );
        v
    };

    let first = start(&mut g, tmp.path(), &["listen", &port.to_string()]);
    let e = next_event(&["listen"]);
    assert_eq!(e["pid"], first.pid);
    assert_eq!(e["name"], "python3");
    assert!(e["class"].is_string(), "{e}");

    g.child_mut(1).kill().unwrap();
    g.child_mut(1).wait().unwrap();
    let e = next_event(&["close"]);
    assert_eq!(e["pid"], first.pid);
    assert!(e["lived_ms"].is_u64(), "{e}");

    let second = start(&mut g, tmp.path(), &["listen", &port.to_string()]);
    let e = next_event(&["listen", "respawn"]);
    assert_eq!(e["pid"], second.pid);
    if e["event"] == "respawn" {
        assert_eq!(e["old_pid"], first.pid);
    }

    // SIGTERM ends it cleanly: exit 0, nothing more on stdout.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(watch_pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let w = g.child_mut(0);
    let mut code = None;
    assert!(wait_until(STEP, || match w.try_wait() {
        Ok(Some(st)) => {
            code = st.code();
            true
        }
        _ => false,
    }));
    assert_eq!(code, Some(0));
    assert!(out.recv_timeout(Duration::from_millis(200)).is_err());
}

/// The TUI in a 24×100 pseudo-terminal with a short refresh interval.
fn start_tui() -> Pty {
    Pty::portwarden()
        .size(24, 100)
        .args(["--interval", "200ms"])
        .timeout(STEP)
        .spawn()
}

#[test]
fn tui_event_log_shows_a_listener_that_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = Guard::new();
    let mut tui = start_tui();
    tui.wait_for("the header", |s| s.contains("listener"));
    let l = start(&mut g, tmp.path(), &["listen"]);
    let port = l.port.to_string();
    // Filter to our port so the row is on screen however busy the machine.
    tui.keys(&format!("/{port}\r"));
    tui.wait_for("the new listener", |s| {
        s.contains(&format!("127.0.0.1:{port}"))
    });
    g.cleanup();
    tui.wait_for("the listener gone", |s| {
        !s.contains(&format!("127.0.0.1:{port}"))
    });
    tui.keys("e");
    let screen = tui.wait_for("the close in the event log", |s| {
        s.contains("events since start") && s.contains(&format!("{port}/tcp freed"))
    });
    assert!(
        screen.contains(&format!("{port}/tcp listening")),
        "{screen}"
    );
    assert!(screen.contains(&format!("pid {}", l.pid)), "{screen}");
    tui.keys("\x1b");
    tui.wait_for("the log closed", |s| !s.contains("events since start"));
    tui.keys("q");
    assert!(tui.wait_exit(STEP).is_some(), "q did not quit");
}

#[test]
fn a_stuck_listener_with_nothing_accepted_is_explained_by_its_connections() {
    // listen(1), three clients of its own, never accepts.
    let fx = Spec::new("stuck")
        .args(&["--backlog", "1", "--clients", "3"])
        .start();
    let r = fx.one("holder").clone();
    let port = fx.port.to_string();
    let doc = list_json(&[&port]);
    let s = socket_at(&doc, "tcp", "127.0.0.1", fx.port);
    assert_eq!(s["stuck"], true, "{s}");
    let c = &s["connections"];
    let est = c["established"].as_u64().unwrap();
    let queued = s["accept_queue"].as_u64().unwrap();
    // The queued handshakes are established (not accepted) connections;
    // the clients are the fixture itself.
    assert!(est >= queued && est >= 1, "{s:#}");
    assert!(
        c["clients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["pid"] == r.pid),
        "{s:#}"
    );
    let out = portwarden().args(["why", &port]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no established connection accepted: the server stopped accepting"),
        "{text}"
    );
}

#[test]
fn kill_reports_connections_that_outlive_the_listener() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = Guard::new();
    let server = start(&mut g, tmp.path(), &["session"]);
    let _client = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let line = server.lines.recv_timeout(STEP).expect("CHILD line");
    let f: Vec<&str> = line.split_whitespace().collect();
    let ["CHILD", pid, start] = f.as_slice() else {
        panic!("unexpected {line:?}");
    };
    let (child, child_start): (i32, u64) = (pid.parse().unwrap(), start.parse().unwrap());
    g.adopt(child, child_start);

    let out = portwarden()
        .args(["kill", &server.port.to_string(), "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("nothing listens on port {}", server.port))
            && text.contains("live on"),
        "{text}"
    );
    assert!(
        text.contains(&format!("ESTABLISHED, held by pid {child} (python3)")),
        "{text}"
    );
    // The session child was not in the plan: it still holds its connection.
    assert!(is_alive(child, child_start));
}

#[test]
fn a_hostile_project_name_never_reaches_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("evil");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::write(repo.join(".git/HEAD"), "ref: refs/heads/x\u{1b}[2J\n").unwrap();
    std::fs::write(
        repo.join("package.json"),
        r#"{"name": "evil\u001b]0;pwned\u0007"}"#,
    )
    .unwrap();
    let mut g = Guard::new();
    let l = start(&mut g, &repo, &["listen"]);
    let out = portwarden()
        .args(["why", &l.port.to_string()])
        .output()
        .unwrap();
    assert!(!out.stdout.contains(&0x1b), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("project: evil\\e]0;pwned\\x07@x\\e[2J"),
        "{text}"
    );
    // JSON keeps the exact string, escaped as JSON.
    let doc = list_json(&[&l.port.to_string()]);
    let h = holder_of(&doc, l.port);
    assert_eq!(h["project"]["name"], "evil\u{1b}]0;pwned\u{7}");
}
