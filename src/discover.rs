//! Discovery: one consistent-enough [`Snapshot`] of listening sockets and the
//! processes holding them.
//!
//! The socket table comes from the kernel (sock_diag, filtered to LISTEN and
//! unconnected UDP before anything is copied); holders come from walking
//! `/proc/PID/fd` and matching `socket:[inode]` links — or, as root on a
//! machine with many open files, from one pass of a BPF `task_file`
//! iterator (see [`Method`] and `discover/method.rs` for which and why). No
//! external command is run, so this works with an empty `PATH` on a slim
//! image.
//!
//! Processes come and go during a scan. A pid that vanishes between the
//! `/proc` listing and its fd walk is simply not a holder; a socket whose
//! holder cannot be seen keeps its row, with an `unresolved` reason.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::{Error, Result};
use crate::model::{Pid, Process, Proto, Snapshot, Socket};
use crate::os::bpf::Unavailable;
use crate::os::procfs::{self, ProcRoot};
use crate::os::sockdiag::{Conn, SockDiag};
use crate::os::{self, Users};

mod cache;
mod method;

use cache::{Cache, full_cache, incremental};
pub use method::{BPF_MIN_FILES, Finder, Method, MethodReport};

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

/// A reusable scanner: keeps its netlink socket, user-name cache and — for
/// cheap refreshes — what the previous scan learned.
///
/// The first scan (and every [`Scanner::full_every`]-th) walks every
/// process's fds. Scans in between are incremental: the socket table is
/// re-read from the kernel (cheap), known holders are confirmed by their
/// start time, and only *new* processes (plus, for a new socket inode,
/// known holders and new processes' parents) have their fds searched. A new
/// inode no candidate holds — or a known one whose holders all vanished
/// while it stayed open — falls back to a walk of everyone for that inode.
pub struct Scanner {
    diag: Option<SockDiag>,
    users: Users,
    cache: Option<Cache>,
    /// `hidepid` option of the /proc mount, once read.
    hidepid: Option<Option<String>>,
    /// Do a full rescan every this many scans (1 = always full; default
    /// 50, about 100 s in the TUI). Catches what incremental scans cannot
    /// see cheaply: a holder that closed one of several fds, a socket passed
    /// to a process we already knew. (A reused pid is caught every scan, by
    /// the inode of its `/proc` directory.)
    pub full_every: u32,
    /// Also gather each TCP listener's connections (from the same
    /// sock_diag dumps) and each holder's cwd and project (default true;
    /// the benchmark turns it off to measure what it costs).
    pub context: bool,
    /// Holders' cwds by pid, with the start time they belong to: read once
    /// per process like its command line, again at every full rescan.
    cwds: HashMap<Pid, (u64, Option<String>)>,
    last: ScanKind,
    /// The PID namespaces seen at the last full scan (whether we are in the
    /// initial one, how many): an unresolved socket's reason names them, and
    /// counting them reads a link of every process — too much for each
    /// refresh, so incremental scans reuse the count.
    pidns: Option<(Option<bool>, usize)>,
    /// How holders are found (default [`Method::Auto`]).
    pub method: Method,
    bpf: method::BpfState,
    report: Option<MethodReport>,
    /// Facts of the last scan by (pid, start time): an incremental scan
    /// reuses them, a full scan reads them again.
    facts: HashMap<(Pid, u64), crate::evidence::Facts>,
}

/// How the last [`Scanner::scan`] went (for benchmarks and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanKind {
    /// Every process's fds were walked.
    pub full: bool,
    /// How many processes had their fds walked.
    pub fd_walks: usize,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            diag: None,
            users: Users::default(),
            cache: None,
            hidepid: None,
            full_every: 50,
            context: true,
            cwds: HashMap::new(),
            last: ScanKind::default(),
            pidns: None,
            method: Method::Auto,
            bpf: method::BpfState::default(),
            report: None,
            facts: HashMap::new(),
        }
    }
}

/// What walking one process produced.
struct Walked {
    proc: Process,
    found: Vec<u64>,
    denied: bool,
}

