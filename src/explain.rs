//! What portwarden knows about a port and about one holder, as plain data.
//!
//! `portwarden why` prints it as prose and the TUI's details pane draws it:
//! both used to work the same facts out separately, and drifted (one listed
//! 20 members of a process group, the other 12). Here they are computed
//! once, as serialisable values with nothing formatted for a terminal —
//! strings are kept raw (escaping is the face's job) — so each face only
//! chooses words and layout.
//!
//! Like [`crate::classify`] and [`crate::kill::plan_ports`], everything
//! here is a pure function of a [`Snapshot`]: unit-tested with literal
//! fixtures.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::classify::{self, Context, Verdict};
use crate::conns::Connections;
use crate::kill::{self, Plan, Policy};
use crate::model::{Pid, Process, Proto, Snapshot, SockState, Socket};
use crate::project::Project;
use crate::spec::PortSpec;

/// How many members of a holder's process group are named; the rest are
/// only counted ([`Group::size`]).
pub const GROUP_SHOWN: usize = 20;

/// Everything `why PORT` says: each socket on the port, each holder, and
/// what `portwarden kill PORT` would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortExplanation {
    /// The port asked about, as given (`8080`, `53/udp`).
    pub port: String,
    /// The sockets bound to it, in the snapshot's order; empty when the
    /// port is free.
    pub sockets: Vec<PortSocket>,
    /// Every holder still present, by pid (the sockets refer to them).
    pub holders: BTreeMap<Pid, HolderFacts>,
    /// The plan a plain `portwarden kill PORT` would make.
    pub plan: Plan,
    /// The plan's refusals folded as `kill` states them (empty = allowed).
    pub refusals: Vec<String>,
    /// Which holder-finder ran and why, when the caller's scanner knows
    /// (a snapshot alone does not: [`port`] leaves it `None`).
    pub method: Option<String>,
}

/// One socket of a port, with how its holders are presented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortSocket {
    /// The socket's own facts.
    #[serde(flatten)]
    pub socket: SocketFacts,
    /// Its holders in order, each explained here, vanished, or already
    /// explained on an earlier socket of the port.
    pub entries: Vec<HolderEntry>,
    /// Workers of one program share every reason (they name the same
    /// leader): the first is explained whole, the rest only listed here.
    pub same_program: Vec<SameProgram>,
}

/// How one holder of a socket is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "pid", rename_all = "snake_case")]
pub enum HolderEntry {
    /// Explained in full: its facts are in [`PortExplanation::holders`].
    Explained(Pid),
    /// It exited between finding the socket and reading the process.
    Vanished(Pid),
    /// Already explained for an earlier socket of the port.
    SeeAbove(Pid),
}

/// Workers with the same class and reasons as an explained holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SameProgram {
    /// The holder explained in full.
    pub first: Pid,
    /// The other workers, in holder order.
    pub more: Vec<Pid>,
}

/// The facts of one listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketFacts {
    /// TCP or UDP.
    pub proto: Proto,
    /// `addr:port` (IPv6 in brackets).
    pub endpoint: String,
    /// LISTEN or UNCONN.
    pub state: SockState,
    /// The socket's inode.
    pub inode: u64,
    /// The uid that created it.
    pub uid: u32,
    /// Connections completed but not yet accepted (TCP).
    pub accept_queue: Option<u32>,
    /// The listen() backlog (TCP).
    pub backlog: Option<u32>,
    /// The accept queue is full: up but not accepting.
    pub stuck: bool,
    /// The holders' pids, ascending.
    pub holders: Vec<Pid>,
    /// Why no holder is visible, when none is.
    pub unresolved: Option<String>,
    /// Its connections, when the scan gathered them.
    pub connections: Option<ConnFacts>,
}

/// A listener's connections, and what they say about a full queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnFacts {
    /// Counts per state and local clients.
    #[serde(flatten)]
    pub counts: Connections,
    /// Established connections the server has accepted (the kernel counts
    /// those still waiting in the accept queue as established too).
    pub served: u32,
    /// The queue is full and not one connection was accepted: the server
    /// stopped accepting (hung, or blocked before `accept()`), rather than
    /// accepting too slowly for its load.
    pub stopped_accepting: bool,
}

