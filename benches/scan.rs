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

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// Phases that `--skip` can leave out.
#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// `list --json` vs ss / lsof / netstat2 wall time and result sets.
    List,
    /// lsof only (it is by far the slowest reference).
    Lsof,
    /// Peak RSS of `list --json`.
    Rss,
    /// In-process cold scan vs steady-state refresh CPU.
    Scan,
    /// Kill → port-free latency.
    Kill,
    /// What project lookup and connection counts add to a scan (issue 13).
    Context,
    /// Idle CPU of the TUI under tmux.
    Tui,
}

/// portwarden's benchmark (issue #5): builds a loopback fixture of N
/// processes × M fds with K TCP listeners, measures portwarden against ss,
/// lsof and netstat2 side by side, and prints a markdown table.
///
/// Targets are asserted (exit status 1 when one is missed) except with
/// --quick or --no-assert. Progress goes to stderr, the report to stdout.
#[derive(Parser, Debug)]
#[command(name = "scan", bin_name = "cargo bench --bench scan --", version)]
struct Args {
    /// Fixture processes [default: 2000; --quick: 200].
    #[arg(long)]
    procs: Option<usize>,
    /// Open fds per fixture process, besides stdio [default: 50; --quick: 20].
    #[arg(long)]
    fds: Option<usize>,
    /// How many fixture processes also listen on 127.0.0.1:0 [default: 300;
    /// --quick: 30].
    #[arg(long)]
    listeners: Option<usize>,
    /// Timed runs per tool, and cold in-process scans [default: 7; --quick: 3].
    #[arg(long)]
    runs: Option<usize>,
    /// Steady-state refreshes measured with one Scanner [default: 100 (two periodic full rescans at the library default);
    /// --quick: 10].
    #[arg(long)]
    refreshes: Option<usize>,
    /// Kill runs per holder kind (SIGTERM honoured / ignored) [default: 10].
    #[arg(long)]
    kill_runs: Option<usize>,
    /// Seconds of TUI idle measured [default: 20; --quick: 5].
    #[arg(long)]
    tui_secs: Option<u64>,
    /// Small fixture and few runs: a smoke test that finishes in < 30 s.
    /// Numbers are printed but targets are not asserted.
    #[arg(long)]
    quick: bool,
    /// Put every fixture child in the bench's own process group (one huge
    /// group) instead of one group each.
    #[arg(long)]
    shared_group: bool,
    /// The portwarden binary [default: the one cargo built for this bench,
    /// else target/release/portwarden next to this bench].
    #[arg(long)]
    portwarden: Option<PathBuf>,
    /// Keep the fixture up this many seconds after the phases (before the
    /// report), e.g. to run `strace -c -f portwarden list --json` or `perf`
    /// against it by hand. Ctrl-C ends the hold and tears the fixture down.
    #[arg(long, value_name = "SECS")]
    hold: Option<u64>,
    /// Leave phases out (comma-separated).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<Phase>,
    /// Exit 0 even when a target is missed.
    #[arg(long)]
    no_assert: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
struct Config {
    procs: usize,
    fds: usize,
    listeners: usize,
    runs: usize,
    refreshes: usize,
    kill_runs: usize,
    tui_secs: u64,
    quick: bool,
    shared_group: bool,
    skip: Vec<Phase>,
    hold: Option<u64>,
    assert: bool,
    exe: PathBuf,
    portwarden: PathBuf,
}

impl Config {
    fn from_args(a: Args) -> Result<Self> {
        let pick = |v: Option<usize>, full: usize, quick: usize| {
            v.unwrap_or(if a.quick { quick } else { full })
        };
        let cfg = Config {
            procs: pick(a.procs, 2000, 200),
            fds: pick(a.fds, 50, 20),
            listeners: pick(a.listeners, 300, 30),
            runs: pick(a.runs, 7, 3).max(1),
            refreshes: pick(a.refreshes, 100, 10).max(1),
            kill_runs: pick(a.kill_runs, 10, 10).max(1),
            tui_secs: a.tui_secs.unwrap_or(if a.quick { 5 } else { 20 }).max(1),
            quick: a.quick,
            shared_group: a.shared_group,
            skip: a.skip,
            hold: a.hold,
            assert: !a.quick && !a.no_assert,
            exe: std::env::current_exe().wrap_err("cannot find the bench executable")?,
            portwarden: match a.portwarden {
                Some(p) => p,
                None => default_portwarden()?,
            },
        };
        if cfg.listeners > cfg.procs {
            bail!(
                "--listeners {} > --procs {}: every listener is one of the fixture processes",
                cfg.listeners,
                cfg.procs
            );
        }
        if !cfg.portwarden.is_file() {
            bail!(
                "portwarden binary not found at {}: build it with `cargo build --release` \
                 (or pass --portwarden PATH)",
                cfg.portwarden.display()
            );
        }
        Ok(cfg)
    }

    fn runs_phase(&self, p: Phase) -> bool {
        !self.skip.contains(&p)
    }
}

/// Cargo builds the package's binaries for benches and says where
/// (`CARGO_BIN_EXE_<name>`, set for integration tests *and* benchmarks).
/// Without it (bench binary run by hand from elsewhere) fall back to
/// `target/release/portwarden`, i.e. `../portwarden` from `target/release/deps/`.
fn default_portwarden() -> Result<PathBuf> {
    if let Some(p) = option_env!("CARGO_BIN_EXE_portwarden") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
    }
    let exe = std::env::current_exe().wrap_err("cannot find the bench executable")?;
    exe.parent()
        .and_then(Path::parent)
        .map(|release| release.join("portwarden"))
        .ok_or_else(|| eyre!("cannot derive target/release from {}", exe.display()))
}

// ---------------------------------------------------------------------------
// Entry
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
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
fn run(cfg: &Config) -> Result<bool> {
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

    let mut list_wall = None;
    if cfg.runs_phase(Phase::List) {
        let r = phase_list(cfg, &fixture, &mut rows, &mut notes)?;
        list_wall = Some(r);
    }
    if cfg.runs_phase(Phase::Rss) {
        phase_rss(cfg, &mut rows, &mut notes)?;
    }
    if cfg.runs_phase(Phase::Scan) {
        phase_scan(cfg, &mut rows, &mut notes)?;
    }
    if cfg.runs_phase(Phase::Context) {
        phase_context(cfg, &fixture, &mut rows, &mut notes)?;
    }
    if cfg.runs_phase(Phase::Kill) {
        phase_kill(cfg, &mut rows, &mut notes)?;
    }
    if cfg.runs_phase(Phase::Tui) {
        phase_tui(cfg, list_wall, &mut rows, &mut notes)?;
    }

    if let Some(secs) = cfg.hold {
        progress(format!(
            "holding the fixture for {secs} s (bench pid {}, {} listeners, e.g. ports {:?}); Ctrl-C ends it",
            std::process::id(),
            fixture.listeners.len(),
            fixture.listeners.keys().take(3).collect::<Vec<_>>()
        ));
        thread::sleep(Duration::from_secs(secs));
    }

    let t = Instant::now();
    drop(fixture);
    progress(format!(
        "fixture torn down in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
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

fn progress(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

/// Refuse early, with a clear message, when the machine cannot hold the
/// fixture (fd and process limits), and raise our own fd limit.
fn preflight(cfg: &Config) -> Result<()> {
    ensure_nofile(256)?;
    let pid_max: usize = read_trimmed("/proc/sys/kernel/pid_max")
        .and_then(|s| s.parse().ok())
        .unwrap_or(32768);
    let running = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|s| s.parse::<u32>().is_ok())
                })
                .count()
        })
        .unwrap_or(0);
    // Each kill run and tool run adds a process or two on top.
    if running + cfg.procs + 64 > pid_max {
        bail!(
            "{} processes already run and the fixture needs {} more, but pid_max is {pid_max}",
            running,
            cfg.procs
        );
    }
    let nproc = getrlimit(Resource::Nproc).current;
    if let Some(n) = nproc
        && rustix::process::geteuid().as_raw() != 0
        && (running + cfg.procs + 64) as u64 > n
    {
        progress(format!(
            "warning: RLIMIT_NPROC is {n}; {} fixture processes may not fit",
            cfg.procs
        ));
    }
    let hard = getrlimit(Resource::Nofile).maximum;
    if let Some(h) = hard
        && (cfg.fds as u64 + 16) > h
    {
        bail!(
            "--fds {} exceeds the hard RLIMIT_NOFILE ({h}) a child could raise itself to",
            cfg.fds
        );
    }
    Ok(())
}

