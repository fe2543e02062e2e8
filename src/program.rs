//! Programs, not processes: the pure rules that look past one process to
//! the program it belongs to.
//!
//! - [`leader`]: a prefork worker (nginx, apache2, gunicorn) is judged by
//!   its master: the chain of parents in the same process group.
//! - [`restarter`]: a supervisor that *restarts* its children (supervisord,
//!   runit's `runsv`, s6's `s6-supervise`, pm2's daemon, `systemd --user`)
//!   is the live launcher of a managed program — unlike a subreaper that
//!   merely *adopts* orphans (tini, dumb-init, catatonit, containerd-shim).
//! - [`daemon_evidence`]: whether a reparented program daemonised on
//!   purpose or is debris of a launcher that died, with every piece of
//!   evidence as a sentence.
//!
//! Everything here is a function of the [`Snapshot`] (including its
//! [`crate::evidence::Facts`]), so it is unit-tested with literal fixtures.

use crate::classify::Manager;
use crate::escape::escape;
use crate::evidence::Stream;
use crate::model::{Pid, Process, Snapshot};

/// The leader of `p`'s program: climb through parents in the same process
/// group (never through a parent `is_reaper` says adopts orphans).
pub fn leader<'a>(
    snap: &'a Snapshot,
    p: &'a Process,
    is_reaper: impl Fn(Pid) -> bool,
) -> &'a Process {
    let mut root = p;
    for _ in 0..256 {
        match snap.process(root.ppid) {
            Some(pp)
                if pp.pgid == root.pgid
                    && !is_reaper(pp.pid)
                    && !restarts_children(pp)
                    && pp.pid != root.pid =>
            {
                root = pp
            }
            _ => break,
        }
    }
    root
}

/// The value after `-c`/`--configuration` in a supervisord command line.
fn supervisord_conf(cmdline: &[String]) -> Option<String> {
    let mut it = cmdline.iter();
    while let Some(a) = it.next() {
        if a == "-c" || a == "--configuration" {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--configuration=") {
            return Some(v.to_string());
        }
        if let Some(v) = a.strip_prefix("-c")
            && !v.is_empty()
            && !a.starts_with("--")
        {
            return Some(v.to_string());
        }
    }
    None
}

fn runs(p: &Process, prog: &str) -> bool {
    p.name == prog
        || p.cmdline
            .iter()
            .take(2)
            .any(|a| a == prog || a.ends_with(&format!("/{prog}")))
}

/// Is `p` a supervisor that restarts its children (never part of their
/// program, even when they share its process group: runsv's do)?
pub fn restarts_children(p: &Process) -> bool {
    runs(p, "supervisord")
        || p.name == "runsv"
        || p.name == "s6-supervise"
        || p.name.starts_with("PM2 ")
        || p.cmdline.first().is_some_and(|a| a.starts_with("PM2 v"))
        || (p.name == "systemd" && p.cmdline.iter().any(|a| a == "--user"))
}

/// The live supervisor that restarts `leader` when it dies (its parent),
/// as a [`Manager`] naming the program and how to stop it.
pub fn restarter(snap: &Snapshot, leader: &Process) -> Option<(Pid, Manager)> {
    let sup = snap.process(leader.ppid).filter(|s| s.pid > 1)?;
    let facts = snap.facts.get(&leader.pid);
    let env = |k: &str| facts.and_then(|f| f.env.get(k)).cloned();
    let sup_dir = || {
        snap.facts
            .get(&sup.pid)
            .and_then(|f| f.cwd.clone())
            .or_else(|| sup.cmdline.get(1).cloned())
    };
    let m = if runs(sup, "supervisord") {
        let program =
            env("SUPERVISOR_PROCESS_NAME").map(|name| match env("SUPERVISOR_GROUP_NAME") {
                Some(g) if g != name => format!("{g}:{name}"),
                _ => name,
            });
        Manager::Supervisord {
            program,
            conf: supervisord_conf(&sup.cmdline),
        }
    } else if sup.name == "runsv" {
        Manager::Runit { dir: sup_dir()? }
    } else if sup.name == "s6-supervise" {
        Manager::S6 { dir: sup_dir()? }
    } else if sup.name.starts_with("PM2 ")
        || sup.cmdline.first().is_some_and(|a| a.starts_with("PM2 v"))
    {
        Manager::Pm2 {
            name: env("name").or_else(|| env("pm_id"))?,
        }
    } else if sup.name == "systemd" && sup.cmdline.iter().any(|a| a == "--user") {
        let unit = leader.cgroup.as_deref().and_then(|cg| {
            match crate::classify::manager_from_cgroup(cg, &[]) {
                Some(Manager::SystemdUser { unit }) => Some(unit),
                _ => None,
            }
        })?;
        Manager::SystemdUser { unit }
    } else {
        return None;
    };
    Some((sup.pid, m))
}

