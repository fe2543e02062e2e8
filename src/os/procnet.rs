//! Fallback socket table: `/proc/net/{tcp,tcp6,udp,udp6}`.
//!
//! sock_diag is the primary source (filtered in the kernel, and it has the
//! listen backlog). But some environments answer netlink with an error — a
//! sandboxing runtime without sock_diag, a seccomp profile that blocks
//! netlink sockets, a kernel built without `inet_diag` — while still
//! offering the procfs tables. Rather than fail, read those: same sockets,
//! no backlog (so `stuck` cannot be judged and is left false).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{Family, Proto, SockState, Socket};

const TCP_LISTEN: u8 = 0x0A;
const TCP_CLOSE: u8 = 0x07;

/// Listening sockets of one protocol and family from `/proc/net`.
pub fn listeners(proto: Proto, family: Family) -> io::Result<Vec<Socket>> {
    let file = match (proto, family) {
        (Proto::Tcp, Family::Ipv4) => "tcp",
        (Proto::Tcp, Family::Ipv6) => "tcp6",
        (Proto::Udp, Family::Ipv4) => "udp",
        (Proto::Udp, Family::Ipv6) => "udp6",
    };
    match std::fs::read_to_string(format!("{}/net/{file}", super::procfs::PROC)) {
        Ok(text) => Ok(parse(&text, proto, family)),
        // A kernel booted without IPv6 has no tcp6/udp6: no v6 sockets.
        Err(e) if e.kind() == io::ErrorKind::NotFound && family == Family::Ipv6 => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Parse the text of one `/proc/net` socket table, keeping listeners only
/// (TCP in LISTEN; UDP unconnected, bound to a port).
pub fn parse(text: &str, proto: Proto, family: Family) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|l| parse_line(l, proto, family))
        .collect()
}

fn parse_line(line: &str, proto: Proto, family: Family) -> Option<Socket> {
    let f: Vec<&str> = line.split_ascii_whitespace().collect();
    let (local, remote, state) = (f.get(1)?, f.get(2)?, f.get(3)?);
    let state = u8::from_str_radix(state, 16).ok()?;
    let (addr, port) = endpoint(local, family)?;
    let (raddr, rport) = endpoint(remote, family)?;
    if port == 0 {
        return None;
    }
    let queues = f.get(4)?;
    let (_tx, rx) = queues.split_once(':')?;
    let rx = u32::from_str_radix(rx, 16).ok()?;
    let uid = f.get(7)?.parse().ok()?;
    let inode = f.get(9)?.parse().ok()?;
    let (sock_state, accept_queue) = match proto {
        Proto::Tcp if state == TCP_LISTEN => (SockState::Listen, Some(rx)),
        Proto::Udp if state == TCP_CLOSE && rport == 0 && raddr.is_unspecified() => {
            (SockState::Unconn, None)
        }
        _ => return None,
    };
    Some(Socket {
        proto,
        family,
        addr,
        port,
        state: sock_state,
        inode,
        uid,
        accept_queue,
        // The backlog is not in /proc/net: unknown, so never "stuck".
        backlog: None,
        holders: Vec::new(),
        unresolved: None,
    })
}

/// One TCP connection's local end and state, as `/proc/net/tcp{,6}` lists
/// it: what the metrics count per listener (`ESTABLISHED`, `TIME_WAIT`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    /// Local address.
    pub addr: IpAddr,
    /// Local port.
    pub port: u16,
    /// Kernel TCP state number (1 = ESTABLISHED … 11 = CLOSING).
    pub state: u8,
}

/// Every TCP socket that is not a listener, of one family, from `/proc/net`.
/// sock_diag is kept to listeners on purpose (the scan stays small); this
/// is read only by `portwarden metrics`, which wants per-state counts.
pub fn tcp_connections(family: Family) -> io::Result<Vec<Conn>> {
    let file = match family {
        Family::Ipv4 => "tcp",
        Family::Ipv6 => "tcp6",
    };
    match std::fs::read_to_string(format!("{}/net/{file}", super::procfs::PROC)) {
        Ok(text) => Ok(parse_connections(&text, family)),
        Err(e) if e.kind() == io::ErrorKind::NotFound && family == Family::Ipv6 => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Parse the text of `/proc/net/tcp{,6}`, keeping every non-listening row.
pub fn parse_connections(text: &str, family: Family) -> Vec<Conn> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_ascii_whitespace().collect();
            let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
            let (addr, port) = endpoint(f.get(1)?, family)?;
            (state != TCP_LISTEN).then_some(Conn { addr, port, state })
        })
        .collect()
}

/// The name `ss` gives a kernel TCP state number.
pub fn tcp_state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTAB",
        2 => "SYN-SENT",
        3 => "SYN-RECV",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        7 => "CLOSE",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// `0100007F:1F90` → 127.0.0.1:8080. Addresses are 32-bit words printed in
/// host byte order; the port is already in host order.
fn endpoint(s: &str, family: Family) -> Option<(IpAddr, u16)> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(a.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    let addr = match family {
        Family::Ipv4 if a.len() == 8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        Family::Ipv6 if a.len() == 32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((addr, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_keep_every_non_listening_row() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 11 1
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 12 1
   2: 0100007F:1F90 0100007F:C351 06 00000000:00000000 00:00000000 00000000  1000        0 0 1
";
        let c = parse_connections(text, Family::Ipv4);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].port, c[0].state, c[1].state), (8080, 1, 6));
        assert_eq!(c[0].addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(tcp_state_name(c[1].state), "TIME-WAIT");
    }

    #[test]
    fn parses_tcp_listeners_and_skips_connections() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0 100 0 0 10 0
";
        let v = parse(text, Proto::Tcp, Family::Ipv4);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].endpoint(), "127.0.0.1:8080");
        assert_eq!(
            (v[0].inode, v[0].uid, v[0].accept_queue, v[0].backlog),
            (4242, 1000, Some(3), None)
        );
        assert!(!v[0].stuck());
    }

    #[test]
    fn parses_udp6_and_skips_connected_clients() {
        let text = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  10: 00000000000000000000000001000000:14E9 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 77 2 0 0
  11: 00000000000000000000000001000000:C000 00000000000000000000000001000000:0035 01 00000000:00000000 00:00000000 00000000     0        0 78 2 0 0
";
        let v = parse(text, Proto::Udp, Family::Ipv6);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].endpoint(), "[::1]:5353");
        assert_eq!(v[0].state, SockState::Unconn);
    }

    #[test]
    fn agrees_with_sock_diag_here() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let v = listeners(Proto::Tcp, Family::Ipv4).expect("/proc/net/tcp");
        assert!(
            v.iter().any(|s| s.port == port),
            "{port} not in /proc/net/tcp"
        );
    }
}
