//! The details popup of the selected socket and holder: the facts are
//! [`portwarden::explain`]'s (the same `why` words as prose); each area of
//! the pane — socket, queue, connections, process, user, class, context,
//! group, command line — is one short function that lays them out.

use portwarden::explain::{self, ConnFacts, HolderFacts, SocketFacts};

use super::*;

/// Local clients listed before "and N more".
const CLIENTS_SHOWN: usize = 8;

/// The lines of the pane, pre-wrapped to its inner width.
struct Pane<'a> {
    width: usize,
    pal: &'a Pal,
    lines: Vec<Line<'static>>,
}

impl Pane<'_> {
    /// A labelled value, wrapped under its label.
    fn kv(&mut self, k: &str, v: impl Into<String>) {
        self.lines.extend(kvw(self.width, self.pal, k, v));
    }
}

pub(super) fn details(app: &App, pal: &Pal, f: &mut Frame, area: Rect) {
    let (Some(snap), Some(row), Some(s)) =
        (&app.snapshot, app.selected_row(), app.selected_socket())
    else {
        return;
    };
    let mut pane = Pane {
        width: usize::from(popup(area, 100, 3).width.saturating_sub(2)),
        pal,
        lines: Vec::new(),
    };
    let facts = explain::socket(snap, s);
    socket(&mut pane, &facts);
    queue(&mut pane, &facts);
    if let Some(c) = &facts.connections {
        connections(&mut pane, c);
    }
    match row.pid {
        None => {
            pane.kv("Holder", "none visible");
            pane.kv(
                "Why",
                escape(facts.unresolved.as_deref().unwrap_or("unknown")).into_owned(),
            );
        }
        Some(pid) => match explain::holder(snap, &app.ctx, pid) {
            None => pane.kv("Holder", format!("pid {pid} (exited)")),
            Some(h) => holder(&mut pane, app, &facts, &h),
        },
    }
    draw(app, f, area, &facts, pane.lines);
}

/// `Socket tcp 127.0.0.1:8080 LISTEN  inode …  uid …`.
fn socket(pane: &mut Pane, s: &SocketFacts) {
    pane.kv(
        "Socket",
        format!(
            "{} {} {}  inode {}  uid {}",
            s.proto,
            s.endpoint,
            s.state.as_str(),
            s.inode,
            s.uid
        ),
    );
}

/// The accept queue against the backlog, in red when it is full.
fn queue(pane: &mut Pane, s: &SocketFacts) {
    let queue = match (s.accept_queue, s.backlog) {
        (Some(q), Some(b)) => format!(
            "accept queue {q} / backlog {b}{}",
            if s.stuck {
                "  STUCK: queue full, not accepting"
            } else {
                ""
            }
        ),
        _ => "-".into(),
    };
    pane.lines.push(if s.stuck {
        Line::from(vec![
            Span::styled(format!("{:<9}", "Queue"), pane.pal.bold()),
            Span::styled(queue, pane.pal.tone(Tone::Bad)),
        ])
    } else {
        kv(pane.pal, "Queue", queue)
    });
}

/// Connection counts and the first local clients.
fn connections(pane: &mut Pane, c: &ConnFacts) {
    let n = &c.counts;
    pane.kv(
        "Conns",
        format!(
            "{} established  {} syn_recv  {} close_wait  {} time_wait{}",
            n.established,
            n.syn_recv,
            n.close_wait,
            n.time_wait,
            if c.stopped_accepting {
                "  (queue full, nobody served: stopped accepting)"
            } else {
                ""
            }
        ),
    );
    for k in n.clients.iter().take(CLIENTS_SHOWN) {
        let who = match (k.pid, &k.name) {
            (Some(p), Some(n)) => format!("pid {p} {}", escape(n)),
            (Some(p), None) => format!("pid {p}"),
            _ => "not visible".into(),
        };
        pane.kv(
            "Client",
            format!("{} {who}", std::net::SocketAddr::new(k.addr, k.port)),
        );
    }
    if n.clients.len() > CLIENTS_SHOWN {
        pane.kv(
            "",
            format!("and {} more local clients", n.clients.len() - CLIENTS_SHOWN),
        );
    }
}

/// Everything about the selected holder, short facts first.
fn holder(pane: &mut Pane, app: &App, s: &SocketFacts, h: &HolderFacts) {
    process(pane, h);
    pane.kv(
        "User",
        format!(
            "{} (uid {})",
            escape(h.user.as_deref().unwrap_or("?")),
            h.uid
        ),
    );
    class(pane, h);
    pane.kv("Exe", escape(h.exe.as_deref().unwrap_or("?")).into_owned());
    cwd(pane, app, h.pid);
    project(pane, h);
    started(pane, app, h);
    group(pane, h);
    cgroups(pane, h);
    if s.holders.len() > 1 {
        let pids: Vec<String> = s.holders.iter().map(|p| p.to_string()).collect();
        pane.kv("Holders", pids.join(" "));
    }
    // Last: it can be pages long (a Java classpath) and should not push
    // the short facts out of view.
    pane.kv("Command", escape(&h.command).into_owned());
}

