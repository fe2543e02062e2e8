//! Reading processes from `/proc`.
//!
//! Every read here may fail because the process exited a microsecond ago
//! (ENOENT, ESRCH) or is not ours to look at (EACCES): that is normal, never
//! an error for the caller — the functions return `None`/empty and the scan
//! goes on. Only `/proc` itself being absent is an error.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::escape::decode;
use crate::model::{Pid, Process};

/// Where procfs lives. A constant, not a parameter: tests that need other
/// process tables build a [`crate::model::Snapshot`] by hand instead.
pub const PROC: &str = "/proc";

/// Longest command line we keep, in bytes. Linux caps `execve` arguments at
/// a quarter of the stack limit (2 MiB by default), so a real command line
/// is read whole and `--only` matches a pattern anywhere in it; only a
/// process run with a huge stack limit can pass this, and then the cut is
/// marked ([`CUT_MARK`]), never silent.
pub const MAX_CMDLINE: usize = 4 * 1024 * 1024;

/// Appended to a command line (or any text) that was shortened.
pub const CUT_MARK: &str = "…(cut)";

/// Most bytes of a command line any output carries (JSON, plan): the whole
/// line is kept for matching (`--only`, filters), but a megabyte of
/// arguments is never printed.
pub const SHOWN_CMDLINE: usize = 64 * 1024;

/// `args` as output shows them: at most [`SHOWN_CMDLINE`] bytes of
/// arguments plus, when cut, [`CUT_MARK`] at the end of the last one kept
/// (the mark counts 4 bytes against the budget, as `…` alone did).
pub fn shown_cmdline(args: &[String]) -> std::borrow::Cow<'_, [String]> {
    let total: usize = args.iter().map(String::len).sum();
    if total <= SHOWN_CMDLINE {
        return std::borrow::Cow::Borrowed(args);
    }
    let mut budget = SHOWN_CMDLINE + 4 - CUT_MARK.len();
    let mut out: Vec<String> = Vec::new();
    for a in args {
        if a.len() <= budget {
            budget -= a.len();
            out.push(a.clone());
            continue;
        }
        let mut end = budget;
        while !a.is_char_boundary(end) {
            end -= 1;
        }
        out.push(a[..end].to_string());
        break;
    }
    if let Some(last) = out.last_mut() {
        last.push_str(CUT_MARK);
    }
    std::borrow::Cow::Owned(out)
}

/// The fields of `/proc/PID/stat` we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Process id.
    pub pid: Pid,
    /// `comm`, decoded.
    pub name: String,
    /// State letter.
    pub state: char,
    /// Parent pid.
    pub ppid: Pid,
    /// Process group.
    pub pgid: Pid,
    /// Session.
    pub sid: Pid,
    /// Controlling terminal.
    pub tty_nr: u32,
    /// Kernel flags (`PF_KTHREAD` = 0x00200000).
    pub flags: u32,
    /// Start time, clock ticks since boot.
    pub start_time: u64,
    /// Threads in the process (field 20). A leader in state `Z` with more
    /// than one thread has only `pthread_exit`ed: the process lives on.
    pub num_threads: u32,
    /// Set by [`effective_state`]: the main thread exited, `state` is a
    /// live thread's.
    pub main_exited: bool,
}

impl Stat {
    /// Kernel threads hold no file descriptors.
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & 0x0020_0000 != 0
    }

    /// The main thread exited (`pthread_exit`) while other threads live:
    /// `/proc/PID/fd`, `cmdline` and `exe` are empty, the process is not.
    pub fn leader_exited(&self) -> bool {
        self.state == 'Z' && self.num_threads > 1
    }
}

/// Parse the text of `/proc/PID/stat`. The command name sits in parentheses
/// and may itself contain `)` and spaces, so we split at the *last* `)`.
pub fn parse_stat(bytes: &[u8]) -> Option<Stat> {
    let open = bytes.iter().position(|&b| b == b'(')?;
    let close = bytes.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let pid: Pid = std::str::from_utf8(&bytes[..open])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let name = decode(&bytes[open + 1..close]);
    let rest = std::str::from_utf8(bytes.get(close + 1..)?).ok()?;
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // f[0] is field 3 (state); field N is f[N - 3].
    let num = |n: usize| f.get(n - 3).and_then(|s| s.parse::<i64>().ok());
    Some(Stat {
        pid,
        name,
        state: f.first()?.chars().next()?,
        ppid: num(4)? as Pid,
        pgid: num(5)? as Pid,
        sid: num(6)? as Pid,
        tty_nr: num(7)? as u32,
        flags: num(9)? as u32,
        num_threads: num(20).unwrap_or(1) as u32,
        main_exited: false,
        start_time: num(22)? as u64,
    })
}

