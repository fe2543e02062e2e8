//! The interactive TUI (`portwarden` with no arguments).
//!
//! Elm-style, so the dangerous parts are testable without a terminal:
//! [`state`] is plain data, [`update()`] turns messages ([`msg`]) into state
//! changes and effects, dispatching keys through the binding tables of
//! [`keys`] (which also write the help and the key bar), [`render`] draws a
//! state, and [`effects`] is the one place that talks to the kill module.
//! Modules depend one way only: `msg` and `context` on nothing of the TUI,
//! `state` on them, `keys` on `state`, `effects` on `msg` and `state`,
//! `update` and `render` on `msg`, `state` and `keys`. This file is the only impure part: the
//! terminal guard and one event loop that merges everything that can
//! happen — keys, mouse, resizes, ticks, snapshots from the collection
//! thread, kill progress from the kill worker, SIGTERM/SIGHUP — through a
//! single channel, so nothing slow ever blocks a key press.
//!
//! The terminal is restored on every way out: normal quit, an error (the
//! guard's `Drop`), a panic (a hook that restores, then chains to
//! color-eyre's) and SIGTERM/SIGHUP/SIGINT (blocked and collected by a
//! `sigwait` thread, which asks the loop to quit cleanly; the exit status is
//! then 128 + the signal, as shells expect).
//!
//! Job control works as in htop or vim: Ctrl-Z (a key in raw mode) or a
//! SIGTSTP from outside leaves raw mode and the alternate screen, then stops
//! the process; SIGCONT (`fg`) enters both again and redraws everything — a
//! shell that took the terminal back in the meantime left it cooked.

pub mod context;
pub mod effects;
pub mod fleet;
pub mod keys;
pub mod msg;
pub mod render;
pub mod state;
pub mod update;

#[cfg(test)]
mod fixture;

use std::collections::VecDeque;
use std::io::{self, Stdout, stdout};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use color_eyre::eyre::WrapErr;
use crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyCode, KeyEventKind, KeyModifiers,
};
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use nix::sys::signal::{SigSet, Signal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use portwarden::classify::Context;
use portwarden::discover::{self, Scanner};
use portwarden::os::procfs;

use msg::{Effect, Msg};
use state::App;
use update::update;

/// How the TUI runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Time between automatic refreshes (default 2 s).
    pub interval: Duration,
    /// Use colours; false when `NO_COLOR` is set.
    pub color: bool,
    /// Show TCP listeners.
    pub tcp: bool,
    /// Show bound UDP sockets.
    pub udp: bool,
    /// The policy kills start from (signal, grace); the TUI adds consent
    /// for live holders and, on request, force.
    pub kill: portwarden::kill::Policy,
    /// Who is asking; `None` reads it from this process
    /// ([`Context::current`]).
    pub context: Option<Context>,
}

impl Default for Options {
    /// Refresh every 2 s, both protocols, colours unless `NO_COLOR` is set
    /// to a non-empty value.
    fn default() -> Self {
        Options {
            interval: Duration::from_secs(2),
            color: !no_color(),
            tcp: true,
            udp: true,
            kill: portwarden::kill::Policy::default(),
            context: None,
        }
    }
}

/// Whether the `NO_COLOR` convention asks for no colours.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether the terminal is currently in TUI mode (so restoring twice, from
/// the guard and the panic hook, is harmless).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The signal that ended the TUI (SIGTERM, SIGHUP, SIGINT), 0 if none.
static EXIT_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// A SIGTSTP arrived: the loop should suspend.
static SUSPEND: AtomicBool = AtomicBool::new(false);
/// A SIGCONT arrived: the loop should take the terminal back and redraw.
static RESUMED: AtomicBool = AtomicBool::new(false);

/// The signal that ended the last [`run`], if one did: the caller exits
/// with 128 + it.
pub fn exit_signal() -> Option<i32> {
    Some(EXIT_SIGNAL.load(Ordering::SeqCst)).filter(|&s| s > 0)
}

