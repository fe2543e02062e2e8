//! Keys as data: one table of bindings per mode, from which
//! [`super::update()`] dispatches and the help overlay and the key bar are
//! generated.
//!
//! A key used to be written three times (a literal in `update`, a line in
//! the help, a hint in the key bar), and the three drifted. Here each
//! binding names its keys, the [`Action`] they trigger, its line in the help
//! and its label in the key bar, once. What an action *does* still depends
//! on the mode (↓ moves the selection in the table, the cursor in the tree,
//! the text in the help), so `update` matches on the action per mode.
//!
//! Matching is by key code only, as it always was: modifiers are ignored
//! unless a binding asks for one (Ctrl-C). Alt+key (a fast Esc then key)
//! and text typed into the filter are decoded in `update`, not here: they
//! are rules about keys, not bindings.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::state::{App, Mode};

/// What a key asks for. Its meaning depends on the mode the table belongs
/// to (see each table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Up one (row, tree line, help line, dialog line).
    MoveUp,
    /// Down one.
    MoveDown,
    /// Up a page.
    PageUp,
    /// Down a page.
    PageDown,
    /// To the first.
    First,
    /// To the last.
    Last,
    /// Scroll the details pane up a page.
    ScrollUp,
    /// Scroll the details pane down a page.
    ScrollDown,
    /// Open the filter prompt.
    Filter,
    /// Apply the filter being typed.
    Apply,
    /// Drop the filter being typed and the applied one.
    ClearFilter,
    /// Delete the last character of the filter being typed.
    Erase,
    /// Open the details pane.
    Details,
    /// Open the process tree.
    Tree,
    /// Plan a kill (nothing is signalled before the confirmation).
    Kill,
    /// Confirm the kill dialog: execute the plan.
    Confirm,
    /// Force a refused plan (plans again, asks again).
    Force,
    /// Cancel a dialog or a plan under way.
    Cancel,
    /// Cycle the sort column.
    Sort,
    /// Reverse the sort order.
    Reverse,
    /// Scan now.
    Refresh,
    /// Open the event log.
    Events,
    /// Open the help overlay.
    Help,
    /// Close what is open (on the bare table: clear filter and status).
    Close,
    /// Leave the TUI.
    Quit,
}

impl Action {
    /// Every action, for the tests that check each one has a key.
    #[cfg(test)]
    pub const ALL: &'static [Action] = &[
        Action::MoveUp,
        Action::MoveDown,
        Action::PageUp,
        Action::PageDown,
        Action::First,
        Action::Last,
        Action::ScrollUp,
        Action::ScrollDown,
        Action::Filter,
        Action::Apply,
        Action::ClearFilter,
        Action::Erase,
        Action::Details,
        Action::Tree,
        Action::Kill,
        Action::Confirm,
        Action::Force,
        Action::Cancel,
        Action::Sort,
        Action::Reverse,
        Action::Refresh,
        Action::Events,
        Action::Help,
        Action::Close,
        Action::Quit,
    ];

    /// The tables of the screens this action opens from the main table:
    /// the help lists their own keys right under the key that opens them.
    fn opens(self) -> &'static [&'static Table] {
        match self {
            Action::Filter => &[&FILTER],
            Action::Details => &[&DETAILS],
            Action::Tree => &[&TREE],
            Action::Kill => &[&PLANNING, &CONFIRM, &REFUSAL],
            Action::Events => &[&EVENTS],
            Action::Help => &[&HELP],
            _ => &[],
        }
    }
}

/// One line of the help overlay: the keys as shown, what they do.
pub type HelpLine = (&'static str, &'static str);

/// Keys, the action they trigger, and how the help and the key bar show
/// them.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// The key codes (any of them).
    pub keys: &'static [KeyCode],
    /// Modifiers that must be held (`NONE`: any, as terminals add Shift).
    pub mods: KeyModifiers,
    /// What they do.
    pub action: Action,
    /// The help line that explains them; `None` only for text editing.
    pub help: Option<HelpLine>,
    /// The key bar's label, if the bar shows this binding.
    pub bar: Option<&'static str>,
}

