//! The TUI's state: plain data plus the pure derivations the update and
//! render functions share (visible rows, the process tree, layout sizes).
//!
//! Nothing here does I/O or reads a clock: the event loop feeds in
//! snapshots, the time and the terminal size as messages, so a test can
//! build an [`App`] from a literal fixture and get the same screen every time.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use portwarden::classify::{self, Class, Context, Verdict};
use portwarden::model::{Pid, Proto, Snapshot, Socket};
pub use portwarden::tree::{TreeKind, TreeLine};

use super::msg::{KillRequest, Planned};

/// Identity of a table row, stable across refreshes: the socket (proto,
/// address, port, inode) and the holder's pid (`None` for a socket without
/// a visible holder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    /// Socket protocol.
    pub proto: Proto,
    /// Bind address.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// Socket inode.
    pub inode: u64,
    /// Holder pid, if any.
    pub pid: Option<Pid>,
}

/// One visible table row: indexes into the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Index into `snapshot.sockets`.
    pub socket: usize,
    /// The holder's pid (`None`: no visible holder).
    pub pid: Option<Pid>,
    /// First visible row of its socket (continuation rows blank the socket
    /// columns).
    pub first: bool,
}

/// The column the table is sorted by; `s` cycles through them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortCol {
    /// ADDR:PORT, by port then protocol and address (the default).
    #[default]
    Port,
    /// PROTO.
    Proto,
    /// PID (of the socket's first holder).
    Pid,
    /// PPID.
    Ppid,
    /// USER.
    User,
    /// CLASS (in precedence order).
    Class,
    /// COMMAND.
    Command,
}

impl SortCol {
    /// The next column in the cycle.
    pub fn next(self) -> Self {
        match self {
            SortCol::Port => SortCol::Proto,
            SortCol::Proto => SortCol::Pid,
            SortCol::Pid => SortCol::Ppid,
            SortCol::Ppid => SortCol::User,
            SortCol::User => SortCol::Class,
            SortCol::Class => SortCol::Command,
            SortCol::Command => SortCol::Port,
        }
    }
}

/// The process tree around one holder, with a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeView {
    /// The holder the tree was opened on.
    pub holder: Pid,
    /// The pid under the cursor (kept across refreshes).
    pub cursor: Pid,
}

/// What is open on top of the table.
pub enum Mode {
    /// Just the table.
    Normal,
    /// The details pane of the selected row.
    Details,
    /// The process tree of a holder.
    Tree(TreeView),
    /// A kill request is being planned.
    Planning(KillRequest),
    /// The plan was refused by policy (foreign, managed, self).
    Refused {
        /// The request that was refused.
        request: KillRequest,
        /// The refused plan.
        planned: Box<Planned>,
    },
    /// Asking for confirmation before signalling anything.
    Confirm {
        /// The request being confirmed.
        request: KillRequest,
        /// The plan that `y` executes.
        planned: Box<Planned>,
        /// First target shown, when the list is longer than the screen.
        scroll: usize,
    },
    /// A confirmed plan is executing.
    Killing {
        /// What is being killed.
        label: String,
        /// Progress lines so far.
        progress: Vec<String>,
    },
}

/// How the last status message should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Neutral.
    Info,
    /// Something worked.
    Good,
    /// Something failed.
    Bad,
}

/// The whole TUI state.
pub struct App {
    /// Who is asking (for classification and kill planning).
    pub ctx: Context,
    /// The latest snapshot; `None` until the first scan arrives.
    pub snapshot: Option<Snapshot>,
    /// Classification of every holder in `snapshot`, computed once per
    /// snapshot.
    pub verdicts: BTreeMap<Pid, Verdict>,
    /// The visible rows, filtered and sorted.
    pub rows: Vec<Row>,
    /// Index into `rows` of the selection.
    pub selected: usize,
    /// First row shown (scroll position).
    pub offset: usize,
    /// Sort column.
    pub sort: SortCol,
    /// Sort descending.
    pub reverse: bool,
    /// The applied filter (empty: none).
    pub filter: String,
    /// The filter being typed, while the filter prompt is open.
    pub filter_input: Option<String>,
    /// What is open.
    pub mode: Mode,
    /// The help overlay is shown (on top of anything).
    pub help: bool,
    /// How far the help overlay is scrolled (short terminals).
    pub help_scroll: u16,
    /// Last status message.
    pub status: Option<(String, Tone)>,
    /// A scan is under way.
    pub scanning: bool,
    /// Last scan error, if the last scan failed.
    pub scan_error: Option<String>,
    /// Wall time of the last snapshot, seconds since the epoch.
    pub updated_at: Option<u64>,
    /// "Now", seconds since the epoch (fed by the event loop, fixed in tests).
    pub now: u64,
    /// Refresh interval (shown in the header).
    pub interval: Duration,
    /// Use colours (false with `NO_COLOR`).
    pub color: bool,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    /// First line shown of the details pane (PgUp/PgDn scroll it).
    pub details_scroll: usize,
    /// First reason line shown of a refusal too long for the screen (↑/↓).
    pub refusal_scroll: usize,
    /// Working directory of a process, read when its details are opened.
    pub cwd: Option<(Pid, Option<String>)>,
    /// Set when the app should exit.
    pub quit: bool,
    /// What changed since start (key `e`).
    pub events: super::context::EventLog,
}

