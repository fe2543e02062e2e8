//! What changed between scans: listeners that appeared, closed, changed
//! holders, respawned, got stuck or recovered.
//!
//! `portwarden watch` and the TUI's event log both feed successive
//! snapshots of the same incremental [`crate::discover::Scanner`] into one
//! [`Tracker`], a pure state machine (time is passed in), so the event
//! rules are unit-tested with literal snapshots. A listener that lives
//! across two scans is always seen by at least one of them: polling at a
//! fixed interval, one that lives longer than the interval cannot be missed.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::Serialize;

use crate::classify::{Class, Verdict};
use crate::model::{Pid, Proto, Snapshot, Socket};

/// How long after a close a new holder on the same address and port counts
/// as a respawn (a supervisor restarting its child) rather than a new
/// listener.
pub const RESPAWN_WATCH_MS: u64 = 10_000;

/// The kind of an event (the `event` field of `watch --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A new listener, with its holder.
    Listen,
    /// A listener is gone, with how long it lived.
    Close,
    /// The holders of a socket changed.
    Holder,
    /// A port closed and listened again within the respawn window, by
    /// another pid.
    Respawn,
    /// The accept queue became full.
    Stuck,
    /// The accept queue is no longer full.
    Unstuck,
}

impl Kind {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Listen => "listen",
            Kind::Close => "close",
            Kind::Holder => "holder",
            Kind::Respawn => "respawn",
            Kind::Stuck => "stuck",
            Kind::Unstuck => "unstuck",
        }
    }
}

/// One event. Optional fields are left out of JSON when they do not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// When it was seen, milliseconds since the Unix epoch (JSON: `time`,
    /// RFC 3339 UTC, added by the printer).
    #[serde(skip)]
    pub at_ms: u64,
    /// What happened.
    #[serde(rename = "event")]
    pub kind: Kind,
    /// `tcp` or `udp`.
    pub proto: Proto,
    /// Bind address.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// The (first) holder: the new one for listen/holder/respawn, the last
    /// one seen for close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<Pid>,
    /// Its `comm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<Class>,
    /// Its project's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// respawn: the pid that held the port before; holder: the previous
    /// first holder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_pid: Option<Pid>,
    /// respawn: the new holder's parent (the supervisor, usually).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppid: Option<Pid>,
    /// holder: every holder now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holders: Option<Vec<Pid>>,
    /// close: how long it lived, in milliseconds (from when it was first
    /// seen, or its holder's start for listeners already there at start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lived_ms: Option<u64>,
    /// stuck/unstuck: the accept queue and backlog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_queue: Option<u32>,
    /// stuck/unstuck: the listen backlog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backlog: Option<u32>,
    /// stuck/unstuck: established connections at the time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub established: Option<u32>,
}

impl Event {
    fn new(kind: Kind, at_ms: u64, s: &Seen) -> Self {
        Event {
            at_ms,
            kind,
            proto: s.proto,
            addr: s.addr,
            port: s.port,
            pid: s.holders.first().copied(),
            name: s.name.clone(),
            class: s.class,
            project: s.project.clone(),
            old_pid: None,
            ppid: None,
            holders: None,
            lived_ms: None,
            accept_queue: None,
            backlog: None,
            established: None,
        }
    }

    /// One line for a person: `12:00:01 close tcp 127.0.0.1:3000 — pid
    /// 4242 node (orphan), lived 2h 3m`. Process-supplied text is escaped.
    pub fn describe(&self) -> String {
        let ep = match self.addr {
            IpAddr::V4(a) => format!("{a}:{}", self.port),
            IpAddr::V6(a) => format!("[{a}]:{}", self.port),
        };
        let mut s = format!("{} {} {ep}", self.kind.as_str(), self.proto);
        if let Some(pid) = self.pid {
            s.push_str(&format!(" — pid {pid}"));
            if let Some(n) = &self.name {
                s.push_str(&format!(" {}", crate::escape::escape(n)));
            }
            if let Some(c) = self.class {
                s.push_str(&format!(" ({})", c.as_str()));
            }
        }
        if let Some(p) = &self.project {
            s.push_str(&format!(" [{}]", crate::escape::escape(p)));
        }
        if let Some(old) = self.old_pid {
            s.push_str(&format!(", was pid {old}"));
        }
        if let Some(pp) = self.ppid {
            s.push_str(&format!(", parent {pp}"));
        }
        if let Some(h) = &self.holders {
            let h: Vec<String> = h.iter().map(|p| p.to_string()).collect();
            s.push_str(&format!(", holders now {}", h.join(",")));
        }
        if let Some(ms) = self.lived_ms {
            s.push_str(&format!(", lived {}", crate::timefmt::age(ms / 1000)));
        }
        if let (Some(q), Some(b)) = (self.accept_queue, self.backlog) {
            s.push_str(&format!(", queue {q}/{b}"));
        }
        if let Some(e) = self.established {
            s.push_str(&format!(", {e} established"));
        }
        s
    }
}