/// Read and parse `/proc/PID/stat`. The state is the process's, not only
/// its main thread's: see [`effective_state`].
pub fn stat(pid: Pid) -> Option<Stat> {
    let bytes = fs::read(format!("{PROC}/{pid}/stat")).ok()?;
    parse_stat(&bytes).map(|st| effective_state(st, pid))
}

/// A process whose main thread exited while others live shows `Z` in its
/// stat (the leader's state) though it runs and holds fds: report the state
/// of a live thread instead, so nothing treats it as dead. Costs a task
/// listing only in that rare case.
pub fn effective_state(mut st: Stat, pid: Pid) -> Stat {
    if st.leader_exited()
        && let Some(state) = tasks(pid)
            .into_iter()
            .filter(|&t| t != pid)
            .filter_map(|t| fs::read(format!("{PROC}/{pid}/task/{t}/stat")).ok())
            .filter_map(|b| parse_stat(&b))
            .map(|t| t.state)
            .find(|s| !matches!(s, 'Z' | 'X'))
    {
        st.state = state;
        st.main_exited = true;
    }
    st
}

/// Thread ids of `pid` (`/proc/PID/task`), ascending; empty when gone.
pub fn tasks(pid: Pid) -> Vec<Pid> {
    let Ok(dir) = fs::read_dir(format!("{PROC}/{pid}/task")) else {
        return Vec::new();
    };
    let mut out: Vec<Pid> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

/// Start time (clock ticks since boot) of `pid`, or `None` if it is gone.
pub fn start_time(pid: Pid) -> Option<u64> {
    stat(pid).map(|s| s.start_time)
}

/// Outcome of looking through one process's fds.
#[derive(Debug, Default)]
pub struct FdScan {
    /// Socket inodes (from `socket:[N]` links) that were in the wanted set.
    pub found: Vec<u64>,
    /// The fd directory could not be read for lack of permission.
    pub denied: bool,
}

/// `socket:[12345]` → `Some(12345)`.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Fill the costly fields of a process: cmdline, exe, cgroup and the exact
/// effective uid from `status`. Missing pieces stay empty.
pub fn fill_details(p: &mut Process) {
    let mut base = format!("{PROC}/{}", p.pid);
    p.cmdline = read_cmdline(Path::new(&format!("{base}/cmdline")));
    if p.cmdline.is_empty() && fs::read_link(format!("{base}/exe")).is_err() {
        // A main thread that exited has no memory map of its own: a live
        // thread's view shows the same program.
        if let Some(t) = tasks(p.pid).into_iter().find(|&t| t != p.pid) {
            base = format!("{PROC}/{}/task/{t}", p.pid);
            p.cmdline = read_cmdline(Path::new(&format!("{base}/cmdline")));
        }
    }
    p.exe = fs::read_link(format!("{base}/exe"))
        .ok()
        .map(|l| decode(l.as_os_str().as_encoded_bytes()));
    p.cgroup = fs::read(format!("{base}/cgroup")).ok().map(|b| decode(&b));
    // An incremental scan may have known this pid from before its exec
    // (a shell that became `python3`): take the name as it is now.
    if let Some(st) = stat(p.pid)
        && st.start_time == p.start_time
    {
        p.name = st.name;
    }
    if let Some(uid) = fs::read_to_string(format!("{base}/status"))
        .ok()
        .and_then(|s| status_euid(&s))
    {
        p.uid = uid;
    }
    p.detailed = true;
}

/// The effective uid from the text of `/proc/PID/status`.
pub fn status_euid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_ascii_whitespace().nth(2)?.parse().ok()
}

fn read_cmdline(path: &Path) -> Vec<String> {
    let Ok(f) = fs::File::open(path) else {
        return Vec::new();
    };
    let mut bytes = Vec::new();
    if f.take(MAX_CMDLINE as u64 + 1)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return Vec::new();
    }
    let cut = bytes.len() > MAX_CMDLINE;
    bytes.truncate(MAX_CMDLINE);
    split_cmdline(&bytes, cut)
}