/// Read one process: its stat, and — unless it is a kernel thread or
/// nothing is wanted — its fds. The fd directory's fstat gives the uid too,
/// so a process costs one open less than going through `/proc/PID`.
fn walk_one(root: &ProcRoot, pid: Pid, want: &HashSet<u64>, buf: &mut [u8]) -> Option<Walked> {
    let st = root.stat(pid, buf)?;
    if st.is_kernel_thread() {
        return Some(Walked {
            proc: process_from_stat(st, 0),
            found: Vec::new(),
            denied: false,
        });
    }
    let (uid, fds) = match root.fd_dir(pid) {
        Ok(dir) if want.is_empty() => (dir.uid, procfs::FdScan::default()),
        // A main thread that exited leaves an empty table; its threads'
        // tables are read below.
        Ok(dir) if st.main_exited => (dir.uid, procfs::FdScan::default()),
        Ok(dir) => (dir.uid, dir.socket_fds(want)),
        Err(procfs::FdDirError::Denied) => (
            root.uid(pid)?,
            procfs::FdScan {
                found: Vec::new(),
                denied: true,
            },
        ),
        Err(procfs::FdDirError::Gone) => return None,
    };
    let mut found = fds.found;
    if st.num_threads > 1 && !want.is_empty() && !fds.denied {
        // Sockets held only in a thread's own fd table (the main thread
        // exited, or a thread unshared its table): `ss -p` and lsof miss
        // these. Single-threaded processes, the common case, skip this.
        for dir in root.thread_fd_dirs(pid, st.main_exited) {
            for inode in dir.socket_fds(want).found {
                if !found.contains(&inode) {
                    found.push(inode);
                }
            }
        }
    }
    Some(Walked {
        proc: process_from_stat(st, uid),
        found,
        denied: fds.denied,
    })
}

/// How many threads a walk uses: one per core, at most 8.
fn walk_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
}

/// Read the details (cmdline, exe, cgroup, status) of `procs` on all cores:
/// a few hundred holders cost thousands of syscalls, which would otherwise
/// be the serial tail of every cold scan.
fn fill_details_parallel(procs: &mut [&mut Process]) {
    let threads = walk_threads();
    if threads <= 1 || procs.len() < 32 {
        procs.iter_mut().for_each(|p| procfs::fill_details(p));
        return;
    }
    let chunk = procs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for part in procs.chunks_mut(chunk) {
            scope.spawn(move || part.iter_mut().for_each(|p| procfs::fill_details(p)));
        }
    });
}

/// Walk `pids` on all cores: the fd walk is nothing but syscalls, and the
/// kernel serves them in parallel.
fn walk_parallel(root: &ProcRoot, pids: &[Pid], want: &HashSet<u64>) -> Vec<Walked> {
    per_pid_parallel(pids, |p, buf| walk_one(root, p, want, buf))
}

