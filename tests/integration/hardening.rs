//! Hardening (issue 6): every failure mode is explicit, tested and boring.
//!
//! - Bad input: exit 2 and one line naming the bad value, never a panic.
//! - Output failures: a closed pipe ends quietly, a full disk says so.
//! - Hostile processes: whatever a process puts in its name and command
//!   line reaches no terminal raw, on any surface (table, `why`, JSON,
//!   `kill` plan, refusal and report).
//! - Races: listeners that come and go during a scan are no error.
//! - Visibility: a socket whose holder cannot be seen (another user,
//!   `hidepid`, another pid namespace) is still listed, with the reason;
//!   no `/proc` at all is one clear error.
//! - Kill races: a respawned holder and an already-dead target are
//!   reported exactly as observed.
//!
//! Tests that need root (another uid, mount and pid namespaces) print
//! `SKIP <test>: <reason>` and pass when not root; tests that need a
//! kernel feature the sandbox forbids (a `hidepid` mount) skip the same way.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStringExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

// ---------------------------------------------------------------------------
// Helpers

/// (exit code, stdout, stderr) of a finished assert_cmd run.
fn run(mut cmd: assert_cmd::Command) -> (i32, Vec<u8>, Vec<u8>) {
    let out = cmd.output().expect("run command");
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {:?}", out.status));
    (code, out.stdout, out.stderr)
}

/// `portwarden ARGS...` with no config file in the way.
fn pw(args: &[&str]) -> (i32, Vec<u8>, Vec<u8>) {
    let mut c = portwarden();
    c.env("XDG_CONFIG_HOME", "/nonexistent-portwarden-test")
        .args(args);
    run(c)
}

/// Any other program, bounded like [`portwarden`]: stdin at EOF, 30 s cap.
fn other(program: &str, args: &[&str]) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(program);
    c.args(args)
        .write_stdin(Vec::<u8>::new())
        .env_remove("SUDO_UID")
        // Runs as other uids below: a HOME they cannot read must not make
        // the config lookup fail.
        .env("XDG_CONFIG_HOME", "/nonexistent-portwarden-test")
        .timeout(Duration::from_secs(30));
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// stderr is exactly one non-empty line, with no panic or backtrace text
/// and no escape character.
fn assert_one_line_error(what: &str, stderr: &[u8]) -> String {
    let e = text(stderr);
    let body = e.strip_suffix('\n').unwrap_or(&e);
    assert!(
        !body.is_empty() && !body.contains('\n'),
        "{what}: stderr must be exactly one line, got:\n{e}"
    );
    for bad in [
        "panicked",
        "BACKTRACE",
        "backtrace",
        "Location:",
        "RUST_BACKTRACE",
        "crashed",
    ] {
        assert!(!e.contains(bad), "{what}: {bad:?} in stderr:\n{e}");
    }
    assert!(!e.contains('\u{1b}'), "{what}: ESC in stderr: {e:?}");
    body.to_string()
}

/// A character that must never reach a terminal raw: C0 controls except
/// the line end, DEL, C1 controls, bidi embeddings/overrides/isolates and
/// marks, line/paragraph separators, BOM.
fn is_dangerous(c: char) -> bool {
    (c < ' ' && c != '\n')
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{feff}'
        )
}

/// The output is UTF-8 text with no dangerous character anywhere.
fn assert_inert(what: &str, out: &[u8]) -> String {
    let s = std::str::from_utf8(out)
        .unwrap_or_else(|e| panic!("{what}: not UTF-8 ({e}): {:?}", text(out)));
    if let Some((i, c)) = s.char_indices().find(|&(_, c)| is_dangerous(c)) {
        let from = s[..i].char_indices().rev().nth(60).map_or(0, |(j, _)| j);
        let ctx: String = s[from..].chars().take(120).collect();
        panic!(
            "{what}: raw {:?} (U+{:04X}) at byte {i}, near: {ctx:?}",
            c, c as u32
        );
    }
    s.to_string()
}

