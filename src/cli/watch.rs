//! `portwarden watch`: one line per change, as it is seen, until
//! interrupted.
//!
//! It costs what a TUI refresh costs: one incremental [`Scanner`] polled at a
//! fixed rate, its snapshots fed to an [`portwarden::events::Tracker`]. SIGINT and
//! SIGTERM are blocked and read from a signalfd that doubles as the sleep
//! between scans, so an interrupt ends the loop at once and cleanly (output
//! flushed, exit 0) without a signal handler.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use serde::Serialize;

use super::{CliError, Out, WatchArgs, exit};
use portwarden::classify;
use portwarden::config::Config;
use portwarden::discover::Scanner;
use portwarden::events::{Event, Tracker, rfc3339_ms};

/// Default polling interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// One NDJSON line: schema, time, then the event's own fields.
#[derive(Serialize)]
struct Line<'a> {
    schema: u32,
    time: String,
    #[serde(flatten)]
    event: &'a Event,
}

/// Run `watch`.
pub fn run(args: &WatchArgs, cfg: &Config, out: &mut Out) -> Result<u8, CliError> {
    let interval = args
        .interval
        .unwrap_or(DEFAULT_INTERVAL)
        .max(Duration::from_millis(10));
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| CliError::Write(std::io::Error::from(e)))?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| CliError::Write(std::io::Error::from(e)))?;

    let ctx = cfg.context();
    let opts = portwarden::discover::Options::default();
    let mut scanner = Scanner::new();
    let mut tracker = Tracker::new();
    // The flag, else the config's `respawn_watch` (the same window `kill`
    // watches a freed port for), else the tracker's default.
    if let Some(w) = args.respawn_watch.or(cfg.respawn_watch) {
        tracker.respawn_watch_ms = u64::try_from(w.as_millis()).unwrap_or(u64::MAX);
    }
    let ports = args.ports.clone();
    let filter = move |s: &portwarden::Socket| {
        ports.is_empty() || ports.iter().any(|p| p.matches(s.proto, s.port))
    };
    let mut first = true;
    loop {
        let began = Instant::now();
        let snap = scanner.scan(&opts)?;
        let verdicts = classify::classify(&snap, &ctx);
        let now = now_ms();
        for e in tracker.update(&snap, &verdicts, now, &filter) {
            print(out, &e, args.json)?;
        }
        out.flush()?;
        if first {
            first = false;
            let n = snap.sockets.iter().filter(|s| filter(s)).count();
            eprintln!(
                "portwarden: watching {n} listener(s) every {}; Ctrl-C to stop",
                super::kill::fmt_duration(interval)
            );
        }
        if interrupted(&sfd, began + interval)? {
            return Ok(exit::OK);
        }
    }
}

/// Sleep until `until`, or until SIGINT/SIGTERM arrives (`true`).
fn interrupted(sfd: &SignalFd, until: Instant) -> Result<bool, CliError> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => {}
            Ok(_) => return Ok(true),
            Err(e) => return Err(CliError::Write(std::io::Error::from(e))),
        }
    }
}

fn print(out: &mut Out, e: &Event, json: bool) -> Result<(), CliError> {
    if json {
        let line = Line {
            schema: 1,
            time: rfc3339_ms(e.at_ms),
            event: e,
        };
        let text = serde_json::to_string(&line)
            .map_err(|err| CliError::Write(std::io::Error::other(err)))?;
        out.line(&portwarden::escape::json_safe(text))
    } else {
        let t = rfc3339_ms(e.at_ms);
        // HH:MM:SS.mmm of the RFC 3339 time.
        let clock = t.get(11..23).unwrap_or(&t);
        out.line(&format!("{clock} {}", e.describe()))
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