/// Leave raw mode, the alternate screen and mouse capture; show the cursor.
fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(
            stdout(),
            DisableMouseCapture,
            LeaveAlternateScreen,
            cursor::Show
        );
        let _ = disable_raw_mode();
    }
}

/// Puts the terminal into TUI mode and restores it when dropped (on quit,
/// on `?` errors and during unwinding).
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let guard = TerminalGuard;
        execute!(
            stdout(),
            EnterAlternateScreen,
            EnableMouseCapture,
            cursor::Hide
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Restore the terminal before any panic message is printed, then let the
/// previous hook (color-eyre's) report it.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

/// The signals the `sigwait` thread takes: those that end the TUI cleanly
/// (Ctrl-C arrives as a key in raw mode; SIGINT is here for `kill -INT`),
/// and the job-control pair. Blocking SIGCONT does not stop it from
/// continuing the process; it only lets the thread see that it happened.
fn exit_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGHUP);
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTSTP);
    set.add(Signal::SIGCONT);
    set
}

/// Give the terminal back (cooked, main screen, cursor shown), then stop
/// the process (SIGSTOP: SIGTSTP is blocked here, and a stop must not be
/// discarded in an orphaned process group). Returns after SIGCONT, having
/// taken the terminal again.
fn suspend(terminal: &mut Terminal<CrosstermBackend<Stdout>>) -> io::Result<()> {
    restore_terminal();
    let _ = nix::sys::signal::raise(Signal::SIGSTOP);
    resume(terminal)
}

/// Enter raw mode and the alternate screen again and make the next draw
/// repaint every cell: after a stop, whatever the shell did to the
/// terminal is undone.
fn resume(terminal: &mut Terminal<CrosstermBackend<Stdout>>) -> io::Result<()> {
    RESUMED.store(false, Ordering::SeqCst);
    // crossterm skips enabling raw mode when it thinks it is on; the shell
    // may have turned it off behind its back.
    let _ = disable_raw_mode();
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    execute!(
        stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        cursor::Hide,
        Clear(ClearType::All)
    )?;
    // Both buffers blank: the next draw writes every non-blank cell.
    terminal.swap_buffers();
    Ok(())
}

/// Ctrl-Z, which raw mode delivers as a key instead of a SIGTSTP.
fn is_suspend_key(msg: &Msg) -> bool {
    matches!(msg, Msg::Key(k) if k.code == KeyCode::Char('z')
        && k.modifiers.contains(KeyModifiers::CONTROL)
        && k.kind == KeyEventKind::Press)
}

/// Run the TUI until the user quits. Blocks; restores the terminal on every
/// way out.
pub fn run(opts: Options) -> color_eyre::Result<()> {
    // Already installed by main is fine; we only need it to be there so
    // the panic hook below chains to it.
    let _ = color_eyre::install();

    // Block the exit signals before any thread exists, so every thread
    // inherits the mask and only the sigwait thread ever sees them.
    let signals = exit_signals();
    signals
        .thread_block()
        .wrap_err("cannot block SIGTERM/SIGHUP")?;
    let result = run_blocked(opts, signals);
    let _ = signals.thread_unblock();
    result
}