/// Milliseconds since the epoch → `2026-11-25T19:00:00.123Z`.
pub fn rfc3339_ms(ms: u64) -> String {
    format!(
        "{}.{:03}Z",
        crate::timefmt::utc(ms / 1000).replace(' ', "T"),
        ms % 1000
    )
}

/// What the tracker remembers of one socket.
#[derive(Debug, Clone)]
struct Seen {
    proto: Proto,
    addr: IpAddr,
    port: u16,
    born_ms: u64,
    holders: Vec<Pid>,
    name: Option<String>,
    class: Option<Class>,
    project: Option<String>,
    stuck: bool,
}

/// Turns successive snapshots into [`Event`]s.
#[derive(Debug, Default)]
pub struct Tracker {
    /// (proto, addr, port, inode) → what was seen.
    known: BTreeMap<(Proto, IpAddr, u16, u64), Seen>,
    /// (proto, addr, port) → (when it closed, its last holder).
    closed: HashMap<(Proto, IpAddr, u16), (u64, Option<Pid>)>,
    started: bool,
    /// How many events since the first snapshot.
    pub count: u64,
    /// Respawn window in ms (default [`RESPAWN_WATCH_MS`]).
    pub respawn_watch_ms: u64,
}

impl Tracker {
    /// A tracker that has seen nothing yet: the first snapshot is the
    /// baseline and produces no events.
    pub fn new() -> Self {
        Tracker {
            respawn_watch_ms: RESPAWN_WATCH_MS,
            ..Tracker::default()
        }
    }

    /// The events between the previous snapshot and `snap`, taken at
    /// `now_ms`; `filter` keeps only the sockets of interest.
    pub fn update(
        &mut self,
        snap: &Snapshot,
        verdicts: &BTreeMap<Pid, Verdict>,
        now_ms: u64,
        filter: &dyn Fn(&Socket) -> bool,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let mut next = BTreeMap::new();
        let present: std::collections::HashSet<(Proto, IpAddr, u16, u64)> = snap
            .sockets
            .iter()
            .map(|s| (s.proto, s.addr, s.port, s.inode))
            .collect();
        for s in snap.sockets.iter().filter(|s| filter(s)) {
            let key = (s.proto, s.addr, s.port, s.inode);
            let seen = self.seen(snap, verdicts, s, now_ms, key);
            match self.known.remove(&key) {
                None if self.started => events.push(self.opened(snap, &seen, now_ms, &present)),
                None => {}
                Some(old) => {
                    if old.holders != seen.holders && !seen.holders.is_empty() {
                        let mut e = Event::new(Kind::Holder, now_ms, &seen);
                        e.old_pid = old.holders.first().copied();
                        e.holders = Some(seen.holders.clone());
                        events.push(e);
                    }
                    if old.stuck != seen.stuck {
                        let kind = if seen.stuck {
                            Kind::Stuck
                        } else {
                            Kind::Unstuck
                        };
                        let mut e = Event::new(kind, now_ms, &seen);
                        e.accept_queue = s.accept_queue;
                        e.backlog = s.backlog;
                        e.established = snap.connections.get(&s.inode).map(|c| c.established);
                        events.push(e);
                    }
                }
            }
            next.insert(key, seen);
        }
        for old in std::mem::replace(&mut self.known, next).into_values() {
            let mut e = Event::new(Kind::Close, now_ms, &old);
            e.lived_ms = Some(now_ms.saturating_sub(old.born_ms));
            self.closed.insert(
                (old.proto, old.addr, old.port),
                (now_ms, old.holders.first().copied()),
            );
            events.push(e);
        }
        let window = self.respawn_watch_ms;
        self.closed
            .retain(|_, (at, _)| now_ms.saturating_sub(*at) <= window);
        self.started = true;
        // Closes first: a respawn reads as "gone, then back".
        events.sort_by_key(|e| e.kind != Kind::Close);
        self.count += events.len() as u64;
        events
    }

    /// A listen event, or a respawn when the same address and port closed
    /// within the window under another pid.
    fn opened(
        &mut self,
        snap: &Snapshot,
        seen: &Seen,
        now_ms: u64,
        present: &std::collections::HashSet<(Proto, IpAddr, u16, u64)>,
    ) -> Event {
        let mut e = Event::new(Kind::Listen, now_ms, seen);
        let k = (seen.proto, seen.addr, seen.port);
        // A close seen in this same update is not in `closed` yet.
        let recent = self.closed.get(&k).copied().or_else(|| {
            self.known
                .iter()
                .find(|(key, o)| !present.contains(key) && (o.proto, o.addr, o.port) == k)
                .map(|(_, o)| (now_ms, o.holders.first().copied()))
        });
        if let Some((at, Some(old))) = recent
            && now_ms.saturating_sub(at) <= self.respawn_watch_ms
            && e.pid.is_some_and(|p| p != old)
        {
            e.kind = Kind::Respawn;
            e.old_pid = Some(old);
            e.ppid = e.pid.and_then(|p| snap.process(p)).map(|p| p.ppid);
            self.closed.remove(&k);
        }
        e
    }

