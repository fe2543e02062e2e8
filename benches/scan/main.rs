//! `cargo bench --bench scan`: portwarden against `ss`, `lsof` and the
//! netstat2 crate on a loaded machine, side by side, in one run (issue #5).
//!
//! # Why a hand-written harness
//!
//! What issue #5 asks about is not a micro-benchmark: it is the wall time of
//! whole processes against other tools on the same machine state, the peak
//! RSS of a child, the CPU a long-running TUI burns while idle, and how soon a
//! port is free after its holder dies. All of that needs real processes, and
//! a comparison is only fair when every tool runs against the *same* fixture
//! with the order rotated between runs, so drift (page cache, CPU frequency,
//! a noisy neighbour) hits every tool alike. Ratios are taken per run and
//! then the median is reported, which cancels most of that drift.
//!
//! # The fixture
//!
//! N processes × M open fds, K of them TCP listeners on 127.0.0.1 (ports from
//! `bind(:0)`, so nothing collides and nothing leaves loopback). The children
//! are this very binary re-executed in a hidden mode ([`CHILD_MODE`]): nothing
//! to install, and one exec of a ~1.5 MB binary each. Each child sits in its
//! own process group, like independent services on a server; `--shared-group`
//! measures the other case, where every holder is "related" to all N
//! processes (as on a host whose pid 1 holds sockets).
//!
//! # Teardown, however the run ends
//!
//! - Normal end, `?` error, panic: [`Fixture`] and [`Proc`] SIGKILL and reap
//!   their children in `Drop`.
//! - SIGINT / SIGTERM / SIGHUP: blocked in every thread and taken by one
//!   `sigwait` thread ([`install_signal_teardown`]), which SIGKILLs every
//!   registered child, kills the TUI's tmux server, reaps, and exits. No
//!   signal handler (and no `unsafe`) is needed.
//! - The bench itself SIGKILLed: every child has `PR_SET_PDEATHSIG=SIGKILL`
//!   and blocks reading a stdin pipe whose only writer is the bench, so it
//!   dies either way.
//!
//! Every wait is bounded (pidfd polls with deadlines); a tool that hangs
//! fails the run instead of hanging it.
//!
//! Run `cargo bench --bench scan -- --help` for the options; `--quick` is a
//! smoke run (< 30 s) whose numbers are shown but not asserted.
//!
//! # Layout
//!
//! This file is the entry and the order of the phases. `config` is the
//! command line; `fixture` the load (child and parent side); `tools` runs
//! and parses the other tools; one `phase_*` file per measurement, each
//! adding rows and notes; `report` prints them; `sys` and `teardown` are
//! the OS helpers and the cleanup that runs however the bench ends. The
//! files share one namespace (`use super::*`): they are one program.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid as NixPid;
use portwarden::classify::Context;
use portwarden::discover::{Options, Scanner};
use portwarden::kill::{Policy, Progress, execute, plan_ports};
use portwarden::model::{Proto, Snapshot};
use portwarden::spec::PortSpec;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{PidfdFlags, Resource, Rlimit, getrlimit, pidfd_open, setrlimit};

/// argv[1] that turns this binary into a fixture child.
const CHILD_MODE: &str = "__portwarden_bench_child";
/// argv[1] that clears the signal mask and execs argv[2..] (see [`clean_exec`]).
const EXEC_MODE: &str = "__portwarden_bench_exec";

/// Issue #5's targets.
const TARGET_LIST_VS_SS: f64 = 0.5;
const TARGET_STEADY_VS_COLD: f64 = 0.05;
const TARGET_TUI_IDLE_PCT: f64 = 2.0;
const TARGET_RSS_MB: f64 = 30.0;
const TARGET_KILL_FREE_MS: f64 = 50.0;

/// Upper bound for any one tool run (lsof on a big fixture takes seconds).
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

mod config;
mod fixture;
mod phase_bpf;
mod phase_context;
mod phase_kill;
mod phase_list;
mod phase_refresh;
mod phase_rss;
mod phase_tui;
mod report;
mod sys;
mod teardown;
mod tools;

use config::*;
use fixture::*;
use phase_bpf::*;
use phase_context::*;
use phase_kill::*;
use phase_list::*;
use phase_refresh::*;
use phase_rss::*;
use phase_tui::*;
use report::*;
use sys::*;
use teardown::*;
use tools::*;

