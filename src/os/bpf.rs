//! The second holder finder: a BPF `task_file` iterator that visits every
//! open file of every task inside the kernel in one pass.
//!
//! Why: the `/proc` walk costs one `readlinkat` per open fd (the same path
//! walk `ss -p` and lsof pay), so on a machine with hundreds of thousands of
//! fds it is seconds of kernel time. The iterator reads the same facts —
//! which tgid holds which socket inode — for a fraction of a microsecond per
//! fd, after a start-up of tens of milliseconds (parsing the kernel's BTF
//! and loading the program). It only answers "which pids hold which socket
//! inodes"; everything else about a process still comes from `/proc`.
//!
//! It is used only when running as root (real and effective uid 0 — never
//! through file capabilities: the iterator sees every user's files with none
//! of `/proc`'s permission checks) and the kernel has BTF. Any failure
//! (EPERM, a verifier rejection, lockdown, missing BTF) is an [`Unavailable`]
//! with the reason; the caller falls back to `/proc`.
//!
//! The program (`src/os/bpf/task_sockets.bpf.c`) is compiled ahead of time
//! and committed (`task_sockets.bpf.o`, rebuilt and compared by
//! `.ci/setup-bpf.sh`), so building portwarden never needs clang.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use aya::programs::Iter;

use crate::model::Pid;

/// The compiled iterator (see `src/os/bpf/build.sh`), 8-byte aligned as the
/// ELF parser requires.
static OBJECT: &[u8] = aya::include_bytes_aligned!("bpf/task_sockets.bpf.o");

/// The program's name in the object (its C function).
const PROGRAM: &str = "task_sockets";