impl Binding {
    /// `keys` trigger `action`, explained by the help line `help`.
    const fn new(keys: &'static [KeyCode], action: Action, help: HelpLine) -> Self {
        Binding {
            keys,
            mods: KeyModifiers::NONE,
            action,
            help: Some(help),
            bar: None,
        }
    }

    /// The same binding, labelled `label` in the key bar.
    const fn bar(self, label: &'static str) -> Self {
        Binding {
            bar: Some(label),
            ..self
        }
    }
}

/// The bindings of one mode.
#[derive(Debug)]
pub struct Table {
    /// The mode's name (for test messages).
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "only test failures name a mode")
    )]
    pub name: &'static str,
    /// A key bar label that names what the mode is doing rather than a key
    /// (`type to filter`, `killing…`); it comes first.
    pub lead: Option<&'static str>,
    /// The bindings, in key bar (and help) order.
    pub bindings: &'static [Binding],
}

impl Table {
    /// Every key bar label of the table, in order (the lead first).
    pub fn bar(&self) -> Vec<&'static str> {
        let keys = self.bindings.iter().filter_map(|b| b.bar);
        self.lead.into_iter().chain(keys).collect()
    }
}

use Action as A;
use KeyCode::{
    Backspace, Char, Delete, Down, End, Enter, Esc, F, Home, PageDown as PgDn, PageUp as PgUp, Up,
};

const MOVE: HelpLine = ("↑ ↓  j k", "move the selection");
const PAGE: HelpLine = ("PgUp PgDn", "move a page");
const ENDS: HelpLine = ("Home End  g G", "first / last row");
const FILTER_KEY: HelpLine = ("/  F4", "filter: port, pid, user, class, command");
const FILTER_NOTE: HelpLine = ("", "(Enter applies, Esc clears)");
const DETAILS_KEY: HelpLine = ("Enter  i", "details of the selected socket/holder");
const SCROLL_NOTE: HelpLine = ("", "(PgUp/PgDn scroll them)");
const TREE_KEY: HelpLine = ("t  F5", "process tree of the selected holder");
const KILL_KEY: HelpLine = (
    "x  F9  Delete",
    "kill the holder's process group (asks first)",
);
const CONFIRM_KEYS: HelpLine = ("  y  n", "in the kill dialog: kill / cancel");
const FORCE_KEY: HelpLine = ("  F", "on a refusal: force (plans again, asks again)");
const SORT_KEYS: HelpLine = ("s  S", "cycle the sort column / reverse the order");
const REFRESH_KEY: HelpLine = ("r", "refresh now");
const EVENTS_KEY: HelpLine = ("e", "event log: what listened, closed, respawned");
const HELP_KEY: HelpLine = ("?  F1", "this help");
const CLOSE_KEY: HelpLine = ("Esc", "close whatever is open");
const QUIT_KEY: HelpLine = ("q  Ctrl-C", "quit");

/// Keys that work in every mode, before the mode's own table.
pub const GLOBAL: Table = Table {
    name: "global",
    lead: None,
    bindings: &[Binding {
        mods: KeyModifiers::CONTROL,
        ..Binding::new(&[Char('c'), Char('C')], A::Quit, QUIT_KEY)
    }],
};

/// The main table. Its order is the help's order.
pub const NORMAL: Table = Table {
    name: "table",
    lead: None,
    bindings: &[
        Binding::new(&[Up, Char('k')], A::MoveUp, MOVE).bar("↑↓ move"),
        Binding::new(&[Down, Char('j')], A::MoveDown, MOVE),
        Binding::new(&[PgUp], A::PageUp, PAGE),
        Binding::new(&[PgDn], A::PageDown, PAGE),
        Binding::new(&[Home, Char('g')], A::First, ENDS),
        Binding::new(&[End, Char('G')], A::Last, ENDS),
        Binding::new(&[Char('/'), F(4)], A::Filter, FILTER_KEY).bar("/ filter"),
        Binding::new(&[Enter, Char('i')], A::Details, DETAILS_KEY).bar("⏎ details"),
        Binding::new(&[Char('t'), F(5)], A::Tree, TREE_KEY).bar("t tree"),
        Binding::new(&[Char('x'), F(9), Delete], A::Kill, KILL_KEY).bar("x kill"),
        Binding::new(&[Char('s')], A::Sort, SORT_KEYS).bar("s sort"),
        Binding::new(&[Char('S')], A::Reverse, SORT_KEYS),
        Binding::new(&[Char('r')], A::Refresh, REFRESH_KEY).bar("r refresh"),
        Binding::new(&[Char('e')], A::Events, EVENTS_KEY),
        Binding::new(&[Char('?'), F(1)], A::Help, HELP_KEY).bar("? help"),
        Binding::new(&[Esc], A::Close, CLOSE_KEY),
        Binding::new(&[Char('q')], A::Quit, QUIT_KEY).bar("q quit"),
    ],
};

