//! Test support: builders for the literal processes, sockets and snapshots
//! that unit tests feed to the pure core.
//!
//! One file serves both test builds: the library includes it as
//! `mod testkit`, and the binary (whose tests cannot see the library's
//! `#[cfg(test)]` items) includes the same file by path. It is written
//! against `portwarden::` paths so it compiles in either place (the
//! library names itself `portwarden` in test builds for this).
//!
//! The defaults are those of a plain user server: a [`Proc`] is a child of
//! init leading its own group and session, owned by uid 1000, running
//! `NAME --serve`; a [`Sock`] listens on 127.0.0.1. Tests state only what
//! their case is about.

// Each test build uses a different part of this file.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use portwarden::classify::Context;
use portwarden::model::{Family, Pid, Process, Proto, Snapshot, SockState, Socket};

/// Builds a [`Process`] with full details read, as discovery would report
/// it. See the module doc for the defaults.
#[derive(Debug, Clone)]
pub struct Proc {
    p: Process,
    /// Whether [`Proc::uid`] or [`Proc::user`] chose the user name; if
    /// neither did, it follows the uid.
    named: bool,
    /// Whether [`Proc::cmd`] set the command line.
    argv: bool,
}

impl Proc {
    /// Process `pid` named `name` (its `comm`): a child of init, leader of
    /// its own group and session, uid 1000, started at tick `1000 + pid`.
    pub fn new(pid: Pid, name: &str) -> Self {
        Proc {
            p: Process {
                uid: 1000,
                start_time: 1000 + pid as u64,
                detailed: true,
                ..Process::new(pid, 1, name)
            },
            named: false,
            argv: false,
        }
    }

    /// The parent.
    pub fn ppid(mut self, ppid: Pid) -> Self {
        self.p.ppid = ppid;
        self
    }

    /// Process group and session.
    pub fn group(mut self, pgid: Pid, sid: Pid) -> Self {
        self.p.pgid = pgid;
        self.p.sid = sid;
        self
    }

    /// The owner; the user name is `root` for 0 and `u<uid>` otherwise
    /// unless [`Proc::user`] names it.
    pub fn uid(mut self, uid: u32) -> Self {
        self.p.uid = uid;
        self
    }

    /// The owner's user name.
    pub fn user(mut self, name: &str) -> Self {
        self.p.user = Some(name.to_string());
        self.named = true;
        self
    }

    /// The command line (default: `NAME --serve`).
    pub fn cmd(mut self, argv: &[&str]) -> Self {
        self.p.cmdline = argv.iter().map(|s| s.to_string()).collect();
        self.argv = true;
        self
    }

    /// The executable's path.
    pub fn exe(mut self, path: &str) -> Self {
        self.p.exe = Some(path.to_string());
        self
    }

    /// Started `secs` after boot, in the 100 Hz clock ticks of every
    /// [`snap`].
    pub fn started(mut self, secs: u64) -> Self {
        self.p.start_time = secs * 100;
        self
    }

    /// Raw `/proc/PID/cgroup` text.
    pub fn cgroup(mut self, raw: &str) -> Self {
        self.p.cgroup = Some(raw.to_string());
        self
    }

    /// The controlling terminal's device number (0: none).
    pub fn tty(mut self, tty_nr: u32) -> Self {
        self.p.tty_nr = tty_nr;
        self
    }

    /// The process.
    pub fn build(self) -> Process {
        let mut p = self.p;
        if !self.named {
            p.user = Some(if p.uid == 0 {
                "root".into()
            } else {
                format!("u{}", p.uid)
            });
        }
        if !self.argv {
            p.cmdline = vec![p.name.clone(), "--serve".to_string()];
        }
        p
    }
}

/// Builds a listening [`Socket`]: TCP in LISTEN (accept queue 0, backlog
/// 128) or bound UDP, on 127.0.0.1, created by uid 1000, inode
/// `10000 + port`, no holders.
#[derive(Debug, Clone)]
pub struct Sock(Socket);

impl Sock {
    /// A TCP listener on `port`.
    pub fn tcp(port: u16) -> Self {
        Sock(Socket {
            proto: Proto::Tcp,
            family: Family::Ipv4,
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            state: SockState::Listen,
            inode: 10_000 + u64::from(port),
            uid: 1000,
            accept_queue: Some(0),
            backlog: Some(128),
            holders: Vec::new(),
            unresolved: None,
        })
    }

    /// A bound UDP socket on `port`.
    pub fn udp(port: u16) -> Self {
        let Sock(s) = Sock::tcp(port);
        Sock(Socket {
            proto: Proto::Udp,
            state: SockState::Unconn,
            accept_queue: None,
            backlog: None,
            ..s
        })
    }

    /// The local address (its family follows).
    pub fn on(mut self, addr: IpAddr) -> Self {
        self.0.family = if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        };
        self.0.addr = addr;
        self
    }

    /// The processes holding a descriptor on it.
    pub fn holders(mut self, pids: &[Pid]) -> Self {
        self.0.holders = pids.to_vec();
        self
    }

    /// The socket's inode.
    pub fn inode(mut self, inode: u64) -> Self {
        self.0.inode = inode;
        self
    }

    /// The uid that created it.
    pub fn uid(mut self, uid: u32) -> Self {
        self.0.uid = uid;
        self
    }

    /// A TCP listener's accept queue and backlog.
    pub fn queue(mut self, queued: u32, backlog: u32) -> Self {
        self.0.accept_queue = Some(queued);
        self.0.backlog = Some(backlog);
        self
    }

    /// The socket.
    pub fn build(self) -> Socket {
        self.0
    }
}

/// The classification context of the library's fixtures: portwarden is
/// pid 900 (uid 1000) in process group 900, run from shell 800, under init.
pub fn ctx() -> Context {
    Context {
        uid: 1000,
        self_pid: 900,
        self_pgid: 900,
        ancestors: HashSet::from([800, 1]),
        ..Context::default()
    }
}

/// A snapshot of these processes and sockets, plus init (pid 1) unless
/// given; booted at 1_795_000_000 with a 100 Hz clock.
pub fn snap(procs: Vec<Process>, sockets: Vec<Socket>) -> Snapshot {
    let mut processes: BTreeMap<Pid, Process> = procs.into_iter().map(|p| (p.pid, p)).collect();
    processes
        .entry(1)
        .or_insert_with(|| Proc::new(1, "init").ppid(0).uid(0).build());
    Snapshot {
        sockets,
        processes,
        boot_time: 1_795_000_000,
        clk_tck: 100,
        ..Snapshot::default()
    }
}
