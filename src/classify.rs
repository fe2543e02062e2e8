//! Classification: what kind of holder is this process, and why we think so.
//!
//! A pure function of a [`Snapshot`] and a [`Context`] (who is asking). One
//! class per process, first match wins, each with reasons a person can check:
//!
//! 1. [`Class::SelfProc`] — portwarden itself or one of its ancestors.
//! 2. [`Class::Foreign`] — owned by another uid than the invoking one.
//! 3. [`Class::Managed`] — inside a systemd service or a container. A
//!    container's process or a published port's forwarder (docker-proxy,
//!    conmon, rootlessport) is `managed` by its container before ownership
//!    is looked at ([`crate::container`]).
//! 4. [`Class::Daemon`] — reparented to init/a subreaper, leads its own
//!    session, no controlling terminal: meant to outlive its launcher.
//! 5. [`Class::Orphan`] — reparented to init/a subreaper otherwise: what an
//!    unclean exit leaves behind.
//! 6. [`Class::Live`] — its parent is alive: part of a running program.
//!
//! Nothing here touches the OS; [`Context::current`] is the one place that
//! reads the caller's identity, and tests build a `Context` by hand.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::escape::escape;
use crate::model::{Pid, Process, Snapshot};

/// The class of a holder. Serialized lower-case (`"orphan"`, `"self"`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// portwarden itself or one of its ancestors: never killed.
    #[serde(rename = "self")]
    SelfProc,
    /// Owned by another user: refused unless forced.
    Foreign,
    /// Run by a service manager or container runtime: stop it there.
    Managed,
    /// A deliberate daemon of the invoking user.
    Daemon,
    /// Left behind by an unclean exit: the normal thing to reclaim.
    Orphan,
    /// Part of a running program: killing it needs consent.
    Live,
}

impl Class {
    /// Lower-case name as used in JSON and the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::SelfProc => "self",
            Class::Foreign => "foreign",
            Class::Managed => "managed",
            Class::Daemon => "daemon",
            Class::Orphan => "orphan",
            Class::Live => "live",
        }
    }

    /// Every class, in precedence order.
    pub const ALL: [Class; 6] = [
        Class::SelfProc,
        Class::Foreign,
        Class::Managed,
        Class::Daemon,
        Class::Orphan,
        Class::Live,
    ];
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which service manager or container runtime owns a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Manager {
    /// A systemd system service.
    Systemd {
        /// Unit name, e.g. `nginx.service`.
        unit: String,
    },
    /// A systemd user service (`systemd --user`).
    SystemdUser {
        /// Unit name, e.g. `syncthing.service`.
        unit: String,
    },
    /// A Docker container.
    Docker {
        /// Container id (full, as found in the cgroup path).
        id: String,
    },
    /// A Podman container.
    Podman {
        /// Container id.
        id: String,
    },
    /// A containerd container (not Kubernetes).
    Containerd {
        /// Container id.
        id: String,
    },
    /// A Kubernetes pod.
    Kubernetes {
        /// Pod uid, when the cgroup path shows it.
        pod: Option<String>,
    },
    /// A container, identified through its engine ([`crate::container`]):
    /// a published port's forwarder or a process in the container's cgroup.
    Container(crate::container::Container),
    /// A supervisord program (supervisord restarts it when it dies).
    Supervisord {
        /// `group:name` or `name`, from `SUPERVISOR_PROCESS_NAME` /
        /// `SUPERVISOR_GROUP_NAME` in the program's environment.
        program: Option<String>,
        /// supervisord's `-c` config file, when it was started with one.
        conf: Option<String>,
    },
    /// A runit service (`runsv DIR` restarts it).
    Runit {
        /// The service directory.
        dir: String,
    },
    /// An s6 service (`s6-supervise DIR` restarts it).
    S6 {
        /// The service directory.
        dir: String,
    },
    /// A pm2 process (pm2's God daemon restarts it).
    Pm2 {
        /// Its pm2 name (or id).
        name: String,
    },
    /// A cgroup that matched a user-configured pattern.
    Pattern {
        /// The pattern that matched.
        pattern: String,
    },
}

