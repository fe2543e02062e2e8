//! The process-tree popup: ancestors, holder, descendants, group marked.

use super::*;

/// The tree popup: a list with the cursor, and a legend line.
pub(super) fn tree(app: &App, pal: &Pal, f: &mut Frame, area: Rect, t: &TreeView) {
    let Some(snap) = &app.snapshot else { return };
    let lines = app.tree_lines(t);
    let r = popup(area, 100, (lines.len() as u16).saturating_add(3).max(5));
    clear_band(f, r);
    let title = format!(" process tree of pid {} ", t.holder);
    let block = Block::bordered().title(title);
    if lines.is_empty() {
        f.render_widget(
            Paragraph::new(format!("pid {} is gone", t.holder)).block(block),
            r,
        );
        return;
    }
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [list_area, legend] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner);
    let holder_pgid = snap.process(t.holder).map(|p| p.pgid).unwrap_or(0);
    let items: Vec<ListItem> = lines.iter().map(|l| tree_item(app, pal, snap, l)).collect();
    let sel = lines.iter().position(|l| l.pid == t.cursor).unwrap_or(0);
    let list = List::new(items)
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol(">")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = ListState::default().with_selected(Some(sel));
    f.render_stateful_widget(list, list_area, &mut state);
    f.render_widget(
        Paragraph::new(format!(
            " ● holder  * in its process group {holder_pgid}  x: kill the group of the line at >"
        ))
        .style(pal.dim()),
        legend,
    );
}

/// One process of the tree: group mark, pid, user, indent, class and
/// command; the holder bold, ancestors outside its group dim.
fn tree_item(
    app: &App,
    pal: &Pal,
    snap: &portwarden::model::Snapshot,
    l: &crate::tui::state::TreeLine,
) -> ListItem<'static> {
    let p = snap.process(l.pid);
    let indent = if l.depth == 0 {
        String::new()
    } else {
        format!("{}└ ", "  ".repeat(l.depth - 1))
    };
    let mark = match (l.kind, l.in_group) {
        (TreeKind::Holder, _) => "●",
        (_, true) => "*",
        _ => " ",
    };
    let user = p
        .map(|p| escape_trunc(&p.user.clone().unwrap_or_else(|| p.uid.to_string()), 8))
        .unwrap_or_default();
    let cmd = p
        .map(|p| escape(&p.short_command()).into_owned())
        .unwrap_or_default();
    let class = app.class_of(l.pid);
    let mut spans = vec![
        Span::styled(format!("{mark} "), pal.bold()),
        Span::raw(format!("{:>7} {:<8} ", l.pid, user)),
        Span::raw(indent),
    ];
    if let Some(c) = class {
        spans.push(Span::styled(format!("[{}] ", c.as_str()), pal.class(c)));
    }
    spans.push(Span::raw(cmd));
    let mut item = Line::from(spans);
    if l.kind == TreeKind::Holder {
        item = item.style(pal.bold());
    } else if l.kind == TreeKind::Ancestor && !l.in_group {
        item = item.style(pal.dim());
    }
    ListItem::new(item)
}
