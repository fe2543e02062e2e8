//! Evidence about how a program was started: where its standard streams
//! point, its working directory, and what a supervisor left in its
//! environment.
//!
//! Classification must tell a deliberate daemon (double fork, stdio on
//! `/dev/null`, cwd `/`) from debris of a launcher that died (output still
//! on a pipe nobody reads, still on the dead shell's terminal), and a
//! supervised program from a stray one. None of that is in `/proc/PID/stat`:
//! discovery reads it (through [`crate::os::facts`]) once per scan, for the
//! few processes classification looks at ([`wanted`]), and puts it into the
//! [`crate::Snapshot`] so classification stays a pure function.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Pid, Snapshot};

/// Where one standard stream (fd 0, 1 or 2) points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stream {
    /// `/dev/null`: deliberately detached.
    Null,
    /// A terminal (`/dev/pts/3`, `/dev/tty1`).
    Terminal(String),
    /// A pipe.
    Pipe {
        /// The pipe's inode.
        inode: u64,
        /// Whether any process still holds its read end (`None`: not
        /// checked, or could not be).
        read: Option<bool>,
    },
    /// A regular file (a log).
    File(String),
    /// A socket (the journal, a log collector).
    Socket,
    /// Anything else (an anonymous inode, a device).
    Other(String),
}

impl Stream {
    /// Classify a `/proc/PID/fd/N` link target.
    pub fn from_link(link: &str) -> Stream {
        if link == "/dev/null" {
            Stream::Null
        } else if link.starts_with("/dev/pts/")
            || link.starts_with("/dev/tty")
            || link == "/dev/console"
        {
            Stream::Terminal(link.to_string())
        } else if let Some(inode) = link
            .strip_prefix("pipe:[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|d| d.parse().ok())
        {
            Stream::Pipe { inode, read: None }
        } else if link.starts_with("socket:[") {
            Stream::Socket
        } else if link.starts_with('/') && !link.starts_with("/dev/") {
            Stream::File(link.to_string())
        } else {
            Stream::Other(link.to_string())
        }
    }

    /// The launcher's output channel is dead or is a terminal: what a
    /// deliberate daemon never keeps.
    pub fn is_launcher_context(&self) -> bool {
        match self {
            Stream::Terminal(_) => true,
            Stream::Pipe { read, .. } => *read == Some(false),
            _ => false,
        }
    }

    /// A short description for reasons (`/dev/null`, `a pipe nobody reads`).
    pub fn describe(&self) -> String {
        match self {
            Stream::Null => "/dev/null".to_string(),
            Stream::Terminal(t) => format!("terminal {t}"),
            Stream::Pipe {
                read: Some(false), ..
            } => "a pipe nobody reads any more".to_string(),
            Stream::Pipe {
                read: Some(true), ..
            } => "a pipe that is still read".to_string(),
            Stream::Pipe { read: None, .. } => "a pipe".to_string(),
            Stream::File(f) => format!("file {f}"),
            Stream::Socket => "a socket".to_string(),
            Stream::Other(o) => o.clone(),
        }
    }
}

/// Environment variables a supervisor puts into its children, kept when
/// found (everything else in the environment is left unread).
pub const SUPERVISOR_ENV: &[&str] = &[
    "SUPERVISOR_PROCESS_NAME",
    "SUPERVISOR_GROUP_NAME",
    "SUPERVISOR_SERVER_URL",
    "pm_id",
    "name",
];

/// What was read about one process beyond its stat and details.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Working directory, when readable.
    pub cwd: Option<String>,
    /// fd 0, 1, 2 (`None`: closed or not readable).
    pub stdio: [Option<Stream>; 3],
    /// The [`SUPERVISOR_ENV`] variables found in its environment.
    pub env: BTreeMap<String, String>,
}

