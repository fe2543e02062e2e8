//! Safe kill: free a port by ending its holders' whole process group, and
//! prove it happened.
//!
//! Two steps, deliberately separate so a person (or a confirm popup) can see
//! the plan before anything happens:
//!
//! 1. [`plan_ports`] / [`plan_pid`] — a pure function of a [`Snapshot`]:
//!    every holder of the port, every member of each holder's process group,
//!    optionally every descendant ([`Policy::tree`]); with the protected set
//!    left out and policy refusals recorded. Nothing is signalled.
//! 2. [`execute`] — for each target, immediately before signalling, open a
//!    pidfd and re-check the start time *after* opening it: the pidfd then
//!    pins that exact process, so a recycled pid can never be signalled.
//!    SIGTERM (or the chosen signal), wait on the pidfds up to the grace,
//!    SIGKILL survivors, wait again, then look at the port and report what
//!    was observed — never a success that was not seen.
//!
//! The protected set is never signalled, whatever the policy: pid ≤ 1,
//! portwarden itself, its ancestors. When a holder shares portwarden's own
//! process group (a script started a server with `&` and then called
//! `portwarden kill`), the group is not taken: only the holder and its
//! descendants are, so the caller survives. Signals always go to single
//! processes (never `kill(-pgid)`), because only a single process can be
//! identity-checked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::classify::{self, Class, Context, Manager};
use crate::container::Container;
use crate::discover::{Options, Scanner};
use crate::error::{Error, Result};
use crate::escape::escape;
use crate::model::{Pid, Snapshot};
use crate::os::procfs;
use crate::spec::PortSpec;

mod converge;
pub use converge::Convergence;

/// SIGTERM.
pub const SIGTERM: i32 = 15;
/// SIGKILL.
pub const SIGKILL: i32 = 9;
/// How long to wait for survivors after SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// What a kill may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// First signal (default SIGTERM).
    pub signal: i32,
    /// Wait this long after the first signal before SIGKILL (default 3 s).
    pub grace: Duration,
    /// Also end every descendant of the targets, even those that left the
    /// process group with setsid/setpgid.
    pub tree: bool,
    /// Allow `foreign` and `managed` holders.
    pub force: bool,
    /// Allow `live` holders (part of a running program). The CLI sets this
    /// when the user confirmed or passed `--yes`; [`Policy::default`] does
    /// not, so a program reclaiming its port only ever ends orphans and
    /// daemons unless it says otherwise.
    pub allow_live: bool,
    /// Every holder's command line must contain this substring.
    pub only: Option<String>,
    /// After the port is seen free, keep watching it this long: a
    /// supervisor that restarts its child after a death re-takes the port
    /// within milliseconds, and "free" would be a lie (default 250 ms).
    pub watch: Duration,
    /// How long to watch instead when a target's program is run by a
    /// supervisor that restarts it (supervisord waits about a second before
    /// a restart; config key `respawn_watch`, default 2 s).
    pub respawn_watch: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            signal: SIGTERM,
            grace: Duration::from_secs(3),
            tree: false,
            force: false,
            allow_live: false,
            only: None,
            watch: Duration::from_millis(250),
            respawn_watch: Duration::from_secs(2),
        }
    }
}

/// Why a process is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// It has an fd on the port's socket.
    Holder,
    /// It is in a holder's process group.
    Group,
    /// It descends from a holder (`tree`, or a holder in our own group).
    Descendant,
}

/// One process that will be signalled, with the identity to re-verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Process id.
    pub pid: Pid,
    /// Start time (clock ticks since boot) seen at plan time.
    pub start_time: u64,
    /// `comm`.
    pub name: String,
    /// Full command line (raw; escape before printing).
    pub command: String,
    /// The command with the program's directory dropped, for narrow
    /// screens ([`crate::model::Process::short_command`]).
    pub short_command: String,
    /// Owner uid.
    pub uid: u32,
    /// Owner name.
    pub user: Option<String>,
    /// Its class.
    pub class: Class,
    /// Why it is a target.
    pub role: Role,
}

/// A holder the policy will not touch; its presence refuses the whole plan.
///
/// A socket whose holder cannot be seen has no pid and no class: `pid` is 0
/// here and the JSON says `"pid":null,"class":null` (with `"unresolved":
/// true`), never an invented process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The holder (0 when the socket's holder could not be seen at all).
    pub pid: Pid,
    /// Its class.
    pub class: Class,
    /// Why, and what to do instead.
    pub reason: String,
}

/// A live process that may restart a holder once it is killed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Respawner {
    /// Its pid (1 for a systemd service).
    pub pid: Pid,
    /// Its `comm`.
    pub name: String,
    /// What it runs the holder as (`supervisord program web`), for a
    /// supervisor that restarts children.
    pub manages: Option<String>,
    /// The proper way to stop it, for a supervisor.
    pub stop_command: Option<String>,
    /// A supervisor that restarts its children (the port is watched for
    /// [`Policy::respawn_watch`]).
    pub supervised: bool,
}

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

/// The plan: a value that can be shown, confirmed, then executed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The ports to free.
    #[serde(serialize_with = "ser_ports")]
    pub ports: Vec<PortSpec>,
    /// Ports that had no listener when planned.
    #[serde(serialize_with = "ser_ports")]
    pub already_free: Vec<PortSpec>,
    /// Every process that will be signalled, holders first.
    pub targets: Vec<Target>,
    /// Why the plan is refused (empty = allowed).
    pub refusals: Vec<Refusal>,
    /// Processes deliberately left alone (pid ≤ 1, self, ancestors, another
    /// user's group member), with the reason.
    pub protected: Vec<(Pid, String)>,
    /// Containers to stop through their engine's API (`--force` on a
    /// container's forwarder or process): never done by signalling.
    pub containers: Vec<ContainerStop>,
    /// Process groups taken whole. [`execute`] re-reads them after every
    /// signal round and signals newcomers (a leader still forking), never
    /// anything outside them and [`Plan::tree_roots`]' subtrees.
    pub groups: Vec<Pid>,
    /// Targets whose descendants are taken (all of them with `--tree`; a
    /// holder in portwarden's own group otherwise).
    #[serde(skip)]
    pub tree_roots: Vec<Pid>,
    /// Live processes that may start a holder again after the kill: a
    /// supervisor (forced) or a holder program's living parent.
    pub respawners: Vec<Respawner>,
    /// The policy it was built with.
    #[serde(skip)]
    pub policy: Policy,
}

impl Serialize for Refusal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let seen = self.pid != 0;
        let mut st = s.serialize_struct("Refusal", 4)?;
        st.serialize_field("pid", &seen.then_some(self.pid))?;
        st.serialize_field("class", &seen.then_some(self.class))?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("unresolved", &!seen)?;
        st.end()
    }
}

fn ser_ports<S: serde::Serializer>(ports: &[PortSpec], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ports.iter().map(|p| p.to_string()))
}

impl Plan {
    /// Refused: nothing may be signalled.
    pub fn is_refused(&self) -> bool {
        !self.refusals.is_empty()
    }

    /// Nothing to do (e.g. every port already free): no process to
    /// signal and no container to stop.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.containers.is_empty()
    }

    /// The pids that will be signalled, ascending.
    pub fn pids(&self) -> Vec<Pid> {
        let mut v: Vec<Pid> = self.targets.iter().map(|t| t.pid).collect();
        v.sort_unstable();
        v
    }
}

/// Plan the freeing of `ports`: their holders, the holders' groups, and with
/// [`Policy::tree`] every descendant.
pub fn plan_ports(snap: &Snapshot, ctx: &Context, ports: &[PortSpec], policy: &Policy) -> Plan {
    let ports = &dedup_ports(ports);
    let mut holders: BTreeSet<Pid> = BTreeSet::new();
    let mut refusals = Vec::new();
    let mut already_free = Vec::new();
    for spec in ports {
        let mut any = false;
        for s in snap.sockets_on(spec.port, spec.proto) {
            any = true;
            if s.holders.is_empty() {
                refusals.push(Refusal {
                    pid: 0,
                    class: Class::Foreign,
                    reason: format!(
                        "{} {}: its holder cannot be seen ({})",
                        s.proto,
                        s.endpoint(),
                        s.unresolved.as_deref().unwrap_or("unknown")
                    ),
                });
            }
            holders.extend(s.holders.iter().copied());
        }
        if !any {
            already_free.push(*spec);
        }
    }
    let mut plan = build(snap, ctx, &holders, policy);
    plan.ports = ports.to_vec();
    plan.already_free = already_free;
    refusals.append(&mut plan.refusals);
    plan.refusals = refusals;
    plan
}