/// The verdict of [`daemon_evidence`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Deliberately daemonised (else: an orphan).
    pub daemon: bool,
    /// Every piece of evidence, as a predicate about the program's leader
    /// ("leads its own session …", "has stdout on a pipe nobody reads …").
    pub reasons: Vec<String>,
}

const STREAMS: [&str; 3] = ["stdin", "stdout", "stderr"];

/// Did the reparented program led by `leader` daemonise on purpose, or is
/// it what a dead launcher left behind?
///
/// - Debris (orphan): still attached to a terminal; or a standard stream on
///   a terminal or on a pipe nobody reads any more (its launcher's); or
///   stdin still on a pipe or socket from its launcher.
/// - Deliberate (daemon): no terminal, and either its own session
///   (`setsid`) or the double-fork shape — its session's leader is gone,
///   nothing but this program is left in that session, and stdin is on
///   `/dev/null` or the cwd is `/`. Stdin on
///   `/dev/null`, output on `/dev/null` or a file, cwd `/` are recorded as
///   supporting evidence.
/// - Otherwise (reparented but still in a live launcher's session): orphan.
pub fn daemon_evidence(snap: &Snapshot, leader: &Process) -> Evidence {
    let mut reasons = Vec::new();
    let tty = leader.tty();
    let facts = snap.facts.get(&leader.pid);
    if let Some(t) = &tty {
        reasons.push(format!(
            "is still attached to terminal {t} of the session that started it"
        ));
    }
    let debris = launcher_streams(facts, &mut reasons) || tty.is_some();
    let (own_session, double_fork) = session_evidence(snap, leader, facts, &mut reasons);
    if let Some(f) = facts {
        for (name, s) in STREAMS.iter().zip(&f.stdio) {
            if let Some(s @ (Stream::Null | Stream::File(_))) = s {
                reasons.push(format!("has {name} on {}", escape(&s.describe())));
            }
        }
        if let Some(cwd) = &f.cwd {
            reasons.push(if cwd == "/" {
                "has working directory / (left its launcher's directory)".to_string()
            } else {
                format!("has working directory {}", escape(cwd))
            });
        }
    }
    // A daemon lets go of its launcher's stdin (`/dev/null` or closed); a
    // sidecar started "detached" (its own session) but still reading a
    // pipe or socket from its launcher was never daemonised.
    let kept_stdin = facts.and_then(|f| f.stdio[0].as_ref()).filter(|s| {
        matches!(
            s,
            Stream::Pipe { .. } | Stream::Socket | Stream::Terminal(_)
        )
    });
    if let Some(s) = kept_stdin
        && !s.is_launcher_context()
    {
        reasons.push(format!(
            "has stdin on {}, a channel from its launcher (a daemon puts it on /dev/null)",
            escape(&s.describe())
        ));
    }
    let detached = tty.is_none() && (own_session || double_fork) && kept_stdin.is_none();
    Evidence {
        daemon: detached && !debris,
        reasons,
    }
}

/// Streams still on its launcher's terminal or on a pipe nobody reads:
/// each is a reason; true when there is any.
fn launcher_streams(facts: Option<&crate::evidence::Facts>, reasons: &mut Vec<String>) -> bool {
    let mut any = false;
    for (name, s) in STREAMS
        .iter()
        .zip(facts.map(|f| &f.stdio).into_iter().flatten())
    {
        let Some(s) = s.as_ref().filter(|s| s.is_launcher_context()) else {
            continue;
        };
        any = true;
        let why = match s {
            Stream::Terminal(_) => "its launcher's terminal",
            _ => "its launcher read it and is gone",
        };
        reasons.push(format!("has {name} on {} ({why})", escape(&s.describe())));
    }
    any
}

