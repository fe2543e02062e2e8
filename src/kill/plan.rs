//! The plan: a pure function of a snapshot — every holder of the port, its
//! process group (and with `--tree` its descendants), the protected set left
//! out, policy refusals recorded. Nothing here signals anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde::Serialize;

use super::SIGTERM;
use crate::classify::{self, Class, Context, Manager, Verdict};
use crate::container::Container;
use crate::escape::{escape, truncate_cut};
use crate::model::{Pid, Process, Snapshot};
use crate::os::procfs;
use crate::spec::PortSpec;

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
    /// Process groups taken whole. [`execute`](super::execute()) re-reads them after every
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

/// Port specs as their texts (`["tcp:80"]`).
pub(super) fn ser_ports<S: serde::Serializer>(ports: &[PortSpec], s: S) -> Result<S::Ok, S::Error> {
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

/// Why `pid` is never signalled, whatever the policy: init, portwarden, an
/// ancestor.
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

/// Build the plan for `holders`: refuse the holders the policy forbids,
/// give every process to take its role, admit each as a target or leave it
/// protected, and record the containers to stop and who could respawn.
fn build(snap: &Snapshot, ctx: &Context, holders: &BTreeSet<Pid>, policy: &Policy) -> Plan {
    let mut b = Builder::new(snap, ctx, policy);
    for &h in holders {
        let Some(p) = snap.process(h) else { continue };
        if b.refuse_or_route(h, p) {
            b.take_holder(h, p);
        }
    }
    if policy.tree {
        b.take_group_descendants();
    }
    let targets = b.admit();
    b.finish(targets, holders)
}

/// What [`build`] gathers on its way to a [`Plan`].
struct Builder<'a> {
    snap: &'a Snapshot,
    ctx: &'a Context,
    policy: &'a Policy,
    /// One parent → children index for every subtree walked.
    kids: HashMap<Pid, Vec<Pid>>,
    /// Each process classified once.
    verdicts: BTreeMap<Pid, Verdict>,
    refusals: Vec<Refusal>,
    protected: BTreeMap<Pid, String>,
    roles: BTreeMap<Pid, Role>,
    groups: BTreeSet<Pid>,
    tree_roots: BTreeSet<Pid>,
    containers: Vec<ContainerStop>,
}

impl<'a> Builder<'a> {
    /// Nothing gathered yet for a plan of `snap` under `policy`.
    fn new(snap: &'a Snapshot, ctx: &'a Context, policy: &'a Policy) -> Self {
        Builder {
            snap,
            ctx,
            policy,
            kids: snap.child_index(),
            verdicts: BTreeMap::new(),
            refusals: Vec::new(),
            protected: BTreeMap::new(),
            roles: BTreeMap::new(),
            groups: BTreeSet::new(),
            tree_roots: BTreeSet::new(),
            containers: Vec::new(),
        }
    }

    /// `pid`'s verdict, classified on first use.
    fn verdict(&mut self, pid: Pid) -> Verdict {
        let (snap, ctx) = (self.snap, self.ctx);
        self.verdicts
            .entry(pid)
            .or_insert_with(|| classify::classify_process(snap, ctx, pid))
            .clone()
    }

    /// Refusals: record why holder `h` may not be signalled, or route a
    /// container's holder to a stop through its engine. Whether `h` is
    /// taken as a holder.
    fn refuse_or_route(&mut self, h: Pid, p: &Process) -> bool {
        let v = self.verdict(h);
        if let Some(why) = protected_reason(self.ctx, h) {
            self.refusals.push(Refusal {
                pid: h,
                class: v.class,
                reason: why,
            });
            return false;
        }
        if let Some(c) = v.manager.as_ref().and_then(Manager::container) {
            match container_stop(h, p, c, &v, self.policy) {
                Ok(stop) if self.containers.iter().any(|s| s.container.id == c.id) => drop(stop),
                Ok(stop) => self.containers.push(stop),
                Err(reason) => self.refusals.push(Refusal {
                    pid: h,
                    class: v.class,
                    reason,
                }),
            }
            return false;
        }
        match holder_refusal(h, p, &v, self.policy) {
            Some(reason) => {
                self.refusals.push(Refusal {
                    pid: h,
                    class: v.class,
                    reason,
                });
                false
            }
            None => true,
        }
    }

    /// Roles: holder `h`, its process group (unless it is portwarden's own)
    /// and, with `--tree` or in our own group, its descendants.
    fn take_holder(&mut self, h: Pid, p: &Process) {
        self.roles.insert(h, Role::Holder);
        let own_group = p.pgid == self.ctx.self_pgid;
        if self.policy.tree || own_group {
            self.tree_roots.insert(h);
        }
        if !own_group && p.pgid > 1 {
            self.groups.insert(p.pgid);
        }
        if !own_group {
            for m in self.snap.group_members(p.pgid) {
                self.roles.entry(m).or_insert(Role::Group);
            }
        }
        // Descendants: with --tree always; without it, only when the group
        // could not be taken (a holder in our own group) — then its children
        // are what would have been its group.
        if self.policy.tree || own_group {
            for d in Snapshot::descendants_in(&self.kids, h, usize::MAX) {
                self.roles.entry(d).or_insert(Role::Descendant);
            }
        }
    }