/// Plan the end of one process's group (the tree view's kill), as if `pid`
/// were a holder. Its ports (if any) are checked after the kill.
pub fn plan_pid(snap: &Snapshot, ctx: &Context, pid: Pid, policy: &Policy) -> Plan {
    let mut plan = build(snap, ctx, &BTreeSet::from([pid]), policy);
    let mut ports: Vec<PortSpec> = snap
        .sockets
        .iter()
        .filter(|s| s.holders.contains(&pid))
        .map(|s| PortSpec {
            proto: Some(s.proto),
            port: s.port,
        })
        .collect();
    ports.sort();
    ports.dedup();
    plan.ports = ports;
    if snap.process(pid).is_none() {
        plan.refusals.push(Refusal {
            pid,
            class: Class::Foreign,
            reason: format!("pid {pid} is not in the snapshot (it exited or is hidden)"),
        });
    }
    plan
}

/// The ports once each, in the order first named: `80 80 tcp:80` is `80`
/// (a port without protocol already covers both).
pub fn dedup_ports(ports: &[PortSpec]) -> Vec<PortSpec> {
    let mut out: Vec<PortSpec> = Vec::new();
    for p in ports {
        let covered = out
            .iter()
            .any(|q| q.port == p.port && (q.proto.is_none() || q.proto == p.proto));
        if !covered {
            // A later protocol-less spec covers earlier specific ones.
            if p.proto.is_none() {
                out.retain(|q| q.port != p.port);
            }
            out.push(*p);
        }
    }
    out
}

fn protected_reason(ctx: &Context, pid: Pid) -> Option<String> {
    if pid <= 1 {
        Some(format!("pid {pid} is init or the kernel: never signalled"))
    } else if pid == ctx.self_pid {
        Some("portwarden itself: never signalled".to_string())
    } else if ctx.ancestors.contains(&pid) {
        Some(format!(
            "pid {pid} is an ancestor of portwarden (the shell or script that ran it): never signalled"
        ))
    } else {
        None
    }
}

fn build(snap: &Snapshot, ctx: &Context, holders: &BTreeSet<Pid>, policy: &Policy) -> Plan {
    let mut refusals = Vec::new();
    let mut protected: BTreeMap<Pid, String> = BTreeMap::new();
    let mut roles: BTreeMap<Pid, Role> = BTreeMap::new();
    let mut groups: BTreeSet<Pid> = BTreeSet::new();
    let mut tree_roots: BTreeSet<Pid> = BTreeSet::new();
    let mut verdicts = BTreeMap::new();
    // One parent → children index for every subtree walked below.
    let kids = snap.child_index();
    let mut verdict = |pid: Pid| {
        verdicts
            .entry(pid)
            .or_insert_with(|| classify::classify_process(snap, ctx, pid))
            .clone()
    };

    let mut containers: Vec<ContainerStop> = Vec::new();
    for &h in holders {
        let Some(p) = snap.process(h) else { continue };
        let v = verdict(h);
        if let Some(why) = protected_reason(ctx, h) {
            refusals.push(Refusal {
                pid: h,
                class: v.class,
                reason: why,
            });
            continue;
        }
        let refuse = |reason: String| Refusal {
            pid: h,
            class: v.class,
            reason,
        };
        if let Some(c) = v.manager.as_ref().and_then(Manager::container) {
            match container_stop(h, p, c, &v, policy) {
                Ok(stop) if containers.iter().any(|s| s.container.id == c.id) => drop(stop),
                Ok(stop) => containers.push(stop),
                Err(why) => refusals.push(refuse(why)),
            }
            continue;
        }
        match v.class {
            Class::SelfProc => {
                refusals.push(refuse(format!(
                    "pid {h} is portwarden or its ancestor: never signalled"
                )));
                continue;
            }
            Class::Foreign if !policy.force => {
                refusals.push(refuse(format!(
                    "pid {h} ({}) is foreign: {}; use --force to kill it anyway",
                    escape(&p.name),
                    v.reasons.join("; ")
                )));
                continue;
            }
            Class::Managed if !policy.force => {
                let cmd = v
                    .manager
                    .as_ref()
                    .map(|m| m.stop_command())
                    .unwrap_or_else(|| "its service manager".to_string());
                refusals.push(refuse(format!(
                    "pid {h} ({}) is managed: {}; stop it with `{cmd}` (or --force)",
                    escape(&p.name),
                    v.reasons.first().cloned().unwrap_or_default()
                )));
                continue;
            }
            Class::Live if !policy.allow_live => {
                refusals.push(refuse(format!(
                    "pid {h} ({}) is live: {}; killing it needs consent",
                    escape(&p.name),
                    v.reasons.join("; ")
                )));
                continue;
            }
            _ => {}
        }
        if let Some(pat) = &policy.only
            && !p.command().contains(pat.as_str())
        {
            refusals.push(refuse(format!(
                "pid {h} ({}) does not match --only '{}': command is '{}'",
                escape(&p.name),
                escape(pat),
                escape(&p.command())
            )));
            continue;
        }

        roles.insert(h, Role::Holder);
        let own_group = p.pgid == ctx.self_pgid;
        if policy.tree || own_group {
            tree_roots.insert(h);
        }
        if !own_group && p.pgid > 1 {
            groups.insert(p.pgid);
        }
        if !own_group {
            for m in snap.group_members(p.pgid) {
                roles.entry(m).or_insert(Role::Group);
            }
        }
        // Descendants: with --tree always; without it, only when the group
        // could not be taken (a holder in our own group) — then its children
        // are what would have been its group.
        if policy.tree || own_group {
            for d in Snapshot::descendants_in(&kids, h, usize::MAX) {
                roles.entry(d).or_insert(Role::Descendant);
            }
        }
    }
    if policy.tree {
        let group_pids: Vec<Pid> = roles
            .iter()
            .filter(|(_, r)| **r == Role::Group)
            .map(|(p, _)| *p)
            .collect();
        for g in group_pids {
            for d in Snapshot::descendants_in(&kids, g, usize::MAX) {
                roles.entry(d).or_insert(Role::Descendant);
            }
        }
    }

    let mut targets = Vec::new();
    for (pid, role) in roles {
        if let Some(why) = protected_reason(ctx, pid) {
            protected.insert(pid, why);
            continue;
        }
        let Some(p) = snap.process(pid) else { continue };
        // A zombie is already dead (its fds are closed): nothing to signal,
        // and listing it would make the confirmation lie about what dies.
        if matches!(p.state, 'Z' | 'X') {
            continue;
        }
        if role != Role::Holder {
            let v = verdict(pid);
            // A group member or descendant in our own group is the caller's
            // family (the script that ran us): never taken implicitly.
            if p.pgid == ctx.self_pgid && p.pgid > 0 && role == Role::Group {
                protected.insert(pid, "in portwarden's own process group".to_string());
                continue;
            }
            if matches!(v.class, Class::SelfProc) {
                protected.insert(pid, "portwarden or its ancestor".to_string());
                continue;
            }
            if matches!(v.class, Class::Foreign) && !policy.force {
                protected.insert(
                    pid,
                    format!("owned by uid {}, not yours (use --force)", p.uid),
                );
                continue;
            }
            // A session leader on a terminal is someone's shell: a server
            // started from a shell without job control shares its group,
            // but "free the port" never means "close that terminal".
            if p.sid == p.pid
                && let Some(tty) = p.tty()
            {
                protected.insert(
                    pid,
                    format!(
                        "leads the terminal session on {tty} (a shell): not signalled; end it yourself if you mean to"
                    ),
                );
                continue;
            }
        }
        targets.push(Target {
            pid,
            start_time: p.start_time,
            name: p.name.clone(),
            // Display fields: bounded (`--only` matched the whole line).
            command: crate::escape::truncate_cut(&p.command(), procfs::SHOWN_CMDLINE),
            short_command: crate::escape::truncate_cut(&p.short_command(), procfs::SHOWN_CMDLINE),
            uid: p.uid,
            user: p.user.clone(),
            class: verdict(pid).class,
            role,
        });
    }
    targets.sort_by_key(|t| (t.role, t.pid));
    if policy.tree {
        tree_roots.extend(targets.iter().map(|t| t.pid));
    }
    Plan {
        ports: Vec::new(),
        already_free: Vec::new(),
        targets,
        refusals,
        protected: protected.into_iter().collect(),
        containers,
        groups: groups.into_iter().collect(),
        tree_roots: tree_roots.into_iter().collect(),
        respawners: respawners(snap, ctx, holders, &verdicts),
        policy: policy.clone(),
    }
}