/// The processes worth gathering facts for — only what classification
/// reads, so a machine of live programs pays nothing: the leader of each
/// holder's program when it was reparented (daemon or orphan?) or runs
/// under a supervisor that restarts it (its name is in its environment),
/// and that supervisor (its cwd names a runit/s6 service directory).
pub fn wanted(snap: &Snapshot) -> BTreeSet<Pid> {
    let adopter = |pid: Pid| {
        pid <= 1
            || snap
                .process(pid)
                .is_some_and(|p| crate::classify::SUPERVISORS.contains(&p.name.as_str()))
    };
    let mut out = BTreeSet::new();
    for s in &snap.sockets {
        for &h in &s.holders {
            let Some(p) = snap.process(h) else { continue };
            let leader = crate::program::leader(snap, p, adopter);
            match snap.process(leader.ppid) {
                Some(sup) if crate::program::restarts_children(sup) => {
                    out.insert(leader.pid);
                    out.insert(sup.pid);
                }
                _ if adopter(leader.ppid) => {
                    out.insert(leader.pid);
                }
                _ => {}
            }
        }
    }
    out
}

/// Read the facts of `pids` from `/proc`; for a reparented process, also
/// whether each pipe on its standard streams still has a reader (one
/// non-blocking open per pipe, see [`crate::os::facts::pipe_has_reader`]).
pub fn gather(snap: &Snapshot, pids: &BTreeSet<Pid>) -> BTreeMap<Pid, Facts> {
    // Only a reparented process's pipes matter: a live program's launcher
    // is alive by definition.
    let reparented = |pid: Pid| {
        snap.process(pid).is_some_and(|p| {
            p.ppid <= 1
                || snap
                    .process(p.ppid)
                    .is_some_and(|pp| crate::classify::SUPERVISORS.contains(&pp.name.as_str()))
        })
    };
    pids.iter()
        .map(|&pid| {
            let mut f = crate::os::facts::read_facts(pid);
            if reparented(pid) {
                for (fd, s) in f.stdio.iter_mut().enumerate() {
                    if let Some(Stream::Pipe { read, .. }) = s {
                        *read = crate::os::facts::pipe_has_reader(pid, fd);
                    }
                }
            }
            (pid, f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_links() {
        assert_eq!(Stream::from_link("/dev/null"), Stream::Null);
        assert_eq!(
            Stream::from_link("/dev/pts/3"),
            Stream::Terminal("/dev/pts/3".into())
        );
        assert_eq!(
            Stream::from_link("pipe:[4242]"),
            Stream::Pipe {
                inode: 4242,
                read: None
            }
        );
        assert_eq!(
            Stream::from_link("/var/log/nginx/error.log"),
            Stream::File("/var/log/nginx/error.log".into())
        );
        assert_eq!(Stream::from_link("socket:[77]"), Stream::Socket);
        assert!(
            Stream::Pipe {
                inode: 1,
                read: Some(false)
            }
            .is_launcher_context()
        );
        assert!(
            !Stream::from_link("pipe:[1]").is_launcher_context(),
            "unknown"
        );
        assert!(!Stream::from_link("/dev/null").is_launcher_context());
    }

    #[test]
    fn facts_are_wanted_only_where_classification_reads_them() {
        use crate::testkit::{Proc, Sock, snap};
        let s = snap(
            vec![
                Proc::new(800, "bash").build(),
                // live: a shell's child and its worker
                Proc::new(10, "node").ppid(800).group(10, 800).build(),
                Proc::new(11, "node").ppid(10).group(10, 800).build(),
                // reparented master with a worker
                Proc::new(20, "nginx").uid(0).build(),
                Proc::new(21, "nginx")
                    .ppid(20)
                    .group(20, 20)
                    .uid(65534)
                    .build(),
                // supervised
                Proc::new(30, "supervisord").uid(0).build(),
                Proc::new(31, "python3")
                    .ppid(30)
                    .group(31, 30)
                    .uid(0)
                    .build(),
            ],
            vec![
                Sock::tcp(3000).holders(&[10, 11]).build(),
                Sock::tcp(80).holders(&[20, 21]).build(),
                Sock::tcp(8000).holders(&[31]).build(),
            ],
        );
        assert_eq!(wanted(&s).into_iter().collect::<Vec<_>>(), vec![20, 30, 31]);
    }
}
