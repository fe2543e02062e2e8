//! The command-line face: argument definitions and dispatch.
//!
//! Every subcommand is a thin layer over the library (`discover`, `classify`,
//! `kill`); nothing here reads the system on its own. Output goes through
//! [`Out`], which turns a closed pipe into a quiet exit and escapes nothing:
//! escaping is the job of whoever formats a process-supplied string.

pub mod context;
pub mod fleet;
pub mod json;
pub mod kill;
pub mod list;
pub mod mcp;
pub mod metrics;
pub mod watch;
pub mod why;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

use portwarden::config::Config;
use portwarden::escape::escape;

use portwarden::spec::{PortSpec, parse_duration};

/// Exit codes, shared by every subcommand (a contract for scripts).
pub mod exit {
    /// Success: every named port is free at the end / the condition holds.
    pub const OK: u8 = 0;
    /// Runtime error (e.g. `/proc` unreadable).
    pub const ERROR: u8 = 1;
    /// Usage error (bad port, bad duration, unknown flag).
    pub const USAGE: u8 = 2;
    /// Refused by policy or not confirmed: nothing was signalled.
    pub const REFUSED: u8 = 3;
    /// Signalled, but a target survived or the port is still held; or a
    /// `wait` timed out.
    pub const NOT_FREED: u8 = 4;
}

/// The exit-code table's lines, each written once, for every help text
/// that lists them (`concat!` needs literals, hence a macro, not consts).
macro_rules! exit_help {
    (header) => {
        "Exit codes:\n"
    };
    (0) => {
        "  0  success: kill: every named port is free (also if it was); wait: the condition holds\n"
    };
    (1) => {
        "  1  runtime error\n"
    };
    (2) => {
        "  2  usage error (bad port, duration or flag; broken config file)\n"
    };
    (3) => {
        "  3  refused: policy, --only mismatch or not confirmed; nothing was signalled\n"
    };
    (4) => {
        "  4  signalled but a target survived or the port is still held; wait timed out\n"
    };
    (all) => {
        concat!(
            exit_help!(header),
            exit_help!(0),
            exit_help!(1),
            exit_help!(2),
            exit_help!(3),
            exit_help!(4)
        )
    };
}

/// portwarden: who is holding this port, what kind of holder is it, and how
/// do I free it safely? Run with no subcommand for the interactive TUI.
#[derive(Debug, Parser)]
#[command(
    name = "portwarden",
    version,
    propagate_version = true,
    about = "Who is holding this port, what kind of holder is it, and how do I free it safely?",
    long_about = "Who is holding this port, what kind of holder is it, and how do I free it safely?\n\n\
                  Run with no subcommand for the interactive TUI.",
    after_help = exit_help!(all),
    after_long_help = concat!(
        "Examples:\n",
        "  portwarden                      open the TUI\n",
        "  portwarden list                 every listening socket, classified\n",
        "  portwarden why 3000             who holds :3000 and what kill would do\n",
        "  portwarden kill 3000 --only vite   free :3000 if a vite process holds it\n",
        "  portwarden wait 8080 --listening --timeout 30s\n\n",
        exit_help!(all)
    )
)]
pub struct Cli {
    /// What to do; without one, the interactive TUI opens.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// TUI refresh interval (e.g. 500ms, 2s) [default: 2s, or `interval`
    /// in the config file].
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub interval: Option<Duration>,

    /// TUI: no colours (also when NO_COLOR is set).
    #[arg(long)]
    pub no_color: bool,

