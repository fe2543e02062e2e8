//! Reading processes from `/proc`.
//!
//! Every read here may fail because the process exited a microsecond ago
//! (ENOENT, ESRCH) or is not ours to look at (EACCES): that is normal, never
//! an error for the caller — the functions return `None`/empty and the scan
//! goes on. Only `/proc` itself being absent is an error.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::Path;

use crate::escape::decode;
use crate::model::{Pid, Process};

/// Where procfs lives. A constant, not a parameter: tests that need other
/// process tables build a [`crate::model::Snapshot`] by hand instead.
pub const PROC: &str = "/proc";

/// Longest command line we keep, in bytes. Some processes carry megabytes
/// of arguments; no screen or JSON consumer needs more than this.
pub const MAX_CMDLINE: usize = 64 * 1024;

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
}

impl Stat {
    /// Kernel threads hold no file descriptors.
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & 0x0020_0000 != 0
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
        start_time: num(22)? as u64,
    })
}

/// Read and parse `/proc/PID/stat`.
pub fn stat(pid: Pid) -> Option<Stat> {
    let bytes = fs::read(format!("{PROC}/{pid}/stat")).ok()?;
    parse_stat(&bytes)
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
    let base = format!("{PROC}/{}", p.pid);
    p.cmdline = read_cmdline(Path::new(&format!("{base}/cmdline")));
    p.exe = fs::read_link(format!("{base}/exe"))
        .ok()
        .map(|l| decode(l.as_os_str().as_encoded_bytes()));
    p.cgroup = fs::read(format!("{base}/cgroup")).ok().map(|b| decode(&b));
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

/// Split NUL-separated arguments; mark a truncated last argument with `…`.
pub fn split_cmdline(bytes: &[u8], truncated: bool) -> Vec<String> {
    let trimmed = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if trimmed.is_empty() {
        return Vec::new();
    }
    let mut args: Vec<String> = trimmed.split(|&b| b == 0).map(decode).collect();
    if truncated && let Some(last) = args.last_mut() {
        last.push('…');
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

/// `/proc` held open as a directory fd, so per-process lookups are one path
/// component each (`openat(proc, "1234")`, `readlinkat(fd_dir, "7")`)
/// instead of a walk from `/` for every file — most of a scan's cost is
/// these lookups, repeated for every fd of every process.
pub struct ProcRoot {
    fd: std::os::fd::OwnedFd,
}

/// One process's `/proc/PID` directory, open.
pub struct PidDir {
    /// The pid.
    pub pid: Pid,
    fd: std::os::fd::OwnedFd,
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

    /// Every numeric entry (pid), ascending.
    pub fn pids(&self) -> io::Result<Vec<Pid>> {
        let mut out = Vec::with_capacity(512);
        let dir = rustix::fs::Dir::read_from(&self.fd)?;
        for entry in dir {
            let entry = entry?;
            if let Some(pid) = std::str::from_utf8(entry.file_name().to_bytes())
                .ok()
                .and_then(|s| s.parse::<Pid>().ok())
            {
                out.push(pid);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Open `/proc/PID`; `None` when the process is gone.
    pub fn pid(&self, pid: Pid) -> Option<PidDir> {
        let fd = rustix::fs::openat(
            &self.fd,
            pid.to_string().as_str(),
            DIR_FLAGS,
            rustix::fs::Mode::empty(),
        )
        .ok()?;
        Some(PidDir { pid, fd })
    }
}

impl PidDir {
    /// Owner (effective) uid of the process: one fstat.
    pub fn uid(&self) -> Option<u32> {
        rustix::fs::fstat(&self.fd).ok().map(|s| s.st_uid)
    }

    /// Read `stat` into `buf` and parse it.
    pub fn stat(&self, buf: &mut [u8]) -> Option<Stat> {
        let f = rustix::fs::openat(
            &self.fd,
            "stat",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()?;
        let n = rustix::io::read(&f, &mut *buf).ok()?;
        parse_stat(buf.get(..n)?)
    }

    /// Socket inodes in `want` that this process has an fd on.
    pub fn socket_fds(&self, want: &HashSet<u64>) -> FdScan {
        let mut scan = FdScan::default();
        let fd_dir = match rustix::fs::openat(&self.fd, "fd", DIR_FLAGS, rustix::fs::Mode::empty())
        {
            Ok(fd) => fd,
            Err(e) => {
                scan.denied = e == rustix::io::Errno::ACCESS;
                return scan;
            }
        };
        let Ok(dir) = rustix::fs::Dir::read_from(&fd_dir) else {
            return scan;
        };
        let mut link = [0u8; 64];
        for entry in dir {
            let Ok(entry) = entry else { break };
            let name = entry.file_name();
            if name.to_bytes().first() == Some(&b'.') {
                continue;
            }
            let Ok(n) = rustix::fs::readlinkat_raw(&fd_dir, name, &mut link[..]) else {
                continue;
            };
            if let Some(inode) = link.get(..n).and_then(socket_inode)
                && want.contains(&inode)
                && !scan.found.contains(&inode)
            {
                scan.found.push(inode);
            }
        }
        scan
    }
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
        assert_eq!(split_cmdline(b"a\0bbb", true), vec!["a", "bbb…"]);
        assert_eq!(split_cmdline(b"x\xff\0", false), vec!["x\\xff"]);
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
