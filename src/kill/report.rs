//! What a kill did, as plain data: per target the signals sent and when it
//! was seen to exit, what was skipped and why, and whether the port is free.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::converge::Convergence;
use super::plan::{Refusal, Role, ser_ports};
use crate::classify::{self, Class, Context};
use crate::container::Container;
use crate::escape::escape;
use crate::model::{Pid, Snapshot};
use crate::spec::PortSpec;

/// Refusals as a person reads them: one line per distinct reason. Workers
/// of one program are refused for the same reason (their reasons name the
/// same leader); saying it twelve times hides the rest, so each reason is
/// said once with the other pids counted ("… (and 11 workers of the same
/// program: pids 4662, 4663, …)"). JSON keeps one refusal per pid.
pub fn fold_refusals(refusals: &[Refusal]) -> Vec<String> {
    fold_refusal_list(refusals)
        .into_iter()
        .map(|r| r.reason)
        .collect()
}

/// [`fold_refusals`], keeping each group's first refusal (its pid and
/// class) with the folded reason.
pub fn fold_refusal_list(refusals: &[Refusal]) -> Vec<Refusal> {
    // The reason without its leading "pid N " is what repeats.
    let key = |r: &Refusal| {
        let prefix = format!("pid {} ", r.pid);
        (
            r.class,
            r.reason
                .strip_prefix(&prefix)
                .unwrap_or(&r.reason)
                .to_string(),
        )
    };
    let mut groups: Vec<((Class, String), &Refusal, Vec<Pid>)> = Vec::new();
    for r in refusals {
        let k = key(r);
        match groups
            .iter_mut()
            .find(|(gk, first, _)| *gk == k && first.pid > 0)
        {
            Some((_, _, more)) if r.pid > 0 => more.push(r.pid),
            _ => groups.push((k, r, Vec::new())),
        }
    }
    groups
        .into_iter()
        .map(|((_, rest), first, more)| {
            if more.is_empty() {
                return first.clone();
            }
            let what = if rest.contains("its program's leader") {
                if more.len() == 1 {
                    "worker of the same program"
                } else {
                    "workers of the same program"
                }
            } else {
                "more with the same reason"
            };
            let shown: Vec<String> = more.iter().take(5).map(Pid::to_string).collect();
            Refusal {
                reason: format!(
                    "{} (and {} {what}: pid{} {}{})",
                    first.reason,
                    more.len(),
                    if more.len() == 1 { "" } else { "s" },
                    shown.join(", "),
                    if more.len() > 5 { ", …" } else { "" }
                ),
                ..first.clone()
            }
        })
        .collect()
}

/// What happened to one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Process id.
    pub pid: Pid,
    /// `comm`.
    pub name: String,
    /// Why it was a target.
    pub role: Role,
    /// Signals delivered, in order.
    pub signals: Vec<i32>,
    /// Observed dead this long after the first signal.
    #[serde(serialize_with = "ser_opt_ms")]
    pub exited_after: Option<Duration>,
    /// Not signalled, and why (identity mismatch, already gone, …).
    pub skipped: Option<String>,
    /// The signal could not be delivered (e.g. EPERM): it survived.
    pub error: Option<String>,
}

impl Outcome {
    /// Dead or never needed a signal.
    pub fn ended(&self) -> bool {
        self.exited_after.is_some() || self.skipped.is_some()
    }
}

/// A port that is still held after the kill, and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StillHeld {
    /// The port.
    #[serde(serialize_with = "ser_port")]
    pub port: PortSpec,
    /// Who holds it now: "pid 5000 (node), child of pid 1 (systemd)".
    pub by: Vec<String>,
    /// It was seen free this long after the first signal, then re-taken
    /// (a supervisor respawned its child).
    #[serde(serialize_with = "ser_opt_ms", rename = "retaken_after_free_ms")]
    pub retaken_after: Option<Duration>,
    /// Who started the new holder: "pid 70 (supervisord), supervisord
    /// program web", or the new holder's living parent.
    pub respawner: Option<String>,
    /// What to do next to free the port for good.
    pub next_step: Option<String>,
}

/// A port spec as its text (`tcp:80`).
fn ser_port<S: serde::Serializer>(p: &PortSpec, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string())
}

/// A duration as whole milliseconds (JSON `*_ms` fields).
pub(super) fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round())
}

/// An optional duration as whole milliseconds, or null.
fn ser_opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_secs_f64() * 1000.0).round()),
        None => s.serialize_none(),
    }
}