/// Split NUL-separated arguments; mark a truncated last argument with
/// [`CUT_MARK`].
pub fn split_cmdline(bytes: &[u8], truncated: bool) -> Vec<String> {
    let trimmed = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if trimmed.is_empty() {
        return Vec::new();
    }
    let mut args: Vec<String> = trimmed.split(|&b| b == 0).map(decode).collect();
    if truncated && let Some(last) = args.last_mut() {
        last.push_str(CUT_MARK);
    }
    args
}

/// The working directory of `pid`, when readable (shown in details).
pub fn cwd(pid: Pid) -> Option<String> {
    fs::read_link(format!("{PROC}/{pid}/cwd"))
        .ok()
        .map(|l| decode(l.as_os_str().as_encoded_bytes()))
}

/// Whether `/proc` is mounted with `hidepid` (other users' processes are
/// invisible even to their sockets' owners).
pub fn hidepid() -> Option<String> {
    let mounts = fs::read_to_string(format!("{PROC}/self/mountinfo")).ok()?;
    mounts.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mount_point = pre.split(' ').nth(4)?;
        let mut post = post.split(' ');
        if mount_point != PROC || post.next()? != "proc" {
            return None;
        }
        let opts = post.nth(1)?;
        opts.split(',')
            .find(|o| o.starts_with("hidepid=") && *o != "hidepid=0" && *o != "hidepid=off")
            .map(str::to_string)
    })
}

/// Inode of the machine's initial PID namespace (`PROC_PID_INIT_INO`): a
/// fixed number in every kernel since 3.8.
pub const INIT_PID_NS_INO: u64 = 0xEFFF_FFFC;

/// Whether this process is in the initial PID namespace (`None` when
/// `/proc/self/ns/pid` cannot be read), and how many distinct PID
/// namespaces the processes `pids` are in (those whose link is readable).
pub fn pid_namespaces(pids: &[Pid]) -> (Option<bool>, usize) {
    let ino = |path: String| -> Option<u64> {
        let l = fs::read_link(path).ok()?;
        let l = l.to_str()?;
        l.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
    };
    let own = ino(format!("{PROC}/self/ns/pid"));
    let distinct: HashSet<u64> = pids
        .iter()
        .filter_map(|p| ino(format!("{PROC}/{p}/ns/pid")))
        .chain(own)
        .collect();
    (own.map(|i| i == INIT_PID_NS_INO), distinct.len())
}

/// `/proc` held open as a directory fd, so per-process lookups are one path
/// component each (`openat(proc, "1234")`, `readlinkat(fd_dir, "7")`)
/// instead of a walk from `/` for every file — most of a scan's cost is
/// these lookups, repeated for every fd of every process.
pub struct ProcRoot {
    fd: std::os::fd::OwnedFd,
}

/// One process's `/proc/PID/fd` directory, open, with what its `fstat`
/// told: the process's effective uid and how many fds it has open.
pub struct FdDir {
    fd: std::os::fd::OwnedFd,
    /// Effective uid of the process (owner of the directory).
    pub uid: u32,
    /// Open fds (`st_size`, Linux ≥ 6.2; 0 when the kernel does not say).
    pub count: usize,
}

/// Why an fd directory could not be opened.
pub enum FdDirError {
    /// Not ours to look at (another user's process, when not root).
    Denied,
    /// The process is gone.
    Gone,
}

const DIR_FLAGS: rustix::fs::OFlags = rustix::fs::OFlags::RDONLY
    .union(rustix::fs::OFlags::DIRECTORY)
    .union(rustix::fs::OFlags::CLOEXEC);

impl ProcRoot {
    /// Open `/proc`. Fails when procfs is missing or unreadable — or when
    /// something else is mounted there (an empty tmpfs would otherwise look
    /// like a machine with no processes, and every socket "unresolved").
    pub fn open() -> io::Result<Self> {
        let fd = rustix::fs::openat(rustix::fs::CWD, PROC, DIR_FLAGS, rustix::fs::Mode::empty())?;
        const PROC_SUPER_MAGIC: i64 = 0x9fa0;
        let fs_type = rustix::fs::fstatfs(&fd)?.f_type as i64;
        if fs_type != PROC_SUPER_MAGIC {
            return Err(io::Error::other(format!(
                "{PROC} is not a procfs mount (filesystem type {fs_type:#x})"
            )));
        }
        Ok(ProcRoot { fd })
    }