/// Raise the soft RLIMIT_NOFILE to at least `need` (up to the hard limit).
fn ensure_nofile(need: usize) -> Result<()> {
    let need = need as u64;
    let lim = getrlimit(Resource::Nofile);
    if lim.current.is_none_or(|c| c >= need) {
        return Ok(());
    }
    if lim.maximum.is_some_and(|m| m < need) {
        bail!(
            "need {need} open files but the hard RLIMIT_NOFILE is {:?}",
            lim.maximum
        );
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(need),
            maximum: lim.maximum,
        },
    )
    .wrap_err("raising RLIMIT_NOFILE")
}

// ---------------------------------------------------------------------------
// Child registry and teardown
// ---------------------------------------------------------------------------

/// Every child the bench has not reaped yet, and every tmux server it
/// started. A pid stays registered until it is reaped, and reaping happens
/// under this lock, so the signal thread can only ever SIGKILL our own
/// (possibly zombie) children, never a recycled pid.
struct Registry {
    pids: BTreeSet<u32>,
    tmux: Vec<String>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pids: BTreeSet::new(),
    tmux: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock must not stop teardown.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Block SIGINT/SIGTERM/SIGHUP and take them in one thread with sigwait:
/// teardown then runs as ordinary code, outside any signal handler.
fn install_signal_teardown() -> Result<()> {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set.thread_block().wrap_err("blocking SIGINT/SIGTERM")?;
    thread::Builder::new()
        .name("teardown".into())
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                emergency_teardown(sig);
            }
        })
        .wrap_err("spawning the teardown thread")?;
    Ok(())
}

fn emergency_teardown(sig: Signal) -> ! {
    eprintln!("\n[bench] {sig}: killing the fixture and exiting");
    let reg = registry();
    for &pid in &reg.pids {
        let _ = kill(NixPid::from_raw(pid as i32), Signal::SIGKILL);
    }
    for sock in &reg.tmux {
        kill_tmux_server(sock);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for &pid in &reg.pids {
        while Instant::now() < deadline {
            match waitpid(NixPid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => thread::sleep(Duration::from_millis(1)),
                _ => break,
            }
        }
    }
    std::process::exit(128 + sig as i32);
}

/// Children inherit the signal mask across fork and exec (std does not reset
/// it), so everything the bench starts has SIGINT/SIGTERM/SIGHUP blocked.
/// That is harmless for short tool runs (the teardown thread SIGKILLs them),
/// and fixture children clear it themselves; but a long-lived program that
/// the bench does not own directly (tmux and the TUI in it) must start
/// clean, or it would shrug off the SIGHUP tmux sends on kill-server. So
/// those go through this trampoline: the bench re-executed, mask cleared,
/// then exec (same pid, so the registry stays right).
fn clean_exec(args: &[OsString]) -> color_eyre::eyre::Report {
    if let Err(e) = SigSet::empty().thread_set_mask() {
        return eyre!("clearing the signal mask: {e}");
    }
    let Some((prog, rest)) = args.split_first() else {
        return eyre!("nothing to exec");
    };
    eyre!(
        "{}: {}",
        prog.to_string_lossy(),
        Command::new(prog).args(rest).exec()
    )
}

/// A command run through [`clean_exec`].
fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let mut c = Command::new(exe);
    c.arg(EXEC_MODE).arg(program);
    c
}

/// One child process we own: SIGKILLed and reaped on drop unless already
/// reaped.
struct Proc {
    child: Child,
    reaped: Option<ExitStatus>,
}

impl Proc {
    /// Spawn under the registry lock, so the signal thread never misses a
    /// child that exists.
    fn spawn(cmd: &mut Command) -> Result<Proc> {
        let mut reg = registry();
        let child = cmd
            .spawn()
            .wrap_err_with(|| format!("cannot start {:?}", cmd.get_program()))?;
        reg.pids.insert(child.id());
        Ok(Proc {
            child,
            reaped: None,
        })
    }

    fn id(&self) -> u32 {
        self.child.id()
    }