/// What [`execute`](super::execute()) observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The ports the plan meant to free.
    #[serde(serialize_with = "ser_ports")]
    pub ports: Vec<PortSpec>,
    /// One entry per target.
    pub outcomes: Vec<Outcome>,
    /// Refusals carried over from the plan (then nothing was signalled).
    pub refusals: Vec<Refusal>,
    /// When every port was observed free, this long after the first signal.
    #[serde(serialize_with = "ser_opt_ms", rename = "port_free_after_ms")]
    pub port_free_after: Option<Duration>,
    /// Ports still held at the end, and by whom.
    pub still_held: Vec<StillHeld>,
    /// Signal rounds: newcomers to the planned groups found and signalled.
    pub convergence: Convergence,
    /// Containers stopped (or not) through their engine's API.
    pub containers: Vec<ContainerOutcome>,
}

/// What stopping one container through its engine's API did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerOutcome {
    /// The container.
    pub container: Container,
    /// The engine answered that it stopped, this long after the request.
    #[serde(serialize_with = "ser_opt_ms", rename = "stopped_after_ms")]
    pub stopped_after: Option<Duration>,
    /// Why it could not be stopped.
    pub error: Option<String>,
}

impl Report {
    /// Every target ended and every port was observed free.
    pub fn success(&self) -> bool {
        self.refusals.is_empty()
            && self.outcomes.iter().all(Outcome::ended)
            && self.still_held.is_empty()
            && self.containers.iter().all(|c| c.error.is_none())
    }

    /// Processes observed to end after a signal.
    pub fn ended_count(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.exited_after.is_some())
            .count()
    }

    /// One line for a person: "port 8080 free after 140 ms — 3 processes
    /// ended", or what survived and why.
    pub fn summary(&self) -> String {
        if !self.refusals.is_empty() {
            return format!(
                "refused, nothing signalled: {}",
                fold_refusals(&self.refusals).join("; ")
            );
        }
        let mut s = if self.still_held.is_empty() {
            self.freed_phrase()
        } else {
            self.held_phrase()
        };
        s.push_str(&self.container_failures());
        s.push_str(&self.convergence_phrase());
        s.push_str(&self.trouble_phrase());
        s
    }
}

impl Report {
    /// "ports 80, 443 free after 140 ms — 3 processes ended".
    fn freed_phrase(&self) -> String {
        let ports = self
            .ports
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let plural = if self.ports.len() > 1 {
            "ports"
        } else {
            "port"
        };
        let mut s = match self.port_free_after {
            Some(d) => format!("{plural} {ports} free after {} ms", d.as_millis()),
            None => format!("{plural} {ports} free"),
        };
        let _ = write!(s, " — {}", self.ended_phrase());
        s
    }

    /// "port 80 still held by …; respawned by …; next: …; 1 process ended"
    /// for every port still held.
    fn held_phrase(&self) -> String {
        let mut s = String::new();
        for h in &self.still_held {
            let when = match h.retaken_after {
                Some(d) => format!(" (it was free after {} ms, then re-taken)", d.as_millis()),
                None => String::new(),
            };
            let _ = write!(
                s,
                "port {} still held{when} by {}; ",
                h.port,
                if h.by.is_empty() {
                    "an unseen process".to_string()
                } else {
                    name_a_few(&h.by, 3)
                }
            );
            if let Some(r) = &h.respawner {
                let _ = write!(s, "respawned by {r}; ");
            }
            if let Some(n) = &h.next_step {
                let _ = write!(s, "next: {n}; ");
            }
        }
        s.push_str(&self.ended_phrase());
        s
    }

    /// "; 2 newcomer(s) joined …" when the groups grew during the kill or
    /// the re-reading hit its bound.
    fn convergence_phrase(&self) -> String {
        let c = &self.convergence;
        let mut s = String::new();
        if c.newcomers > 0 || c.bounded {
            let _ = write!(
                s,
                "; {} newcomer(s) joined the planned groups during the kill and were signalled ({} rounds, {} ms)",
                c.newcomers,
                c.rounds,
                c.elapsed.as_millis()
            );
        }
        if c.bounded {
            s.push_str("; stopped re-reading the groups at the bound");
        }
        s
    }

