//! Which holder finder a scan uses: the `/proc` walk or the BPF iterator
//! ([`crate::os::bpf`]), and why.
//!
//! Both answer the same question — which pids hold which socket inodes —
//! into the same [`Walked`](super::Walked) records, so the rest of the scan
//! (and the [`crate::Snapshot`]) cannot tell them apart. The iterator costs
//! a fixed start-up (tens of ms: the kernel BTF is parsed and the program
//! verified) and then a fraction of a microsecond per open file of the
//! whole machine; the `/proc` walk costs a few microseconds per fd of the
//! processes it is asked about. So: the iterator for a cold scan of a
//! machine with many open files, and — once loaded — for any later walk
//! that would visit a large share of the processes; `/proc` otherwise.
//! Whatever goes wrong with BPF, `auto` falls back to `/proc` and only the
//! [`MethodReport`] says so.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use super::{Walked, process_from_stat, walk_parallel};
use crate::model::Pid;
use crate::os::bpf::{self, SocketFd, TaskSockets, Unavailable};
use crate::os::procfs::ProcRoot;

/// How the scanner finds holders (`list --method`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Method {
    /// The BPF iterator when it is allowed, supported and worth its
    /// start-up; the `/proc` walk otherwise.
    #[default]
    Auto,
    /// Only the BPF iterator: a scan fails when it cannot be used.
    Bpf,
    /// Only the `/proc` walk.
    Proc,
}

impl Method {
    /// The name `--method` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Bpf => "bpf",
            Method::Proc => "proc",
        }
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Method::Auto),
            "bpf" => Ok(Method::Bpf),
            "proc" => Ok(Method::Proc),
            _ => Err(format!("unknown method {s:?}: use auto, bpf or proc")),
        }
    }
}

/// The finder that actually ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finder {
    /// The BPF `task_file` iterator.
    Bpf,
    /// The `/proc/PID/fd` walk.
    Proc,
}

/// Which finder the last scan used, and why (for `--verbose` and `why`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodReport {
    /// What ran.
    pub finder: Finder,
    /// Why that one, in words.
    pub reason: String,
}

impl fmt::Display for MethodReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.finder {
            Finder::Bpf => "the BPF task_file iterator (one in-kernel pass over every open file)",
            Finder::Proc => "the /proc walk (/proc/PID/fd of every process)",
        };
        write!(f, "holders found by {what}: {}", self.reason)
    }
}

/// Below this many open files (`/proc/sys/fs/file-nr`) a cold scan walks
/// `/proc`: at ~1.5 µs of wall time per fd on two cores against the
/// iterator's ~35 ms start-up, the walk is cheaper up to a few tens of
/// thousands of fds (BENCHMARKS.md, "BPF iterator").
pub const BPF_MIN_FILES: u64 = 25_000;

/// Once loaded, the iterator (which always visits every file) replaces a
/// `/proc` walk of at least 1/`BPF_SHARE` of the processes: per fd it is
/// about ten times cheaper.
const BPF_SHARE: usize = 10;

/// What the scanner knows about the iterator: kept across scans, so the
/// TUI loads it once and a failure is not retried every refresh.
#[derive(Default)]
pub(super) enum BpfState {
    /// Not needed yet.
    #[default]
    Untried,
    /// Loaded: each read is one pass.
    Loaded(Box<TaskSockets>),
    /// Could not be loaded or read; the reason stays for the report.
    Failed(Unavailable),
}

/// What a cold scan will use, decided before anything is loaded.
pub(super) enum Decision {
    /// Walk `/proc`, for this reason.
    Proc(MethodReport),
    /// Use the iterator (loading it first if needed), for this reason.
    Bpf(String),
}