/// The filter prompt: arrows still move (letters are text), anything
/// else printable is typed into the filter.
pub const FILTER: Table = Table {
    name: "filter prompt",
    lead: Some("type to filter"),
    bindings: &[
        Binding::new(&[Enter], A::Apply, FILTER_NOTE).bar("Enter apply"),
        Binding::new(&[Esc], A::ClearFilter, FILTER_NOTE).bar("Esc clear"),
        Binding {
            help: None,
            ..Binding::new(&[Backspace], A::Erase, FILTER_NOTE)
        },
        Binding::new(&[Up], A::MoveUp, MOVE).bar("↑↓ move"),
        Binding::new(&[Down], A::MoveDown, MOVE),
        Binding::new(&[PgUp], A::PageUp, PAGE),
        Binding::new(&[PgDn], A::PageDown, PAGE),
        Binding::new(&[Home], A::First, ENDS),
        Binding::new(&[End], A::Last, ENDS),
    ],
};

/// The details pane: PgUp/PgDn scroll it (a Java command line can be
/// pages long), the other movement keys move the selection under it.
pub const DETAILS: Table = Table {
    name: "details",
    lead: None,
    bindings: &[
        Binding::new(&[Up, Char('k')], A::MoveUp, MOVE).bar("↑↓ move"),
        Binding::new(&[Down, Char('j')], A::MoveDown, MOVE),
        Binding::new(&[Home, Char('g')], A::First, ENDS),
        Binding::new(&[End, Char('G')], A::Last, ENDS),
        Binding::new(&[PgDn, Char(' ')], A::ScrollDown, SCROLL_NOTE).bar("PgUp/PgDn scroll"),
        Binding::new(&[PgUp], A::ScrollUp, SCROLL_NOTE),
        Binding::new(&[Char('t'), F(5)], A::Tree, TREE_KEY).bar("t tree"),
        Binding::new(&[Char('x'), F(9), Delete], A::Kill, KILL_KEY).bar("x kill"),
        Binding::new(&[Esc, Enter, Char('i')], A::Close, CLOSE_KEY).bar("Esc close"),
        Binding::new(&[Char('?'), F(1)], A::Help, HELP_KEY).bar("? help"),
        Binding::new(&[Char('q')], A::Quit, QUIT_KEY).bar("q quit"),
        Binding::new(&[Char('r')], A::Refresh, REFRESH_KEY),
    ],
};

/// The process tree: movement moves its cursor, `x` kills the group of
/// the process under it.
pub const TREE: Table = Table {
    name: "tree",
    lead: None,
    bindings: &[
        Binding::new(&[Up, Char('k')], A::MoveUp, MOVE).bar("↑↓ move"),
        Binding::new(&[Down, Char('j')], A::MoveDown, MOVE),
        Binding::new(&[PgUp], A::PageUp, PAGE),
        Binding::new(&[PgDn], A::PageDown, PAGE),
        Binding::new(&[Home, Char('g')], A::First, ENDS),
        Binding::new(&[End, Char('G')], A::Last, ENDS),
        Binding::new(&[Char('x'), F(9), Delete], A::Kill, KILL_KEY).bar("x kill group"),
        Binding::new(&[Esc, Char('t'), F(5)], A::Close, CLOSE_KEY).bar("Esc close"),
        Binding::new(&[Char('?'), F(1)], A::Help, HELP_KEY).bar("? help"),
        Binding::new(&[Char('q')], A::Quit, QUIT_KEY).bar("q quit"),
        Binding::new(&[Char('r')], A::Refresh, REFRESH_KEY),
    ],
};

