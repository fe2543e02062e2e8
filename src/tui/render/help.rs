//! The help overlay, scrolling on short terminals. Its key lines come
//! from the key tables ([`crate::tui::keys`]), as the key bar's do.

use super::*;

/// The help overlay; it scrolls (↑/↓, PgUp/PgDn) when the terminal is too
/// short for all of it, with the same markers as the kill dialog.
pub(super) fn help(pal: &Pal, f: &mut Frame, area: Rect, scroll: u16) {
    let lines = help_lines(pal);
    debug_assert_eq!(lines.len(), keys::help_lines_count());
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

pub(super) fn help_lines(pal: &Pal) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = keys::help_entries()
        .into_iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!(" {k:<14} "), pal.bold()),
                Span::raw(v),
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
