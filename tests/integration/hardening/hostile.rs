//! Hostile processes: whatever a process puts in its name and command line
//! reaches the terminal escaped, in the table, the plan, JSON and the TUI.

use super::*;

// ---------------------------------------------------------------------------
// 3. Hostile processes

/// Command-line arguments a hostile process chose: an OSC title change,
/// cursor move, screen clear, BEL; newline, tab, RTL override, DEL, a C1
/// CSI; invalid UTF-8.
fn hostile_args() -> Vec<Vec<u8>> {
    vec![
        b"osc\x1b]0;pwned\x07 cur\x1b[10A clr\x1b[2J bel\x07".to_vec(),
        "nl\nline2\ttab\u{202e}rtl\u{7f}del\u{9b}c1"
            .as_bytes()
            .to_vec(),
        b"inv\xff\xfeutf8".to_vec(),
    ]
}

/// Its kernel name (comm, 15 bytes at most): a screen clear, BEL and an
/// RTL override.
const HOSTILE_COMM: &str = "ev\u{1b}[2J\u{7}\u{202e}il";

/// Escaped forms that must appear in text output (`\e`, `\xNN`, `\u{...}`).
const ESCAPED: [&str; 9] = [
    "\\e]0;pwned\\x07",
    "\\e[10A",
    "\\e[2J",
    "\\n",
    "\\t",
    "\\u{202e}",
    "\\x7f",
    "\\x9b",
    "\\xff\\xfe",
];

fn hostile_spec(mode: &'static str) -> Spec {
    let mut spec = Spec::new(mode).args(&["--name", HOSTILE_COMM]);
    for a in hostile_args() {
        spec = spec.os_arg("--pad").os_arg(OsString::from_vec(a));
    }
    spec
}

/// The fixture's cmdline in JSON is the decoded argv, every hostile
/// argument intact; the name is the comm.
fn assert_hostile_holder_json(h: &Value) {
    let cmdline: Vec<&str> = h["cmdline"]
        .as_array()
        .unwrap_or_else(|| panic!("cmdline array: {h}"))
        .iter()
        .map(|a| a.as_str().expect("string args"))
        .collect();
    for a in hostile_args() {
        let want = decoded(&a);
        assert!(
            cmdline.contains(&want.as_str()),
            "argument {want:?} round-trips through JSON: {cmdline:?}"
        );
    }
    assert_eq!(h["name"], HOSTILE_COMM, "comm round-trips: {h}");
}

#[test]
fn hostile_list_table_and_why_are_escaped() {
    let fx = hostile_spec("listen").start();
    let pid = fx.one("holder").pid;
    let port = fx.port.to_string();

    let (code, out, err) = pw(&["list", &port]);
    assert_eq!(code, 0, "{}", text(&err));
    let table = assert_inert("list table", &out);
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.contains(&format!("127.0.0.1:{port}")))
        .collect();
    assert_eq!(rows.len(), 1, "one row for one holder:\n{table}");
    assert_eq!(
        table.lines().count(),
        2,
        "header and one row, nothing split:\n{table}"
    );
    assert!(rows[0].contains(&pid.to_string()), "{table}");
    for e in ESCAPED {
        assert!(
            rows[0].contains(e),
            "{e} shown escaped in the row:\n{table}"
        );
    }

    let (code, out, err) = pw(&["why", &port]);
    assert_eq!(code, 0, "{}", text(&err));
    let why = assert_inert("why", &out);
    assert!(
        why.contains("ev\\e[2J\\x07\\u{202e}il"),
        "escaped comm in `why`:\n{why}"
    );
    let held = why
        .lines()
        .find(|l| l.contains(&format!("held by pid {pid}:")))
        .unwrap_or_else(|| panic!("holder line in:\n{why}"));
    for e in ESCAPED {
        assert!(held.contains(e), "{e} in the holder line: {held}");
    }
}