/// While a request is being planned.
pub const PLANNING: Table = Table {
    name: "planning",
    lead: None,
    bindings: &[Binding::new(&[Esc], A::Cancel, CLOSE_KEY).bar("Esc cancel")],
};

/// The kill dialog: only `y` executes; ↑/↓ scroll a long target list.
pub const CONFIRM: Table = Table {
    name: "confirm",
    lead: None,
    bindings: &[
        Binding::new(&[Char('y'), Char('Y')], A::Confirm, CONFIRM_KEYS).bar("y kill"),
        Binding::new(&[Char('n'), Char('N'), Esc], A::Cancel, CONFIRM_KEYS).bar("n/Esc cancel"),
        Binding::new(&[Up, Char('k')], A::MoveUp, MOVE),
        Binding::new(&[Down, Char('j')], A::MoveDown, MOVE),
    ],
};

/// A refusal: `F` only when forcing would signal something (see
/// [`enabled`]); ↑/↓ scroll a long list of reasons.
pub const REFUSAL: Table = Table {
    name: "refusal",
    lead: None,
    bindings: &[
        Binding::new(&[Char('F')], A::Force, FORCE_KEY).bar("F force (asks again)"),
        Binding::new(&[Esc, Char('n'), Enter], A::Cancel, CLOSE_KEY).bar("Esc close"),
        Binding::new(&[Up, Char('k')], A::MoveUp, MOVE),
        Binding::new(&[Down, Char('j')], A::MoveDown, MOVE),
        Binding::new(&[Char('q')], A::Quit, QUIT_KEY),
    ],
};

/// A confirmed plan executing: nothing to do but wait or leave (the kill
/// still completes).
pub const KILLING: Table = Table {
    name: "killing",
    lead: Some("killing…"),
    bindings: &[Binding::new(&[Char('q')], A::Quit, QUIT_KEY).bar("q quit")],
};

/// The help overlay: movement scrolls it.
pub const HELP: Table = Table {
    name: "help",
    lead: None,
    bindings: &[
        Binding::new(&[Up, Char('k')], A::MoveUp, MOVE).bar("↑↓ PgUp/PgDn scroll"),
        Binding::new(&[Down, Char('j')], A::MoveDown, MOVE),
        Binding::new(&[PgUp], A::PageUp, PAGE),
        Binding::new(&[PgDn], A::PageDown, PAGE),
        Binding::new(&[Home], A::First, ENDS),
        Binding::new(&[Esc], A::Close, CLOSE_KEY).bar("Esc close"),
        Binding::new(&[Char('?'), F(1)], A::Close, HELP_KEY),
        Binding::new(&[Char('q')], A::Quit, QUIT_KEY).bar("q quit"),
    ],
};

/// The event log overlay.
pub const EVENTS: Table = Table {
    name: "event log",
    lead: None,
    bindings: &[
        Binding::new(&[Esc, Char('e')], A::Close, CLOSE_KEY),
        Binding::new(&[Char('q')], A::Quit, QUIT_KEY),
    ],
};

/// The fleet view's table (`portwarden --hosts`): the CLI's fleet table,
/// one selection, kill on the selected row's host.
pub const FLEET: Table = Table {
    name: "fleet",
    lead: None,
    bindings: &[
        Binding::new(&[Up, Char('k')], A::MoveUp, MOVE).bar("↑↓ move"),
        Binding::new(&[Down, Char('j')], A::MoveDown, MOVE),
        Binding::new(&[Char('x'), F(9), Delete], A::Kill, KILL_KEY).bar("x kill"),
        Binding::new(&[Char('r')], A::Refresh, REFRESH_KEY).bar("r refresh"),
        Binding::new(&[Char('q')], A::Quit, QUIT_KEY).bar("q quit"),
    ],
};