/// What portwarden shows for bytes read from `/proc`: valid UTF-8 as is,
/// each invalid byte as the text `\xNN`.
fn decoded(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// 1. Bad input

#[test]
fn input_bad_values_exit_2_with_one_line_naming_them() {
    // (args, text the message must contain)
    let cases: &[(&[&str], &str)] = &[
        (&["list", "0"], "'0'"),
        (&["list", "65536"], "'65536'"),
        (&["list", "abc"], "'abc'"),
        (&["list", "--", "-5"], "'-5'"),
        (&["list", ""], "''"),
        (&["list", "sctp:80"], "'sctp:80'"),
        (&["list", "tcp:"], "'tcp:'"),
        (&["why", "65536"], "'65536'"),
        (&["wait", "abc", "--free"], "'abc'"),
        (&["kill", "0", "--dry-run"], "'0'"),
        (&["kill", "1", "--dry-run", "--grace", "soon"], "'soon'"),
        (&["kill", "1", "--dry-run", "--grace=-1s"], "'-1s'"),
        (&["wait", "1", "--free", "--timeout", "soon"], "'soon'"),
        (&["wait", "1", "--free", "--timeout=-1s"], "'-1s'"),
        (&["wait", "1"], "--free"),
        (&["frobnicate"], "'frobnicate'"),
        (&["list", "--frobnicate"], "'--frobnicate'"),
        (&["kill", "1", "--dry-run", "--signal", "NOPE"], "'NOPE'"),
    ];
    for (args, want) in cases {
        let (code, out, err) = pw(args);
        assert_eq!(
            code,
            2,
            "{args:?}: usage error exit code\nstdout: {}\nstderr: {}",
            text(&out),
            text(&err)
        );
        assert!(
            out.is_empty(),
            "{args:?}: nothing on stdout: {}",
            text(&out)
        );
        let line = assert_one_line_error(&format!("{args:?}"), &err);
        assert!(
            line.contains(want),
            "{args:?}: {want} not named in {line:?}"
        );
        assert!(line.starts_with("portwarden: "), "{args:?}: {line:?}");
    }
}

#[test]
fn input_negative_duration_as_its_own_word_is_named() {
    // `--grace -1s` is what people type. clap takes `-1s` for a cluster of
    // short flags unless the option accepts hyphen values, and then names
    // `-1` (a flag that does not exist) instead of the bad duration.
    for args in [
        &["kill", "1", "--dry-run", "--grace", "-1s"][..],
        &["wait", "1", "--free", "--timeout", "-1s"][..],
    ] {
        let (code, _, err) = pw(args);
        assert_eq!(code, 2, "{args:?}: {}", text(&err));
        let line = assert_one_line_error(&format!("{args:?}"), &err);
        assert!(
            line.contains("'-1s'"),
            "{args:?}: the bad value '-1s' must be named: {line:?}"
        );
    }
}

#[test]
fn input_broken_config_file_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf_dir = dir.path().join("portwarden");
    std::fs::create_dir(&conf_dir).unwrap();
    let file = conf_dir.join("config.toml");
    let shown = file.display().to_string();
    // (file text, line, what must be named)
    let cases = [
        ("# mine\ninterval = \"2s\"\ngracee = \"3s\"\n", 3, "gracee"),
        ("signal = \"TERM\"\ngrace = \"soon\"\n", 2, "grace"),
        ("protocols = [\"tcp\", \"sctp\"]\n", 1, "protocols"),
    ];
    for (body, line, key) in cases {
        std::fs::write(&file, body).unwrap();
        for args in [&["list"][..], &["kill", "1", "--dry-run"][..]] {
            let mut c = portwarden();
            c.env("XDG_CONFIG_HOME", dir.path()).args(args);
            let (code, out, err) = run(c);
            assert_eq!(code, 2, "{body:?} {args:?}: {}", text(&err));
            assert!(out.is_empty(), "{}", text(&out));
            let msg = assert_one_line_error(body, &err);
            assert!(msg.contains(&shown), "file named: {msg}");
            assert!(msg.contains(&format!("line {line}")), "line named: {msg}");
            assert!(msg.contains(key), "key {key} named: {msg}");
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Output failures

#[test]
fn output_closed_pipe_ends_quietly_with_exit_0() {
    // Enough output that it cannot all sit in the pipe (64 KiB) and our
    // reader's buffer: a prefork master and 40 workers, one row each, every
    // row's command cut at the table's 4 KiB cap for piped output. Reading
    // one line and closing makes portwarden's next write fail with EPIPE.
    let pad = "p".repeat(100_000);
    let fx = Spec::new("prefork")
        .args(&["--workers", "40", "--pad", &pad])
        .ready(41)
        .start();
    let port = fx.port.to_string();

    let (code, full, _) = pw(&["list", &port]);
    assert_eq!(code, 0);
    assert!(
        full.len() > 120_000,
        "the table must outgrow the pipe for this test to mean anything: {} bytes",
        full.len()
    );

    let mut g = Guard::new();
    let child = Command::new(portwarden_path())
        .args(["list", &port])
        .env("XDG_CONFIG_HOME", "/nonexistent-portwarden-test")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let child = g.child(child);
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.starts_with("PROTO"), "header first: {first:?}");
    drop(reader);
    let mut status = None;
    assert!(
        wait_until(READY_TIMEOUT, || {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "portwarden did not end after its reader went away"
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let status = status.unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "broken pipe is a quiet exit 0: {status:?}\nstderr: {err}"
    );
    assert_eq!(err, "", "nothing on stderr after a broken pipe");
}

#[test]
fn output_write_error_exits_1_with_one_line() {
    if !std::path::Path::new("/dev/full").exists() {
        skip(
            "output_write_error_exits_1_with_one_line",
            "/dev/full does not exist",
        );
        return;
    }
    let fx = Spec::new("listen").start();
    for args in [
        vec!["list".to_string()],
        vec!["list".into(), "--json".into()],
        vec!["why".into(), fx.port.to_string()],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Command::new(portwarden_path())
            .args(&args)
            .env("XDG_CONFIG_HOME", "/nonexistent-portwarden-test")
            .stdin(Stdio::null())
            .stdout(full)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let line = assert_one_line_error(&format!("{args:?}"), &out.stderr);
        assert!(
            line.contains("write") && line.contains("No space left"),
            "{args:?}: says what failed: {line}"
        );
    }
}

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