/// A container to stop through its engine's API, found behind holder
/// `holder`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerStop {
    /// The holder (forwarder or container process) that led to it.
    pub holder: Pid,
    /// The container.
    pub container: Container,
    /// The engine's API socket it is stopped through.
    pub socket: String,
    /// What a person would run instead.
    pub stop_command: String,
}

/// A container's holder: stopped through the engine when forced (never by
/// signalling the forwarder or the container's processes), else refused
/// with the engine's stop command.
fn container_stop(
    h: Pid,
    p: &crate::model::Process,
    c: &Container,
    v: &classify::Verdict,
    policy: &Policy,
) -> std::result::Result<ContainerStop, String> {
    let cmd = match &c.rootless_user {
        Some(u) => format!("{}` as user `{}", c.stop_command(), escape(u)),
        None => c.stop_command(),
    };
    let engine = c.engine.as_str();
    let unreachable: Vec<&str> = v
        .reasons
        .iter()
        .filter(|r| r.starts_with("no ") && r.contains("API reachable"))
        .map(String::as_str)
        .collect();
    let head = format!(
        "pid {h} ({}) is managed: {}{}",
        escape(&p.name),
        v.reasons.first().map(String::as_str).unwrap_or_default(),
        unreachable
            .iter()
            .map(|r| format!("; {r}"))
            .collect::<String>()
    );
    if !policy.force {
        return Err(format!(
            "{head}; stop it with `{cmd}` (or --force, which stops the container through the {engine} API)"
        ));
    }
    if let Some(pat) = &policy.only {
        let named = c.name.as_deref().is_some_and(|n| n.contains(pat.as_str()));
        if !named && !p.command().contains(pat.as_str()) {
            return Err(format!(
                "{head}; neither it nor its container matches --only '{}'",
                escape(pat)
            ));
        }
    }
    match &c.api {
        Some(socket) if !c.id.is_empty() => Ok(ContainerStop {
            holder: h,
            container: c.clone(),
            socket: socket.clone(),
            stop_command: cmd,
        }),
        _ => Err(format!(
            "{head}; --force cannot stop it: the {engine} API did not answer for it, and \
             portwarden never signals a container's forwarder or processes; stop it with `{cmd}`"
        )),
    }
}

/// Who could start each holder again: the supervisor of a managed program,
/// or the living parent of a holder's program (not init, not a subreaper).
fn respawners(
    snap: &Snapshot,
    ctx: &Context,
    holders: &BTreeSet<Pid>,
    verdicts: &BTreeMap<Pid, classify::Verdict>,
) -> Vec<Respawner> {
    let mut out: Vec<Respawner> = Vec::new();
    for &h in holders {
        let (Some(p), Some(v)) = (snap.process(h), verdicts.get(&h)) else {
            continue;
        };
        let leader = crate::program::leader(snap, p, |pid| {
            pid <= 1
                || snap
                    .process(pid)
                    .is_some_and(|q| classify::is_supervisor_name(&q.name, &ctx.extra_supervisors))
        });
        let r = match v.manager.as_ref().filter(|m| m.restarts()) {
            Some(m) => {
                let pid = crate::program::restarter(snap, leader).map_or(1, |(pid, _)| pid);
                Respawner {
                    pid,
                    name: snap
                        .process(pid)
                        .map(|q| q.name.clone())
                        .unwrap_or_default(),
                    manages: Some(m.describe()),
                    stop_command: Some(m.stop_command()),
                    supervised: true,
                }
            }
            None => {
                let Some(pp) = snap.process(leader.ppid).filter(|pp| {
                    pp.pid > 1
                        && !holders.contains(&pp.pid)
                        && !classify::is_supervisor_name(&pp.name, &ctx.extra_supervisors)
                }) else {
                    continue;
                };
                Respawner {
                    pid: pp.pid,
                    name: pp.name.clone(),
                    manages: None,
                    stop_command: None,
                    supervised: false,
                }
            }
        };
        if !out.iter().any(|o| o.pid == r.pid) {
            out.push(r);
        }
    }
    out
}

/// Progress reported while [`execute`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A signal was delivered.
    Signalled {
        /// The target.
        pid: Pid,
        /// The signal number.
        signal: i32,
    },
    /// A target was observed dead (exited or zombie).
    Exited {
        /// The target.
        pid: Pid,
        /// Time since the first signal.
        after: Duration,
    },
    /// The grace ran out: survivors get SIGKILL.
    Escalating,
    /// Every target is dead; checking the port.
    WaitingForPort,
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

fn ser_port<S: serde::Serializer>(p: &PortSpec, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string())
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round())
}

fn ser_opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_secs_f64() * 1000.0).round()),
        None => s.serialize_none(),
    }
}

/// What [`execute`] observed.
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
        if !self.refusals.is_empty() {
            return format!(
                "refused, nothing signalled: {}",
                fold_refusals(&self.refusals).join("; ")
            );
        }
        let n = self.ended_count();
        let procs = if n == 1 { "process" } else { "processes" };
        let mut s = String::new();
        if self.still_held.is_empty() {
            match self.port_free_after {
                Some(d) => {
                    let _ = write!(s, "{plural} {ports} free after {} ms", d.as_millis());
                }
                None => {
                    let _ = write!(s, "{plural} {ports} free");
                }
            }
            let _ = write!(s, " — {}", self.ended_phrase(n, procs));
        } else {
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
            let _ = write!(s, "{}", self.ended_phrase(n, procs));
        }
        s.push_str(&self.container_failures());
        let c = &self.convergence;
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
            let _ = write!(s, "; stopped re-reading the groups at the bound");
        }
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
}

