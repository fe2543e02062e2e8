//! What one scan learned for the next: every process and which of them
//! hold which socket inode. A full scan builds it from a walk of every
//! process ([`full_cache`]); the scans in between bring it up to date
//! cheaply ([`incremental`]), searching only processes that are new (or
//! whose identity changed) and, for a new socket, its likeliest holders.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{Walked, method};
use crate::model::{Pid, Process};
use crate::os::procfs::ProcRoot;

/// The holder cache a [`super::Scanner`] keeps between scans.
pub(super) struct Cache {
    /// Every process seen, details read for those anyone looked at.
    pub(super) procs: BTreeMap<Pid, Process>,
    /// Inode of each `/proc/PID` directory when last seen: a new inode for
    /// a known pid means the pid may have been reused (a new process), so
    /// its stat is read again — for the price of a `getdents` we do anyway.
    inos: HashMap<Pid, u64>,
    /// inode → holders. An empty set means "searched, nobody visible".
    pub(super) holders: HashMap<u64, BTreeSet<Pid>>,
    /// Scans since the last full one.
    pub(super) since_full: u32,
    /// Processes whose fds could not be read.
    pub(super) denied: usize,
    /// Client-socket inodes of this scan: searched for like listeners, but
    /// never worth a walk of every process in an incremental scan.
    pub(super) clients: HashSet<u64>,
}

/// The cache of a full walk of every process (`entries` as listed).
pub(super) fn full_cache(
    walked: Vec<Walked>,
    want: &HashSet<u64>,
    entries: &[(Pid, u64)],
) -> Cache {
    let mut holders: HashMap<u64, BTreeSet<Pid>> =
        want.iter().map(|&i| (i, BTreeSet::new())).collect();
    let mut procs = BTreeMap::new();
    let mut denied = 0;
    for w in walked {
        denied += usize::from(w.denied);
        for inode in w.found {
            holders.entry(inode).or_default().insert(w.proc.pid);
        }
        procs.insert(w.proc.pid, w.proc);
    }
    Cache {
        procs,
        inos: entries.iter().copied().collect(),
        holders,
        since_full: 0,
        denied,
        clients: HashSet::new(),
    }
}

/// Bring `cache` up to date cheaply, returning it with the number of fd
/// walks done; `None` when a full scan is wiser.
pub(super) fn incremental(
    root: &ProcRoot,
    entries: &[(Pid, u64)],
    want: &HashSet<u64>,
    mut c: Cache,
    finder: &mut method::Holders<'_>,
) -> Option<(Cache, usize)> {
    let new_pids = c.refresh_known(root, entries);
    if new_pids.len() * 2 > entries.len() {
        // Mostly new processes: a full walk costs the same and is exact.
        return None;
    }
    c.drop_lost_holders();
    let new_inodes: HashSet<u64> = want
        .iter()
        .copied()
        .filter(|i| !c.holders.contains_key(i))
        .collect();
    // New processes may hold any socket (a prefork master's fresh worker):
    // search them for everything wanted.
    let walked = finder.walk(root, &new_pids, want);
    let mut walks = walked.len();
    let new_set: HashSet<Pid> = walked.iter().map(|w| w.proc.pid).collect();
    let parents = c.take_new(walked);
    if !new_inodes.is_empty() {
        walks += c.search_new_inodes(root, finder, new_inodes, &new_set, parents);
    }
    Some((c, walks))
}

impl Cache {
    /// Forget vanished processes and re-read the ones whose facts may have
    /// changed; returns the pids to search as new (sorted): never seen, or
    /// a known pid now naming another process.
    fn refresh_known(&mut self, root: &ProcRoot, entries: &[(Pid, u64)]) -> Vec<Pid> {
        let present: HashSet<Pid> = entries.iter().map(|&(p, _)| p).collect();
        let gone: HashSet<Pid> = self
            .procs
            .keys()
            .copied()
            .filter(|p| !present.contains(p))
            .collect();
        // Children of vanished processes were reparented: re-read them.
        // Holders need no re-read for their identity: a pid reused by
        // another process has a new /proc directory inode (below), and a
        // holder that exited is gone from the listing. What can drift until
        // the next full rescan is a holder's state letter or session, which
        // nothing acts on without a fresh scan (kill re-verifies by pidfd).
        let mut reread: BTreeSet<Pid> = self
            .procs
            .values()
            .filter(|p| gone.contains(&p.ppid))
            .map(|p| p.pid)
            .collect();
        // A known pid whose /proc directory changed inode may be a new process.
        reread.extend(
            entries
                .iter()
                .filter(|(p, ino)| self.inos.get(p).is_some_and(|old| old != ino))
                .map(|&(p, _)| p),
        );
        self.inos = entries.iter().copied().collect();
        for g in &gone {
            self.procs.remove(g);
        }
        let mut new_pids: Vec<Pid> = entries
            .iter()
            .map(|&(p, _)| p)
            .filter(|p| !self.procs.contains_key(p))
            .collect();
        new_pids.extend(self.reread(root, reread));
        new_pids.sort_unstable();
        new_pids
    }

