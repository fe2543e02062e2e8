//! Drawing: [`render`] is a pure function of the [`App`] state.
//!
//! No I/O, no clock, no terminal queries: the same state always draws the
//! same screen, which is what the insta snapshot tests rely on. Every string
//! that came from a process (names, command lines, paths, users, cgroups,
//! reasons) goes through [`escape`] here, at the last moment, so a hostile
//! process name cannot drive the terminal. Colours are the 16 basic ANSI
//! ones, and none at all when `app.color` is false (`NO_COLOR`).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, HighlightSpacing, List, ListItem, ListState, Paragraph, Row,
    Table, TableState, Wrap,
};

use portwarden::classify::{self, Class};
use portwarden::escape::{count, escape, escape_trunc, truncate};
use portwarden::model::Pid;
use portwarden::timefmt::{age, utc};

use super::effects::PlanView;
use super::state::{
    App, HELP, KillRequest, Mode, SortCol, Tone, TreeKind, TreeView, help_lines_count, signal_name,
};

/// The basic ANSI colour of a class.
pub fn class_color(c: Class) -> Color {
    match c {
        Class::SelfProc => Color::Magenta,
        Class::Foreign => Color::Red,
        Class::Managed => Color::Blue,
        Class::Daemon => Color::Cyan,
        Class::Orphan => Color::Yellow,
        Class::Live => Color::Green,
    }
}

/// Style helper that drops colours when they are off.
struct Pal {
    color: bool,
}

impl Pal {
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    fn class(&self, c: Class) -> Style {
        self.fg(class_color(c))
    }

    fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    fn tone(&self, t: Tone) -> Style {
        match t {
            Tone::Info => Style::new(),
            Tone::Good => self.fg(Color::Green),
            Tone::Bad => self.fg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }
}

/// Draw the whole screen.
pub fn render(app: &App, f: &mut Frame) {
    let pal = Pal { color: app.color };
    let area = f.area();
    // A status longer than the line (a respawn's next step) wraps onto
    // up to six lines instead of being cut.
    let status_text = status_line(app, &pal);
    let status_rows = wrapped_rows(std::slice::from_ref(&status_text), area.width).clamp(1, 6);
    let [head, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(status_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(header_line(app, &pal, area.width)), head);
    table(app, &pal, f, body);
    f.render_widget(
        Paragraph::new(status_text).wrap(Wrap { trim: false }),
        status,
    );
    f.render_widget(
        Paragraph::new(Line::from(key_hints(app, area.width)).style(pal.dim())),
        keys,
    );

    match &app.mode {
        Mode::Normal => {}
        Mode::Details => details(app, &pal, f, area),
        Mode::Tree(t) => tree(app, &pal, f, area, t),
        Mode::Planning(req) => {
            let r = popup(area, 50, 3);
            let text = format!("planning: {}…", req.label());
            clear_band(f, r);
            f.render_widget(Paragraph::new(text).block(Block::bordered()), r);
        }
        Mode::Refused { request, planned } => {
            refused(&pal, f, area, request, &planned.view, app.refusal_scroll)
        }
        Mode::Confirm {
            request,
            planned,
            scroll,
        } => confirm(app, &pal, f, area, request, &planned.view, *scroll),
        Mode::Killing { label, progress } => {
            let h = (progress.len() as u16).saturating_add(3).min(area.height);
            let r = popup(area, 70, h.max(4));
            let mut lines: Vec<Line> = progress.iter().map(|p| Line::from(p.clone())).collect();
            lines.push(
                Line::from("working… (the result appears in the status line)").style(pal.dim()),
            );
            let skip = lines
                .len()
                .saturating_sub(usize::from(r.height.saturating_sub(2)));
            clear_band(f, r);
            f.render_widget(
                Paragraph::new(lines.split_off(skip))
                    .block(Block::bordered().title(format!(" killing {} ", label))),
                r,
            );
        }
    }
    if app.events.open {
        super::context::render_log(app, f, area);
    }
    if app.help {
        help(&pal, f, area, app.help_scroll);
    }
}

fn header_line(app: &App, pal: &Pal, width: u16) -> Line<'static> {
    let (listeners, orphans, stuck) = app.counts();
    let mut spans = vec![Span::styled("portwarden", pal.bold()), Span::raw("  ")];
    if app.snapshot.is_some() {
        spans.push(Span::raw(format!(
            "{listeners} listener{}",
            if listeners == 1 { "" } else { "s" }
        )));
        spans.push(Span::raw(" · "));
        let o = format!("{orphans} orphan{}", if orphans == 1 { "" } else { "s" });
        spans.push(if orphans > 0 {
            Span::styled(o, pal.class(Class::Orphan))
        } else {
            Span::raw(o)
        });
        spans.push(Span::raw(" · "));
        let s = format!("{stuck} stuck");
        spans.push(if stuck > 0 {
            Span::styled(s, pal.fg(Color::Red).add_modifier(Modifier::BOLD))
        } else {
            Span::raw(s)
        });
        if app.events.count() > 0 {
            spans.push(Span::raw(format!(" · {} events", app.events.count())));
        }
        spans.push(Span::raw("  "));
    }
    let refresh = if let Some(e) = &app.scan_error {
        Span::styled(format!("scan failed: {}", escape(e)), pal.tone(Tone::Bad))
    } else if app.scanning {
        Span::raw("scanning…")
    } else {
        let at = app
            .updated_at
            .map(|t| utc(t).get(11..).unwrap_or_default().to_string())
            .unwrap_or_default();
        let every = app.interval.as_secs_f32();
        Span::styled(
            if width >= 100 {
                format!("updated {at} UTC, every {every}s")
            } else {
                format!("updated {at} · {every}s")
            },
            pal.dim(),
        )
    };
    spans.push(refresh);
    Line::from(spans)
}

/// The key bar for the current mode, cut to `width` by dropping hints
/// from the middle: the first (how to move) and the last two (help, quit)
/// always stay, so even a narrow terminal shows how to leave.
fn key_hints(app: &App, width: u16) -> String {
    let hints: &[&str] = if app.filter_input.is_some() {
        &["type to filter", "Enter apply", "Esc clear", "↑↓ move"]
    } else if app.help {
        &["↑↓ PgUp/PgDn scroll", "Esc close", "q quit"]
    } else {
        match &app.mode {
            Mode::Normal => &[
                "↑↓ move",
                "/ filter",
                "⏎ details",
                "t tree",
                "x kill",
                "s sort",
                "r refresh",
                "? help",
                "q quit",
            ],
            Mode::Details => &[
                "↑↓ move",
                "PgUp/PgDn scroll",
                "t tree",
                "x kill",
                "Esc close",
                "? help",
                "q quit",
            ],
            Mode::Tree(_) => &["↑↓ move", "x kill group", "Esc close", "? help", "q quit"],
            Mode::Planning(_) => &["Esc cancel"],
            Mode::Refused { request, planned } if !request.force && planned.view.forcible => {
                &["F force (asks again)", "Esc close"]
            }
            Mode::Refused { .. } => &["Esc close"],
            Mode::Confirm { .. } => &["y kill", "n/Esc cancel"],
            Mode::Killing { .. } => &["killing…", "q quit"],
        }
    };
    fit_hints(hints, usize::from(width))
}

/// Join hints with two spaces, dropping middle ones until the line fits.
fn fit_hints(hints: &[&str], width: usize) -> String {
    let mut kept: Vec<&str> = hints.to_vec();
    // One leading space, two between hints.
    let len = |v: &[&str]| v.iter().map(|h| h.chars().count() + 2).sum::<usize>() - 1;
    while len(&kept) > width && kept.len() > 3 {
        kept.remove(kept.len() - 3);
    }
    format!(" {}", kept.join("  "))
}

fn status_line(app: &App, pal: &Pal) -> Line<'static> {
    if let Some(input) = &app.filter_input {
        return Line::from(vec![
            Span::styled(" filter: ", pal.bold()),
            Span::raw(escape(input).into_owned()),
            Span::styled("█", pal.dim()),
            Span::styled(
                format!("  {}", count(app.rows.len(), "row", "rows")),
                pal.dim(),
            ),
        ]);
    }
    if let Some((msg, tone)) = &app.status {
        return Line::from(Span::styled(format!(" {}", escape(msg)), pal.tone(*tone)));
    }
    if !app.filter.is_empty() {
        return Line::from(vec![
            Span::styled(" filter: ", pal.bold()),
            Span::raw(escape(&app.filter).into_owned()),
            Span::styled(
                format!("  {} · Esc clears", count(app.rows.len(), "row", "rows")),
                pal.dim(),
            ),
        ]);
    }
    Line::from("")
}

