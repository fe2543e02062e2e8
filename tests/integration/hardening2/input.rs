//! Bounded and escaped input, folded output, and signals that cannot end a
//! process.

use super::*;

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
