//! The socket table, straight from the kernel over netlink `sock_diag`.
//!
//! Why not netstat2: it asks the kernel for every TCP state (then filters),
//! drops UDP's remote address so a connected UDP client looks like a
//! listener, truncates inodes to u32 in its API and panics when `/proc` is
//! unreadable. Why not `/proc/net/tcp`: it has no listen backlog, and the
//! kernel formats every socket of the namespace as text. Here we ask for
//! exactly TCP LISTEN and UDP CLOSE (= unconnected) sockets, and the kernel
//! filters before it copies anything.
//!
//! The wire format is a fixed little C struct layout (`linux/inet_diag.h`),
//! built and parsed byte by byte: no `unsafe`, no dependency on a netlink
//! crate's changing API.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

use crate::model::{Family, Proto, SockState, Socket};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const TCP_ESTABLISHED: u8 = 1;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;
const TCP_SYN_RECV: u8 = 3;
const TCP_TIME_WAIT: u8 = 6;
const TCP_CLOSE_WAIT: u8 = 8;

/// The TCP states a listener's connection counts need, as a state mask:
/// ESTABLISHED, SYN_RECV (the kernel adds its NEW_SYN_RECV request
/// sockets), CLOSE_WAIT and TIME_WAIT — not every state.
pub const CONN_STATES: u32 =
    (1 << TCP_ESTABLISHED) | (1 << TCP_SYN_RECV) | (1 << TCP_CLOSE_WAIT) | (1 << TCP_TIME_WAIT);

const NLMSG_HDR: usize = 16;
const REQ_LEN: usize = NLMSG_HDR + 56;
/// `struct inet_diag_msg` up to and including `idiag_inode`.
const MSG_LEN: usize = 72;

/// One open netlink socket, reusable for several dumps.
pub struct SockDiag {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl SockDiag {
    /// Open a `NETLINK_SOCK_DIAG` socket.
    pub fn open() -> io::Result<Self> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            rustix::net::SocketFlags::CLOEXEC,
            Some(rustix::net::netlink::SOCK_DIAG),
        )?;
        Ok(SockDiag {
            fd,
            seq: 0,
            buf: vec![0u8; 64 * 1024],
        })
    }

    /// Every listening socket of the requested protocols, IPv4 and IPv6:
    /// TCP in LISTEN, UDP bound (port ≠ 0) and unconnected.
    pub fn listeners(&mut self, tcp: bool, udp: bool) -> io::Result<Vec<Socket>> {
        self.listeners_and_conns(tcp, udp, false).map(|(l, _)| l)
    }

    /// Like [`SockDiag::listeners`]; with `conns`, the same TCP dumps also
    /// ask for the connection states a listener's connection counts need
    /// ([`CONN_STATES`]) and return those sockets as [`Conn`]s.
    pub fn listeners_and_conns(
        &mut self,
        tcp: bool,
        udp: bool,
        conns: bool,
    ) -> io::Result<(Vec<Socket>, Vec<Conn>)> {
        let mut out = Vec::new();
        let mut cs = Vec::new();
        for (want, proto) in [(tcp, Proto::Tcp), (udp, Proto::Udp)] {
            if !want {
                continue;
            }
            let with_conns = conns && proto == Proto::Tcp;
            for family in [Family::Ipv4, Family::Ipv6] {
                let mut part = Vec::new();
                let mut cpart = Vec::new();
                let states = match proto {
                    Proto::Tcp if with_conns => (1u32 << TCP_LISTEN) | CONN_STATES,
                    Proto::Tcp => 1u32 << TCP_LISTEN,
                    Proto::Udp => 1u32 << TCP_CLOSE,
                };
                let r = self.dump(family, proto, states, |m| {
                    if let Some(s) = parse_msg(m, proto) {
                        part.push(s);
                    } else if with_conns && let Some(c) = parse_conn(m) {
                        cpart.push(c);
                    }
                });
                match r {
                    Ok(()) => {
                        out.append(&mut part);
                        cs.append(&mut cpart);
                    }
                    // netlink said no (sandbox, seccomp, no inet_diag): the
                    // procfs table has the same sockets, minus the backlog.
                    Err(e) => {
                        out.extend(super::procnet::listeners(proto, family).map_err(|_| e)?);
                        if with_conns {
                            cs.extend(super::procnet::conns(family).unwrap_or_default());
                        }
                    }
                }
            }
        }
        Ok((out, cs))
    }

    /// One dump of `family`/`proto` sockets in `states` (a bit per TCP
    /// state); `each` sees every `struct inet_diag_msg`.
    fn dump(
        &mut self,
        family: Family,
        proto: Proto,
        states: u32,
        mut each: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        rustix::net::sendto(
            &self.fd,
            &dump_request(family, proto, states, seq),
            SendFlags::empty(),
            &SocketAddrNetlink::new(0, 0),
        )?;
        loop {
            let (n, _) = rustix::net::recv(&self.fd, &mut self.buf[..], RecvFlags::empty())?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "sock_diag: netlink socket closed mid-dump",
                ));
            }
            if each_message(&self.buf[..n], seq, &mut each)? {
                return Ok(());
            }
        }
    }
}

