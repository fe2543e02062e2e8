//! What flows between the TUI's parts: the messages the event loop feeds
//! to [`super::update()`] ([`Msg`]), the effects it asks back ([`Effect`]),
//! and the kill request and plan both directions carry ([`KillRequest`],
//! [`Planned`]).
//!
//! These types live apart from the modules that produce and consume them so
//! the TUI's modules import each other in one direction only: `msg` depends
//! on nothing of the TUI, `state` on `msg`, `effects` on `msg`, `update` on
//! `msg`, `state` and `keys`, `render` on `state`, `msg` and `keys`. A type
//! two modules share sits below both of them, here.

use std::time::Duration;

use crossterm::event::{KeyEvent, MouseEvent};

use portwarden::classify::Class;
use portwarden::kill;
use portwarden::model::{Pid, Snapshot};
use portwarden::spec::PortSpec;

/// What to kill, before it is planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillTarget {
    /// Free these ports (from the main table).
    Ports(Vec<PortSpec>),
    /// Kill the process group of this process (from the tree view).
    Group(Pid),
}

/// A kill request: the target, whether to override refusals, and a label
/// for the dialogs. Requests become plans through [`super::effects::plan`],
/// and plans are only executed after the confirmation dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillRequest {
    /// What to kill.
    pub target: KillTarget,
    /// Plan with `force` (the user pressed the force key on a refusal).
    pub force: bool,
}

impl KillRequest {
    /// `port tcp:3000` or `process group of pid 4242`.
    pub fn label(&self) -> String {
        match &self.target {
            KillTarget::Ports(p) => {
                let v: Vec<String> = p.iter().map(|p| p.to_string()).collect();
                format!("port {}", v.join(", "))
            }
            KillTarget::Group(pid) => format!("process group of pid {pid}"),
        }
    }
}
/// A kill plan as the TUI shows it: plain strings and numbers, nothing that
/// ties the screen to the kill module's types. Strings are raw (not escaped):
/// the renderer escapes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanView {
    /// The ports the plan frees (`tcp:3000`), empty for a process-group kill.
    pub ports: Vec<String>,
    /// Every process that will receive the signal.
    pub targets: Vec<TargetView>,
    /// Holders the policy refuses to kill, with why.
    pub refusals: Vec<RefusalView>,
    /// Processes that are never signalled (portwarden itself, init, …).
    pub protected: Vec<(Pid, String)>,
    /// The first signal's number.
    pub signal: i32,
    /// How long to wait before escalating to SIGKILL.
    pub grace: Duration,
    /// Whether the plan was made with `force`.
    pub forced: bool,
    /// Containers stopped through their engine's API instead of signalling
    /// (`docker container web (id …) through the docker API`).
    pub containers: Vec<String>,
    /// A refused plan that `force` would turn into one that signals
    /// something: only then is force offered (never for pid 1, portwarden
    /// or its ancestors, an invisible holder, an `--only` mismatch).
    pub forcible: bool,
}

impl PlanView {
    /// Some holder was refused by policy.
    pub fn is_refused(&self) -> bool {
        !self.refusals.is_empty()
    }

    /// No process would be signalled and no container stopped.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.containers.is_empty()
    }
}

/// One process in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetView {
    /// Process id.
    pub pid: Pid,
    /// User name, or the uid as text.
    pub user: String,
    /// Command line, program directory dropped (full one in details).
    pub command: String,
    /// Its class.
    pub class: Class,
    /// `holder`, `group` or `descendant`.
    pub role: &'static str,
}

/// A refused holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalView {
    /// Process id.
    pub pid: Pid,
    /// Its class (`foreign`, `managed`, `self`).
    pub class: Class,
    /// Why, including the right command to stop it (`systemctl stop …`).
    pub reason: String,
}

/// A plan and its view, as produced by [`super::effects::plan`].
pub struct Planned {
    /// What the confirmation shows.
    pub view: PlanView,
    /// What [`super::effects::spawn_execute`] runs; `None` only in test fixtures.
    pub plan: Option<kill::Plan>,
}

/// Something that happened.
pub enum Msg {
    /// A key was pressed.
    Key(KeyEvent),
    /// The mouse was used.
    Mouse(MouseEvent),
    /// The terminal was resized to (columns, rows).
    Resize(u16, u16),
    /// Time passed; `now` is seconds since the epoch.
    Tick {
        /// Seconds since the epoch.
        now: u64,
    },
    /// The collector started a scan.
    ScanStarted,
    /// A scan finished (or failed, with the error's text).
    Snapshot {
        /// The snapshot or the error.
        result: Result<Snapshot, String>,
        /// When it was taken, seconds since the epoch.
        at: u64,
    },
    /// A kill request was planned.
    Planned(Box<Planned>),
    /// A step of an executing kill.
    KillProgress(String),
    /// An executing kill ended.
    KillDone {
        /// The port ended up free.
        success: bool,
        /// What was observed.
        summary: String,
    },
    /// The working directory of a process was read (for details).
    Cwd(Pid, Option<String>),
    /// SIGTERM or SIGHUP arrived: leave cleanly.
    Terminate,
}

/// Something for the event loop to do.
pub enum Effect {
    /// Leave the TUI.
    Quit,
    /// Scan now instead of waiting for the interval.
    Refresh,
    /// Plan this kill request (answered with [`Msg::Planned`]).
    Plan(KillRequest),
    /// Execute a confirmed plan.
    Kill(Box<Planned>),
    /// Read the working directory of a process (answered with [`Msg::Cwd`]).
    ReadCwd(Pid),
}
