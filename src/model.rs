//! Plain data: what a scan of the machine found.
//!
//! Everything downstream of discovery — classification, kill planning, the
//! process tree, the CLI table, the TUI — is a pure function of these types.
//! That is the seam that lets every one of them be unit-tested with literal
//! fixtures instead of real processes: build a [`Snapshot`] by hand, feed it in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// A process id as the kernel reports it.
pub type Pid = i32;

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP (only LISTEN sockets are collected).
    Tcp,
    /// UDP (only bound, unconnected sockets are collected).
    Udp,
}

impl Proto {
    /// Lower-case name, as used in port specs and JSON (`tcp`, `udp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Address family of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// AF_INET.
    Ipv4,
    /// AF_INET6 (which may also accept v4-mapped traffic unless v6only).
    Ipv6,
}

/// Socket state as `ss` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum SockState {
    /// A TCP socket accepting connections.
    #[serde(rename = "LISTEN")]
    Listen,
    /// A bound, unconnected UDP socket.
    #[serde(rename = "UNCONN")]
    Unconn,
}

impl SockState {
    /// The name `ss` prints for this state.
    pub fn as_str(self) -> &'static str {
        match self {
            SockState::Listen => "LISTEN",
            SockState::Unconn => "UNCONN",
        }
    }
}

/// One listening socket, as the kernel's sock_diag reports it, plus the
/// processes found holding a file descriptor on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// TCP or UDP.
    pub proto: Proto,
    /// IPv4 or IPv6.
    pub family: Family,
    /// Local bind address (`0.0.0.0`, `::`, a specific address, …).
    pub addr: IpAddr,
    /// Local port (never 0: unbound sockets are not listeners).
    pub port: u16,
    /// LISTEN for TCP, UNCONN for UDP.
    pub state: SockState,
    /// Socket inode: the key that links the kernel's table to `/proc/PID/fd`.
    pub inode: u64,
    /// Uid that created the socket.
    pub uid: u32,
    /// TCP listeners: connections completed but not yet accepted (ss Recv-Q).
    pub accept_queue: Option<u32>,
    /// TCP listeners: the listen() backlog (ss Send-Q).
    pub backlog: Option<u32>,
    /// Pids of every process with an fd on this socket, ascending.
    pub holders: Vec<Pid>,
    /// Why no holder could be found, when `holders` is empty.
    pub unresolved: Option<String>,
}

impl Socket {
    /// The accept queue is full: the listener is up but not accepting
    /// ("port up, handshake broken").
    pub fn stuck(&self) -> bool {
        match (self.accept_queue, self.backlog) {
            (Some(q), Some(b)) => q > 0 && q >= b,
            _ => false,
        }
    }

    /// `addr:port`, with IPv6 addresses in brackets (`[::1]:8080`).
    pub fn endpoint(&self) -> String {
        match self.addr {
            IpAddr::V4(a) => format!("{a}:{}", self.port),
            IpAddr::V6(a) => format!("[{a}]:{}", self.port),
        }
    }
}

/// One process, as `/proc/PID/*` described it at scan time.
///
/// Every process on the machine is recorded with its identity and lineage
/// (pid, ppid, pgid, sid, start time, name), because the tree view, the kill
/// plan and classification all walk parents and groups. The costlier fields
/// (`cmdline`, `exe`, `cgroup`, exact `uid` and `user`) are filled for the
/// processes that matter: socket holders, their process-group members, their
/// ancestors and their descendants (`detailed == true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Process id.
    pub pid: Pid,
    /// Parent pid (0 for the namespace's init).
    pub ppid: Pid,
    /// Process group id.
    pub pgid: Pid,
    /// Session id.
    pub sid: Pid,
    /// Effective uid.
    pub uid: u32,
    /// User name for `uid`, when it resolves.
    pub user: Option<String>,
    /// Kernel command name (`comm`, at most 15 bytes).
    pub name: String,
    /// Arguments (`/proc/PID/cmdline`); empty for kernel threads and for
    /// processes not `detailed`.
    pub cmdline: Vec<String>,
    /// Executable path (`/proc/PID/exe`), when readable.
    pub exe: Option<String>,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22):
    /// together with the pid, the identity that guards against pid reuse.
    pub start_time: u64,
    /// Controlling terminal device number (`tty_nr`); 0 means none.
    pub tty_nr: u32,
    /// Scheduler state letter (`R`, `S`, `Z`, …).
    pub state: char,
    /// Raw `/proc/PID/cgroup` contents, when read.
    pub cgroup: Option<String>,
    /// Whether the costly fields above were read for this process.
    pub detailed: bool,
}