/// The TUI with the exit signals blocked: start the signal, collection and
/// input threads, enter the terminal, run the loop, and on the way out
/// restore the terminal before waiting for a kill in progress.
fn run_blocked(opts: Options, signals: SigSet) -> color_eyre::Result<()> {
    let (tx, rx) = mpsc::channel::<Msg>();
    spawn_signal_thread(signals, tx.clone())?;
    let refresh_tx = spawn_collector(&opts, tx.clone())?;

    install_panic_hook();
    let guard =
        TerminalGuard::enter().wrap_err("cannot set up the terminal (is stdout a terminal?)")?;

    // No cursor-position queries from here on (`Terminal::clear` makes
    // one): the input thread owns crossterm's event reader and would
    // swallow the answer. The alternate screen starts out blank anyway.
    let mut terminal =
        Terminal::new(CrosstermBackend::new(stdout())).wrap_err("cannot open the terminal")?;
    let size = terminal.size()?;
    {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("portwarden-input".into())
            .spawn(move || read_input(tx))
            .wrap_err("cannot start the input thread")?;
    }
    let ctx = opts.context.clone().unwrap_or_else(Context::current);
    let base = opts.kill.clone();
    let mut app = App::new(ctx, opts.interval, opts.color, (size.width, size.height));
    app.now = portwarden::timefmt::now();
    let mut worker = None;
    let chans = Channels {
        tx: &tx,
        rx: &rx,
        refresh: &refresh_tx,
    };
    let result = event_loop(&mut terminal, &mut app, &base, &chans, &mut worker);
    drop(guard);
    finish_kill(worker, &rx);
    result
}

/// The sigwait thread: SIGTSTP/SIGCONT set a flag and wake the loop (which
/// suspends or redraws); the exit signals become [`Msg::Terminate`], their
/// number kept for the exit status.
fn spawn_signal_thread(signals: SigSet, tx: Sender<Msg>) -> color_eyre::Result<()> {
    std::thread::Builder::new()
        .name("portwarden-signals".into())
        .spawn(move || {
            while let Ok(sig) = signals.wait() {
                let msg = match sig {
                    Signal::SIGTSTP | Signal::SIGCONT => {
                        let flag = if sig == Signal::SIGTSTP {
                            &SUSPEND
                        } else {
                            &RESUMED
                        };
                        flag.store(true, Ordering::SeqCst);
                        // Wake the loop; it looks at the flags.
                        Msg::Tick {
                            now: portwarden::timefmt::now(),
                        }
                    }
                    other => {
                        EXIT_SIGNAL.store(other as i32, Ordering::SeqCst);
                        Msg::Terminate
                    }
                };
                if tx.send(msg).is_err() {
                    break;
                }
            }
        })
        .wrap_err("cannot start the signal thread")?;
    Ok(())
}

/// Start the collection thread; the returned sender asks it for a scan
/// now.
fn spawn_collector(opts: &Options, tx: Sender<Msg>) -> color_eyre::Result<Sender<()>> {
    let (refresh_tx, refresh_rx) = mpsc::channel::<()>();
    let scan_opts = discover::Options {
        tcp: opts.tcp,
        udp: opts.udp,
    };
    let interval = opts.interval.max(Duration::from_millis(100));
    std::thread::Builder::new()
        .name("portwarden-scan".into())
        .spawn(move || collect(scan_opts, interval, tx, refresh_rx))
        .wrap_err("cannot start the collection thread")?;
    Ok(refresh_tx)
}

/// The event loop's channels: its own sender (for the kill worker), its
/// receiver, and the collector's refresh requests.
struct Channels<'a> {
    tx: &'a Sender<Msg>,
    rx: &'a Receiver<Msg>,
    refresh: &'a Sender<()>,
}

/// Quitting (or SIGTERM) while a kill executes: the terminal is already
/// restored; let the kill finish its escalation and say how it ended,
/// rather than dying between SIGTERM and SIGKILL.
fn finish_kill(worker: Option<std::thread::JoinHandle<()>>, rx: &Receiver<Msg>) {
    let Some(handle) = worker else { return };
    if handle.is_finished() {
        return;
    }
    eprintln!("portwarden: waiting for the kill in progress to finish…");
    let _ = handle.join();
    while let Ok(msg) = rx.try_recv() {
        if let Msg::KillDone { summary, .. } = msg {
            eprintln!("portwarden: {}", portwarden::escape::escape(&summary));
        }
    }
}