impl Report {
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
    fn ended_phrase(&self, n: usize, procs: &str) -> String {
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

/// A target during execution.
struct Live {
    idx: usize,
    pid: Pid,
    start_time: u64,
    /// `None` on kernels without pidfd (< 5.3): fall back to kill(2).
    fd: Option<OwnedFd>,
}

enum Verify {
    Same(Option<OwnedFd>),
    Gone(String),
    Mismatch(String),
}

/// Re-verify a target's identity right before signalling. With a pidfd, the
/// start time is checked *after* opening it, so the fd pins exactly the
/// process that was planned.
fn verify(pid: Pid, start_time: u64) -> Verify {
    let Some(rpid) = rustix::process::Pid::from_raw(pid) else {
        return Verify::Gone("invalid pid".into());
    };
    let fd = match rustix::process::pidfd_open(rpid, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => Some(fd),
        Err(rustix::io::Errno::SRCH) => return Verify::Gone("already gone".into()),
        Err(rustix::io::Errno::NOSYS) => None,
        Err(e) => return Verify::Gone(format!("already gone? pidfd_open failed: {e}")),
    };
    match procfs::stat(pid) {
        None => Verify::Gone("already gone".into()),
        Some(st) if st.start_time != start_time => Verify::Mismatch(format!(
            "pid reused: start time {} differs from planned {start_time}; not signalled",
            st.start_time
        )),
        Some(st) if st.state == 'Z' || st.state == 'X' => {
            Verify::Gone("already gone (zombie: its fds are closed)".into())
        }
        Some(_) => Verify::Same(fd),
    }
}

fn send(pid: Pid, fd: Option<&OwnedFd>, start_time: u64, sig: i32) -> rustix::io::Result<()> {
    let signal = rustix::process::Signal::from_named_raw(sig).ok_or(rustix::io::Errno::INVAL)?;
    match fd {
        Some(fd) => rustix::process::pidfd_send_signal(fd, signal),
        None => {
            // No pidfd: re-check identity as late as possible, then kill(2).
            if procfs::start_time(pid) != Some(start_time) {
                return Err(rustix::io::Errno::SRCH);
            }
            let rpid = rustix::process::Pid::from_raw(pid).ok_or(rustix::io::Errno::INVAL)?;
            rustix::process::kill_process(rpid, signal)
        }
    }
}

fn is_dead(l: &Live) -> bool {
    match procfs::stat(l.pid) {
        None => true,
        Some(st) => st.start_time != l.start_time || st.state == 'Z' || st.state == 'X',
    }
}

/// Wait until every live target is dead or `deadline` passes; record exit
/// times. Waits on pidfd readability (the kernel wakes us at exit), polling
/// /proc only for targets without a pidfd.
fn wait_all(
    live: &mut Vec<Live>,
    outcomes: &mut [Outcome],
    start: Instant,
    deadline: Instant,
    on: &mut dyn FnMut(&Progress),
) {
    loop {
        // Reap what is already dead (covers zombies and the no-pidfd case).
        live.retain(|l| {
            let dead = is_dead(l);
            if dead {
                let after = start.elapsed();
                outcomes[l.idx].exited_after = Some(after);
                on(&Progress::Exited { pid: l.pid, after });
            }
            !dead
        });
        let now = Instant::now();
        if live.is_empty() || now >= deadline {
            return;
        }
        let remaining = deadline - now;
        let has_fallback = live.iter().any(|l| l.fd.is_none());
        let step = if has_fallback {
            remaining.min(Duration::from_millis(10))
        } else {
            remaining
        };
        let mut pfds: Vec<rustix::event::PollFd<'_>> = live
            .iter()
            .filter_map(|l| l.fd.as_ref())
            .map(|fd| rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN))
            .collect();
        let ts = rustix::event::Timespec {
            tv_sec: step.as_secs() as i64,
            tv_nsec: i64::from(step.subsec_nanos()),
        };
        if pfds.is_empty() {
            std::thread::sleep(step);
        } else {
            // EINTR or a spurious wake just loops; the deadline bounds us.
            let _ = rustix::event::poll(&mut pfds, Some(&ts));
        }
    }
}

/// How long one signal round waits before re-reading the planned groups.
const ROUND: Duration = Duration::from_millis(50);
/// At most this many signal rounds (the grace and [`KILL_GRACE`] bound the
/// time as well).
const MAX_ROUNDS: u32 = 400;

fn new_outcome(pid: Pid, name: &str, role: Role) -> Outcome {
    Outcome {
        pid,
        name: name.to_string(),
        role,
        signals: Vec::new(),
        exited_after: None,
        skipped: None,
        error: None,
    }
}

/// Verify `o.pid` against `start_time`, send `sig`, record the outcome and
/// (when signalled) the live entry.
fn signal_one(
    outcomes: &mut Vec<Outcome>,
    live: &mut Vec<Live>,
    mut o: Outcome,
    start_time: u64,
    sig: i32,
    on: &mut dyn FnMut(&Progress),
) {
    let idx = outcomes.len();
    match verify(o.pid, start_time) {
        Verify::Gone(why) | Verify::Mismatch(why) => o.skipped = Some(why),
        Verify::Same(fd) => match send(o.pid, fd.as_ref(), start_time, sig) {
            Ok(()) => {
                o.signals.push(sig);
                on(&Progress::Signalled {
                    pid: o.pid,
                    signal: sig,
                });
                live.push(Live {
                    idx,
                    pid: o.pid,
                    start_time,
                    fd,
                });
            }
            Err(rustix::io::Errno::SRCH) => o.skipped = Some("already gone".into()),
            Err(e) => o.error = Some(format!("signal failed: {e}")),
        },
    }
    outcomes.push(o);
}

/// Wait, re-read the planned groups and subtrees, signal newcomers with
/// the signal of the moment; escalate to SIGKILL when the grace is over;
/// stop when nothing is alive and nothing new arrived, or at the bound.
/// SIGSTOP: freezes a subtree before SIGKILL (see [`RoundState::kill_all`]).
const SIGSTOP: i32 = 19;
/// Most rounds of looking for children of frozen processes.
const FREEZE_ROUNDS: u32 = 20;

/// What the signal rounds work on.
struct RoundState {
    scope: converge::Scope,
    /// Every pid planned or signalled: never a newcomer.
    planned: std::collections::HashSet<Pid>,
    conv: Convergence,
    live: Vec<Live>,
}

impl RoundState {
    /// Read the planned groups and subtrees; signal what is new with `sig`.
    /// Returns whether anything new arrived.
    fn signal_newcomers(
        &mut self,
        outcomes: &mut Vec<Outcome>,
        sig: i32,
        on: &mut dyn FnMut(&Progress),
    ) -> bool {
        let fresh = self.fetch();
        self.signal(fresh, outcomes, sig, on)
    }

    /// SIGKILL every live target. In a subtree kill they are first all
    /// stopped (SIGSTOP), and what they forked before stopping is taken in
    /// and stopped too, so no child is forked between the last look and its
    /// parent's death (it would be reparented and lost to the tree).
    fn kill_all(&mut self, outcomes: &mut Vec<Outcome>, on: &mut dyn FnMut(&Progress)) {
        if self.scope.has_tree() {
            self.send_all(SIGSTOP, outcomes, on);
            for _ in 0..FREEZE_ROUNDS {
                let fresh = self.fetch();
                if !self.signal(fresh, outcomes, SIGSTOP, on) {
                    break;
                }
            }
        }
        self.send_all(SIGKILL, outcomes, on);
    }

    /// `sig` to every live target (identity pinned by its pidfd).
    fn send_all(&self, sig: i32, outcomes: &mut [Outcome], on: &mut dyn FnMut(&Progress)) {
        for l in &self.live {
            if send(l.pid, l.fd.as_ref(), l.start_time, sig).is_ok() {
                outcomes[l.idx].signals.push(sig);
                on(&Progress::Signalled {
                    pid: l.pid,
                    signal: sig,
                });
            }
        }
    }

    /// Newcomers to the planned groups and subtrees since the last look.
    fn fetch(&mut self) -> Vec<converge::Newcomer> {
        if self.scope.is_empty() {
            return Vec::new();
        }
        self.scope.newcomers(&self.planned)
    }

