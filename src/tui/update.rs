//! The update function: every input (key, mouse, resize, tick, snapshot,
//! kill progress) is a [`Msg`]; [`update`] turns it into state changes and
//! a list of [`Effect`]s for the event loop to carry out.
//!
//! Keeping this pure is what makes the dangerous path testable: a kill can
//! only be executed through [`Effect::Kill`], and the only place that emits
//! it is the `y` key of the confirmation dialog. Pressing `x` only emits
//! [`Effect::Plan`]; the plan comes back as [`Msg::Planned`] and opens the
//! confirmation (or the refusal, for foreign and managed holders).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};

use portwarden::model::Snapshot;
use portwarden::spec::PortSpec;

use super::keys::{self, Action, help_max_scroll, lookup};
use super::msg::{KillRequest, KillTarget, Planned};
// The messages are re-exported where the update function is.
pub use super::msg::{Effect, Msg};
use super::state::{App, Mode, TABLE_BODY_TOP, Tone, TreeLine, TreeView};

/// Apply one message to the state.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(k) if k.kind == KeyEventKind::Release => Vec::new(),
        Msg::Key(k) => key(app, k),
        Msg::Mouse(m) => {
            mouse(app, m);
            Vec::new()
        }
        Msg::Resize(w, h) => {
            app.size = (w, h);
            app.scroll_to_selection();
            Vec::new()
        }
        Msg::Tick { now } => {
            app.now = now;
            Vec::new()
        }
        Msg::ScanStarted => {
            // Periodic scans are quiet (no header flicker every interval);
            // only the first scan and an explicit refresh show "scanning…".
            if app.snapshot.is_none() {
                app.scanning = true;
            }
            Vec::new()
        }
        Msg::Snapshot { result, at } => snapshot_msg(app, result, at),
        Msg::Planned(planned) => {
            planned_msg(app, planned);
            Vec::new()
        }
        Msg::KillProgress(line) => {
            if let Mode::Killing { progress, .. } = &mut app.mode {
                progress.push(line);
            }
            Vec::new()
        }
        Msg::KillDone { success, summary } => {
            if matches!(app.mode, Mode::Killing { .. }) {
                app.mode = Mode::Normal;
            }
            app.status = Some((summary, if success { Tone::Good } else { Tone::Bad }));
            refresh(app)
        }
        Msg::Cwd(pid, cwd) => {
            app.cwd = Some((pid, cwd));
            Vec::new()
        }
        Msg::Terminate => quit(app),
    }
}

/// A scan finished: install it (or its error), put an open tree's cursor
/// back on its holder if the process under it is gone, and ask for the cwd
/// an open details pane shows.
fn snapshot_msg(app: &mut App, result: Result<Snapshot, String>, at: u64) -> Vec<Effect> {
    app.scanning = false;
    app.now = app.now.max(at);
    match result {
        Ok(snap) => {
            app.set_snapshot(snap);
            app.scan_error = None;
            app.updated_at = Some(at);
        }
        Err(e) => app.scan_error = Some(e),
    }
    if let Mode::Tree(t) = &app.mode {
        let lines = app.tree_lines(t);
        if !lines.iter().any(|l| l.pid == t.cursor) {
            let holder = t.holder;
            app.mode = Mode::Tree(TreeView {
                holder,
                cursor: holder,
            });
        }
    }
    details_effects(app)
}

/// A plan arrived: a refusal (unless forced into something to do), a
/// status line when there is nothing left to kill, else the confirmation.
fn planned_msg(app: &mut App, planned: Box<Planned>) {
    let Mode::Planning(request) = &app.mode else {
        // Cancelled while planning.
        return;
    };
    let request = request.clone();
    let v = &planned.view;
    app.refusal_scroll = 0;
    app.mode = if v.is_refused() && (!request.force || v.is_empty()) {
        Mode::Refused { request, planned }
    } else if v.is_empty() {
        app.status = Some((
            format!(
                "nothing to kill for {}: it is already gone",
                request.label()
            ),
            Tone::Info,
        ));
        Mode::Normal
    } else {
        Mode::Confirm {
            request,
            planned,
            scroll: 0,
        }
    };
}

fn quit(app: &mut App) -> Vec<Effect> {
    app.quit = true;
    vec![Effect::Quit]
}