/// A fixture child, an exec helper, or the bench itself.
pub(crate) fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    // The fixture child mode is checked before anything else: 2,000 of them
    // start at once, so they skip clap and the signal thread.
    if argv.get(1).and_then(|a| a.to_str()) == Some(CHILD_MODE) {
        return match fixture_child(argv.get(2..).unwrap_or(&[])) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench fixture child {}: {e:#}", std::process::id());
                ExitCode::FAILURE
            }
        };
    }
    if argv.get(1).and_then(|a| a.to_str()) == Some(EXEC_MODE) {
        let e = clean_exec(argv.get(2..).unwrap_or(&[]));
        eprintln!("bench: exec failed: {e:#}");
        return ExitCode::from(127);
    }
    let args = Args::parse();
    // Before any other thread exists: every later thread inherits the mask.
    if let Err(e) = install_signal_teardown() {
        eprintln!("bench: cannot set up signal teardown: {e:#}");
        return ExitCode::from(2);
    }
    match Config::from_args(args).and_then(|cfg| run(&cfg)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Build the fixture, run every phase, print the report. `Ok(false)` when a
/// target was missed and asserting is on.
pub(crate) fn run(cfg: &Config) -> Result<bool> {
    let started = Instant::now();
    preflight(cfg)?;
    let load_before = load_average();
    let mut rows: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    let fixture = Fixture::spawn(cfg)?;
    notes.push(format!(
        "Fixture: {} processes × {} fds, {} TCP listeners on 127.0.0.1, {}; spawned and ready in {:.1} s.",
        cfg.procs,
        cfg.fds,
        cfg.listeners,
        if cfg.shared_group {
            "all in the bench's process group"
        } else {
            "each in its own process group"
        },
        fixture.ready_in.as_secs_f64()
    ));

    fixture_phases(cfg, &fixture, &mut rows, &mut notes)?;
    if let Some(secs) = cfg.hold {
        hold(&fixture, secs);
    }
    let t = Instant::now();
    drop(fixture);
    progress(format!(
        "fixture torn down in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    if cfg.runs_phase(Phase::Bpf) {
        phase_bpf(cfg, &mut rows, &mut notes)?;
    }
    notes.push(format!(
        "Whole run: {:.0} s.",
        started.elapsed().as_secs_f64()
    ));

    notes.push(format!(
        "1-min load average: {load_before} before the fixture, {} at the end; the bench alone keeps it near 1–2 on two cores, much more means other programs competed.",
        load_average()
    ));
    print_report(cfg, &rows, &notes);
    let failed = rows.iter().any(|r| r.verdict == Verdict::Fail);
    Ok(!(failed && cfg.assert))
}

/// Every phase that runs against the fixture, in order (the TUI phase
/// settles for longer when `list` was slow).
fn fixture_phases(
    cfg: &Config,
    fixture: &Fixture,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let mut list_wall = None;
    if cfg.runs_phase(Phase::List) {
        list_wall = Some(phase_list(cfg, fixture, rows, notes)?);
    }
    if cfg.runs_phase(Phase::Rss) {
        phase_rss(cfg, rows, notes)?;
    }
    if cfg.runs_phase(Phase::Scan) {
        phase_scan(cfg, rows, notes)?;
    }
    if cfg.runs_phase(Phase::Context) {
        phase_context(cfg, fixture, rows, notes)?;
    }
    if cfg.runs_phase(Phase::Kill) {
        phase_kill(cfg, rows, notes)?;
    }
    if cfg.runs_phase(Phase::Tui) {
        phase_tui(cfg, list_wall, rows, notes)?;
    }
    Ok(())
}

/// `--hold`: keep the fixture up for work by hand (Ctrl-C ends it).
fn hold(fixture: &Fixture, secs: u64) {
    progress(format!(
        "holding the fixture for {secs} s (bench pid {}, {} listeners, e.g. ports {:?}); Ctrl-C ends it",
        std::process::id(),
        fixture.listeners.len(),
        fixture.listeners.keys().take(3).collect::<Vec<_>>()
    ));
    thread::sleep(Duration::from_secs(secs));
}

/// A progress line on stderr (the report goes to stdout).
pub(crate) fn progress(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}
