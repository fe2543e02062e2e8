//! Discovery: one consistent-enough [`Snapshot`] of listening sockets and the
//! processes holding them.
//!
//! The socket table comes from the kernel (sock_diag, filtered to LISTEN and
//! unconnected UDP before anything is copied); holders come from walking
//! `/proc/PID/fd` and matching `socket:[inode]` links. No external command is
//! run, so this works with an empty `PATH` on a slim image.
//!
//! Processes come and go during a scan. A pid that vanishes between the
//! `/proc` listing and its fd walk is simply not a holder; a socket whose
//! holder cannot be seen keeps its row, with an `unresolved` reason.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::{Error, Result};
use crate::model::{Pid, Process, Proto, Snapshot, Socket};
use crate::os::procfs;
use crate::os::sockdiag::SockDiag;
use crate::os::{self, Users};

/// What to collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// TCP listeners.
    pub tcp: bool,
    /// Bound, unconnected UDP sockets.
    pub udp: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tcp: true,
            udp: true,
        }
    }
}

impl Options {
    /// Options from a protocol filter (`None` = both).
    pub fn for_proto(proto: Option<Proto>) -> Self {
        Options {
            tcp: proto != Some(Proto::Udp),
            udp: proto != Some(Proto::Tcp),
        }
    }
}

/// A reusable scanner: keeps its netlink socket and user-name cache between
/// scans (the TUI scans every couple of seconds).
#[derive(Default)]
pub struct Scanner {
    diag: Option<SockDiag>,
    users: Users,
}

impl Scanner {
    /// A scanner with nothing open yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn diag(&mut self) -> Result<&mut SockDiag> {
        if self.diag.is_none() {
            self.diag = Some(SockDiag::open().map_err(Error::SockDiag)?);
        }
        // Just set above; the `ok_or` only exists to avoid an unwrap.
        self.diag
            .as_mut()
            .ok_or_else(|| Error::SockDiag(std::io::Error::other("netlink socket not open")))
    }

    /// Only the kernel's socket table: no holders, no `/proc` walk. Cheap
    /// enough to poll every few milliseconds (`wait`, kill confirmation).
    pub fn sockets(&mut self, opts: &Options) -> Result<Vec<Socket>> {
        let r = self.diag()?.listeners(opts.tcp, opts.udp);
        match r {
            Ok(mut v) => {
                sort_sockets(&mut v);
                Ok(v)
            }
            Err(e) => {
                // A broken netlink socket is not reused.
                self.diag = None;
                Err(Error::SockDiag(e))
            }
        }
    }

    /// A full snapshot: sockets, every process, holders, details.
    pub fn scan(&mut self, opts: &Options) -> Result<Snapshot> {
        let mut sockets = self.sockets(opts)?;
        let want: HashSet<u64> = sockets
            .iter()
            .map(|s| s.inode)
            .filter(|&i| i != 0)
            .collect();
        let pids = procfs::pids().map_err(Error::Proc)?;

        let mut processes: BTreeMap<Pid, Process> = BTreeMap::new();
        let mut holders: HashMap<u64, BTreeSet<Pid>> = HashMap::new();
        let mut denied = 0usize;
        for pid in pids {
            let Some(st) = procfs::stat(pid) else {
                continue;
            };
            let Some(uid) = procfs::dir_uid(pid) else {
                continue;
            };
            if !want.is_empty() && !st.is_kernel_thread() {
                let fds = procfs::socket_fds(pid, &want);
                denied += usize::from(fds.denied);
                for inode in fds.found {
                    holders.entry(inode).or_default().insert(pid);
                }
            }
            processes.insert(pid, process_from_stat(st, uid));
        }

        let mut snap = Snapshot {
            sockets: Vec::new(),
            processes,
            boot_time: os::boot_time(),
            clk_tck: os::clk_tck(),
        };

        // Details only for the processes anyone will look at.
        let holder_pids: BTreeSet<Pid> = holders.values().flatten().copied().collect();
        let mut related: BTreeSet<Pid> = BTreeSet::new();
        for &h in &holder_pids {
            related.insert(h);
            related.extend(snap.ancestors(h));
            related.extend(snap.descendants(h));
            if let Some(p) = snap.process(h) {
                related.extend(snap.group_members(p.pgid));
            }
        }
        for pid in related {
            if let Some(p) = snap.processes.get_mut(&pid) {
                procfs::fill_details(p);
                p.user = self.users.name(p.uid);
            }
        }

        let me = rustix::process::geteuid().as_raw();
        let hidepid = procfs::hidepid();
        for s in &mut sockets {
            // Only holders that still exist in the table (a pid whose stat
            // vanished after its fd walk would be a ghost row).
            s.holders = holders
                .get(&s.inode)
                .map(|h| {
                    h.iter()
                        .copied()
                        .filter(|p| snap.processes.contains_key(p))
                        .collect()
                })
                .unwrap_or_default();
            if s.holders.is_empty() {
                s.unresolved = Some(unresolved_reason(s, me, denied, hidepid.as_deref()));
            }
        }
        snap.sockets = sockets;
        Ok(snap)
    }
}

/// One full scan with a fresh [`Scanner`].
pub fn discover(opts: &Options) -> Result<Snapshot> {
    Scanner::new().scan(opts)
}

fn process_from_stat(st: procfs::Stat, uid: u32) -> Process {
    Process {
        pid: st.pid,
        ppid: st.ppid,
        pgid: st.pgid,
        sid: st.sid,
        uid,
        user: None,
        name: st.name,
        cmdline: Vec::new(),
        exe: None,
        start_time: st.start_time,
        tty_nr: st.tty_nr,
        state: st.state,
        cgroup: None,
        detailed: false,
    }
}

/// Sort order everyone shows: port, then proto, family, address, inode.
pub fn sort_sockets(v: &mut [Socket]) {
    v.sort_by(|a, b| {
        (a.port, a.proto, a.family, a.addr, a.inode)
            .cmp(&(b.port, b.proto, b.family, b.addr, b.inode))
    });
}

/// Say what would reveal a socket's holder.
pub fn unresolved_reason(s: &Socket, euid: u32, denied: usize, hidepid: Option<&str>) -> String {
    if s.inode == 0 {
        return "held by the kernel itself (no process has it open, e.g. nfsd or a socket being torn down)".to_string();
    }
    if euid != 0 && s.uid != euid {
        let how = match hidepid {
            Some(h) => format!("/proc is mounted with {h}, "),
            None => String::new(),
        };
        return format!(
            "owned by uid {}; {how}its holder is not visible to uid {euid}: run as root (sudo portwarden …) to see it",
            s.uid
        );
    }
    if denied > 0 {
        return format!(
            "no visible process holds it; {denied} process(es) could not be inspected (permission denied): run as root to see them"
        );
    }
    "no visible process holds it: its holder is in another PID namespace (a container sharing this network), or exited during the scan".to_string()
}