#[test]
fn hostile_json_is_valid_and_round_trips() {
    let fx = hostile_spec("listen").start();
    let pid = fx.one("holder").pid;
    let port = fx.port.to_string();

    let (code, out, err) = pw(&["list", "--json", &port]);
    assert_eq!(code, 0, "{}", text(&err));
    assert!(
        !out.iter().any(|&b| b < 0x20 && b != b'\n'),
        "raw C0 control in JSON"
    );
    let doc: Value = serde_json::from_slice(&out).expect("valid JSON");
    let h = holder(&socket_at(&doc, "tcp", "127.0.0.1", fx.port), pid);
    assert_hostile_holder_json(&h);

    let (code, out, err) = pw(&["kill", &port, "--dry-run", "--json"]);
    assert_eq!(code, 0, "{}", text(&err));
    assert!(!out.iter().any(|&b| b < 0x20 && b != b'\n'));
    let doc: Value = serde_json::from_slice(&out).expect("kill --json is JSON");
    let t = doc["plan"]["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["pid"] == pid))
        .unwrap_or_else(|| panic!("pid {pid} in the plan: {doc}"));
    assert_eq!(t["name"], HOSTILE_COMM, "{t}");
    let command = t["command"].as_str().expect("command");
    for a in hostile_args() {
        assert!(command.contains(&decoded(&a)), "{command:?}");
    }
    assert!(fx.ready.iter().all(|r| is_alive(r.pid, r.start_time)));
}

#[test]
fn hostile_json_output_has_no_raw_terminal_controls() {
    // JSON is printed to terminals too (`portwarden list --json` by hand).
    // serde_json escapes only C0 controls: DEL, C1 controls (U+009B is CSI
    // for some terminals) and bidi overrides pass raw unless portwarden
    // escapes them itself (`\u007f`, `\u202e` keep the JSON lossless).
    let fx = hostile_spec("listen").start();
    let port = fx.port.to_string();
    for args in [
        &["list", "--json", &port][..],
        &["kill", &port, "--dry-run", "--json"][..],
    ] {
        let (code, out, err) = pw(args);
        assert_eq!(code, 0, "{}", text(&err));
        serde_json::from_slice::<Value>(&out).expect("valid JSON");
        assert_inert(&format!("{args:?}"), &out);
    }
}

#[test]
fn hostile_kill_plan_and_refusals_are_escaped() {
    let fx = hostile_spec("listen").start();
    let pid = fx.one("holder").pid;
    let port = fx.port.to_string();

    // Dry run: the plan on stdout.
    let (code, out, err) = pw(&["kill", &port, "--dry-run"]);
    assert_eq!(code, 0, "{}", text(&err));
    let plan = assert_inert("kill --dry-run", &out);
    assert_inert("kill --dry-run stderr", &err);
    let row = plan
        .lines()
        .find(|l| l.trim_start().starts_with(&pid.to_string()))
        .unwrap_or_else(|| panic!("a plan row for {pid}:\n{plan}"));
    for e in ["\\e]0;pwned\\x07", "\\e[10A", "\\e[2J"] {
        assert!(row.contains(e), "{e} in plan row {row}");
    }

    // No --yes and nobody to ask: refused, the plan shown on stderr.
    let (code, out, err) = pw(&["kill", &port, "--only", &fx.tag]);
    assert_eq!(code, 3, "{}", text(&err));
    assert_inert("refused kill stdout", &out);
    let e = assert_inert("refused kill stderr", &err);
    assert!(e.contains(&pid.to_string()), "{e}");

    // --only mismatch: the refusal quotes the command line.
    let (code, out, err) = pw(&["kill", &port, "--yes", "--only", "no-such-program"]);
    assert_eq!(code, 3, "{}", text(&err));
    assert_inert("--only refusal stdout", &out);
    let e = assert_inert("--only refusal stderr", &err);
    assert!(e.contains("\\e[2J"), "command quoted escaped: {e}");
    assert!(
        e.lines().filter(|l| l.contains("no-such-program")).count() >= 1,
        "{e}"
    );
    for r in &fx.ready {
        assert!(
            is_alive(r.pid, r.start_time),
            "a refusal signalled {}",
            r.pid
        );
    }
}

#[test]
fn hostile_real_kill_output_is_escaped() {
    let fx = hostile_spec("listen").start();
    let r = fx.one("holder").clone();
    let port = fx.port.to_string();
    let (code, out, err) = pw(&["kill", &port, "--yes", "--only", &fx.tag]);
    assert_eq!(code, 0, "stdout: {}\nstderr: {}", text(&out), text(&err));
    assert_inert("kill report (stdout)", &out);
    let progress = assert_inert("kill progress (stderr)", &err);
    assert!(progress.contains(&r.pid.to_string()), "{progress}");
    assert!(wait_until(READY_TIMEOUT, || !is_alive(r.pid, r.start_time)));
}

#[test]
fn hostile_kill_report_naming_a_respawned_holder_is_escaped() {
    // The report names the new holder and its parent by comm: both chose
    // it (the respawned holder inherits the supervisor's).
    let mut fx = hostile_spec("supervisor").ready(2).start();
    let port = fx.port.to_string();
    let sup = fx.one("supervisor").pid;

    let (code, out, err) = pw(&["kill", &port, "--yes", "--only", &fx.tag]);
    let new = fx.next_ready("holder", READY_TIMEOUT);
    assert_eq!(code, 4, "stdout: {}\nstderr: {}", text(&out), text(&err));
    let report = assert_inert("kill report (stdout)", &out);
    assert_inert("kill progress (stderr)", &err);
    assert!(report.contains("still held"), "{report}");
    assert!(
        report.contains("ev\\e[2J\\x07\\u{202e}il"),
        "escaped comm: {report}"
    );
    assert!(report.contains(&format!("pid {sup}")), "{report}");
    let new = new.expect("the supervisor respawned its holder");

    // The same as JSON: valid, names raw (JSON-escaped), `by` shown escaped.
    let (code, out, err) = pw(&["kill", &port, "--yes", "--only", &fx.tag, "--json"]);
    let newer = fx.next_ready("holder", READY_TIMEOUT);
    assert_eq!(code, 4, "{}", text(&err));
    let doc: Value = serde_json::from_slice(&out).expect("kill --json is JSON");
    let outcomes = doc["report"]["outcomes"].as_array().expect("outcomes");
    let o = outcomes
        .iter()
        .find(|o| o["pid"] == new.pid)
        .unwrap_or_else(|| panic!("outcome for {}: {doc}", new.pid));
    assert_eq!(o["name"], HOSTILE_COMM, "{o}");
    let by = doc["report"]["still_held"][0]["by"].to_string();
    assert!(
        by.contains(&newer.expect("respawned again").pid.to_string()),
        "{by}"
    );
}

#[test]
fn hostile_megabyte_command_line_is_capped_everywhere() {
    // ~1 MB of arguments (one argument may be at most 128 KiB; all of them
    // together about 2 MB here), with an escape sequence in each.
    let chunk = format!("{}\u{1b}[2J", "A".repeat(99_990));
    let mut spec = Spec::new("listen");
    for _ in 0..10 {
        spec = spec.args(&["--pad", &chunk]);
    }
    let fx = spec.start();
    let pid = fx.one("holder").pid;
    let port = fx.port.to_string();
    let cmdline_len = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap().len();
    assert!(cmdline_len > 1_000_000, "{cmdline_len} bytes of argv");

    let (code, out, err) = pw(&["list", &port]);
    assert_eq!(code, 0, "{}", text(&err));
    let table = assert_inert("list", &out);
    let row = table
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{port}")))
        .expect("row");
    assert!(
        row.chars().count() <= 70_000,
        "row is {} chars: the cmdline cap (64 KiB) applies",
        row.chars().count()
    );
    assert!(row.ends_with("…(cut)"), "the cut is marked");
    assert_eq!(table.lines().count(), 2, "one row");

    let (code, out, _) = pw(&["list", "--json", &port]);
    assert_eq!(code, 0);
    assert!(out.len() < 200_000, "JSON is {} bytes", out.len());
    let doc: Value = serde_json::from_slice(&out).expect("valid JSON");
    let h = holder(&socket_at(&doc, "tcp", "127.0.0.1", fx.port), pid);
    let args = h["cmdline"].as_array().expect("cmdline");
    let total: usize = args.iter().map(|a| a.as_str().unwrap().len()).sum();
    assert!(total <= 64 * 1024 + 4, "cmdline kept to the cap: {total}");
    assert!(
        args.last().unwrap().as_str().unwrap().ends_with("…(cut)"),
        "a cut argument is marked"
    );

    let (code, out, _) = pw(&["why", &port]);
    assert_eq!(code, 0);
    let why = assert_inert("why", &out);
    let longest = why.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(longest <= 400, "`why` lines are cut (longest {longest})");

    let (code, out, _) = pw(&["kill", &port, "--dry-run"]);
    assert_eq!(code, 0);
    let plan = assert_inert("kill --dry-run", &out);
    let longest = plan.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(longest <= 300, "plan rows are cut (longest {longest})");

    let (code, out, _) = pw(&["kill", &port, "--dry-run", "--json"]);
    assert_eq!(code, 0);
    serde_json::from_slice::<Value>(&out).expect("valid JSON");
}

// ---------------------------------------------------------------------------
// 3b. Hostile processes in the TUI

#[test]
fn hostile_tui_table_and_details_are_escaped() {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};

    // argv[0] carries the worst of it, so it leads the COMMAND column.
    let arg0 = b"osc\x1b]0;pwned\x07cur\x1b[10Abidi\xe2\x80\xaedel\x7f".to_vec();
    let fx = hostile_spec("listen")
        .arg0(OsString::from_vec(arg0))
        .start();
    let pid = fx.one("holder").pid;

    let (rows, cols) = (30u16, 200u16);
    let pty = native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("openpty");
    let mut cmd = CommandBuilder::new(portwarden_path());
    cmd.env("TERM", "xterm-256color");
    cmd.env("XDG_CONFIG_HOME", "/nonexistent-portwarden-test");
    cmd.env_remove("SUDO_UID");
    let child = pty.slave.spawn_command(cmd).expect("spawn the TUI");
    drop(pty.slave);
    // Killed even if an assertion fails below.
    struct Reap(Box<dyn portable_pty::Child + Send + Sync>);
    impl Drop for Reap {
        fn drop(&mut self) {
            if let Ok(None) = self.0.try_wait() {
                let _ = self.0.kill();
            }
            let _ = self.0.wait();
        }
    }
    let mut tui = Reap(child);
    let mut reader = pty.master.try_clone_reader().expect("reader");
    let mut writer = pty.master.take_writer().expect("writer");
    let raw = Arc::new(Mutex::new(Vec::<u8>::new()));
    let parser = Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZero::new(rows).unwrap(),
        std::num::NonZero::new(cols).unwrap(),
        0,
    )));
    {
        let (raw, parser) = (Arc::clone(&raw), Arc::clone(&parser));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                raw.lock().unwrap().extend_from_slice(&buf[..n]);
                parser.lock().unwrap().process(&buf[..n]);
            }
        });
    }
    let screen = || parser.lock().unwrap().screen().contents();
    let wait_for = |what: &str, cond: &dyn Fn(&str) -> bool| {
        assert!(
            wait_until(READY_TIMEOUT, || cond(&screen())),
            "TUI never showed {what}; screen:\n{}",
            screen()
        );
    };
    let mut keys = |s: &str| {
        writer.write_all(s.as_bytes()).unwrap();
        writer.flush().unwrap();
    };

    wait_for("the table", &|s| s.contains("PROTO"));
    // Filter on our unique tag (the filter matches the command line).
    keys("/");
    keys(&fx.tag);
    keys("\r");
    let port = format!("127.0.0.1:{}", fx.port);
    wait_for("our row alone", &|s| {
        s.contains(&port)
            && s.contains(&format!("filter: {}", fx.tag))
            && s.lines().filter(|l| l.contains("127.0.0.1:")).count() == 1
    });
    let table = screen();
    let row = table
        .lines()
        .find(|l| l.contains(&port))
        .expect("our row")
        .to_string();
    assert!(row.contains(&pid.to_string()), "{row}");
    assert!(
        row.contains("osc\\e]0;pwned\\x07cur\\e[10A"),
        "escaped argv[0]: {row}"
    );

    // Details of the holder: name, command line, exe.
    keys("\r");
    wait_for("the details", &|s| s.contains("Exe"));
    let details = screen();
    assert!(
        details.contains("ev\\e[2J\\x07\\u{202e}il") || details.contains("osc\\e]0;pwned"),
        "escaped name or command in details:\n{details}"
    );

    keys("\x1b");
    keys("q");
    assert!(
        wait_until(READY_TIMEOUT, || matches!(tui.0.try_wait(), Ok(Some(_)))),
        "the TUI did not quit"
    );
    std::thread::sleep(Duration::from_millis(100));
    let raw = raw.lock().unwrap().clone();
    // The TUI writes its own escape sequences; none of the process's may
    // get through: no title change, no BEL, no relative cursor move of
    // ours, no bidi override, no DEL, no C1 CSI.
    for (bad, what) in [
        (&b"\x1b]0;pwned"[..], "OSC title change"),
        (&b"\x07"[..], "BEL"),
        (&b"\x1b[10A"[..], "cursor up 10"),
        ("\u{202e}".as_bytes(), "RTL override"),
        (&b"\x7f"[..], "DEL"),
        ("\u{9b}".as_bytes(), "C1 CSI"),
        (&b"\xff\xfe"[..], "invalid UTF-8"),
    ] {
        assert!(
            !raw.windows(bad.len()).any(|w| w == bad),
            "{what} reached the terminal raw"
        );
    }
}