impl Manager {
    /// The proper way to stop it, for a person to run.
    pub fn stop_command(&self) -> String {
        match self {
            Manager::Systemd { unit } => format!("systemctl stop {unit}"),
            Manager::SystemdUser { unit } => format!("systemctl --user stop {unit}"),
            Manager::Docker { id } => format!("docker stop {}", short_id(id)),
            Manager::Podman { id } => format!("podman stop {}", short_id(id)),
            Manager::Containerd { id } => format!("ctr task kill {}", short_id(id)),
            Manager::Kubernetes { pod } => match pod {
                Some(uid) => format!("kubectl delete pod (the pod with uid {uid})"),
                None => "kubectl delete pod <pod>".to_string(),
            },
            Manager::Supervisord { program, conf } => {
                let c = conf
                    .as_deref()
                    .map(|c| format!("-c {c} "))
                    .unwrap_or_default();
                match program {
                    Some(p) => format!("supervisorctl {c}stop {p}"),
                    None => format!("supervisorctl {c}status, then supervisorctl {c}stop NAME"),
                }
            }
            Manager::Runit { dir } => format!("sv down {dir}"),
            Manager::S6 { dir } => format!("s6-svc -d {dir}"),
            Manager::Pm2 { name } => format!("pm2 stop {name}"),
            Manager::Pattern { pattern } => {
                format!("stop it through whatever manages cgroup pattern '{pattern}'")
            }
            Manager::Container(c) => c.stop_command(),
        }
    }

    /// A short description (`systemd unit nginx.service`, `docker container 3f2a…`).
    pub fn describe(&self) -> String {
        match self {
            Manager::Systemd { unit } => format!("systemd unit {unit}"),
            Manager::SystemdUser { unit } => format!("systemd user unit {unit}"),
            Manager::Docker { id } => format!("docker container {}", short_id(id)),
            Manager::Podman { id } => format!("podman container {}", short_id(id)),
            Manager::Containerd { id } => format!("containerd container {}", short_id(id)),
            Manager::Kubernetes { pod } => match pod {
                Some(uid) => format!("kubernetes pod {uid}"),
                None => "a kubernetes pod".to_string(),
            },
            Manager::Supervisord { program, .. } => match program {
                Some(p) => format!("supervisord program {p}"),
                None => "a supervisord program (its name is not readable)".to_string(),
            },
            Manager::Runit { dir } => format!("runit service {dir}"),
            Manager::S6 { dir } => format!("s6 service {dir}"),
            Manager::Pm2 { name } => format!("pm2 process {name}"),
            Manager::Pattern { pattern } => format!("cgroup matching '{pattern}'"),
            Manager::Container(c) => c.describe(),
        }
    }
}

impl Manager {
    /// The container, when a container manages it.
    pub fn container(&self) -> Option<&crate::container::Container> {
        match self {
            Manager::Container(c) => Some(c),
            _ => None,
        }
    }

    /// A supervisor that restarts the program when it dies (a kill alone
    /// is undone within seconds), rather than a cgroup owner.
    pub fn restarts(&self) -> bool {
        matches!(
            self,
            Manager::Supervisord { .. }
                | Manager::Runit { .. }
                | Manager::S6 { .. }
                | Manager::Pm2 { .. }
                | Manager::Systemd { .. }
                | Manager::SystemdUser { .. }
        )
    }
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Who is asking, and what counts as a supervisor. Built once per run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The invoking uid: `SUDO_UID` when running as root under sudo, else
    /// the real uid.
    pub uid: u32,
    /// Other uids whose programs count as the invoker's: root's, when
    /// running as root under sudo (`sudo portwarden` is root's own tool too).
    pub also_own: Vec<u32>,
    /// portwarden's own pid.
    pub self_pid: Pid,
    /// portwarden's own process group.
    pub self_pgid: Pid,
    /// portwarden's ancestors (parent, grandparent, … up to init).
    pub ancestors: HashSet<Pid>,
    /// Extra process names counted as subreapers (from the config file).
    pub extra_supervisors: Vec<String>,
    /// Extra cgroup substrings counted as managed (from the config file).
    pub extra_managed: Vec<String>,
}