/// The COMMAND text of a socket with no visible holder: the same words
/// `portwarden list` prints.
fn unresolved_text(s: &portwarden::model::Socket) -> String {
    format!(
        "(unresolved: {})",
        escape(s.unresolved.as_deref().unwrap_or("no holder found"))
    )
}

/// Table column widths for a terminal `width` columns wide (COMMAND takes
/// what is left).
fn widths(app: &App, width: u16) -> [u16; 7] {
    let wide = width >= 110;
    let snap = app.snapshot.as_ref();
    let max_len = |f: &dyn Fn(&portwarden::model::Socket) -> usize| -> usize {
        snap.map(|s| s.sockets.iter().map(f).max().unwrap_or(0))
            .unwrap_or(0)
    };
    let addr = max_len(&|s| s.endpoint().chars().count()).clamp(10, if wide { 46 } else { 21 });
    let user = app
        .rows
        .iter()
        .filter_map(|r| r.pid)
        .filter_map(|p| snap.and_then(|s| s.process(p)))
        .map(|p| {
            escape(p.user.as_deref().unwrap_or_default())
                .chars()
                .count()
                .max(p.uid.to_string().len())
        })
        .max()
        .unwrap_or(5)
        .clamp(5, if wide { 16 } else { 8 });
    let pid = app
        .rows
        .iter()
        .filter_map(|r| r.pid)
        .map(|p| p.to_string().len())
        .max()
        .unwrap_or(3)
        .clamp(4, 7);
    // Every column is at least as wide as its header plus the sort arrow.
    let ppid = pid.max(5);
    [6, addr as u16, pid as u16, ppid as u16, user as u16, 7, 1]
}

fn header_cell(app: &App, name: &str, col: Option<SortCol>) -> Cell<'static> {
    let mark = if col == Some(app.sort) {
        if app.reverse { "▼" } else { "▲" }
    } else {
        ""
    };
    Cell::from(format!("{name}{mark}"))
}

