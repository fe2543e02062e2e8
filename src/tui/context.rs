//! The TUI's context pieces (issue 13): the PROJECT and CONN columns and
//! the event log (key `e`) fed by the same snapshots as the table (the
//! details pane's project and client lines are drawn by `render/details.rs`
//! from `portwarden::explain`).
//!
//! Kept apart from `render/`/`state.rs` so the table code only gains a
//! few calls: columns appear only when the terminal is wide enough *and*
//! the snapshot has something to put in them. This half is plain data (no
//! app, no screen), so `state` can own an [`EventLog`] without a circle;
//! the drawing half is `render/context.rs`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use portwarden::classify::Verdict;
use portwarden::escape::escape;
use portwarden::events::{Event, Kind, Tracker};
use portwarden::model::{Pid, Proto, Snapshot, Socket};
use portwarden::timefmt::{age, utc};

/// Most events kept for the log.
pub const MAX_EVENTS: usize = 500;
/// A row that appeared this recently (seconds) is marked `+` in the table.
pub const NEW_FOR_SECS: u64 = 60;
/// Narrowest table that gets a CONN column.
pub const CONN_MIN_WIDTH: u16 = 100;
/// Narrowest table that gets a PROJECT column.
pub const PROJECT_MIN_WIDTH: u16 = 120;

/// What changed since the TUI started.
#[derive(Debug)]
pub struct EventLog {
    tracker: Tracker,
    /// Newest first.
    pub events: VecDeque<Event>,
    /// (proto, addr, port) → when it last appeared (listen or respawn),
    /// seconds since the epoch.
    appeared: HashMap<(Proto, IpAddr, u16), u64>,
    /// The log overlay is open.
    pub open: bool,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog {
            tracker: Tracker::new(),
            events: VecDeque::new(),
            appeared: HashMap::new(),
            open: false,
        }
    }
}

impl EventLog {
    /// Feed a snapshot taken at `now` (seconds since the epoch).
    pub fn observe(
        &mut self,
        snap: &Snapshot,
        verdicts: &std::collections::BTreeMap<Pid, Verdict>,
        now: u64,
    ) {
        for e in self.tracker.update(snap, verdicts, now * 1000, &|_| true) {
            if matches!(e.kind, Kind::Listen | Kind::Respawn) {
                self.appeared.insert((e.proto, e.addr, e.port), now);
            }
            self.events.push_front(e);
        }
        self.events.truncate(MAX_EVENTS);
        self.appeared
            .retain(|_, at| now.saturating_sub(*at) < NEW_FOR_SECS);
    }

    /// Events since the TUI started (the header's count).
    pub fn count(&self) -> u64 {
        self.tracker.count
    }

    /// Did `s` appear in the last minute?
    pub fn is_new(&self, s: &Socket, now: u64) -> bool {
        self.appeared
            .get(&(s.proto, s.addr, s.port))
            .is_some_and(|&at| now.saturating_sub(at) < NEW_FOR_SECS)
    }
}

/// `3000 freed 12s ago — node (orphan), lived 2h 5m`: one log line.
pub fn log_line(e: &Event, now: u64) -> String {
    let at = e.at_ms / 1000;
    let when = format!(
        "{} {:>9}",
        utc(at).get(11..).unwrap_or_default(),
        format!("{} ago", age(now.saturating_sub(at)))
    );
    let who = match (e.pid, &e.name) {
        (Some(p), Some(n)) => format!(
            "{} pid {p}{}",
            escape(n),
            e.class
                .map(|c| format!(" ({})", c.as_str()))
                .unwrap_or_default()
        ),
        (Some(p), None) => format!("pid {p}"),
        _ => "no visible holder".into(),
    };
    let proj = e
        .project
        .as_deref()
        .map(|p| format!(" [{}]", escape(p)))
        .unwrap_or_default();
    let port = format!("{}/{}", e.port, e.proto);
    let what = match e.kind {
        Kind::Listen => format!("{port} listening — {who}{proj}"),
        Kind::Close => format!(
            "{port} freed — {who}{proj}, lived {}",
            age(e.lived_ms.unwrap_or(0) / 1000)
        ),
        Kind::Respawn => format!(
            "{port} respawned — {who}, was pid {}{}",
            e.old_pid
                .map(|p| p.to_string())
                .unwrap_or_else(|| "?".into()),
            e.ppid.map(|p| format!(", parent {p}")).unwrap_or_default()
        ),
        Kind::Holder => format!(
            "{port} holders now {}",
            e.holders
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::Stuck => format!(
            "{port} STUCK — queue {}/{}, {} established{}",
            e.accept_queue.unwrap_or(0),
            e.backlog.unwrap_or(0),
            e.established
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into()),
            if e.established.unwrap_or(u32::MAX) <= e.accept_queue.unwrap_or(0) {
                ": stopped accepting"
            } else {
                ""
            }
        ),
        Kind::Unstuck => format!("{port} accepting again — {who}"),
    };
    format!("{when}  {what}")
}

