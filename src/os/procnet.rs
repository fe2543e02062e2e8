//! Fallback socket table: `/proc/net/{tcp,tcp6,udp,udp6}`.
//!
//! sock_diag is the primary source (filtered in the kernel, and it has the
//! listen backlog). But some environments answer netlink with an error — a
//! sandboxing runtime without sock_diag, a seccomp profile that blocks
//! netlink sockets, a kernel built without `inet_diag` — while still
//! offering the procfs tables. Rather than fail, read those: same sockets,
//! no backlog (so `stuck` cannot be judged and is left false).
//!
//! Connection counts work here too: the same tables list every TCP
//! connection (TIME_WAIT and SYN_RECV included), so [`conns`] gives the
//! same [`Conn`]s sock_diag would — at the price of the kernel formatting
//! every socket of the namespace as text.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{Family, Proto, SockState, Socket};
use crate::os::sockdiag::{Conn, ConnState};

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

/// TCP connections of one family from `/proc/net/tcp{,6}` in the states a
/// listener's counts need.
pub fn conns(family: Family) -> io::Result<Vec<Conn>> {
    let file = match family {
        Family::Ipv4 => "tcp",
        Family::Ipv6 => "tcp6",
    };
    match std::fs::read_to_string(format!("{}/net/{file}", super::procfs::PROC)) {
        Ok(text) => Ok(parse_conns(&text, family)),
        Err(e) if e.kind() == io::ErrorKind::NotFound && family == Family::Ipv6 => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Parse the connections (ESTABLISHED, SYN_RECV, CLOSE_WAIT, TIME_WAIT) of
/// one `/proc/net/tcp{,6}` text.
pub fn parse_conns(text: &str, family: Family) -> Vec<Conn> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_ascii_whitespace().collect();
            let state = ConnState::from_kernel(u8::from_str_radix(f.get(3)?, 16).ok()?)?;
            let (local, lport) = endpoint(f.get(1)?, family)?;
            let (remote, rport) = endpoint(f.get(2)?, family)?;
            Some(Conn {
                local,
                lport,
                remote,
                rport,
                state,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
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
    fn parses_connections_in_the_counted_states() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0 100 0 0 10 0
   2: 0100007F:1F90 0100007F:C351 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0
   3: 0100007F:1F90 0100007F:C352 08 00000000:00000000 00:00000000 00000000  1000        0 4244 1 0 100 0 0 10 0
   4: 0100007F:1F90 0100007F:C353 04 00000000:00000000 00:00000000 00000000  1000        0 4245 1 0 100 0 0 10 0
";
        let v = parse_conns(text, Family::Ipv4);
        let got: Vec<(u16, ConnState, u64)> =
            v.iter().map(|c| (c.rport, c.state, c.inode)).collect();
        assert_eq!(
            got,
            vec![
                (0xC350, ConnState::Established, 4243),
                (0xC351, ConnState::TimeWait, 0),
                (0xC352, ConnState::CloseWait, 4244),
            ]
        );
        assert_eq!(v[0].local.to_string(), "127.0.0.1");
        assert_eq!(v[0].lport, 8080);
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