    /// Every numeric entry (pid) with the inode of its directory,
    /// ascending by pid. The inode is new for every new process, so a
    /// changed one reveals a reused pid without reading anything else.
    pub fn pids(&self) -> io::Result<Vec<(Pid, u64)>> {
        let mut out = Vec::with_capacity(512);
        let dir = rustix::fs::Dir::read_from(&self.fd)?;
        for entry in dir {
            let entry = entry?;
            if let Some(pid) = std::str::from_utf8(entry.file_name().to_bytes())
                .ok()
                .and_then(|s| s.parse::<Pid>().ok())
            {
                out.push((pid, entry.ino()));
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Read and parse `/proc/PID/stat` into `buf` (one open, one read):
    /// `None` when the process is gone.
    pub fn stat(&self, pid: Pid, buf: &mut [u8]) -> Option<Stat> {
        let mut path = [0u8; 24];
        let f = rustix::fs::openat(
            &self.fd,
            pid_path(pid, b"/stat", &mut path),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()?;
        let n = rustix::io::read(&f, &mut *buf).ok()?;
        parse_stat(buf.get(..n)?).map(|st| effective_state(st, pid))
    }

    /// The fd tables of `pid`'s threads that `/proc/PID/fd` does not show:
    /// every live thread's when the main thread exited (its table is gone),
    /// else those of threads that left the shared table with
    /// `unshare(CLONE_FILES)`. One table per distinct `files_struct`
    /// (compared with `kcmp`); where `kcmp` is unavailable every thread's
    /// table is read — slower, never blind. Call only for processes with
    /// more than one thread: the common single-threaded case costs nothing.
    pub fn thread_fd_dirs(&self, pid: Pid, leader_exited: bool) -> Vec<FdDir> {
        let mut kept: Vec<(Pid, FdDir)> = Vec::new();
        for tid in tasks(pid).into_iter().filter(|&t| t != pid) {
            match same_files(pid, tid) {
                // Not ours to inspect: neither are its fd links.
                SameFiles::Denied => return Vec::new(),
                SameFiles::Same if !leader_exited => continue,
                _ => {}
            }
            if kept
                .iter()
                .any(|&(k, _)| same_files(k, tid) == SameFiles::Same)
            {
                continue;
            }
            let path = format!("{pid}/task/{tid}/fd");
            let Ok(fd) = rustix::fs::openat(
                &self.fd,
                path.as_str(),
                DIR_FLAGS,
                rustix::fs::Mode::empty(),
            ) else {
                continue;
            };
            let Ok(st) = rustix::fs::fstat(&fd) else {
                continue;
            };
            kept.push((
                tid,
                FdDir {
                    fd,
                    uid: st.st_uid,
                    count: usize::try_from(st.st_size).unwrap_or(0),
                },
            ));
        }
        kept.into_iter().map(|(_, d)| d).collect()
    }

    /// Owner (effective uid) of `/proc/PID`: one statx. Only needed when
    /// the fd directory, which tells the same, cannot be opened.
    pub fn uid(&self, pid: Pid) -> Option<u32> {
        let mut path = [0u8; 24];
        rustix::fs::statat(
            &self.fd,
            pid_path(pid, b"", &mut path),
            rustix::fs::AtFlags::empty(),
        )
        .ok()
        .map(|st| st.st_uid)
    }

    /// Open `/proc/PID/fd` (one open, one fstat for uid and fd count).
    pub fn fd_dir(&self, pid: Pid) -> Result<FdDir, FdDirError> {
        let mut path = [0u8; 24];
        let fd = match rustix::fs::openat(
            &self.fd,
            pid_path(pid, b"/fd", &mut path),
            DIR_FLAGS,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::ACCESS) => return Err(FdDirError::Denied),
            Err(_) => return Err(FdDirError::Gone),
        };
        let st = rustix::fs::fstat(&fd).map_err(|_| FdDirError::Gone)?;
        Ok(FdDir {
            fd,
            uid: st.st_uid,
            count: usize::try_from(st.st_size).unwrap_or(0),
        })
    }
}

/// Whether two tasks share one fd table, as `kcmp(KCMP_FILES)` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameFiles {
    /// One table.
    Same,
    /// Two tables.
    Different,
    /// Not permitted (no ptrace access): their fd links cannot be read
    /// either, so there is nothing to look at.
    Denied,
    /// The kernel cannot say (no `CONFIG_KCMP`).
    Unknown,
}

/// Compare the fd tables of tasks `a` and `b`.
#[allow(unsafe_code)]
pub fn same_files(a: Pid, b: Pid) -> SameFiles {
    const KCMP_FILES: nix::libc::c_long = 2;
    // SAFETY: kcmp takes five integer arguments and touches no memory of
    // ours; a bad pid is reported as an error, not undefined behaviour.
    let r = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_kcmp,
            nix::libc::c_long::from(a),
            nix::libc::c_long::from(b),
            KCMP_FILES,
            0 as nix::libc::c_long,
            0 as nix::libc::c_long,
        )
    };
    match r {
        0 => SameFiles::Same,
        r if r > 0 => SameFiles::Different,
        _ => match nix::errno::Errno::last() {
            nix::errno::Errno::EPERM | nix::errno::Errno::EACCES => SameFiles::Denied,
            _ => SameFiles::Unknown,
        },
    }
}

