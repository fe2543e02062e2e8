//! The command line and the configuration it resolves to (`--quick`
//! picks the small defaults).

use super::*;

/// Phases that `--skip` can leave out.
#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
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
    /// Idle CPU of the TUI under tmux.
    Tui,
    /// BPF iterator vs /proc walk vs ss at 50 and 400 fds per process (root).
    Bpf,
    /// What project lookup and connection counts add to a scan (issue 13).
    Context,
}

/// portwarden's benchmark (issue #5): builds a loopback fixture of N
/// processes × M fds with K TCP listeners, measures portwarden against ss,
/// lsof and netstat2 side by side, and prints a markdown table.
///
/// Targets are asserted (exit status 1 when one is missed) except with
/// --quick or --no-assert. Progress goes to stderr, the report to stdout.
#[derive(Parser, Debug)]
#[command(name = "scan", bin_name = "cargo bench --bench scan --", version)]
pub(crate) struct Args {
    /// Fixture processes [default: 2000; --quick: 200].
    #[arg(long)]
    pub(crate) procs: Option<usize>,
    /// Open fds per fixture process, besides stdio [default: 50; --quick: 20].
    #[arg(long)]
    pub(crate) fds: Option<usize>,
    /// How many fixture processes also listen on 127.0.0.1:0 [default: 300;
    /// --quick: 30].
    #[arg(long)]
    pub(crate) listeners: Option<usize>,
    /// Timed runs per tool, and cold in-process scans [default: 7; --quick: 3].
    #[arg(long)]
    pub(crate) runs: Option<usize>,
    /// Steady-state refreshes measured with one Scanner [default: 100 (two periodic full rescans at the library default);
    /// --quick: 10].
    #[arg(long)]
    pub(crate) refreshes: Option<usize>,
    /// Kill runs per holder kind (SIGTERM honoured / ignored) [default: 10].
    #[arg(long)]
    pub(crate) kill_runs: Option<usize>,
    /// Seconds of TUI idle measured [default: 20; --quick: 5].
    #[arg(long)]
    pub(crate) tui_secs: Option<u64>,
    /// Small fixture and few runs: a smoke test that finishes in < 30 s.
    /// Numbers are printed but targets are not asserted.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Put every fixture child in the bench's own process group (one huge
    /// group) instead of one group each.
    #[arg(long)]
    pub(crate) shared_group: bool,
    /// The portwarden binary [default: the one cargo built for this bench,
    /// else target/release/portwarden next to this bench].
    #[arg(long)]
    pub(crate) portwarden: Option<PathBuf>,
    /// Keep the fixture up this many seconds after the phases (before the
    /// report), e.g. to run `strace -c -f portwarden list --json` or `perf`
    /// against it by hand. Ctrl-C ends the hold and tears the fixture down.
    #[arg(long, value_name = "SECS")]
    pub(crate) hold: Option<u64>,
    /// Leave phases out (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) skip: Vec<Phase>,
    /// Exit 0 even when a target is missed.
    #[arg(long)]
    pub(crate) no_assert: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    pub(crate) bench: bool,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) procs: usize,
    pub(crate) fds: usize,
    pub(crate) listeners: usize,
    pub(crate) runs: usize,
    pub(crate) refreshes: usize,
    pub(crate) kill_runs: usize,
    pub(crate) tui_secs: u64,
    pub(crate) quick: bool,
    pub(crate) shared_group: bool,
    pub(crate) skip: Vec<Phase>,
    pub(crate) hold: Option<u64>,
    pub(crate) assert: bool,
    pub(crate) exe: PathBuf,
    pub(crate) portwarden: PathBuf,
}

impl Config {
    pub(crate) fn from_args(a: Args) -> Result<Self> {
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

    pub(crate) fn runs_phase(&self, p: Phase) -> bool {
        !self.skip.contains(&p)
    }
}

/// Cargo builds the package's binaries for benches and says where
/// (`CARGO_BIN_EXE_<name>`, set for integration tests *and* benchmarks).
/// Without it (bench binary run by hand from elsewhere) fall back to
/// `target/release/portwarden`, i.e. `../portwarden` from `target/release/deps/`.
pub(crate) fn default_portwarden() -> Result<PathBuf> {
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
