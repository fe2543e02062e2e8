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

mod hostile;
mod input_output;
mod races;
mod visibility;

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
