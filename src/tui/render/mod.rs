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

use crate::tui::keys;
use crate::tui::msg::{KillRequest, PlanView};
use crate::tui::state::{App, Mode, SortCol, Tone, TreeKind, TreeView, signal_name};

mod confirm;
pub(in crate::tui) mod context;
mod details;
mod help;
mod layout;
mod palette;
mod refusal;
mod table;
mod tree;

use confirm::*;
use details::*;
use help::*;
use layout::*;
pub(super) use layout::{clear_band, wrapped_rows};
pub use palette::*;
use refusal::*;
use table::*;
use tree::*;

/// Draw the whole screen: the frame (header, table, status, key bar),
/// then whatever the mode opens over it, then the event log and the help
/// on top of everything.
pub fn render(app: &App, f: &mut Frame) {
    let pal = Pal { color: app.color };
    let area = f.area();
    frame(app, &pal, f, area);
    mode_popup(app, &pal, f, area);
    if app.events.open {
        context::render_log(app, f, area);
    }
    if app.help {
        help(&pal, f, area, app.help_scroll);
    }
}

/// The screen under any popup: header, table, status line, key bar.
fn frame(app: &App, pal: &Pal, f: &mut Frame, area: Rect) {
    // A status longer than the line (a respawn's next step) wraps onto
    // up to six lines instead of being cut.
    let status_text = status_line(app, pal);
    let status_rows = wrapped_rows(std::slice::from_ref(&status_text), area.width).clamp(1, 6);
    let [head, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(status_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(header_line(app, pal, area.width)), head);
    table(app, pal, f, body);
    f.render_widget(
        Paragraph::new(status_text).wrap(Wrap { trim: false }),
        status,
    );
    f.render_widget(
        Paragraph::new(Line::from(key_hints(app, area.width)).style(pal.dim())),
        keys,
    );
}

/// The popup of the current mode, if it has one.
fn mode_popup(app: &App, pal: &Pal, f: &mut Frame, area: Rect) {
    match &app.mode {
        Mode::Normal => {}
        Mode::Details => details(app, pal, f, area),
        Mode::Tree(t) => tree(app, pal, f, area, t),
        Mode::Planning(req) => planning(f, area, req),
        Mode::Refused { request, planned } => {
            refused(pal, f, area, request, &planned.view, app.refusal_scroll)
        }
        Mode::Confirm {
            request,
            planned,
            scroll,
        } => confirm(app, pal, f, area, request, &planned.view, *scroll),
        Mode::Killing { label, progress } => killing(pal, f, area, label, progress),
    }
}

/// A request being planned (a moment: planning reads only the snapshot).
fn planning(f: &mut Frame, area: Rect, req: &KillRequest) {
    let r = popup(area, 50, 3);
    let text = format!("planning: {}…", req.label());
    clear_band(f, r);
    f.render_widget(Paragraph::new(text).block(Block::bordered()), r);
}

/// A kill executing: its progress so far, the newest lines when they do
/// not all fit.
fn killing(pal: &Pal, f: &mut Frame, area: Rect, label: &str, progress: &[String]) {
    let h = (progress.len() as u16).saturating_add(3).min(area.height);
    let r = popup(area, 70, h.max(4));
    let mut lines: Vec<Line> = progress.iter().map(|p| Line::from(p.clone())).collect();
    lines.push(Line::from("working… (the result appears in the status line)").style(pal.dim()));
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

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;
    use insta::assert_snapshot;
    use ratatui::style::Color;

    use super::*;
    use crate::tui::fixture::*;
    use crate::tui::msg::Msg;

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
        let planned = crate::tui::effects::fixture(crate::tui::msg::PlanView {
            ports: vec!["tcp:6379".into()],
            refusals: vec![crate::tui::msg::RefusalView {
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
        let req = |force| crate::tui::msg::KillRequest {
            target: crate::tui::msg::KillTarget::Ports(vec!["18080".parse().expect("a port")]),
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
        let planned = crate::tui::effects::fixture(crate::tui::msg::PlanView {
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