/// `…` plus the end of an endpoint, so the port stays visible.
fn trunc_left(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max == 0 {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
}

fn table(app: &App, pal: &Pal, f: &mut Frame, area: Rect) {
    let Some(snap) = &app.snapshot else {
        let msg = match &app.scan_error {
            Some(e) => format!("scan failed: {}", escape(e)),
            None => "scanning…".into(),
        };
        f.render_widget(
            Paragraph::new(msg).centered(),
            area.inner(ratatui::layout::Margin::new(0, area.height / 2)),
        );
        return;
    };
    let w = widths(app, area.width);
    let extra = super::context::Columns::for_app(app, area.width);
    // 7 gaps between 8 columns, 1 for the selection marker.
    let fixed: u16 = w.iter().sum::<u16>() + 7 + 1 + extra.width();
    let cmd_w = usize::from(area.width.saturating_sub(fixed)).max(1);
    let header = Row::new(extra.header(vec![
        header_cell(app, "PROTO", Some(SortCol::Proto)),
        header_cell(app, "ADDR:PORT", Some(SortCol::Port)),
        header_cell(app, "PID", Some(SortCol::Pid)),
        header_cell(app, "PPID", Some(SortCol::Ppid)),
        header_cell(app, "USER", Some(SortCol::User)),
        header_cell(app, "CLASS", Some(SortCol::Class)),
        Cell::from("!"),
        header_cell(app, "COMMAND", Some(SortCol::Command)),
    ]))
    .style(pal.bold().add_modifier(Modifier::UNDERLINED));

    if app.rows.is_empty() {
        let msg = if snap.sockets.is_empty() {
            "no listening sockets".to_string()
        } else {
            format!("no rows match the filter '{}'", escape(app.active_filter()))
        };
        let [h, rest] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
        f.render_widget(
            Table::new(Vec::<Row>::new(), extra.constraints(constraints(&w)))
                .header(header)
                .highlight_symbol(">")
                .highlight_spacing(HighlightSpacing::Always),
            h,
        );
        f.render_widget(
            Paragraph::new(msg).centered().style(pal.dim()),
            rest.inner(ratatui::layout::Margin::new(0, rest.height / 3)),
        );
        return;
    }

    let rows: Vec<Row> = app
        .rows
        .iter()
        .map(|r| {
            let s = &snap.sockets[r.socket];
            let (proto, addr, stuck) = if r.first {
                (
                    Cell::from(s.proto.as_str()),
                    Cell::from(trunc_left(&s.endpoint(), usize::from(w[1]))),
                    if s.stuck() {
                        Cell::from("!").style(pal.fg(Color::Red).add_modifier(Modifier::BOLD))
                    } else {
                        Cell::from("")
                    },
                )
            } else {
                (Cell::from(""), Cell::from(""), Cell::from(""))
            };
            let Some(pid) = r.pid else {
                return Row::new(extra.cells(
                    app,
                    r,
                    vec![
                        proto,
                        addr,
                        Cell::from("-"),
                        Cell::from("-"),
                        Cell::from(format!("uid {}", s.uid)),
                        Cell::from("?"),
                        stuck,
                        Cell::from(truncate(&unresolved_text(s), cmd_w)).style(pal.dim()),
                    ],
                ));
            };
            let p = snap.process(pid);
            let class = app.class_of(pid);
            Row::new(extra.cells(
                app,
                r,
                vec![
                proto,
                addr,
                Cell::from(pid.to_string()),
                Cell::from(p.map(|p| p.ppid.to_string()).unwrap_or_else(|| "?".into())),
                Cell::from(
                    p.map(|p| {
                        escape_trunc(
                            &p.user.clone().unwrap_or_else(|| p.uid.to_string()),
                            usize::from(w[4]),
                        )
                    })
                    .unwrap_or_else(|| "?".into()),
                ),
                match class {
                    Some(c) => Cell::from(c.as_str()).style(pal.class(c)),
                    None => Cell::from("?"),
                },
                stuck,
                Cell::from(
                    p.map(|p| escape_trunc(&p.short_command(), cmd_w))
                        .unwrap_or_else(|| "?".into()),
                ),
            ],
            ))
        })
        .collect();
    let table = Table::new(rows, extra.constraints(constraints(&w)))
        .header(header)
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol(">")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default()
        .with_offset(app.offset)
        .with_selected(Some(app.selected));
    f.render_stateful_widget(table, area, &mut state);
}

fn constraints(w: &[u16; 7]) -> Vec<Constraint> {
    let mut c: Vec<Constraint> = w.iter().map(|&n| Constraint::Length(n)).collect();
    c.push(Constraint::Fill(1));
    c
}

/// Clear the full-width rows a popup covers, so no cut-off scrap of the
/// table (a lone `…` or digit) shows beside it.
pub(super) fn clear_band(f: &mut Frame, r: Rect) {
    let screen = f.area();
    let band = Rect::new(screen.x, r.y, screen.width, r.height).intersection(screen);
    f.render_widget(Clear, band);
}

/// A centered rectangle at most `w`×`h`, leaving a margin when it can.
fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2)).max(area.width.min(20));
    let h = h.min(area.height.saturating_sub(2)).max(area.height.min(3));
    area.centered(Constraint::Length(w), Constraint::Length(h))
}

/// How many rows `lines` take when word-wrapped to `width` columns (the
/// same greedy wrapping the paragraph does, near enough to size a popup).
fn wrapped_rows(lines: &[Line], width: u16) -> u16 {
    let width = usize::from(width.max(1));
    let mut rows = 0usize;
    for l in lines {
        let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
        let mut n = 1;
        let mut col = 0usize;
        for word in text.split_inclusive(' ') {
            let w = Span::raw(word).width();
            let visible = w.saturating_sub(usize::from(word.ends_with(' ')));
            if col > 0 && col + visible > width {
                n += 1;
                col = 0;
            }
            col += w;
            while col > width {
                n += 1;
                col -= width;
            }
        }
        rows += n;
    }
    u16::try_from(rows).unwrap_or(u16::MAX)
}

/// A popup at most `w` wide, as tall as `lines` need inside a border.
fn popup_for(area: Rect, w: u16, lines: &[Line]) -> Rect {
    let width = popup(area, w, 3).width;
    let h = wrapped_rows(lines, width.saturating_sub(2)).saturating_add(2);
    popup(area, w, h)
}

/// Greedy word wrap of already-escaped text to `width` columns; words
/// longer than a line are cut.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_w = 0usize;
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let w = Span::raw(word.as_str()).width();
            let need = if cur.is_empty() { w } else { cur_w + 1 + w };
            if need <= width {
                if !cur.is_empty() {
                    cur.push(' ');
                }
                cur.push_str(&word);
                cur_w = need;
                break;
            }
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
                cur_w = 0;
                continue;
            }
            // A single word wider than the line: cut it.
            let head: String = word.chars().take(width).collect();
            let rest: String = word.chars().skip(width).collect();
            out.push(head);
            word = rest;
            if word.is_empty() {
                break;
            }
        }
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// A labelled value wrapped to `width` with a hanging indent under the
/// label.
fn kvw(width: usize, pal: &Pal, k: &str, v: impl Into<String>) -> Vec<Line<'static>> {
    let v = v.into();
    wrap_words(&v, width.saturating_sub(LABEL_W))
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let label = if i == 0 { k } else { "" };
            Line::from(vec![
                Span::styled(format!("{label:<LABEL_W$}"), pal.bold()),
                Span::raw(part),
            ])
        })
        .collect()
}

const LABEL_W: usize = 9;

