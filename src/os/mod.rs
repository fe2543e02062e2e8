//! The platform seam: every read of the live system goes through here.
//!
//! Above this line (classify, kill planning, tree, render) everything is a
//! pure function of [`crate::model`] data. Below it: netlink `sock_diag` for
//! the socket table ([`sockdiag`]), `/proc` for processes ([`procfs`]) and,
//! as root, a BPF iterator for which process holds which socket ([`bpf`]);
//! container engines' APIs and state for the containers behind a port
//! ([`engine`]); pidfds to signal exactly the planned process and wait for
//! its exit ([`pidfd`]).
//! Linux only: sock_diag and pidfds are what make portwarden correct and fast.

pub mod bpf;
pub mod engine;
pub mod facts;
pub mod pidfd;
pub mod procfs;
pub mod procnet;
pub mod sockdiag;

use std::collections::HashMap;

use crate::model::Pid;

/// The parent chain of `pid` (parent first, up to init), read from `/proc`.
pub fn ancestors_of(pid: Pid) -> Vec<Pid> {
    let mut out = Vec::new();
    let mut cur = pid;
    // Bounded: a pid chain deeper than this would be a kernel bug or a race.
    for _ in 0..4096 {
        let Some(st) = procfs::stat(cur) else { break };
        if st.ppid <= 0 || out.contains(&st.ppid) {
            break;
        }
        out.push(st.ppid);
        cur = st.ppid;
    }
    out
}

/// Clock ticks per second (the unit of `start_time`).
pub fn clk_tck() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|&v| v > 0)
        .unwrap_or(100)
}

/// Boot time in seconds since the epoch, via sysinfo (reads `/proc/stat`).
pub fn boot_time() -> u64 {
    sysinfo::System::boot_time().unwrap_or(0)
}

/// Resolves uids to user names through NSS (`getpwuid_r`), remembering
/// answers: a scan asks about the same few uids over and over.
#[derive(Debug, Default)]
pub struct Users {
    cache: HashMap<u32, Option<String>>,
}

impl Users {
    /// The name of `uid`, or `None` when it has no passwd entry.
    pub fn name(&mut self, uid: u32) -> Option<String> {
        self.cache
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| crate::escape::decode(u.name.as_bytes()))
            })
            .clone()
    }
}