impl Context {
    /// The context of the running process: uid from `SUDO_UID` or the real
    /// uid, our pid, our process group and our ancestors (read from `/proc`).
    pub fn current() -> Self {
        let real = rustix::process::getuid().as_raw();
        let (uid, also_own) = invoker(real, std::env::var("SUDO_UID").ok().as_deref());
        let self_pid = std::process::id() as Pid;
        // nix, not rustix: rustix asserts a positive pgid, but inside a new
        // pid namespace whose group leader lives outside it, getpgrp is 0.
        let self_pgid = nix::unistd::getpgrp().as_raw();
        let ancestors = crate::os::ancestors_of(self_pid).into_iter().collect();
        Context {
            uid,
            also_own,
            self_pid,
            self_pgid,
            ancestors,
            extra_supervisors: Vec::new(),
            extra_managed: Vec::new(),
        }
    }

    /// Do programs owned by `uid` count as the invoker's?
    pub fn owns(&self, uid: u32) -> bool {
        uid == self.uid || self.also_own.contains(&uid)
    }

    /// "uid 1000", or "uid 1000 (and root, via sudo)".
    fn you(&self) -> String {
        if self.also_own.is_empty() {
            format!("uid {}", self.uid)
        } else {
            format!("uid {} (and root, via sudo)", self.uid)
        }
    }

    /// Is `pid` portwarden itself or one of its ancestors?
    pub fn is_self_or_ancestor(&self, pid: Pid) -> bool {
        pid == self.self_pid || self.ancestors.contains(&pid)
    }
}

/// Who invokes: `SUDO_UID` counts only when the real uid is root (a user
/// with `SUDO_UID=0` in the environment is still themselves); under sudo,
/// root's own programs count as the invoker's too.
pub fn invoker(real: u32, sudo_uid: Option<&str>) -> (u32, Vec<u32>) {
    match sudo_uid.and_then(|s| s.trim().parse::<u32>().ok()) {
        Some(u) if real == 0 && u != 0 => (u, vec![0]),
        _ => (real, Vec::new()),
    }
}

/// The class of one process, with the reasons behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The first class that matched.
    pub class: Class,
    /// Human-readable reasons, most important first.
    pub reasons: Vec<String>,
    /// The service manager or container, for `managed`.
    pub manager: Option<Manager>,
}

/// Process names that adopt orphans the way init does (the kernel's
/// `PR_SET_CHILD_SUBREAPER` is not visible in `/proc`, so we go by name).
pub const SUPERVISORS: &[&str] = &[
    "systemd",
    "tini",
    "dumb-init",
    "docker-init",
    "catatonit",
    "s6-svscan",
    "runsvdir",
];

/// Does a process of this name adopt orphans (a subreaper)?
pub fn is_supervisor_name(name: &str, extra: &[String]) -> bool {
    SUPERVISORS.contains(&name)
        || name.starts_with("containerd-shim")
        || extra.iter().any(|e| e == name)
}

/// Classify every process that holds a socket in the snapshot.
pub fn classify(snap: &Snapshot, ctx: &Context) -> BTreeMap<Pid, Verdict> {
    let mut out = BTreeMap::new();
    for s in &snap.sockets {
        for &pid in &s.holders {
            out.entry(pid)
                .or_insert_with(|| classify_process(snap, ctx, pid));
        }
    }
    out
}

/// Classify one process of the snapshot (holder or not).
pub fn classify_process(snap: &Snapshot, ctx: &Context, pid: Pid) -> Verdict {
    let Some(p) = snap.process(pid) else {
        return Verdict {
            class: Class::Foreign,
            reasons: vec![format!(
                "pid {pid} is not visible: it exited or is hidden from uid {}",
                ctx.uid
            )],
            manager: None,
        };
    };
    let verdict = |class, reasons| Verdict {
        class,
        reasons,
        manager: None,
    };

    // 1. self
    if pid == ctx.self_pid {
        return verdict(
            Class::SelfProc,
            vec![format!("this is portwarden itself (pid {pid})")],
        );
    }
    if ctx.ancestors.contains(&pid) {
        return verdict(
            Class::SelfProc,
            vec![format!(
                "pid {pid} ({}) is an ancestor of portwarden: the shell or program that ran it",
                escape(&p.name)
            )],
        );
    }

    // 2a. a container's: a published port's forwarder or a process in a
    // container's cgroup belongs to the container whoever owns it.
    if let Some(v) = crate::container::verdict(snap, p) {
        return v;
    }

    program_verdict(&Prog::new(snap, ctx, p))
}

