//! Holders visible only through a thread, and unresolved sockets with the
//! true reason.

use super::*;

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
