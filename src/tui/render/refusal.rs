//! The refusal dialog: why portwarden will not kill, and what to run instead.

use super::*;

/// The refusal: what was asked, each refused holder with its class and
/// the reason (with the command to use instead), and whether force is
/// offered.
pub(super) fn refused(
    pal: &Pal,
    f: &mut Frame,
    area: Rect,
    req: &KillRequest,
    v: &PlanView,
    scroll: usize,
) {
    let width = usize::from(popup(area, 90, 10).width.saturating_sub(2));
    let mut lines: Vec<Line> = vec![Line::from(vec![
        Span::styled("portwarden will not kill ", pal.bold()),
        Span::styled(req.label(), pal.bold()),
    ])];
    let body = reasons(pal, width, v);
    let tail = refusal_tail(pal, req, v);
    let room = usize::from(area.height.saturating_sub(4))
        .saturating_sub(lines.len() + tail.len())
        .max(3);
    lines.extend(scrolled(pal, body, room, scroll));
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

/// Each refused holder: a blank line, its pid and class, its reason.
fn reasons(pal: &Pal, width: usize, v: &PlanView) -> Vec<Line<'static>> {
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
    body
}

/// That nothing was signalled, and the keys: force only when forcing would
/// signal something and the plan was not forced already.
fn refusal_tail(pal: &Pal, req: &KillRequest, v: &PlanView) -> Vec<Line<'static>> {
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
    tail
}