/// A process named by pid, with its `comm` when it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    /// Process id.
    pub pid: Pid,
    /// Kernel command name, `None` when the process was not seen.
    pub name: Option<String>,
}

/// A holder's process group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The group id.
    pub pgid: Pid,
    /// How many processes are in it.
    pub size: usize,
    /// The first [`GROUP_SHOWN`] members, ascending.
    pub members: Vec<Named>,
    /// It is portwarden's own group (never signalled as a whole).
    pub own: bool,
}

/// A holder that will not act on a SIGTERM until something else lets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Halt {
    /// Stopped by a signal (state `T`): waits for SIGCONT.
    Stopped,
    /// Stopped by a debugger (state `t`): waits for the tracer.
    Traced,
}

/// Everything known about one holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolderFacts {
    /// Process id.
    pub pid: Pid,
    /// Parent pid.
    pub ppid: Pid,
    /// Process group id.
    pub pgid: Pid,
    /// Session id.
    pub sid: Pid,
    /// Controlling terminal (`pts/3`), if any.
    pub tty: Option<String>,
    /// Scheduler state letter.
    pub state: char,
    /// Stopped or traced, when it is.
    pub halt: Option<Halt>,
    /// Kernel command name.
    pub name: String,
    /// The whole command line (or `[name]`).
    pub command: String,
    /// Executable path, when readable.
    pub exe: Option<String>,
    /// Its class and reasons, as `kill` sees them.
    pub verdict: Verdict,
    /// The proper way to stop it, when a manager owns it.
    pub stop_command: Option<String>,
    /// The container it belongs to, described, when it does.
    pub container: Option<String>,
    /// User name, when the uid resolves.
    pub user: Option<String>,
    /// Effective uid.
    pub uid: u32,
    /// Start time, seconds since the epoch, when the clock is known.
    pub started: Option<u64>,
    /// Working directory, when discovery read it.
    pub cwd: Option<String>,
    /// The project around the working directory.
    pub project: Option<Project>,
    /// The cgroup hierarchies that place it (a v1 machine's controllers
    /// at `/` say nothing and are left out, unless nothing else is left).
    pub cgroups: Vec<String>,
    /// The holder, then each parent up to init.
    pub parents: Vec<Named>,
    /// Its process group.
    pub group: Group,
    /// How many descendants it has.
    pub descendants: usize,
    /// Its program's leader, when that is another process (it is a
    /// worker).
    pub leader: Option<Named>,
    /// The live supervisor that restarts the program, when one does.
    pub restarter: Option<Named>,
}

/// Explain `port`: its sockets, their holders, and the plan `kill` would
/// make under `policy` (pass what a plain `portwarden kill PORT` uses).
pub fn port(snap: &Snapshot, ctx: &Context, policy: &Policy, port: PortSpec) -> PortExplanation {
    let mut holders = BTreeMap::new();
    let mut seen: Vec<Pid> = Vec::new();
    let sockets = snap
        .sockets_on(port.port, port.proto)
        .map(|s| port_socket(snap, ctx, s, &mut seen, &mut holders))
        .collect();
    let plan = kill::plan_ports(snap, ctx, &[port], policy);
    PortExplanation {
        port: port.to_string(),
        sockets,
        holders,
        refusals: kill::fold_refusals(&plan.refusals),
        plan,
        method: None,
    }
}

/// One socket of a port: each holder explained once across the port, and
/// a program's workers folded into its first.
fn port_socket(
    snap: &Snapshot,
    ctx: &Context,
    s: &Socket,
    seen: &mut Vec<Pid>,
    holders: &mut BTreeMap<Pid, HolderFacts>,
) -> PortSocket {
    let mut entries = Vec::new();
    let mut shown: Vec<(Verdict, SameProgram)> = Vec::new();
    for &pid in &s.holders {
        if seen.contains(&pid) {
            entries.push(HolderEntry::SeeAbove(pid));
            continue;
        }
        seen.push(pid);
        let v = classify::classify_process(snap, ctx, pid);
        let worker = v.reasons.iter().any(|r| r.contains("its program's leader"));
        if let Some((_, same)) = shown.iter_mut().find(|(sv, _)| worker && *sv == v) {
            same.more.push(pid);
            continue;
        }
        match holder(snap, ctx, pid) {
            Some(h) => {
                holders.insert(pid, h);
                entries.push(HolderEntry::Explained(pid));
            }
            None => entries.push(HolderEntry::Vanished(pid)),
        }
        let first = SameProgram {
            first: pid,
            more: Vec::new(),
        };
        shown.push((v, first));
    }
    PortSocket {
        socket: socket(snap, s),
        entries,
        same_program: shown
            .into_iter()
            .map(|(_, same)| same)
            .filter(|same| !same.more.is_empty())
            .collect(),
    }
}