    /// Roles with `--tree`: every descendant of a group member too.
    fn take_group_descendants(&mut self) {
        let group_pids: Vec<Pid> = self
            .roles
            .iter()
            .filter(|(_, r)| **r == Role::Group)
            .map(|(p, _)| *p)
            .collect();
        for g in group_pids {
            for d in Snapshot::descendants_in(&self.kids, g, usize::MAX) {
                self.roles.entry(d).or_insert(Role::Descendant);
            }
        }
    }

    /// Admission: every process with a role becomes a target, unless it is
    /// protected (recorded with the reason) or already dead. Holders first.
    fn admit(&mut self) -> Vec<Target> {
        let mut targets = Vec::new();
        for (pid, role) in std::mem::take(&mut self.roles) {
            if let Some(why) = protected_reason(self.ctx, pid) {
                self.protected.insert(pid, why);
                continue;
            }
            let Some(p) = self.snap.process(pid) else {
                continue;
            };
            // A zombie is already dead (its fds are closed): nothing to signal,
            // and listing it would make the confirmation lie about what dies.
            if matches!(p.state, 'Z' | 'X') {
                continue;
            }
            let class = self.verdict(pid).class;
            if role != Role::Holder
                && let Some(why) = member_exclusion(self.ctx, p, role, class, self.policy)
            {
                self.protected.insert(pid, why);
                continue;
            }
            targets.push(target(p, class, role));
        }
        targets.sort_by_key(|t| (t.role, t.pid));
        if self.policy.tree {
            self.tree_roots.extend(targets.iter().map(|t| t.pid));
        }
        targets
    }

    /// The plan, with who could respawn `holders` (ports are the caller's).
    fn finish(self, targets: Vec<Target>, holders: &BTreeSet<Pid>) -> Plan {
        Plan {
            ports: Vec::new(),
            already_free: Vec::new(),
            respawners: respawners(self.snap, self.ctx, holders, &self.verdicts),
            targets,
            refusals: self.refusals,
            protected: self.protected.into_iter().collect(),
            containers: self.containers,
            groups: self.groups.into_iter().collect(),
            tree_roots: self.tree_roots.into_iter().collect(),
            policy: self.policy.clone(),
        }
    }
}

/// Why the policy refuses holder `h` by its class (or `--only`), if it does.
fn holder_refusal(h: Pid, p: &Process, v: &Verdict, policy: &Policy) -> Option<String> {
    match v.class {
        Class::SelfProc => {
            return Some(format!(
                "pid {h} is portwarden or its ancestor: never signalled"
            ));
        }
        Class::Foreign if !policy.force => {
            return Some(format!(
                "pid {h} ({}) is foreign: {}; use --force to kill it anyway",
                escape(&p.name),
                v.reasons.join("; ")
            ));
        }
        Class::Managed if !policy.force => {
            let cmd = v
                .manager
                .as_ref()
                .map(|m| m.stop_command())
                .unwrap_or_else(|| "its service manager".to_string());
            return Some(format!(
                "pid {h} ({}) is managed: {}; stop it with `{cmd}` (or --force)",
                escape(&p.name),
                v.reasons.first().cloned().unwrap_or_default()
            ));
        }
        Class::Live if !policy.allow_live => {
            return Some(format!(
                "pid {h} ({}) is live: {}; killing it needs consent",
                escape(&p.name),
                v.reasons.join("; ")
            ));
        }
        _ => {}
    }
    let pat = policy.only.as_ref()?;
    (!p.command().contains(pat.as_str())).then(|| {
        format!(
            "pid {h} ({}) does not match --only '{}': command is '{}'",
            escape(&p.name),
            escape(pat),
            escape(&p.command())
        )
    })
}

/// Why a group member or descendant `p` (of class `class`) is left alone,
/// if it is.
fn member_exclusion(
    ctx: &Context,
    p: &Process,
    role: Role,
    class: Class,
    policy: &Policy,
) -> Option<String> {
    // A group member or descendant in our own group is the caller's
    // family (the script that ran us): never taken implicitly.
    if p.pgid == ctx.self_pgid && p.pgid > 0 && role == Role::Group {
        return Some("in portwarden's own process group".to_string());
    }
    if matches!(class, Class::SelfProc) {
        return Some("portwarden or its ancestor".to_string());
    }
    if matches!(class, Class::Foreign) && !policy.force {
        return Some(format!("owned by uid {}, not yours (use --force)", p.uid));
    }
    // A session leader on a terminal is someone's shell: a server
    // started from a shell without job control shares its group,
    // but "free the port" never means "close that terminal".
    if p.sid == p.pid
        && let Some(tty) = p.tty()
    {
        return Some(format!(
            "leads the terminal session on {tty} (a shell): not signalled; end it yourself if you mean to"
        ));
    }
    None
}

/// `p` as a target, with the identity to re-verify.
fn target(p: &Process, class: Class, role: Role) -> Target {
    Target {
        pid: p.pid,
        start_time: p.start_time,
        name: p.name.clone(),
        // Display fields: bounded (`--only` matched the whole line).
        command: truncate_cut(&p.command(), procfs::SHOWN_CMDLINE),
        short_command: truncate_cut(&p.short_command(), procfs::SHOWN_CMDLINE),
        uid: p.uid,
        user: p.user.clone(),
        class,
        role,
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
    p: &Process,
    c: &Container,
    v: &Verdict,
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
    verdicts: &BTreeMap<Pid, Verdict>,
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