impl App {
    /// A fresh app: no snapshot yet ("scanning…").
    pub fn new(ctx: Context, interval: Duration, color: bool, size: (u16, u16)) -> Self {
        App {
            ctx,
            snapshot: None,
            verdicts: BTreeMap::new(),
            rows: Vec::new(),
            selected: 0,
            offset: 0,
            sort: SortCol::Port,
            reverse: false,
            filter: String::new(),
            filter_input: None,
            mode: Mode::Normal,
            help: false,
            help_scroll: 0,
            status: None,
            scanning: true,
            scan_error: None,
            updated_at: None,
            now: 0,
            interval,
            color,
            size,
            details_scroll: 0,
            refusal_scroll: 0,
            cwd: None,
            quit: false,
            events: super::context::EventLog::default(),
        }
    }

    /// Install a new snapshot: classify it, rebuild the rows, keep the
    /// selection on the same socket/holder when it still exists.
    pub fn set_snapshot(&mut self, snap: Snapshot) {
        let keep = self.selected_key();
        self.verdicts = classify::classify(&snap, &self.ctx);
        self.events.observe(&snap, &self.verdicts, self.now);
        self.snapshot = Some(snap);
        self.rebuild(keep);
    }

    /// The filter in effect: the one being typed, else the applied one.
    pub fn active_filter(&self) -> &str {
        self.filter_input.as_deref().unwrap_or(&self.filter)
    }

    /// Recompute the visible rows (after a snapshot, sort or filter change)
    /// and put the selection back on `keep` (or the nearest row).
    pub fn rebuild(&mut self, keep: Option<RowKey>) {
        self.rows = match &self.snapshot {
            Some(snap) => visible_rows(
                snap,
                &self.verdicts,
                self.active_filter(),
                self.sort,
                self.reverse,
            ),
            None => Vec::new(),
        };
        let found = keep.and_then(|k| {
            self.rows
                .iter()
                .position(|r| self.key_of(r) == Some(k))
                .or_else(|| {
                    // Same socket, another holder (the selected one exited).
                    self.rows.iter().position(|r| {
                        self.key_of(r).is_some_and(|rk| {
                            RowKey { pid: None, ..rk } == RowKey { pid: None, ..k }
                        })
                    })
                })
        });
        self.selected = match found {
            Some(i) => i,
            None => self.selected.min(self.rows.len().saturating_sub(1)),
        };
        self.scroll_to_selection();
    }

    /// The key of a row.
    pub fn key_of(&self, row: &Row) -> Option<RowKey> {
        let s = self.snapshot.as_ref()?.sockets.get(row.socket)?;
        Some(RowKey {
            proto: s.proto,
            addr: s.addr,
            port: s.port,
            inode: s.inode,
            pid: row.pid,
        })
    }

    /// The key of the selected row.
    pub fn selected_key(&self) -> Option<RowKey> {
        self.rows.get(self.selected).and_then(|r| self.key_of(r))
    }

    /// The selected row.
    pub fn selected_row(&self) -> Option<Row> {
        self.rows.get(self.selected).copied()
    }

    /// The selected row's socket.
    pub fn selected_socket(&self) -> Option<&Socket> {
        let r = self.selected_row()?;
        self.snapshot.as_ref()?.sockets.get(r.socket)
    }

    /// How many table rows fit on screen (body rows, without the header).
    pub fn page(&self) -> usize {
        usize::from(table_area_rows(self.size.1)).max(1)
    }

    /// Move the selection by `delta` rows (clamped).
    pub fn move_by(&mut self, delta: isize) {
        if self.rows.is_empty() {
            return;
        }
        let last = self.rows.len() - 1;
        self.selected = self.selected.saturating_add_signed(delta).min(last);
        self.scroll_to_selection();
    }

    /// Select row `i` (clamped).
    pub fn select(&mut self, i: usize) {
        self.selected = i.min(self.rows.len().saturating_sub(1));
        self.scroll_to_selection();
    }

    /// Adjust the scroll offset so the selection is visible.
    pub fn scroll_to_selection(&mut self) {
        let page = self.page();
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
        let max_offset = self.rows.len().saturating_sub(page);
        self.offset = self.offset.min(max_offset);
    }

    /// Counts for the header: listeners, orphan holders, stuck listeners.
    pub fn counts(&self) -> (usize, usize, usize) {
        let Some(snap) = &self.snapshot else {
            return (0, 0, 0);
        };
        let orphans = self
            .verdicts
            .values()
            .filter(|v| v.class == Class::Orphan)
            .count();
        let stuck = snap.sockets.iter().filter(|s| s.stuck()).count();
        (snap.sockets.len(), orphans, stuck)
    }