/// A process seen as part of its program: a prefork worker is judged by its
/// master (parents in the same process group, see
/// [`crate::program::leader`]), so the workers of an orphaned master are
/// orphans too, and a worker that dropped to `nobody` is still root's.
struct Prog<'a> {
    snap: &'a Snapshot,
    ctx: &'a Context,
    /// The process being classified.
    p: &'a Process,
    /// Its program's leader (`p` itself when it leads).
    root: &'a Process,
    /// `p` is not its program's leader.
    worker: bool,
    /// `p` was forked from its leader (same executable — same name when
    /// the leader's exe is hidden — or the same socket): only then is the
    /// leader's uid the program's owner. `sudo -u dev node` shares sudo's
    /// group too, but node is dev's program.
    forked: bool,
    /// The uid that created a socket `p` holds, when `p` runs as a system
    /// account and that uid is another: a daemon that bound its port and
    /// then dropped privileges (dnsmasq binds as root, runs as `nobody`).
    /// The socket keeps its creator's uid, and the program is the creator's.
    bound_as: Option<u32>,
}

impl<'a> Prog<'a> {
    fn new(snap: &'a Snapshot, ctx: &'a Context, p: &'a Process) -> Self {
        let root = crate::program::leader(snap, p, |pid| is_reaper(snap, ctx, pid));
        let worker = root.pid != p.pid;
        // Another user's leader may hide its exe (and its fds): then the
        // same command name says it.
        let same_program = match (&root.exe, &p.exe) {
            (Some(a), Some(b)) => a == b,
            _ => root.name == p.name,
        };
        let forked = worker
            && (same_program
                || snap
                    .sockets
                    .iter()
                    .any(|s| s.holders.contains(&p.pid) && s.holders.contains(&root.pid)));
        let bound_as = bound_as(snap, p);
        Prog {
            snap,
            ctx,
            p,
            root,
            worker,
            forked,
            bound_as,
        }
    }

    fn label(&self, pid: Pid) -> String {
        match self.snap.process(pid) {
            Some(pp) => format!("pid {pid} ({})", escape(&pp.name)),
            None => format!("pid {pid}"),
        }
    }

    /// A fact about the leader, said as such in this process's reasons.
    fn of_leader(&self, fact: &str) -> String {
        if self.worker {
            format!("its program's leader {} {fact}", self.label(self.root.pid))
        } else {
            fact.to_string()
        }
    }

    /// What a worker's reasons add about itself: its parent is the leader,
    /// and the uid it dropped to.
    fn worker_facts(&self) -> Vec<String> {
        let (p, root) = (self.p, self.root);
        let mut out = Vec::new();
        if self.worker {
            out.push(format!(
                "its parent is {}, its program's leader (same process group {})",
                self.label(p.ppid),
                p.pgid
            ));
        }
        if self.forked && root.uid != p.uid {
            out.push(format!(
                "runs as {}, dropped to by its program's leader {}, owned by {}",
                user_of(p.uid, p.user.as_deref()),
                self.label(root.pid),
                user_of(root.uid, root.user.as_deref())
            ));
        } else if let Some(creator) = self.bound_as {
            out.push(format!(
                "runs as {}, but its socket was created by uid {creator}: it bound the port as uid {creator} and then dropped privileges, so the program is uid {creator}'s",
                user_of(p.uid, p.user.as_deref())
            ));
        }
        out
    }
}

/// Accounts below this uid are system accounts (Debian's and most
/// distributions' `UID_MIN`), as is `nobody`: what daemons drop to.
const FIRST_LOGIN_UID: u32 = 1000;

/// Does `uid` belong to a system account (`nobody`, `www-data`, `dnsmasq`)
/// rather than a person?
pub fn is_system_account(uid: u32) -> bool {
    uid != 0 && (uid < FIRST_LOGIN_UID || uid == 65534)
}

/// See [`Prog::bound_as`]. Only root can drop to a system account, so only
/// a root-made socket counts (a user's socket in a system account's hands
/// was passed to it, and that process is still another user's); and only a
/// system account's process qualifies, so a person's process never becomes
/// root's through a socket root handed it.
fn bound_as(snap: &Snapshot, p: &Process) -> Option<u32> {
    if !is_system_account(p.uid) {
        return None;
    }
    snap.sockets
        .iter()
        .find(|s| s.uid == 0 && s.holders.contains(&p.pid))
        .map(|s| s.uid)
}