/// The `SOCK_DIAG_BY_FAMILY` dump request (a netlink header and a
/// `struct inet_diag_req_v2`) for `family`/`proto` sockets in `states`.
fn dump_request(family: Family, proto: Proto, states: u32, seq: u32) -> [u8; REQ_LEN] {
    let ipproto = match proto {
        Proto::Tcp => IPPROTO_TCP,
        Proto::Udp => IPPROTO_UDP,
    };
    let fam = match family {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
    };
    let mut req = [0u8; REQ_LEN];
    req[0..4].copy_from_slice(&(REQ_LEN as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel.
    req[16] = fam;
    req[17] = ipproto;
    // idiag_ext 0, pad 0
    req[20..24].copy_from_slice(&states.to_ne_bytes());
    // inet_diag_sockid all zero: no filter on addresses.
    req
}

/// Hand each `SOCK_DIAG_BY_FAMILY` payload of dump `seq` in one received
/// batch to `each`; whether the dump is done (`NLMSG_DONE`).
fn each_message(batch: &[u8], seq: u32, each: &mut impl FnMut(&[u8])) -> io::Result<bool> {
    let n = batch.len();
    let mut off = 0;
    while off + NLMSG_HDR <= n {
        let h = &batch[off..n];
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let ty = u16::from_ne_bytes([h[4], h[5]]);
        let mseq = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
        if len < NLMSG_HDR || len > h.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "sock_diag: malformed netlink message",
            ));
        }
        if mseq == seq {
            match ty {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let code = h
                        .get(16..20)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(0);
                    // 0 is an ACK.
                    if code != 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                }
                SOCK_DIAG_BY_FAMILY => each(&h[NLMSG_HDR..len]),
                _ => {}
            }
        }
        // Messages are 4-byte aligned.
        off += (len + 3) & !3;
    }
    Ok(false)
}

/// State of a TCP connection, as far as a listener's counts care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// ESTABLISHED.
    Established,
    /// SYN_RECV (handshake not complete).
    SynRecv,
    /// CLOSE_WAIT (the peer closed, this side has not).
    CloseWait,
    /// TIME_WAIT (closed; the address is still reserved for a while).
    TimeWait,
}

impl ConnState {
    /// From the kernel's state number (`/proc/net/tcp` and sock_diag use
    /// the same numbers); `None` for states the counts ignore.
    pub fn from_kernel(state: u8) -> Option<Self> {
        Some(match state {
            TCP_ESTABLISHED => ConnState::Established,
            // 12 is TCP_NEW_SYN_RECV (a request socket) on newer kernels.
            TCP_SYN_RECV | 12 => ConnState::SynRecv,
            TCP_CLOSE_WAIT => ConnState::CloseWait,
            TCP_TIME_WAIT => ConnState::TimeWait,
            _ => return None,
        })
    }
}

