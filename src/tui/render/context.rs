//! The context pieces of the screen (issue 13) that draw from the whole
//! [`App`]: the event log overlay (key `e`) and the optional PROJECT and
//! CONN columns of the main table.
//!
//! The data they draw (the event log, project labels, detail lines) lives
//! in [`crate::tui::context`], which knows nothing of the app or the
//! screen; this half sits under `render` so neither module imports the
//! other's parent.

use ratatui::widgets::Cell;

use portwarden::events::Kind;

use super::*;
use crate::tui::context::{CONN_MIN_WIDTH, PROJECT_MIN_WIDTH, log_line, project_label};
use crate::tui::state::Row as TableRow;

/// The event log overlay: newest at the top.
pub fn render_log(app: &App, f: &mut Frame, area: Rect) {
    let w = area.width.saturating_sub(4).clamp(20, 110);
    let h = area.height.saturating_sub(2).max(3);
    let r = area.centered(Constraint::Length(w), Constraint::Length(h));
    let inner = usize::from(w.saturating_sub(2));
    let lines: Vec<Line> = if app.events.events.is_empty() {
        vec![Line::from(" nothing has changed since portwarden started")]
    } else {
        app.events
            .events
            .iter()
            .map(|e| {
                let l = Line::from(truncate(&log_line(e, app.now), inner));
                match e.kind {
                    Kind::Stuck if app.color => l.style(Style::new().fg(Color::Red)),
                    Kind::Close if app.color => l.style(Style::new().add_modifier(Modifier::DIM)),
                    _ => l,
                }
            })
            .collect()
    };
    clear_band(f, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(format!(
            " events since start: {} — newest first · e/Esc closes ",
            app.events.count()
        ))),
        r,
    );
}

/// The optional columns of the main table, between `!` and COMMAND.
#[derive(Debug, Clone, Copy, Default)]
pub struct Columns {
    /// CONN (established connections of TCP listeners).
    pub conn: bool,
    /// PROJECT, this wide.
    pub project: Option<u16>,
}

impl Columns {
    /// Which columns fit a table `width` wide and have something to show.
    pub fn for_app(app: &App, width: u16) -> Self {
        let Some(snap) = &app.snapshot else {
            return Columns::default();
        };
        let conn = width >= CONN_MIN_WIDTH && !snap.connections.is_empty();
        let longest = app
            .rows
            .iter()
            .filter_map(|r| project_label(snap, r.pid))
            .map(|l| l.chars().count())
            .max();
        let project = longest
            .filter(|_| width >= PROJECT_MIN_WIDTH)
            .map(|n| n.clamp(7, 24) as u16);
        Columns { conn, project }
    }

    /// Columns (with their gaps) this adds to the table's fixed width.
    pub fn width(&self) -> u16 {
        u16::from(self.conn) * 5 + self.project.map_or(0, |w| w + 1)
    }

    /// Insert the header cells before COMMAND (the last cell).
    pub fn header(&self, mut cells: Vec<Cell<'static>>) -> Vec<Cell<'static>> {
        let at = cells.len().saturating_sub(1);
        if let Some(_w) = self.project {
            cells.insert(at, Cell::from("PROJECT"));
        }
        if self.conn {
            cells.insert(at, Cell::from("CONN"));
        }
        cells
    }

    /// Insert a row's cells before COMMAND, and mark a socket that
    /// appeared in the last minute (`+` before the protocol).
    pub fn cells(
        &self,
        app: &App,
        row: &TableRow,
        mut cells: Vec<Cell<'static>>,
    ) -> Vec<Cell<'static>> {
        let Some(snap) = &app.snapshot else {
            return cells;
        };
        let s = &snap.sockets[row.socket];
        if row.first && app.events.is_new(s, app.now) && !cells.is_empty() {
            let style = if app.color {
                Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)
            } else {
                Style::new().add_modifier(Modifier::BOLD)
            };
            cells[0] = Cell::from(format!("+{}", s.proto)).style(style);
        }
        let at = cells.len().saturating_sub(1);
        if let Some(w) = self.project {
            let l = project_label(snap, row.pid).unwrap_or_default();
            cells.insert(at, Cell::from(truncate(&l, usize::from(w))));
        }
        if self.conn {
            let n = match snap.connections.get(&s.inode) {
                Some(c) if row.first => c.established.to_string(),
                _ => String::new(),
            };
            cells.insert(at, Cell::from(format!("{n:>4}")));
        }
        cells
    }

    /// The constraints, with this table's extra columns before the last
    /// (COMMAND's fill).
    pub fn constraints(&self, mut c: Vec<Constraint>) -> Vec<Constraint> {
        let at = c.len().saturating_sub(1);
        if let Some(w) = self.project {
            c.insert(at, Constraint::Length(w));
        }
        if self.conn {
            c.insert(at, Constraint::Length(4));
        }
        c
    }
}
