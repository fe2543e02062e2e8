//! Unit tests of `update`, with literal fixtures.

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