    /// The class of a holder.
    pub fn class_of(&self, pid: Pid) -> Option<Class> {
        self.verdicts.get(&pid).map(|v| v.class)
    }

    /// The lines of the open tree view.
    pub fn tree_lines(&self, tree: &TreeView) -> Vec<TreeLine> {
        match &self.snapshot {
            Some(snap) => portwarden::tree::tree(snap, tree.holder),
            None => Vec::new(),
        }
    }
}

/// Body rows of the main table for a terminal `height` rows tall: one
/// header line, the table's column header, a status line and a key line.
pub fn table_area_rows(height: u16) -> u16 {
    height.saturating_sub(4)
}

/// Screen row (0-based) of the first table body row.
pub const TABLE_BODY_TOP: u16 = 2;

fn row_matches(
    snap: &Snapshot,
    verdicts: &BTreeMap<Pid, Verdict>,
    s: &Socket,
    pid: Option<Pid>,
    needle: &str,
) -> bool {
    if needle.is_empty() {
        return true;
    }
    let hay = |t: &str| t.to_lowercase().contains(needle);
    if hay(&s.port.to_string()) || hay(&s.endpoint()) || hay(s.proto.as_str()) {
        return true;
    }
    let Some(pid) = pid else {
        return hay("-");
    };
    if hay(&pid.to_string()) {
        return true;
    }
    if let Some(v) = verdicts.get(&pid)
        && hay(v.class.as_str())
    {
        return true;
    }
    let Some(p) = snap.process(pid) else {
        return false;
    };
    hay(&p.uid.to_string())
        || super::context::project_label(snap, Some(pid)).is_some_and(|l| hay(&l))
        || p.user.as_deref().is_some_and(hay)
        || hay(&p.name)
        || hay(&p.command())
}

/// The rows to show: sockets in the chosen order, one row per holder
/// (holders ascending by pid, so a socket's holders stay grouped), filtered
/// by a case-insensitive substring of port, address, pid, user, class or
/// command.
pub fn visible_rows(
    snap: &Snapshot,
    verdicts: &BTreeMap<Pid, Verdict>,
    filter: &str,
    sort: SortCol,
    reverse: bool,
) -> Vec<Row> {
    let needle = filter.trim().to_lowercase();
    let mut order: Vec<usize> = (0..snap.sockets.len()).collect();
    let first_holder = |i: usize| snap.sockets[i].holders.first().copied();
    let proc_of = |i: usize| first_holder(i).and_then(|p| snap.process(p));
    order.sort_by(|&a, &b| {
        let sa = &snap.sockets[a];
        let sb = &snap.sockets[b];
        let base = (sa.port, sa.proto, sa.family, sa.addr, sa.inode)
            .cmp(&(sb.port, sb.proto, sb.family, sb.addr, sb.inode));
        let primary = match sort {
            SortCol::Port => std::cmp::Ordering::Equal,
            SortCol::Proto => sa.proto.cmp(&sb.proto),
            SortCol::Pid => first_holder(a).cmp(&first_holder(b)),
            SortCol::Ppid => proc_of(a).map(|p| p.ppid).cmp(&proc_of(b).map(|p| p.ppid)),
            SortCol::User => {
                let u = |i| proc_of(i).map(|p| p.user.clone().unwrap_or_else(|| p.uid.to_string()));
                u(a).cmp(&u(b))
            }
            SortCol::Class => {
                let c = |i| {
                    first_holder(i)
                        .and_then(|p| verdicts.get(&p))
                        .map(|v| v.class)
                };
                c(a).cmp(&c(b))
            }
            SortCol::Command => proc_of(a)
                .map(|p| p.command())
                .cmp(&proc_of(b).map(|p| p.command())),
        };
        let ord = primary.then(base);
        if reverse { ord.reverse() } else { ord }
    });
    let mut rows = Vec::new();
    for i in order {
        let s = &snap.sockets[i];
        let mut first = true;
        let pids: Vec<Option<Pid>> = if s.holders.is_empty() {
            vec![None]
        } else {
            s.holders.iter().copied().map(Some).collect()
        };
        for pid in pids {
            if row_matches(snap, verdicts, s, pid, &needle) {
                rows.push(Row {
                    socket: i,
                    pid,
                    first,
                });
                first = false;
            }
        }
    }
    rows
}

/// `SIGTERM`, `SIGUSR1`, … or `signal N`: the kill module's names, spelled
/// the way a person reads them in a dialog.
pub fn signal_name(sig: i32) -> String {
    let name = portwarden::kill::signal_name(sig);
    if name.parse::<i32>().is_ok() {
        format!("signal {name}")
    } else {
        format!("SIG{name}")
    }
}
