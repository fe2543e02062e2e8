//! portwarden: who is holding this port, what kind of holder is it, and how
//! do I free it safely?
//!
//! The library is the core only: the `portwarden` binary's CLI and TUI are
//! faces built on it, and any Rust program can use it instead of shelling
//! out to `lsof`:
//!
//! - [`discover`] — a [`Snapshot`] of every listening socket (TCP LISTEN,
//!   bound UDP; IPv4 and IPv6) and every process holding it.
//! - [`classify`] — a pure function: is each holder `self`, `foreign`,
//!   `managed`, `daemon`, `orphan` or `live`, and why.
//! - [`kill`] — plan (pure) and execute a safe kill; [`kill::ensure_port_free`]
//!   for a program reclaiming its port; [`kill::wait_port`].
//! - [`container`] — a published port's forwarder and a container's
//!   processes, mapped to the container and its engine's stop command.
//! - [`explain`] — what is known about a port and one holder, as plain
//!   data: `why` prints it as prose, the TUI's details pane draws it.
//! - [`tree`] — the process tree around a holder, group marked.
//! - [`program`] — pure rules about a holder's *program*: its leader, the
//!   supervisor that restarts it, daemon-or-orphan evidence; fed by
//!   [`evidence`], which discovery reads (streams, cwd, supervisor env).
//! - [`project`], [`conns`], [`events`] — which project a holder works in,
//!   who is connected to a listener, and what changed between scans.
//! - [`model`] — the plain data everything else is a function of.
//!
//! ```no_run
//! use portwarden::{classify, discover};
//!
//! let snap = discover::discover(&discover::Options::default())?;
//! let ctx = classify::Context::current();
//! let verdicts = classify::classify(&snap, &ctx);
//! for s in snap.sockets_on(8080, None) {
//!     for pid in &s.holders {
//!         println!("{} held by {pid}: {:?}", s.endpoint(), verdicts[pid].class);
//!     }
//! }
//! # Ok::<(), portwarden::Error>(())
//! ```

pub mod classify;
pub mod config;
pub mod conns;
pub mod container;
pub mod discover;
pub mod error;
pub mod escape;
pub mod events;
pub mod evidence;
pub mod explain;
pub mod kill;
pub mod model;
pub mod os;
pub mod program;
pub mod project;
pub mod spec;
pub mod timefmt;
pub mod tree;

// Test support shared with the binary's tests (see `testkit`'s doc): it
// names the crate `portwarden`, as the binary does.
#[cfg(test)]
extern crate self as portwarden;
#[cfg(test)]
mod testkit;

pub use error::{Error, Result};
pub use model::{Pid, Process, Proto, Snapshot, Socket};