/// The session: its own (`setsid`), the double fork's (leader gone,
/// nothing else left, stdio let go), a dead launcher's, or a live one's.
/// Says which as a reason; returns (own session, double fork).
fn session_evidence(
    snap: &Snapshot,
    leader: &Process,
    facts: Option<&crate::evidence::Facts>,
    reasons: &mut Vec<String>,
) -> (bool, bool) {
    // A zombie is gone for this purpose: its parent (often init) simply has
    // not reaped it yet.
    let gone = |q: &Process| matches!(q.state, 'Z' | 'X');
    let session_leader = snap.process(leader.sid).filter(|q| !gone(q));
    let own_session = leader.sid == leader.pid;
    let no_tty = leader.tty().is_none();
    let alone = snap
        .processes
        .values()
        .filter(|q| q.sid == leader.sid && !gone(q))
        .all(|q| q.pid == leader.pid || snap.ancestors(q.pid).contains(&leader.pid));
    // The double-fork shape alone could be a launcher's session that simply
    // ended; it counts with a sign of deliberate detachment beside it.
    let detached_io = facts
        .is_some_and(|f| f.cwd.as_deref() == Some("/") || matches!(f.stdio[0], Some(Stream::Null)));
    let double_fork = !own_session && session_leader.is_none() && alone && detached_io;
    if own_session && no_tty {
        reasons.push("leads its own session (sid = pid) with no controlling terminal".to_string());
    } else if double_fork && no_tty {
        reasons.push(format!(
            "is alone in session {} whose leader is gone, with no terminal: the double fork of a daemon",
            leader.sid
        ));
    } else if session_leader.is_none() && !own_session {
        reasons.push(format!(
            "is in session {} whose leader (the shell or launcher that started it) is gone",
            leader.sid
        ));
    } else if let Some(sl) = session_leader.filter(|_| !own_session) {
        reasons.push(format!(
            "still in session {} of pid {} ({}), its launcher's",
            leader.sid,
            sl.pid,
            escape(&sl.name)
        ));
    }
    (own_session, double_fork)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Facts;
    use crate::testkit::{Proc, snap};

    /// Facts from link targets; a pipe has no reader unless `set_read`.
    fn facts(cwd: &str, links: [&str; 3]) -> Facts {
        Facts {
            cwd: Some(cwd.into()),
            stdio: links.map(|l| {
                Some(match Stream::from_link(l) {
                    Stream::Pipe { inode, .. } => Stream::Pipe {
                        inode,
                        read: Some(false),
                    },
                    other => other,
                })
            }),
            env: Default::default(),
        }
    }

    #[test]
    fn double_fork_with_detached_stdio_is_a_daemon() {
        // dnsmasq: setsid, fork again, the session leader exits; cwd /,
        // stdio on /dev/null.
        let mut s = snap(
            vec![Proc::new(700, "dnsmasq").group(699, 699).uid(0).build()],
            vec![],
        );
        s.facts
            .insert(700, facts("/", ["/dev/null", "/dev/null", "/dev/null"]));
        let e = daemon_evidence(&s, &s.processes[&700]);
        assert!(e.daemon, "{e:?}");
        assert!(e.reasons.iter().any(|r| r.contains("double fork")), "{e:?}");
        assert!(e.reasons.iter().any(|r| r == "has stdin on /dev/null"));
        assert!(e.reasons.iter().any(|r| r.contains("working directory /")));
    }

    #[test]
    fn setsid_daemon_keeping_its_cwd_is_a_daemon() {
        // nginx -g 'daemon on;': setsid, stdin/stdout on /dev/null, stderr
        // on its error log, cwd where it was started.
        let mut s = snap(vec![Proc::new(800, "nginx").uid(0).build()], vec![]);
        s.facts.insert(
            800,
            facts(
                "/home/dev/site",
                ["/dev/null", "/dev/null", "/var/log/nginx/error.log"],
            ),
        );
        let e = daemon_evidence(&s, &s.processes[&800]);
        assert!(e.daemon, "{e:?}");
        assert!(
            e.reasons
                .iter()
                .any(|r| r.contains("leads its own session"))
        );
        assert!(
            e.reasons
                .iter()
                .any(|r| r == "has stderr on file /var/log/nginx/error.log")
        );
    }

    #[test]
    fn setsid_sidecar_writing_to_a_dead_pipe_is_an_orphan() {
        // Node spawn(..., {detached: true}) with default stdio: its own
        // session, but stdout/stderr are pipes whose reader (the app) died.
        let mut s = snap(vec![Proc::new(900, "node").build()], vec![]);
        s.facts.insert(
            900,
            facts("/home/dev/app", ["pipe:[11]", "pipe:[12]", "pipe:[13]"]),
        );
        let e = daemon_evidence(&s, &s.processes[&900]);
        assert!(!e.daemon, "{e:?}");
        assert!(
            e.reasons
                .iter()
                .any(|r| r.starts_with("has stdout on a pipe nobody reads any more")),
            "{e:?}"
        );
        assert!(e.reasons.iter().any(|r| r.contains("/home/dev/app")));
        // The same pipe still read by someone is no evidence of debris.
        if let Some(f) = s.facts.get_mut(&900) {
            for st in f.stdio.iter_mut().flatten() {
                if let Stream::Pipe { read, .. } = st {
                    *read = Some(true);
                }
            }
        }
        assert!(!daemon_evidence(&s, &s.processes[&900]).daemon);
        // Node's `stdio: 'pipe'` is a socketpair: stdin still on it.
        s.facts.insert(
            900,
            facts(
                "/home/dev/app",
                ["socket:[21]", "socket:[22]", "socket:[23]"],
            ),
        );
        let e = daemon_evidence(&s, &s.processes[&900]);
        assert!(!e.daemon, "{e:?}");
        assert!(
            e.reasons
                .iter()
                .any(|r| r.starts_with("has stdin on a socket, a channel from its launcher")),
            "{e:?}"
        );
        // Output read by a live logger, stdin let go: a daemon.
        s.facts
            .insert(900, facts("/", ["/dev/null", "pipe:[12]", "pipe:[12]"]));
        if let Some(f) = s.facts.get_mut(&900) {
            for st in f.stdio.iter_mut().flatten() {
                if let Stream::Pipe { read, .. } = st {
                    *read = Some(true);
                }
            }
        }
        assert!(daemon_evidence(&s, &s.processes[&900]).daemon);
    }

    #[test]
    fn server_of_a_killed_terminal_shell_is_an_orphan() {
        // `python -m http.server &` in a shell whose terminal was closed:
        // the kernel dropped the controlling tty, the session leader is
        // gone, but its streams are still on the pty.
        let mut s = snap(
            vec![Proc::new(950, "python3").group(950, 940).build()],
            vec![],
        );
        s.facts.insert(
            950,
            facts("/home/dev/proj", ["/dev/pts/4", "/dev/pts/4", "/dev/pts/4"]),
        );
        let e = daemon_evidence(&s, &s.processes[&950]);
        assert!(!e.daemon, "{e:?}");
        assert!(e.reasons.iter().any(|r| r.contains("terminal /dev/pts/4")));
    }

    #[test]
    fn reparented_inside_a_live_session_is_an_orphan() {
        let s = snap(
            vec![
                Proc::new(800, "bash").build(),
                Proc::new(960, "vite").group(955, 800).build(),
            ],
            vec![],
        );
        let e = daemon_evidence(&s, &s.processes[&960]);
        assert!(!e.daemon);
        assert!(
            e.reasons[0].contains("session 800 of pid 800 (bash)"),
            "{e:?}"
        );
    }

    #[test]
    fn supervisors_that_restart_are_named() {
        let sup = Proc::new(50, "supervisord")
            .uid(0)
            .cmd(&[
                "/usr/bin/python3",
                "/usr/bin/supervisord",
                "-c",
                "/etc/sv.conf",
            ])
            .build();
        let runsv = Proc::new(60, "runsv").uid(0).cmd(&["runsv", "web"]).build();
        let mut s = snap(
            vec![
                sup,
                Proc::new(51, "python3")
                    .ppid(50)
                    .group(51, 50)
                    .uid(0)
                    .build(),
                runsv,
                Proc::new(61, "web").ppid(60).group(61, 60).uid(0).build(),
                Proc::new(70, "tini").uid(0).build(),
                Proc::new(71, "app").ppid(70).group(71, 70).uid(0).build(),
            ],
            vec![],
        );
        let mut f = Facts::default();
        f.env.insert("SUPERVISOR_PROCESS_NAME".into(), "web".into());
        f.env.insert("SUPERVISOR_GROUP_NAME".into(), "web".into());
        s.facts.insert(51, f);
        s.facts.insert(
            60,
            Facts {
                cwd: Some("/etc/service/web".into()),
                ..Facts::default()
            },
        );
        let (pid, m) = restarter(&s, &s.processes[&51]).expect("supervisord");
        assert_eq!(pid, 50);
        assert_eq!(m.stop_command(), "supervisorctl -c /etc/sv.conf stop web");
        assert_eq!(m.describe(), "supervisord program web");
        let (_, m) = restarter(&s, &s.processes[&61]).expect("runsv");
        assert_eq!(m.stop_command(), "sv down /etc/service/web");
        // runsv's child shares its group: the leader stops below runsv.
        let mut child = s.processes[&61].clone();
        child.pgid = 60;
        s.processes.insert(61, child);
        let l = leader(&s, &s.processes[&61], |p| p <= 1);
        assert_eq!(l.pid, 61);
        // pm2's God daemon names its processes by their `name`.
        let god = Proc::new(80, "PM2 v5.3.1: God")
            .uid(0)
            .cmd(&["PM2 v5.3.1: God Daemon (/root/.pm2)"])
            .build();
        s.processes.insert(80, god);
        s.processes.insert(
            81,
            Proc::new(81, "node").ppid(80).group(81, 80).uid(0).build(),
        );
        let mut f = Facts::default();
        f.env.insert("name".into(), "api".into());
        s.facts.insert(81, f);
        let (_, m) = restarter(&s, &s.processes[&81]).expect("pm2");
        assert_eq!(m.stop_command(), "pm2 stop api");
        // tini adopts orphans; it does not restart them.
        assert_eq!(restarter(&s, &s.processes[&71]), None);
        assert_eq!(
            supervisord_conf(&["supervisord".into(), "--configuration=/x.conf".into()]),
            Some("/x.conf".into())
        );
    }
}