    /// Other machines to ask over ssh (`--host`, `--hosts-file`, …).
    #[command(flatten)]
    pub fleet: fleet::FleetArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List listening sockets with their holders and classes.
    #[command(
        after_long_help = "Examples:\n  portwarden list\n  portwarden list 8080 udp:53\n  portwarden list --tcp --json | jq '.sockets[] | select(.holders[].class == \"orphan\") | .port'"
    )]
    List(ListArgs),
    /// Explain who holds a port: class, reasons, parents, group, and what
    /// `kill` would do.
    #[command(after_long_help = "Examples:\n  portwarden why 3000\n  portwarden why udp:5353")]
    Why(WhyArgs),
    /// Free ports by ending their holders' whole process groups, safely.
    #[command(after_long_help = concat!(
        "Examples:\n",
        "  portwarden kill 3000                 show the plan, ask y/N\n",
        "  portwarden kill 3000 --dry-run       show every pid that would be signalled\n",
        "  portwarden kill 3000 --only vite --yes\n",
        "  portwarden kill 8080 --tree --grace 500ms --yes\n\n",
        exit_help!(all)
    ))]
    Kill(KillArgs),
    /// Wait until a port is free or listening.
    #[command(after_long_help = concat!(
        "Examples:\n",
        "  portwarden wait 8080 --free --timeout 10s && ./start-server\n",
        "  portwarden wait 8080 --listening && open http://localhost:8080\n\n",
        exit_help!(header),
        exit_help!(0),
        exit_help!(1),
        exit_help!(2),
        exit_help!(4)
    ))]
    Wait(WaitArgs),
    /// Print the listeners as Prometheus metrics (for node_exporter's
    /// textfile collector, or stdout).
    #[command(after_long_help = concat!(
        "Examples:\n",
        "  portwarden metrics\n",
        "  portwarden metrics --textfile /var/lib/prometheus/node-exporter/portwarden.prom"
    ))]
    Metrics(MetricsArgs),
    /// Serve the Model Context Protocol on stdio, for coding agents
    /// (read-only unless --allow-kill).
    #[command(after_long_help = concat!(
        "Examples:\n",
        "  portwarden mcp\n",
        "  portwarden mcp --allow-kill"
    ))]
    Mcp(McpArgs),
    /// Print one line per change as it is seen: listen, close, holder,
    /// respawn, stuck, unstuck — until interrupted.
    #[command(after_long_help = concat!(
        "Examples:\n",
        "  portwarden watch\n",
        "  portwarden watch 3000 8080 --json --interval 500ms | jq .\n\n",
        "Exit codes:\n",
        "  0  interrupted (SIGINT/SIGTERM)\n",
        "  1  runtime error\n",
        "  2  usage error"
    ))]
    Watch(WatchArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    #[command(
        after_long_help = "Examples:\n  portwarden completions bash > ~/.local/share/bash-completion/completions/portwarden\n  portwarden completions zsh > ~/.zfunc/_portwarden\n  portwarden completions fish > ~/.config/fish/completions/portwarden.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff), or write every page to a directory.
    #[command(
        after_long_help = "Examples:\n  portwarden man | man -l -\n  portwarden man kill | man -l -\n  portwarden man --dir /usr/local/share/man/man1"
    )]
    Man(ManArgs),
    /// Show where the config file is read from, or a commented default.
    #[command(
        after_long_help = "Examples:\n  portwarden config --path\n  mkdir -p ~/.config/portwarden && portwarden config --default > ~/.config/portwarden/config.toml"
    )]
    Config(ConfigArgs),
}

/// `portwarden man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (`portwarden-kill(1)` for
    /// `kill`); without one, the top page `portwarden(1)`.
    #[arg(conflicts_with = "dir")]
    pub subcommand: Option<String>,
    /// Write every page (`portwarden.1`, `portwarden-list.1`, …) into DIR
    /// instead of printing one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// `portwarden config`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["path", "default"])))]
pub struct ConfigArgs {
    /// Print the path the config file is read from.
    #[arg(long)]
    pub path: bool,
    /// Print a commented default config.
    #[arg(long)]
    pub default: bool,
}

/// Protocol filter flags shared by `list`.
#[derive(Debug, Args, Clone, Copy)]
pub struct ProtoArgs {
    /// Only TCP listeners.
    #[arg(long)]
    pub tcp: bool,
    /// Only bound UDP sockets.
    #[arg(long)]
    pub udp: bool,
}

impl ProtoArgs {
    /// Discovery options for these flags; with neither flag, the config's
    /// `protocols` (default both).
    pub fn options(&self, cfg: &Config) -> portwarden::discover::Options {
        if self.tcp == self.udp {
            portwarden::discover::Options::for_proto(cfg.proto)
        } else {
            portwarden::discover::Options {
                tcp: self.tcp,
                udp: self.udp,
            }
        }
    }
}

