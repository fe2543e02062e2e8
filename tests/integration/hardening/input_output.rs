//! Bad input (arguments, config, environment) and output that fails
//! (a closed pipe, a full disk).

use super::*;

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