/// `PID` + `suffix` (`/stat`, `/fd`) as a path relative to `/proc`, built
/// on the stack: a scan makes thousands of these.
fn pid_path<'a>(pid: Pid, suffix: &[u8], buf: &'a mut [u8; 24]) -> &'a str {
    let mut digits = [0u8; 10];
    let d = fd_name(pid.unsigned_abs(), &mut digits).as_bytes();
    let len = d.len() + suffix.len();
    buf[..d.len()].copy_from_slice(d);
    buf[d.len()..len].copy_from_slice(suffix);
    std::str::from_utf8(&buf[..len]).unwrap_or("")
}

impl FdDir {
    /// Socket inodes in `want` that this process has an fd on.
    ///
    /// Most of a scan's kernel time is here, so it avoids listing the fd
    /// directory when it can: since Linux 6.2, `stat` on `/proc/PID/fd`
    /// reports the number of open fds in `st_size`, and most fd tables are
    /// dense (0, 1, 2, …). We read links 0, 1, 2, … until we have seen that
    /// many fds; only a sparse table (or an older kernel, size 0) falls back
    /// to `getdents` — whose per-entry lookups cost as much as the links.
    pub fn socket_fds(self, want: &HashSet<u64>) -> FdScan {
        let mut scan = FdScan::default();
        let FdDir {
            fd: fd_dir, count, ..
        } = self;
        let mut link = [0u8; 64];
        let mut check = |dir: BorrowedFd<'_>, n: u32, scan: &mut FdScan| -> bool {
            let mut name = [0u8; 10];
            let len = match rustix::fs::readlinkat_raw(dir, fd_name(n, &mut name), &mut link[..]) {
                Ok(len) => len,
                // The directory opened but its links are not ours to read
                // (a non-dumpable process, a security module): say so
                // instead of trying every fd.
                Err(rustix::io::Errno::ACCESS) => {
                    scan.denied = true;
                    return false;
                }
                Err(_) => return false,
            };
            if let Some(inode) = link.get(..len).and_then(socket_inode)
                && want.contains(&inode)
                && !scan.found.contains(&inode)
            {
                scan.found.push(inode);
            }
            true
        };

        // Probe 0, 1, 2, … up to the first gap: at a gap, listing is
        // cheaper than guessing where the rest are (bash keeps fd 255,
        // services leave holes). Measured on the benchmark fixture, stopping
        // at the first gap costs the same as tolerating 3, or less.
        let mut seen = 0usize;
        let mut probed = 0u32;
        while seen < count {
            let hit = check(fd_dir.as_fd(), probed, &mut scan);
            probed += 1;
            if !hit {
                break;
            }
            seen += 1;
        }
        if (count > 0 && seen >= count) || scan.denied {
            return scan;
        }

        // Sparse (or uncounted) table: list it, skipping what was probed.
        let Some((dir, rest)) = unprobed_fds(fd_dir, probed, count) else {
            return scan;
        };
        if let Ok(fd) = dir.fd() {
            for n in rest {
                if !check(fd, n, &mut scan) && scan.denied {
                    break;
                }
            }
        }
        scan
    }
}

/// List the fd directory `fd_dir` (holding `count` fds, 0 if unknown): the
/// fd numbers from `probed` on, with the open directory to read their links
/// through.
fn unprobed_fds(
    fd_dir: std::os::fd::OwnedFd,
    probed: u32,
    count: usize,
) -> Option<(rustix::fs::Dir, Vec<u32>)> {
    let mut dir = rustix::fs::Dir::new(fd_dir).ok()?;
    let mut rest: Vec<u32> = Vec::new();
    let mut listed = 0usize;
    while let Some(Ok(entry)) = dir.read() {
        if let Some(n) = std::str::from_utf8(entry.file_name().to_bytes())
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        {
            listed += 1;
            if n >= probed {
                rest.push(n);
            }
            // All of them listed: skip the end-of-directory call.
            if count > 0 && listed >= count {
                break;
            }
        }
    }
    Some((dir, rest))
}

