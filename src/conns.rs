//! Who is connected to a listener: connection counts per TCP listener and
//! the local client processes.
//!
//! "Is anyone still connected?" tells a stuck server (queue full, nobody
//! established: it stopped accepting) from a busy one, and explains why a
//! port that nothing listens on still cannot be bound. The connections come
//! from the same sock_diag dump as the listeners (only the states counted
//! here are asked for); this module matches them to listeners — a pure
//! function of the two tables — and names the client sockets whose holders
//! the scan's fd walk should find.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::Serialize;

use crate::model::{Pid, Proto, Socket};
use crate::os::sockdiag::{Conn, ConnState};

/// Most clients listed per listener; the counts are always complete.
pub const MAX_CLIENTS: usize = 256;

/// Connections on one TCP listener's local address and port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Connections {
    /// ESTABLISHED.
    pub established: u32,
    /// SYN_RECV: handshakes in progress.
    pub syn_recv: u32,
    /// CLOSE_WAIT: the client closed, the server has not.
    pub close_wait: u32,
    /// TIME_WAIT: closed; the address stays reserved for a while.
    pub time_wait: u32,
    /// Established connections whose peer is on this machine, with the
    /// client process when visible (at most [`MAX_CLIENTS`]).
    pub clients: Vec<Client>,
}

/// The local end of a connection to a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Client {
    /// The client process, when its fd was seen (`null` otherwise).
    pub pid: Option<Pid>,
    /// Its `comm`.
    pub name: Option<String>,
    /// The client's address.
    pub addr: IpAddr,
    /// The client's port.
    pub port: u16,
    /// The client socket's inode (0 when unknown); not in JSON.
    #[serde(skip)]
    pub inode: u64,
}

/// Match connections to listeners: counts per listener inode, and clients
/// (without pids yet — see [`Client::inode`]). A connection belongs to the
/// listener bound to its exact local address, else to the wildcard
/// listener of its family on that port. A connection's client is local
/// when the table also holds the reverse connection.
pub fn attribute(listeners: &[Socket], conns: &[Conn]) -> BTreeMap<u64, Connections> {
    let mut by_port: HashMap<u16, Vec<&Socket>> = HashMap::new();
    for s in listeners.iter().filter(|s| s.proto == Proto::Tcp) {
        by_port.entry(s.port).or_default().push(s);
    }
    let mut out: BTreeMap<u64, Connections> = by_port
        .values()
        .flatten()
        .map(|s| (s.inode, Connections::default()))
        .collect();
    // (local, lport, remote, rport) → inode, with v4-mapped addresses in
    // their v4 form: a v4 client of a dual-stack listener is AF_INET.
    let ends: HashMap<(IpAddr, u16, IpAddr, u16), u64> = conns
        .iter()
        .map(|c| {
            let k = (
                c.local.to_canonical(),
                c.lport,
                c.remote.to_canonical(),
                c.rport,
            );
            (k, c.inode)
        })
        .collect();
    for c in conns {
        let Some(l) = owner(by_port.get(&c.lport), c.local) else {
            continue;
        };
        let Some(e) = out.get_mut(&l.inode) else {
            continue;
        };
        match c.state {
            ConnState::Established => e.established += 1,
            ConnState::SynRecv => e.syn_recv += 1,
            ConnState::CloseWait => e.close_wait += 1,
            ConnState::TimeWait => e.time_wait += 1,
        }
        if c.state != ConnState::Established || e.clients.len() >= MAX_CLIENTS {
            continue;
        }
        let (ra, la) = (c.remote.to_canonical(), c.local.to_canonical());
        if let Some(&inode) = ends.get(&(ra, c.rport, la, c.lport)) {
            e.clients.push(Client {
                pid: None,
                name: None,
                addr: ra,
                port: c.rport,
                inode,
            });
        }
    }
    for e in out.values_mut() {
        e.clients.sort_by_key(|c| (c.addr, c.port));
    }
    out
}