fn user_of(uid: u32, user: Option<&str>) -> String {
    format!(
        "uid {uid}{}",
        user.map(|u| format!(" ({})", escape(u)))
            .unwrap_or_default()
    )
}

fn is_reaper(snap: &Snapshot, ctx: &Context, pid: Pid) -> bool {
    pid <= 1
        || snap
            .process(pid)
            .is_some_and(|pp| is_supervisor_name(&pp.name, &ctx.extra_supervisors))
}

fn program_verdict(g: &Prog<'_>) -> Verdict {
    foreign(g)
        .or_else(|| managed(g))
        .or_else(|| reparented(g))
        .unwrap_or_else(|| live(g))
}

fn plain(class: Class, reasons: Vec<String>) -> Verdict {
    Verdict {
        class,
        reasons,
        manager: None,
    }
}

/// Class 2, foreign: by the program's owner, not a worker's dropped uid.
fn foreign(g: &Prog<'_>) -> Option<Verdict> {
    let (p, root) = (g.p, g.root);
    let owner = if g.forked { root } else { p };
    if g.ctx.owns(owner.uid) || (!g.forked && g.bound_as.is_some_and(|u| g.ctx.owns(u))) {
        return None;
    }
    let mut reasons = vec![if g.forked {
        format!(
            "its program's leader {} is owned by {}; you are {}",
            g.label(root.pid),
            user_of(root.uid, root.user.as_deref()),
            g.ctx.you()
        )
    } else {
        format!(
            "owned by {}; you are {}",
            user_of(p.uid, p.user.as_deref()),
            g.ctx.you()
        )
    }];
    if g.forked && root.uid != p.uid {
        reasons.push(format!(
            "this worker runs as {}",
            user_of(p.uid, p.user.as_deref())
        ));
    }
    Some(plain(Class::Foreign, reasons))
}

/// Class 3, managed: a service or container cgroup, or a live supervisor
/// that restarts the program.
fn managed(g: &Prog<'_>) -> Option<Verdict> {
    let (m, mut reasons) = if let Some(m) =
        g.p.cgroup
            .as_deref()
            .and_then(|cg| manager_from_cgroup(cg, &g.ctx.extra_managed))
    {
        let reasons = vec![
            format!("runs in {}", m.describe()),
            format!(
                "stop it with `{}` (a kill would just be restarted or fight the manager)",
                m.stop_command()
            ),
        ];
        (m, reasons)
    } else {
        let (sup, m) = crate::program::restarter(g.snap, g.root)?;
        let who = if g.worker {
            format!("its program's leader {} runs", g.label(g.root.pid))
        } else {
            "runs".to_string()
        };
        let reasons = vec![
            format!(
                "{who} as {}, started by {}, which restarts it when it dies",
                m.describe(),
                g.label(sup)
            ),
            format!(
                "stop it with `{}` (a kill would just be restarted)",
                m.stop_command()
            ),
        ];
        (m, reasons)
    };
    reasons.extend(g.worker_facts());
    Some(Verdict {
        class: Class::Managed,
        reasons,
        manager: Some(m),
    })
}

/// Classes 4 and 5: reparented to init or a subreaper, a daemon or an
/// orphan by evidence ([`crate::program::daemon_evidence`]).
fn reparented(g: &Prog<'_>) -> Option<Verdict> {
    let root = g.root;
    if !is_reaper(g.snap, g.ctx, root.ppid) {
        return None;
    }
    let reaper = if root.ppid == 1 {
        "parent is pid 1 (init)".to_string()
    } else if root.ppid <= 0 {
        "has no parent in this pid namespace".to_string()
    } else {
        format!(
            "parent is {}, a subreaper that adopts orphans",
            g.label(root.ppid)
        )
    };
    let ev = crate::program::daemon_evidence(g.snap, root);
    let mut facts = g.worker_facts();
    let mut reasons = Vec::new();
    // A worker's first reason is about itself: its parent is the leader.
    if g.worker && !facts.is_empty() {
        reasons.push(facts.remove(0));
    }
    reasons.push(if g.worker {
        format!(
            "its program's leader {} was reparented: its {reaper}",
            g.label(root.pid)
        )
    } else if ev.daemon {
        format!("{reaper}: it was reparented")
    } else {
        format!("{reaper}: its launcher exited")
    });
    reasons.extend(ev.reasons.iter().map(|r| g.of_leader(r)));
    if ev.daemon {
        let whose = if g.worker { "its program was " } else { "" };
        reasons.push(format!(
            "{whose}started deliberately to outlive its launcher"
        ));
    }
    reasons.extend(facts);
    let class = if ev.daemon {
        Class::Daemon
    } else {
        Class::Orphan
    };
    Some(plain(class, reasons))
}