impl BpfState {
    /// Decide the finder of a cold (full) scan — cheaply: the iterator is
    /// loaded later, beside the `/proc` stat reads. `Err` only for
    /// `--method bpf` when BPF is known not to work.
    pub(super) fn decide(&self, method: Method) -> Result<Decision, Unavailable> {
        let proc = |reason: String| {
            Decision::Proc(MethodReport {
                finder: Finder::Proc,
                reason,
            })
        };
        if method == Method::Proc {
            return Ok(proc("--method proc".into()));
        }
        if let BpfState::Failed(e) = self {
            return match method {
                Method::Bpf => Err(e.clone()),
                _ => Ok(proc(format!("the BPF iterator is unavailable: {e}"))),
            };
        }
        if method == Method::Bpf {
            return Ok(Decision::Bpf("--method bpf".into()));
        }
        if let Err(e) = bpf::precheck() {
            return Ok(proc(e.0));
        }
        Ok(match bpf::open_files() {
            Some(n) if n < BPF_MIN_FILES => proc(format!(
                "{n} open files (< {BPF_MIN_FILES}): walking /proc is cheaper than loading the BPF iterator"
            )),
            Some(n) => Decision::Bpf(format!(
                "running as root with kernel BTF, {n} open files (≥ {BPF_MIN_FILES})"
            )),
            None => Decision::Bpf("running as root with kernel BTF".into()),
        })
    }

    /// Load the iterator unless it is loaded, then take one pass. A
    /// failure is remembered (no retry on every refresh).
    pub(super) fn load_and_read(&mut self) -> Result<Vec<SocketFd>, Unavailable> {
        if matches!(self, BpfState::Untried) {
            *self = match TaskSockets::load() {
                Ok(t) => BpfState::Loaded(Box::new(t)),
                Err(e) => BpfState::Failed(e),
            };
        }
        let result = match self {
            BpfState::Loaded(ts) => ts
                .read()
                .map_err(|e| Unavailable(format!("reading the BPF iterator failed: {e}"))),
            BpfState::Failed(e) => Err(e.clone()),
            BpfState::Untried => Err(Unavailable("the BPF iterator was not loaded".into())),
        };
        if let Err(e) = &result {
            *self = BpfState::Failed(e.clone());
        }
        result
    }

    /// The loaded iterator, if any.
    pub(super) fn loaded(&mut self) -> Option<&mut TaskSockets> {
        match self {
            BpfState::Loaded(t) => Some(t),
            _ => None,
        }
    }
}

/// A cold scan with the iterator: load it (if needed) and take a pass on
/// one thread while the other cores read every process's stat — the
/// start-up and the pass are one core's work each, the stat reads are
/// what the pass does not replace. `Err` leaves the caller to walk `/proc`.
pub(super) fn cold_bpf(
    state: &mut BpfState,
    root: &ProcRoot,
    pids: &[Pid],
    want: &HashSet<u64>,
) -> Result<Vec<Walked>, Unavailable> {
    let (fds, walked) = std::thread::scope(|scope| {
        let pass = scope.spawn(|| state.load_and_read());
        let walked = stat_parallel(root, pids);
        let fds = pass
            .join()
            .unwrap_or_else(|_| Err(Unavailable("the BPF reader panicked".into())));
        (fds, walked)
    });
    let finder = Holders {
        bpf: None,
        pass: Some(by_pid(fds?)),
        total: pids.len(),
        failed: None,
    };
    Ok(finder.attach(walked, want))
}

/// pid → the socket inodes it has fds on.
fn by_pid(fds: Vec<SocketFd>) -> HashMap<Pid, Vec<u64>> {
    let mut pass: HashMap<Pid, Vec<u64>> = HashMap::new();
    for s in fds {
        pass.entry(s.pid).or_default().push(s.inode);
    }
    pass
}

/// Finds holders for one scan: walks `/proc`, or reads the iterator once
/// and answers every later question of the same scan from that pass.
pub(super) struct Holders<'a> {
    bpf: Option<&'a mut TaskSockets>,
    /// pid → socket inodes it has an fd on, from this scan's pass.
    pass: Option<HashMap<Pid, Vec<u64>>>,
    /// Processes in this scan (what a walk of "a large share" is measured
    /// against).
    total: usize,
    /// Set when the iterator failed mid-scan; the caller stops using it.
    pub(super) failed: Option<String>,
}

