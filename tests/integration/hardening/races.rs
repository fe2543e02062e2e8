//! Races: holders that come and go during a scan or a kill, and a stuck
//! listener.

use super::*;

// ---------------------------------------------------------------------------
// 4. Races

/// Check one `list --json` document: every socket either has holders
/// (each a real process record) or says why not.
fn assert_consistent(doc: &Value) {
    for s in sockets(doc) {
        let hs = s["holders"].as_array().expect("holders array");
        if hs.is_empty() {
            assert!(
                s["unresolved"].as_str().is_some_and(|r| !r.is_empty()),
                "a socket with no holder says why: {s}"
            );
        }
        for h in hs {
            assert!(h["pid"].as_i64().is_some_and(|p| p > 0), "{h}");
            assert!(h["start_time"].as_u64().is_some(), "{h}");
            assert!(h["name"].is_string(), "a holder is a process: {h}");
            assert!(h["ppid"].as_i64().is_some(), "{h}");
            assert!(h["class"].is_string(), "{h}");
        }
    }
}

#[test]
fn race_burst_of_short_lived_listeners_while_list_loops() {
    let fx = Spec::new("burst").start();
    let burst = fx.one("holder").pid;
    let start = Instant::now();
    let mut runs = 0;
    let (mut seen, mut vanished) = (0, 0);
    while runs < 30 || start.elapsed() < Duration::from_secs(3) {
        assert!(runs < 5000, "runaway loop");
        let (code, out, err) = pw(&["list", "--json"]);
        assert_eq!(code, 0, "run {runs}: stderr: {}", text(&err));
        assert!(err.is_empty(), "run {runs}: stderr: {}", text(&err));
        let doc: Value = serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("run {runs}: not JSON ({e}): {}", text(&out)));
        assert_consistent(&doc);
        for s in sockets(&doc) {
            let hs = s["holders"].as_array().unwrap();
            if hs.iter().any(|h| h["pid"] == burst || h["ppid"] == burst) {
                seen += 1;
            } else if hs.is_empty() && s["addr"] == "127.0.0.1" {
                // Listed, then gone before the fd walk found a holder.
                vanished += 1;
            }
        }
        // The table too: same scan, other renderer.
        if runs % 5 == 0 {
            let (code, _, err) = pw(&["list"]);
            assert_eq!(code, 0, "table run {runs}: {}", text(&err));
            assert!(err.is_empty(), "{}", text(&err));
        }
        runs += 1;
    }
    assert!(
        is_alive(burst, fx.one("holder").start_time),
        "the burst ran throughout"
    );
    assert!(
        seen + vanished > 0,
        "{runs} runs never saw a burst listener: the race was not exercised"
    );
    eprintln!(
        "{runs} list runs: {seen} burst sockets seen with their holder, \
         {vanished} loopback sockets whose holder was gone by the fd walk"
    );
}

#[test]
fn race_burst_port_while_why_loops() {
    // The burst re-binds its --port every other round: `why PORT` finds it
    // listening, free, or held by a process that is gone a moment later.
    let fx = Spec::new("burst").start();
    let port = fx.port.to_string();
    let start = Instant::now();
    let mut runs = 0;
    let (mut held, mut free) = (0, 0);
    while runs < 30 || start.elapsed() < Duration::from_secs(3) {
        assert!(runs < 5000, "runaway loop");
        let (code, out, err) = pw(&["why", &port]);
        assert_eq!(code, 0, "run {runs}: stderr: {}", text(&err));
        assert!(err.is_empty(), "{}", text(&err));
        let t = text(&out);
        if t.starts_with("Nothing listens") {
            free += 1;
        } else {
            assert!(
                t.contains("held by pid") || t.contains("no holder visible"),
                "run {runs}: neither free, held nor unresolved:\n{t}"
            );
            held += 1;
        }
        runs += 1;
    }
    eprintln!("{runs} why runs: {held} listening, {free} free");
}

// ---------------------------------------------------------------------------
// 6. Kill races

