//! A group kill that converges: a process group (or, with `--tree`, a
//! subtree) that keeps forking while it is being killed would otherwise
//! leave every child forked after the plan alive, holding the port.
//!
//! After every signal round [`execute`](super::execute) asks a [`Scope`]
//! for newcomers: processes that were not planned but are now in one of the
//! plan's process groups, or children of a planned subtree root. Only those
//! — the plan is never widened to other groups or trees — and only when
//! they pass the planner's own checks (never pid ≤ 1, portwarden, its
//! ancestors, a protected pid, a terminal's session leader, or another uid
//! than the planned targets'). Each is then identity-checked and signalled
//! like a planned target.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::plan::{Plan, Role};
use crate::model::Pid;
use crate::os::procfs::ProcRoot;

/// A process that joined a planned group or subtree after planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Newcomer {
    /// Process id.
    pub(super) pid: Pid,
    /// Start time, the identity to re-verify before signalling.
    pub(super) start_time: u64,
    /// `comm`.
    pub(super) name: String,
    /// Group member or descendant.
    pub(super) role: Role,
}

/// How a kill's re-reading of its groups went (reported in text and JSON).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Convergence {
    /// Signal rounds: each waits, then re-reads the planned groups and
    /// subtrees for newcomers.
    pub rounds: u32,
    /// Processes that joined a planned group or subtree during the kill
    /// and were signalled.
    pub newcomers: usize,
    /// From the first signal to the last round.
    #[serde(serialize_with = "super::report::ser_ms", rename = "elapsed_ms")]
    pub elapsed: std::time::Duration,
    /// The bound (rounds or time) was reached with processes still alive
    /// or still arriving.
    pub bounded: bool,
}

/// What may be re-read, and what must never be touched.
pub(super) struct Scope {
    groups: HashSet<Pid>,
    roots: HashSet<Pid>,
    uids: HashSet<u32>,
    never: HashSet<Pid>,
    self_pgid: Pid,
    /// What each pid looked like when first seen (by its `/proc/PID`
    /// inode, so a reused pid is read again): its group and parent, and
    /// whether it was already decided on. Each round costs a `/proc`
    /// listing plus a stat of pids never seen before.
    seen: HashMap<Pid, Seen>,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    ino: u64,
    pgid: Pid,
    ppid: Pid,
    decided: bool,
}

impl Scope {
    /// The scope of `plan`, with `me` and `ancestors` (read at execute
    /// time) never touched.
    pub(super) fn new(plan: &Plan, me: Pid, self_pgid: Pid, ancestors: &[Pid]) -> Self {
        let mut never: HashSet<Pid> = plan.protected.iter().map(|(p, _)| *p).collect();
        never.insert(me);
        never.extend(ancestors.iter().copied());
        Scope {
            groups: plan.groups.iter().copied().filter(|&g| g > 1).collect(),
            roots: plan.tree_roots.iter().copied().collect(),
            uids: plan.targets.iter().map(|t| t.uid).collect(),
            never,
            self_pgid,
            seen: HashMap::new(),
        }
    }

    /// Nothing could ever join (no group, no subtree).
    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.roots.is_empty()
    }

    /// Subtrees are in scope: a child forked just before its parent's
    /// death is reparented at once and no longer looks like a descendant,
    /// so parents are stopped before they are killed.
    pub(super) fn has_tree(&self) -> bool {
        !self.roots.is_empty()
    }

    /// Processes now in scope that were neither planned nor decided on
    /// before.
    pub(super) fn newcomers(&mut self, planned: &HashSet<Pid>) -> Vec<Newcomer> {
        let Ok(root) = ProcRoot::open() else {
            return Vec::new();
        };
        let Ok(entries) = root.pids() else {
            return Vec::new();
        };
        let mut buf = [0u8; 1024];
        let mut out = Vec::new();
        for (pid, ino) in entries {
            if pid <= 1 || planned.contains(&pid) || self.never.contains(&pid) {
                continue;
            }
            let cached = self.seen.get(&pid).copied().filter(|s| s.ino == ino);
            let mut entry = match cached {
                Some(s) => s,
                None => {
                    let Some(st) = root.stat(pid, &mut buf) else {
                        continue;
                    };
                    Seen {
                        ino,
                        pgid: st.pgid,
                        ppid: st.ppid,
                        decided: false,
                    }
                }
            };
            if entry.decided {
                continue;
            }
            let role = if self.groups.contains(&entry.pgid) && entry.pgid != self.self_pgid {
                Role::Group
            } else if self.roots.contains(&entry.ppid) {
                Role::Descendant
            } else {
                // Not in scope (yet: its parent may become a root later).
                self.seen.insert(pid, entry);
                continue;
            };
            entry.decided = true;
            self.seen.insert(pid, entry);
            // The planner's checks, on a fresh read.
            let Some(st) = root.stat(pid, &mut buf) else {
                continue;
            };
            if matches!(st.state, 'Z' | 'X') || (st.sid == pid && st.tty_nr != 0) {
                continue;
            }
            if !root.uid(pid).is_some_and(|u| self.uids.contains(&u)) {
                continue;
            }
            if role == Role::Descendant {
                self.roots.insert(pid);
            }
            out.push(Newcomer {
                pid,
                start_time: st.start_time,
                name: st.name,
                role,
            });
        }
        out
    }
}
