//! portwarden's integration tests: one test binary (faster to build and
//! link than one per file), one module per subcommand (`list` and `why`,
//! `kill`, `wait`), all sharing the harness in [`util`].
//!
//! Every test starts real processes from `tests/fixtures/listener.py` on
//! loopback ports the kernel just handed out, waits for them with a
//! deadline, asserts on what the `portwarden` binary says and does, and
//! leaves nothing behind: a [`util::Guard`] kills what the test started,
//! even when an assertion panics.

// Tests report failures by panicking; unwrap/expect are the idiom here.
#![allow(clippy::unwrap_used)]

mod bpf;
mod containers;
mod context;
mod fleet;
mod hardening;
mod hardening2;
mod kill;
mod list;
mod mcp;
mod metrics;
mod package;
mod pty;
mod realworld;
mod tui;
mod util;
mod wait;