/// The listener a connection with local address `local` belongs to.
fn owner<'a>(cands: Option<&Vec<&'a Socket>>, local: IpAddr) -> Option<&'a Socket> {
    let cands = cands?;
    cands
        .iter()
        .find(|s| s.addr == local)
        .or_else(|| {
            cands
                .iter()
                .find(|s| s.addr.is_unspecified() && s.addr.is_ipv4() == local.is_ipv4())
        })
        .copied()
}

/// The inodes of every client socket in `conns` (what the fd walk should
/// look for besides the listeners).
pub fn client_inodes(conns: &BTreeMap<u64, Connections>) -> impl Iterator<Item = u64> + '_ {
    conns
        .values()
        .flat_map(|c| c.clients.iter().map(|k| k.inode))
        .filter(|&i| i != 0)
}

/// Fill in each client's pid and name from the scan's inode → holders map
/// (the lowest pid when several processes share the socket).
pub fn name_clients(
    conns: &mut BTreeMap<u64, Connections>,
    holders: &HashMap<u64, std::collections::BTreeSet<Pid>>,
    snap: &crate::model::Snapshot,
) {
    for c in conns.values_mut().flat_map(|c| c.clients.iter_mut()) {
        c.pid = holders.get(&c.inode).and_then(|h| h.first().copied());
        c.name = c.pid.and_then(|p| snap.process(p)).map(|p| p.name.clone());
    }
}

/// A connection on a port after its listener went away, with who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lingering {
    /// The connection.
    pub conn: Conn,
    /// Processes with an fd on it (empty for TIME_WAIT: nobody holds it).
    pub holders: Vec<(Pid, String)>,
}

impl Lingering {
    /// One line: `127.0.0.1:8080 ↔ 127.0.0.1:51234 ESTABLISHED, held by
    /// pid 812 (sshd)`.
    pub fn describe(&self) -> String {
        let ep = |a: IpAddr, p: u16| match a.to_canonical() {
            IpAddr::V4(a) => format!("{a}:{p}"),
            IpAddr::V6(a) => format!("[{a}]:{p}"),
        };
        let state = match self.conn.state {
            ConnState::Established => "ESTABLISHED",
            ConnState::SynRecv => "SYN_RECV",
            ConnState::CloseWait => "CLOSE_WAIT",
            ConnState::TimeWait => "TIME_WAIT",
        };
        let who = if self.holders.is_empty() {
            if self.conn.state == ConnState::TimeWait {
                "held by the kernel until the TIME_WAIT timer ends".to_string()
            } else {
                "holder not visible".to_string()
            }
        } else {
            let names: Vec<String> = self
                .holders
                .iter()
                .map(|(p, n)| format!("pid {p} ({})", crate::escape::escape(n)))
                .collect();
            format!("held by {}", names.join(", "))
        };
        format!(
            "{} ↔ {} {state}, {who}",
            ep(self.conn.local, self.conn.lport),
            ep(self.conn.remote, self.conn.rport)
        )
    }
}