/// `portwarden list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Ports to show: 8080, :8080, tcp:8080, udp:53 (default: all).
    #[arg(allow_negative_numbers = true)]
    pub ports: Vec<PortSpec>,
    #[command(flatten)]
    /// Protocol filter.
    pub proto: ProtoArgs,
    /// Machine-readable output (schema 1).
    #[arg(long)]
    pub json: bool,
    /// How to find holders: auto (the BPF iterator when root, supported
    /// and worth it; /proc otherwise), bpf (fail if it cannot be used) or
    /// proc.
    #[arg(long, default_value = "auto", value_parser = str::parse::<portwarden::discover::Method>)]
    pub method: portwarden::discover::Method,
    /// Say on stderr which holder finder ran, and why.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Only listeners whose holder's working directory is inside DIR
    /// (`.` works).
    #[arg(long, value_name = "DIR")]
    pub project: Option<std::path::PathBuf>,
}

/// `portwarden why`.
#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The port: 8080, :8080, tcp:8080, udp:53.
    #[arg(allow_negative_numbers = true)]
    pub port: PortSpec,
}

/// `portwarden kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Ports to free: 8080, :8080, tcp:8080, udp:53.
    #[arg(required_unless_present = "project", allow_negative_numbers = true)]
    pub ports: Vec<PortSpec>,
    /// Free every port whose holder's working directory is inside DIR
    /// (`.` works): the same plan, confirmation and policy as ports.
    #[arg(long, value_name = "DIR")]
    pub project: Option<std::path::PathBuf>,
    /// Do not ask; act. Required when stdin is not a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the plan (every pid) and signal nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// First signal to send (TERM, INT, HUP, KILL, … or a number)
    /// [default: TERM, or `signal` in the config file].
    #[arg(long, short = 's', value_parser = portwarden::kill::parse_kill_signal)]
    pub signal: Option<i32>,
    /// How long to wait after the first signal before SIGKILL (500ms, 3s,
    /// 1m) [default: 3s, or `grace` in the config file].
    #[arg(long, short = 'g', value_parser = parse_duration, allow_hyphen_values = true)]
    pub grace: Option<Duration>,
    /// Also end every descendant of the holders, even those that left the
    /// group with setsid/setpgid.
    #[arg(long)]
    pub tree: bool,
    /// Allow killing another user's or a service manager's process.
    #[arg(long)]
    pub force: bool,
    /// Refuse unless every holder's command line contains PATTERN.
    #[arg(long, value_name = "PATTERN")]
    pub only: Option<String>,
    /// Machine-readable plan and report.
    #[arg(long)]
    pub json: bool,
    /// Refuse, signalling nothing, unless the fresh plan's targets are
    /// exactly these pids (what a person confirmed elsewhere, e.g. over
    /// `--host`).
    #[arg(long, value_name = "PID,…", value_delimiter = ',')]
    pub expect_pids: Option<Vec<portwarden::model::Pid>>,
}

/// `portwarden metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Write to this file atomically (temp file + rename) instead of
    /// stdout; name it `*.prom` in node_exporter's textfile directory.
    #[arg(long, value_name = "PATH")]
    pub textfile: Option<std::path::PathBuf>,
}

/// `portwarden mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Offer `free_port` for real (still under the CLI's policy); without
    /// it the server is read-only.
    #[arg(long)]
    pub allow_kill: bool,
}

/// `portwarden wait`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("condition").required(true).args(["free", "listening"])))]
pub struct WaitArgs {
    /// The port: 8080, :8080, tcp:8080, udp:53.
    #[arg(allow_negative_numbers = true)]
    pub port: PortSpec,
    /// Wait until nothing listens on the port.
    #[arg(long)]
    pub free: bool,
    /// Wait until something listens on the port.
    #[arg(long)]
    pub listening: bool,
    /// Give up after this long (exit 4). Default: wait forever.
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub timeout: Option<Duration>,
    /// With --free: also wait until a plain bind() (no SO_REUSEADDR) on
    /// the listener's address would succeed — no connection or TIME_WAIT
    /// left on it.
    #[arg(long, conflicts_with = "listening")]
    pub bindable: bool,
}