/// One TCP connection socket (not a listener).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    /// Local address (v4-mapped IPv6 addresses are kept as the kernel says).
    pub local: IpAddr,
    /// Local port.
    pub lport: u16,
    /// Peer address.
    pub remote: IpAddr,
    /// Peer port.
    pub rport: u16,
    /// State.
    pub state: ConnState,
    /// Socket inode (0 for TIME_WAIT and request sockets: no file).
    pub inode: u64,
}

/// Parse one `struct inet_diag_msg` of a TCP connection in one of the
/// [`CONN_STATES`].
pub fn parse_conn(m: &[u8]) -> Option<Conn> {
    if m.len() < MSG_LEN {
        return None;
    }
    let state = ConnState::from_kernel(m[1])?;
    let id = &m[4..52];
    let addr = |b: &[u8]| -> Option<IpAddr> {
        Some(match m[0] {
            AF_INET => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            AF_INET6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&b[..16]).ok()?)),
            _ => return None,
        })
    };
    Some(Conn {
        local: addr(&id[4..20])?,
        lport: u16::from_be_bytes([id[0], id[1]]),
        remote: addr(&id[20..36])?,
        rport: u16::from_be_bytes([id[2], id[3]]),
        state,
        inode: u64::from(u32::from_ne_bytes([m[68], m[69], m[70], m[71]])),
    })
}