    /// Reap (the child is expected to have exited already, or to exit
    /// before `deadline`).
    fn reap(&mut self, deadline: Instant) -> Result<ExitStatus> {
        if let Some(st) = self.reaped {
            return Ok(st);
        }
        let pid = self.child.id();
        loop {
            {
                let mut reg = registry();
                if let Some(st) = self.child.try_wait()? {
                    reg.pids.remove(&pid);
                    self.reaped = Some(st);
                    return Ok(st);
                }
            }
            if Instant::now() >= deadline {
                bail!("pid {pid} did not exit in time");
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    fn kill_and_reap(&mut self) -> Result<ExitStatus> {
        if self.reaped.is_none() {
            let _ = self.child.kill();
        }
        self.reap(Instant::now() + Duration::from_secs(10))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Err(e) = self.kill_and_reap() {
            progress(format!("warning: {e:#}"));
        }
    }
}

// ---------------------------------------------------------------------------
// Small OS helpers
// ---------------------------------------------------------------------------

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The fields of `/proc/<who>/stat` after the `(comm)`; index 0 is field 3
/// (state), so field N is index N - 3.
fn stat_fields(who: &str) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{who}/stat")).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    Some(rest.split_ascii_whitespace().map(str::to_string).collect())
}

fn stat_sum(who: &str, fields: &[usize]) -> Option<u64> {
    let f = stat_fields(who)?;
    fields
        .iter()
        .map(|&n| f.get(n - 3).and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

fn ticks(n: u64) -> Duration {
    Duration::from_secs_f64(n as f64 / portwarden::os::clk_tck() as f64)
}

/// utime + stime of this whole process (every thread, live or exited), in
/// clock ticks. Coarse (10 ms) but complete; phases average over many scans.
/// getrusage would give µs, but nix's `resource` feature is not enabled.
fn self_cpu_ticks() -> Result<u64> {
    stat_sum("self", &[14, 15]).ok_or_else(|| eyre!("cannot read /proc/self/stat"))
}

/// cutime + cstime: CPU of reaped children, in clock ticks.
fn children_cpu_ticks() -> Result<u64> {
    stat_sum("self", &[16, 17]).ok_or_else(|| eyre!("cannot read /proc/self/stat"))
}

/// VmHWM (peak RSS, KiB) of a live process.
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_ascii_whitespace().nth(1)?.parse().ok()
}

fn pidfd(pid: u32) -> Result<OwnedFd> {
    let p = rustix::process::Pid::from_raw(pid as i32).ok_or_else(|| eyre!("bad pid {pid}"))?;
    pidfd_open(p, PidfdFlags::empty()).wrap_err_with(|| format!("pidfd_open({pid})"))
}

/// Wait until `fd` is readable (or hung up), at most until `deadline`.
/// A pidfd becomes readable when its process exits — without reaping it.
fn wait_readable(fd: BorrowedFd<'_>, deadline: Instant) -> Result<bool> {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let rem = deadline - now;
        let ts = Timespec {
            tv_sec: rem.as_secs() as i64,
            tv_nsec: i64::from(rem.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(e).wrap_err("poll"),
        }
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median_ms(v: &[Duration]) -> f64 {
    median(&v.iter().map(|d| ms(*d)).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------
// Fixture child (hidden mode)
// ---------------------------------------------------------------------------

/// The fixture child: open `--fds` descriptors (one of them a listener with
/// `--listen`), announce `ready <pid> <port>` on stdout, then block reading
/// stdin until the bench closes it (or dies).
fn fixture_child(args: &[OsString]) -> Result<()> {
    let mut fds = 0usize;
    let mut listen = false;
    let mut ignore_term = false;
    let mut parent: Option<i32> = None;
    let mut it = args.iter().map(|a| a.to_str().unwrap_or(""));
    while let Some(a) = it.next() {
        match a {
            "--fds" => fds = it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--parent" => parent = it.next().and_then(|v| v.parse().ok()),
            "--listen" => listen = true,
            "--ignore-term" => ignore_term = true,
            other => bail!("unknown child argument {other:?}"),
        }
    }
    // The bench blocks these for its sigwait thread and the mask survived
    // exec; a fixture child must die of SIGTERM like any server.
    SigSet::empty()
        .thread_set_mask()
        .wrap_err("clearing the signal mask")?;
    // Die with the bench even when it is SIGKILLed. The parent check closes
    // the window where the bench died before prctl ran.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).wrap_err("PR_SET_PDEATHSIG")?;
    if let Some(p) = parent
        && nix::unistd::getppid().as_raw() != p
    {
        return Ok(());
    }
    if ignore_term {
        // A blocked SIGTERM stays pending forever: the same effect on a kill
        // as SIG_IGN, without a signal handler (std resets the mask at exec,
        // so this is ours to set).
        let mut set = SigSet::empty();
        set.add(Signal::SIGTERM);
        set.thread_block().wrap_err("blocking SIGTERM")?;
    }
    ensure_nofile(fds + 16)?;

    // A server-like mix: mostly files, one pipe pair and one unix socket
    // pair per ten fds. The socketpairs matter: their `socket:[N]` links must
    // be compared against the wanted set, unlike files.
    let mut keep: Vec<OwnedFd> = Vec::with_capacity(fds);
    let mut port = 0u16;
    if listen && fds > 0 {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).wrap_err("bind 127.0.0.1:0")?;
        port = l.local_addr()?.port();
        keep.push(l.into());
    }
    let mut slot = 0usize;
    while keep.len() < fds {
        let room = fds - keep.len();
        match slot % 10 {
            0 if room >= 2 => {
                let (r, w) = io::pipe()?;
                keep.push(r.into());
                keep.push(w.into());
            }
            5 if room >= 2 => {
                let (a, b) = UnixStream::pair()?;
                keep.push(a.into());
                keep.push(b.into());
            }
            _ => keep.push(File::open("/dev/null")?.into()),
        }
        slot += 1;
    }

    // One write(2) of fewer than PIPE_BUF bytes: atomic even though every
    // fixture child shares the same stdout pipe.
    let line = format!("ready {} {port}\n", std::process::id());
    let mut out = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    out.write_all(line.as_bytes())?;
    drop(out);

    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 64];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(keep);
    Ok(())
}

// ---------------------------------------------------------------------------
// Fixture (parent side)
// ---------------------------------------------------------------------------

/// The running fixture. Dropping it tears it down.
struct Fixture {
    children: Vec<Proc>,
    /// The only write end of the children's shared stdin: closing it ends
    /// them all (EOF), even if the SIGKILLs below never ran.
    stdin_w: Option<io::PipeWriter>,
    /// listener port → holder pid.
    listeners: BTreeMap<u16, u32>,
    ready_in: Duration,
}

impl Fixture {
    fn spawn(cfg: &Config) -> Result<Fixture> {
        let t0 = Instant::now();
        progress(format!(
            "spawning {} fixture processes × {} fds ({} listeners)…",
            cfg.procs, cfg.fds, cfg.listeners
        ));
        let (stdin_r, stdin_w) = io::pipe()?;
        let (mut ready_r, ready_w) = io::pipe()?;
        let mut fx = Fixture {
            children: Vec::with_capacity(cfg.procs),
            stdin_w: Some(stdin_w),
            listeners: BTreeMap::new(),
            ready_in: Duration::ZERO,
        };
        let me = std::process::id().to_string();
        let fds = cfg.fds.to_string();
        // Generous, but bounded: ~ 20 ms per child on a slow box.
        let deadline = t0 + Duration::from_secs(30) + Duration::from_millis(20 * cfg.procs as u64);
        for i in 0..cfg.procs {
            // Spread the listeners evenly over the pid range.
            let listen = (i * cfg.listeners) / cfg.procs != ((i + 1) * cfg.listeners) / cfg.procs;
            let mut cmd = Command::new(&cfg.exe);
            cmd.args([CHILD_MODE, "--fds", &fds, "--parent", &me]);
            if listen {
                cmd.arg("--listen");
            }
            if !cfg.shared_group {
                cmd.process_group(0);
            }
            cmd.stdin(Stdio::from(stdin_r.try_clone()?))
                .stdout(Stdio::from(ready_w.try_clone()?))
                .stderr(Stdio::inherit());
            fx.children.push(Proc::spawn(&mut cmd)?);
            if Instant::now() >= deadline {
                bail!(
                    "spawning the fixture is too slow ({i} of {} in time)",
                    cfg.procs
                );
            }
        }
        // Only the children hold write ends now: EOF means they all died.
        drop(ready_w);
        drop(stdin_r);

        let mut pending = String::new();
        let mut ready = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        while ready < cfg.procs {
            if !wait_readable(ready_r.as_fd(), deadline)? {
                bail!(
                    "only {ready} of {} fixture processes became ready in time",
                    cfg.procs
                );
            }
            let n = match ready_r.read(&mut buf) {
                Ok(0) => bail!(
                    "fixture processes died: {ready} of {} were ready",
                    cfg.procs
                ),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).wrap_err("reading fixture readiness"),
            };
            pending.push_str(&String::from_utf8_lossy(&buf[..n]));
            while let Some(nl) = pending.find('\n') {
                let line: String = pending.drain(..=nl).collect();
                let (pid, port) = parse_ready(&line)?;
                if port != 0 {
                    fx.listeners.insert(port, pid);
                }
                ready += 1;
            }
        }
        if fx.listeners.len() != cfg.listeners {
            bail!(
                "expected {} listeners, {} reported a port",
                cfg.listeners,
                fx.listeners.len()
            );
        }
        fx.ready_in = t0.elapsed();
        progress(format!(
            "fixture ready in {:.1} s",
            fx.ready_in.as_secs_f64()
        ));
        Ok(fx)
    }
}

fn parse_ready(line: &str) -> Result<(u32, u16)> {
    let mut w = line.split_ascii_whitespace();
    match (w.next(), w.next(), w.next()) {
        (Some("ready"), Some(pid), Some(port)) => Ok((pid.parse()?, port.parse()?)),
        _ => bail!("bad readiness line from a fixture child: {line:?}"),
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // EOF first (every child wakes and exits by itself), then SIGKILL so
        // teardown does not depend on them being well-behaved.
        drop(self.stdin_w.take());
        let reg = registry();
        for c in &mut self.children {
            if c.reaped.is_none() {
                let _ = c.child.kill();
            }
        }
        drop(reg);
        let deadline = Instant::now() + Duration::from_secs(30);
        for c in &mut self.children {
            if let Err(e) = c.reap(deadline) {
                progress(format!("warning: fixture teardown: {e:#}"));
            }
        }
        self.children.clear();
    }
}

/// A listener holder for the kill phase: its own process group, like a
/// server started from a shell.
struct Holder {
    proc: Proc,
    port: u16,
    // Keeps the holder's stdin open: it exits when this closes.
    _stdin: ChildStdin,
}

fn spawn_holder(cfg: &Config, ignore_term: bool) -> Result<Holder> {
    let mut cmd = Command::new(&cfg.exe);
    cmd.args([
        CHILD_MODE,
        "--fds",
        "8",
        "--listen",
        "--parent",
        &std::process::id().to_string(),
    ]);
    if ignore_term {
        cmd.arg("--ignore-term");
    }
    cmd.process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut proc = Proc::spawn(&mut cmd)?;
    let stdin = proc
        .child
        .stdin
        .take()
        .ok_or_else(|| eyre!("holder has no stdin pipe"))?;
    let mut stdout = proc
        .child
        .stdout
        .take()
        .ok_or_else(|| eyre!("holder has no stdout pipe"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut line = Vec::new();
    let mut buf = [0u8; 128];
    while !line.contains(&b'\n') {
        if !wait_readable(stdout.as_fd(), deadline)? {
            bail!("holder did not become ready in 10 s");
        }
        match stdout.read(&mut buf) {
            Ok(0) => bail!("holder exited before it was ready"),
            Ok(n) => line.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).wrap_err("reading holder readiness"),
        }
    }
    let (_, port) = parse_ready(&String::from_utf8_lossy(&line))?;
    Ok(Holder {
        proc,
        port,
        _stdin: stdin,
    })
}

// ---------------------------------------------------------------------------
// Running tools
// ---------------------------------------------------------------------------

/// One finished tool run.
struct Ran {
    out: Vec<u8>,
    /// Spawn to exit (observed by pidfd, before reaping).
    wall: Duration,
    status: ExitStatus,
    /// The child's user + sys (clock ticks, via our cutime/cstime).
    cpu: Duration,
    /// Peak RSS in KiB, when probed.
    hwm_kb: Option<u64>,
}

/// Run `cmd` to completion with stdout captured, bounded by `timeout`.
///
/// With `probe_rss`, the stdout pipe is shrunk to one page so the child
/// blocks on its output while its memory is still mapped, and VmHWM (the
/// same high-water mark as wait4's ru_maxrss) is sampled each time the pipe
/// fills. The std library has no wait4, and nix's `resource` feature (for
/// getrusage(RUSAGE_CHILDREN)) is not enabled in this crate.
fn run_capture(cmd: &mut Command, timeout: Duration, probe_rss: bool) -> Result<Ran> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let what = format!("{:?}", cmd.get_program());
    let cpu0 = children_cpu_ticks()?;
    let t0 = Instant::now();
    let deadline = t0 + timeout;
    let mut p = Proc::spawn(cmd)?;
    let pid = p.id();
    let pfd = pidfd(pid)?;
    let mut stdout = p
        .child
        .stdout
        .take()
        .ok_or_else(|| eyre!("no stdout pipe"))?;
    if probe_rss {
        rustix::pipe::fcntl_setpipe_size(&stdout, 4096).wrap_err("F_SETPIPE_SZ")?;
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut hwm: Option<u64> = None;
    loop {
        // When probing, also wake every millisecond to sample: a program
        // whose whole output fits in the pipe never blocks on it.
        let wake = if probe_rss {
            deadline.min(Instant::now() + Duration::from_millis(1))
        } else {
            deadline
        };
        let readable = wait_readable(stdout.as_fd(), wake)?;
        if probe_rss && let Some(k) = vm_hwm_kb(pid) {
            hwm = Some(hwm.unwrap_or(0).max(k));
        }
        if !readable {
            if Instant::now() >= deadline {
                bail!("{what} timed out after {timeout:?}");
            }
            continue;
        }
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).wrap_err_with(|| format!("reading {what}")),
        }
    }
    if !wait_readable(pfd.as_fd(), deadline)? {
        bail!("{what} closed stdout but did not exit within {timeout:?}");
    }
    let wall = t0.elapsed();
    let status = p.reap(deadline)?;
    let cpu = ticks(children_cpu_ticks()?.saturating_sub(cpu0));
    Ok(Ran {
        out,
        wall,
        status,
        cpu,
        hwm_kb: hwm,
    })
}

/// (proto, port, pid) of every listening socket; pid 0 for a socket with no
/// visible holder.
type Tuples = BTreeSet<(String, u16, u32)>;

fn tuples_from_portwarden(json: &[u8]) -> Result<Tuples> {
    let v: serde_json::Value =
        serde_json::from_slice(json).wrap_err("portwarden list --json is not JSON")?;
    let mut out = Tuples::new();
    let socks = v["sockets"]
        .as_array()
        .ok_or_else(|| eyre!("list --json has no sockets array"))?;
    for s in socks {
        let proto = s["proto"].as_str().unwrap_or("?").to_string();
        let port = s["port"].as_u64().unwrap_or(0) as u16;
        let holders = s["holders"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if holders.is_empty() {
            out.insert((proto.clone(), port, 0));
        }
        for h in holders {
            out.insert((proto.clone(), port, h["pid"].as_u64().unwrap_or(0) as u32));
        }
    }
    Ok(out)
}

/// Parse `ss -ltunpH`: `tcp LISTEN 0 128 127.0.0.1:4000 0.0.0.0:* users:(("x",pid=12,fd=3),…)`.
fn tuples_from_ss(text: &[u8]) -> Tuples {
    let mut out = Tuples::new();
    for line in String::from_utf8_lossy(text).lines() {
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        let (Some(proto), Some(local)) = (cols.first(), cols.get(4)) else {
            continue;
        };
        let Some(port) = local.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        let pids: BTreeSet<u32> = line
            .match_indices("pid=")
            .filter_map(|(i, m)| {
                let rest = &line[i + m.len()..];
                let end = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                rest[..end].parse().ok()
            })
            .collect();
        if pids.is_empty() {
            out.insert((proto.to_string(), port, 0));
        }
        for pid in pids {
            out.insert((proto.to_string(), port, pid));
        }
    }
    out
}

fn portwarden_tuples(cfg: &Config) -> Result<Tuples> {
    let ran = run_capture(
        Command::new(&cfg.portwarden)
            .args(["list", "--json"])
            .stderr(Stdio::inherit()),
        TOOL_TIMEOUT,
        false,
    )?;
    if !ran.status.success() {
        bail!("portwarden list --json failed: {}", ran.status);
    }
    tuples_from_portwarden(&ran.out)
}

fn ss_tuples(ss: &Path) -> Result<Tuples> {
    let ran = run_capture(
        Command::new(ss).arg("-ltunpH").stderr(Stdio::null()),
        TOOL_TIMEOUT,
        false,
    )?;
    if !ran.status.success() {
        bail!("ss -ltunpH failed: {}", ran.status);
    }
    Ok(tuples_from_ss(&ran.out))
}

/// Up to three ss → portwarden → ss rounds; the differences of the last
/// round (empty = agreement): tuples both ss runs saw that portwarden
/// missed, and tuples portwarden showed that neither ss run saw.
fn stable_set_check(cfg: &Config, ss: &Path) -> Result<Vec<String>> {
    let mut diffs = Vec::new();
    for round in 0..3 {
        progress(format!(
            "result-set recheck ss → portwarden → ss, round {}",
            round + 1
        ));
        let before = ss_tuples(ss)?;
        let pw = portwarden_tuples(cfg)?;
        let after = ss_tuples(ss)?;
        diffs.clear();
        for t in before.intersection(&after).filter(|t| !pw.contains(*t)) {
            diffs.push(format!("missed by portwarden: {} {} pid {}", t.0, t.1, t.2));
        }
        for t in pw
            .iter()
            .filter(|t| !before.contains(*t) && !after.contains(*t))
        {
            diffs.push(format!("only portwarden: {} {} pid {}", t.0, t.1, t.2));
        }
        if diffs.is_empty() {
            break;
        }
    }
    Ok(diffs)
}

fn tuples_from_snapshot(snap: &Snapshot) -> Tuples {
    let mut out = Tuples::new();
    for s in &snap.sockets {
        if s.holders.is_empty() {
            out.insert((s.proto.to_string(), s.port, 0));
        }
        for &h in &s.holders {
            out.insert((s.proto.to_string(), s.port, h as u32));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Report rows
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    Info,
    Pending,
}

impl Verdict {
    fn judge(ok: bool) -> Verdict {
        if ok { Verdict::Pass } else { Verdict::Fail }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "**pass**",
            Verdict::Fail => "**FAIL**",
            Verdict::Info => "info",
            Verdict::Pending => "pending",
        }
    }
}

struct Row {
    metric: String,
    portwarden: String,
    reference: String,
    ratio: String,
    target: String,
    verdict: Verdict,
}

impl Row {
    fn new(
        metric: impl Into<String>,
        portwarden: impl Into<String>,
        reference: impl Into<String>,
        ratio: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
    ) -> Row {
        Row {
            metric: metric.into(),
            portwarden: portwarden.into(),
            reference: reference.into(),
            ratio: ratio.into(),
            target: target.into(),
            verdict,
        }
    }
}

// ---------------------------------------------------------------------------
// Phase: list --json vs ss vs lsof vs netstat2
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Portwarden,
    Ss,
    Lsof,
    Netstat2,
}

/// Returns the median wall time of `list --json` (the TUI phase uses it to
/// know how long the first scan takes).
fn phase_list(
    cfg: &Config,
    fx: &Fixture,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<Duration> {
    let ss = find_in_path("ss");
    let lsof = find_in_path("lsof").filter(|_| cfg.runs_phase(Phase::Lsof));
    let mut tools = vec![Tool::Portwarden];
    if ss.is_some() {
        tools.push(Tool::Ss);
    }
    if lsof.is_some() {
        tools.push(Tool::Lsof);
    }
    tools.push(Tool::Netstat2);

    let mut wall: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    let mut cpu: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    let (mut r_ss, mut r_lsof, mut r_ns2) = (Vec::new(), Vec::new(), Vec::new());
    let mut agree = 0usize;
    let mut mismatches: BTreeSet<String> = BTreeSet::new();
    let mut sizes = (0usize, 0usize);
    let mut fixture_seen = true;

    for run in 0..cfg.runs {
        // Rotate who goes first: each tool takes every position in turn.
        let mut order = tools.clone();
        order.rotate_left(run % tools.len());
        progress(format!("list run {}/{}: {order:?}", run + 1, cfg.runs));
        let mut this: BTreeMap<&'static str, Duration> = BTreeMap::new();
        let mut pw_set = None;
        let mut ss_set = None;
        for tool in order {
            match tool {
                Tool::Portwarden => {
                    let ran = run_capture(
                        Command::new(&cfg.portwarden)
                            .args(["list", "--json"])
                            .stderr(Stdio::inherit()),
                        TOOL_TIMEOUT,
                        false,
                    )?;
                    if !ran.status.success() {
                        bail!("portwarden list --json failed: {}", ran.status);
                    }
                    pw_set = Some(tuples_from_portwarden(&ran.out)?);
                    this.insert("portwarden", ran.wall);
                    cpu.entry("portwarden").or_default().push(ran.cpu);
                }
                Tool::Ss => {
                    let Some(ss) = &ss else { continue };
                    let ran = run_capture(
                        Command::new(ss).arg("-ltunpH").stderr(Stdio::null()),
                        TOOL_TIMEOUT,
                        false,
                    )?;
                    if !ran.status.success() {
                        bail!("ss -ltunpH failed: {}", ran.status);
                    }
                    ss_set = Some(tuples_from_ss(&ran.out));
                    this.insert("ss", ran.wall);
                    cpu.entry("ss").or_default().push(ran.cpu);
                }
                Tool::Lsof => {
                    let Some(lsof) = &lsof else { continue };
                    // lsof exits 1 when some selection matched nothing:
                    // its status says nothing about the timing.
                    let ran = run_capture(
                        Command::new(lsof)
                            .args(["-nP", "-iTCP", "-sTCP:LISTEN", "-iUDP"])
                            .stderr(Stdio::null()),
                        TOOL_TIMEOUT,
                        false,
                    )?;
                    this.insert("lsof", ran.wall);
                    cpu.entry("lsof").or_default().push(ran.cpu);
                }
                Tool::Netstat2 => {
                    use netstat2::{AddressFamilyFlags, ProtocolFlags};
                    let t = Instant::now();
                    let v = netstat2::get_sockets_info(
                        AddressFamilyFlags::IPV4 | AddressFamilyFlags::IPV6,
                        ProtocolFlags::TCP | ProtocolFlags::UDP,
                    )
                    .map_err(|e| eyre!("netstat2: {e:?}"))?;
                    this.insert("netstat2", t.elapsed());
                    black_box(v);
                }
            }
        }
        for (k, d) in &this {
            wall.entry(k).or_default().push(*d);
        }
        if let Some(&pw) = this.get("portwarden") {
            let ratio = |k: &str| this.get(k).map(|r| pw.as_secs_f64() / r.as_secs_f64());
            r_ss.extend(ratio("ss"));
            r_lsof.extend(ratio("lsof"));
            r_ns2.extend(ratio("netstat2"));
        }
        if let (Some(p), Some(s)) = (&pw_set, &ss_set) {
            sizes = (p.len(), s.len());
            if p == s {
                agree += 1;
            }
            for t in p.difference(s) {
                mismatches.insert(format!("only portwarden: {} {} pid {}", t.0, t.1, t.2));
            }
            for t in s.difference(p) {
                mismatches.insert(format!("only ss: {} {} pid {}", t.0, t.1, t.2));
            }
        }
        if let Some(p) = &pw_set {
            // The fixture itself must be in what portwarden reports.
            fixture_seen &= fx
                .listeners
                .iter()
                .all(|(&port, &pid)| p.contains(&("tcp".to_string(), port, pid)));
        }
    }

    let med = |k: &str| wall.get(k).map(|v| median_ms(v));
    let pw_ms = med("portwarden").unwrap_or(f64::NAN);
    let cpu_med = |k: &str| cpu.get(k).map(|v| median_ms(v));
    match med("ss") {
        Some(ss_ms) => {
            let r = median(&r_ss);
            rows.push(Row::new(
                "cold `list --json` wall vs `ss -ltunpH`",
                format!("{pw_ms:.0} ms"),
                format!("{ss_ms:.0} ms"),
                format!("{r:.3}×"),
                format!("≤ {TARGET_LIST_VS_SS}×"),
                Verdict::judge(r <= TARGET_LIST_VS_SS),
            ));
            // Other programs on the machine (a test suite, a cron job) open
            // and close sockets between two tool runs. When a run disagreed,
            // decide with ss → portwarden → ss back to back: portwarden must
            // show every tuple both ss runs saw, and nothing neither saw.
            let stable = if agree == cfg.runs {
                None
            } else {
                let ss = ss.as_deref().ok_or_else(|| eyre!("ss vanished"))?;
                Some(stable_set_check(cfg, ss)?)
            };
            let ok = fixture_seen && stable.as_ref().is_none_or(Vec::is_empty);
            let mut ratio = format!("{agree}/{} runs equal", cfg.runs);
            if let Some(st) = &stable {
                ratio.push_str(if st.is_empty() {
                    "; ss→pw→ss recheck equal"
                } else {
                    "; ss→pw→ss recheck differs"
                });
            }
            rows.push(Row::new(
                "(proto, port, pid) set vs `ss`",
                format!("{} tuples", sizes.0),
                format!("{} tuples", sizes.1),
                ratio,
                "same set",
                Verdict::judge(ok),
            ));
            if !mismatches.is_empty() {
                let shown: Vec<String> = mismatches.iter().take(12).cloned().collect();
                notes.push(format!(
                    "Set differences seen in the timed runs ({} distinct; {}): {}{}",
                    mismatches.len(),
                    if ok {
                        "sockets of other programs that came and went between the two tools' runs: the back-to-back recheck agreed"
                    } else {
                        "the back-to-back recheck confirmed a difference"
                    },
                    shown.join("; "),
                    if mismatches.len() > 12 { "; …" } else { "" }
                ));
            }
            if let Some(st) = stable.filter(|s| !s.is_empty()) {
                notes.push(format!("Confirmed differences vs ss: {}", st.join("; ")));
            }
            if !fixture_seen {
                notes.push(
                    "portwarden's list did not show every fixture listener with its pid."
                        .to_string(),
                );
            }
        }
        None => rows.push(Row::new(
            "cold `list --json` wall vs `ss -ltunpH`",
            format!("{pw_ms:.0} ms"),
            "ss not installed",
            "—",
            format!("≤ {TARGET_LIST_VS_SS}×"),
            Verdict::Pending,
        )),
    }
    if let Some(l) = med("lsof") {
        let r = median(&r_lsof);
        rows.push(Row::new(
            "cold `list --json` wall vs `lsof -nP -iTCP -sTCP:LISTEN -iUDP`",
            format!("{pw_ms:.0} ms"),
            format!("{l:.0} ms"),
            format!("{r:.2}×"),
            "—",
            Verdict::Info,
        ));
    }
    if let Some(n) = med("netstat2") {
        let r = median(&r_ns2);
        rows.push(Row::new(
            "cold `list --json` wall vs netstat2 `get_sockets_info` (in-process, TCP+UDP, v4+v6, with pids)",
            format!("{pw_ms:.0} ms"),
            format!("{n:.0} ms"),
            format!("{r:.2}×"),
            "—",
            Verdict::Info,
        ));
    }
    let mut cpu_note = format!(
        "`list` CPU (user+sys, median, 10 ms ticks): portwarden {:.0} ms",
        cpu_med("portwarden").unwrap_or(f64::NAN)
    );
    for k in ["ss", "lsof"] {
        if let Some(c) = cpu_med(k) {
            let _ = write!(cpu_note, ", {k} {c:.0} ms");
        }
    }
    cpu_note.push_str(". Wall times are medians; ratios are medians of per-run ratios, run order rotated every run.");
    notes.push(cpu_note);
    Ok(Duration::from_secs_f64(pw_ms / 1000.0))
}

// ---------------------------------------------------------------------------
// Phase: peak RSS
// ---------------------------------------------------------------------------

fn phase_rss(cfg: &Config, rows: &mut Vec<Row>, notes: &mut Vec<String>) -> Result<()> {
    progress("peak RSS of list --json…");
    let mut peak = 0u64;
    for _ in 0..3 {
        let ran = run_capture(
            Command::new(&cfg.portwarden)
                .args(["list", "--json"])
                .stderr(Stdio::inherit()),
            TOOL_TIMEOUT,
            true,
        )?;
        if !ran.status.success() {
            bail!("portwarden list --json failed: {}", ran.status);
        }
        peak = peak.max(ran.hwm_kb.unwrap_or(0));
    }
    let reference = match find_in_path("ss") {
        Some(ss) => {
            let ran = run_capture(
                Command::new(ss).arg("-ltunpH").stderr(Stdio::null()),
                TOOL_TIMEOUT,
                true,
            )?;
            ran.hwm_kb
        }
        None => None,
    };
    let mb = |kb: u64| kb as f64 * 1024.0 / 1e6;
    let pw_mb = mb(peak);
    rows.push(Row::new(
        "peak RSS of `list --json`",
        format!("{pw_mb:.1} MB"),
        reference
            .map(|k| format!("ss {:.1} MB", mb(k)))
            .unwrap_or_else(|| "—".into()),
        reference
            .filter(|&k| k > 0)
            .map(|k| format!("{:.1}×", peak as f64 / k as f64))
            .unwrap_or_else(|| "—".into()),
        format!("≤ {TARGET_RSS_MB:.0} MB"),
        if peak == 0 {
            Verdict::Pending
        } else {
            Verdict::judge(pw_mb <= TARGET_RSS_MB)
        },
    ));
    // A second opinion from wait4's ru_maxrss, when GNU time is installed.
    if Path::new("/usr/bin/time").is_file() {
        let tmp = tempfile::NamedTempFile::new()?;
        let ran = run_capture(
            Command::new("/usr/bin/time")
                .arg("-f")
                .arg("%M")
                .arg("-o")
                .arg(tmp.path())
                .arg(&cfg.portwarden)
                .args(["list", "--json"])
                .stderr(Stdio::inherit()),
            TOOL_TIMEOUT,
            false,
        )?;
        let maxrss = std::fs::read_to_string(tmp.path())
            .ok()
            .and_then(|s| s.lines().last().and_then(|l| l.trim().parse::<u64>().ok()));
        if ran.status.success()
            && let Some(k) = maxrss
        {
            notes.push(format!(
                "Peak RSS is VmHWM sampled while `list` blocks on a one-page stdout pipe (max of 3 runs); \
                 cross-check with GNU time's ru_maxrss: {:.1} MB.",
                mb(k)
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Phase: in-process scan, cold vs steady-state refresh
// ---------------------------------------------------------------------------

fn phase_scan(cfg: &Config, rows: &mut Vec<Row>, notes: &mut Vec<String>) -> Result<()> {
    let opts = Options::default();
    // Cold: a fresh Scanner each time (no netlink socket, no caches).
    let cold_runs = cfg.runs.max(5);
    progress(format!("{cold_runs} cold in-process scans…"));
    let mut cold_wall = Vec::new();
    let c0 = self_cpu_ticks()?;
    for _ in 0..cold_runs {
        let t = Instant::now();
        let snap = Scanner::new().scan(&opts)?;
        cold_wall.push(t.elapsed());
        black_box(snap);
    }
    let cold_cpu = ticks(self_cpu_ticks()? - c0).as_secs_f64() * 1000.0 / cold_runs as f64;

    // Steady state: one Scanner; its first scan is cold and not counted.
    progress(format!("{} steady-state refreshes…", cfg.refreshes));
    let mut sc = Scanner::new();
    black_box(sc.scan(&opts)?);
    let mut steady_wall = Vec::new();
    // Wall per kind of refresh (full rescan vs incremental): per-scan CPU is
    // below the 10 ms tick, wall is not.
    let (mut full_wall, mut inc_wall, mut inc_walks) = (Vec::new(), Vec::new(), Vec::new());
    let s0 = self_cpu_ticks()?;
    for _ in 0..cfg.refreshes {
        let t = Instant::now();
        let snap = sc.scan(&opts)?;
        let wall = t.elapsed();
        steady_wall.push(wall);
        let kind = sc.last_scan();
        if kind.full {
            full_wall.push(wall);
        } else {
            inc_wall.push(wall);
            inc_walks.push(kind.fd_walks as f64);
        }
        black_box(snap);
    }
    let steady_cpu = ticks(self_cpu_ticks()? - s0).as_secs_f64() * 1000.0 / cfg.refreshes as f64;
    let ratio = steady_cpu / cold_cpu;
    // Two readings of a 10 ms tick counter, spread over the refreshes.
    let res = 2000.0 / portwarden::os::clk_tck() as f64 / cfg.refreshes as f64;
    rows.push(Row::new(
        format!(
            "steady-state refresh CPU (same `Scanner`, library default `full_every = {}`) vs cold scan (fresh `Scanner`)",
            sc.full_every
        ),
        format!("{steady_cpu:.1} ms ±{res:.1}"),
        format!("{cold_cpu:.1} ms"),
        format!("{:.1} %", ratio * 100.0),
        format!("≤ {:.0} %", TARGET_STEADY_VS_COLD * 100.0),
        Verdict::judge(ratio <= TARGET_STEADY_VS_COLD),
    ));

    // The two parts of that figure, so the cost of the periodic full rescan
    // can be weighed: the same refreshes with full rescans switched off.
    let mut inc = Scanner::new();
    inc.full_every = u32::MAX;
    black_box(inc.scan(&opts)?);
    let i0 = self_cpu_ticks()?;
    for _ in 0..cfg.refreshes {
        black_box(inc.scan(&opts)?);
    }
    let inc_cpu = ticks(self_cpu_ticks()? - i0).as_secs_f64() * 1000.0 / cfg.refreshes as f64;
    rows.push(Row::new(
        "incremental-only refresh CPU (`full_every = u32::MAX`) vs cold scan",
        format!("{inc_cpu:.1} ms ±{res:.1}"),
        format!("{cold_cpu:.1} ms"),
        format!("{:.1} %", inc_cpu / cold_cpu * 100.0),
        "—",
        Verdict::Info,
    ));
    notes.push(format!(
        "In-process scan: cold wall median {:.1} ms over {cold_runs} (CPU {cold_cpu:.1} ms: the fd walk runs on every core). \
         Of {} steady refreshes, {} were full rescans (wall median {:.1} ms) and {} incremental (wall median {:.2} ms, median {:.0} fd walks). \
         CPU figures are the mean user+sys per scan from /proc/self/stat ticks over all scans of a kind, so periodic full rescans are amortised; \
         resolution ±{:.1} ms per refresh (two 10 ms tick readings over all refreshes).",
        median_ms(&cold_wall),
        cfg.refreshes,
        full_wall.len(),
        median_ms(&full_wall),
        inc_wall.len(),
        median_ms(&inc_wall),
        median(&inc_walks),
        res
    ));

    // An incremental scanner must still be right: same answer as a cold
    // scan, sees a new listener and forgets a closed one.
    progress("steady-state correctness (new listener, closed listener)…");
    let mut problems = Vec::new();
    if let Some(diff) = refresh_vs_cold(&mut sc, &opts)? {
        problems.push(diff);
    }
    let mut h = spawn_holder(cfg, false)?;
    let (port, pid) = (h.port, h.proc.id() as i32);
    let snap = sc.scan(&opts)?;
    if !snap
        .sockets_on(port, Some(Proto::Tcp))
        .any(|s| s.holders == [pid])
    {
        problems.push(format!("a new listener :{port} (pid {pid}) was not seen"));
    }
    h.proc.kill_and_reap()?;
    drop(h);
    let snap = sc.scan(&opts)?;
    if snap.sockets_on(port, Some(Proto::Tcp)).next().is_some() {
        problems.push(format!("closed listener :{port} still reported"));
    }
    if snap.process(pid).is_some() {
        problems.push(format!("exited pid {pid} still in the process table"));
    }
    rows.push(Row::new(
        "steady-state refresh result = cold scan; sees new/closed listeners",
        if problems.is_empty() { "yes" } else { "no" },
        "—",
        "—",
        "same result",
        Verdict::judge(problems.is_empty()),
    ));
    if !problems.is_empty() {
        notes.push(format!(
            "Steady-state correctness: {}.",
            problems.join("; ")
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Phase: project lookup and connection counts (issue 13)
// ---------------------------------------------------------------------------

/// Mean CPU (ms) per scan of `n` scans, after one uncounted scan when
/// `warm`; each with `Scanner::context` set to `context`. Cold (`!warm`)
/// uses a fresh Scanner per scan.
fn scan_cpu(opts: &Options, n: usize, warm: bool, context: bool) -> Result<f64> {
    let fresh = || {
        let mut sc = Scanner::new();
        sc.context = context;
        sc
    };
    let mut sc = fresh();
    if warm {
        black_box(sc.scan(opts)?);
    }
    let t0 = self_cpu_ticks()?;
    for _ in 0..n {
        if !warm {
            sc = fresh();
        }
        black_box(sc.scan(opts)?);
    }
    Ok(ticks(self_cpu_ticks()? - t0).as_secs_f64() * 1000.0 / n as f64)
}

/// The same scans with and without the project/connection context, while
/// one loopback client per fixture listener (held by the bench) gives the
/// connection matching and client lookup real work.
fn phase_context(
    cfg: &Config,
    fixture: &Fixture,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let clients: Vec<std::net::TcpStream> = fixture
        .listeners
        .keys()
        .filter_map(|&p| std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, p)).ok())
        .collect();
    let opts = Options::default();
    let runs = cfg.runs.max(5);
    progress(format!(
        "context: {runs} cold scans and {} refreshes, with and without project + connections ({} clients)…",
        cfg.refreshes,
        clients.len()
    ));
    let snap = Scanner::new().scan(&opts)?;
    let counted: u32 = snap.connections.values().map(|c| c.established).sum();
    let named = snap
        .connections
        .values()
        .flat_map(|c| &c.clients)
        .filter(|c| c.pid == Some(std::process::id() as i32))
        .count();
    let projects = snap
        .contexts
        .values()
        .filter(|c| c.project.is_some())
        .count();
    let (cold_on, cold_off) = (
        scan_cpu(&opts, runs, false, true)?,
        scan_cpu(&opts, runs, false, false)?,
    );
    let (inc_on, inc_off) = (
        scan_cpu(&opts, cfg.refreshes, true, true)?,
        scan_cpu(&opts, cfg.refreshes, true, false)?,
    );
    let res = 2000.0 / portwarden::os::clk_tck() as f64 / cfg.refreshes as f64;
    rows.push(Row::new(
        "cold scan CPU with project + connections vs without (`Scanner::context`)",
        format!("{cold_on:.1} ms"),
        format!("{cold_off:.1} ms"),
        format!("{:+.1} %", (cold_on / cold_off - 1.0) * 100.0),
        "—",
        Verdict::Info,
    ));
    rows.push(Row::new(
        "steady refresh CPU with project + connections vs without",
        format!("{inc_on:.1} ms ±{res:.1}"),
        format!("{inc_off:.1} ms ±{res:.1}"),
        format!("{:+.1} ms", inc_on - inc_off),
        "—",
        Verdict::Info,
    ));
    notes.push(format!(
        "Context phase: {} loopback clients held by the bench (one per fixture listener); the scan counted {counted} established connections on TCP listeners and named the bench as the client of {named}; {projects} holders had a project (the fixture runs in the bench's cwd). CPU is the mean user+sys per scan ({runs} cold scans, {} refreshes after a warm-up, library default full rescans included).",
        clients.len(),
        cfg.refreshes
    ));
    drop(clients);
    Ok(())
}

/// Does a refresh of `sc` agree with cold scans? Other programs may open
/// and close sockets meanwhile, so each round is cold → refresh → cold
/// back to back: the refresh must show what both cold scans saw and nothing
/// neither saw. Up to three rounds; `Some(description)` when all differ.
fn refresh_vs_cold(sc: &mut Scanner, opts: &Options) -> Result<Option<String>> {
    let mut last = None;
    for _ in 0..3 {
        let a = tuples_from_snapshot(&Scanner::new().scan(opts)?);
        let r = tuples_from_snapshot(&sc.scan(opts)?);
        let b = tuples_from_snapshot(&Scanner::new().scan(opts)?);
        let missed: Vec<String> = a
            .intersection(&b)
            .filter(|t| !r.contains(*t))
            .map(|t| format!("{} {} pid {}", t.0, t.1, t.2))
            .collect();
        let extra: Vec<String> = r
            .iter()
            .filter(|t| !a.contains(*t) && !b.contains(*t))
            .map(|t| format!("{} {} pid {}", t.0, t.1, t.2))
            .collect();
        if missed.is_empty() && extra.is_empty() {
            return Ok(None);
        }
        last = Some(format!(
            "a refresh missed {} tuples two cold scans around it saw ({}) and showed {} neither saw ({})",
            missed.len(),
            missed
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            extra.len(),
            extra.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(last)
}

// ---------------------------------------------------------------------------
// Phase: kill → port free
// ---------------------------------------------------------------------------

struct KillSample {
    /// From execute's start to the port observed free (its own report).
    port_free_after: Duration,
    /// From the holder's exit (our pidfd) to the moment execute saw the port
    /// free, i.e. `port_free_after` put on our clock. execute's start is
    /// not visible from outside; the first `Signalled` progress event comes
    /// a few µs after it, so this errs on the late side.
    free_after_exit: Duration,
    /// From the holder's exit to execute returning (it may keep watching
    /// the port for a respawn after seeing it free).
    returned_after_exit: Duration,
    /// From the first signal to the holder's exit.
    exit_after_signal: Duration,
}

fn kill_once(cfg: &Config, ignore_term: bool) -> Result<KillSample> {
    let holder = spawn_holder(cfg, ignore_term)?;
    let pid = holder.proc.id();
    // Observe the exit independently of execute: a pidfd is readable once
    // the process is dead, without reaping it (reaping it ourselves would
    // race with execute's /proc checks and pidfds).
    let pfd = pidfd(pid)?;
    let watcher = thread::spawn(move || -> Option<Instant> {
        match wait_readable(pfd.as_fd(), Instant::now() + Duration::from_secs(20)) {
            Ok(true) => Some(Instant::now()),
            _ => None,
        }
    });

    let snap = Scanner::new().scan(&Options::default())?;
    let ctx = Context::current();
    // force: inside a container every process looks "managed"; the bench
    // measures latency, not policy.
    let policy = Policy {
        allow_live: true,
        force: true,
        grace: Duration::from_millis(300),
        ..Policy::default()
    };
    let spec = PortSpec {
        proto: Some(Proto::Tcp),
        port: holder.port,
    };
    let plan = plan_ports(&snap, &ctx, &[spec], &policy);
    if plan.is_refused() {
        let why: Vec<&str> = plan.refusals.iter().map(|r| r.reason.as_str()).collect();
        bail!("kill plan refused: {}", why.join("; "));
    }
    if plan.pids() != [pid as i32] {
        bail!(
            "kill plan targets {:?}, expected only the holder {pid}",
            plan.pids()
        );
    }
    let mut first_signal: Option<Instant> = None;
    let report = execute(&plan, &mut |p| {
        if matches!(p, Progress::Signalled { .. }) && first_signal.is_none() {
            first_signal = Some(Instant::now());
        }
    });
    let returned = Instant::now();
    let exited = watcher
        .join()
        .map_err(|_| eyre!("exit watcher panicked"))?
        .ok_or_else(|| eyre!("holder {pid} did not exit within 20 s"))?;
    if !report.success() {
        bail!("kill did not succeed: {}", report.summary());
    }
    let port_free_after = report
        .port_free_after
        .ok_or_else(|| eyre!("report has no port_free_after"))?;
    let signalled = first_signal.ok_or_else(|| eyre!("no signal was reported"))?;
    let mut holder = holder;
    holder.proc.kill_and_reap()?;
    Ok(KillSample {
        port_free_after,
        free_after_exit: (signalled + port_free_after).saturating_duration_since(exited),
        returned_after_exit: returned.saturating_duration_since(exited),
        exit_after_signal: exited.saturating_duration_since(signalled),
    })
}

fn phase_kill(cfg: &Config, rows: &mut Vec<Row>, notes: &mut Vec<String>) -> Result<()> {
    for (ignore_term, label) in [(false, "SIGTERM honoured"), (true, "SIGTERM ignored")] {
        progress(format!("{} kill runs, {label}…", cfg.kill_runs));
        let mut s = Vec::new();
        for _ in 0..cfg.kill_runs {
            s.push(kill_once(cfg, ignore_term)?);
        }
        let pfa: Vec<Duration> = s.iter().map(|k| k.port_free_after).collect();
        let fae: Vec<Duration> = s.iter().map(|k| k.free_after_exit).collect();
        let eas: Vec<Duration> = s.iter().map(|k| k.exit_after_signal).collect();
        let rae: Vec<Duration> = s.iter().map(|k| k.returned_after_exit).collect();
        let m = median_ms(&fae);
        let worst = fae.iter().max().copied().unwrap_or_default();
        rows.push(Row::new(
            format!("kill → port free after the holder's exit ({label})"),
            format!("{m:.1} ms (max {:.1})", ms(worst)),
            format!("port_free_after {:.1} ms", median_ms(&pfa)),
            "—",
            format!("≤ {TARGET_KILL_FREE_MS:.0} ms"),
            Verdict::judge(m <= TARGET_KILL_FREE_MS),
        ));
        notes.push(format!(
            "Kill ({label}, {} runs, grace 300 ms): the holder's exit, seen by the bench's own pidfd, came {:.1} ms after the first signal (median); \
             \"after exit\" is exit → the moment `execute` saw the port free (its `port_free_after` on the bench's clock, anchored at the first signal); \
             `execute` itself returned {:.1} ms after the exit (median; it keeps watching the port for a respawn).",
            cfg.kill_runs,
            median_ms(&eas),
            median_ms(&rae)
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Phase: TUI idle CPU
// ---------------------------------------------------------------------------

fn tmux(sock: &str) -> Command {
    let mut c = clean_command("tmux");
    c.args(["-L", sock, "-f", "/dev/null"]);
    c
}

/// Kill the tmux server on `sock` and remove its socket file (tmux leaves it
/// behind when the server is killed).
fn kill_tmux_server(sock: &str) {
    stop_tmux_server(sock);
    let dir = std::env::var_os("TMUX_TMPDIR").unwrap_or_else(|| "/tmp".into());
    let uid = rustix::process::getuid().as_raw();
    let _ = std::fs::remove_file(Path::new(&dir).join(format!("tmux-{uid}")).join(sock));
}

fn stop_tmux_server(sock: &str) {
    let Ok(mut child) = tmux(sock)
        .arg("kill-server")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The tmux server of the TUI phase: killed on drop (and by the signal
/// thread, which finds it in the registry).
struct TmuxServer {
    sock: String,
    /// pidfd of the pane's process, once known: kill-server only sends it
    /// SIGHUP, so drop waits for it and SIGKILLs it if it lingers.
    pane: Option<OwnedFd>,
}

impl TmuxServer {
    fn start(sock: String, program: &Path) -> Result<TmuxServer> {
        registry().tmux.push(sock.clone());
        let server = TmuxServer { sock, pane: None };
        // Several arguments: tmux runs them without a shell; `sh -c exec`
        // makes the pane's pid portwarden's own.
        let ran = run_capture(
            tmux(&server.sock)
                .args(["new-session", "-d", "-x", "80", "-y", "24", "-s", "pw"])
                .args(["sh", "-c", "exec \"$0\""])
                .arg(program)
                .stderr(Stdio::inherit()),
            Duration::from_secs(10),
            false,
        )?;
        if !ran.status.success() {
            bail!("tmux new-session failed: {}", ran.status);
        }
        Ok(server)
    }

    fn pane_pid(&self) -> Result<Option<u32>> {
        let ran = run_capture(
            tmux(&self.sock)
                .args(["list-panes", "-t", "pw", "-F", "#{pane_pid}"])
                .stderr(Stdio::null()),
            Duration::from_secs(10),
            false,
        )?;
        Ok(String::from_utf8_lossy(&ran.out).trim().parse().ok())
    }
}

impl Drop for TmuxServer {
    fn drop(&mut self) {
        kill_tmux_server(&self.sock);
        if let Some(fd) = &self.pane
            && !matches!(
                wait_readable(fd.as_fd(), Instant::now() + Duration::from_secs(3)),
                Ok(true)
            )
        {
            let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
        }
        registry().tmux.retain(|s| s != &self.sock);
    }
}

fn is_portwarden(pid: u32) -> bool {
    read_trimmed(&format!("/proc/{pid}/comm")).is_some_and(|c| c == "portwarden")
}

fn phase_tui(
    cfg: &Config,
    list_wall: Option<Duration>,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let metric = "TUI idle CPU at the default interval (80×24 tmux)";
    let target = format!("≤ {TARGET_TUI_IDLE_PCT:.0} % of a core");
    if find_in_path("tmux").is_none() {
        rows.push(Row::new(
            metric,
            "tmux not installed",
            "—",
            "—",
            target,
            Verdict::Pending,
        ));
        return Ok(());
    }
    progress(format!("TUI idle: {} s under tmux…", cfg.tui_secs));
    let mut server = TmuxServer::start(
        format!("portwarden-bench-{}", std::process::id()),
        &cfg.portwarden,
    )?;
    // Let the first (cold) scan finish before the window opens.
    let settle = Duration::from_secs(3).max(list_wall.unwrap_or_default() * 3);
    let pane = server.pane_pid()?;
    server.pane = pane.and_then(|p| pidfd(p).ok());
    thread::sleep(settle);
    let pending = |why: &str, rows: &mut Vec<Row>| {
        rows.push(Row::new(
            metric,
            why,
            "—",
            "—",
            target.clone(),
            Verdict::Pending,
        ));
    };
    let Some(pid) = pane.filter(|&p| is_portwarden(p)) else {
        pending(
            "pending: `portwarden` with no arguments exited (no TUI yet)",
            rows,
        );
        notes.push("TUI: `portwarden` without arguments did not stay running under tmux (it printed the list and exited), so its idle CPU is pending until the TUI is merged.".into());
        return Ok(());
    };
    let who = pid.to_string();
    let (Some(c0), t0) = (stat_sum(&who, &[14, 15]), Instant::now()) else {
        pending("pending: TUI exited", rows);
        return Ok(());
    };
    thread::sleep(Duration::from_secs(cfg.tui_secs));
    let c1 = stat_sum(&who, &[14, 15]).filter(|_| is_portwarden(pid));
    let window = t0.elapsed();
    drop(server);
    let Some(c1) = c1 else {
        pending("pending: TUI exited during the window", rows);
        return Ok(());
    };
    let pct = ticks(c1.saturating_sub(c0)).as_secs_f64() / window.as_secs_f64() * 100.0;
    rows.push(Row::new(
        metric,
        format!("{pct:.2} %"),
        "—",
        "—",
        target,
        Verdict::judge(pct <= TARGET_TUI_IDLE_PCT),
    ));
    notes.push(format!(
        "TUI: utime+stime of the pane's portwarden over {:.1} s after a {:.1} s settle; resolution {:.2} %.",
        window.as_secs_f64(),
        settle.as_secs_f64(),
        100.0 / portwarden::os::clk_tck() as f64 / window.as_secs_f64()
    ));
    Ok(())
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

/// `YYYY-MM-DD HH:MM UTC`, from the library's own formatter.
fn utc_now() -> String {
    let t = portwarden::timefmt::utc(portwarden::timefmt::now());
    format!("{} UTC", t.get(..16).unwrap_or(&t))
}

fn machine() -> String {
    let cpus = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_ascii_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cpus} × {model}, Linux {kernel}, {mem_gib:.1} GiB RAM")
}

/// The 1-minute load average: a busy machine (a test suite running next to
/// the bench) makes every wall time noisy, so the report says so.
fn load_average() -> String {
    read_trimmed("/proc/loadavg")
        .and_then(|s| s.split_ascii_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn print_report(cfg: &Config, rows: &[Row], notes: &[String]) {
    let mut s = String::new();
    let _ = writeln!(s, "## portwarden benchmark — {}", utc_now());
    let _ = writeln!(s);
    let _ = writeln!(s, "- Machine: {}", machine());
    let _ = writeln!(
        s,
        "- Fixture: {} processes × {} fds, {} listeners; {} runs, {} refreshes, {} kill runs per kind{}",
        cfg.procs,
        cfg.fds,
        cfg.listeners,
        cfg.runs,
        cfg.refreshes,
        cfg.kill_runs,
        if cfg.quick {
            " (--quick: not asserted)"
        } else {
            ""
        }
    );
    let _ = writeln!(s, "- portwarden: {}", cfg.portwarden.display());
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| metric | portwarden | reference | ratio | target | result |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.metric,
            r.portwarden,
            r.reference,
            r.ratio,
            r.target,
            r.verdict.as_str()
        );
    }
    let _ = writeln!(s);
    for n in notes {
        let _ = writeln!(s, "- {n}");
    }
    print!("{s}");
}