/// The facts of one socket and its connections.
pub fn socket(snap: &Snapshot, s: &Socket) -> SocketFacts {
    SocketFacts {
        proto: s.proto,
        endpoint: s.endpoint(),
        state: s.state,
        inode: s.inode,
        uid: s.uid,
        accept_queue: s.accept_queue,
        backlog: s.backlog,
        stuck: s.stuck(),
        holders: s.holders.clone(),
        unresolved: s.unresolved.clone(),
        connections: snap.connections.get(&s.inode).map(|c| {
            let served = c.established.saturating_sub(s.accept_queue.unwrap_or(0));
            ConnFacts {
                counts: c.clone(),
                served,
                stopped_accepting: s.stuck() && served == 0,
            }
        }),
    }
}

/// Everything known about holder `pid`; `None` when it was not seen (it
/// exited during the scan).
pub fn holder(snap: &Snapshot, ctx: &Context, pid: Pid) -> Option<HolderFacts> {
    let p = snap.process(pid)?;
    let verdict = classify::classify_process(snap, ctx, pid);
    let context = snap.contexts.get(&pid);
    let (leader, restarter) = program(snap, ctx, p, &verdict);
    Some(HolderFacts {
        pid,
        ppid: p.ppid,
        pgid: p.pgid,
        sid: p.sid,
        tty: p.tty(),
        state: p.state,
        halt: match p.state {
            'T' => Some(Halt::Stopped),
            't' => Some(Halt::Traced),
            _ => None,
        },
        name: p.name.clone(),
        command: p.command(),
        exe: p.exe.clone(),
        stop_command: verdict
            .manager
            .as_ref()
            .map(classify::Manager::stop_command),
        container: verdict
            .manager
            .as_ref()
            .and_then(|m| m.container())
            .map(|c| c.describe()),
        verdict,
        user: p.user.clone(),
        uid: p.uid,
        started: snap.started_at(p),
        cwd: context.and_then(|c| c.cwd.clone()),
        project: context.and_then(|c| c.project.clone()),
        cgroups: cgroups(p),
        parents: std::iter::once(pid)
            .chain(snap.ancestors(pid))
            .map(|a| named(snap, a))
            .collect(),
        group: group(snap, ctx, p.pgid),
        descendants: snap.descendants(pid).len(),
        leader,
        restarter,
    })
}

/// The program's leader (when `p` is one of its workers) and the
/// supervisor that restarts it (when its manager is one that does).
fn program(
    snap: &Snapshot,
    ctx: &Context,
    p: &Process,
    verdict: &Verdict,
) -> (Option<Named>, Option<Named>) {
    let leader = crate::program::leader(snap, p, |pid| {
        pid <= 1
            || snap
                .process(pid)
                .is_some_and(|q| classify::is_supervisor_name(&q.name, &ctx.extra_supervisors))
    });
    let restarter = verdict
        .manager
        .as_ref()
        .filter(|m| m.restarts())
        .and_then(|_| crate::program::restarter(snap, leader))
        .map(|(pid, _)| named(snap, pid));
    let leader = (leader.pid != p.pid).then(|| named(snap, leader.pid));
    (leader, restarter)
}

/// Process group `pgid`: its size, its first members, and whether it is
/// portwarden's own.
pub fn group(snap: &Snapshot, ctx: &Context, pgid: Pid) -> Group {
    let members = snap.group_members(pgid);
    Group {
        pgid,
        size: members.len(),
        members: members
            .iter()
            .take(GROUP_SHOWN)
            .map(|&m| named(snap, m))
            .collect(),
        own: pgid == ctx.self_pgid,
    }
}