    /// Identity-check and signal `fresh` with `sig`; whether there were any.
    fn signal(
        &mut self,
        fresh: Vec<converge::Newcomer>,
        outcomes: &mut Vec<Outcome>,
        sig: i32,
        on: &mut dyn FnMut(&Progress),
    ) -> bool {
        let arrived = !fresh.is_empty();
        for n in fresh {
            self.planned.insert(n.pid);
            self.conv.newcomers += 1;
            let o = new_outcome(n.pid, &n.name, n.role);
            signal_one(outcomes, &mut self.live, o, n.start_time, sig, on);
        }
        arrived
    }
}

fn rounds(
    plan: &Plan,
    st: &mut RoundState,
    outcomes: &mut Vec<Outcome>,
    start: Instant,
    on: &mut dyn FnMut(&Progress),
) {
    let mut sig = plan.policy.signal;
    let mut deadline = start + plan.policy.grace;
    loop {
        let step = if st.scope.is_empty() {
            deadline
        } else {
            deadline.min(Instant::now() + ROUND)
        };
        wait_all(&mut st.live, outcomes, start, step, on);
        st.conv.rounds += 1;
        let arrived = st.signal_newcomers(outcomes, sig, on);
        st.conv.elapsed = start.elapsed();
        if st.live.is_empty() && !arrived {
            return;
        }
        if Instant::now() >= deadline {
            if sig == SIGKILL {
                st.conv.bounded = true;
                return;
            }
            sig = SIGKILL;
            deadline = Instant::now() + KILL_GRACE;
            on(&Progress::Escalating);
            st.kill_all(outcomes, on);
        }
        if st.conv.rounds >= MAX_ROUNDS {
            st.conv.bounded = true;
            return;
        }
    }
}

/// Carry out a plan: verify, signal, escalate, confirm. Blocking (up to
/// grace + 2 s + a short port check); run it off any UI thread.
///
/// A refused plan signals nothing and returns a report carrying the
/// refusals.
pub fn execute(plan: &Plan, on: &mut dyn FnMut(&Progress)) -> Report {
    let mut report = Report {
        ports: plan.ports.clone(),
        outcomes: Vec::new(),
        refusals: plan.refusals.clone(),
        port_free_after: None,
        still_held: Vec::new(),
        containers: Vec::new(),
        convergence: Convergence::default(),
    };
    if plan.is_refused() {
        return report;
    }
    let start = Instant::now();
    for cs in &plan.containers {
        let t0 = Instant::now();
        let r = crate::os::engine::stop(
            std::path::Path::new(&cs.socket),
            &cs.container.id,
            plan.policy.grace,
        );
        report.containers.push(ContainerOutcome {
            container: cs.container.clone(),
            stopped_after: r.is_ok().then(|| t0.elapsed()),
            error: r.err().map(|e| format!("{}: {e}", cs.socket)),
        });
    }
    // The protected set, re-read now: ancestors could have changed since the
    // plan was made (our parent died and we were reparented).
    let me = std::process::id() as Pid;
    let ancestors = crate::os::ancestors_of(me);

    // 0 in a PID namespace whose group leader lives outside it.
    let self_pgid = nix::unistd::getpgrp().as_raw();
    let scope = converge::Scope::new(plan, me, self_pgid, &ancestors);
    let planned: std::collections::HashSet<Pid> = plan.targets.iter().map(|t| t.pid).collect();
    let mut st = RoundState {
        scope,
        planned,
        conv: Convergence::default(),
        live: Vec::new(),
    };
    // Read the groups once before the first signal: members forked since
    // the plan are signalled with it, and later rounds only read pids that
    // are new since (a listing of /proc), so the port is confirmed free
    // right after the last exit.
    let early = st.fetch();
    // A first SIGKILL in a subtree kill is a stop, then `kill_all`.
    let freeze_first = plan.policy.signal == SIGKILL && st.scope.has_tree();
    let first = if freeze_first {
        SIGSTOP
    } else {
        plan.policy.signal
    };
    // Convergence is bounded from the first signal; `start` (before any
    // container stop) is what "free after" is measured from.
    let signalled = Instant::now();
    let live = &mut st.live;
    for t in &plan.targets {
        let mut o = new_outcome(t.pid, &t.name, t.role);
        if t.pid <= 1 || t.pid == me || ancestors.contains(&t.pid) {
            o.skipped = Some("protected (init, portwarden or its ancestor)".into());
            report.outcomes.push(o);
            continue;
        }
        signal_one(&mut report.outcomes, live, o, t.start_time, first, on);
    }
    st.signal(early, &mut report.outcomes, first, on);
    if freeze_first {
        st.kill_all(&mut report.outcomes, on);
    }
    rounds(plan, &mut st, &mut report.outcomes, signalled, on);
    report.convergence = st.conv;

    on(&Progress::WaitingForPort);
    // A supervisor restarts after a delay (supervisord: about a second):
    // watch long enough to see it.
    let watch = if plan.respawners.iter().any(|r| r.supervised) {
        plan.policy.watch.max(plan.policy.respawn_watch)
    } else {
        plan.policy.watch
    };
    confirm_ports(&mut report, start, watch);
    report
}

/// Look at the ports again. A listening socket closes in the holder's exit
/// path before the pidfd wakes us, so "free" is normally immediate; a short
/// bounded re-check covers sockets whose last fd lived elsewhere. Once free,
/// the ports are watched for `watch` more, to catch a respawn.
fn confirm_ports(report: &mut Report, start: Instant, watch: Duration) {
    let mut scanner = Scanner::new();
    let ports = report.ports.clone();
    let held_now = |scanner: &mut Scanner| -> Vec<PortSpec> {
        let Ok(socks) = scanner.sockets(&Options::default()) else {
            return ports.clone();
        };
        ports
            .iter()
            .filter(|p| socks.iter().any(|s| p.matches(s.proto, s.port)))
            .copied()
            .collect()
    };
    let settle = Instant::now() + Duration::from_millis(300);
    let mut held = held_now(&mut scanner);
    while !held.is_empty() && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(5));
        held = held_now(&mut scanner);
    }
    let mut retaken_after = None;
    if held.is_empty() {
        let free_after = start.elapsed();
        report.port_free_after = Some(free_after);
        let until = Instant::now() + watch;
        while held.is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
            held = held_now(&mut scanner);
        }
        if held.is_empty() {
            return;
        }
        report.port_free_after = None;
        retaken_after = Some(free_after);
    }
    // Still held: say by whom — a supervisor may have respawned it.
    let snap = scanner.scan(&Options::default()).ok();
    let ctx = Context::current();
    for port in held {
        let by = snap
            .as_ref()
            .map(|snap| holders_described(snap, port))
            .unwrap_or_default();
        let (respawner, next_step) = snap
            .as_ref()
            .map(|snap| respawn_next_step(snap, &ctx, port))
            .unwrap_or_default();
        report.still_held.push(StillHeld {
            port,
            by,
            retaken_after,
            respawner,
            next_step,
        });
    }
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