/// While the details pane is open, ask for the selected holder's cwd.
fn details_effects(app: &App) -> Vec<Effect> {
    if !matches!(app.mode, Mode::Details) {
        return Vec::new();
    }
    match app.selected_row().and_then(|r| r.pid) {
        Some(pid) => vec![Effect::ReadCwd(pid)],
        None => Vec::new(),
    }
}

/// A key press: Ctrl-C and Alt+key first, then the table of whatever is on
/// top (help, event log, filter prompt, then the mode).
fn key(app: &mut App, k: KeyEvent) -> Vec<Effect> {
    if lookup(&keys::GLOBAL, &k) == Some(Action::Quit) {
        return quit(app);
    }
    // A fast Esc followed by a key reaches us as Alt+key (that is how
    // terminals encode Alt). No binding uses Alt, so treat it as both.
    if k.modifiers.contains(KeyModifiers::ALT) && matches!(k.code, KeyCode::Char(_)) {
        let mut effects = key(app, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        if !app.quit {
            let plain = KeyEvent::new(k.code, k.modifiers.difference(KeyModifiers::ALT));
            effects.extend(key(app, plain));
        }
        return effects;
    }
    if app.help {
        return help_key(app, &k);
    }
    if app.events.open {
        return events_key(app, &k);
    }
    if app.filter_input.is_some() {
        return filter_key(app, k);
    }
    let action = lookup(keys::mode_table(&app.mode), &k);
    let Some(action) = action else {
        return Vec::new();
    };
    match app.mode {
        Mode::Normal => normal_key(app, action),
        Mode::Details => details_key(app, action),
        Mode::Tree(_) => tree_key(app, action),
        Mode::Planning(_) => {
            // Cancel is the only binding: back to the table, quietly.
            app.mode = Mode::Normal;
            Vec::new()
        }
        Mode::Refused { .. } => refused_key(app, action),
        Mode::Confirm { .. } => confirm_key(app, action),
        // Quit is the only binding while a kill runs.
        Mode::Killing { .. } => quit(app),
    }
}

/// The help overlay: movement scrolls it, clamped to what it has.
fn help_key(app: &mut App, k: &KeyEvent) -> Vec<Effect> {
    let s = app.help_scroll;
    match lookup(&keys::HELP, k) {
        Some(Action::Close) => {
            app.help = false;
            app.help_scroll = 0;
        }
        Some(Action::Quit) => return quit(app),
        Some(Action::MoveDown) => app.help_scroll = s.saturating_add(1),
        Some(Action::MoveUp) => app.help_scroll = s.saturating_sub(1),
        Some(Action::PageDown) => app.help_scroll = s.saturating_add(10),
        Some(Action::PageUp) => app.help_scroll = s.saturating_sub(10),
        Some(Action::First) => app.help_scroll = 0,
        _ => {}
    }
    app.help_scroll = app.help_scroll.min(help_max_scroll(app.size.1));
    Vec::new()
}

/// The event log overlay: it only closes (or quits).
fn events_key(app: &mut App, k: &KeyEvent) -> Vec<Effect> {
    match lookup(&keys::EVENTS, k) {
        Some(Action::Close) => app.events.open = false,
        Some(Action::Quit) => return quit(app),
        _ => {}
    }
    Vec::new()
}

/// The movement actions on the table (and the rows under the details
/// pane and the filter prompt). Returns whether `action` was one.
fn table_nav(app: &mut App, action: Action) -> bool {
    let page = app.page() as isize;
    match action {
        Action::MoveUp => app.move_by(-1),
        Action::MoveDown => app.move_by(1),
        Action::PageUp => app.move_by(-page),
        Action::PageDown => app.move_by(page),
        Action::First => app.select(0),
        Action::Last => app.select(usize::MAX),
        _ => return false,
    }
    true
}

/// The filter prompt: its bindings, else a printable key is typed.
fn filter_key(app: &mut App, k: KeyEvent) -> Vec<Effect> {
    let keep = app.selected_key();
    match lookup(&keys::FILTER, &k) {
        Some(Action::Apply) => {
            app.filter = app.filter_input.take().unwrap_or_default();
        }
        Some(Action::ClearFilter) => {
            app.filter_input = None;
            app.filter.clear();
        }
        Some(Action::Erase) => {
            if let Some(s) = &mut app.filter_input {
                s.pop();
            }
        }
        Some(action) => {
            table_nav(app, action);
            return Vec::new();
        }
        None => match k.code {
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => {
                if let Some(s) = &mut app.filter_input {
                    s.push(c);
                }
            }
            _ => return Vec::new(),
        },
    }
    app.rebuild(keep);
    Vec::new()
}

fn open_filter(app: &mut App) {
    app.filter_input = Some(app.filter.clone());
}

/// `r`: scan now, and say so in the header.
fn refresh(app: &mut App) -> Vec<Effect> {
    app.scanning = true;
    vec![Effect::Refresh]
}

/// The bare table.
fn normal_key(app: &mut App, action: Action) -> Vec<Effect> {
    if table_nav(app, action) {
        return Vec::new();
    }
    match action {
        Action::Quit => return quit(app),
        Action::Close => {
            if !app.filter.is_empty() {
                let keep = app.selected_key();
                app.filter.clear();
                app.rebuild(keep);
            }
            app.status = None;
        }
        Action::Filter => open_filter(app),
        Action::Details if app.selected_row().is_some() => {
            app.mode = Mode::Details;
            app.details_scroll = 0;
            return details_effects(app);
        }
        Action::Tree => open_tree(app),
        Action::Kill => return kill_selected(app),
        Action::Refresh => return refresh(app),
        Action::Sort => {
            let keep = app.selected_key();
            app.sort = app.sort.next();
            app.rebuild(keep);
        }
        Action::Reverse => {
            let keep = app.selected_key();
            app.reverse = !app.reverse;
            app.rebuild(keep);
        }
        Action::Help => app.help = true,
        Action::Events => app.events.open = true,
        _ => {}
    }
    Vec::new()
}

/// The details pane: PgUp/PgDn scroll it, the other movement keys move the
/// selection under it (and show that row's details from the top).
fn details_key(app: &mut App, action: Action) -> Vec<Effect> {
    if table_nav(app, action) {
        app.details_scroll = 0;
        return details_effects(app);
    }
    let page = usize::from(app.size.1.saturating_sub(6)).max(1);
    match action {
        Action::ScrollDown => app.details_scroll = app.details_scroll.saturating_add(page),
        Action::ScrollUp => app.details_scroll = app.details_scroll.saturating_sub(page),
        Action::Close => app.mode = Mode::Normal,
        Action::Quit => return quit(app),
        Action::Tree => open_tree(app),
        Action::Kill => return kill_selected(app),
        Action::Refresh => return refresh(app),
        Action::Help => app.help = true,
        _ => {}
    }
    Vec::new()
}

fn open_tree(app: &mut App) {
    let Some(row) = app.selected_row() else {
        return;
    };
    match row.pid {
        Some(pid) => {
            app.mode = Mode::Tree(TreeView {
                holder: pid,
                cursor: pid,
            })
        }
        None => {
            app.status = Some((
                "this socket has no visible holder: no tree to show".into(),
                Tone::Info,
            ))
        }
    }
}

/// The process tree: movement moves its cursor; `x` plans killing the
/// process group of the process under it.
fn tree_key(app: &mut App, action: Action) -> Vec<Effect> {
    let Mode::Tree(t) = &app.mode else {
        return Vec::new();
    };
    let t = t.clone();
    let lines = app.tree_lines(&t);
    if let Some(i) = tree_move(app, &lines, &t, action) {
        if let (Some(line), Mode::Tree(t)) = (lines.get(i), &mut app.mode) {
            t.cursor = line.pid;
        }
        return Vec::new();
    }
    match action {
        Action::Close => app.mode = Mode::Normal,
        Action::Quit => return quit(app),
        Action::Kill if lines.iter().any(|l| l.pid == t.cursor) => {
            let request = KillRequest {
                target: KillTarget::Group(t.cursor),
                force: false,
            };
            app.status = None;
            app.mode = Mode::Planning(request.clone());
            return vec![Effect::Plan(request)];
        }
        Action::Refresh => return refresh(app),
        Action::Help => app.help = true,
        _ => {}
    }
    Vec::new()
}

/// Where a movement action takes the tree's cursor (an index into
/// `lines`), or `None` when `action` is not a movement.
fn tree_move(app: &App, lines: &[TreeLine], t: &TreeView, action: Action) -> Option<usize> {
    let idx = lines.iter().position(|l| l.pid == t.cursor).unwrap_or(0);
    let last = lines.len().saturating_sub(1);
    let page = usize::from(app.size.1.saturating_sub(8)).max(1);
    match action {
        Action::MoveUp => Some(idx.saturating_sub(1)),
        Action::MoveDown => Some((idx + 1).min(last)),
        Action::PageUp => Some(idx.saturating_sub(page)),
        Action::PageDown => Some((idx + page).min(last)),
        Action::First => Some(0),
        Action::Last => Some(last),
        _ => None,
    }
}

/// `x` on the table: plan freeing the selected socket's port (that
/// protocol only). Nothing is signalled until the confirmation's `y`.
fn kill_selected(app: &mut App) -> Vec<Effect> {
    let Some(row) = app.selected_row() else {
        return Vec::new();
    };
    let Some(sock) = app.selected_socket() else {
        return Vec::new();
    };
    if row.pid.is_none() {
        let why = sock.unresolved.clone().unwrap_or_default();
        app.status = Some((
            format!("no visible process holds {}: {why}", sock.endpoint()),
            Tone::Bad,
        ));
        return Vec::new();
    }
    let request = KillRequest {
        target: KillTarget::Ports(vec![PortSpec {
            proto: Some(sock.proto),
            port: sock.port,
        }]),
        force: false,
    };
    app.status = None;
    app.mode = Mode::Planning(request.clone());
    vec![Effect::Plan(request)]
}

/// A refusal: force (when offered) plans again; ↑/↓ scroll the reasons
/// (the renderer clamps).
fn refused_key(app: &mut App, action: Action) -> Vec<Effect> {
    let Mode::Refused { request, .. } = &app.mode else {
        return Vec::new();
    };
    match action {
        Action::Force if keys::enabled(app, Action::Force) => {
            let forced = KillRequest {
                force: true,
                ..request.clone()
            };
            app.mode = Mode::Planning(forced.clone());
            vec![Effect::Plan(forced)]
        }
        Action::Cancel => {
            app.mode = Mode::Normal;
            app.status = Some(("refused: nothing was signalled".into(), Tone::Info));
            Vec::new()
        }
        Action::MoveUp => {
            app.refusal_scroll = app.refusal_scroll.saturating_sub(1);
            Vec::new()
        }
        Action::MoveDown => {
            app.refusal_scroll = app.refusal_scroll.saturating_add(1);
            Vec::new()
        }
        Action::Quit => quit(app),
        _ => Vec::new(),
    }
}

/// The kill dialog: `y` is the only way to [`Effect::Kill`].
fn confirm_key(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Confirm => {
            let mode = std::mem::replace(&mut app.mode, Mode::Normal);
            let Mode::Confirm {
                request, planned, ..
            } = mode
            else {
                app.mode = mode;
                return Vec::new();
            };
            app.mode = Mode::Killing {
                label: request.label(),
                progress: Vec::new(),
            };
            vec![Effect::Kill(planned)]
        }
        Action::Cancel => {
            app.mode = Mode::Normal;
            app.status = Some(("kill cancelled: nothing was signalled".into(), Tone::Info));
            Vec::new()
        }
        Action::MoveUp | Action::MoveDown => {
            if let Mode::Confirm {
                planned, scroll, ..
            } = &mut app.mode
            {
                let last = planned.view.targets.len().saturating_sub(1);
                *scroll = match action {
                    Action::MoveUp => scroll.saturating_sub(1),
                    _ => (*scroll + 1).min(last),
                };
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn mouse(app: &mut App, m: MouseEvent) {
    if app.help || !matches!(app.mode, Mode::Normal | Mode::Details) {
        return;
    }
    match m.kind {
        MouseEventKind::ScrollDown => app.move_by(3),
        MouseEventKind::ScrollUp => app.move_by(-3),
        MouseEventKind::Down(_) if matches!(app.mode, Mode::Normal) => {
            let top = TABLE_BODY_TOP;
            if m.row >= top && usize::from(m.row - top) < app.page() {
                let i = app.offset + usize::from(m.row - top);
                if i < app.rows.len() {
                    app.select(i);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
