//! The TUI end to end: the real binary in a pseudo-terminal (issue 4).
//!
//! A vt100 parser plays the terminal, so the test reads the screen a person
//! would see. The flow is the one a person follows: wait for our listener
//! group, filter to its port, open the tree, ask to kill and cancel (nothing
//! dies), ask again and confirm (the whole group dies, the status line says
//! so), quit, and check the terminal was given back (alternate screen left,
//! cursor shown, canonical mode and echo on again).

use std::time::Duration;

use crate::pty::Pty;
use crate::util::*;

/// The TUI at 24×80 with colour allowed (`NO_COLOR` unset).
fn start_tui() -> Pty {
    Pty::portwarden().env_remove("NO_COLOR").spawn()
}

/// The pids in the confirmation's target list (rows under the PID header).
fn confirmation_pids(screen: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = screen
        .lines()
        .skip_while(|l| !l.contains("PID USER"))
        .skip(1)
        .take_while(|l| !l.contains("[y] kill"))
        .filter_map(|l| {
            l.trim_start_matches([' ', '│'])
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    pids.sort_unstable();
    pids
}

#[test]
fn tui_filter_tree_cancel_then_kill_the_whole_group() {
    // Leader (no socket) + holder in a group of their own.
    let fx = Spec::new("group").ready(2).start();
    let port = fx.port.to_string();
    let pids = fx.all_pids();
    let mut tui = start_tui();

    tui.wait_for("our listener", |s| s.contains(&format!(":{port}")));

    // Filter to the port: only our socket's rows remain.
    tui.keys("/");
    tui.keys(&port);
    tui.keys("\r");
    // Typing filters as it goes: wait until every socket row is ours.
    tui.wait_for("the filtered table", |s| {
        let rows: Vec<&str> = s
            .lines()
            .skip(2)
            .filter(|l| l.get(1..4).is_some_and(|p| p == "tcp" || p == "udp"))
            .collect();
        !rows.is_empty() && rows.iter().all(|l| l.contains(&format!(":{port}")))
    });

    // The tree of the holder marks its group.
    tui.keys("t");
    let holder = fx.one("holder").pid.to_string();
    let leader = fx.one("leader").pid.to_string();
    let screen = tui.wait_for("the process tree", |s| s.contains("process tree of pid"));
    assert!(
        screen.contains(&holder) && screen.contains(&leader),
        "{screen}"
    );
    tui.keys("\x1b");
    tui.wait_for("the tree closed", |s| !s.contains("process tree of pid"));

    // Ask to kill: the confirmation lists exactly our processes (another
    // test's process whose pid happens to contain our port number could
    // match the filter: then this refuses to go on).
    tui.keys("x");
    let screen = tui.wait_for("the kill confirmation", |s| s.contains("[y] kill"));
    assert_eq!(confirmation_pids(&screen), pids, "{screen}");
    // Cancel: nothing dies.
    tui.keys("n");
    tui.wait_for("the confirmation closed", |s| !s.contains("[y] kill"));
    std::thread::sleep(Duration::from_millis(300));
    for r in &fx.ready {
        assert!(is_alive(r.pid, r.start_time), "{} died after cancel", r.pid);
    }

    // Confirm: the whole group dies and the status line says so.
    tui.keys("x");
    tui.wait_for("the kill confirmation again", |s| s.contains("[y] kill"));
    tui.keys("y");
    let screen = tui.wait_for("the kill result", |s| s.contains("free after"));
    assert!(screen.contains("ended"), "{screen}");
    for r in &fx.ready {
        assert!(
            wait_until(READY_TIMEOUT, || !is_alive(r.pid, r.start_time)),
            "pid {} ({}) survived the confirmed kill",
            r.pid,
            r.role
        );
    }
    assert!(can_bind("tcp", "127.0.0.1", fx.port), "port not free");

    // Quit: exit 0 and the terminal is given back.
    tui.keys("q");
    let status = tui
        .wait_exit(READY_TIMEOUT)
        .expect("TUI did not exit after q");
    assert!(status.success(), "exit status {status:?}");
    // Let the reader thread drain what was written before the exit.
    std::thread::sleep(Duration::from_millis(100));
    let raw = tui.raw_since(0);
    let entered = raw
        .find("\x1b[?1049h")
        .expect("entered the alternate screen");
    let left = raw.rfind("\x1b[?1049l").expect("left the alternate screen");
    assert!(left > entered);
    assert!(
        raw.rfind("\x1b[?25h").is_some_and(|i| i > entered),
        "cursor not shown again"
    );
    assert!(tui.cooked(), "raw mode left on");
}

#[test]
fn tui_restores_the_terminal_on_sigterm() {
    let mut tui = start_tui();
    tui.wait_for("the first frame", |s| s.contains("PROTO"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tui.pid()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM our own TUI");
    assert!(
        tui.wait_exit(READY_TIMEOUT).is_some(),
        "TUI ignored SIGTERM"
    );
    std::thread::sleep(Duration::from_millis(100));
    let raw = tui.raw_since(0);
    assert!(raw.contains("\x1b[?1049l"), "alternate screen not left");
    assert!(tui.cooked(), "raw mode left on");
    tui.keys(""); // the pty is still writable: nothing hung
}