/// Reclaim `port` for a program that is about to bind it: plan with
/// `policy`, refuse rather than touch anything the policy forbids, execute,
/// and return the report only when the port was observed free.
///
/// With [`Policy::default`] only orphans and daemons of the calling user
/// are ended; `live`, `foreign` and `managed` holders make it refuse.
///
/// ```no_run
/// use portwarden::kill::{ensure_port_free, Policy};
///
/// // At start-up, reclaim our sidecar's port from an orphan of a previous
/// // run, but never touch anything else.
/// let policy = Policy { only: Some("my-sidecar".into()), ..Policy::default() };
/// match ensure_port_free(4317, &policy) {
///     Ok(report) => eprintln!("{}", report.summary()),
///     Err(e) => eprintln!("cannot reclaim :4317: {e}"),
/// }
/// // … now bind 4317.
/// ```
pub fn ensure_port_free(port: u16, policy: &Policy) -> Result<Report> {
    let snap = Scanner::new().scan(&Options::default())?;
    let ctx = Context::current();
    let spec = PortSpec { proto: None, port };
    let plan = plan_ports(&snap, &ctx, &[spec], policy);
    if plan.is_refused() {
        return Err(Error::Refused(
            plan.refusals
                .iter()
                .map(|r| r.reason.clone())
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    let report = execute(&plan, &mut |_| {});
    if report.success() {
        Ok(report)
    } else {
        Err(Error::NotFreed(report.summary()))
    }
}

/// What [`wait_port`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// No socket listens on the port.
    Free,
    /// Some socket listens on the port.
    Listening,
}

/// Poll the kernel's socket table (no `/proc` walk) every 10 ms until the
/// condition holds (`Ok(true)`) or `timeout` passes (`Ok(false)`).
pub fn wait_port(spec: PortSpec, cond: Condition, timeout: Option<Duration>) -> Result<bool> {
    let mut scanner = Scanner::new();
    let opts = Options::for_proto(spec.proto);
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let socks = scanner.sockets(&opts)?;
        let listening = socks.iter().any(|s| spec.matches(s.proto, s.port));
        if listening == (cond == Condition::Listening) {
            return Ok(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Parse a signal name or number: `TERM`, `SIGTERM`, `term`, `15`.
pub fn parse_signal(s: &str) -> std::result::Result<i32, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map(|sig| sig as i32)
            .map_err(|_| format!("invalid signal '{}': no such signal number", escape(s)));
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| {
            format!(
                "invalid signal '{}': use a name like TERM, INT, KILL or a number",
                escape(s)
            )
        })
}

/// Signals whose default action ends a process (Linux, signal(7)): the
/// only ones that make sense as the first signal of a kill.
pub const ENDING_SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "XCPU", "XFSZ", "VTALRM", "PROF", "IO", "PWR", "SYS",
];

/// Whether `sig`'s default action ends a process (STOP, CONT, CHLD, WINCH,
/// URG, TSTP, TTIN and TTOU stop it, continue it or are ignored).
pub fn ends_process(sig: i32) -> bool {
    ENDING_SIGNALS.contains(&signal_name(sig).as_str())
}

/// [`parse_signal`], refusing a signal that cannot end a process: `kill
/// --signal STOP` would "succeed" at freeing nothing, then SIGKILL.
pub fn parse_kill_signal(s: &str) -> std::result::Result<i32, String> {
    let sig = parse_signal(s)?;
    if ends_process(sig) {
        return Ok(sig);
    }
    Err(format!(
        "signal {} cannot end a process (by default it stops, continues or is ignored); use one that can: {}",
        signal_name(sig),
        ENDING_SIGNALS.join(", ")
    ))
}

/// A signal's name without the `SIG` prefix (`TERM`), or its number.
pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().trim_start_matches("SIG").to_string())
        .unwrap_or_else(|_| sig.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixture::{ctx, proc, snap, tcp};

    fn port(p: u16) -> Vec<PortSpec> {
        vec![PortSpec {
            proto: None,
            port: p,
        }]
    }

    fn live_ok() -> Policy {
        Policy {
            allow_live: true,
            ..Policy::default()
        }
    }

    #[test]
    fn orphan_group_is_taken_whole() {
        // npm (50, leader, orphaned) → node (51, holder) → worker (52); all in group 50.
        let s = snap(
            vec![
                proc(50, 1, 50, 40, 1000, "npm"),
                proc(51, 50, 50, 40, 1000, "node"),
                proc(52, 51, 50, 40, 1000, "worker"),
                proc(53, 51, 53, 53, 1000, "escapee"),
            ],
            vec![tcp(3000, &[51])],
        );
        let plan = plan_ports(&s, &ctx(), &port(3000), &Policy::default());
        assert!(!plan.is_refused(), "{:?}", plan.refusals);
        assert_eq!(plan.pids(), vec![50, 51, 52]);
        assert_eq!(plan.targets[0].role, Role::Holder);
        assert_eq!(plan.targets[0].start_time, 1051);
        // --tree also takes the setsid escapee.
        let tree = Policy {
            tree: true,
            ..Policy::default()
        };
        assert_eq!(
            plan_ports(&s, &ctx(), &port(3000), &tree).pids(),
            vec![50, 51, 52, 53]
        );
    }

    #[test]
    fn protected_set_is_never_planned() {
        // A holder inside our own group 900 (a script ran `server &` then us):
        // the group is not taken, only the holder and its descendants.
        let s = snap(
            vec![
                proc(800, 1, 800, 800, 1000, "bash"),
                proc(900, 800, 900, 800, 1000, "portwarden"),
                proc(899, 800, 900, 800, 1000, "script"),
                proc(901, 899, 900, 800, 1000, "server"),
                proc(902, 901, 900, 800, 1000, "server-child"),
                // A weird holder group that contains init and our shell.
                proc(5, 1, 1, 1, 1000, "odd"),
            ],
            vec![tcp(8080, &[901]), tcp(9090, &[5, 1, 0, 900, 800])],
        );
        let plan = plan_ports(&s, &ctx(), &port(8080), &live_ok());
        assert!(!plan.is_refused(), "{:?}", plan.refusals);
        assert_eq!(plan.pids(), vec![901, 902]);
        for bad in [0, 1, 800, 899, 900] {
            assert!(!plan.pids().contains(&bad), "{bad} planned");
        }
        // Holders that are init, self or ancestors refuse the plan.
        let plan = plan_ports(&s, &ctx(), &port(9090), &live_ok());
        assert!(plan.is_refused());
        let refused: Vec<Pid> = plan.refusals.iter().map(|r| r.pid).collect();
        assert!(refused.contains(&1) && refused.contains(&900) && refused.contains(&800));
        assert!(
            plan.targets
                .iter()
                .all(|t| t.pid > 1 && t.pid != 900 && t.pid != 800)
        );
        // Even with force.
        let forced = Policy {
            force: true,
            ..live_ok()
        };
        let plan = plan_ports(&s, &ctx(), &port(9090), &forced);
        assert!(plan.is_refused());
        assert!(
            plan.targets
                .iter()
                .all(|t| t.pid > 1 && t.pid != 900 && t.pid != 800)
        );
    }

    #[test]
    fn policy_refusals() {
        let mut managed = proc(30, 1, 30, 30, 1000, "nginx");
        managed.cgroup = Some("0::/system.slice/nginx.service\n".into());
        let s = snap(
            vec![
                proc(20, 1, 20, 20, 33, "apache2"),
                managed,
                proc(800, 1, 800, 800, 1000, "bash"),
                proc(40, 800, 40, 800, 1000, "vite"),
            ],
            vec![tcp(80, &[20]), tcp(81, &[30]), tcp(5173, &[40])],
        );
        let c = ctx();
        let foreign = plan_ports(&s, &c, &port(80), &live_ok());
        assert!(foreign.is_refused() && foreign.targets.is_empty());
        assert!(foreign.refusals[0].reason.contains("--force"));
        let forced = Policy {
            force: true,
            ..live_ok()
        };
        assert_eq!(plan_ports(&s, &c, &port(80), &forced).pids(), vec![20]);

        let managed = plan_ports(&s, &c, &port(81), &live_ok());
        assert!(managed.is_refused());
        assert!(
            managed.refusals[0]
                .reason
                .contains("systemctl stop nginx.service")
        );

        // Live needs consent.
        assert!(plan_ports(&s, &c, &port(5173), &Policy::default()).is_refused());
        assert_eq!(plan_ports(&s, &c, &port(5173), &live_ok()).pids(), vec![40]);

        // --only must match every holder.
        let only = |p: &str| Policy {
            only: Some(p.into()),
            ..live_ok()
        };
        assert_eq!(
            plan_ports(&s, &c, &port(5173), &only("vite")).pids(),
            vec![40]
        );
        let miss = plan_ports(&s, &c, &port(5173), &only("webpack"));
        assert!(miss.is_refused() && miss.targets.is_empty());
    }

    /// docker-proxy (pid 500, root) holding :18080 for container `web`,
    /// with or without an answering engine API.
    fn forwarded(api: bool) -> Snapshot {
        use crate::container::{Container, Engine, EngineProbe, Published, Source};
        let mut fwd = proc(500, 400, 400, 400, 1000, "docker-proxy");
        fwd.cmdline = [
            "docker-proxy",
            "-proto",
            "tcp",
            "-host-port",
            "18080",
            "-container-ip",
            "172.17.0.2",
        ]
        .map(String::from)
        .to_vec();
        let mut s = snap(
            vec![proc(400, 1, 400, 400, 1000, "dockerd"), fwd],
            vec![tcp(18080, &[500])],
        );
        let mut c = Container::bare(Engine::Docker, "b77e2cccdedb4ae4f1331b57a7f0749a51fdf2b0");
        c.name = Some("web".into());
        c.ips = vec!["172.17.0.2".parse().expect("ip")];
        c.ports = vec![Published {
            proto: crate::model::Proto::Tcp,
            host_ip: None,
            host_port: 18080,
            container_port: 8080,
        }];
        c.source = if api { Source::Api } else { Source::Disk };
        c.api = api.then(|| "/run/docker.sock".to_string());
        s.containers.probes.push(EngineProbe {
            engine: Engine::Docker,
            socket: "/run/docker.sock".into(),
            error: (!api).then(|| "/run/docker.sock: connection refused".to_string()),
        });
        s.containers.containers.push(c);
        s
    }

    #[test]
    fn a_container_is_stopped_through_its_engine_never_signalled() {
        let s = forwarded(true);
        let plain = plan_ports(&s, &ctx(), &port(18080), &live_ok());
        assert!(plain.is_refused() && plain.targets.is_empty() && plain.containers.is_empty());
        assert!(
            plain.refusals[0]
                .reason
                .contains("stop it with `docker stop web`"),
            "{plain:?}"
        );
        let forced = Policy {
            force: true,
            ..live_ok()
        };
        let plan = plan_ports(&s, &ctx(), &port(18080), &forced);
        assert!(!plan.is_refused() && !plan.is_empty(), "{plan:?}");
        assert!(plan.targets.is_empty(), "the forwarder is never a target");
        assert_eq!(plan.containers.len(), 1);
        assert_eq!(plan.containers[0].holder, 500);
        assert_eq!(plan.containers[0].socket, "/run/docker.sock");
        // --only must match the holder or the container.
        let only = |pat: &str| Policy {
            only: Some(pat.into()),
            ..forced.clone()
        };
        assert!(!plan_ports(&s, &ctx(), &port(18080), &only("web")).is_refused());
        assert!(plan_ports(&s, &ctx(), &port(18080), &only("nginx")).is_refused());
    }

    #[test]
    fn a_report_names_the_stopped_container() {
        let c = forwarded(true).containers.containers[0].clone();
        let mut r = Report {
            ports: port(18080),
            outcomes: Vec::new(),
            refusals: Vec::new(),
            port_free_after: Some(Duration::from_millis(3200)),
            still_held: Vec::new(),
            containers: vec![ContainerOutcome {
                container: c,
                stopped_after: Some(Duration::from_millis(3100)),
                error: None,
            }],
            convergence: Convergence::default(),
        };
        assert!(r.success());
        assert_eq!(
            r.summary(),
            "port 18080 free after 3200 ms — docker container web (id b77e2cccdedb) stopped through the docker API"
        );
        r.containers[0].stopped_after = None;
        r.containers[0].error = Some("/run/docker.sock: permission denied".into());
        r.port_free_after = None;
        r.still_held.push(StillHeld {
            port: port(18080)[0],
            by: vec!["pid 500 (docker-proxy), child of pid 400 (dockerd)".into()],
            retaken_after: None,
            respawner: None,
            next_step: None,
        });
        assert!(!r.success());
        assert!(
            r.summary()
                .contains("could not stop docker container web (id b77e2cccdedb): /run/docker.sock: permission denied"),
            "{}",
            r.summary()
        );
    }

    #[test]
    fn without_an_engine_even_force_refuses() {
        let s = forwarded(false);
        let forced = Policy {
            force: true,
            ..live_ok()
        };
        let plan = plan_ports(&s, &ctx(), &port(18080), &forced);
        assert!(plan.is_refused() && plan.is_empty(), "{plan:?}");
        let why = &plan.refusals[0].reason;
        assert!(
            why.contains("no docker engine API reachable: /run/docker.sock: connection refused"),
            "{why}"
        );
        assert!(why.contains("--force cannot stop it"), "{why}");
        assert!(why.contains("`docker stop web`"), "{why}");
    }

    #[test]
    fn free_port_and_unresolved_socket() {
        let mut hidden = tcp(2024, &[]);
        hidden.unresolved = Some("owned by uid 0".into());
        let s = snap(vec![], vec![hidden]);
        let free = plan_ports(&s, &ctx(), &port(4000), &Policy::default());
        assert!(free.is_empty() && !free.is_refused());
        assert_eq!(free.already_free, port(4000));
        let p = plan_ports(&s, &ctx(), &port(2024), &Policy::default());
        assert!(p.is_refused(), "an unseen holder cannot be freed: refuse");
    }

    #[test]
    fn a_shell_sharing_the_group_is_left_alone() {
        // bash (login shell on pts/2, no job control) started node in its
        // own group; node holds the port.
        let mut bash = proc(50, 40, 50, 50, 1000, "bash");
        bash.tty_nr = (136 << 8) | 2;
        let mut node = proc(51, 50, 50, 50, 1000, "node");
        node.tty_nr = bash.tty_nr;
        let s = snap(
            vec![proc(40, 1, 40, 40, 1000, "sshd"), bash, node],
            vec![tcp(3000, &[51])],
        );
        let plan = plan_ports(&s, &ctx(), &port(3000), &live_ok());
        assert_eq!(plan.pids(), vec![51]);
        assert!(
            plan.protected
                .iter()
                .any(|(p, why)| *p == 50 && why.contains("pts/2"))
        );
    }

    #[test]
    fn zombies_are_not_targets() {
        let mut zombie = proc(50, 1, 50, 50, 1000, "npm");
        zombie.state = 'Z';
        let s = snap(
            vec![zombie, proc(51, 1, 50, 50, 1000, "node")],
            vec![tcp(3000, &[51])],
        );
        assert_eq!(
            plan_ports(&s, &ctx(), &port(3000), &Policy::default()).pids(),
            vec![51]
        );
    }

    #[test]
    fn respawners_and_next_steps() {
        let mut sup = proc(50, 1, 50, 50, 1000, "supervisord");
        sup.cmdline = vec!["supervisord".into()];
        let mut s = snap(
            vec![
                sup,
                proc(51, 50, 51, 50, 1000, "python3"),
                proc(800, 1, 800, 800, 1000, "bash"),
                proc(61, 800, 61, 800, 1000, "python3"),
                proc(71, 1, 71, 71, 1000, "redis-server"),
            ],
            vec![tcp(8000, &[51]), tcp(8001, &[61]), tcp(8002, &[71])],
        );
        let mut f = crate::evidence::Facts::default();
        f.env.insert("SUPERVISOR_PROCESS_NAME".into(), "web".into());
        s.facts.insert(51, f);
        let forced = Policy {
            force: true,
            allow_live: true,
            ..Policy::default()
        };
        let r = |p: u16| plan_ports(&s, &ctx(), &port(p), &forced).respawners;
        // A supervisor restarts: watched for respawn_watch.
        let sup = r(8000);
        assert_eq!(sup.len(), 1);
        assert_eq!((sup[0].pid, sup[0].supervised), (50, true));
        assert_eq!(
            sup[0].stop_command.as_deref(),
            Some("supervisorctl stop web")
        );
        // A living parent may restart its child: named, not supervised.
        let live = r(8001);
        assert_eq!((live[0].pid, live[0].supervised), (800, false));
        // A daemon under init: nobody to restart it.
        assert!(r(8002).is_empty());

        let c = ctx();
        let spec = |p: u16| PortSpec {
            proto: None,
            port: p,
        };
        let (who, next) = respawn_next_step(&s, &c, spec(8000));
        assert_eq!(
            who.as_deref(),
            Some("pid 50 (supervisord), supervisord program web")
        );
        assert!(next.is_some_and(|n| n.contains("`supervisorctl stop web`")));
        let (who, next) = respawn_next_step(&s, &c, spec(8001));
        assert_eq!(who.as_deref(), Some("pid 800 (bash)"));
        assert!(
            next.is_some_and(|n| n.contains("`kill 800`") && n.contains("portwarden kill 8001"))
        );
        let (who, next) = respawn_next_step(&s, &c, spec(8002));
        assert_eq!(who, None);
        assert!(next.is_some_and(|n| n.contains("portwarden why 8002")));
    }

    #[test]
    fn refusals_of_workers_of_one_program_are_said_once() {
        let r = |pid: Pid, reason: &str| Refusal {
            pid,
            class: Class::Foreign,
            reason: format!("pid {pid} (nginx) is foreign: {reason}"),
        };
        let lead = "its program's leader pid 10 (nginx) is owned by uid 0 (root); you are uid 1000";
        let v = vec![
            r(10, "owned by uid 0 (root); you are uid 1000"),
            r(11, lead),
            r(12, lead),
            r(13, lead),
        ];
        let folded = fold_refusals(&v);
        assert_eq!(folded.len(), 2, "{folded:#?}");
        assert_eq!(folded[0], v[0].reason);
        assert_eq!(
            folded[1],
            format!(
                "{} (and 2 workers of the same program: pids 12, 13)",
                v[1].reason
            )
        );
    }

    #[test]
    fn group_members_of_other_users_are_left_alone() {
        let s = snap(
            vec![
                proc(50, 1, 50, 50, 0, "sudo"),
                proc(51, 50, 50, 50, 1000, "node"),
            ],
            vec![tcp(3000, &[51])],
        );
        let plan = plan_ports(&s, &ctx(), &port(3000), &Policy::default());
        assert_eq!(plan.pids(), vec![51]);
        assert!(plan.protected.iter().any(|(p, _)| *p == 50));
    }

    /// A child we spawned, killed and reaped even if the test fails.
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn identity_mismatch_signals_nothing() {
        let child = Child(
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn sleep"),
        );
        let pid = child.0.id() as Pid;
        let real = procfs::start_time(pid).expect("child start time");
        let target = Target {
            pid,
            start_time: real + 1, // "the process we planned" is not this one
            name: "sleep".into(),
            command: "sleep 30".into(),
            short_command: "sleep 30".into(),
            uid: 0,
            user: None,
            class: Class::Orphan,
            role: Role::Holder,
        };
        let plan = Plan {
            ports: Vec::new(),
            already_free: Vec::new(),
            targets: vec![target],
            refusals: Vec::new(),
            protected: Vec::new(),
            containers: Vec::new(),
            groups: Vec::new(),
            tree_roots: Vec::new(),
            respawners: Vec::new(),
            policy: Policy {
                signal: SIGKILL,
                grace: Duration::from_millis(100),
                ..Policy::default()
            },
        };
        let mut events = Vec::new();
        let report = execute(&plan, &mut |p| events.push(p.clone()));
        assert!(
            events
                .iter()
                .all(|e| !matches!(e, Progress::Signalled { .. }))
        );
        assert!(report.outcomes[0].signals.is_empty());
        assert!(
            report.outcomes[0]
                .skipped
                .as_deref()
                .is_some_and(|w| w.contains("pid reused"))
        );
        // Still alive, same identity.
        assert_eq!(procfs::start_time(pid), Some(real));
    }

    fn outcome(
        pid: Pid,
        exited: Option<u64>,
        skipped: Option<&str>,
        error: Option<&str>,
    ) -> Outcome {
        Outcome {
            pid,
            name: "node".into(),
            role: Role::Holder,
            signals: vec![SIGTERM],
            exited_after: exited.map(Duration::from_millis),
            skipped: skipped.map(String::from),
            error: error.map(String::from),
        }
    }

    #[test]
    fn reports_say_what_was_observed() {
        let mut r = Report {
            ports: port(8080),
            outcomes: vec![
                outcome(1, Some(140), None, None),
                outcome(2, Some(150), None, None),
            ],
            refusals: Vec::new(),
            port_free_after: Some(Duration::from_millis(152)),
            still_held: Vec::new(),
            containers: Vec::new(),
            convergence: Convergence::default(),
        };
        assert!(r.success());
        assert_eq!(
            r.summary(),
            "port 8080 free after 152 ms — 2 processes ended"
        );

        // A target we could not signal survived: not a success even if
        // the port is free.
        r.outcomes
            .push(outcome(3, None, None, Some("signal failed: EPERM")));
        assert!(!r.success());
        assert!(
            r.summary()
                .contains("could not signal pid 3 (node): signal failed: EPERM")
        );
        r.outcomes.pop();

        // A reused pid is skipped, not a failure.
        r.outcomes.push(outcome(
            4,
            None,
            Some("pid reused: start time 9 differs"),
            None,
        ));
        assert!(r.success());
        assert!(r.summary().contains("skipped pid 4: pid reused"));
        r.outcomes.pop();

        // Respawned: still held, by whom.
        r.port_free_after = None;
        r.still_held.push(StillHeld {
            port: PortSpec {
                proto: None,
                port: 8080,
            },
            by: vec!["pid 77 (node), child of pid 70 (supervisor)".into()],
            retaken_after: None,
            respawner: None,
            next_step: None,
        });
        assert!(!r.success());
        assert_eq!(
            r.summary(),
            "port 8080 still held by pid 77 (node), child of pid 70 (supervisor); 2 processes ended"
        );

        // Free for a moment, then re-taken by a respawn.
        r.still_held[0].retaken_after = Some(Duration::from_millis(12));
        assert!(r.summary().starts_with(
            "port 8080 still held (it was free after 12 ms, then re-taken) by pid 77"
        ));

        // A survivor of SIGKILL.
        r.still_held.clear();
        r.port_free_after = Some(Duration::from_millis(5));
        r.outcomes.push(outcome(5, None, None, None));
        assert!(!r.success());
        assert!(r.summary().contains("survived SIGKILL: pid 5 (node)"));
    }

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("sigkill"), Ok(9));
        assert_eq!(parse_signal("2"), Ok(2));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
        assert_eq!(signal_name(15), "TERM");
    }

    #[test]
    fn only_signals_that_end_a_process_start_a_kill() {
        for ok in ["TERM", "INT", "HUP", "KILL", "QUIT", "USR1", "9", "SIGALRM"] {
            assert!(parse_kill_signal(ok).is_ok(), "{ok}");
        }
        for bad in [
            "STOP", "CONT", "CHLD", "WINCH", "URG", "TSTP", "TTIN", "TTOU", "19",
        ] {
            let e = parse_kill_signal(bad).expect_err(bad);
            assert!(
                e.contains("cannot end a process") && e.contains("TERM"),
                "{e}"
            );
        }
    }

    #[test]
    fn duplicate_ports_are_merged() {
        let p = |proto, port| PortSpec { proto, port };
        let tcp = Some(crate::model::Proto::Tcp);
        assert_eq!(
            dedup_ports(&[p(None, 80), p(None, 80), p(tcp, 80), p(None, 81)]),
            vec![p(None, 80), p(None, 81)]
        );
        assert_eq!(dedup_ports(&[p(tcp, 80), p(None, 80)]), vec![p(None, 80)]);
    }

    #[test]
    fn long_lists_name_a_few() {
        let many: Vec<String> = (0..80).map(|i| format!("pid {i}")).collect();
        let s = name_a_few(&many, 3);
        assert_eq!(s, "pid 0, pid 1, pid 2 and 77 more, see --json");
        assert_eq!(name_a_few(&many[..4], 3), "pid 0, pid 1, pid 2, pid 3");
    }
}