    /// Re-read the stat of each of `pids`: update what may change (parent,
    /// group, session, terminal, state); drop the vanished; return the
    /// reused (another start time), which are new processes.
    fn reread(&mut self, root: &ProcRoot, pids: BTreeSet<Pid>) -> Vec<Pid> {
        let mut reused = Vec::new();
        let mut buf = [0u8; 1024];
        for pid in pids {
            let Some(old) = self.procs.get(&pid) else {
                continue;
            };
            let Some(st) = root.stat(pid, &mut buf) else {
                self.procs.remove(&pid);
                continue;
            };
            if st.start_time != old.start_time {
                // The pid was reused: a different process. Treat it as new.
                self.procs.remove(&pid);
                reused.push(pid);
                continue;
            }
            if let Some(p) = self.procs.get_mut(&pid) {
                p.ppid = st.ppid;
                p.pgid = st.pgid;
                p.sid = st.sid;
                p.tty_nr = st.tty_nr;
                p.state = st.state;
            }
        }
        reused
    }

    /// Holders that are gone (or replaced) stop holding. A socket that
    /// loses its last known holder but is still open is held by someone we
    /// did not know about (it was inherited or passed): it is forgotten, so
    /// it is searched for like a new one.
    fn drop_lost_holders(&mut self) {
        let mut emptied: Vec<u64> = Vec::new();
        for (inode, set) in self.holders.iter_mut() {
            let before = set.len();
            set.retain(|p| self.procs.contains_key(p));
            if before > 0 && set.is_empty() {
                emptied.push(*inode);
            }
        }
        for inode in emptied {
            self.holders.remove(&inode);
        }
    }

    /// Add the walked new processes and what they hold; returns their
    /// parents (the likeliest creators of a new socket).
    fn take_new(&mut self, walked: Vec<Walked>) -> BTreeSet<Pid> {
        let mut parents: BTreeSet<Pid> = BTreeSet::new();
        for w in walked {
            self.denied += usize::from(w.denied);
            parents.insert(w.proc.ppid);
            for inode in w.found {
                self.holders.entry(inode).or_default().insert(w.proc.pid);
            }
            self.procs.insert(w.proc.pid, w.proc);
        }
        parents
    }

    /// Search old processes for `new_inodes`: first the likeliest holders,
    /// then — for a listener still unfound — everyone. Returns the fd walks
    /// done.
    fn search_new_inodes(
        &mut self,
        root: &ProcRoot,
        finder: &mut method::Holders<'_>,
        new_inodes: HashSet<u64>,
        new_set: &HashSet<Pid>,
        parents: BTreeSet<Pid>,
    ) -> usize {
        // A new socket in an old process: its likeliest holders are known
        // holders (a server opening another port) and new processes'
        // parents (created it, then forked).
        let mut candidates: BTreeSet<Pid> = self.holders.values().flatten().copied().collect();
        candidates.extend(parents);
        candidates.retain(|p| !new_set.contains(p) && self.procs.contains_key(p));
        let cands: Vec<Pid> = candidates.into_iter().collect();
        let mut walks = cands.len();
        self.record(finder.walk(root, &cands, &new_inodes));
        // A client socket nobody likely holds waits for the next full scan
        // rather than costing a walk of everyone now.
        let unfound: HashSet<u64> = new_inodes
            .iter()
            .copied()
            .filter(|i| {
                self.holders.get(i).is_none_or(BTreeSet::is_empty) && !self.clients.contains(i)
            })
            .collect();
        if !unfound.is_empty() {
            let rest: Vec<Pid> = self
                .procs
                .keys()
                .copied()
                .filter(|p| !new_set.contains(p))
                .collect();
            walks += rest.len();
            self.record(finder.walk(root, &rest, &unfound));
        }
        for i in new_inodes {
            self.holders.entry(i).or_default();
        }
        walks
    }

    /// Note who holds what in `walked` (processes already known).
    fn record(&mut self, walked: Vec<Walked>) {
        for w in walked {
            for inode in w.found {
                self.holders.entry(inode).or_default().insert(w.proc.pid);
            }
        }
    }
}