/// `name@branch` of a holder's project, escaped.
pub fn project_label(snap: &Snapshot, pid: Option<Pid>) -> Option<String> {
    let p = snap.contexts.get(&pid?)?.project.as_ref()?;
    Some(escape(&p.label()).into_owned())
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;
    use insta::assert_snapshot;

    use portwarden::conns::{Client, Connections};
    use portwarden::project::{ProcContext, Project};

    use super::*;
    use crate::tui::fixture::*;
    use crate::tui::msg::Msg;
    use crate::tui::state::App;

    /// The fixture machine 30 s later: node's :3000 is gone, the live
    /// python (4000) now has a project, two local clients on :8000 and a
    /// new listener on :5173.
    fn later() -> Snapshot {
        let mut snap = snapshot();
        snap.sockets.retain(|s| s.port != 3000);
        let mut vite = snap
            .sockets
            .iter()
            .find(|s| s.port == 8000)
            .cloned()
            .expect("8000");
        vite.port = 5173;
        vite.inode = 5173;
        snap.sockets.push(vite);
        portwarden::discover::sort_sockets(&mut snap.sockets);
        snap.contexts.insert(
            4000,
            ProcContext {
                cwd: Some("/home/dev/shop/web".into()),
                project: Some(Project {
                    root: "/home/dev/shop".into(),
                    name: "shop".into(),
                    branch: Some("main".into()),
                    worktree: false,
                }),
            },
        );
        let client = |port| Client {
            pid: Some(4300),
            name: Some("curl".into()),
            addr: "::1".parse().expect("ip"),
            port,
            inode: 0,
        };
        snap.connections.insert(
            8000,
            Connections {
                established: 2,
                time_wait: 1,
                clients: vec![client(51234), client(51236)],
                ..Connections::default()
            },
        );
        snap.connections.insert(5000, Connections::default());
        snap
    }

    fn app_later(w: u16, h: u16) -> App {
        let mut app = app_sized(w, h);
        feed(
            &mut app,
            [Msg::Snapshot {
                result: Ok(later()),
                at: NOW + 30,
            }],
        );
        app
    }

    #[test]
    fn context_columns_and_new_rows() {
        let app = app_later(150, 16);
        assert_eq!(app.events.count(), 2);
        let screen = draw(&app);
        assert!(screen.contains("2 events"), "{screen}");
        assert!(screen.contains("+tcp"), "{screen}");
        assert!(screen.contains("shop@main"), "{screen}");
        assert_snapshot!(screen);
    }

    #[test]
    fn event_log_shows_a_close() {
        let mut app = app_later(100, 14);
        feed(&mut app, [ch('e')]);
        assert!(app.events.open);
        let screen = draw(&app);
        assert!(screen.contains("3000/tcp freed"), "{screen}");
        assert_snapshot!(screen);
        feed(&mut app, [press(KeyCode::Esc)]);
        assert!(!app.events.open);
    }

    #[test]
    fn details_show_project_and_clients() {
        let mut app = app_later(120, 30);
        let snap = app.snapshot.clone().expect("snapshot");
        let i = app
            .rows
            .iter()
            .position(|r| snap.sockets[r.socket].port == 8000)
            .expect(":8000 row");
        app.select(i);
        feed(&mut app, [press(KeyCode::Enter)]);
        let screen = draw(&app);
        assert!(screen.contains("root /home/dev/shop"), "{screen}");
        assert!(screen.contains("[::1]:51234 pid 4300 curl"), "{screen}");
        assert_snapshot!(screen);
    }

    #[test]
    fn the_filter_matches_projects() {
        let mut app = app_later(120, 30);
        feed(&mut app, [ch('/')]);
        feed(&mut app, typed("shop@"));
        let pids: Vec<Option<Pid>> = app.rows.iter().map(|r| r.pid).collect();
        assert_eq!(pids, vec![Some(4000), Some(4000)]);
    }
}