/// The fleet view's kill dialog: `y` kills (when the host planned
/// something), any other key cancels.
pub const FLEET_CONFIRM: Table = Table {
    name: "fleet confirm",
    lead: None,
    bindings: &[Binding::new(
        &[Char('y'), Char('Y')],
        A::Confirm,
        CONFIRM_KEYS,
    )],
};

/// The fleet view's tables. It has no help overlay, so they stay out of
/// the help's walk ([`ALL`]).
#[cfg(test)]
const FLEET_TABLES: &[&Table] = &[&FLEET, &FLEET_CONFIRM];

/// Every table, the main one first.
pub const ALL: &[&Table] = &[
    &GLOBAL, &NORMAL, &FILTER, &DETAILS, &TREE, &PLANNING, &CONFIRM, &REFUSAL, &KILLING, &HELP,
    &EVENTS,
];

/// The action `k` triggers in `table`, if any.
pub fn lookup(table: &Table, k: &KeyEvent) -> Option<Action> {
    table
        .bindings
        .iter()
        .find(|b| b.keys.contains(&k.code) && k.modifiers.contains(b.mods))
        .map(|b| b.action)
}

/// The table of the mode under the key bar (the filter prompt and the help
/// overlay sit on top of any mode).
pub fn bar_table(app: &App) -> &'static Table {
    if app.filter_input.is_some() {
        &FILTER
    } else if app.help {
        &HELP
    } else {
        mode_table(&app.mode)
    }
}

/// The table of a mode.
pub fn mode_table(mode: &Mode) -> &'static Table {
    match mode {
        Mode::Normal => &NORMAL,
        Mode::Details => &DETAILS,
        Mode::Tree(_) => &TREE,
        Mode::Planning(_) => &PLANNING,
        Mode::Refused { .. } => &REFUSAL,
        Mode::Confirm { .. } => &CONFIRM,
        Mode::Killing { .. } => &KILLING,
    }
}

/// Whether `action` can do anything now. Only force is conditional: it is
/// offered when the plan view says forcing would signal something and the
/// plan was not forced already.
pub fn enabled(app: &App, action: Action) -> bool {
    match (action, &app.mode) {
        (Action::Force, Mode::Refused { request, planned }) => {
            !request.force && planned.view.forcible
        }
        (Action::Force, _) => false,
        _ => true,
    }
}

/// The key bar labels of `table`, in order, leaving out what is not
/// [`enabled`].
pub fn bar_labels(app: &App, table: &Table) -> Vec<&'static str> {
    let keys = table
        .bindings
        .iter()
        .filter(|b| enabled(app, b.action))
        .filter_map(|b| b.bar);
    table.lead.into_iter().chain(keys).collect()
}

/// The help overlay's key lines: the main table's, each followed by the
/// lines of the screens it opens that the main table does not have, then
/// anything left in the other tables; each line once.
pub fn help_entries() -> Vec<HelpLine> {
    let mut out: Vec<HelpLine> = Vec::new();
    let add = |line: HelpLine, out: &mut Vec<HelpLine>| {
        if !out.contains(&line) {
            out.push(line);
        }
    };
    let main: Vec<HelpLine> = NORMAL.bindings.iter().filter_map(|b| b.help).collect();
    for b in NORMAL.bindings {
        if let Some(line) = b.help {
            add(line, &mut out);
        }
        for t in b.action.opens() {
            for line in t.bindings.iter().filter_map(|b| b.help) {
                if !main.contains(&line) {
                    add(line, &mut out);
                }
            }
        }
    }
    for line in ALL.iter().flat_map(|t| t.bindings).filter_map(|b| b.help) {
        add(line, &mut out);
    }
    out
}

/// Lines the help overlay has: the key lines, a blank line, the `!`
/// legend and the class legend.
pub fn help_lines_count() -> usize {
    help_entries().len() + 3
}

