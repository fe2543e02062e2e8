//! The main screen: one row per (socket, holder), columns sized to the
//! terminal, the selection and the sort arrow.

use super::*;

/// The COMMAND text of a socket with no visible holder: the same words
/// `portwarden list` prints.
pub(super) fn unresolved_text(s: &portwarden::model::Socket) -> String {
    format!(
        "(unresolved: {})",
        escape(s.unresolved.as_deref().unwrap_or("no holder found"))
    )
}

/// Table column widths for a terminal `width` columns wide (COMMAND takes
/// what is left).
pub(super) fn widths(app: &App, width: u16) -> [u16; 7] {
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

pub(super) fn header_cell(app: &App, name: &str, col: Option<SortCol>) -> Cell<'static> {
    let mark = if col == Some(app.sort) {
        if app.reverse { "▼" } else { "▲" }
    } else {
        ""
    };
    Cell::from(format!("{name}{mark}"))
}

/// The main table: "scanning…" before the first snapshot, a message when
/// no row is left, else the rows with the selection.
pub(super) fn table(app: &App, pal: &Pal, f: &mut Frame, area: Rect) {
    let Some(snap) = &app.snapshot else {
        no_snapshot(app, f, area);
        return;
    };
    let w = widths(app, area.width);
    let extra = context::Columns::for_app(app, area.width);
    // 7 gaps between 8 columns, 1 for the selection marker.
    let fixed: u16 = w.iter().sum::<u16>() + 7 + 1 + extra.width();
    let cmd_w = usize::from(area.width.saturating_sub(fixed)).max(1);
    let header = header_row(app, pal, &extra);
    if app.rows.is_empty() {
        no_rows(
            app,
            pal,
            f,
            area,
            snap,
            header,
            extra.constraints(constraints(&w)),
        );
        return;
    }
    let cols = RowCols { w, cmd_w, extra };
    let rows: Vec<Row> = app
        .rows
        .iter()
        .map(|r| table_row(app, pal, snap, r, &cols))
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

/// Before the first snapshot: "scanning…" (or why the scan failed),
/// centred.
fn no_snapshot(app: &App, f: &mut Frame, area: Rect) {
    let msg = match &app.scan_error {
        Some(e) => format!("scan failed: {}", escape(e)),
        None => "scanning…".into(),
    };
    f.render_widget(
        Paragraph::new(msg).centered(),
        area.inner(ratatui::layout::Margin::new(0, area.height / 2)),
    );
}

/// The column headers, the sorted one marked with its direction.
fn header_row(app: &App, pal: &Pal, extra: &context::Columns) -> Row<'static> {
    Row::new(extra.header(vec![
        header_cell(app, "PROTO", Some(SortCol::Proto)),
        header_cell(app, "ADDR:PORT", Some(SortCol::Port)),
        header_cell(app, "PID", Some(SortCol::Pid)),
        header_cell(app, "PPID", Some(SortCol::Ppid)),
        header_cell(app, "USER", Some(SortCol::User)),
        header_cell(app, "CLASS", Some(SortCol::Class)),
        Cell::from("!"),
        header_cell(app, "COMMAND", Some(SortCol::Command)),
    ]))
    .style(pal.bold().add_modifier(Modifier::UNDERLINED))
}

/// No row to show: the headers, and whether the machine has no listener
/// or the filter matches none.
fn no_rows(
    app: &App,
    pal: &Pal,
    f: &mut Frame,
    area: Rect,
    snap: &portwarden::model::Snapshot,
    header: Row<'static>,
    widths: Vec<Constraint>,
) {
    let msg = if snap.sockets.is_empty() {
        "no listening sockets".to_string()
    } else {
        format!("no rows match the filter '{}'", escape(app.active_filter()))
    };
    let [h, rest] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    f.render_widget(
        Table::new(Vec::<Row>::new(), widths)
            .header(header)
            .highlight_symbol(">")
            .highlight_spacing(HighlightSpacing::Always),
        h,
    );
    f.render_widget(
        Paragraph::new(msg).centered().style(pal.dim()),
        rest.inner(ratatui::layout::Margin::new(0, rest.height / 3)),
    );
}

/// The column widths a row is cut to.
struct RowCols {
    /// The fixed columns' widths.
    w: [u16; 7],
    /// What is left for COMMAND.
    cmd_w: usize,
    /// The optional context columns.
    extra: context::Columns,
}

/// One row: the socket's cells (blank on its continuation rows), then the
/// holder's, or the socket's owner and why no holder was found.
fn table_row(
    app: &App,
    pal: &Pal,
    snap: &portwarden::model::Snapshot,
    r: &crate::tui::state::Row,
    cols: &RowCols,
) -> Row<'static> {
    let s = &snap.sockets[r.socket];
    let (proto, addr, stuck) = if r.first {
        (
            Cell::from(s.proto.as_str()),
            Cell::from(trunc_left(&s.endpoint(), usize::from(cols.w[1]))),
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
        let cells = vec![
            proto,
            addr,
            Cell::from("-"),
            Cell::from("-"),
            Cell::from(format!("uid {}", s.uid)),
            Cell::from("?"),
            stuck,
            Cell::from(truncate(&unresolved_text(s), cols.cmd_w)).style(pal.dim()),
        ];
        return Row::new(cols.extra.cells(app, r, cells));
    };
    let mut cells = vec![proto, addr];
    cells.extend(holder_cells(app, pal, snap, pid, cols));
    cells.insert(6, stuck);
    Row::new(cols.extra.cells(app, r, cells))
}

/// PID, PPID, USER, CLASS and COMMAND of a holder (`?` where unknown).
fn holder_cells(
    app: &App,
    pal: &Pal,
    snap: &portwarden::model::Snapshot,
    pid: Pid,
    cols: &RowCols,
) -> Vec<Cell<'static>> {
    let p = snap.process(pid);
    let class = app.class_of(pid);
    vec![
        Cell::from(pid.to_string()),
        Cell::from(p.map(|p| p.ppid.to_string()).unwrap_or_else(|| "?".into())),
        Cell::from(
            p.map(|p| {
                escape_trunc(
                    &p.user.clone().unwrap_or_else(|| p.uid.to_string()),
                    usize::from(cols.w[4]),
                )
            })
            .unwrap_or_else(|| "?".into()),
        ),
        match class {
            Some(c) => Cell::from(c.as_str()).style(pal.class(c)),
            None => Cell::from("?"),
        },
        Cell::from(
            p.map(|p| escape_trunc(&p.short_command(), cols.cmd_w))
                .unwrap_or_else(|| "?".into()),
        ),
    ]
}

pub(super) fn constraints(w: &[u16; 7]) -> Vec<Constraint> {
    let mut c: Vec<Constraint> = w.iter().map(|&n| Constraint::Length(n)).collect();
    c.push(Constraint::Fill(1));
    c
}