/// Ids, terminal and scheduler state.
fn process(pane: &mut Pane, h: &HolderFacts) {
    pane.kv(
        "Process",
        format!(
            "pid {}  ppid {}  pgid {}  sid {}  tty {}  state {}",
            h.pid,
            h.ppid,
            h.pgid,
            h.sid,
            h.tty.as_deref().unwrap_or("none"),
            escape(&h.state.to_string())
        ),
    );
}

/// The class in its colour, then each reason.
fn class(pane: &mut Pane, h: &HolderFacts) {
    let class = h.verdict.class;
    pane.lines.push(Line::from(vec![
        Span::styled(format!("{:<9}", "Class"), pane.pal.bold()),
        Span::styled(
            class.as_str(),
            pane.pal.class(class).add_modifier(Modifier::BOLD),
        ),
    ]));
    for r in &h.verdict.reasons {
        pane.kv("", format!("- {}", escape(r)));
    }
}

/// The working directory the TUI reads when the pane opens (`…` until
/// it arrives): fresher than the scan's, which may not have read it.
fn cwd(pane: &mut Pane, app: &App, pid: Pid) {
    let cwd = match &app.cwd {
        Some((cp, Some(c))) if *cp == pid => escape(c).into_owned(),
        Some((cp, None)) if *cp == pid => "? (not readable)".into(),
        _ => "…".into(),
    };
    pane.kv("Cwd", cwd);
}

/// `shop@main  root /home/dev/shop (git worktree)`.
fn project(pane: &mut Pane, h: &HolderFacts) {
    if let Some(p) = &h.project {
        pane.kv(
            "Project",
            format!(
                "{}  root {}{}",
                escape(&p.label()),
                escape(&p.root),
                if p.worktree { " (git worktree)" } else { "" }
            ),
        );
    }
}

/// Start time, and how long ago when the clock allows.
fn started(pane: &mut Pane, app: &App, h: &HolderFacts) {
    if let Some(started) = h.started {
        let ago = if app.now >= started {
            format!(" ({} ago)", age(app.now - started))
        } else {
            String::new()
        };
        pane.kv("Started", format!("{} UTC{ago}", utc(started)));
    }
}

/// `pgid 4661: 3 processes (4661 4662 4663)`.
fn group(pane: &mut Pane, h: &HolderFacts) {
    let g = &h.group;
    let shown: Vec<String> = g.members.iter().map(|m| m.pid.to_string()).collect();
    pane.kv(
        "Group",
        format!(
            "pgid {}: {} process{} ({}{})",
            g.pgid,
            g.size,
            if g.size == 1 { "" } else { "es" },
            shown.join(" "),
            if g.size > g.members.len() { " …" } else { "" }
        ),
    );
}

/// The cgroup hierarchies that place it, one per line.
fn cgroups(pane: &mut Pane, h: &HolderFacts) {
    for (i, l) in h.cgroups.iter().enumerate() {
        pane.kv(if i == 0 { "Cgroup" } else { "" }, escape(l).into_owned());
    }
}

/// The popup itself: titled with the socket, scrolled by PgUp/PgDn when
/// the lines do not fit.
fn draw(app: &App, f: &mut Frame, area: Rect, s: &SocketFacts, lines: Vec<Line<'static>>) {
    let r = popup_for(area, 100, &lines);
    // Lines are pre-wrapped to the popup's width, so their count is the
    // content's height.
    let inner = usize::from(r.height.saturating_sub(2));
    let max_scroll = lines.len().saturating_sub(inner);
    let scroll = app.details_scroll.min(max_scroll);
    let mut title = format!(" details: {} {} ", s.proto, s.endpoint);
    if max_scroll > 0 {
        title.push_str(&format!(
            "─ lines {}-{} of {}, PgUp/PgDn scroll ",
            scroll + 1,
            (scroll + inner).min(lines.len()),
            lines.len()
        ));
    }
    clear_band(f, r);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0))
            .block(Block::bordered().title(title)),
        r,
    );
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use crate::tui::fixture::*;
    use crate::tui::update::Msg;

    /// A group is named up to `explain::GROUP_SHOWN` members, as `why`
    /// names them (the pane used to stop at 12).
    #[test]
    fn a_big_group_lists_as_many_members_as_why() {
        let mut snap = snapshot();
        for pid in 3003..3018 {
            let mut w = snap.processes[&3001].clone();
            w.pid = pid;
            snap.processes.insert(pid, w);
        }
        let mut app = app_sized(200, 40);
        feed(
            &mut app,
            [Msg::Snapshot {
                result: Ok(snap),
                at: NOW,
            }],
        );
        select_pid(&mut app, 3000);
        feed(&mut app, [press(KeyCode::Enter)]);
        let screen = draw(&app);
        // The pane is 100 columns wide: the list wraps after 3012.
        let pids = |r: std::ops::Range<i32>| r.map(|p| p.to_string()).collect::<Vec<_>>();
        let first = format!("pgid 3000: 18 processes ({}", pids(3000..3013).join(" "));
        let rest = format!("{})", pids(3013..3018).join(" "));
        assert!(screen.contains(&first), "{screen}");
        assert!(screen.contains(&rest), "{screen}");
        assert!(!screen.contains(" …)"), "{screen}");
    }
}
