//! The kill confirmation: exactly what will die, scrolling when long.

use super::*;

/// The holder of a plan: the target with role `holder`, else the first.
pub(super) fn plan_holder(view: &PlanView) -> Option<(Pid, Class)> {
    view.targets
        .iter()
        .find(|t| t.role == "holder")
        .or(view.targets.first())
        .map(|t| (t.pid, t.class))
}

pub(super) fn reasons_of(app: &App, pid: Pid) -> Vec<String> {
    match (&app.snapshot, app.verdicts.get(&pid)) {
        (_, Some(v)) => v.reasons.clone(),
        (Some(snap), None) => classify::classify_process(snap, &app.ctx, pid).reasons,
        (None, None) => Vec::new(),
    }
}

/// The kill dialog: what is freed and who holds it, the signal, every
/// target (scrolling between "more" markers when they do not fit), what is
/// never signalled, and the keys.
pub(super) fn confirm(
    app: &App,
    pal: &Pal,
    f: &mut Frame,
    area: Rect,
    req: &KillRequest,
    v: &PlanView,
    scroll: usize,
) {
    let width = usize::from(popup(area, 100, 10).width.saturating_sub(2));
    let mut head = forced_warning(pal, width, v);
    head.extend(plan_summary(app, pal, width, req, v));
    let tail = confirm_tail(pal, width, v);
    let max_inner = usize::from(area.height.saturating_sub(4));
    let room = max_inner.saturating_sub(head.len() + tail.len()).max(1);
    let mut lines = head;
    lines.extend(target_list(pal, width, v, room, scroll));
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

/// A forced plan says so first, with the refusals it overrides.
fn forced_warning(pal: &Pal, width: usize, v: &PlanView) -> Vec<Line<'static>> {
    let mut head = Vec::new();
    if !v.forced {
        return head;
    }
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
    head
}

/// What is freed, the holder and why it is what it is, the containers
/// stopped, the signal and the target table's header.
fn plan_summary(
    app: &App,
    pal: &Pal,
    width: usize,
    req: &KillRequest,
    v: &PlanView,
) -> Vec<Line<'static>> {
    let what = if v.ports.is_empty() {
        req.label()
    } else {
        format!("port {}", v.ports.join(", "))
    };
    let mut head = vec![Line::from(vec![
        Span::styled("Free: ", pal.bold()),
        Span::raw(what),
    ])];
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
    head
}

/// What is never signalled, a blank line and the keys.
fn confirm_tail(pal: &Pal, width: usize, v: &PlanView) -> Vec<Line<'static>> {
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
    tail
}

/// Every target, one line each. When they do not fit in `room` lines the
/// list scrolls (↑/↓) from `scroll` (see [`scrolled`]).
fn target_list(
    pal: &Pal,
    width: usize,
    v: &PlanView,
    room: usize,
    scroll: usize,
) -> Vec<Line<'static>> {
    let body = v
        .targets
        .iter()
        .map(|t| {
            let head = format!(
                "{:>7} {:<8} {:<10} ",
                t.pid,
                escape_trunc(&t.user, 8),
                t.role
            );
            let rest = width.saturating_sub(head.chars().count()).max(1);
            Line::from(format!("{head}{}", escape_trunc(&t.command, rest)))
        })
        .collect();
    scrolled(pal, body, room, scroll)
}

pub(super) fn human_grace(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}