/// `portwarden watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Ports to watch: 8080, :8080, tcp:8080, udp:53 (default: all).
    #[arg(allow_negative_numbers = true)]
    pub ports: Vec<PortSpec>,
    /// One JSON object per line (NDJSON, schema 1).
    #[arg(long)]
    pub json: bool,
    /// How often to look (e.g. 500ms, 2s) [default: 1s].
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub interval: Option<Duration>,
    /// A port that listens again this soon after closing, under another
    /// pid, is reported as `respawn` [default: `respawn_watch` in the
    /// config file, else 10s].
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub respawn_watch: Option<Duration>,
}

/// Load the config file, printing its warnings; a broken one is printed
/// and becomes [`CliError::Config`] (exit 2).
fn load_config() -> Result<Config, CliError> {
    let cfg = portwarden::config::load().map_err(CliError::Config)?;
    for w in &cfg.warnings {
        eprintln!("portwarden: warning: {}", escape(w));
    }
    Ok(cfg)
}

/// Run a CLI subcommand and return the process exit code.
pub fn run(cmd: Command) -> color_eyre::Result<ExitCode> {
    let mut out = Out::stdout();
    let code = match cmd {
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "portwarden", &mut buf);
            out.write_str(&String::from_utf8_lossy(&buf))
                .map(|()| exit::OK)
        }
        Command::Man(a) => man(&a, &mut out),
        Command::Config(a) => {
            if a.path {
                match portwarden::config::default_path() {
                    Some(p) => out
                        .line(&escape(&p.display().to_string()))
                        .map(|()| exit::OK),
                    None => {
                        eprintln!("portwarden: neither XDG_CONFIG_HOME nor HOME is set");
                        Ok(exit::ERROR)
                    }
                }
            } else {
                out.write_str(portwarden::config::DEFAULT_CONFIG)
                    .map(|()| exit::OK)
            }
        }
        // `wait` only watches the socket table: nothing in the config applies.
        Command::Wait(a) => kill::run_wait(&a, &mut out),
        Command::List(a) => load_config().and_then(|cfg| list::run(&a, &cfg, &mut out)),
        Command::Why(a) => load_config().and_then(|cfg| why::run(&a, &cfg, &mut out)),
        Command::Kill(a) => load_config().and_then(|cfg| kill::run_kill(&a, &cfg, &mut out)),
        Command::Metrics(a) => load_config().and_then(|cfg| metrics::run(&a, &cfg, &mut out)),
        Command::Mcp(a) => load_config().and_then(|cfg| mcp::run(&a, &cfg)),
        Command::Watch(a) => load_config().and_then(|cfg| watch::run(&a, &cfg, &mut out)),
    };
    Ok(finish(code, &mut out))
}

/// `portwarden man`: one page to stdout, or all of them into a directory.
///
/// Subcommand pages are named as the top page's SEE ALSO names them
/// (`portwarden-kill(1)`), so every reference resolves.
fn man(a: &ManArgs, out: &mut Out) -> Result<u8, CliError> {
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    if let Some(dir) = &a.dir {
        return match clap_mangen::generate_to(top, dir) {
            Ok(()) => Ok(exit::OK),
            Err(e) => {
                let shown = dir.display().to_string();
                let shown = portwarden::escape::escape(&shown);
                eprintln!("portwarden: cannot write man pages to {shown}: {e}");
                Ok(exit::ERROR)
            }
        };
    }
    let page = match &a.subcommand {
        None => top,
        Some(name) => match top.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let names: Vec<&str> = top.get_subcommands().map(|c| c.get_name()).collect();
                eprintln!(
                    "portwarden: no man page for {:?}; pages: {}",
                    portwarden::escape::escape(name),
                    names.join(", ")
                );
                return Ok(exit::USAGE);
            }
        },
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .map_err(CliError::Write)?;
    out.write_str(&String::from_utf8_lossy(&buf))
        .map(|()| exit::OK)
}