/// The cgroup lines worth showing: v1 lists a dozen controllers at `/`,
/// which say nothing; when nothing else is left, the first line.
fn cgroups(p: &Process) -> Vec<String> {
    let Some(cg) = &p.cgroup else {
        return Vec::new();
    };
    let mut lines: Vec<&str> = cg.lines().filter(|l| !l.ends_with(":/")).collect();
    if lines.is_empty() {
        lines = cg.lines().take(1).collect();
    }
    lines.into_iter().map(str::to_string).collect()
}

fn named(snap: &Snapshot, pid: Pid) -> Named {
    Named {
        pid,
        name: snap.process(pid).map(|p| p.name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conns::Client;
    use crate::model::{Pid, Process, Socket};
    use crate::testkit::{Proc, Sock, ctx, snap};

    fn proc(pid: Pid, ppid: Pid, pgid: Pid, sid: Pid, uid: u32, name: &str) -> Process {
        Proc::new(pid, name)
            .ppid(ppid)
            .group(pgid, sid)
            .uid(uid)
            .build()
    }

    fn tcp(port: u16, holders: &[Pid]) -> Socket {
        Sock::tcp(port).holders(holders).build()
    }
    use crate::project::ProcContext;

    /// An orphaned server (1000, its own session, under init) with two
    /// forked workers (1001, 1002) holding :8080 with it, and a stopped
    /// process (1100, from shell 700) holding :8080 on a second socket.
    fn machine() -> Snapshot {
        let mut server = proc(1000, 1, 1000, 1000, 1000, "srv");
        server.exe = Some("/usr/bin/srv".into());
        server.cgroup = Some("4:memory:/\n0::/user.slice/srv.scope\n".into());
        let worker = |pid| {
            let mut w = proc(pid, 1000, 1000, 1000, 1000, "srv");
            w.exe = Some("/usr/bin/srv".into());
            w
        };
        let mut stopped = proc(1100, 700, 1100, 700, 1000, "halted");
        stopped.state = 'T';
        let mut second = tcp(8080, &[1002, 1100]);
        second.addr = "127.0.0.2".parse().expect("ip");
        second.inode = 20_000;
        let mut s = snap(
            vec![
                proc(700, 1, 700, 700, 1000, "bash"),
                server,
                worker(1001),
                worker(1002),
                stopped,
                proc(1200, 1100, 1100, 700, 1000, "child"),
            ],
            vec![tcp(8080, &[1000, 1001, 1002]), second],
        );
        s.contexts.insert(
            1000,
            ProcContext {
                cwd: Some("/home/u/shop".into()),
                project: Some(Project {
                    root: "/home/u/shop".into(),
                    name: "shop".into(),
                    branch: Some("main".into()),
                    worktree: false,
                }),
            },
        );
        s
    }

    #[test]
    fn a_port_explains_each_holder_once() {
        let snap = machine();
        let e = port(
            &snap,
            &ctx(),
            &Policy::default(),
            "8080".parse::<PortSpec>().expect("spec"),
        );
        assert_eq!(e.port, "8080");
        assert_eq!(e.sockets.len(), 2);
        let first = &e.sockets[0];
        assert_eq!(first.socket.endpoint, "127.0.0.1:8080");
        assert_eq!(
            first.entries,
            vec![HolderEntry::Explained(1000), HolderEntry::Explained(1001)]
        );
        // 1002 is a worker like 1001: same class and reasons, folded.
        assert_eq!(
            first.same_program,
            vec![SameProgram {
                first: 1001,
                more: vec![1002]
            }]
        );
        let second = &e.sockets[1];
        assert_eq!(
            second.entries,
            vec![HolderEntry::SeeAbove(1002), HolderEntry::Explained(1100)]
        );
        assert!(second.same_program.is_empty());
        assert_eq!(
            e.holders.keys().copied().collect::<Vec<_>>(),
            vec![1000, 1001, 1100]
        );
        // The stopped one's shell is alive: a live program needs consent.
        assert_eq!(e.refusals.len(), 1);
        assert!(
            e.refusals[0].starts_with("pid 1100 (halted) is live"),
            "{:?}",
            e.refusals
        );
        assert_eq!(
            e.plan,
            kill::plan_ports(
                &snap,
                &ctx(),
                &["8080".parse::<PortSpec>().expect("spec")],
                &Policy::default()
            )
        );
        assert_eq!(e.method, None);
    }

    #[test]
    fn a_holder_has_lineage_group_and_context() {
        let snap = machine();
        let h = holder(&snap, &ctx(), 1001).expect("1001 seen");
        let names: Vec<(Pid, Option<&str>)> = h
            .parents
            .iter()
            .map(|n| (n.pid, n.name.as_deref()))
            .collect();
        assert_eq!(
            names,
            vec![(1001, Some("srv")), (1000, Some("srv")), (1, Some("init"))]
        );
        assert_eq!(h.group.pgid, 1000);
        assert_eq!(h.group.size, 3);
        assert!(!h.group.own);
        assert_eq!(
            h.leader,
            Some(Named {
                pid: 1000,
                name: Some("srv".into())
            })
        );
        assert_eq!(h.command, "srv --serve");
        assert_eq!(h.user.as_deref(), Some("u1000"));
        assert_eq!(h.started, Some(1_795_000_000 + 2001 / 100));
        assert_eq!(h.halt, None);
        assert_eq!(h.verdict, classify::classify_process(&snap, &ctx(), 1001));

        let leader = holder(&snap, &ctx(), 1000).expect("1000 seen");
        assert_eq!(leader.leader, None);
        assert_eq!(leader.descendants, 2);
        assert_eq!(leader.cwd.as_deref(), Some("/home/u/shop"));
        assert_eq!(
            leader.project.as_ref().map(Project::label).as_deref(),
            Some("shop@main")
        );
        assert_eq!(leader.cgroups, vec!["0::/user.slice/srv.scope".to_string()]);

        let stopped = holder(&snap, &ctx(), 1100).expect("1100 seen");
        assert_eq!(stopped.halt, Some(Halt::Stopped));
        assert_eq!(stopped.descendants, 1);
        assert_eq!(holder(&snap, &ctx(), 4242), None);
    }

    #[test]
    fn a_big_group_is_counted_and_capped() {
        let mut procs: Vec<_> = (0..30)
            .map(|i| proc(2000 + i, 1, 2000, 2000, 1000, "w"))
            .collect();
        procs.push(proc(900, 800, 900, 800, 1000, "portwarden"));
        let snap = snap(procs, vec![]);
        let g = group(&snap, &ctx(), 2000);
        assert_eq!(g.size, 30);
        assert_eq!(g.members.len(), GROUP_SHOWN);
        assert_eq!(g.members[0].pid, 2000);
        assert!(!g.own);
        assert!(group(&snap, &ctx(), 900).own);
    }

    #[test]
    fn a_full_queue_with_nobody_served_stopped_accepting() {
        let mut s = tcp(8080, &[]);
        s.accept_queue = Some(128);
        s.unresolved = Some("hidden by a namespace".into());
        let mut snap = snap(vec![], vec![s.clone()]);
        let client = Client {
            pid: Some(5),
            name: Some("curl".into()),
            addr: "127.0.0.1".parse().expect("ip"),
            port: 40000,
            inode: 0,
        };
        snap.connections.insert(
            s.inode,
            Connections {
                established: 128,
                clients: vec![client.clone()],
                ..Connections::default()
            },
        );
        let f = socket(&snap, &s);
        assert!(f.stuck);
        assert_eq!(f.unresolved.as_deref(), Some("hidden by a namespace"));
        let c = f.connections.clone().expect("connections");
        assert_eq!((c.served, c.stopped_accepting), (0, true));
        assert_eq!(c.counts.clients, vec![client]);
        // One more established than queued: it did accept one.
        snap.connections
            .get_mut(&s.inode)
            .expect("conns")
            .established = 129;
        let c = socket(&snap, &s).connections.expect("connections");
        assert_eq!((c.served, c.stopped_accepting), (1, false));
        // Without gathered connections there is nothing to say.
        snap.connections.clear();
        assert_eq!(socket(&snap, &s).connections, None);
    }

    #[test]
    fn a_free_port_has_no_sockets() {
        let snap = snap(vec![], vec![tcp(80, &[])]);
        let e = port(
            &snap,
            &ctx(),
            &Policy::default(),
            "81".parse::<PortSpec>().expect("spec"),
        );
        assert!(e.sockets.is_empty());
        assert!(e.holders.is_empty());
        let json = serde_json::to_value(&e).expect("serialisable");
        assert_eq!(json["port"], "81");
    }
}