/// `one` for each of `pids`, on all cores (each thread with its own read
/// buffer), keeping what it returns; sequential for a few pids. Pids are
/// interleaved so big and small ones spread evenly over the threads.
pub(crate) fn per_pid_parallel<T: Send>(
    pids: &[Pid],
    one: impl Fn(Pid, &mut [u8]) -> Option<T> + Sync,
) -> Vec<T> {
    let threads = walk_threads();
    if threads <= 1 || pids.len() < 64 {
        let mut buf = [0u8; 1024];
        return pids.iter().filter_map(|&p| one(p, &mut buf)).collect();
    }
    let one = &one;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut buf = [0u8; 1024];
                    pids.iter()
                        .skip(t)
                        .step_by(threads)
                        .filter_map(|&p| one(p, &mut buf))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

impl Scanner {
    /// A scanner with nothing open yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget what earlier scans learned: the next scan is a full one.
    pub fn invalidate(&mut self) {
        self.cache = None;
    }

    /// How the last scan went.
    pub fn last_scan(&self) -> ScanKind {
        self.last
    }

    /// A scanner that finds holders with `method`.
    pub fn with_method(method: Method) -> Self {
        Scanner {
            method,
            ..Self::default()
        }
    }

    /// Which holder finder the last scan used, and why (`None` before the
    /// first scan).
    pub fn last_method(&self) -> Option<&MethodReport> {
        self.report.as_ref()
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
        self.sockets_and_conns(opts, false).map(|(s, _)| s)
    }

    /// The socket table and, with `conns`, the TCP connections a listener's
    /// counts need, from the same dumps.
    fn sockets_and_conns(
        &mut self,
        opts: &Options,
        conns: bool,
    ) -> Result<(Vec<Socket>, Vec<Conn>)> {
        let diag = match self.diag() {
            Ok(d) => d,
            // No netlink socket at all (seccomp, a sandbox): read the same
            // table from /proc/net, or report the netlink error.
            Err(e) => {
                let mut v = procnet_all(opts).map_err(|_| e)?;
                sort_sockets(&mut v);
                let c = if conns && opts.tcp {
                    procnet_conns()
                } else {
                    Vec::new()
                };
                return Ok((v, c));
            }
        };
        let r = diag.listeners_and_conns(opts.tcp, opts.udp, conns);
        match r {
            Ok((mut v, c)) => {
                sort_sockets(&mut v);
                Ok((v, c))
            }
            Err(e) => {
                // A broken netlink socket is not reused.
                self.diag = None;
                Err(Error::SockDiag(e))
            }
        }
    }

    /// A snapshot: sockets, every process, holders, details.
    pub fn scan(&mut self, opts: &Options) -> Result<Snapshot> {
        let (mut sockets, conns) = self.sockets_and_conns(opts, self.context)?;
        let mut connections = crate::conns::attribute(&sockets, &conns);
        let clients: HashSet<u64> = crate::conns::client_inodes(&connections).collect();
        let mut want: HashSet<u64> = sockets
            .iter()
            .map(|s| s.inode)
            .filter(|&i| i != 0)
            .collect();
        want.extend(clients.iter().copied());
        let mut cache = self.holder_cache(&want, &clients)?;
        cache.clients = clients;
        // Drop what no longer exists: inodes gone from the table.
        cache.holders.retain(|inode, _| want.contains(inode));

        let mut snap = Snapshot {
            sockets: Vec::new(),
            processes: std::mem::take(&mut cache.procs),
            boot_time: os::boot_time(),
            clk_tck: os::clk_tck(),
            ..Snapshot::default()
        };
        // Client sockets' holders are named, not detailed.
        let holder_pids: BTreeSet<Pid> = cache
            .holders
            .iter()
            .filter(|(i, _)| !cache.clients.contains(i))
            .flat_map(|(_, h)| h.iter().copied())
            .collect();
        self.fill_details(&mut snap, &holder_pids);
        self.attach_holders(&mut sockets, &cache, &snap);
        self.drop_ghosts(&mut sockets, opts)?;
        if self.context {
            crate::conns::name_clients(&mut connections, &cache.holders, &snap);
            snap.connections = connections;
            self.add_projects(&mut snap, &holder_pids);
        }
        snap.sockets = sockets;
        // Only when a holder is a container's: asks the engines over their
        // sockets, so classification can name the container without I/O.
        snap.containers = os::engine::gather(&snap);
        // How each holder's program was started: read after the holders
        // are known, only where classification looks.
        snap.facts = self.facts_of(&snap);
        cache.procs = snap.processes.clone();
        self.cache = Some(cache);
        Ok(snap)
    }

    /// Who holds each of `want`: the last scan's cache brought up to date
    /// incrementally when it can be, else a walk of every process. Records
    /// which it was ([`Scanner::last_scan`]).
    fn holder_cache(&mut self, want: &HashSet<u64>, clients: &HashSet<u64>) -> Result<Cache> {
        let root = ProcRoot::open().map_err(Error::Proc)?;
        let entries = root.pids().map_err(Error::Proc)?;
        let cache = match self.cache.take() {
            Some(mut c) if c.since_full + 1 < self.full_every => {
                c.clients = clients.clone();
                let mut finder = method::Holders::new(self.bpf.loaded(), entries.len());
                let r = incremental(&root, &entries, want, c, &mut finder);
                let (used, failed) = (finder.used_bpf(), finder.failed.take());
                self.note_incremental(used, failed);
                r
            }
            _ => None,
        };
        Ok(match cache {
            Some((mut c, fd_walks)) => {
                c.since_full += 1;
                self.last = ScanKind {
                    full: false,
                    fd_walks,
                };
                c
            }
            None => {
                let pids: Vec<Pid> = entries.iter().map(|&(p, _)| p).collect();
                let walked = self.full_walk(&root, &pids, want)?;
                self.last = ScanKind {
                    full: true,
                    fd_walks: walked.len(),
                };
                full_cache(walked, want, &entries)
            }
        })
    }

    /// Details (command line, user, cgroup, …) only for the processes
    /// anyone will look at: the holders and their relatives.
    fn fill_details(&mut self, snap: &mut Snapshot, holder_pids: &BTreeSet<Pid>) {
        let want_details = related(snap, holder_pids);
        let mut todo: Vec<&mut Process> = snap
            .processes
            .values_mut()
            .filter(|p| !p.detailed && want_details.contains(&p.pid))
            .collect();
        fill_details_parallel(&mut todo);
        for p in todo {
            p.user = self.users.name(p.uid);
        }
    }

    /// A socket with no holder may simply have closed during the walk: a
    /// second look at the (cheap) socket table keeps only the ones that
    /// still exist, so no ghost rows.
    fn drop_ghosts(&mut self, sockets: &mut Vec<Socket>, opts: &Options) -> Result<()> {
        if sockets.iter().any(|s| s.holders.is_empty()) {
            let again: HashSet<u64> = self.sockets(opts)?.iter().map(|s| s.inode).collect();
            sockets.retain(|s| !s.holders.is_empty() || again.contains(&s.inode));
        }
        Ok(())
    }

    /// Each holder's project (from its cwd, read once per process and
    /// again at every full rescan).
    fn add_projects(&mut self, snap: &mut Snapshot, holder_pids: &BTreeSet<Pid>) {
        if self.last.full {
            self.cwds.clear();
        }
        self.cwds
            .retain(|pid, (start, _)| snap.process(*pid).is_some_and(|p| p.start_time == *start));
        let cwds = &mut self.cwds;
        let mut cwd_of = |p: &Process| {
            cwds.entry(p.pid)
                .or_insert_with(|| (p.start_time, procfs::cwd(p.pid)))
                .1
                .clone()
        };
        let me = rustix::process::geteuid().as_raw();
        snap.contexts = crate::project::contexts(snap, holder_pids, me, &mut cwd_of);
    }

    /// Give each socket its holders (those still in the process table) or,
    /// with none, the reason: only what this scan checked.
    fn attach_holders(&mut self, sockets: &mut [Socket], cache: &Cache, snap: &Snapshot) {
        let mut vis = Visibility {
            euid: rustix::process::geteuid().as_raw(),
            denied: cache.denied,
            searched: snap.processes.len(),
            ..Visibility::default()
        };
        // mountinfo is only worth reading when a reason needs it, and only
        // once per scanner: /proc's mount options do not change under us.
        // PID namespaces come and go: counted at full scans (and the first
        // time one is needed), only when a socket is unresolved.
        if cache.holders.values().any(BTreeSet::is_empty) {
            vis.hidepid = self.hidepid.get_or_insert_with(procfs::hidepid).clone();
        }
        // Another user's socket is explained by the uid alone.
        let own_unresolved = sockets.iter().any(|s| {
            s.inode != 0
                && (vis.euid == 0 || s.uid == vis.euid)
                && cache.holders.get(&s.inode).is_none_or(BTreeSet::is_empty)
        });
        if own_unresolved {
            let pids: Vec<Pid> = snap.processes.keys().copied().collect();
            let counted = match self.pidns {
                Some(known) if !self.last.full => known,
                _ => procfs::pid_namespaces(&pids),
            };
            self.pidns = Some(counted);
            (vis.init_pidns, vis.pidns_seen) = counted;
        }
        for s in sockets.iter_mut() {
            // Only holders that still exist in the table (a pid whose stat
            // vanished after its fd walk would be a ghost row).
            let (alive, vanished): (Vec<Pid>, Vec<Pid>) = cache
                .holders
                .get(&s.inode)
                .map(|h| {
                    h.iter()
                        .copied()
                        .partition(|p| snap.processes.contains_key(p))
                })
                .unwrap_or_default();
            s.holders = alive;
            if s.holders.is_empty() {
                s.unresolved = Some(unresolved_reason(s, &vis, &vanished));
            }
        }
    }
}

impl Scanner {
    /// Walk every process with the method [`Scanner::method`] picks.
    fn full_walk(
        &mut self,
        root: &ProcRoot,
        pids: &[Pid],
        want: &HashSet<u64>,
    ) -> Result<Vec<Walked>> {
        let no_bpf = |e: Unavailable| {
            Error::Io(
                "cannot use the BPF iterator (--method bpf)".into(),
                std::io::Error::other(e.0),
            )
        };
        let why = match self.bpf.decide(self.method).map_err(no_bpf)? {
            method::Decision::Proc(report) => {
                self.report = Some(report);
                return Ok(walk_parallel(root, pids, want));
            }
            method::Decision::Bpf(why) => why,
        };
        match method::cold_bpf(&mut self.bpf, root, pids, want) {
            Ok(walked) => {
                self.report = Some(MethodReport {
                    finder: Finder::Bpf,
                    reason: why,
                });
                Ok(walked)
            }
            Err(e) if self.method == Method::Bpf => Err(no_bpf(e)),
            Err(e) => {
                self.report = Some(MethodReport {
                    finder: Finder::Proc,
                    reason: format!("the BPF iterator is unavailable: {e}"),
                });
                Ok(walk_parallel(root, pids, want))
            }
        }
    }

    /// Record how an incremental scan found new holders.
    fn note_incremental(&mut self, used_bpf: bool, failed: Option<String>) {
        if let Some(why) = failed {
            self.bpf = method::BpfState::Failed(Unavailable(why.clone()));
            self.report = Some(MethodReport {
                finder: Finder::Proc,
                reason: why,
            });
        } else if used_bpf {
            self.report = Some(MethodReport {
                finder: Finder::Bpf,
                reason: "incremental refresh: the loaded iterator re-read (cheaper than walking the new processes)".into(),
            });
        } else if let Some(r) = &mut self.report {
            r.finder = Finder::Proc;
            r.reason = "incremental refresh: only new processes walked in /proc".into();
        }
    }
}

impl Scanner {
    /// Facts for the processes classification reads, reused from the last
    /// scan for the same processes unless this scan was a full one.
    fn facts_of(&mut self, snap: &Snapshot) -> BTreeMap<Pid, crate::evidence::Facts> {
        let key = |pid: Pid| snap.process(pid).map(|p| (pid, p.start_time));
        let wanted = crate::evidence::wanted(snap);
        let mut out = BTreeMap::new();
        let mut todo = BTreeSet::new();
        for pid in wanted {
            match key(pid).and_then(|k| self.facts.get(&k)) {
                Some(f) if !self.last.full => {
                    out.insert(pid, f.clone());
                }
                _ => {
                    todo.insert(pid);
                }
            }
        }
        out.extend(crate::evidence::gather(snap, &todo));
        self.facts = out
            .iter()
            .filter_map(|(&pid, f)| key(pid).map(|k| (k, f.clone())))
            .collect();
        out
    }
}

/// Most processes whose details a cap allows per holder for its group and
/// its descendants. A holder like pid 1 (systemd socket activation) has the
/// whole machine below it; reading every process's cmdline would turn a
/// cheap scan into an expensive one for rows nobody looks at.
const RELATED_CAP: usize = 256;

/// The processes anyone will look at: holders, their ancestors, and (up to
/// [`RELATED_CAP`] each) their process-group members and descendants.
/// Indexes are built once, not per holder.
fn related(snap: &Snapshot, holders: &BTreeSet<Pid>) -> BTreeSet<Pid> {
    let kids = snap.child_index();
    let mut groups: HashMap<Pid, Vec<Pid>> = HashMap::new();
    for p in snap.processes.values() {
        groups.entry(p.pgid).or_default().push(p.pid);
    }
    let mut out: BTreeSet<Pid> = BTreeSet::new();
    for &h in holders {
        out.insert(h);
        out.extend(snap.ancestors(h));
        if let Some(p) = snap.process(h)
            && p.pgid > 0
        {
            out.extend(groups.get(&p.pgid).into_iter().flatten().take(RELATED_CAP));
        }
        out.extend(Snapshot::descendants_in(&kids, h, RELATED_CAP));
    }
    out
}

/// Every requested listener from `/proc/net` (the fallback table).
fn procnet_all(opts: &Options) -> std::io::Result<Vec<Socket>> {
    let mut out = Vec::new();
    for (want, proto) in [(opts.tcp, Proto::Tcp), (opts.udp, Proto::Udp)] {
        for family in [crate::model::Family::Ipv4, crate::model::Family::Ipv6] {
            if want {
                out.extend(crate::os::procnet::listeners(proto, family)?);
            }
        }
    }
    Ok(out)
}

/// Every TCP connection from `/proc/net` (the fallback table), for counts.
fn procnet_conns() -> Vec<Conn> {
    let mut out = crate::os::procnet::conns(crate::model::Family::Ipv4).unwrap_or_default();
    out.extend(crate::os::procnet::conns(crate::model::Family::Ipv6).unwrap_or_default());
    out
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

/// What a scan checked about visibility, for [`unresolved_reason`]: each
/// reason names only what was actually found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visibility {
    /// Effective uid of the scanner (0 = root: nothing is hidden by
    /// permissions).
    pub euid: u32,
    /// Processes whose fds could not be read (permission denied).
    pub denied: usize,
    /// The `hidepid=` option of `/proc`, when set.
    pub hidepid: Option<String>,
    /// Whether the scanner runs in the machine's initial PID namespace
    /// (then every process is in its `/proc`); `None` when unknown.
    pub init_pidns: Option<bool>,
    /// Distinct PID namespaces among the processes this `/proc` shows.
    pub pidns_seen: usize,
    /// Processes searched (each with its threads' own fd tables).
    pub searched: usize,
}

/// Say why a socket has no visible holder — only what was checked — and
/// what would reveal it. `vanished` are pids that held it during the fd
/// walk but were gone when the process table was read.
pub fn unresolved_reason(s: &Socket, v: &Visibility, vanished: &[Pid]) -> String {
    if s.inode == 0 {
        return "held by the kernel itself (no process has it open, e.g. nfsd or a socket being torn down)".to_string();
    }
    if let Some(pid) = vanished.first() {
        return format!(
            "its holder (pid {pid}) exited during the scan and the socket was still open when the table was read again; look again"
        );
    }
    if v.euid != 0 && s.uid != v.euid {
        let how = match &v.hidepid {
            Some(h) => format!("/proc is mounted with {h}, "),
            None => String::new(),
        };
        return format!(
            "owned by uid {}; {how}its holder is not visible to uid {}: run as root (sudo portwarden …) to see it",
            s.uid, v.euid
        );
    }
    let mut hidden: Vec<String> = Vec::new();
    if v.denied > 0 && v.euid != 0 {
        hidden.push(format!(
            "{} process(es) of other users could not be inspected (not root): run as root to see them",
            v.denied
        ));
    } else if v.denied > 0 {
        hidden.push(format!(
            "{} process(es) could not be inspected even as root (their fds are protected: a non-dumpable process or a security module)",
            v.denied
        ));
    }
    if v.euid != 0
        && let Some(h) = &v.hidepid
    {
        hidden.push(format!(
            "/proc is mounted with {h}: other users' processes are hidden"
        ));
    }
    if v.init_pidns == Some(false) {
        hidden.push(format!(
            "portwarden runs in a PID namespace that is not the machine's initial one ({} PID namespace(s) visible here): a holder outside it (the host, or a container sharing this network) cannot be seen; run it in the initial namespace",
            v.pidns_seen.max(1)
        ));
    }
    let flight = "held only in flight (passed in an SCM_RIGHTS message that was not yet received) or by the kernel";
    if hidden.is_empty() {
        let ns = if v.pidns_seen > 1 {
            format!(
                " in all {} PID namespaces (the initial one shows every process)",
                v.pidns_seen
            )
        } else if v.init_pidns == Some(true) {
            " (this is the initial PID namespace: every process is visible)".to_string()
        } else {
            String::new()
        };
        return format!(
            "no process holds it: all {} processes{ns}, threads included, were searched, and it is still open: it is {flight}",
            v.searched
        );
    }
    format!(
        "no visible process holds it; {}; or it is {flight}",
        hidden.join("; ")
    )
}

#[cfg(test)]
mod tests;