    /// What went wrong per target: survivors of SIGKILL, signals that
    /// failed, targets skipped for a reason other than being gone.
    fn trouble_phrase(&self) -> String {
        let mut s = String::new();
        let survivors: Vec<String> = self
            .outcomes
            .iter()
            .filter(|o| !o.ended() && o.error.is_none())
            .map(|o| format!("pid {} ({})", o.pid, escape(&o.name)))
            .collect();
        if !survivors.is_empty() {
            let _ = write!(s, "; survived SIGKILL: {}", name_a_few(&survivors, 3));
        }
        let failed: Vec<String> = self
            .outcomes
            .iter()
            .filter_map(|o| {
                o.error
                    .as_ref()
                    .map(|e| format!("pid {} ({}): {e}", o.pid, escape(&o.name)))
            })
            .collect();
        if !failed.is_empty() {
            let _ = write!(s, "; could not signal {}", name_a_few(&failed, 3));
        }
        let skipped: Vec<String> = self
            .outcomes
            .iter()
            .filter_map(|o| {
                o.skipped
                    .as_ref()
                    .filter(|w| !w.starts_with("already gone"))
                    .map(|w| format!("pid {}: {w}", o.pid))
            })
            .collect();
        if !skipped.is_empty() {
            let _ = write!(s, "; skipped {}", name_a_few(&skipped, 3));
        }
        s
    }

    /// "; could not stop docker container web (…): why" for each failure.
    fn container_failures(&self) -> String {
        self.containers
            .iter()
            .filter_map(|c| {
                let e = c.error.as_ref()?;
                Some(format!(
                    "; could not stop {}: {}",
                    escape(&c.container.describe()),
                    escape(e)
                ))
            })
            .collect()
    }

    /// "1 process ended", "container web stopped through the docker API",
    /// or both.
    fn ended_phrase(&self) -> String {
        let n = self.ended_count();
        let procs = if n == 1 { "process" } else { "processes" };
        let mut parts: Vec<String> = self
            .containers
            .iter()
            .filter(|c| c.error.is_none())
            .map(|c| {
                format!(
                    "{} stopped through the {} API",
                    escape(&c.container.describe()),
                    c.container.engine.as_str()
                )
            })
            .collect();
        if n > 0 || parts.is_empty() {
            parts.push(format!("{n} {procs} ended"));
        }
        parts.join(", ")
    }
}

/// The first `few` items, then "and N more, see --json": a line naming
/// 80 holders would be kilobytes long.
pub fn name_a_few(items: &[String], few: usize) -> String {
    if items.len() <= few + 1 {
        return items.join(", ");
    }
    format!(
        "{} and {} more, see --json",
        items[..few].join(", "),
        items.len() - few
    )
}

/// Who started the holder of `port` now, and what to do next: stop the
/// supervisor's program, or end the respawning parent before killing again.
pub fn respawn_next_step(
    snap: &Snapshot,
    ctx: &Context,
    port: PortSpec,
) -> (Option<String>, Option<String>) {
    let label = |pid: Pid| match snap.process(pid) {
        Some(p) => format!("pid {pid} ({})", escape(&p.name)),
        None => format!("pid {pid}"),
    };
    for s in snap.sockets_on(port.port, port.proto) {
        for &h in &s.holders {
            let Some(p) = snap.process(h) else { continue };
            let v = classify::classify_process(snap, ctx, h);
            let leader = crate::program::leader(snap, p, |pid| {
                pid <= 1
                    || snap.process(pid).is_some_and(|q| {
                        classify::is_supervisor_name(&q.name, &ctx.extra_supervisors)
                    })
            });
            if let Some(m) = v.manager.as_ref() {
                let sup = crate::program::restarter(snap, leader).map_or(1, |(pid, _)| pid);
                return (
                    Some(format!("{}, {}", label(sup), m.describe())),
                    Some(format!(
                        "stop the program where it is managed: `{}`",
                        m.stop_command()
                    )),
                );
            }
            if leader.ppid > 1 {
                return (
                    Some(label(leader.ppid)),
                    Some(format!(
                        "end the respawning parent first (`kill {0}`; `kill -9 {0}` if it ignores SIGTERM, as a job-control shell does; or from the TUI's tree view), then `portwarden kill {port}` again",
                        leader.ppid
                    )),
                );
            }
        }
    }
    (
        None,
        Some(format!(
            "something started a new holder: see `portwarden why {port}`"
        )),
    )
}

/// "pid 5000 (node), child of pid 1 (systemd)" for every holder of `port`.
pub fn holders_described(snap: &Snapshot, port: PortSpec) -> Vec<String> {
    let mut out = BTreeSet::new();
    for s in snap.sockets_on(port.port, port.proto) {
        if s.holders.is_empty() {
            out.insert(format!(
                "an unseen process ({})",
                s.unresolved.as_deref().unwrap_or("unresolved")
            ));
        }
        for &pid in &s.holders {
            let Some(p) = snap.process(pid) else { continue };
            let parent = snap
                .process(p.ppid)
                .map(|pp| format!("pid {} ({})", pp.pid, escape(&pp.name)))
                .unwrap_or_else(|| format!("pid {}", p.ppid));
            out.insert(format!(
                "pid {pid} ({}), child of {parent}",
                escape(&p.name)
            ));
        }
    }
    out.into_iter().collect()
}