#[test]
fn kill_port_retaken_by_a_respawned_holder_is_reported() {
    // The supervisor is the holder's parent but not in its group or
    // session (the holder called setsid): without --tree it is no target,
    // survives, and starts a new holder on the port at once.
    let mut fx = Spec::new("supervisor").ready(2).start();
    let sup = fx.one("supervisor").clone();
    let old = fx.one("holder").clone();
    let port = fx.port.to_string();

    let (code, out, err) = pw(&["kill", &port, "--yes", "--only", &fx.tag]);
    let new = fx
        .next_ready("holder", READY_TIMEOUT)
        .expect("the supervisor respawned its holder");
    let (out, err) = (text(&out), text(&err));
    assert_eq!(code, 4, "still held: exit 4\nstdout: {out}\nstderr: {err}");
    assert!(
        wait_until(READY_TIMEOUT, || !is_alive(old.pid, old.start_time)),
        "the old holder was killed"
    );
    assert!(is_alive(sup.pid, sup.start_time), "the supervisor survives");
    assert_ne!(new.pid, old.pid);
    assert!(
        out.contains(&format!("port {port} still held by pid {}", new.pid)),
        "names the new holder: {out}"
    );
    assert!(
        out.contains(&format!("child of pid {}", sup.pid)),
        "names its parent, the supervisor: {out}"
    );
    assert!(
        err.contains(&format!("pid {}", old.pid)),
        "progress names the old holder: {err}"
    );
    assert!(
        !err.contains(&format!("pid {}", sup.pid)),
        "the supervisor was never signalled: {err}"
    );
}

#[test]
fn kill_with_an_already_dead_group_member_succeeds() {
    // The group has a member that is already dead (a zombie its leader
    // never reaped) when kill comes, and the holder ignores SIGTERM so the
    // grace runs out: the dead member is no failure.
    let fx = Spec::new("group")
        .args(&["--zombie", "--ignore-term"])
        .ready(3)
        .start();
    let zombie = fx.one("zombie").clone();
    assert!(
        wait_until(READY_TIMEOUT, || proc_state(zombie.pid) == Some('Z')),
        "the member is a zombie"
    );
    let port = fx.port.to_string();
    let out = portwarden()
        .env("XDG_CONFIG_HOME", "/nonexistent-portwarden-test")
        .args([
            "kill", &port, "--yes", "--only", &fx.tag, "--grace", "300ms", "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let report = &doc["report"];
    assert!(report["still_held"].as_array().unwrap().is_empty(), "{doc}");
    assert!(report["port_free_after_ms"].is_number(), "{doc}");
    if let Some(o) = report["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["pid"] == zombie.pid)
    {
        assert!(
            o["signals"].as_array().unwrap().is_empty(),
            "a dead process is not signalled: {o}"
        );
        assert!(
            o["skipped"]
                .as_str()
                .is_some_and(|s| s.contains("already gone")),
            "reported as already gone: {o}"
        );
    }
    for r in fx.ready.iter().filter(|r| r.role != "zombie") {
        assert!(
            wait_until(READY_TIMEOUT, || !is_alive(r.pid, r.start_time)),
            "{} {} survived",
            r.role,
            r.pid
        );
    }
    assert!(can_bind("tcp", "127.0.0.1", fx.port));
}

// ---------------------------------------------------------------------------
// 7. Stuck listener

#[test]
fn why_shows_a_stuck_listener() {
    let fx = Spec::new("stuck")
        .args(&["--backlog", "1", "--clients", "3"])
        .start();
    let (code, out, err) = pw(&["why", &fx.port.to_string()]);
    assert_eq!(code, 0, "{}", text(&err));
    let t = text(&out);
    let stuck = t
        .lines()
        .position(|l| l.contains("STUCK"))
        .unwrap_or_else(|| panic!("a STUCK line in:\n{t}"));
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[stuck - 1].contains(&format!("127.0.0.1:{}", fx.port))
            && lines[stuck - 1].contains("accept queue"),
        "under its socket line, with the queue: {}",
        lines[stuck - 1]
    );
    assert!(t.contains(&format!("held by pid {}", fx.one("holder").pid)));
}