    fn seen(
        &self,
        snap: &Snapshot,
        verdicts: &BTreeMap<Pid, Verdict>,
        s: &Socket,
        now_ms: u64,
        key: (Proto, IpAddr, u16, u64),
    ) -> Seen {
        let first = s.holders.first().copied();
        let proc = first.and_then(|p| snap.process(p));
        // Listeners already there at the start: their holder's start is
        // the best guess of when they opened.
        let born_ms = match self.known.get(&key) {
            Some(k) => k.born_ms,
            None if !self.started => proc
                .and_then(|p| snap.started_at(p))
                .map_or(now_ms, |t| t * 1000),
            None => now_ms,
        };
        Seen {
            proto: s.proto,
            addr: s.addr,
            port: s.port,
            born_ms,
            holders: s.holders.clone(),
            name: proc.map(|p| p.name.clone()),
            class: first.and_then(|p| verdicts.get(&p)).map(|v| v.class),
            project: first
                .and_then(|p| snap.contexts.get(&p))
                .and_then(|c| c.project.as_ref())
                .map(|p| p.name.clone()),
            stuck: s.stuck(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Proc, Sock, snap};

    fn run(t: &mut Tracker, s: &Snapshot, now: u64) -> Vec<(Kind, Option<Pid>, Option<Pid>)> {
        let v = crate::classify::classify(s, &crate::testkit::ctx());
        t.update(s, &v, now, &|_| true)
            .into_iter()
            .map(|e| (e.kind, e.pid, e.old_pid))
            .collect()
    }

    #[test]
    fn listen_close_respawn_holder_stuck() {
        let mut t = Tracker::new();
        let a = snap(
            vec![Proc::new(10, "node").build()],
            vec![Sock::tcp(3000).holders(&[10]).build()],
        );
        assert!(run(&mut t, &a, 1_000).is_empty(), "the baseline is silent");
        let empty = snap(vec![], vec![]);
        let ev = t.update(&empty, &BTreeMap::new(), 5_000, &|_| true);
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].kind, ev[0].pid), (Kind::Close, Some(10)));
        // Respawned by a supervisor (pid 7) as pid 11 within the window.
        let mut b = snap(
            vec![
                Proc::new(7, "sup").build(),
                Proc::new(11, "node").ppid(7).build(),
            ],
            vec![Sock::tcp(3000).holders(&[11]).build()],
        );
        b.sockets[0].inode = 77;
        let ev = t.update(&b, &BTreeMap::new(), 6_000, &|_| true);
        assert_eq!(ev.len(), 1);
        assert_eq!(
            (ev[0].kind, ev[0].pid, ev[0].old_pid, ev[0].ppid),
            (Kind::Respawn, Some(11), Some(10), Some(7))
        );
        // A second holder joins, then the queue fills.
        b.processes
            .insert(12, Proc::new(12, "node").ppid(11).group(11, 11).build());
        b.sockets[0].holders = vec![11, 12];
        assert_eq!(
            run(&mut t, &b, 7_000),
            vec![(Kind::Holder, Some(11), Some(11))]
        );
        b.sockets[0].accept_queue = Some(128);
        assert_eq!(run(&mut t, &b, 8_000), vec![(Kind::Stuck, Some(11), None)]);
        b.sockets[0].accept_queue = Some(0);
        assert_eq!(
            run(&mut t, &b, 9_000),
            vec![(Kind::Unstuck, Some(11), None)]
        );
        // Gone for longer than the window: a plain listen.
        let ev = run(&mut t, &empty, 10_000);
        assert_eq!(ev, vec![(Kind::Close, Some(11), None)]);
        let c = snap(
            vec![Proc::new(20, "node").build()],
            vec![Sock::tcp(3000).holders(&[20]).build()],
        );
        assert_eq!(
            run(&mut t, &c, 30_000),
            vec![(Kind::Listen, Some(20), None)]
        );
        assert_eq!(t.count, 7);
    }

    #[test]
    fn replaced_within_one_interval_is_close_then_respawn() {
        let mut t = Tracker::new();
        let a = snap(
            vec![Proc::new(10, "node").build()],
            vec![Sock::tcp(3000).holders(&[10]).build()],
        );
        run(&mut t, &a, 0);
        let mut b = snap(
            vec![Proc::new(11, "node").build()],
            vec![Sock::tcp(3000).holders(&[11]).build()],
        );
        b.sockets[0].inode = 99;
        let ev = run(&mut t, &b, 2_000);
        assert_eq!(
            ev,
            vec![
                (Kind::Close, Some(10), None),
                (Kind::Respawn, Some(11), Some(10))
            ]
        );
    }

    #[test]
    fn time_is_rfc3339_with_millis() {
        assert_eq!(rfc3339_ms(1_795_633_200_123), "2026-11-25T19:00:00.123Z");
    }
}