/// Open the TUI (no subcommand), with flags over the config file.
pub fn run_tui(interval: Option<Duration>, no_color: bool) -> color_eyre::Result<ExitCode> {
    let cfg = match load_config() {
        Ok(c) => c,
        Err(e) => return Ok(finish(Err(e), &mut Out::stdout())),
    };
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        eprintln!(
            "portwarden: the interactive view needs a terminal; for scripts use `portwarden list` (or --json)"
        );
        return Ok(ExitCode::from(exit::USAGE));
    }
    let defaults = crate::tui::Options::default();
    let opts = crate::tui::Options {
        interval: interval.or(cfg.interval).unwrap_or(defaults.interval),
        color: defaults.color && !no_color && cfg.color != Some(false),
        tcp: cfg.proto != Some(portwarden::model::Proto::Udp),
        udp: cfg.proto != Some(portwarden::model::Proto::Tcp),
        kill: cfg.kill_policy(),
        context: Some(cfg.context()),
    };
    crate::tui::run(opts)?;
    // Ended by SIGTERM/SIGHUP/SIGINT: 128 + n, as shells expect.
    Ok(match crate::tui::exit_signal() {
        Some(n) => ExitCode::from(u8::try_from(128 + n).unwrap_or(exit::ERROR)),
        None => ExitCode::from(exit::OK),
    })
}

/// Turn a subcommand's result into an exit code, printing library errors as
/// one line (they are the user's situation, not a bug: no backtrace).
pub(crate) fn finish(code: Result<u8, CliError>, out: &mut Out) -> ExitCode {
    let code = code.and_then(|c| out.flush().map(|()| c));
    match code {
        Ok(c) => ExitCode::from(c),
        Err(CliError::BrokenPipe) => ExitCode::from(exit::OK),
        Err(CliError::Write(e)) => {
            eprintln!("portwarden: cannot write output: {e}");
            ExitCode::from(exit::ERROR)
        }
        Err(CliError::Lib(e)) => {
            eprintln!("portwarden: {}", escape(&e.to_string()));
            ExitCode::from(exit::ERROR)
        }
        // A config error quotes the file's own text (an unknown key) and
        // its path (from the environment): both outside input.
        Err(CliError::Config(e)) => {
            eprintln!("portwarden: {}", escape(&e));
            ExitCode::from(exit::USAGE)
        }
    }
}

/// Why a subcommand stopped early.
#[derive(Debug)]
pub enum CliError {
    /// stdout was closed (`| head`): stop quietly, exit 0.
    BrokenPipe,
    /// stdout failed otherwise (`> /dev/full`): exit 1 with a message.
    Write(io::Error),
    /// The library could not do its job (e.g. `/proc` unreadable).
    Lib(portwarden::Error),
    /// The config file is broken (the message names file, line and key).
    Config(String),
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Write(e)
        }
    }
}

impl From<portwarden::Error> for CliError {
    fn from(e: portwarden::Error) -> Self {
        CliError::Lib(e)
    }
}

/// Buffered stdout that knows whether it is a terminal and how wide.
pub struct Out {
    w: io::BufWriter<io::Stdout>,
    /// Terminal width when stdout is a terminal.
    pub width: Option<usize>,
}

impl Out {
    /// Wrap the process's stdout.
    pub fn stdout() -> Self {
        let stdout = io::stdout();
        let width = if stdout.is_terminal() {
            crossterm::terminal::size()
                .ok()
                .map(|(w, _)| usize::from(w))
                .filter(|&w| w > 0)
        } else {
            None
        };
        Out {
            w: io::BufWriter::new(stdout),
            width,
        }
    }

    /// Write a string as is.
    pub fn write_str(&mut self, s: &str) -> Result<(), CliError> {
        self.w.write_all(s.as_bytes()).map_err(CliError::from)
    }

    /// Write a line.
    pub fn line(&mut self, s: &str) -> Result<(), CliError> {
        self.write_str(s)?;
        self.write_str("\n")
    }

    /// Flush buffered output.
    pub fn flush(&mut self) -> Result<(), CliError> {
        self.w.flush().map_err(CliError::from)
    }
}

/// Are we talking to a person (stdin and stderr both terminals)?
pub fn interactive() -> bool {
    io::stdin().is_terminal() && io::stderr().is_terminal()
}
