//! `portwarden kill` against real processes (issue 3).
//!
//! Every test asserts the three things a person relies on: the exit code,
//! which processes are dead or alive afterwards, and whether the port can
//! be bound again. Tests only ever ask portwarden to kill fixtures they
//! started themselves: every real kill carries `--only <fixture tag>`, so
//! another test's process that happens to share the port number makes the
//! plan refuse (and the test fail) instead of being killed.

use std::io::Read;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::*;

/// Has this reported process died (or become a zombie) within the bound?
fn dies(r: &Ready) -> bool {
    wait_until(READY_TIMEOUT, || !is_alive(r.pid, r.start_time))
}

/// Run `portwarden kill ARGS...`; return (exit code, stdout, stderr).
fn kill_cmd(args: &[&str]) -> (i32, String, String) {
    let out = portwarden().arg("kill").args(args).output().unwrap();
    (
        out.status.code().expect("exited, not signalled"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kill PORT --yes --only TAG` (plus `extra`) frees the port: exit 0,
/// every listed process dead, port bindable.
fn assert_killed(fx: &Fixture, spec: &str, extra: &[&str], proto: &str, addr: &str) {
    let mut args = vec![spec, "--yes", "--only", &fx.tag];
    args.extend_from_slice(extra);
    let (code, out, err) = kill_cmd(&args);
    assert_eq!(code, 0, "kill {args:?}\nstdout: {out}\nstderr: {err}");
    for r in &fx.ready {
        assert!(dies(r), "pid {} ({}) survived kill {args:?}", r.pid, r.role);
    }
    assert!(
        can_bind(proto, addr, fx.port),
        "port {} not bindable after a successful kill",
        fx.port
    );
}

/// Nothing was signalled: exit 3 and every process still alive.
fn assert_refused(fx: &Fixture, args: &[&str]) -> String {
    let (code, out, err) = kill_cmd(args);
    assert_eq!(
        code, 3,
        "kill {args:?} must refuse\nstdout: {out}\nstderr: {err}"
    );
    for r in &fx.ready {
        assert!(
            is_alive(r.pid, r.start_time),
            "pid {} ({}) was signalled by a refused kill {args:?}",
            r.pid,
            r.role
        );
    }
    assert!(
        !can_bind("tcp", "127.0.0.1", fx.port),
        "port freed by a refusal"
    );
    err
}

#[test]
fn kill_frees_a_port_held_by_an_orphan() {
    let fx = Spec::new("orphan").start();
    assert_killed(&fx, &fx.port.to_string(), &[], "tcp", "127.0.0.1");
}

#[test]
fn kill_ends_the_whole_process_group() {
    // The leader does not hold the socket; its child does. Both go.
    let fx = Spec::new("group").ready(2).start();
    assert_killed(&fx, &fx.port.to_string(), &[], "tcp", "127.0.0.1");
}

#[test]
fn kill_tree_also_ends_a_setsid_escapee() {
    let fx = Spec::new("escapee").ready(2).start();
    assert_killed(&fx, &fx.port.to_string(), &["--tree"], "tcp", "127.0.0.1");
}

#[test]
fn kill_without_tree_leaves_a_setsid_escapee() {
    // The escapee left the group and holds no socket: without --tree it is
    // not a target (this is what makes --tree mean something).
    let fx = Spec::new("escapee").ready(2).start();
    let holder = fx.one("holder").clone();
    let esc = fx.one("escapee").clone();
    let (code, out, err) = kill_cmd(&[&fx.port.to_string(), "--yes", "--only", &fx.tag]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(dies(&holder), "holder survived");
    assert!(
        is_alive(esc.pid, esc.start_time),
        "escapee killed without --tree"
    );
    assert!(can_bind("tcp", "127.0.0.1", fx.port));
}

#[test]
fn kill_ends_every_prefork_worker() {
    let fx = Spec::new("prefork")
        .args(&["--workers", "3"])
        .ready(4)
        .start();
    assert_killed(&fx, &fx.port.to_string(), &[], "tcp", "127.0.0.1");
}

#[test]
fn kill_escalates_to_sigkill_after_the_grace() {
    let fx = Spec::new("listen").args(&["--ignore-term"]).start();
    assert_killed(
        &fx,
        &fx.port.to_string(),
        &["--grace", "500ms"],
        "tcp",
        "127.0.0.1",
    );
}

#[test]
fn kill_frees_a_udp_port() {
    let fx = Spec::new("listen")
        .bind("udp,127.0.0.1")
        .probe(Probe::Udp4)
        .start();
    assert_killed(&fx, &format!("udp:{}", fx.port), &[], "udp", "127.0.0.1");
}

#[test]
fn kill_refuses_another_users_process_unless_forced() {
    if !is_root() {
        skip(
            "kill_refuses_another_users_process_unless_forced",
            "needs root to start a process as uid 65534 (nobody)",
        );
        return;
    }
    let fx = Spec::new("listen").run_as(65534).start();
    let port = fx.port.to_string();
    assert_refused(&fx, &[&port, "--yes", "--only", &fx.tag]);
    assert_killed(&fx, &port, &["--force"], "tcp", "127.0.0.1");
}

#[test]
fn kill_refuses_without_yes_when_nobody_can_confirm() {
    // stdin is not a terminal here: no prompt, no kill.
    let fx = Spec::new("orphan").start();
    let err = assert_refused(&fx, &[&fx.port.to_string(), "--only", &fx.tag]);
    assert!(
        err.contains(&fx.one("holder").pid.to_string()),
        "the refusal shows the plan:\n{err}"
    );
}

#[test]
fn kill_dry_run_shows_every_pid_and_signals_nothing() {
    let fx = Spec::new("prefork")
        .args(&["--workers", "2"])
        .ready(3)
        .start();
    let port = fx.port.to_string();
    let (code, out, err) = kill_cmd(&[&port, "--dry-run"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    for r in &fx.ready {
        assert!(
            out.contains(&r.pid.to_string()),
            "pid {} in plan:\n{out}",
            r.pid
        );
        assert!(is_alive(r.pid, r.start_time), "dry run signalled {}", r.pid);
    }
    // The JSON plan is valid and names them too.
    let (code, out, _) = kill_cmd(&[&port, "--dry-run", "--json"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).expect("kill --json is JSON");
    let text = doc.to_string();
    for r in &fx.ready {
        assert!(text.contains(&r.pid.to_string()), "pid {} in {doc}", r.pid);
        assert!(is_alive(r.pid, r.start_time));
    }
    assert!(!can_bind("tcp", "127.0.0.1", fx.port));
}

#[test]
fn kill_only_pattern_must_match_every_holder() {
    let fx = Spec::new("orphan").start();
    let port = fx.port.to_string();
    assert_refused(&fx, &[&port, "--yes", "--only", "no-such-program"]);
    // assert_killed passes `--only <tag>`: a pattern matching every holder.
    assert_killed(&fx, &port, &[], "tcp", "127.0.0.1");
}

#[test]
fn kill_already_free_port_exits_0() {
    // `--only` with a tag nobody has: if another test grabbed the port in
    // the meantime, the plan is refused (exit 3, nothing signalled) and we
    // try another port rather than kill its process.
    let tag = unique_tag();
    for _ in 0..5 {
        let port = free_port(Probe::Tcp4).to_string();
        let (code, out, err) = kill_cmd(&[&port, "--yes", "--only", &tag]);
        if code == 3 {
            continue;
        }
        assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
        return;
    }
    panic!("every picked port was taken by the time kill looked");
}

#[test]
fn kill_from_a_script_in_the_holders_group_spares_the_script() {
    // A script starts a server and a helper in the background (same
    // process group, as non-interactive bash does), then frees the port
    // itself. portwarden must not treat its own group as the holder's group:
    // the script (its ancestor) and the helper (neither holder, ancestor nor
    // descendant of the holder) both live.
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("server.out");
    let script = r#"
        set -u
        "$PY" "$FIXTURE" listen --port "$PORT" --tag "$TAG" > "$OUT" 2>&1 &
        sleep 30 &
        SIB=$!
        echo "SIBLING $SIB $(cut -d' ' -f22 /proc/$SIB/stat)" > "$OUT.sib"
        for _ in $(seq 500); do grep -q '^READY\|^BUSY' "$OUT" && break; sleep 0.02; done
        grep '^READY\|^BUSY' "$OUT" || { echo "NOT READY"; cat "$OUT"; exit 1; }
        "$PW" kill "$PORT" --yes --only "$TAG"
        echo "EXIT $?"
        kill -0 "$SIB" && echo "SIBLING ALIVE"
        kill "$SIB" 2>/dev/null || true
    "#;
    for _ in 0..5 {
        let port = free_port(Probe::Tcp4);
        let mut guard = Guard::new();
        let mut cmd = Command::new("bash");
        cmd.args(["-c", script])
            .env("PY", python())
            .env("FIXTURE", fixture_script("listener.py"))
            .env("PORT", port.to_string())
            .env("TAG", unique_tag())
            .env("OUT", &out_file)
            .env("PW", portwarden_path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let bash_pid = guard.child(cmd.spawn().unwrap()).id() as i32;
        let exited = wait_until(READY_TIMEOUT * 2, || {
            matches!(guard.child_mut(0).try_wait(), Ok(Some(_)))
        });
        // Record the server before asserting anything, so it is cleaned up.
        let server_out = std::fs::read_to_string(&out_file).unwrap_or_default();
        let ready = server_out.lines().find(|l| l.starts_with("READY"));
        if let Some(l) = ready {
            let f: Vec<&str> = l.split_whitespace().collect();
            guard.adopt(f[1].parse().unwrap(), f[3].parse().unwrap());
        }
        let sib = std::fs::read_to_string(dir.path().join("server.out.sib")).unwrap_or_default();
        if let ["SIBLING", pid, start] = sib.split_whitespace().collect::<Vec<_>>().as_slice() {
            guard.adopt(pid.parse().unwrap(), start.parse().unwrap());
        }
        assert!(exited, "script {bash_pid} did not finish");
        let child = guard.child_mut(0);
        let status = child.try_wait().unwrap().expect("exited");
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        if stdout.contains("BUSY") {
            continue;
        }
        assert!(
            status.success(),
            "the script was killed or failed: {status:?}\nstdout: {stdout}\nstderr: {stderr}"
        );
        assert!(
            stdout.contains("EXIT 0"),
            "stdout: {stdout}\nstderr: {stderr}"
        );
        assert!(
            stdout.contains("SIBLING ALIVE"),
            "a process of the caller's own group was signalled\nstdout: {stdout}\nstderr: {stderr}"
        );
        let l = ready.expect("server READY");
        let f: Vec<&str> = l.split_whitespace().collect();
        let server = Ready {
            pid: f[1].parse().unwrap(),
            port,
            start_time: f[3].parse().unwrap(),
            role: "holder".into(),
        };
        assert!(dies(&server), "the server survived");
        assert!(can_bind("tcp", "127.0.0.1", port));
        return;
    }
    panic!("no free port for the script after 5 attempts");
}