#[cfg(test)]
mod proptests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::model::fixture::{proc, snap, tcp};

    /// A random process forest: pid i (2..n+2) has a parent among earlier
    /// pids or init, a group led by itself or its parent's group, a uid of
    /// 1000 (ours) or 0/33, sometimes a systemd service cgroup.
    fn table() -> impl Strategy<Value = (Snapshot, Context, Vec<u16>)> {
        (3usize..40)
            .prop_flat_map(|n| {
                (
                    proptest::collection::vec((any::<u16>(), any::<bool>(), 0u8..10, 0u8..10), n),
                    any::<u16>(),
                    proptest::collection::vec(proptest::collection::vec(any::<u16>(), 1..4), 1..5),
                )
            })
            .prop_map(|(spec, me_pick, socks)| {
                let n = spec.len();
                let mut procs: Vec<crate::model::Process> = Vec::new();
                for (i, (parent_pick, own_group, uid_pick, cg_pick)) in spec.iter().enumerate() {
                    let pid = i as Pid + 2;
                    let ppid = if i == 0 {
                        1
                    } else {
                        (*parent_pick as usize % (i + 1)) as Pid + 1
                    };
                    let parent_pgid = procs
                        .iter()
                        .find(|p| p.pid == ppid)
                        .map(|p| p.pgid)
                        .unwrap_or(pid);
                    let pgid = if *own_group || ppid == 1 {
                        pid
                    } else {
                        parent_pgid
                    };
                    let uid = match uid_pick {
                        0 => 0,
                        1 => 33,
                        _ => 1000,
                    };
                    let mut p = proc(pid, ppid, pgid, pgid, uid, "p");
                    if *cg_pick == 0 {
                        p.cgroup = Some("0::/system.slice/x.service\n".into());
                    }
                    procs.push(p);
                }
                let me = (me_pick as usize % n) as Pid + 2;
                let sockets = socks
                    .iter()
                    .enumerate()
                    .map(|(i, hs)| {
                        let mut h: Vec<Pid> =
                            hs.iter().map(|x| (*x as usize % (n + 2)) as Pid).collect();
                        h.sort_unstable();
                        h.dedup();
                        tcp(1000 + i as u16, &h)
                    })
                    .collect::<Vec<_>>();
                let ports = (0..sockets.len()).map(|i| 1000 + i as u16).collect();
                let s = snap(procs, sockets);
                let ctx = Context {
                    uid: 1000,
                    self_pid: me,
                    self_pgid: s.process(me).map(|p| p.pgid).unwrap_or(me),
                    ancestors: s.ancestors(me).into_iter().collect::<HashSet<_>>(),
                    ..Context::default()
                };
                (s, ctx, ports)
            })
    }

    proptest! {
        #[test]
        fn plans_never_touch_the_protected_or_refused(
            (s, ctx, ports) in table(),
            force in any::<bool>(),
            tree in any::<bool>(),
        ) {
            let specs: Vec<PortSpec> = ports.iter().map(|&port| PortSpec { proto: None, port }).collect();
            let policy = Policy { force, tree, allow_live: true, ..Policy::default() };
            for spec in &specs {
                let plan = plan_ports(&s, &ctx, std::slice::from_ref(spec), &policy);
                for t in &plan.targets {
                    prop_assert!(t.pid > 1, "pid {} planned", t.pid);
                    prop_assert!(t.pid != ctx.self_pid, "self planned");
                    prop_assert!(!ctx.ancestors.contains(&t.pid), "ancestor {} planned", t.pid);
                    if !force {
                        prop_assert!(!matches!(t.class, Class::Foreign | Class::Managed) || t.role != Role::Holder,
                            "{:?} holder {} planned without force", t.class, t.pid);
                        prop_assert!(t.class != Class::Foreign, "foreign {} planned without force", t.pid);
                    }
                }
                if plan.is_refused() {
                    // A refused plan is never executed; execute() on it signals nothing.
                    let report = execute(&plan, &mut |_| {});
                    prop_assert!(report.outcomes.is_empty());
                }
                if tree && !plan.is_refused() {
                    let planned: HashSet<Pid> = plan.targets.iter().map(|t| t.pid).collect();
                    let protected: HashSet<Pid> = plan.protected.iter().map(|(p, _)| *p).collect();
                    for h in plan.targets.iter().filter(|t| t.role == Role::Holder) {
                        for d in s.descendants(h.pid) {
                            prop_assert!(planned.contains(&d) || protected.contains(&d),
                                "descendant {d} of holder {} neither planned nor protected", h.pid);
                        }
                    }
                }
            }
        }
    }
}
