//! The details popup of the selected socket and holder.

use super::*;

pub(super) fn details(app: &App, pal: &Pal, f: &mut Frame, area: Rect) {
    let (Some(snap), Some(row), Some(s)) =
        (&app.snapshot, app.selected_row(), app.selected_socket())
    else {
        return;
    };
    let mut lines = Vec::new();
    let width = usize::from(popup(area, 100, 3).width.saturating_sub(2));
    let queue = match (s.accept_queue, s.backlog) {
        (Some(q), Some(b)) => format!(
            "accept queue {q} / backlog {b}{}",
            if s.stuck() {
                "  STUCK: queue full, not accepting"
            } else {
                ""
            }
        ),
        _ => "-".into(),
    };
    lines.extend(kvw(
        width,
        pal,
        "Socket",
        format!(
            "{} {} {}  inode {}  uid {}",
            s.proto,
            s.endpoint(),
            s.state.as_str(),
            s.inode,
            s.uid
        ),
    ));
    lines.push(if s.stuck() {
        Line::from(vec![
            Span::styled(format!("{:<9}", "Queue"), pal.bold()),
            Span::styled(queue, pal.tone(Tone::Bad)),
        ])
    } else {
        kv(pal, "Queue", queue)
    });
    for (k, v) in crate::tui::context::socket_details(snap, s) {
        lines.extend(kvw(width, pal, k, v));
    }
    match row.pid {
        None => {
            lines.extend(kvw(width, pal, "Holder", "none visible"));
            lines.extend(kvw(
                width,
                pal,
                "Why",
                escape(s.unresolved.as_deref().unwrap_or("unknown")).into_owned(),
            ));
        }
        Some(pid) => match snap.process(pid) {
            None => lines.extend(kvw(width, pal, "Holder", format!("pid {pid} (exited)"))),
            Some(p) => {
                let verdict = app
                    .verdicts
                    .get(&pid)
                    .cloned()
                    .unwrap_or_else(|| classify::classify_process(snap, &app.ctx, pid));
                let tty = p.tty().unwrap_or_else(|| "none".into());
                lines.extend(kvw(
                    width,
                    pal,
                    "Process",
                    format!(
                        "pid {}  ppid {}  pgid {}  sid {}  tty {}  state {}",
                        p.pid,
                        p.ppid,
                        p.pgid,
                        p.sid,
                        tty,
                        escape(&p.state.to_string())
                    ),
                ));
                lines.extend(kvw(
                    width,
                    pal,
                    "User",
                    format!(
                        "{} (uid {})",
                        escape(p.user.as_deref().unwrap_or("?")),
                        p.uid
                    ),
                ));
                lines.push(Line::from(vec![
                    Span::styled(format!("{:<9}", "Class"), pal.bold()),
                    Span::styled(
                        verdict.class.as_str(),
                        pal.class(verdict.class).add_modifier(Modifier::BOLD),
                    ),
                ]));
                for r in &verdict.reasons {
                    lines.extend(kvw(width, pal, "", format!("- {}", escape(r))));
                }
                lines.extend(kvw(
                    width,
                    pal,
                    "Exe",
                    escape(p.exe.as_deref().unwrap_or("?")).into_owned(),
                ));
                let cwd = match &app.cwd {
                    Some((cp, Some(c))) if *cp == pid => escape(c).into_owned(),
                    Some((cp, None)) if *cp == pid => "? (not readable)".into(),
                    _ => "…".into(),
                };
                lines.extend(kvw(width, pal, "Cwd", cwd));
                for (k, v) in crate::tui::context::holder_details(snap, pid) {
                    lines.extend(kvw(width, pal, k, v));
                }
                if let Some(started) = snap.started_at(p) {
                    let ago = if app.now >= started {
                        format!(" ({} ago)", age(app.now - started))
                    } else {
                        String::new()
                    };
                    lines.extend(kvw(
                        width,
                        pal,
                        "Started",
                        format!("{} UTC{ago}", utc(started)),
                    ));
                }
                let group = snap.group_members(p.pgid);
                let shown: Vec<String> = group.iter().take(12).map(|g| g.to_string()).collect();
                lines.extend(kvw(
                    width,
                    pal,
                    "Group",
                    format!(
                        "pgid {}: {} process{} ({}{})",
                        p.pgid,
                        group.len(),
                        if group.len() == 1 { "" } else { "es" },
                        shown.join(" "),
                        if group.len() > 12 { " …" } else { "" }
                    ),
                ));
                if let Some(cg) = &p.cgroup {
                    // Only the hierarchies that say something (v1 lists a
                    // dozen controllers at "/").
                    let mut cgs: Vec<&str> = cg.lines().filter(|l| !l.ends_with(":/")).collect();
                    if cgs.is_empty() {
                        cgs = cg.lines().take(1).collect();
                    }
                    for (i, l) in cgs.into_iter().enumerate() {
                        lines.extend(kvw(
                            width,
                            pal,
                            if i == 0 { "Cgroup" } else { "" },
                            escape(l).into_owned(),
                        ));
                    }
                }
                if s.holders.len() > 1 {
                    lines.extend(kvw(
                        width,
                        pal,
                        "Holders",
                        s.holders
                            .iter()
                            .map(|h| h.to_string())
                            .collect::<Vec<_>>()
                            .join(" "),
                    ));
                }
                // Last: it can be pages long (a Java classpath) and should
                // not push the short facts out of view.
                lines.extend(kvw(
                    width,
                    pal,
                    "Command",
                    escape(&p.command()).into_owned(),
                ));
            }
        },
    }
    let r = popup_for(area, 100, &lines);
    // Lines are pre-wrapped to the popup's width, so their count is the
    // content's height.
    let inner = usize::from(r.height.saturating_sub(2));
    let max_scroll = lines.len().saturating_sub(inner);
    let scroll = app.details_scroll.min(max_scroll);
    let mut title = format!(" details: {} {} ", s.proto, s.endpoint());
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
