//! The `--json` schema (version 1). Scripts rely on these field names: add
//! fields freely, rename none. Strings are emitted as read: serde_json
//! escapes C0 controls and [`portwarden::escape::json_safe`] the rest (DEL, C1,
//! bidi overrides) as `\uXXXX`, so the output is valid JSON, decodes to the
//! exact strings, and a hostile name cannot reach a terminal through it.

use std::collections::BTreeMap;

use serde::Serialize;

use portwarden::classify::{Class, Manager, Verdict};
use portwarden::model::{Family, Pid, Process, Proto, Snapshot, SockState, Socket};

/// Top-level `list --json` document.
#[derive(Debug, Serialize)]
pub struct ListDoc<'a> {
    /// Schema version: 1.
    pub schema: u32,
    /// Matching sockets, sorted by port.
    pub sockets: Vec<JsonSocket<'a>>,
}

/// One socket.
#[derive(Debug, Serialize)]
pub struct JsonSocket<'a> {
    /// `tcp` or `udp`.
    pub proto: Proto,
    /// `ipv4` or `ipv6`.
    pub family: Family,
    /// Bind address.
    pub addr: String,
    /// Port.
    pub port: u16,
    /// `LISTEN` or `UNCONN`.
    pub state: SockState,
    /// Socket inode.
    pub inode: u64,
    /// Uid that owns the socket.
    pub uid: u32,
    /// TCP: connections waiting to be accepted.
    pub accept_queue: Option<u32>,
    /// TCP: listen backlog.
    pub backlog: Option<u32>,
    /// Accept queue full.
    pub stuck: bool,
    /// Why no holder was found.
    pub unresolved: Option<&'a str>,
    /// Every process holding it.
    pub holders: Vec<JsonHolder<'a>>,
    /// TCP: connections on its address and port, with local clients
    /// (`null` for UDP, or when not gathered).
    pub connections: Option<&'a portwarden::conns::Connections>,
}

/// One holder process.
#[derive(Debug, Serialize)]
pub struct JsonHolder<'a> {
    /// Process id.
    pub pid: Pid,
    /// Parent pid.
    pub ppid: Pid,
    /// Process group id.
    pub pgid: Pid,
    /// Session id.
    pub sid: Pid,
    /// Effective uid.
    pub uid: u32,
    /// User name.
    pub user: Option<&'a str>,
    /// `comm`.
    pub name: &'a str,
    /// Arguments (at most 64 KiB of them, the cut marked `…(cut)`).
    pub cmdline: std::borrow::Cow<'a, [String]>,
    /// Executable path.
    pub exe: Option<&'a str>,
    /// Start time, clock ticks since boot (identity with `pid`).
    pub start_time: u64,
    /// Controlling terminal (`pts/3`), if any.
    pub tty: Option<String>,
    /// The cgroup path that places the process (the unified `0::` line,
    /// else systemd's), not the whole multi-line `/proc/PID/cgroup`.
    pub cgroup: Option<&'a str>,
    /// Classification.
    pub class: Class,
    /// Reasons for the class.
    pub reasons: &'a [String],
    /// Service manager or container, for `managed`.
    pub manager: Option<&'a Manager>,
    /// How to stop it properly, for `managed`.
    pub stop_command: Option<String>,
    /// The container it forwards to or runs in (`engine`, `id`, `name`,
    /// `image`, `compose_project`, `compose_service`), else null.
    pub container: Option<&'a portwarden::container::Container>,
    /// Working directory, when readable.
    pub cwd: Option<&'a str>,
    /// The project around `cwd` (`null` when none).
    pub project: Option<&'a portwarden::project::Project>,
}

/// Build the JSON view of one socket.
pub fn socket<'a>(
    snap: &'a Snapshot,
    verdicts: &'a BTreeMap<Pid, Verdict>,
    s: &'a Socket,
) -> JsonSocket<'a> {
    JsonSocket {
        proto: s.proto,
        family: s.family,
        addr: s.addr.to_string(),
        port: s.port,
        state: s.state,
        inode: s.inode,
        uid: s.uid,
        accept_queue: s.accept_queue,
        backlog: s.backlog,
        stuck: s.stuck(),
        unresolved: s.unresolved.as_deref(),
        holders: s
            .holders
            .iter()
            .filter_map(|pid| {
                let p = snap.process(*pid)?;
                let v = verdicts.get(pid)?;
                let c = snap.contexts.get(pid);
                Some(JsonHolder {
                    cwd: c.and_then(|c| c.cwd.as_deref()),
                    project: c.and_then(|c| c.project.as_ref()),
                    ..holder(p, v)
                })
            })
            .collect(),
        connections: snap
            .connections
            .get(&s.inode)
            .filter(|_| s.proto == Proto::Tcp),
    }
}

/// Build the JSON view of one holder.
pub fn holder<'a>(p: &'a Process, v: &'a Verdict) -> JsonHolder<'a> {
    JsonHolder {
        pid: p.pid,
        ppid: p.ppid,
        pgid: p.pgid,
        sid: p.sid,
        uid: p.uid,
        user: p.user.as_deref(),
        name: &p.name,
        cmdline: portwarden::os::procfs::shown_cmdline(&p.cmdline),
        exe: p.exe.as_deref(),
        start_time: p.start_time,
        tty: p.tty(),
        cgroup: p.cgroup_path(),
        class: v.class,
        reasons: &v.reasons,
        manager: v.manager.as_ref(),
        stop_command: v.manager.as_ref().map(Manager::stop_command),
        container: v.manager.as_ref().and_then(Manager::container),
        cwd: None,
        project: None,
    }
}
