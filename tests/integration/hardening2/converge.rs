//! A group kill converges on a group that keeps forking, and never widens.

use super::*;

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