impl Process {
    /// A minimal process record, for fixtures and for filling in later.
    pub fn new(pid: Pid, ppid: Pid, name: &str) -> Self {
        Process {
            pid,
            ppid,
            pgid: pid,
            sid: pid,
            uid: 0,
            user: None,
            name: name.to_string(),
            cmdline: Vec::new(),
            exe: None,
            start_time: 0,
            tty_nr: 0,
            state: 'S',
            cgroup: None,
            detailed: false,
        }
    }

    /// The one cgroup path that places this process: the unified (v2,
    /// `0::`) hierarchy's, else systemd's named hierarchy (`name=systemd`),
    /// else the first listed. `None` when the cgroup was not read.
    pub fn cgroup_path(&self) -> Option<&str> {
        self.cgroup.as_deref().and_then(cgroup_path)
    }

    /// The command line joined by spaces, or `[name]` when there is none
    /// (kernel threads, zombies, processes not read in detail).
    pub fn command(&self) -> String {
        if self.cmdline.is_empty() {
            format!("[{}]", self.name)
        } else {
            self.cmdline.join(" ")
        }
    }

    /// Like [`Process::command`], but with the program's directory dropped
    /// (`/root/.pyenv/versions/3.11.7/bin/python3 app.py` → `python3
    /// app.py`): what fits a table column. Details and JSON keep the full
    /// form.
    pub fn short_command(&self) -> String {
        match self.cmdline.split_first() {
            None => format!("[{}]", self.name),
            Some((argv0, rest)) => {
                // A program that rewrote its title (`nginx: master process
                // /usr/sbin/nginx`) keeps it whole: only a plain path is cut.
                let prog = match argv0.rsplit_once('/') {
                    Some((_, base)) if !base.is_empty() && !argv0.contains(' ') => base,
                    _ => argv0.as_str(),
                };
                std::iter::once(prog)
                    .chain(rest.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        }
    }

    /// The controlling terminal's name (`pts/3`, `tty1`), or `None`.
    pub fn tty(&self) -> Option<String> {
        tty_name(self.tty_nr)
    }
}

/// Decode a Linux `tty_nr` (major in bits 8..15, minor split around it) to
/// a device name as `ps` shows it.
pub fn tty_name(tty_nr: u32) -> Option<String> {
    if tty_nr == 0 {
        return None;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    Some(match major {
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        _ => format!("tty({major},{minor})"),
    })
}

/// Everything one scan saw: listening sockets and the process table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Listening sockets, sorted by (port, proto, family, addr, inode).
    pub sockets: Vec<Socket>,
    /// Every visible process, by pid.
    pub processes: BTreeMap<Pid, Process>,
    /// Boot time, seconds since the Unix epoch (to show start times).
    pub boot_time: u64,
    /// Clock ticks per second (`start_time` units).
    pub clk_tck: u64,
    /// Containers behind the holders, when any holder is a container's
    /// forwarder or process (asked of the engines by discovery).
    pub containers: crate::container::ContainerTable,
    /// How holders' programs were started (streams, cwd, supervisor
    /// environment), for holders, their programs' leaders and the leaders'
    /// parents: see [`crate::evidence`].
    pub facts: BTreeMap<Pid, crate::evidence::Facts>,
    /// Connections of each TCP listener, by the listener's inode (empty
    /// when the scan did not gather them).
    pub connections: BTreeMap<u64, crate::conns::Connections>,
    /// Each holder's working directory and project, by pid.
    pub contexts: BTreeMap<Pid, crate::project::ProcContext>,
}

impl Snapshot {
    /// The process with this pid, if it was seen.
    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.processes.get(&pid)
    }

    /// Sockets bound to `port` (any address, either protocol unless `proto`
    /// narrows it).
    pub fn sockets_on(&self, port: u16, proto: Option<Proto>) -> impl Iterator<Item = &Socket> {
        self.sockets
            .iter()
            .filter(move |s| s.port == port && proto.is_none_or(|p| s.proto == p))
    }

    /// Parent chain of `pid`, nearest first, ending at init (excludes `pid`).
    /// Stops on a cycle or a parent that was not seen.
    pub fn ancestors(&self, pid: Pid) -> Vec<Pid> {
        let mut out = Vec::new();
        let mut cur = pid;
        while let Some(p) = self.processes.get(&cur) {
            if p.ppid <= 0 || out.contains(&p.ppid) || p.ppid == pid {
                break;
            }
            out.push(p.ppid);
            cur = p.ppid;
        }
        out
    }

    /// Direct children of `pid`, ascending.
    pub fn children(&self, pid: Pid) -> Vec<Pid> {
        self.processes
            .values()
            .filter(|p| p.ppid == pid && p.pid != pid)
            .map(|p| p.pid)
            .collect()
    }

    /// Every descendant of `pid` (children, grandchildren, …), breadth-first.
    pub fn descendants(&self, pid: Pid) -> Vec<Pid> {
        Self::descendants_in(&self.child_index(), pid, usize::MAX)
    }

    /// Parent pid → child pids, for walking many subtrees of one snapshot
    /// without rescanning the table for each.
    pub fn child_index(&self) -> HashMap<Pid, Vec<Pid>> {
        let mut kids: HashMap<Pid, Vec<Pid>> = HashMap::new();
        for p in self.processes.values() {
            if p.pid != p.ppid {
                kids.entry(p.ppid).or_default().push(p.pid);
            }
        }
        kids
    }

    /// At most `limit` descendants of `pid`, breadth-first, from an index
    /// built by [`Snapshot::child_index`].
    pub fn descendants_in(index: &HashMap<Pid, Vec<Pid>>, pid: Pid, limit: usize) -> Vec<Pid> {
        let mut out = Vec::new();
        let mut seen = HashSet::from([pid]);
        let mut queue = std::collections::VecDeque::from([pid]);
        while let Some(cur) = queue.pop_front() {
            for &c in index.get(&cur).map(Vec::as_slice).unwrap_or(&[]) {
                if out.len() >= limit {
                    return out;
                }
                if seen.insert(c) {
                    out.push(c);
                    queue.push_back(c);
                }
            }
        }
        out
    }

    /// When `p` started, in seconds since the epoch (boot time + its start
    /// ticks), if the snapshot knows the clock.
    pub fn started_at(&self, p: &Process) -> Option<u64> {
        (self.clk_tck > 0 && self.boot_time > 0)
            .then(|| self.boot_time + p.start_time / self.clk_tck)
    }

    /// Members of process group `pgid`, ascending.
    pub fn group_members(&self, pgid: Pid) -> Vec<Pid> {
        if pgid <= 0 {
            return Vec::new();
        }
        self.processes
            .values()
            .filter(|p| p.pgid == pgid)
            .map(|p| p.pid)
            .collect()
    }
}

/// The path [`Process::cgroup_path`] picks out of raw `/proc/PID/cgroup`
/// text (`ID:CONTROLLERS:PATH` lines).
pub fn cgroup_path(raw: &str) -> Option<&str> {
    let lines: Vec<(&str, &str)> = raw
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (id, ctl, path) = (f.next()?, f.next()?, f.next()?);
            Some((if id == "0" && ctl.is_empty() { "" } else { ctl }, path))
        })
        .collect();
    let find = |want: &str| lines.iter().find(|(c, _)| *c == want).map(|(_, p)| *p);
    find("")
        .or_else(|| find("name=systemd"))
        .or_else(|| lines.first().map(|(_, p)| *p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_path_is_one_path() {
        assert_eq!(
            cgroup_path("0::/user.slice/user-1000.slice/session-2.scope\n"),
            Some("/user.slice/user-1000.slice/session-2.scope")
        );
        // Hybrid v1 + v2: the unified line wins.
        let hybrid = "12:cpu,cpuacct:/docker/abc\n1:name=systemd:/system.slice/x.service\n0::/system.slice/x.service\n";
        assert_eq!(cgroup_path(hybrid), Some("/system.slice/x.service"));
        // Pure v1: systemd's named hierarchy, else the first line.
        let v1 = "4:memory:/lxc/a\n1:name=systemd:/init.scope\n";
        assert_eq!(cgroup_path(v1), Some("/init.scope"));
        assert_eq!(cgroup_path("4:memory:/lxc/a\n"), Some("/lxc/a"));
        assert_eq!(cgroup_path(""), None);
    }

    #[test]
    fn short_command_drops_only_a_plain_program_path() {
        let mut p = Process::new(5, 1, "python3");
        assert_eq!(p.short_command(), "[python3]");
        p.cmdline = vec!["/root/.pyenv/bin/python3".into(), "/srv/app.py".into()];
        assert_eq!(p.short_command(), "python3 /srv/app.py");
        assert_eq!(p.command(), "/root/.pyenv/bin/python3 /srv/app.py");
        p.cmdline = vec!["nginx: master process /usr/sbin/nginx".into()];
        assert_eq!(p.short_command(), "nginx: master process /usr/sbin/nginx");
        p.cmdline = vec!["/".into()];
        assert_eq!(p.short_command(), "/");
    }

    #[test]
    fn tty_names() {
        assert_eq!(tty_name(0), None);
        assert_eq!(tty_name((136 << 8) | 3).as_deref(), Some("pts/3"));
        assert_eq!(tty_name((4 << 8) | 1).as_deref(), Some("tty1"));
    }
}
