//! The reads behind [`crate::evidence`]: a process's cwd, the targets of
//! its fds 0–2, the supervisor variables of its environment, and which
//! processes read a pipe. Like the rest of `/proc`, any of it may be gone
//! or not ours to read: that gives empty facts, never an error.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// Which of `pids` hold each pipe of `pipes` open for reading: a walk of
/// their fd tables (links only; `fdinfo` just for the hits).
pub fn pipe_readers(
    pids: impl Iterator<Item = Pid>,
    pipes: &BTreeSet<u64>,
) -> HashMap<u64, Vec<Pid>> {
    let mut out: HashMap<u64, Vec<Pid>> = HashMap::new();
    for pid in pids {
        let Ok(dir) = fs::read_dir(format!("{PROC}/{pid}/fd")) else {
            continue;
        };
        for entry in dir.flatten() {
            let Ok(target) = fs::read_link(entry.path()) else {
                continue;
            };
            let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("pipe:["))
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|d| d.parse::<u64>().ok())
            else {
                continue;
            };
            if !pipes.contains(&inode) {
                continue;
            }
            let name = entry.file_name();
            let info =
                fs::read_to_string(format!("{PROC}/{pid}/fdinfo/{}", name.to_string_lossy()))
                    .unwrap_or_default();
            // O_ACCMODE 0 is O_RDONLY: the read end.
            let read_end = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                .is_some_and(|f| f & 3 == 0);
            if read_end {
                let v = out.entry(inode).or_default();
                if !v.contains(&pid) {
                    v.push(pid);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_facts_and_pipe_reader() {
        // Our own stdin/stdout are whatever the runner gave us; a pipe we
        // create ourselves has a known reader: us.
        let (r, w) = rustix::pipe::pipe().expect("pipe");
        let me = std::process::id() as Pid;
        let f = read_facts(me);
        assert!(f.cwd.is_some());
        let inode = rustix::fs::fstat(&w).expect("fstat").st_ino;
        let readers = pipe_readers([me].into_iter(), &BTreeSet::from([inode]));
        assert_eq!(readers.get(&inode), Some(&vec![me]));
        drop(r);
        let readers = pipe_readers([me].into_iter(), &BTreeSet::from([inode]));
        assert_eq!(readers.get(&inode), None, "only the write end is left");
    }
}