fn kv(pal: &Pal, k: &str, v: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{k:<9}"), pal.bold()),
        Span::raw(v.into()),
    ])
}

fn details(app: &App, pal: &Pal, f: &mut Frame, area: Rect) {
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
    for (k, v) in super::context::socket_details(snap, s) {
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
                for (k, v) in super::context::holder_details(snap, pid) {
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

fn tree(app: &App, pal: &Pal, f: &mut Frame, area: Rect, t: &TreeView) {
    let Some(snap) = &app.snapshot else { return };
    let lines = app.tree_lines(t);
    let r = popup(area, 100, (lines.len() as u16).saturating_add(3).max(5));
    clear_band(f, r);
    let title = format!(" process tree of pid {} ", t.holder);
    let block = Block::bordered().title(title);
    if lines.is_empty() {
        f.render_widget(
            Paragraph::new(format!("pid {} is gone", t.holder)).block(block),
            r,
        );
        return;
    }
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [list_area, legend] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner);
    let holder_pgid = snap.process(t.holder).map(|p| p.pgid).unwrap_or(0);
    let items: Vec<ListItem> = lines
        .iter()
        .map(|l| {
            let p = snap.process(l.pid);
            let indent = if l.depth == 0 {
                String::new()
            } else {
                format!("{}└ ", "  ".repeat(l.depth - 1))
            };
            let mark = match (l.kind, l.in_group) {
                (TreeKind::Holder, _) => "●",
                (_, true) => "*",
                _ => " ",
            };
            let user = p
                .map(|p| escape_trunc(&p.user.clone().unwrap_or_else(|| p.uid.to_string()), 8))
                .unwrap_or_default();
            let cmd = p
                .map(|p| escape(&p.short_command()).into_owned())
                .unwrap_or_default();
            let class = app.class_of(l.pid);
            let mut spans = vec![
                Span::styled(format!("{mark} "), pal.bold()),
                Span::raw(format!("{:>7} {:<8} ", l.pid, user)),
                Span::raw(indent),
            ];
            if let Some(c) = class {
                spans.push(Span::styled(format!("[{}] ", c.as_str()), pal.class(c)));
            }
            spans.push(Span::raw(cmd));
            let mut item = Line::from(spans);
            if l.kind == TreeKind::Holder {
                item = item.style(pal.bold());
            } else if l.kind == TreeKind::Ancestor && !l.in_group {
                item = item.style(pal.dim());
            }
            ListItem::new(item)
        })
        .collect();
    let sel = lines.iter().position(|l| l.pid == t.cursor).unwrap_or(0);
    let list = List::new(items)
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol(">")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = ListState::default().with_selected(Some(sel));
    f.render_stateful_widget(list, list_area, &mut state);
    f.render_widget(
        Paragraph::new(format!(
            " ● holder  * in its process group {holder_pgid}  x: kill the group of the line at >"
        ))
        .style(pal.dim()),
        legend,
    );
}

/// The holder of a plan: the target with role `holder`, else the first.
fn plan_holder(view: &PlanView) -> Option<(Pid, Class)> {
    view.targets
        .iter()
        .find(|t| t.role == "holder")
        .or(view.targets.first())
        .map(|t| (t.pid, t.class))
}

fn reasons_of(app: &App, pid: Pid) -> Vec<String> {
    match (&app.snapshot, app.verdicts.get(&pid)) {
        (_, Some(v)) => v.reasons.clone(),
        (Some(snap), None) => classify::classify_process(snap, &app.ctx, pid).reasons,
        (None, None) => Vec::new(),
    }
}

/// `text` wrapped to `width`, every line after the first indented by
/// `indent` more columns than `first` (a hanging indent for list items).
fn hang(width: usize, first: &str, indent: usize, text: &str, style: Style) -> Vec<Line<'static>> {
    let lead = first.chars().count();
    wrap_words(text, width.saturating_sub(lead.max(indent)))
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let prefix = if i == 0 {
                first.to_string()
            } else {
                " ".repeat(lead.max(indent))
            };
            Line::styled(format!("{prefix}{part}"), style)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn confirm(
    app: &App,
    pal: &Pal,
    f: &mut Frame,
    area: Rect,
    req: &KillRequest,
    v: &PlanView,
    scroll: usize,
) {
    let width = usize::from(popup(area, 100, 10).width.saturating_sub(2));
    let mut head: Vec<Line> = Vec::new();
    let what = if v.ports.is_empty() {
        req.label()
    } else {
        format!("port {}", v.ports.join(", "))
    };
    if v.forced {
        head.extend(hang(
            width,
            "",
            0,
            "FORCED: this overrides portwarden's refusal. Are you sure?",
            pal.fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
        for r in &v.refusals {
            head.extend(hang(
                width,
                "  - ",
                4,
                &format!("refused {} ({}): {}", r.pid, r.class, escape(&r.reason)),
                Style::new(),
            ));
        }
    }
    head.push(Line::from(vec![
        Span::styled("Free: ", pal.bold()),
        Span::raw(what),
    ]));
    if let Some((pid, class)) = plan_holder(v) {
        head.push(Line::from(vec![
            Span::styled("Holder: ", pal.bold()),
            Span::raw(format!("pid {pid} is ")),
            Span::styled(
                class.as_str(),
                pal.class(class).add_modifier(Modifier::BOLD),
            ),
        ]));
        for r in reasons_of(app, pid) {
            head.extend(hang(width, "  - ", 4, &escape(&r), Style::new()));
        }
    }
    let n = v.targets.len();
    for c in &v.containers {
        head.extend(hang(width, "Stop: ", 6, &escape(c), Style::new()));
    }
    // A container stop alone signals nothing: no signal line, no table.
    if n > 0 || v.containers.is_empty() {
        head.push(Line::from(vec![
            Span::styled("Signal: ", pal.bold()),
            Span::raw(format!(
                "{} to {n} process{}, SIGKILL after {} grace",
                signal_name(v.signal),
                if n == 1 { "" } else { "es" },
                human_grace(v.grace)
            )),
        ]));
        head.push(Line::styled(
            format!("{:>7} {:<8} {:<10} COMMAND", "PID", "USER", "ROLE"),
            pal.bold(),
        ));
    }

    let mut tail: Vec<Line> = Vec::new();
    if !v.protected.is_empty() {
        let p: Vec<String> = v
            .protected
            .iter()
            .map(|(pid, why)| format!("{pid} ({})", escape(why)))
            .collect();
        tail.push(Line::styled(
            truncate(&format!("Never signalled: {}", p.join(", ")), width),
            pal.dim(),
        ));
    }
    tail.push(Line::from(""));
    tail.push(Line::from(vec![
        Span::styled("[y]", pal.bold()),
        Span::raw(" kill   "),
        Span::styled("[n/Esc]", pal.bold()),
        Span::raw(" cancel"),
    ]));

    // Every target is listed; when they do not fit, the list scrolls
    // (↑/↓) between "more" markers.
    let max_inner = usize::from(area.height.saturating_sub(4));
    let room = max_inner.saturating_sub(head.len() + tail.len()).max(1);
    let (start, shown) = if n <= room {
        (0, n)
    } else {
        let shown = room.saturating_sub(2).max(1);
        (scroll.min(n - shown), shown)
    };
    let mut lines = head;
    if n > room {
        lines.push(Line::styled(
            if start > 0 {
                format!("  ↑ {start} more above (↑/↓ scroll)")
            } else {
                String::new()
            },
            pal.dim(),
        ));
    }
    for t in v.targets.iter().skip(start).take(shown) {
        let head = format!(
            "{:>7} {:<8} {:<10} ",
            t.pid,
            escape_trunc(&t.user, 8),
            t.role
        );
        let rest = width.saturating_sub(head.chars().count()).max(1);
        lines.push(Line::from(format!(
            "{head}{}",
            escape_trunc(&t.command, rest)
        )));
    }
    if n > room {
        let below = n - start - shown;
        lines.push(Line::styled(
            if below > 0 {
                format!("  ↓ {below} more below (↑/↓ scroll)")
            } else {
                String::new()
            },
            pal.dim(),
        ));
    }
    lines.extend(tail);

    let r = popup_for(area, 100, &lines);
    let title = if v.forced { " FORCE kill? " } else { " kill? " };
    let border = if v.forced {
        pal.fg(Color::Red)
    } else {
        pal.fg(Color::Yellow)
    };
    clear_band(f, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().border_style(border).title(title)),
        r,
    );
}

fn human_grace(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn refused(pal: &Pal, f: &mut Frame, area: Rect, req: &KillRequest, v: &PlanView, scroll: usize) {
    let width = usize::from(popup(area, 90, 10).width.saturating_sub(2));
    let mut lines: Vec<Line> = vec![Line::from(vec![
        Span::styled("portwarden will not kill ", pal.bold()),
        Span::styled(req.label(), pal.bold()),
    ])];
    let mut body: Vec<Line> = Vec::new();
    for r in &v.refusals {
        body.push(Line::from(""));
        // A socket whose holder cannot be seen has no class to show.
        body.push(Line::from(if r.pid > 0 {
            vec![
                Span::raw(format!("pid {} is ", r.pid)),
                Span::styled(
                    r.class.as_str(),
                    pal.class(r.class).add_modifier(Modifier::BOLD),
                ),
            ]
        } else {
            vec![Span::raw("its holder cannot be seen")]
        }));
        for part in r.reason.lines() {
            body.extend(hang(width, "  ", 2, &escape(part), Style::new()));
        }
    }
    let mut tail: Vec<Line> = vec![Line::from("")];
    if req.force || !v.forcible {
        tail.push(Line::from("This cannot be forced. Nothing was signalled."));
        tail.push(Line::from(vec![
            Span::styled("[Esc]", pal.bold()),
            Span::raw(" close"),
        ]));
    } else {
        tail.push(Line::from("Nothing was signalled."));
        tail.push(Line::from(vec![
            Span::styled("[F]", pal.bold()),
            Span::raw(" force (shows what would be killed and asks again)   "),
            Span::styled("[Esc]", pal.bold()),
            Span::raw(" close"),
        ]));
    }
    // Reasons longer than the screen scroll (↑/↓) between the same "more"
    // markers as the kill dialog's target list.
    let room = usize::from(area.height.saturating_sub(4))
        .saturating_sub(lines.len() + tail.len())
        .max(3);
    if body.len() <= room {
        lines.extend(body);
    } else {
        let shown = room - 2;
        let start = scroll.min(body.len() - shown);
        let below = body.len() - start - shown;
        lines.push(Line::styled(
            if start > 0 {
                format!("  ↑ {start} more above (↑/↓ scroll)")
            } else {
                String::new()
            },
            pal.dim(),
        ));
        lines.extend(body.into_iter().skip(start).take(shown));
        lines.push(Line::styled(
            if below > 0 {
                format!("  ↓ {below} more below (↑/↓ scroll)")
            } else {
                String::new()
            },
            pal.dim(),
        ));
    }
    lines.extend(tail);
    let r = popup_for(area, 90, &lines);
    clear_band(f, r);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .border_style(pal.fg(Color::Red))
                .title(" refused "),
        ),
        r,
    );
}

/// The help overlay; it scrolls (↑/↓, PgUp/PgDn) when the terminal is too
/// short for all of it, with the same markers as the kill dialog.
fn help(pal: &Pal, f: &mut Frame, area: Rect, scroll: u16) {
    let lines = help_lines(pal);
    debug_assert_eq!(lines.len(), help_lines_count());
    let r = popup(area, 66, lines.len() as u16 + 2);
    let room = usize::from(r.height.saturating_sub(2));
    let total = lines.len();
    let start = usize::from(scroll).min(total.saturating_sub(room));
    let mut title = String::from(" help — Esc closes ");
    if total > room {
        let below = total - start - room.min(total);
        title = format!(" help — ↑ {start} · ↓ {below} more · Esc closes ");
    }
    clear_band(f, r);
    f.render_widget(
        Paragraph::new(lines.into_iter().skip(start).collect::<Vec<_>>())
            .block(Block::bordered().borders(Borders::ALL).title(title)),
        r,
    );
}

fn help_lines(pal: &Pal) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!(" {k:<14} "), pal.bold()),
                Span::raw(*v),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" ! = stuck listener (accept queue full)"));
    let mut classes = vec![Span::raw(" classes:")];
    for c in [
        Class::Orphan,
        Class::Live,
        Class::Daemon,
        Class::Managed,
        Class::Foreign,
        Class::SelfProc,
    ] {
        classes.push(Span::raw(" "));
        classes.push(Span::styled(c.as_str(), pal.class(c)));
    }
    lines.push(Line::from(classes));
    lines
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;
    use insta::assert_snapshot;
    use ratatui::style::Color;

    use super::*;
    use crate::tui::fixture::*;
    use crate::tui::update::Msg;

    #[test]
    fn first_frame_is_scanning() {
        let app = App::new(ctx(), std::time::Duration::from_secs(2), true, (80, 6));
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn main_table() {
        let mut app = app();
        select_pid(&mut app, 3000);
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn main_table_80x24() {
        let app = app_sized(80, 24);
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn empty_machine() {
        let mut app = App::new(ctx(), std::time::Duration::from_secs(2), true, (80, 10));
        let snap = portwarden::model::Snapshot {
            boot_time: BOOT,
            clk_tck: 100,
            ..Default::default()
        };
        feed(
            &mut app,
            [Msg::Snapshot {
                result: Ok(snap),
                at: NOW,
            }],
        );
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn filtered() {
        let mut app = app();
        feed(&mut app, [ch('/')]);
        feed(&mut app, typed("alice"));
        feed(&mut app, [press(KeyCode::Enter), ch('s'), ch('s'), ch('S')]);
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn filter_being_typed() {
        let mut app = app_sized(80, 12);
        feed(&mut app, [ch('/')]);
        feed(&mut app, typed("ngin"));
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn details_of_an_orphan() {
        let mut app = app();
        select_pid(&mut app, 3000);
        feed(
            &mut app,
            [
                press(KeyCode::Enter),
                Msg::Cwd(3000, Some("/home/alice/app".into())),
            ],
        );
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn details_of_a_socket_without_holder() {
        let mut app = app_sized(80, 24);
        app.select(2);
        feed(&mut app, [press(KeyCode::Enter)]);
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn details_of_a_stuck_listener() {
        let mut app = app_sized(80, 24);
        select_pid(&mut app, 4200);
        feed(&mut app, [ch('i'), Msg::Cwd(4200, None)]);
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn tree() {
        let mut app = app();
        select_pid(&mut app, 3000);
        feed(&mut app, [ch('t'), ch('j')]);
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn confirmation() {
        let mut app = app();
        select_pid(&mut app, 3000);
        feed(&mut app, [ch('x'), Msg::Planned(Box::new(node_plan()))]);
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn confirmation_80x24() {
        let mut app = app_sized(80, 24);
        select_pid(&mut app, 3000);
        feed(&mut app, [ch('x'), Msg::Planned(Box::new(node_plan()))]);
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn refusal_of_a_foreign_holder() {
        let mut app = app();
        select_pid(&mut app, 700);
        feed(
            &mut app,
            [ch('x'), Msg::Planned(Box::new(nginx_plan(false)))],
        );
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn forced_confirmation_asks_again() {
        let mut app = app();
        select_pid(&mut app, 700);
        feed(
            &mut app,
            [
                ch('x'),
                Msg::Planned(Box::new(nginx_plan(false))),
                ch('F'),
                Msg::Planned(Box::new(nginx_plan(true))),
            ],
        );
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn killing_progress_then_result() {
        let mut app = app_sized(80, 16);
        select_pid(&mut app, 3000);
        feed(
            &mut app,
            [
                ch('x'),
                Msg::Planned(Box::new(node_plan())),
                ch('y'),
                Msg::KillProgress("sent SIGTERM to 3000".into()),
                Msg::KillProgress("3000 exited after 120 ms".into()),
            ],
        );
        let during = draw(&app);
        feed(
            &mut app,
            [Msg::KillDone {
                success: true,
                summary: "port 3000 free after 140 ms — 3 processes ended".into(),
            }],
        );
        assert_snapshot!(format!("{during}\n{}", draw(&app)));
    }

    #[test]
    fn help() {
        let mut app = app_sized(80, 24);
        feed(&mut app, [ch('?')]);
        assert_snapshot!(draw(&app));
    }

    #[test]
    fn help_scrolls_on_a_short_terminal() {
        let mut app = app_sized(80, 14);
        feed(&mut app, [ch('?')]);
        let top = draw(&app);
        assert!(top.contains("↑ 0 · ↓"), "{top}");
        assert!(top.contains("move the selection"));
        assert!(!top.contains("classes:"));
        feed(
            &mut app,
            (0..40).map(|_| press(KeyCode::Down)).collect::<Vec<_>>(),
        );
        let bottom = draw(&app);
        assert!(bottom.contains("classes:"), "{bottom}");
        assert!(bottom.contains("· ↓ 0 more"), "{bottom}");
        // Scrolling past the end is clamped: one step up shows one line more.
        feed(&mut app, [press(KeyCode::Up)]);
        assert!(!draw(&app).contains("classes:"));
        assert_snapshot!(bottom);
    }

    #[test]
    fn narrow_terminals_keep_the_quit_key() {
        for w in [40, 50, 60, 79] {
            let app = app_sized(w, 24);
            let screen = draw(&app);
            let bar = screen.lines().last().unwrap_or_default();
            assert!(bar.contains("q quit"), "{w}: {bar}");
            assert!(bar.contains("↑↓ move"), "{w}: {bar}");
        }
    }

    #[test]
    fn popups_leave_no_scraps_of_the_table_beside_them() {
        let mut app = app_sized(80, 24);
        select_pid(&mut app, 3000);
        feed(&mut app, [ch('x'), Msg::Planned(Box::new(node_plan()))]);
        let screen = draw(&app);
        for line in screen.lines().filter(|l| l.contains('│')) {
            let inner = line.trim_matches('"');
            let outside = inner.rsplit('│').next().unwrap_or_default();
            assert!(outside.trim().is_empty(), "scrap beside the popup: {line}");
        }
    }

    #[test]
    fn hostile_names_are_escaped() {
        let mut app = app();
        select_pid(&mut app, 4300);
        let table = draw(&app);
        feed(&mut app, [ch('i')]);
        let details = draw(&app);
        feed(&mut app, [press(KeyCode::Esc), ch('t')]);
        let tree = draw(&app);
        for screen in [&table, &details, &tree] {
            assert!(
                !screen.contains('\u{1b}'),
                "raw ESC reached the screen:\n{screen}"
            );
            assert!(
                !screen.contains('\u{7}'),
                "raw BEL reached the screen:\n{screen}"
            );
            assert!(
                screen.contains("\\e]0;pwned\\x07"),
                "escaped name missing:\n{screen}"
            );
        }
    }

    #[test]
    fn classes_are_coloured_with_basic_ansi_colours() {
        let app = app();
        let buf = draw_buffer(&app);
        let find = |text: &str| -> (u16, u16) {
            for y in 0..buf.area.height {
                let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
                if let Some(x) = line.find(text) {
                    return (line[..x].chars().count() as u16, y);
                }
            }
            panic!("{text} not on screen");
        };
        let (x, y) = find("orphan  ");
        assert_eq!(buf[(x, y)].fg, Color::Yellow);
        let (x, y) = find("foreign");
        assert_eq!(buf[(x, y)].fg, Color::Red);
        let allowed = [
            Color::Reset,
            Color::Black,
            Color::Red,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::Magenta,
            Color::Cyan,
            Color::Gray,
            Color::DarkGray,
            Color::LightRed,
            Color::LightGreen,
            Color::LightYellow,
            Color::LightBlue,
            Color::LightMagenta,
            Color::LightCyan,
            Color::White,
        ];
        for c in buf.content() {
            assert!(
                allowed.contains(&c.fg) && allowed.contains(&c.bg),
                "{:?}",
                c
            );
        }
    }

    #[test]
    fn no_color_means_no_colours_at_all() {
        let mut app = app();
        app.color = false;
        let mut screens = vec![draw_buffer(&app)];
        select_pid(&mut app, 700);
        feed(
            &mut app,
            [ch('x'), Msg::Planned(Box::new(nginx_plan(false)))],
        );
        screens.push(draw_buffer(&app));
        feed(&mut app, [press(KeyCode::Esc), ch('?')]);
        screens.push(draw_buffer(&app));
        for buf in screens {
            for c in buf.content() {
                assert_eq!((c.fg, c.bg), (Color::Reset, Color::Reset), "{:?}", c);
            }
        }
    }

    #[test]
    fn long_confirmation_lists_everything_by_scrolling() {
        let mut app = app_sized(80, 24);
        select_pid(&mut app, 3000);
        feed(&mut app, [ch('x'), Msg::Planned(Box::new(many_plan(40)))]);
        let top = draw(&app);
        for _ in 0..100 {
            feed(&mut app, [ch('j')]);
        }
        let bottom = draw(&app);
        assert!(top.contains("   3000 alice"), "{top}");
        assert!(top.contains("more below"), "{top}");
        assert!(bottom.contains("   3039 alice"), "{bottom}");
        assert!(bottom.contains("more above"), "{bottom}");
        assert_snapshot!(format!("{top}\n{bottom}"));
    }

    #[test]
    fn every_screen_survives_tiny_terminals() {
        for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 8), (80, 24), (200, 60)] {
            let mut app = app_sized(w, h);
            select_pid(&mut app, 3000);
            let screens: Vec<Vec<Msg>> = vec![
                vec![],
                vec![press(KeyCode::Enter)],
                vec![ch('t')],
                vec![ch('?')],
                vec![ch('/'), ch('n')],
                vec![ch('x')],
                vec![ch('x'), Msg::Planned(Box::new(node_plan()))],
                vec![ch('x'), Msg::Planned(Box::new(many_plan(50)))],
                vec![ch('x'), Msg::Planned(Box::new(nginx_plan(false)))],
                vec![ch('x'), Msg::Planned(Box::new(node_plan())), ch('y')],
            ];
            for msgs in screens {
                let mut app = app_sized(w, h);
                select_pid(&mut app, 3000);
                feed(&mut app, msgs);
                let _ = draw(&app);
            }
            let _ = draw(&app);
        }
    }

    #[test]
    fn refusal_of_a_managed_holder_names_the_right_command() {
        let mut app = app_sized(80, 24);
        select_pid(&mut app, 4400);
        let reason = app.verdicts[&4400].reasons.join("; ");
        let planned = crate::tui::effects::fixture(crate::tui::effects::PlanView {
            ports: vec!["tcp:6379".into()],
            refusals: vec![crate::tui::effects::RefusalView {
                pid: 4400,
                class: Class::Managed,
                reason,
            }],
            signal: 15,
            grace: std::time::Duration::from_secs(3),
            forcible: true,
            ..Default::default()
        });
        feed(&mut app, [ch('x'), Msg::Planned(Box::new(planned))]);
        let screen = draw(&app);
        // The command wraps at 80 columns; check both halves.
        assert!(screen.contains("`systemctl --user"), "{screen}");
        assert!(screen.contains("stop redis.service`"), "{screen}");
        assert_snapshot!(screen);
    }

    #[test]
    fn a_container_forwarder_names_its_container_and_force_stops_it() {
        let mut app = App::new(ctx(), std::time::Duration::from_secs(2), true, (80, 30));
        app.now = NOW;
        let snap = snapshot_with_container();
        feed(
            &mut app,
            [Msg::Snapshot {
                result: Ok(snap.clone()),
                at: NOW,
            }],
        );
        select_pid(&mut app, 4900);
        feed(&mut app, [press(KeyCode::Enter)]);
        let details = draw(&app);
        assert!(details.contains("docker container web"), "{details}");
        assert!(details.contains("`docker stop web`"), "{details}");
        feed(&mut app, [press(KeyCode::Esc)]);
        // The real planner, as the event loop would run it.
        let req = |force| crate::tui::state::KillRequest {
            target: crate::tui::state::KillTarget::Ports(vec!["18080".parse().expect("a port")]),
            force,
        };
        let policy = portwarden::kill::Policy::default();
        let refused = crate::tui::effects::plan(&snap, &ctx(), &req(false), &policy);
        feed(&mut app, [ch('x'), Msg::Planned(Box::new(refused))]);
        let refusal = draw(&app);
        assert!(refusal.contains("managed"), "{refusal}");
        let forced = crate::tui::effects::plan(&snap, &ctx(), &req(true), &policy);
        assert!(
            forced.view.targets.is_empty(),
            "the forwarder is never a target"
        );
        feed(&mut app, [ch('F'), Msg::Planned(Box::new(forced))]);
        let confirm = draw(&app);
        assert!(confirm.contains("Stop: docker container web"), "{confirm}");
        assert!(!confirm.contains("Signal:"), "{confirm}");
        assert_snapshot!(format!("{details}\n{refusal}\n{confirm}"));
    }

    #[test]
    fn refusal_of_twelve_workers_says_their_reason_once_and_scrolls() {
        let mut app = app_sized(80, 24);
        select_pid(&mut app, 700);
        let refuse = |pid: Pid, reason: String| portwarden::kill::Refusal {
            pid,
            class: Class::Foreign,
            reason: format!(
                "pid {pid} (nginx) is foreign: {reason}; use --force to kill it anyway"
            ),
        };
        let mut refusals = vec![refuse(
            700,
            "owned by uid 0 (root); you are uid 1000".into(),
        )];
        for w in 701..713 {
            refusals.push(refuse(
                w,
                "its program's leader pid 700 (nginx) is owned by uid 0 (root); you are uid 1000; this worker runs as uid 33 (www-data)".into(),
            ));
        }
        // And other users' programs, each its own reason: more than fit.
        for (i, pid) in (800..806).enumerate() {
            refusals.push(refuse(
                pid,
                format!("owned by uid {} (user{i}); you are uid 1000", 2000 + i),
            ));
        }
        let planned = crate::tui::effects::fixture(crate::tui::effects::PlanView {
            ports: vec!["tcp:80".into()],
            refusals: crate::tui::effects::refusal_views(&refusals),
            signal: 15,
            grace: std::time::Duration::from_secs(3),
            // Foreign holders: a forced plan would signal them.
            forcible: true,
            ..Default::default()
        });
        feed(&mut app, [ch('x'), Msg::Planned(Box::new(planned))]);
        let top = draw(&app);
        assert!(top.contains("and 11 workers of the same program"), "{top}");
        assert_eq!(top.matches("this worker runs as").count(), 1, "{top}");
        assert!(top.contains("more below (↑/↓ scroll)"), "{top}");
        feed(
            &mut app,
            std::iter::repeat_with(|| press(KeyCode::Down)).take(40),
        );
        let bottom = draw(&app);
        assert!(bottom.contains("more above (↑/↓ scroll)"), "{bottom}");
        assert!(bottom.contains("user5"), "{bottom}");
        assert!(bottom.contains("[Esc]"), "{bottom}");
        assert_snapshot!(format!("{top}\n{bottom}"));
    }

    #[test]
    fn a_long_status_wraps_instead_of_being_cut() {
        let mut app = app_sized(80, 24);
        let summary = "port 8000 still held (it was free after 5 ms, then re-taken) by pid 21971 (python3), child of pid 19503 (supervisord); respawned by pid 19503 (supervisord), supervisord program web; next: stop the program where it is managed: `supervisorctl -c /etc/supervisor/supervisord.conf stop web`; 1 process ended";
        feed(
            &mut app,
            [Msg::KillDone {
                success: false,
                summary: summary.into(),
            }],
        );
        let screen = draw(&app);
        assert!(screen.contains("supervisord program web"), "{screen}");
        assert!(screen.contains("stop web`; 1 process"), "{screen}");
        assert!(
            screen.contains("\"ended "),
            "the last word is shown: {screen}"
        );
        assert_snapshot!(screen);
    }

    #[test]
    fn details_of_a_huge_command_line_scroll() {
        let mut app = App::new(ctx(), std::time::Duration::from_secs(2), true, (80, 24));
        app.now = NOW;
        let mut snap = snapshot();
        let java: Vec<String> = std::iter::once("java".to_string())
            .chain((0..60).map(|i| format!("-cp=/opt/app/lib/dependency-{i:02}.jar")))
            .chain(std::iter::once("com.example.Main".to_string()))
            .collect();
        if let Some(p) = snap.processes.get_mut(&3000) {
            p.cmdline = java;
        }
        feed(
            &mut app,
            [Msg::Snapshot {
                result: Ok(snap),
                at: NOW,
            }],
        );
        select_pid(&mut app, 3000);
        feed(&mut app, [press(KeyCode::Enter)]);
        let top = draw(&app);
        assert!(top.contains("PgUp/PgDn scroll"), "{top}");
        assert!(!top.contains("com.example.Main"), "{top}");
        feed(
            &mut app,
            [
                press(KeyCode::PageDown),
                press(KeyCode::PageDown),
                press(KeyCode::PageDown),
            ],
        );
        let bottom = draw(&app);
        assert!(bottom.contains("com.example.Main"), "{bottom}");
        assert!(top.contains("Group") && top.contains("Exe"), "{top}");
        assert_snapshot!(format!("{top}\n{bottom}"));
    }

    #[test]
    fn every_sort_column_shows_its_arrow() {
        let mut app = app_sized(80, 24);
        for _ in 0..7 {
            let screen = draw(&app);
            let header = screen.lines().nth(1).unwrap_or_default();
            let want = if app.reverse { '▼' } else { '▲' };
            assert_eq!(header.matches(want).count(), 1, "{:?}: {header}", app.sort);
            feed(&mut app, [ch('s')]);
        }
        feed(&mut app, [ch('S')]);
        assert!(
            draw(&app)
                .lines()
                .nth(1)
                .unwrap_or_default()
                .contains("ADDR:PORT▼")
        );
    }
}
