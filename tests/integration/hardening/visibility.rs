//! Visibility: what portwarden says when /proc hides a holder.

use super::*;

// ---------------------------------------------------------------------------
// 5. Visibility

/// `setpriv` arguments that run a command as nobody with no groups.
const AS_NOBODY: [&str; 3] = ["--reuid=65534", "--regid=65534", "--clear-groups"];

/// Can uid 65534 run the binary under test (every directory on its path
/// traversable)? `Err` says why not.
fn nobody_can_run_portwarden() -> Result<(), String> {
    let pw = portwarden_path().to_str().expect("UTF-8 path").to_string();
    let mut args = AS_NOBODY.to_vec();
    args.extend([pw.as_str(), "--version"]);
    let (code, _, err) = run(other("setpriv", &args));
    if code == 0 {
        Ok(())
    } else {
        Err(format!(
            "uid 65534 cannot run {pw} (exit {code}: {})",
            text(&err).trim()
        ))
    }
}

#[test]
fn visibility_root_socket_seen_by_nobody_is_listed_unresolved() {
    let name = "visibility_root_socket_seen_by_nobody_is_listed_unresolved";
    if !is_root() {
        skip(name, "needs root to run portwarden as uid 65534");
        return;
    }
    if let Err(why) = nobody_can_run_portwarden() {
        skip(name, &why);
        return;
    }
    let fx = Spec::new("listen").start();
    let pw = portwarden_path().to_str().unwrap().to_string();
    let port = fx.port.to_string();
    let mut args = AS_NOBODY.to_vec();
    args.extend([pw.as_str(), "list", "--json", &port]);
    let (code, out, err) = run(other("setpriv", &args));
    assert_eq!(code, 0, "stderr: {}", text(&err));
    let doc: Value = serde_json::from_slice(&out).expect("JSON");
    let s = socket_at(&doc, "tcp", "127.0.0.1", fx.port);
    assert_eq!(s["uid"], 0, "{s}");
    assert_eq!(holder_pids(&s), Vec::<i32>::new(), "holder hidden: {s}");
    let why = s["unresolved"].as_str().expect("unresolved reason");
    assert!(why.contains("uid 0"), "names the owner: {why}");
    assert!(why.contains("65534"), "names who looked: {why}");
    assert!(why.contains("root"), "says what would reveal it: {why}");
}

#[test]
fn visibility_hidepid_socket_is_listed_unresolved() {
    let name = "visibility_hidepid_socket_is_listed_unresolved";
    if !is_root() {
        skip(name, "needs root for a mount namespace and uid 65534");
        return;
    }
    if let Err(why) = nobody_can_run_portwarden() {
        skip(name, &why);
        return;
    }
    let probe = run(other(
        "unshare",
        &[
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount -t proc -o hidepid=2 proc /proc",
        ],
    ));
    if probe.0 != 0 {
        skip(
            name,
            &format!(
                "cannot mount proc with hidepid=2 here: {}",
                text(&probe.2).trim()
            ),
        );
        return;
    }
    let fx = Spec::new("listen").start();
    let script = format!(
        "mount -t proc -o hidepid=2 proc /proc && exec setpriv {} '{}' list --json {}",
        AS_NOBODY.join(" "),
        portwarden_path().display(),
        fx.port
    );
    let (code, out, err) = run(other(
        "unshare",
        &["--mount", "--propagation", "private", "sh", "-c", &script],
    ));
    assert_eq!(code, 0, "stderr: {}", text(&err));
    let doc: Value = serde_json::from_slice(&out).expect("JSON");
    let s = socket_at(&doc, "tcp", "127.0.0.1", fx.port);
    assert_eq!(holder_pids(&s), Vec::<i32>::new(), "{s}");
    let why = s["unresolved"].as_str().expect("unresolved reason");
    assert!(why.contains("hidepid"), "names hidepid: {why}");
    assert!(why.contains("root"), "says what would reveal it: {why}");
}

/// `unshare --pid --fork --mount-proc [setsid] portwarden list --json PORT`.
fn list_in_new_pid_namespace(port: u16, setsid: bool) -> (i32, Vec<u8>, Vec<u8>) {
    let pw = portwarden_path().to_str().unwrap().to_string();
    let port = port.to_string();
    let mut args = vec!["--pid", "--fork", "--mount-proc"];
    if setsid {
        args.push("setsid");
    }
    args.extend([pw.as_str(), "list", "--json", &port]);
    run(other("unshare", &args))
}

#[test]
fn visibility_other_pid_namespace_socket_is_listed_unresolved() {
    let name = "visibility_other_pid_namespace_socket_is_listed_unresolved";
    if !is_root() {
        skip(name, "needs root for a pid namespace");
        return;
    }
    let fx = Spec::new("listen").start();
    // setsid: portwarden leads its own group inside the namespace (see the
    // next test for what happens when it does not).
    let (code, out, err) = list_in_new_pid_namespace(fx.port, true);
    assert_eq!(code, 0, "stderr: {}", text(&err));
    let doc: Value = serde_json::from_slice(&out).expect("JSON");
    let s = socket_at(&doc, "tcp", "127.0.0.1", fx.port);
    assert_eq!(holder_pids(&s), Vec::<i32>::new(), "holder invisible: {s}");
    let why = s["unresolved"].as_str().expect("unresolved reason");
    assert!(why.contains("PID namespace"), "{why}");
}

#[test]
fn visibility_pid_namespace_whose_group_is_outside_does_not_panic() {
    // `unshare --pid --fork` leaves portwarden in a process group whose
    // leader lives outside the namespace: getpgrp() returns 0 there.
    let name = "visibility_pid_namespace_whose_group_is_outside_does_not_panic";
    if !is_root() {
        skip(name, "needs root for a pid namespace");
        return;
    }
    let fx = Spec::new("listen").start();
    let (code, out, err) = list_in_new_pid_namespace(fx.port, false);
    let e = text(&err);
    assert!(
        !e.contains("panicked"),
        "portwarden panicked in a pid namespace:\n{}",
        e.lines().take(4).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(code, 0, "stderr: {e}");
    let doc: Value = serde_json::from_slice(&out).expect("JSON");
    let s = socket_at(&doc, "tcp", "127.0.0.1", fx.port);
    assert!(s["unresolved"].is_string(), "{s}");
}

#[test]
fn visibility_missing_proc_is_one_clear_error() {
    let name = "visibility_missing_proc_is_one_clear_error";
    if !is_root() {
        skip(name, "needs root for a mount namespace");
        return;
    }
    for args in [&["list"][..], &["list", "--json"][..], &["why", "1"][..]] {
        let script = format!(
            "mount -t tmpfs none /proc && exec '{}' {}",
            portwarden_path().display(),
            args.join(" ")
        );
        let (code, out, err) = run(other(
            "unshare",
            &["--mount", "--propagation", "private", "sh", "-c", &script],
        ));
        assert_eq!(
            code,
            1,
            "{args:?} with an empty /proc must fail\nstdout: {}\nstderr: {}",
            text(&out),
            text(&err)
        );
        let line = assert_one_line_error(&format!("{args:?}"), &err);
        assert!(line.contains("/proc"), "{line}");
    }
}