/// Class 6, live: its parent is alive.
fn live(g: &Prog<'_>) -> Verdict {
    let mut reasons = vec![format!(
        "parent {} is alive: part of a running program",
        g.label(g.p.ppid)
    )];
    if let Some(t) = g.p.tty() {
        reasons.push(format!("attached to terminal {t}"));
    }
    // The parent line already said who the parent is.
    reasons.extend(g.worker_facts().into_iter().skip(usize::from(g.worker)));
    plain(Class::Live, reasons)
}

/// Recognise a service manager or container runtime from the text of
/// `/proc/PID/cgroup` (v1 or v2). `extra` holds user-configured substrings.
///
/// systemd *session* and *app* scopes (`session-3.scope`, `app-…scope`) are
/// not managed: that is where interactive programs live.
pub fn manager_from_cgroup(cgroup: &str, extra: &[String]) -> Option<Manager> {
    // Check every hierarchy's path; the most specific (container) wins over
    // a systemd unit that merely contains it.
    let paths: Vec<&str> = cgroup
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .collect();
    for path in &paths {
        if let Some(m) = container_from_path(path) {
            return Some(m);
        }
    }
    for path in &paths {
        if let Some(m) = systemd_from_path(path) {
            return Some(m);
        }
    }
    for pat in extra {
        if !pat.is_empty() && paths.iter().any(|p| p.contains(pat.as_str())) {
            return Some(Manager::Pattern {
                pattern: pat.clone(),
            });
        }
    }
    None
}

fn hex_id(s: &str) -> Option<&str> {
    let id: &str = s.split(['.', '/']).next().unwrap_or("");
    (id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

fn container_from_path(path: &str) -> Option<Manager> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.iter().any(|s| s.starts_with("kubepods")) {
        let pod = segs.iter().find_map(|s| {
            let s = s.trim_end_matches(".slice");
            let rest = s
                .rsplit_once("-pod")
                .map(|(_, r)| r)
                .or_else(|| s.strip_prefix("pod"))?;
            Some(rest.replace('_', "-"))
        });
        return Some(Manager::Kubernetes { pod });
    }
    for (i, s) in segs.iter().enumerate() {
        if let Some(rest) = s.strip_prefix("docker-")
            && let Some(id) = hex_id(rest)
        {
            return Some(Manager::Docker { id: id.to_string() });
        }
        if *s == "docker"
            && let Some(id) = segs.get(i + 1).and_then(|n| hex_id(n))
        {
            return Some(Manager::Docker { id: id.to_string() });
        }
        if let Some(rest) = s.strip_prefix("libpod-")
            && let Some(id) = hex_id(rest)
        {
            return Some(Manager::Podman { id: id.to_string() });
        }
        if let Some(rest) = s.strip_prefix("cri-containerd-")
            && let Some(id) = hex_id(rest)
        {
            return Some(Manager::Containerd { id: id.to_string() });
        }
    }
    None
}

fn systemd_from_path(path: &str) -> Option<Manager> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // The innermost *.service segment names the unit. Inside a user manager
    // (`user@1000.service/…`) units are user units; `user@N.service` itself
    // only counts when nothing more specific is below it — and then it is the
    // manager's own scope (`init.scope`), which we leave alone.
    let user_mgr = segs
        .iter()
        .position(|s| s.starts_with("user@") && s.ends_with(".service"));
    let last_service = segs.iter().rposition(|s| s.ends_with(".service"))?;
    // A scope below the service (session-3.scope, app-….scope, init.scope)
    // is not a service of its own.
    if segs[last_service + 1..]
        .iter()
        .any(|s| s.ends_with(".scope"))
    {
        return None;
    }
    let unit = segs[last_service].to_string();
    match user_mgr {
        Some(u) if u == last_service => None,
        Some(_) => Some(Manager::SystemdUser { unit }),
        None => Some(Manager::Systemd { unit }),
    }
}

#[cfg(test)]
mod tests;