/// The furthest the help overlay can scroll on a terminal `height` rows
/// tall (its popup leaves a row above and below, and has a border).
pub fn help_max_scroll(height: u16) -> u16 {
    let total = help_lines_count() as u16;
    let popup = (total + 2).min(height.saturating_sub(2)).max(height.min(3));
    total.saturating_sub(popup.saturating_sub(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_a_mode() {
        for t in ALL.iter().chain(FLEET_TABLES) {
            let mut seen: Vec<KeyCode> = Vec::new();
            for k in t.bindings.iter().flat_map(|b| b.keys) {
                assert!(!seen.contains(k), "{:?} bound twice in {}", k, t.name);
                seen.push(*k);
            }
        }
    }

    #[test]
    fn every_action_has_a_key() {
        for a in Action::ALL {
            assert!(
                ALL.iter().flat_map(|t| t.bindings).any(|b| b.action == *a),
                "{a:?} has no key"
            );
        }
    }

    #[test]
    fn every_mode_can_be_left() {
        // The global table is no mode; the fleet dialog closes on any key.
        for t in ALL.iter().chain(&[&FLEET]).filter(|t| t.name != "global") {
            assert!(
                t.bindings.iter().any(|b| matches!(
                    b.action,
                    Action::Close | Action::Cancel | Action::Quit | Action::Apply
                )),
                "{} has no way out",
                t.name
            );
        }
    }

    #[test]
    fn help_lists_every_binding() {
        let help = help_entries();
        for t in ALL {
            for b in t.bindings {
                match b.help {
                    Some(line) => {
                        assert!(help.contains(&line), "{line:?} ({}) not in help", t.name)
                    }
                    // Only text editing goes unlisted.
                    None => assert_eq!(b.action, Action::Erase, "{:?} in {}", b.action, t.name),
                }
            }
        }
    }

    #[test]
    fn help_is_in_reading_order() {
        let keys: Vec<&str> = help_entries().iter().map(|l| l.0).collect();
        assert_eq!(
            keys,
            [
                "↑ ↓  j k",
                "PgUp PgDn",
                "Home End  g G",
                "/  F4",
                "",
                "Enter  i",
                "",
                "t  F5",
                "x  F9  Delete",
                "  y  n",
                "  F",
                "s  S",
                "r",
                "e",
                "?  F1",
                "Esc",
                "q  Ctrl-C",
            ]
        );
    }

    #[test]
    fn lookup_ignores_shift_but_ctrl_c_needs_ctrl() {
        let shift_g = KeyEvent::new(Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&NORMAL, &shift_g), Some(Action::Last));
        let c = KeyEvent::new(Char('c'), KeyModifiers::NONE);
        assert_eq!(lookup(&GLOBAL, &c), None);
        let ctrl_c = KeyEvent::new(Char('c'), KeyModifiers::CONTROL);
        assert_eq!(lookup(&GLOBAL, &ctrl_c), Some(Action::Quit));
        let esc = KeyEvent::new(Esc, KeyModifiers::NONE);
        assert_eq!(lookup(&KILLING, &esc), None);
    }

    #[test]
    fn key_bars_read_as_they_always_did() {
        let app = crate::tui::fixture::app();
        let bar = |t: &Table| bar_labels(&app, t).join("  ");
        assert_eq!(
            bar(&NORMAL),
            "↑↓ move  / filter  ⏎ details  t tree  x kill  s sort  r refresh  ? help  q quit"
        );
        assert_eq!(
            bar(&DETAILS),
            "↑↓ move  PgUp/PgDn scroll  t tree  x kill  Esc close  ? help  q quit"
        );
        assert_eq!(
            bar(&TREE),
            "↑↓ move  x kill group  Esc close  ? help  q quit"
        );
        assert_eq!(
            bar(&FILTER),
            "type to filter  Enter apply  Esc clear  ↑↓ move"
        );
        assert_eq!(bar(&HELP), "↑↓ PgUp/PgDn scroll  Esc close  q quit");
        assert_eq!(bar(&PLANNING), "Esc cancel");
        assert_eq!(bar(&CONFIRM), "y kill  n/Esc cancel");
        assert_eq!(bar(&KILLING), "killing…  q quit");
        // Not in a forcible refusal: no force offered.
        assert_eq!(bar(&REFUSAL), "Esc close");
        assert_eq!(bar(&FLEET), "↑↓ move  x kill  r refresh  q quit");
    }
}
