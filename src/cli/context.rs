//! Project and connection context for the CLI: `--project DIR` selection,
//! the PROJECT column of `list`, connections that outlive their listener
//! (after `kill`, in `wait --free`) and `wait --free --bindable`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::CliError;
use portwarden::conns::{Lingering, lingering};
use portwarden::model::{Proto, Snapshot, Socket};
use portwarden::os::sockdiag::ConnState;
use portwarden::spec::PortSpec;

/// `--project DIR` made absolute and canonical (the kernel reports cwds
/// canonical, so `.` and symlinked paths compare right). A directory that
/// does not exist is a usage error.
pub fn project_dir(dir: &Path) -> Result<PathBuf, CliError> {
    std::fs::canonicalize(dir)
        .map_err(|e| CliError::Config(format!("--project {}: {e}", dir.display())))
}

/// Is any holder of `s` working inside `dir`?
pub fn in_project(snap: &Snapshot, s: &Socket, dir: &Path) -> bool {
    s.holders.iter().any(|pid| {
        snap.contexts
            .get(pid)
            .and_then(|c| c.cwd.as_deref())
            .is_some_and(|cwd| Path::new(cwd).starts_with(dir))
    })
}

/// The ports `kill --project DIR` frees: each (proto, port) of a listener
/// inside the project. A port where a listener of someone *outside* the
/// project also listens is left out (a port-wide kill would touch it), and
/// said so in the returned notes.
pub fn project_ports(snap: &Snapshot, dir: &Path) -> (Vec<PortSpec>, Vec<String>) {
    let mut ports: Vec<PortSpec> = Vec::new();
    let mut notes = Vec::new();
    for s in snap.sockets.iter().filter(|s| in_project(snap, s, dir)) {
        let spec = PortSpec {
            proto: Some(s.proto),
            port: s.port,
        };
        if ports.contains(&spec) {
            continue;
        }
        let outside = snap
            .sockets_on(s.port, Some(s.proto))
            .any(|o| !in_project(snap, o, dir));
        if outside {
            let note = format!(
                "{spec} left alone: a listener outside {} also holds it",
                dir.display()
            );
            if !notes.contains(&note) {
                notes.push(note);
            }
            continue;
        }
        ports.push(spec);
    }
    (ports, notes)
}

/// The ports `kill` frees: those named, plus with `--project DIR` those of
/// the project's listeners. `None` (after saying so) when `--project`
/// found nothing, no port was named and no JSON is wanted: exit 0.
pub fn kill_ports(
    args: &super::KillArgs,
    snap: &Snapshot,
    out: &mut super::Out,
) -> Result<Option<Vec<PortSpec>>, CliError> {
    let mut ports = args.ports.clone();
    let Some(dir) = &args.project else {
        return Ok(Some(ports));
    };
    let dir = project_dir(dir)?;
    let (found, notes) = project_ports(snap, &dir);
    for n in &notes {
        eprintln!("portwarden: {}", portwarden::escape::escape(n));
    }
    // With --json an empty plan is still printed (as for a free port).
    if found.is_empty() && ports.is_empty() && !args.json {
        out.line(&format!(
            "no listener of project {} to free",
            portwarden::escape::escape(&dir.display().to_string())
        ))?;
        return Ok(None);
    }
    for p in found {
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    Ok(Some(ports))
}

/// Lines saying which connections on `port` outlive its listener, and who
/// holds them; empty when none. TIME_WAIT sockets are counted, not listed.
pub fn lingering_lines(port: u16) -> Vec<String> {
    let Ok(conns) = lingering(port) else {
        return Vec::new();
    };
    describe_lingering(port, &conns)
}

/// The lines of [`lingering_lines`] for a list already read (pure).
pub fn describe_lingering(port: u16, conns: &[Lingering]) -> Vec<String> {
    let tw = conns
        .iter()
        .filter(|c| c.conn.state == ConnState::TimeWait)
        .count();
    let live: Vec<&Lingering> = conns
        .iter()
        .filter(|c| c.conn.state != ConnState::TimeWait)
        .collect();
    if live.is_empty() && tw == 0 {
        return Vec::new();
    }
    let mut out = vec![format!(
        "note: nothing listens on port {port}, but {} connection(s) on it live on{}",
        live.len(),
        if tw > 0 {
            format!(" (and {tw} in TIME_WAIT)")
        } else {
            String::new()
        }
    )];
    out.extend(live.iter().map(|c| format!("  {}", c.describe())));
    if tw > 0 || !live.is_empty() {
        out.push(format!(
            "  a plain bind() without SO_REUSEADDR fails until they are gone: `portwarden wait {port} --free --bindable`"
        ));
    }
    out
}

/// Can `addr:port` be bound right now without `SO_REUSEADDR`? The probe
/// socket is closed at once.
pub fn bindable(proto: Proto, addr: IpAddr, port: u16) -> bool {
    use rustix::net::{AddressFamily, SocketType};
    let fam = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let ty = match proto {
        Proto::Tcp => SocketType::STREAM,
        Proto::Udp => SocketType::DGRAM,
    };
    let Ok(fd) = rustix::net::socket_with(fam, ty, rustix::net::SocketFlags::CLOEXEC, None) else {
        return false;
    };
    rustix::net::bind(&fd, &SocketAddr::new(addr, port)).is_ok()
}

/// The addresses to probe for `spec`: those its listeners were bound to
/// (read once, before waiting), or the IPv4 wildcard — the address that
/// conflicts with every IPv4 socket on the port.
pub fn probe_addrs(spec: PortSpec) -> Vec<(Proto, IpAddr)> {
    let mut scanner = portwarden::discover::Scanner::new();
    let opts = portwarden::discover::Options::for_proto(spec.proto);
    let mut v: Vec<(Proto, IpAddr)> = scanner
        .sockets(&opts)
        .unwrap_or_default()
        .iter()
        .filter(|s| spec.matches(s.proto, s.port))
        .map(|s| (s.proto, s.addr))
        .collect();
    v.dedup();
    if v.is_empty() {
        v.push((
            spec.proto.unwrap_or(Proto::Tcp),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ));
    }
    v
}

/// Poll every 20 ms until every address in `addrs` can be bound on `port`
/// or `deadline` passes (`false`).
pub fn wait_bindable(port: u16, addrs: &[(Proto, IpAddr)], deadline: Option<Instant>) -> bool {
    loop {
        if addrs.iter().all(|&(p, a)| bindable(p, a, port)) {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portwarden::os::sockdiag::Conn;

    #[test]
    fn lingering_lines_name_holders_and_count_time_wait() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let conn = |rport, state, inode| Conn {
            local: lo,
            lport: 22,
            remote: lo,
            rport,
            state,
            inode,
        };
        let v = vec![
            Lingering {
                conn: conn(50000, ConnState::Established, 5),
                holders: vec![(812, "sshd".into())],
            },
            Lingering {
                conn: conn(50001, ConnState::TimeWait, 0),
                holders: vec![],
            },
        ];
        let lines = describe_lingering(22, &v);
        assert_eq!(
            lines[0],
            "note: nothing listens on port 22, but 1 connection(s) on it live on (and 1 in TIME_WAIT)"
        );
        assert_eq!(
            lines[1],
            "  127.0.0.1:22 ↔ 127.0.0.1:50000 ESTABLISHED, held by pid 812 (sshd)"
        );
        assert!(lines[2].contains("--bindable"));
        assert!(describe_lingering(22, &[]).is_empty());
    }
}