/// Connections whose local port is `port`, with their holders (an fd walk
/// of every visible process: meant for the end of a kill or a wait, not a
/// refresh loop).
pub fn lingering(port: u16) -> crate::Result<Vec<Lingering>> {
    use crate::os::{procfs, sockdiag::SockDiag};
    let mut conns = match SockDiag::open() {
        Ok(mut d) => d.listeners_and_conns(true, false, true).map(|(_, c)| c),
        Err(e) => Err(e),
    }
    .or_else(|_| {
        let mut v = crate::os::procnet::conns(crate::model::Family::Ipv4)?;
        v.extend(crate::os::procnet::conns(crate::model::Family::Ipv6)?);
        Ok::<_, std::io::Error>(v)
    })
    .map_err(crate::Error::SockDiag)?;
    conns.retain(|c| c.lport == port);
    let want: std::collections::HashSet<u64> =
        conns.iter().map(|c| c.inode).filter(|&i| i != 0).collect();
    let mut held: HashMap<u64, Vec<(Pid, String)>> = HashMap::new();
    if !want.is_empty() {
        let root = procfs::ProcRoot::open().map_err(crate::Error::Proc)?;
        let mut buf = [0u8; 1024];
        for (pid, _) in root.pids().map_err(crate::Error::Proc)? {
            let Ok(dir) = root.fd_dir(pid) else { continue };
            let found = dir.socket_fds(&want).found;
            if found.is_empty() {
                continue;
            }
            let name = root.stat(pid, &mut buf).map(|s| s.name).unwrap_or_default();
            for inode in found {
                held.entry(inode).or_default().push((pid, name.clone()));
            }
        }
    }
    Ok(conns
        .into_iter()
        .map(|conn| Lingering {
            holders: held.remove(&conn.inode).unwrap_or_default(),
            conn,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Sock;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn conn(
        local: IpAddr,
        lport: u16,
        remote: IpAddr,
        rport: u16,
        st: ConnState,
        inode: u64,
    ) -> Conn {
        Conn {
            local,
            lport,
            remote,
            rport,
            state: st,
            inode,
        }
    }

    #[test]
    fn counts_and_local_clients() {
        let l = Sock::tcp(8080).holders(&[10]).build();
        let conns = vec![
            // Two local clients (both ends in the table), one remote.
            conn(LO, 8080, LO, 50001, ConnState::Established, 1),
            conn(LO, 50001, LO, 8080, ConnState::Established, 2),
            conn(LO, 8080, LO, 50002, ConnState::Established, 3),
            conn(LO, 50002, LO, 8080, ConnState::Established, 4),
            conn(
                LO,
                8080,
                "10.0.0.9".parse().expect("ip"),
                40000,
                ConnState::Established,
                5,
            ),
            conn(LO, 8080, LO, 50003, ConnState::TimeWait, 0),
            conn(LO, 8080, LO, 50004, ConnState::CloseWait, 6),
            conn(LO, 8080, LO, 50005, ConnState::SynRecv, 0),
            // Another port: not ours.
            conn(LO, 9090, LO, 50006, ConnState::Established, 7),
        ];
        let m = attribute(std::slice::from_ref(&l), &conns);
        let c = &m[&l.inode];
        assert_eq!(
            (c.established, c.syn_recv, c.close_wait, c.time_wait),
            (3, 1, 1, 1)
        );
        let clients: Vec<(u16, u64)> = c.clients.iter().map(|k| (k.port, k.inode)).collect();
        assert_eq!(clients, vec![(50001, 2), (50002, 4)]);
        assert_eq!(client_inodes(&m).collect::<Vec<_>>(), vec![2, 4]);
    }

    #[test]
    fn exact_address_wins_over_wildcard_and_v4_mapped_matches() {
        let mut any6 = Sock::tcp(8080).holders(&[10]).build();
        any6.addr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        any6.family = crate::model::Family::Ipv6;
        any6.inode = 1;
        let mut lo = Sock::tcp(8080).holders(&[11]).build();
        lo.inode = 2;
        let mut any4 = Sock::tcp(8080).holders(&[12]).build();
        any4.addr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        any4.inode = 3;
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().expect("ip");
        let conns = vec![
            conn(LO, 8080, LO, 1, ConnState::Established, 0),
            conn(
                "127.0.0.2".parse().expect("ip"),
                8080,
                LO,
                2,
                ConnState::Established,
                0,
            ),
            conn(mapped, 8080, mapped, 3, ConnState::Established, 0),
        ];
        let m = attribute(&[any6, lo, any4], &conns);
        let est: Vec<u32> = (1..=3).map(|i| m[&i].established).collect();
        assert_eq!(est, vec![1, 1, 1]);
    }

    #[test]
    fn udp_listeners_get_no_counts() {
        let mut u = Sock::tcp(53).holders(&[10]).build();
        u.proto = Proto::Udp;
        assert!(attribute(&[u], &[]).is_empty());
    }
}