/// Parse one `struct inet_diag_msg`. Returns `None` for sockets that are not
/// listeners after all (UDP with port 0 or a remote peer).
pub fn parse_msg(m: &[u8], proto: Proto) -> Option<Socket> {
    if m.len() < MSG_LEN {
        return None;
    }
    let family = match m[0] {
        AF_INET => Family::Ipv4,
        AF_INET6 => Family::Ipv6,
        _ => return None,
    };
    let state = m[1];
    let id = &m[4..52];
    let sport = u16::from_be_bytes([id[0], id[1]]);
    let dport = u16::from_be_bytes([id[2], id[3]]);
    let src = &id[4..20];
    let dst = &id[20..36];
    let u32_at = |o: usize| u32::from_ne_bytes([m[o], m[o + 1], m[o + 2], m[o + 3]]);
    let rqueue = u32_at(56);
    let wqueue = u32_at(60);
    let uid = u32_at(64);
    let inode = u32_at(68) as u64;
    if sport == 0 {
        return None;
    }
    let addr = match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3])),
        Family::Ipv6 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(src);
            IpAddr::V6(Ipv6Addr::from(b))
        }
    };
    let (sock_state, accept_queue, backlog) = match proto {
        Proto::Tcp => {
            if state != TCP_LISTEN {
                return None;
            }
            (SockState::Listen, Some(rqueue), Some(wqueue))
        }
        Proto::Udp => {
            // A connected UDP socket (state ESTABLISHED, or a peer port set)
            // is a client, not a listener — `ss -lu` leaves it out too.
            if state == TCP_ESTABLISHED || dport != 0 || dst.iter().any(|&b| b != 0) {
                return None;
            }
            (SockState::Unconn, None, None)
        }
    };
    Some(Socket {
        proto,
        family,
        addr,
        port: sport,
        state: sock_state,
        inode,
        uid,
        accept_queue,
        backlog,
        holders: Vec::new(),
        unresolved: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(family: u8, state: u8, sport: u16, dport: u16, src: &[u8], rq: u32, wq: u32) -> Vec<u8> {
        let mut m = vec![0u8; MSG_LEN];
        m[0] = family;
        m[1] = state;
        m[4..6].copy_from_slice(&sport.to_be_bytes());
        m[6..8].copy_from_slice(&dport.to_be_bytes());
        m[8..8 + src.len()].copy_from_slice(src);
        m[56..60].copy_from_slice(&rq.to_ne_bytes());
        m[60..64].copy_from_slice(&wq.to_ne_bytes());
        m[64..68].copy_from_slice(&1000u32.to_ne_bytes());
        m[68..72].copy_from_slice(&4242u32.to_ne_bytes());
        m
    }

    #[test]
    fn parses_tcp_listener_with_queues() {
        let s = parse_msg(
            &msg(AF_INET, TCP_LISTEN, 8080, 0, &[127, 0, 0, 1], 3, 128),
            Proto::Tcp,
        )
        .expect("listener");
        assert_eq!(s.endpoint(), "127.0.0.1:8080");
        assert_eq!(
            (s.accept_queue, s.backlog, s.uid, s.inode),
            (Some(3), Some(128), 1000, 4242)
        );
        assert!(!s.stuck());
    }

    #[test]
    fn parses_connections_in_the_counted_states_only() {
        let mut m = msg(AF_INET, TCP_ESTABLISHED, 8080, 51234, &[127, 0, 0, 1], 0, 0);
        m[24..28].copy_from_slice(&[127, 0, 0, 2]);
        let c = parse_conn(&m).expect("established");
        assert_eq!(
            (c.local.to_string(), c.lport, c.remote.to_string(), c.rport),
            (
                "127.0.0.1".to_string(),
                8080,
                "127.0.0.2".to_string(),
                51234
            )
        );
        assert_eq!((c.state, c.inode), (ConnState::Established, 4242));
        // NEW_SYN_RECV request sockets count as SYN_RECV.
        let m = msg(AF_INET, 12, 8080, 51235, &[127, 0, 0, 1], 0, 0);
        assert_eq!(parse_conn(&m).map(|c| c.state), Some(ConnState::SynRecv));
        let m = msg(AF_INET, TCP_TIME_WAIT, 8080, 51236, &[127, 0, 0, 1], 0, 0);
        assert_eq!(parse_conn(&m).map(|c| c.state), Some(ConnState::TimeWait));
        // LISTEN is not a connection; neither is a short message.
        assert!(parse_conn(&msg(AF_INET, TCP_LISTEN, 8080, 0, &[0; 4], 0, 0)).is_none());
        assert!(parse_conn(&[0u8; 20]).is_none());
        assert_eq!(CONN_STATES, (1 << 1) | (1 << 3) | (1 << 6) | (1 << 8));
    }

    #[test]
    fn full_queue_is_stuck() {
        let s = parse_msg(&msg(AF_INET, TCP_LISTEN, 80, 0, &[0; 4], 5, 5), Proto::Tcp).expect("l");
        assert!(s.stuck());
    }

    #[test]
    fn ipv6_address() {
        let mut loop6 = [0u8; 16];
        loop6[15] = 1;
        let s = parse_msg(&msg(AF_INET6, TCP_CLOSE, 53, 0, &loop6, 0, 0), Proto::Udp).expect("udp");
        assert_eq!(s.endpoint(), "[::1]:53");
        assert_eq!(s.state, SockState::Unconn);
    }

    #[test]
    fn connected_udp_and_port_zero_are_not_listeners() {
        assert!(
            parse_msg(
                &msg(AF_INET, TCP_ESTABLISHED, 5000, 53, &[127, 0, 0, 1], 0, 0),
                Proto::Udp
            )
            .is_none()
        );
        assert!(
            parse_msg(
                &msg(AF_INET, TCP_CLOSE, 5000, 53, &[127, 0, 0, 1], 0, 0),
                Proto::Udp
            )
            .is_none()
        );
        assert!(parse_msg(&msg(AF_INET, TCP_CLOSE, 0, 0, &[0; 4], 0, 0), Proto::Udp).is_none());
        assert!(parse_msg(&[0u8; 10], Proto::Tcp).is_none());
    }
}
