//! The reads behind [`crate::evidence`]: a process's cwd, the targets of
//! its fds 0–2, the supervisor variables of its environment, and which
//! processes read a pipe. Like the rest of `/proc`, any of it may be gone
//! or not ours to read: that gives empty facts, never an error.

use std::collections::BTreeMap;
use std::fs;

use crate::escape::decode;
use crate::evidence::{Facts, SUPERVISOR_ENV, Stream};
use crate::model::Pid;
use crate::os::procfs::PROC;

/// Read one process's facts (unreadable parts stay empty).
pub fn read_facts(pid: Pid) -> Facts {
    let link = |name: &str| {
        fs::read_link(format!("{PROC}/{pid}/{name}"))
            .ok()
            .map(|l| decode(l.as_os_str().as_encoded_bytes()))
    };
    let stdio = [0, 1, 2].map(|n| link(&format!("fd/{n}")).map(|l| Stream::from_link(&l)));
    Facts {
        cwd: link("cwd"),
        stdio,
        env: read_env(pid),
    }
}

/// Most of an environment read, in bytes: the variables wanted are set by
/// the supervisor before the program's own, near the start.
const MAX_ENV: u64 = 256 * 1024;

fn read_env(pid: Pid) -> BTreeMap<String, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let Ok(f) = fs::File::open(format!("{PROC}/{pid}/environ")) else {
        return BTreeMap::new();
    };
    if f.take(MAX_ENV).read_to_end(&mut bytes).is_err() {
        return BTreeMap::new();
    }
    bytes
        .split(|&b| b == 0)
        .filter_map(|kv| {
            let eq = kv.iter().position(|&b| b == b'=')?;
            let key = std::str::from_utf8(&kv[..eq]).ok()?;
            SUPERVISOR_ENV
                .contains(&key)
                .then(|| (key.to_string(), decode(&kv[eq + 1..])))
        })
        .collect()
}

/// Does the pipe on `pid`'s fd `fd` still have a reader? The pipe is
/// opened again through `/proc` for writing, without blocking, and polled
/// once: the kernel reports `POLLERR` on a pipe's write end when no process
/// holds its read end. Nothing is written, and the fd is closed at once —
/// one open and one poll instead of a walk of every fd table on the
/// machine. `None` when it cannot be told (not ours to open, gone).
pub fn pipe_has_reader(pid: Pid, fd: usize) -> Option<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    use rustix::fs::{Mode, OFlags};
    let w = rustix::fs::open(
        format!("{PROC}/{pid}/fd/{fd}"),
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .ok()?;
    let mut fds = [PollFd::new(&w, PollFlags::OUT)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&now)).ok()?;
    Some(!fds[0].revents().contains(PollFlags::ERR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_facts_and_tells_a_read_pipe_from_a_dead_one() {
        let me = std::process::id() as Pid;
        assert!(read_facts(me).cwd.is_some());
        let (r, w) = rustix::pipe::pipe().expect("pipe");
        let fd = usize::try_from(std::os::fd::AsRawFd::as_raw_fd(&w)).expect("fd");
        assert_eq!(pipe_has_reader(me, fd), Some(true), "we hold the read end");
        drop(r);
        assert_eq!(
            pipe_has_reader(me, fd),
            Some(false),
            "only the write end is left"
        );
        assert_eq!(pipe_has_reader(me, 100_000), None, "no such fd");
    }
}