/// Where the kernel publishes its own BTF (needed for CO-RE relocations
/// and to find the iterator's attach point).
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Why the BPF method cannot be used here; the text says it for `why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One socket fd as the iterator reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketFd {
    /// Thread-group id (the process), in the reader's pid namespace.
    pub pid: Pid,
    /// The fd number.
    pub fd: u32,
    /// The socket's inode (as in `socket:[N]`).
    pub inode: u64,
}

/// Whether this process may and can use the iterator at all, without
/// loading anything: root (real and effective uid 0) and kernel BTF.
pub fn precheck() -> Result<(), Unavailable> {
    let (uid, euid) = (
        rustix::process::getuid().as_raw(),
        rustix::process::geteuid().as_raw(),
    );
    if uid != 0 || euid != 0 {
        return Err(Unavailable(format!(
            "not running as root (uid {uid}, euid {euid}): the BPF iterator is root-only"
        )));
    }
    if !Path::new(KERNEL_BTF).exists() {
        return Err(Unavailable(format!(
            "the kernel has no BTF ({KERNEL_BTF} is missing)"
        )));
    }
    Ok(())
}

/// How many files the kernel has open (first field of
/// `/proc/sys/fs/file-nr`): one read, the cheap estimate of what a `/proc`
/// walk would have to visit.
pub fn open_files() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/fs/file-nr").ok()?;
    text.split_ascii_whitespace().next()?.parse().ok()
}

/// The loaded iterator program. Loading is the expensive part (the kernel
/// BTF is parsed and the program verified); each [`TaskSockets::read`]
/// after that is one walk of the kernel's task and file tables.
pub struct TaskSockets {
    ebpf: aya::Ebpf,
}

impl std::fmt::Debug for TaskSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSockets").finish_non_exhaustive()
    }
}

impl TaskSockets {
    /// Check [`precheck`], parse the kernel BTF and load the program.
    pub fn load() -> Result<Self, Unavailable> {
        precheck()?;
        // `EbpfLoader::new` parses the kernel BTF itself (~13 MB parsed) for
        // the CO-RE relocations; it is dropped before the second parse
        // below, so only one copy is ever alive: the peak RSS of a cold
        // `list` stays in budget. The second parse costs ~10 ms.
        let mut ebpf = aya::EbpfLoader::new()
            .load(OBJECT)
            .map_err(|e| Unavailable(format!("cannot load the BPF object: {}", chain(&e))))?;
        let btf = aya::Btf::from_sys_fs()
            .map_err(|e| Unavailable(format!("cannot read the kernel BTF: {e}")))?;
        let prog: &mut Iter = ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| Unavailable(format!("no program {PROGRAM} in the BPF object")))?
            .try_into()
            .map_err(|e| Unavailable(format!("{PROGRAM} is not an iterator: {e}")))?;
        prog.load("task_file", &btf)
            .map_err(|e| Unavailable(format!("the kernel refused the iterator: {}", chain(&e))))?;
        Ok(TaskSockets { ebpf })
    }

    /// Walk every task's open files once: each socket fd once, in
    /// (pid, fd, inode) order.
    pub fn read(&mut self) -> io::Result<Vec<SocketFd>> {
        let mut file = self.open_iter()?;
        let mut out = Vec::with_capacity(4096);
        let mut buf = vec![0u8; 256 * 1024];
        let mut carry = 0usize;
        loop {
            match file.read(&mut buf[carry..]) {
                Ok(0) => break,
                Ok(n) => {
                    let end = carry + n;
                    let whole = end - end % RECORD;
                    out.extend(buf[..whole].chunks_exact(RECORD).filter_map(parse_record));
                    buf.copy_within(whole..end, 0);
                    carry = end - whole;
                }
                // One read() walks at most ~1M objects; when that produced
                // nothing yet the kernel says EAGAIN and the next read
                // resumes where it stopped.
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // The same (pid, fd, inode) comes once per thread when several
        // threads share an fd table the kernel does not skip (their leader
        // exited). Not (pid, fd) alone: a thread with its own table
        // (unshare(CLONE_FILES)) can have another socket on the same fd
        // number as its leader.
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// A fresh iterator: attach the loaded program (a cheap link) and open
    /// a reader on it. Each reader walks the tables once.
    fn open_iter(&mut self) -> io::Result<File> {
        let prog: &mut Iter = self
            .ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| io::Error::other("iterator program vanished"))?
            .try_into()
            .map_err(io::Error::other)?;
        let id = prog.attach().map_err(io::Error::other)?;
        let link = prog.take_link(id).map_err(io::Error::other)?;
        link.into_file().map_err(io::Error::other)
    }
}

/// Size of one record written by the program: `{ u32 tgid; u32 fd; u64 inode }`.
const RECORD: usize = 16;

fn parse_record(r: &[u8]) -> Option<SocketFd> {
    let word = |at: usize| -> Option<[u8; 4]> { r.get(at..at + 4)?.try_into().ok() };
    let tgid = u32::from_ne_bytes(word(0)?);
    let fd = u32::from_ne_bytes(word(4)?);
    let inode = u64::from_ne_bytes(r.get(8..16)?.try_into().ok()?);
    Some(SocketFd {
        pid: Pid::try_from(tgid).ok()?,
        fd,
        inode,
    })
}

/// An error with its sources, on one line (aya's verifier errors carry the
/// kernel's log as a source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(c.to_string().trim());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_and_dedup_keys() {
        let mut bytes = Vec::new();
        for (tgid, fd, inode) in [(42u32, 3u32, 777u64), (7, 9, 1)] {
            bytes.extend(tgid.to_ne_bytes());
            bytes.extend(fd.to_ne_bytes());
            bytes.extend(inode.to_ne_bytes());
        }
        let got: Vec<SocketFd> = bytes
            .chunks_exact(RECORD)
            .filter_map(parse_record)
            .collect();
        assert_eq!(
            got,
            vec![
                SocketFd {
                    pid: 42,
                    fd: 3,
                    inode: 777
                },
                SocketFd {
                    pid: 7,
                    fd: 9,
                    inode: 1
                }
            ]
        );
        assert_eq!(parse_record(&bytes[..8]), None);
    }
}
