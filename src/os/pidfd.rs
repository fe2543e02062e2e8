//! Signalling one exact process: a pidfd pins a process so a recycled pid
//! can never receive a signal meant for the process that was planned.
//!
//! The identity rule lives here, in one place: open a pidfd for the pid,
//! *then* re-read the start time — if it is the planned one, the fd refers
//! to exactly that process for as long as it is held, and every signal goes
//! through it. Signals always go to one process, never to a group
//! (`kill(-pgid)` could not be identity-checked). On kernels without pidfd
//! (< 5.3) the start time is re-checked as late as possible before
//! `kill(2)` on the single pid.
//!
//! Waiting for exit polls the pidfds (the kernel makes one readable when
//! its process exits), so a kill notices each death at once instead of
//! sleeping in steps.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::process::{PidfdFlags, Signal, kill_process, pidfd_open, pidfd_send_signal};

use super::procfs;
use crate::model::Pid;

/// How often processes without a pidfd are looked at while waiting.
const FALLBACK_STEP: Duration = Duration::from_millis(10);

/// A process whose identity (pid + start time) was verified after its
/// pidfd was opened: signals reach it and no other.
#[derive(Debug)]
pub struct Pinned {
    pid: Pid,
    start_time: u64,
    /// `None` on kernels without pidfd (< 5.3): fall back to kill(2).
    fd: Option<OwnedFd>,
}

/// What [`open`] found at the pid.
#[derive(Debug)]
pub enum Opened {
    /// The planned process, pinned.
    Same(Pinned),
    /// No process (or only a zombie, whose fds are closed); why.
    Gone(String),
    /// Another process with the pid (the planned one exited and the pid
    /// was reused); why.
    Mismatch(String),
}

/// Why a signal was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalError {
    /// The process is gone (or, without pidfd, its pid now names another).
    Gone,
    /// The kernel refused (e.g. EPERM) or the signal number is invalid:
    /// the error's text.
    Failed(String),
}

/// Open a pidfd for `pid` and re-check its start time *after* opening it,
/// so the returned [`Pinned`] refers to exactly the process that started at
/// `start_time`.
pub fn open(pid: Pid, start_time: u64) -> Opened {
    let Some(rpid) = rustix::process::Pid::from_raw(pid) else {
        return Opened::Gone("invalid pid".into());
    };
    let fd = match pidfd_open(rpid, PidfdFlags::empty()) {
        Ok(fd) => Some(fd),
        Err(Errno::SRCH) => return Opened::Gone("already gone".into()),
        Err(Errno::NOSYS) => None,
        Err(e) => return Opened::Gone(format!("already gone? pidfd_open failed: {e}")),
    };
    match procfs::stat(pid) {
        None => Opened::Gone("already gone".into()),
        Some(st) if st.start_time != start_time => Opened::Mismatch(format!(
            "pid reused: start time {} differs from planned {start_time}; not signalled",
            st.start_time
        )),
        Some(st) if st.state == 'Z' || st.state == 'X' => {
            Opened::Gone("already gone (zombie: its fds are closed)".into())
        }
        Some(_) => Opened::Same(Pinned {
            pid,
            start_time,
            fd,
        }),
    }
}

impl Pinned {
    /// The pinned process's id.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Send `sig` through the pidfd (without one: re-check the start time,
    /// then `kill(2)` the single pid).
    pub fn signal(&self, sig: i32) -> Result<(), SignalError> {
        self.send(sig).map_err(|e| match e {
            Errno::SRCH => SignalError::Gone,
            e => SignalError::Failed(e.to_string()),
        })
    }

    fn send(&self, sig: i32) -> rustix::io::Result<()> {
        let signal = Signal::from_named_raw(sig).ok_or(Errno::INVAL)?;
        match &self.fd {
            Some(fd) => pidfd_send_signal(fd, signal),
            None => {
                if procfs::start_time(self.pid) != Some(self.start_time) {
                    return Err(Errno::SRCH);
                }
                let rpid = rustix::process::Pid::from_raw(self.pid).ok_or(Errno::INVAL)?;
                kill_process(rpid, signal)
            }
        }
    }

    /// Dead: exited, a zombie, or its pid now names another process.
    pub fn is_dead(&self) -> bool {
        match procfs::stat(self.pid) {
            None => true,
            Some(st) => st.start_time != self.start_time || st.state == 'Z' || st.state == 'X',
        }
    }
}

/// Block until one of `procs` may have exited or `deadline` passes: on
/// pidfd readability, or after a short step when some have no pidfd (then
/// only `/proc` tells). Callers re-check with [`Pinned::is_dead`]; a
/// spurious wake (EINTR) just returns early.
pub fn wait_any<'a>(procs: impl IntoIterator<Item = &'a Pinned>, deadline: Instant) {
    let now = Instant::now();
    if now >= deadline {
        return;
    }
    let remaining = deadline - now;
    let mut fallback = false;
    let mut pfds: Vec<PollFd<'_>> = Vec::new();
    for p in procs {
        match &p.fd {
            Some(fd) => pfds.push(PollFd::new(fd, PollFlags::IN)),
            None => fallback = true,
        }
    }
    let step = if fallback {
        remaining.min(FALLBACK_STEP)
    } else {
        remaining
    };
    if pfds.is_empty() {
        std::thread::sleep(step);
        return;
    }
    let ts = Timespec {
        tv_sec: step.as_secs() as i64,
        tv_nsec: i64::from(step.subsec_nanos()),
    };
    // EINTR or a spurious wake just returns; the caller's deadline bounds it.
    let _ = poll(&mut pfds, Some(&ts));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child we spawned, killed and reaped even if the test fails.
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn sleeper() -> (Child, Pid, u64) {
        let child = Child(
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn sleep (coreutils)"),
        );
        let pid = child.0.id() as Pid;
        let start = procfs::start_time(pid).expect("child start time");
        (child, pid, start)
    }

    #[test]
    fn another_start_time_is_not_pinned() {
        let (_child, pid, start) = sleeper();
        match open(pid, start + 1) {
            Opened::Mismatch(why) => assert!(why.contains("pid reused"), "{why}"),
            other => panic!("expected a mismatch, got {other:?}"),
        }
        assert_eq!(procfs::start_time(pid), Some(start), "still alive");
    }

    #[test]
    fn a_pinned_process_is_signalled_and_seen_to_exit() {
        let (_child, pid, start) = sleeper();
        let Opened::Same(p) = open(pid, start) else {
            panic!("the child could not be pinned");
        };
        assert_eq!(p.pid(), pid);
        assert!(!p.is_dead());
        p.signal(15).expect("SIGTERM through the pidfd");
        // Bounded: the pidfd wakes us at exit; a zombie counts as dead.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !p.is_dead() && Instant::now() < deadline {
            wait_any([&p], deadline);
        }
        assert!(p.is_dead(), "sleep survived SIGTERM");
    }

    #[test]
    fn a_vanished_pid_is_gone() {
        let (mut child, pid, start) = sleeper();
        let _ = child.0.kill();
        let _ = child.0.wait();
        assert!(matches!(open(pid, start), Opened::Gone(_)));
    }
}