/// The collection thread: scan, send, wait for the interval or a refresh
/// request; stop when the UI is gone.
fn collect(opts: discover::Options, interval: Duration, tx: Sender<Msg>, refresh: Receiver<()>) {
    let mut scanner = Scanner::new();
    loop {
        if tx.send(Msg::ScanStarted).is_err() {
            return;
        }
        let result = scanner.scan(&opts).map_err(|e| e.to_string());
        if tx
            .send(Msg::Snapshot {
                result,
                at: portwarden::timefmt::now(),
            })
            .is_err()
        {
            return;
        }
        match refresh.recv_timeout(interval) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Several refresh requests while scanning need one scan.
        while refresh.try_recv().is_ok() {}
    }
}

/// The input thread: terminal events into the channel.
fn read_input(tx: Sender<Msg>) {
    loop {
        let msg = match event::read() {
            Ok(Event::Key(k)) => Msg::Key(k),
            Ok(Event::Mouse(m)) => Msg::Mouse(m),
            Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}

/// Draw, then take every message waiting, update, carry out the effects,
/// and draw once more; a tick every second keeps the header's clock
/// moving. Ctrl-Z and SIGTSTP suspend, SIGCONT redraws.
fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    base: &portwarden::kill::Policy,
    chans: &Channels,
    worker: &mut Option<std::thread::JoinHandle<()>>,
) -> color_eyre::Result<()> {
    terminal.draw(|f| render::render(app, f))?;
    let tick = Duration::from_secs(1);
    let mut queue: VecDeque<Msg> = VecDeque::new();
    loop {
        let first = match chans.rx.recv_timeout(tick) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => Msg::Tick {
                now: portwarden::timefmt::now(),
            },
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        queue.push_back(first);
        // Handle everything already waiting before drawing once.
        while let Ok(m) = chans.rx.try_recv() {
            queue.push_back(m);
        }
        while let Some(msg) = queue.pop_front() {
            if is_suspend_key(&msg) || SUSPEND.swap(false, Ordering::SeqCst) {
                suspend(terminal)?;
                if is_suspend_key(&msg) {
                    continue;
                }
            }
            if RESUMED.load(Ordering::SeqCst) {
                resume(terminal)?;
            }
            for effect in update(app, msg) {
                if carry_out(effect, app, base, chans, &mut queue, worker) {
                    return Ok(());
                }
            }
            if app.quit {
                return Ok(());
            }
        }
        app.now = portwarden::timefmt::now();
        terminal.draw(|f| render::render(app, f))?;
    }
}

/// Carry out one effect; answers (plans, the cwd, a kill that could not
/// start) join the loop's `queue`. Returns whether to quit.
fn carry_out(
    effect: Effect,
    app: &mut App,
    base: &portwarden::kill::Policy,
    chans: &Channels,
    queue: &mut VecDeque<Msg>,
    worker: &mut Option<std::thread::JoinHandle<()>>,
) -> bool {
    match effect {
        Effect::Quit => return true,
        Effect::Refresh => {
            let _ = chans.refresh.send(());
        }
        Effect::Plan(request) => match &app.snapshot {
            Some(snap) => {
                let planned = effects::plan(snap, &app.ctx, &request, base);
                queue.push_back(Msg::Planned(Box::new(planned)));
            }
            None => app.mode = state::Mode::Normal,
        },
        Effect::Kill(planned) => match planned.plan {
            Some(plan) => match effects::spawn_execute(plan, chans.tx.clone()) {
                Ok(handle) => *worker = Some(handle),
                Err(e) => queue.push_back(Msg::KillDone {
                    success: false,
                    summary: format!("could not start the kill: {e}"),
                }),
            },
            None => queue.push_back(Msg::KillDone {
                success: false,
                summary: "nothing to execute".into(),
            }),
        },
        Effect::ReadCwd(pid) => queue.push_back(Msg::Cwd(pid, procfs::cwd(pid))),
    }
    false
}