impl<'a> Holders<'a> {
    /// A finder over `total` processes; `bpf` when the iterator may be used.
    pub(super) fn new(bpf: Option<&'a mut TaskSockets>, total: usize) -> Self {
        Holders {
            bpf,
            pass: None,
            total,
            failed: None,
        }
    }

    /// Whether this scan read the iterator.
    pub(super) fn used_bpf(&self) -> bool {
        self.pass.is_some()
    }

    /// Read `pids` (stat, uid) and which of `want` each holds.
    pub(super) fn walk(
        &mut self,
        root: &ProcRoot,
        pids: &[Pid],
        want: &HashSet<u64>,
    ) -> Vec<Walked> {
        let take_pass = self.pass.is_none() && pids.len() * BPF_SHARE >= self.total;
        if take_pass && let Some(ts) = self.bpf.take() {
            // The pass is one kernel thread's work: the /proc stat reads
            // (which the pass does not replace) run beside it.
            let (read, walked) = std::thread::scope(|scope| {
                let pass = scope.spawn(|| ts.read());
                let walked = stat_parallel(root, pids);
                let read = pass
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("the BPF reader panicked")));
                (read, walked)
            });
            match read {
                Ok(fds) => {
                    self.pass = Some(by_pid(fds));
                    self.bpf = Some(ts);
                    return self.attach(walked, want);
                }
                Err(e) => self.failed = Some(format!("reading the BPF iterator failed: {e}")),
            }
        }
        if self.pass.is_none() {
            return walk_parallel(root, pids, want);
        }
        let walked = stat_parallel(root, pids);
        self.attach(walked, want)
    }

    /// Fill each process's `found` from this scan's pass.
    fn attach(&self, mut walked: Vec<Walked>, want: &HashSet<u64>) -> Vec<Walked> {
        let Some(pass) = &self.pass else {
            return walked;
        };
        for w in &mut walked {
            w.found = pass
                .get(&w.proc.pid)
                .into_iter()
                .flatten()
                .copied()
                .filter(|i| want.contains(i))
                .collect();
        }
        walked
    }
}

/// Only the process facts of `pids` (stat, and uid from the owner of
/// `/proc/PID`), on all cores: what the iterator does not tell. Unlike the
/// fd walk this also works for a zombie leader whose threads hold sockets.
fn stat_parallel(root: &ProcRoot, pids: &[Pid]) -> Vec<Walked> {
    let one = |pid: Pid, buf: &mut [u8]| -> Option<Walked> {
        let st = root.stat(pid, buf)?;
        let uid = if st.is_kernel_thread() {
            0
        } else {
            root.uid(pid)?
        };
        Some(Walked {
            proc: process_from_stat(st, uid),
            found: Vec::new(),
            denied: false,
        })
    };
    super::per_pid_parallel(pids, one)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_round_trip() {
        for m in [Method::Auto, Method::Bpf, Method::Proc] {
            assert_eq!(m.as_str().parse::<Method>(), Ok(m));
        }
        assert!("ebpf".parse::<Method>().is_err());
    }

    #[test]
    fn proc_method_and_a_known_failure_decide_proc() {
        let st = BpfState::Untried;
        let Ok(Decision::Proc(r)) = st.decide(Method::Proc) else {
            panic!("--method proc must walk /proc");
        };
        assert_eq!(r.finder, Finder::Proc);
        assert!(r.to_string().contains("/proc walk"), "{r}");

        let failed = BpfState::Failed(Unavailable("verifier said no".into()));
        let Ok(Decision::Proc(r)) = failed.decide(Method::Auto) else {
            panic!("auto falls back after a failure");
        };
        assert!(r.reason.contains("verifier said no"), "{r}");
        assert_eq!(
            failed.decide(Method::Bpf).err(),
            Some(Unavailable("verifier said no".into()))
        );
    }
}
