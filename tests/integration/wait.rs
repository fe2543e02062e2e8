//! `portwarden wait` against real processes (issue 3).
//!
//! `wait` is what scripts put between "stop the old server" and "start the
//! new one", so the tests check both directions of each condition: it
//! returns (exit 0) once the condition holds, keeps waiting while it does
//! not, and gives up with exit 4 at its timeout. "Promptly" is checked with
//! generous bounds: latency belongs in a benchmark, not a timed test.

use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::util::*;

/// `portwarden wait ARGS...` started in the background, owned by `guard`.
fn spawn_wait(guard: &mut Guard, args: &[&str]) {
    let child = Command::new(portwarden_path())
        .arg("wait")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    guard.child(child);
}

/// Exit code of the guard's first child if it exits within `timeout`.
fn exit_within(guard: &mut Guard, timeout: Duration) -> Option<i32> {
    let child = guard.child_mut(0);
    let mut code = None;
    wait_until(timeout, || match child.try_wait() {
        Ok(Some(st)) => {
            code = st.code();
            true
        }
        _ => false,
    });
    code
}

/// `portwarden wait ARGS...` in the foreground: its exit code.
fn wait_cmd(args: &[&str]) -> i32 {
    let o = portwarden().arg("wait").args(args).output().unwrap();
    o.status
        .code()
        .unwrap_or_else(|| panic!("wait {args:?} was killed: {o:?}"))
}

#[test]
fn wait_free_returns_once_the_holder_dies() {
    let fx = Spec::new("listen").start();
    let r = fx.one("holder").clone();
    let mut g = Guard::new();
    spawn_wait(
        &mut g,
        &[&fx.port.to_string(), "--free", "--timeout", "20s"],
    );
    // Still held: it must still be waiting.
    assert_eq!(exit_within(&mut g, Duration::from_millis(300)), None);
    // Our own direct child (the guard has not reaped it): safe to signal.
    kill(Pid::from_raw(r.pid), Signal::SIGKILL).unwrap();
    // Well under the 20 s timeout is what tells a reaction from a timeout.
    assert_eq!(exit_within(&mut g, Duration::from_secs(3)), Some(0));
}

#[test]
fn wait_free_times_out_while_held() {
    let fx = Spec::new("listen").start();
    let code = wait_cmd(&[&fx.port.to_string(), "--free", "--timeout", "300ms"]);
    assert_eq!(code, 4, "timeout exit code");
    let r = fx.one("holder");
    assert!(
        is_alive(r.pid, r.start_time),
        "wait must not touch the holder"
    );
}

#[test]
fn wait_free_on_a_free_port_exits_0() {
    let port = free_port(Probe::Tcp4).to_string();
    assert_eq!(wait_cmd(&[&port, "--free", "--timeout", "5s"]), 0);
}

#[test]
fn wait_listening_returns_once_something_listens() {
    // Retried only when another test took the port first (then `wait` may
    // rightly return early, or our fixture cannot bind).
    for _ in 0..5 {
        let port = free_port(Probe::Tcp4);
        let mut g = Guard::new();
        spawn_wait(
            &mut g,
            &[&port.to_string(), "--listening", "--timeout", "20s"],
        );
        if exit_within(&mut g, Duration::from_millis(300)).is_some() {
            continue;
        }
        let Some(_fx) = Spec::new("listen").start_on(port) else {
            continue;
        };
        assert_eq!(exit_within(&mut g, Duration::from_secs(3)), Some(0));
        return;
    }
    panic!("no picked port stayed free long enough");
}

#[test]
fn wait_listening_times_out_on_a_free_port() {
    // A 0 could only mean another test bound the port meanwhile: retry.
    for _ in 0..5 {
        let port = free_port(Probe::Tcp4).to_string();
        let code = wait_cmd(&[&port, "--listening", "--timeout", "300ms"]);
        if code == 0 {
            continue;
        }
        assert_eq!(code, 4, "timeout exit code");
        return;
    }
    panic!("every picked port was taken");
}
