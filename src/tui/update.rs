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
mod tests {
    use super::*;
    use crate::tui::fixture::*;
    use crate::tui::state::SortCol;
    use portwarden::model::Pid;

    fn kills(effects: &[Effect]) -> usize {
        effects
            .iter()
            .filter(|e| matches!(e, Effect::Kill(_)))
            .count()
    }

    fn plans(effects: &[Effect]) -> Vec<KillRequest> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Plan(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    fn ports(app: &App) -> Vec<(u16, Option<Pid>)> {
        let snap = app.snapshot.as_ref().expect("snapshot");
        app.rows
            .iter()
            .map(|r| (snap.sockets[r.socket].port, r.pid))
            .collect()
    }

    #[test]
    fn rows_are_sorted_by_port_and_grouped_by_socket() {
        let app = app();
        assert_eq!(
            ports(&app),
            vec![
                (80, Some(700)),
                (80, Some(701)),
                (2049, None),
                (3000, Some(3000)),
                (5000, Some(4200)),
                (6379, Some(4400)),
                (8000, Some(4000)),
                (9999, Some(4300)),
                (21027, Some(4100)),
            ]
        );
        let firsts: Vec<bool> = app.rows.iter().map(|r| r.first).collect();
        assert_eq!(firsts[..3], [true, false, true]);
    }

    #[test]
    fn movement_keys() {
        let mut app = app();
        assert_eq!(app.selected, 0);
        feed(&mut app, [ch('j'), press(KeyCode::Down)]);
        assert_eq!(app.selected, 2);
        feed(&mut app, [ch('k')]);
        assert_eq!(app.selected, 1);
        feed(&mut app, [ch('G')]);
        assert_eq!(app.selected, app.rows.len() - 1);
        feed(&mut app, [press(KeyCode::Down)]);
        assert_eq!(app.selected, app.rows.len() - 1, "clamped at the end");
        feed(&mut app, [ch('g')]);
        assert_eq!(app.selected, 0);
        feed(&mut app, [press(KeyCode::Up)]);
        assert_eq!(app.selected, 0, "clamped at the start");
        feed(&mut app, [press(KeyCode::End)]);
        assert_eq!(app.selected, 8);
        feed(&mut app, [press(KeyCode::Home), press(KeyCode::PageDown)]);
        assert_eq!(app.selected, 8, "a page is longer than the table");
    }

    #[test]
    fn paging_scrolls_a_small_terminal() {
        let mut app = app_sized(80, 8); // 4 body rows
        assert_eq!(app.page(), 4);
        feed(&mut app, [press(KeyCode::PageDown)]);
        assert_eq!(app.selected, 4);
        assert_eq!(app.offset, 1);
        feed(&mut app, [press(KeyCode::End)]);
        assert_eq!((app.selected, app.offset), (8, 5));
        feed(&mut app, [press(KeyCode::PageUp)]);
        assert_eq!((app.selected, app.offset), (4, 4));
    }

    #[test]
    fn quit_keys() {
        for msg in [
            ch('q'),
            Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Msg::Terminate,
        ] {
            let mut app = app();
            let fx = feed(&mut app, [msg]);
            assert!(app.quit);
            assert!(matches!(fx.as_slice(), [Effect::Quit]));
        }
        // Ctrl-C quits even from the filter prompt, where `q` is text.
        let mut app = app();
        feed(&mut app, [ch('/'), ch('q')]);
        assert!(!app.quit);
        assert_eq!(app.filter_input.as_deref(), Some("q"));
        feed(
            &mut app,
            [Msg::Key(KeyEvent::new(
                KeyCode::Char('c'),
                KeyModifiers::CONTROL,
            ))],
        );
        assert!(app.quit);
    }

    #[test]
    fn sort_cycles_and_reverses() {
        let mut app = app();
        feed(&mut app, [ch('s')]);
        assert_eq!(app.sort, SortCol::Proto);
        // tcp before udp, then by port
        assert_eq!(ports(&app).last(), Some(&(21027, Some(4100))));
        feed(&mut app, [ch('s')]);
        assert_eq!(app.sort, SortCol::Pid);
        // No holder sorts first (None < Some), then by the first holder's pid.
        let pids: Vec<Option<Pid>> = ports(&app).iter().map(|p| p.1).collect();
        assert_eq!(
            pids,
            vec![
                None,
                Some(700),
                Some(701),
                Some(3000),
                Some(4000),
                Some(4100),
                Some(4200),
                Some(4300),
                Some(4400)
            ]
        );
        feed(&mut app, [ch('S')]);
        assert!(app.reverse);
        let pids: Vec<Option<Pid>> = ports(&app).iter().map(|p| p.1).collect();
        assert_eq!(pids[0], Some(4400));
        // Holders of one socket stay together, in pid order, even reversed.
        let i = pids.iter().position(|p| *p == Some(700)).expect("700");
        assert_eq!(pids[i + 1], Some(701));
        for _ in 0..5 {
            feed(&mut app, [ch('s')]);
        }
        assert_eq!(app.sort, SortCol::Port, "the cycle wraps around");
    }

    #[test]
    fn sort_keeps_the_selection() {
        let mut app = app();
        select_pid(&mut app, 4300);
        feed(&mut app, [ch('s'), ch('s'), ch('S')]);
        assert_eq!(selected_pid(&app), Some(4300));
    }

    #[test]
    fn filter_types_applies_and_clears() {
        let mut app = app();
        feed(&mut app, [ch('/')]);
        assert_eq!(app.filter_input.as_deref(), Some(""));
        feed(&mut app, typed("node"));
        // Live while typing.
        assert_eq!(ports(&app), vec![(3000, Some(3000))]);
        feed(&mut app, [press(KeyCode::Enter)]);
        assert_eq!(app.filter, "node");
        assert!(app.filter_input.is_none());
        assert_eq!(app.rows.len(), 1);
        // j/k are navigation again once applied.
        feed(&mut app, [ch('j')]);
        assert_eq!(app.filter, "node");
        // Esc clears it.
        feed(&mut app, [press(KeyCode::Esc)]);
        assert_eq!(app.filter, "");
        assert_eq!(app.rows.len(), 9);
        assert_eq!(selected_pid(&app), Some(3000), "selection stays on the row");
    }

    #[test]
    fn filter_matches_port_pid_user_class_and_command() {
        type Want = &'static [(u16, Option<Pid>)];
        let cases: &[(&str, Want)] = &[
            ("6379", &[(6379, Some(4400))]),
            ("4200", &[(5000, Some(4200))]),
            ("www-data", &[(80, Some(700)), (80, Some(701))]),
            ("FOREIGN", &[(80, Some(700)), (80, Some(701))]),
            ("managed", &[(6379, Some(4400))]),
            ("http.server", &[(8000, Some(4000))]),
            ("udp", &[(21027, Some(4100))]),
            ("no-such-thing", &[]),
        ];
        for (needle, want) in cases {
            let mut app = app();
            feed(&mut app, [ch('/')]);
            feed(&mut app, typed(needle));
            feed(&mut app, [press(KeyCode::Enter)]);
            assert_eq!(ports(&app), want.to_vec(), "filter {needle}");
        }
    }

    #[test]
    fn filter_backspace_and_escape_while_typing() {
        let mut app = app();
        feed(&mut app, [press(KeyCode::F(4))]);
        feed(&mut app, typed("nodex"));
        assert!(app.rows.is_empty());
        feed(&mut app, [press(KeyCode::Backspace)]);
        assert_eq!(app.rows.len(), 1);
        feed(&mut app, [press(KeyCode::Esc)]);
        assert!(app.filter_input.is_none());
        assert_eq!(app.rows.len(), 9);
    }

    #[test]
    fn selection_is_kept_across_refreshes() {
        let mut app = app();
        select_pid(&mut app, 4300);
        let before = app.selected;
        // A new snapshot with a new listener on a lower port and nginx gone.
        let mut snap = snapshot();
        snap.sockets.remove(0);
        let mut ssh = snap.sockets[0].clone();
        ssh.port = 22;
        ssh.inode = 22;
        ssh.holders = vec![4000];
        snap.sockets.insert(0, ssh);
        feed(
            &mut app,
            [Msg::Snapshot {
                result: Ok(snap),
                at: NOW + 2,
            }],
        );
        assert_eq!(selected_pid(&app), Some(4300));
        assert_eq!(
            app.selected,
            before - 1,
            "the row moved, the selection followed"
        );
        assert_eq!(app.updated_at, Some(NOW + 2));
    }

    #[test]
    fn selection_falls_back_to_the_same_socket_when_its_holder_exits() {
        let mut app = app();
        select_pid(&mut app, 701);
        let mut snap = snapshot();
        snap.sockets[0].holders = vec![700];
        snap.processes.remove(&701);
        feed(
            &mut app,
            [Msg::Snapshot {
                result: Ok(snap),
                at: NOW + 2,
            }],
        );
        assert_eq!(selected_pid(&app), Some(700));
    }

    #[test]
    fn a_failed_scan_keeps_the_last_snapshot() {
        let mut app = app();
        feed(
            &mut app,
            [Msg::Snapshot {
                result: Err("boom".into()),
                at: NOW + 2,
            }],
        );
        assert_eq!(app.scan_error.as_deref(), Some("boom"));
        assert_eq!(app.rows.len(), 9);
        feed(
            &mut app,
            [Msg::Snapshot {
                result: Ok(snapshot()),
                at: NOW + 4,
            }],
        );
        assert!(app.scan_error.is_none());
    }

    #[test]
    fn details_and_help_open_and_close() {
        let mut app = app();
        select_pid(&mut app, 3000);
        let fx = feed(&mut app, [press(KeyCode::Enter)]);
        assert!(matches!(app.mode, Mode::Details));
        assert!(matches!(fx.as_slice(), [Effect::ReadCwd(3000)]));
        // Moving in details follows the selection and asks for its cwd.
        let fx = feed(&mut app, [ch('j')]);
        assert!(matches!(fx.as_slice(), [Effect::ReadCwd(4200)]));
        feed(&mut app, [press(KeyCode::Esc)]);
        assert!(matches!(app.mode, Mode::Normal));
        feed(&mut app, [ch('i')]);
        assert!(matches!(app.mode, Mode::Details));
        feed(&mut app, [ch('?')]);
        assert!(app.help);
        // Esc closes the help first, then the details.
        feed(&mut app, [press(KeyCode::Esc)]);
        assert!(!app.help);
        assert!(matches!(app.mode, Mode::Details));
        feed(&mut app, [press(KeyCode::Esc)]);
        assert!(matches!(app.mode, Mode::Normal));
        feed(&mut app, [press(KeyCode::F(1))]);
        assert!(app.help);
        feed(&mut app, [press(KeyCode::F(1))]);
        assert!(!app.help);
    }

    #[test]
    fn refresh_key_asks_for_a_scan() {
        let mut app = app();
        let fx = feed(&mut app, [ch('r')]);
        assert!(matches!(fx.as_slice(), [Effect::Refresh]));
        assert!(app.scanning);
    }

    #[test]
    fn tree_navigates_and_kills_the_selected_group() {
        let mut app = app();
        select_pid(&mut app, 3000);
        feed(&mut app, [ch('t')]);
        let Mode::Tree(t) = &app.mode else {
            panic!("tree not open")
        };
        assert_eq!((t.holder, t.cursor), (3000, 3000));
        let lines: Vec<Pid> = app.tree_lines(t).iter().map(|l| l.pid).collect();
        assert_eq!(lines, vec![1, 3000, 3001, 3002]);
        feed(&mut app, [ch('j')]);
        let Mode::Tree(t) = &app.mode else {
            panic!("tree closed")
        };
        assert_eq!(t.cursor, 3001);
        // The cursor stays on its pid across a refresh.
        feed(
            &mut app,
            [Msg::Snapshot {
                result: Ok(snapshot()),
                at: NOW + 2,
            }],
        );
        let Mode::Tree(t) = &app.mode else {
            panic!("tree closed")
        };
        assert_eq!(t.cursor, 3001);
        let fx = feed(&mut app, [ch('x')]);
        assert_eq!(
            plans(&fx),
            vec![KillRequest {
                target: KillTarget::Group(3001),
                force: false
            }]
        );
        assert_eq!(kills(&fx), 0);
        assert!(matches!(app.mode, Mode::Planning(_)));
    }

    #[test]
    fn tree_of_a_socket_without_holder_is_refused_politely() {
        let mut app = app();
        app.select(2); // :2049, no holder
        let fx = feed(&mut app, [press(KeyCode::F(5))]);
        assert!(fx.is_empty());
        assert!(matches!(app.mode, Mode::Normal));
        assert!(app.status.is_some());
    }

    #[test]
    fn kill_request_then_cancel_signals_nothing() {
        for cancel in [press(KeyCode::Esc), ch('n')] {
            let mut app = app();
            select_pid(&mut app, 3000);
            let mut fx = feed(&mut app, [ch('x')]);
            assert_eq!(
                plans(&fx),
                vec![KillRequest {
                    target: KillTarget::Ports(vec![PortSpec {
                        proto: Some(portwarden::model::Proto::Tcp),
                        port: 3000
                    }]),
                    force: false
                }]
            );
            fx.extend(feed(&mut app, [Msg::Planned(Box::new(node_plan()))]));
            assert!(matches!(app.mode, Mode::Confirm { .. }));
            // Keys that are not y do not confirm.
            fx.extend(feed(
                &mut app,
                [ch('x'), ch('F'), press(KeyCode::Enter), ch('j')],
            ));
            assert!(matches!(app.mode, Mode::Confirm { .. }));
            fx.extend(feed(&mut app, [cancel]));
            assert!(matches!(app.mode, Mode::Normal));
            assert_eq!(kills(&fx), 0);
            // A late plan after cancelling does not reopen anything.
            fx.extend(feed(
                &mut app,
                [Msg::Planned(Box::new(node_plan())), ch('y')],
            ));
            assert_eq!(kills(&fx), 0);
        }
    }

    #[test]
    fn kill_confirm_emits_exactly_one_kill() {
        for kill_key in [ch('x'), press(KeyCode::F(9)), press(KeyCode::Delete)] {
            let mut app = app();
            select_pid(&mut app, 3000);
            let mut fx = feed(&mut app, [kill_key]);
            assert_eq!(plans(&fx).len(), 1);
            fx.extend(feed(&mut app, [Msg::Planned(Box::new(node_plan()))]));
            fx.extend(feed(&mut app, [ch('y'), ch('y')]));
            assert_eq!(kills(&fx), 1);
            let Some(Effect::Kill(p)) = fx.iter().find(|e| matches!(e, Effect::Kill(_))) else {
                unreachable!()
            };
            assert_eq!(p.view.targets.len(), 3);
            assert!(matches!(app.mode, Mode::Killing { .. }));
            feed(&mut app, [Msg::KillProgress("sent SIGTERM to 3000".into())]);
            let Mode::Killing { progress, .. } = &app.mode else {
                panic!()
            };
            assert_eq!(progress.len(), 1);
            let fx = feed(
                &mut app,
                [Msg::KillDone {
                    success: true,
                    summary: "port 3000 free after 140 ms".into(),
                }],
            );
            assert!(matches!(fx.as_slice(), [Effect::Refresh]));
            assert!(matches!(app.mode, Mode::Normal));
            assert_eq!(
                app.status,
                Some(("port 3000 free after 140 ms".into(), Tone::Good))
            );
        }
    }

    #[test]
    fn foreign_is_refused_and_force_asks_a_second_time() {
        let mut app = app();
        select_pid(&mut app, 700);
        let mut fx = feed(&mut app, [ch('x')]);
        fx.extend(feed(&mut app, [Msg::Planned(Box::new(nginx_plan(false)))]));
        assert!(matches!(app.mode, Mode::Refused { .. }));
        // y does not kill a refused plan.
        fx.extend(feed(&mut app, [ch('y')]));
        assert!(matches!(app.mode, Mode::Refused { .. }));
        assert_eq!(kills(&fx), 0);
        // F re-plans with force…
        let fx2 = feed(&mut app, [ch('F')]);
        assert_eq!(plans(&fx2).len(), 1);
        assert!(plans(&fx2)[0].force);
        assert!(matches!(app.mode, Mode::Planning(_)));
        // …and the forced plan is asked about again, not executed.
        let fx3 = feed(&mut app, [Msg::Planned(Box::new(nginx_plan(true)))]);
        assert_eq!(kills(&fx3), 0);
        let Mode::Confirm {
            request, planned, ..
        } = &app.mode
        else {
            panic!("no second confirmation")
        };
        assert!(request.force);
        assert!(planned.view.forced);
        let fx4 = feed(&mut app, [ch('y')]);
        assert_eq!(kills(&fx4), 1);
    }

    #[test]
    fn refusal_can_be_closed_without_forcing() {
        let mut app = app();
        select_pid(&mut app, 700);
        let mut fx = feed(
            &mut app,
            [ch('x'), Msg::Planned(Box::new(nginx_plan(false)))],
        );
        fx.extend(feed(&mut app, [press(KeyCode::Esc), ch('y')]));
        assert!(matches!(app.mode, Mode::Normal));
        assert_eq!(kills(&fx), 0);
        assert_eq!(plans(&fx).len(), 1);
    }

    #[test]
    fn a_forced_plan_that_is_still_refused_cannot_be_forced_again() {
        let mut app = app();
        select_pid(&mut app, 700);
        feed(
            &mut app,
            [ch('x'), Msg::Planned(Box::new(nginx_plan(false))), ch('F')],
        );
        // The planner still refuses and has nothing to signal.
        feed(&mut app, [Msg::Planned(Box::new(nginx_plan(false)))]);
        let Mode::Refused { request, .. } = &app.mode else {
            panic!()
        };
        assert!(request.force);
        let fx = feed(&mut app, [ch('F'), ch('y')]);
        assert!(fx.is_empty());
    }

    #[test]
    fn kill_on_a_socket_without_holder_plans_nothing() {
        let mut app = app();
        app.select(2);
        let fx = feed(&mut app, [ch('x')]);
        assert!(fx.is_empty());
        let (msg, _) = app.status.clone().expect("status");
        assert!(msg.contains("kernel"), "{msg}");
    }

    #[test]
    fn empty_plan_reports_nothing_to_kill() {
        let mut app = app();
        select_pid(&mut app, 3000);
        let fx = feed(
            &mut app,
            [
                ch('x'),
                Msg::Planned(Box::new(crate::tui::effects::fixture(Default::default()))),
                ch('y'),
            ],
        );
        assert_eq!(kills(&fx), 0);
        assert!(matches!(app.mode, Mode::Normal));
        assert!(app.status.is_some());
    }

    #[test]
    fn esc_then_key_typed_fast_arrives_as_alt_and_does_both() {
        let mut app = app();
        select_pid(&mut app, 3000);
        feed(&mut app, [ch('t')]);
        let fx = feed(
            &mut app,
            [Msg::Key(KeyEvent::new(
                KeyCode::Char('j'),
                KeyModifiers::ALT,
            ))],
        );
        assert!(fx.is_empty());
        assert!(matches!(app.mode, Mode::Normal), "Esc closed the tree");
        assert_eq!(selected_pid(&app), Some(4200), "then j moved down");
    }

    #[test]
    fn mouse_click_selects_and_wheel_scrolls() {
        use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
        let mut app = app();
        let at = |kind, row| {
            Msg::Mouse(MouseEvent {
                kind,
                column: 10,
                row,
                modifiers: KeyModifiers::NONE,
            })
        };
        feed(&mut app, [at(MouseEventKind::Down(MouseButton::Left), 5)]);
        assert_eq!(app.selected, 3);
        feed(&mut app, [at(MouseEventKind::ScrollDown, 0)]);
        assert_eq!(app.selected, 6);
        feed(&mut app, [at(MouseEventKind::ScrollUp, 0)]);
        assert_eq!(app.selected, 3);
        // Clicking the header or below the rows changes nothing.
        feed(&mut app, [at(MouseEventKind::Down(MouseButton::Left), 1)]);
        feed(&mut app, [at(MouseEventKind::Down(MouseButton::Left), 25)]);
        assert_eq!(app.selected, 3);
    }

    #[test]
    fn classification_happens_once_per_snapshot() {
        let app = app();
        assert_eq!(
            app.class_of(3000),
            Some(portwarden::classify::Class::Orphan)
        );
        assert_eq!(
            app.class_of(700),
            Some(portwarden::classify::Class::Foreign)
        );
        assert_eq!(
            app.class_of(4400),
            Some(portwarden::classify::Class::Managed)
        );
        assert_eq!(
            app.class_of(4100),
            Some(portwarden::classify::Class::Daemon)
        );
        assert_eq!(app.class_of(4000), Some(portwarden::classify::Class::Live));
        assert_eq!(app.counts(), (8, 1, 1));
    }

    #[test]
    fn long_confirmation_scrolls_and_still_needs_y() {
        let mut app = app_sized(80, 24);
        select_pid(&mut app, 3000);
        let fx = feed(&mut app, [ch('x'), Msg::Planned(Box::new(many_plan(40)))]);
        assert_eq!(kills(&fx), 0);
        let fx = feed(&mut app, [ch('j'), ch('j'), press(KeyCode::Down), ch('k')]);
        assert_eq!(kills(&fx), 0);
        let Mode::Confirm { scroll, .. } = &app.mode else {
            panic!("not confirming")
        };
        assert_eq!(*scroll, 2);
        for _ in 0..100 {
            feed(&mut app, [ch('j')]);
        }
        let Mode::Confirm { scroll, .. } = &app.mode else {
            panic!("not confirming")
        };
        assert_eq!(*scroll, 39, "clamped to the last target");
        assert_eq!(kills(&feed(&mut app, [ch('y')])), 1);
    }

    #[test]
    fn details_page_keys_scroll_and_moving_resets() {
        let mut app = app_sized(80, 24);
        select_pid(&mut app, 3000);
        feed(&mut app, [press(KeyCode::Enter), press(KeyCode::PageDown)]);
        assert_eq!(app.details_scroll, 18);
        assert_eq!(selected_pid(&app), Some(3000), "PgDn scrolls, not moves");
        feed(&mut app, [press(KeyCode::PageUp), press(KeyCode::PageUp)]);
        assert_eq!(app.details_scroll, 0);
        feed(&mut app, [press(KeyCode::PageDown), ch('j')]);
        assert_eq!(app.details_scroll, 0);
        assert_eq!(selected_pid(&app), Some(4200));
    }
}
