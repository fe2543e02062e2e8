//! The frame around every screen (header, status line, key bar) and the
//! geometry and text helpers popups share: centred rectangles sized to
//! their wrapped text, a cleared band behind them, key/value lines.

use super::*;

pub(super) fn header_line(app: &App, pal: &Pal, width: u16) -> Line<'static> {
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

/// The key bar for the current mode (its key table's labels), cut to
/// `width` by dropping hints
/// from the middle: the first (how to move) and the last two (help, quit)
/// always stay, so even a narrow terminal shows how to leave.
pub(super) fn key_hints(app: &App, width: u16) -> String {
    let hints = keys::bar_labels(app, keys::bar_table(app));
    fit_hints(&hints, usize::from(width))
}

/// Join hints with two spaces, dropping middle ones until the line fits.
pub(super) fn fit_hints(hints: &[&str], width: usize) -> String {
    let mut kept: Vec<&str> = hints.to_vec();
    // One leading space, two between hints.
    let len = |v: &[&str]| v.iter().map(|h| h.chars().count() + 2).sum::<usize>() - 1;
    while len(&kept) > width && kept.len() > 3 {
        kept.remove(kept.len() - 3);
    }
    format!(" {}", kept.join("  "))
}

pub(super) fn status_line(app: &App, pal: &Pal) -> Line<'static> {
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

/// `…` plus the end of an endpoint, so the port stays visible.
pub(super) fn trunc_left(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max == 0 {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
}

/// Clear the full-width rows a popup covers, so no cut-off scrap of the
/// table (a lone `…` or digit) shows beside it.
pub(in crate::tui) fn clear_band(f: &mut Frame, r: Rect) {
    let screen = f.area();
    let band = Rect::new(screen.x, r.y, screen.width, r.height).intersection(screen);
    f.render_widget(Clear, band);
}

/// A centered rectangle at most `w`×`h`, leaving a margin when it can.
pub(super) fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2)).max(area.width.min(20));
    let h = h.min(area.height.saturating_sub(2)).max(area.height.min(3));
    area.centered(Constraint::Length(w), Constraint::Length(h))
}

/// How many rows `lines` take when word-wrapped to `width` columns (the
/// same greedy wrapping the paragraph does, near enough to size a popup).
pub(in crate::tui) fn wrapped_rows(lines: &[Line], width: u16) -> u16 {
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
pub(super) fn popup_for(area: Rect, w: u16, lines: &[Line]) -> Rect {
    let width = popup(area, w, 3).width;
    let h = wrapped_rows(lines, width.saturating_sub(2)).saturating_add(2);
    popup(area, w, h)
}

/// Greedy word wrap of already-escaped text to `width` columns; words
/// longer than a line are cut.
pub(super) fn wrap_words(text: &str, width: usize) -> Vec<String> {
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
pub(super) fn kvw(width: usize, pal: &Pal, k: &str, v: impl Into<String>) -> Vec<Line<'static>> {
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

pub(super) const LABEL_W: usize = 9;

pub(super) fn kv(pal: &Pal, k: &str, v: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{k:<9}"), pal.bold()),
        Span::raw(v.into()),
    ])
}

/// `text` wrapped to `width`, every line after the first indented by
/// `indent` more columns than `first` (a hanging indent for list items).
pub(super) fn hang(
    width: usize,
    first: &str,
    indent: usize,
    text: &str,
    style: Style,
) -> Vec<Line<'static>> {
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

/// `body` in `room` lines: all of it, or (when longer) a window from
/// `scroll` between "more" markers — blank at either end, so the list does
/// not jump — scrolled with ↑/↓. The kill dialog's targets and the refusal
/// dialog's reasons scroll alike.
pub(super) fn scrolled(
    pal: &Pal,
    body: Vec<Line<'static>>,
    room: usize,
    scroll: usize,
) -> Vec<Line<'static>> {
    let n = body.len();
    if n <= room {
        return body;
    }
    let shown = room.saturating_sub(2).max(1);
    let start = scroll.min(n - shown);
    let below = n - start - shown;
    let marker = |count: usize, text: &str| {
        Line::styled(
            if count > 0 {
                format!("  {text}")
            } else {
                String::new()
            },
            pal.dim(),
        )
    };
    let mut lines = vec![marker(start, &format!("↑ {start} more above (↑/↓ scroll)"))];
    lines.extend(body.into_iter().skip(start).take(shown));
    lines.push(marker(below, &format!("↓ {below} more below (↑/↓ scroll)")));
    lines
}
