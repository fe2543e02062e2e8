//! PLACEHOLDER for the kill planner/executor being written on `main`.
//!
//! This file only exists so the `tui` branch compiles: it has the agreed
//! types and signatures with trivial bodies (plans are always empty, execute
//! does nothing). It is replaced wholesale by the real `src/kill.rs` at merge.

use std::time::Duration;

use crate::classify::{Class, Context};
use crate::model::{Pid, Snapshot};
use crate::spec::PortSpec;

/// How to kill (placeholder).
#[derive(Clone, Debug)]
pub struct Policy {
    /// Signal number to send first.
    pub signal: i32,
    /// How long to wait before escalating.
    pub grace: Duration,
    /// Also kill descendants.
    pub tree: bool,
    /// Override refusals.
    pub force: bool,
    /// Allow killing `live` holders.
    pub allow_live: bool,
    /// Only kill holders of this class.
    pub only: Option<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            signal: 15,
            grace: Duration::from_secs(3),
            tree: false,
            force: false,
            allow_live: false,
            only: None,
        }
    }
}

/// Why a process is in the plan (placeholder).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role {
    /// Holds the socket.
    Holder,
    /// In the holder's process group.
    Group,
    /// A descendant of the holder.
    Descendant,
}

/// One process to signal (placeholder).
pub struct Target {
    /// Process id.
    pub pid: Pid,
    /// Start time, against pid reuse.
    pub start_time: u64,
    /// Kernel command name.
    pub name: String,
    /// Full command line.
    pub command: String,
    /// Owner uid.
    pub uid: u32,
    /// Owner name.
    pub user: Option<String>,
    /// Classification.
    pub class: Class,
    /// Why it is in the plan.
    pub role: Role,
}

/// A holder the policy refuses to kill (placeholder).
pub struct Refusal {
    /// Process id.
    pub pid: Pid,
    /// Classification.
    pub class: Class,
    /// Why, with the right command to use instead.
    pub reason: String,
}

/// What a kill would do (placeholder).
pub struct Plan {
    /// Ports to free.
    pub ports: Vec<PortSpec>,
    /// Processes to signal.
    pub targets: Vec<Target>,
    /// Holders refused by policy.
    pub refusals: Vec<Refusal>,
    /// Processes never signalled, with why.
    pub protected: Vec<(Pid, String)>,
    /// The policy planned with.
    pub policy: Policy,
}

impl Plan {
    /// Some holder was refused.
    pub fn is_refused(&self) -> bool {
        !self.refusals.is_empty()
    }

    /// Nothing to signal.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// Plan freeing ports (placeholder: always an empty plan).
pub fn plan_ports(_snap: &Snapshot, _ctx: &Context, ports: &[PortSpec], policy: &Policy) -> Plan {
    Plan {
        ports: ports.to_vec(),
        targets: Vec::new(),
        refusals: Vec::new(),
        protected: Vec::new(),
        policy: policy.clone(),
    }
}

/// Plan killing the group of one holder (placeholder: always an empty plan).
pub fn plan_pid(_snap: &Snapshot, _ctx: &Context, _pid: Pid, policy: &Policy) -> Plan {
    Plan {
        ports: Vec::new(),
        targets: Vec::new(),
        refusals: Vec::new(),
        protected: Vec::new(),
        policy: policy.clone(),
    }
}

/// Something that happened during execution (placeholder).
pub enum Progress {
    /// A signal was sent.
    Signalled {
        /// To whom.
        pid: Pid,
        /// Which signal.
        signal: i32,
    },
    /// A target exited.
    Exited {
        /// Who.
        pid: Pid,
        /// How long after the first signal.
        after: Duration,
    },
    /// Grace ran out: sending SIGKILL.
    Escalating,
    /// Waiting for the port to be free.
    WaitingForPort,
}

/// The observed result (placeholder).
pub struct Report {
    summary: String,
}

impl Report {
    /// Did the port end up free?
    pub fn success(&self) -> bool {
        false
    }

    /// One line for a person.
    pub fn summary(&self) -> String {
        self.summary.clone()
    }
}

/// Carry out a plan (placeholder: does nothing).
pub fn execute(_plan: &Plan, _on: &mut dyn FnMut(&Progress)) -> Report {
    Report {
        summary: "kill is not implemented in this build (placeholder src/kill.rs)".to_string(),
    }
}