/// Decimal digits of `n` in `buf`, as a path component.
fn fd_name(mut n: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        let s = parse_stat(
            b"4242 (a) b (c)) S 1 4240 4240 34816 4240 4194560 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0",
        )
        .expect("stat");
        assert_eq!(s.name, "a) b (c)");
        assert_eq!(
            (s.ppid, s.pgid, s.sid, s.tty_nr, s.start_time),
            (1, 4240, 4240, 34816, 123456)
        );
        assert_eq!(s.state, 'S');
        assert!(!s.is_kernel_thread());
    }

    #[test]
    fn stat_garbage_is_none() {
        assert!(parse_stat(b"").is_none());
        assert!(parse_stat(b"12 (x").is_none());
        assert!(parse_stat(b"12 (x) S 1").is_none());
    }

    #[test]
    fn pid_paths() {
        let mut b = [0u8; 24];
        assert_eq!(pid_path(4242, b"/stat", &mut b), "4242/stat");
        assert_eq!(pid_path(1, b"", &mut b), "1");
        assert_eq!(pid_path(i32::MAX, b"/fd", &mut b), "2147483647/fd");
    }

    #[test]
    fn fd_names() {
        let mut b = [0u8; 10];
        assert_eq!(fd_name(0, &mut b), "0");
        assert_eq!(fd_name(255, &mut b), "255");
        assert_eq!(fd_name(u32::MAX, &mut b), "4294967295");
    }

    #[test]
    fn finds_own_sockets_in_dense_and_sparse_tables() {
        use std::os::fd::AsRawFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        // A second socket far beyond the dense range makes the table sparse.
        let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let high = rustix::io::fcntl_dupfd_cloexec(&u, 900).expect("dup high");
        assert!(high.as_raw_fd() >= 900);
        let ino = |fd: BorrowedFd<'_>| rustix::fs::fstat(fd).expect("fstat").st_ino;
        let (li, ui) = (ino(l.as_fd()), ino(u.as_fd()));
        let root = ProcRoot::open().expect("proc");
        let me = std::process::id() as Pid;
        let dir = || root.fd_dir(me).ok().expect("own fd dir");
        assert!(dir().count >= 4, "kernel reports the fd count");
        assert_eq!(dir().uid, rustix::process::geteuid().as_raw());
        let want = HashSet::from([li, ui]);
        let mut found = dir().socket_fds(&want).found;
        found.sort_unstable();
        let mut expect = vec![li, ui];
        expect.sort_unstable();
        assert_eq!(found, expect);
        drop(u);
        // Only the high duplicate holds the UDP socket now.
        let mut found = dir().socket_fds(&want).found;
        found.sort_unstable();
        assert_eq!(found, expect);
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
    }

    #[test]
    fn cmdline_split() {
        assert_eq!(
            split_cmdline(b"node\0server.js\0", false),
            vec!["node", "server.js"]
        );
        assert_eq!(split_cmdline(b"", false), Vec::<String>::new());
        assert_eq!(split_cmdline(b"a\0bbb", true), vec!["a", "bbb…(cut)"]);
        assert_eq!(split_cmdline(b"x\xff\0", false), vec!["x\\xff"]);
    }

    #[test]
    fn shown_command_lines_are_capped_and_marked() {
        let short = vec!["node".to_string(), "server.js".to_string()];
        assert_eq!(shown_cmdline(&short).as_ref(), short.as_slice());
        let long = vec!["a".repeat(40_000), "b".repeat(40_000), "c".into()];
        let shown = shown_cmdline(&long);
        let total: usize = shown.iter().map(String::len).sum();
        assert_eq!(total, SHOWN_CMDLINE + 4);
        assert_eq!(shown.len(), 2);
        assert!(shown[1].ends_with("b…(cut)"));
    }

    #[test]
    fn euid_from_status() {
        assert_eq!(
            status_euid("Name:\tx\nUid:\t1000\t1001\t1000\t1000\n"),
            Some(1001)
        );
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id() as Pid;
        let s = stat(me).expect("own stat");
        assert_eq!(s.pid, me);
        assert!(s.start_time > 0);
    }
}
