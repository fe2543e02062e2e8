//! The TUI over `--host`: every host's listeners in one table with a HOST
//! column, refreshed over the shared ssh connections, and a kill dialog
//! that names the host it will act on.
//!
//! It is a face on the fleet CLI, not a second TUI core: rows come from
//! each host's `list --json` ([`crate::cli::fleet::remote`]), the plan from
//! that host's `kill --dry-run --json`, and the kill from its `kill --yes
//! --expect-pids` with exactly the pids the dialog showed. The state and
//! its key handling are plain data and functions ([`View`], [`View::key`]);
//! the loop below only moves messages, reusing the main TUI's terminal
//! guard, panic hook and signal handling.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use color_eyre::eyre::WrapErr;
use crossterm::event::{self, Event, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, List, ListItem, ListState, Paragraph, Wrap};

use crate::cli::fleet::kill::{RemoteKill, outcome_line, plans_text};
use crate::cli::fleet::remote::{Fleet, Host, QUERY_DEADLINE};
use crate::cli::fleet::{render_table, table_rows};
use crate::cli::{Cli, CliError, exit};
use portwarden::escape::escape;
use portwarden::model::Pid;

use super::keys::{self, Action as Key};

/// What one table row stands for: a holder on a host, or a host's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetRow {
    /// The host.
    pub host: String,
    /// `tcp:8080`: what a kill of this row frees (`None`: an error row).
    pub port: Option<String>,
}

/// What is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    /// Nothing: the table.
    None,
    /// Asking that host for a plan.
    Planning {
        /// The host.
        host: String,
        /// The port.
        port: String,
    },
    /// The plan, waiting for y/N.
    Confirm {
        /// The host the kill will run on (named in the title).
        host: String,
        /// The port.
        port: String,
        /// The plan as text.
        text: String,
        /// The pids shown (sent as `--expect-pids`); empty: nothing to do.
        pids: Vec<Pid>,
    },
    /// The kill is running on that host.
    Killing {
        /// The host.
        host: String,
    },
}

/// The fleet TUI's state.
#[derive(Debug, Clone)]
pub struct View {
    /// Rows, in host order.
    pub rows: Vec<FleetRow>,
    /// Selected row.
    pub selected: usize,
    /// What is open.
    pub dialog: Dialog,
    /// Last message (a kill's outcome, a refusal).
    pub status: Option<String>,
    /// Hosts asked.
    pub hosts: usize,
    /// The last answers (drawn with the CLI's table).
    pub answers: Vec<Host>,
    /// A refresh is under way.
    pub scanning: bool,
}

/// What the loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Leave.
    Quit,
    /// Refresh now.
    Refresh,
    /// Ask `host` for a plan to free `port`.
    Plan(String, String),
    /// Kill on `host` with exactly these pids.
    Kill(String, String, Vec<Pid>),
}

impl View {
    /// An empty view for `hosts` hosts.
    pub fn new(hosts: usize) -> View {
        View {
            rows: Vec::new(),
            selected: 0,
            dialog: Dialog::None,
            status: None,
            hosts,
            answers: Vec::new(),
            scanning: true,
        }
    }

    /// New answers from every host. Rows are in the order the CLI's
    /// table prints them: every host's sockets, then the hosts' errors.
    pub fn set_hosts(&mut self, hosts: &[Host]) {
        self.scanning = false;
        let mut rows = Vec::new();
        for h in hosts {
            for s in &h.sockets {
                // One row per holder, as the table draws them.
                for _ in table_rows(s) {
                    rows.push(FleetRow {
                        host: h.host.clone(),
                        port: Some(format!("{}:{}", s.proto, s.port)),
                    });
                }
            }
        }
        for h in hosts {
            if h.error.is_some() {
                rows.push(FleetRow {
                    host: h.host.clone(),
                    port: None,
                });
            }
        }
        self.rows = rows;
        self.answers = hosts.to_vec();
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }

    /// Handle a key: Ctrl-C quits; in the kill dialog only `y` kills
    /// (any other key cancels); else the fleet table's bindings.
    pub fn key(&mut self, k: KeyEvent) -> Action {
        if keys::lookup(&keys::GLOBAL, &k) == Some(Key::Quit) {
            return Action::Quit;
        }
        match &self.dialog {
            Dialog::Confirm {
                host, port, pids, ..
            } => {
                let yes = keys::lookup(&keys::FLEET_CONFIRM, &k) == Some(Key::Confirm);
                let act = if yes && !pids.is_empty() {
                    Action::Kill(host.clone(), port.clone(), pids.clone())
                } else {
                    self.status = Some("not confirmed, nothing signalled".into());
                    Action::None
                };
                self.dialog = match &act {
                    Action::Kill(h, _, _) => Dialog::Killing { host: h.clone() },
                    _ => Dialog::None,
                };
                act
            }
            Dialog::Planning { .. } | Dialog::Killing { .. } => Action::None,
            Dialog::None => match keys::lookup(&keys::FLEET, &k) {
                Some(key) => self.table_key(key),
                None => Action::None,
            },
        }
    }

    fn table_key(&mut self, key: Key) -> Action {
        match key {
            Key::Quit => Action::Quit,
            Key::Refresh => Action::Refresh,
            Key::MoveDown => {
                self.selected = (self.selected + 1).min(self.rows.len().saturating_sub(1));
                Action::None
            }
            Key::MoveUp => {
                self.selected = self.selected.saturating_sub(1);
                Action::None
            }
            Key::Kill => match self.rows.get(self.selected) {
                Some(FleetRow {
                    host,
                    port: Some(port),
                    ..
                }) => {
                    self.dialog = Dialog::Planning {
                        host: host.clone(),
                        port: port.clone(),
                    };
                    Action::Plan(host.clone(), port.clone())
                }
                _ => Action::None,
            },
            _ => Action::None,
        }
    }

    /// A host's plan arrived.
    pub fn planned(&mut self, host: &str, port: &str, plan: Result<RemoteKill, String>) {
        let pids = match &plan {
            Ok(k) if k.exit_code == exit::OK => k.pids(),
            _ => Vec::new(),
        };
        let text = plans_text(&[(host.to_string(), plan)]);
        self.dialog = Dialog::Confirm {
            host: host.into(),
            port: port.into(),
            text,
            pids,
        };
    }

    /// A kill ended.
    pub fn killed(&mut self, host: &str, result: Result<RemoteKill, String>) {
        self.dialog = Dialog::None;
        self.status = Some(format!("{}: {}", escape(host), outcome_line(&result)));
    }
}

/// Draw the view.
pub fn render(v: &View, f: &mut Frame) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let scanning = if v.scanning { " — refreshing…" } else { "" };
    f.render_widget(
        Paragraph::new(format!("portwarden — {} host(s){scanning}", v.hosts))
            .style(Style::new().add_modifier(Modifier::BOLD)),
        head,
    );
    // The CLI's own table (HOST column first, error rows last), so the
    // two faces never disagree on what a row says.
    let lines = render_table(&v.answers, Some(usize::from(body.width)));
    let [title, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(body);
    f.render_widget(
        Paragraph::new(lines.first().cloned().unwrap_or_default())
            .style(Style::new().add_modifier(Modifier::BOLD)),
        title,
    );
    let items: Vec<ListItem> = lines
        .iter()
        .skip(1)
        .map(|l| ListItem::new(l.clone()))
        .collect();
    let mut state = ListState::default().with_selected(Some(v.selected));
    f.render_stateful_widget(
        List::new(items).highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        list,
        &mut state,
    );
    let footer = v
        .status
        .clone()
        .unwrap_or_else(|| keys::FLEET.bar().join("  "));
    f.render_widget(Paragraph::new(footer), foot);
    render_dialog(v, f);
}

fn render_dialog(v: &View, f: &mut Frame) {
    let (title, lines): (String, Vec<Line>) = match &v.dialog {
        Dialog::None => return,
        Dialog::Planning { host, port } => (
            format!(" kill on {} ", escape(host)),
            vec![Line::from(format!(
                "asking {} for a plan to free {port}…",
                escape(host)
            ))],
        ),
        Dialog::Killing { host } => (
            format!(" killing on {} ", escape(host)),
            vec![Line::from("signalling, waiting for the port…")],
        ),
        Dialog::Confirm {
            host, text, pids, ..
        } => {
            let mut l: Vec<Line> = text
                .lines()
                .skip(1)
                .map(|s| Line::from(s.to_string()))
                .collect();
            l.push(Line::from(""));
            l.push(Line::from(if pids.is_empty() {
                "nothing will be signalled — any key closes".to_string()
            } else {
                format!(
                    "[y] kill {} on {}   [any other key] cancel",
                    portwarden::escape::count(pids.len(), "process", "processes"),
                    escape(host)
                )
            }));
            (format!(" kill on {} ", escape(host)), l)
        }
    };
    let area = f.area();
    let w = area.width.saturating_sub(4).max(10);
    // Refusal reasons are long (they carry the stop command): wrap them,
    // and size the box for the height they take word-wrapped (a count by
    // characters alone can be a row short, and the last row is the `[y]`).
    let rows = super::render::wrapped_rows(&lines, w.saturating_sub(2));
    let h = rows.saturating_add(2).min(area.height);
    let r = area.centered(Constraint::Length(w), Constraint::Length(h));
    super::render::clear_band(f, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(title)),
        r,
    );
}

/// What the loop hears.
enum Msg {
    Key(KeyEvent),
    Hosts(Vec<Host>),
    Planned(String, String, Result<RemoteKill, String>),
    Killed(String, Result<RemoteKill, String>),
    Terminate,
}

/// Run the fleet TUI (no subcommand with `--host`).
pub fn run(fleet: &Fleet, cli: &Cli) -> Result<u8, CliError> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        eprintln!(
            "portwarden: the interactive view needs a terminal; for scripts use `portwarden list --host …` (or --json)"
        );
        return Ok(exit::USAGE);
    }
    let interval = cli.interval.unwrap_or(Duration::from_secs(2));
    let signals = super::exit_signals();
    if signals.thread_block().is_err() {
        eprintln!("portwarden: cannot block SIGTERM/SIGHUP");
        return Ok(exit::ERROR);
    }
    let r = run_blocked(fleet, interval, signals);
    let _ = signals.thread_unblock();
    match r {
        Ok(()) => Ok(exit::OK),
        Err(e) => {
            eprintln!("portwarden: {e:?}");
            Ok(exit::ERROR)
        }
    }
}

fn run_blocked(
    fleet: &Fleet,
    interval: Duration,
    signals: nix::sys::signal::SigSet,
) -> color_eyre::Result<()> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let (refresh_tx, refresh_rx) = mpsc::channel::<()>();
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            while signals.wait().is_ok() {
                if tx.send(Msg::Terminate).is_err() {
                    break;
                }
            }
        });
    }
    {
        let (tx, fleet) = (tx.clone(), fleet.clone());
        std::thread::spawn(move || collect(&fleet, interval, &tx, &refresh_rx));
    }
    super::install_panic_hook();
    let guard = super::TerminalGuard::enter().wrap_err("cannot set up the terminal")?;
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))
            .wrap_err("cannot open the terminal")?;
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            while let Ok(ev) = event::read() {
                if let Event::Key(k) = ev
                    && tx.send(Msg::Key(k)).is_err()
                {
                    return;
                }
            }
        });
    }
    let mut view = View::new(fleet.hosts.len());
    let r = event_loop(&mut terminal, &mut view, fleet, &tx, &rx, &refresh_tx);
    drop(guard);
    r
}

fn collect(fleet: &Fleet, interval: Duration, tx: &Sender<Msg>, refresh: &Receiver<()>) {
    let args = vec!["list".to_string(), "--json".into()];
    loop {
        if tx.send(Msg::Hosts(fleet.list(&args))).is_err() {
            return;
        }
        match refresh.recv_timeout(interval) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while refresh.try_recv().is_ok() {}
    }
}

/// A fleet of one host (the kill dialog acts on one).
fn one(fleet: &Fleet, host: &str) -> Fleet {
    Fleet {
        hosts: vec![host.to_string()],
        ..fleet.clone()
    }
}

fn spawn_ask(
    fleet: &Fleet,
    host: &str,
    args: Vec<String>,
    tx: &Sender<Msg>,
    planning: Option<String>,
) {
    let (f, tx, host) = (one(fleet, host), tx.clone(), host.to_string());
    std::thread::spawn(move || {
        let r = f
            .each(
                &args,
                Some(QUERY_DEADLINE * 2),
                crate::cli::fleet::kill::parse,
            )
            .into_iter()
            .next()
            .map_or_else(|| Err("no answer".to_string()), |(_, r)| r);
        let _ = tx.send(match planning {
            Some(port) => Msg::Planned(host, port, r),
            None => Msg::Killed(host, r),
        });
    });
}

fn event_loop(
    terminal: &mut ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>,
    view: &mut View,
    fleet: &Fleet,
    tx: &Sender<Msg>,
    rx: &Receiver<Msg>,
    refresh: &Sender<()>,
) -> color_eyre::Result<()> {
    loop {
        terminal.draw(|f| render(view, f))?;
        let msg = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        match msg {
            Msg::Terminate => return Ok(()),
            Msg::Hosts(h) => view.set_hosts(&h),
            Msg::Planned(host, port, r) => view.planned(&host, &port, r),
            Msg::Killed(host, r) => {
                view.killed(&host, r);
                view.scanning = true;
                let _ = refresh.send(());
            }
            Msg::Key(k) => match view.key(k) {
                Action::None => {}
                Action::Quit => return Ok(()),
                Action::Refresh => {
                    view.scanning = true;
                    let _ = refresh.send(());
                }
                Action::Plan(host, port) => {
                    let args = vec![
                        "kill".into(),
                        port.clone(),
                        "--dry-run".into(),
                        "--json".into(),
                    ];
                    spawn_ask(fleet, &host, args, tx, Some(port));
                }
                Action::Kill(host, port, pids) => {
                    let pids = pids
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(",");
                    let args = vec![
                        "kill".into(),
                        port,
                        "--yes".into(),
                        "--json".into(),
                        "--expect-pids".into(),
                        pids,
                    ];
                    spawn_ask(fleet, &host, args, tx, None);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyModifiers};

    use super::*;
    use crate::cli::fleet::remote::parse_list;
    use insta::assert_snapshot;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    const DOC: &str = r#"{"schema":1,"sockets":[{"proto":"tcp","family":"ipv4","addr":"0.0.0.0",
        "port":8080,"state":"LISTEN","inode":1,"uid":0,"accept_queue":0,"backlog":128,
        "stuck":false,"unresolved":null,"holders":[{"pid":4242,"ppid":1,"pgid":4242,"sid":4242,
        "uid":0,"user":"root","name":"python3","cmdline":["/usr/bin/python3","app.py"],
        "exe":null,"start_time":1,"tty":null,"cgroup":null,"class":"orphan","reasons":[],
        "manager":null,"stop_command":null}]}]}"#;

    const PLAN: &str = r#"{"schema":1,"dry_run":true,"exit_code":0,"report":null,"plan":{
        "ports":["tcp:8080"],"already_free":[],"protected":[],"refusals":[],"targets":[{
        "pid":4242,"start_time":1,"name":"python3","command":"python3 app.py",
        "short_command":"python3 app.py","uid":0,"user":"root","class":"orphan","role":"holder"}]}}"#;

    fn draw(v: &View) -> String {
        let mut t = Terminal::new(TestBackend::new(80, 12)).expect("terminal");
        t.draw(|f| render(v, f)).expect("draw");
        t.backend().to_string()
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn view() -> View {
        let mut v = View::new(2);
        v.set_hosts(&[
            parse_list("web1", DOC),
            Host::failed(
                "web2",
                "ssh: connect to host web2 port 22: Connection refused",
            ),
        ]);
        v
    }

    #[test]
    fn fleet_table_has_a_host_column_and_an_error_row() {
        assert_snapshot!(draw(&view()));
    }

    #[test]
    fn fleet_kill_dialog_names_the_host_and_sends_the_shown_pids() {
        let mut v = view();
        // web2's error row (second) has nothing to kill.
        v.key(key(KeyCode::Down));
        assert_eq!(v.key(key(KeyCode::Char('x'))), Action::None);
        v.key(key(KeyCode::Up));
        assert_eq!(
            v.key(key(KeyCode::Char('x'))),
            Action::Plan("web1".into(), "tcp:8080".into())
        );
        v.planned(
            "web1",
            "tcp:8080",
            Ok(serde_json::from_str(PLAN).expect("plan")),
        );
        assert_snapshot!(draw(&v));
        assert_eq!(
            v.key(key(KeyCode::Char('y'))),
            Action::Kill("web1".into(), "tcp:8080".into(), vec![4242])
        );
        assert_eq!(
            v.dialog,
            Dialog::Killing {
                host: "web1".into()
            }
        );
    }

    #[test]
    fn fleet_kill_dialog_keeps_its_last_line_when_long_commands_wrap() {
        // Commands of every length up to a few rows: whatever the wrap
        // does at word boundaries, the `[y]` line stays inside the box.
        for n in 40..200 {
            let mut v = view();
            v.key(key(KeyCode::Char('x')));
            let cmd = format!("python3 {}", "/srv/app word ".repeat(n / 14));
            let plan = PLAN.replace("python3 app.py", &cmd[..cmd.len().min(n)]);
            v.planned(
                "web1",
                "tcp:8080",
                Ok(serde_json::from_str(&plan).expect("plan")),
            );
            let screen = draw(&v);
            assert!(
                screen.contains("[y] kill 1 process on web1"),
                "{n}:\n{screen}"
            );
        }
    }

    #[test]
    fn fleet_a_refused_plan_cannot_be_confirmed() {
        let mut v = view();
        v.key(key(KeyCode::Char('x')));
        let refused = r#"{"exit_code":3,"report":null,"plan":{"targets":[],"refusals":[
            {"pid":4242,"class":"managed","reason":"pid 4242 (nginx) is managed; stop it with `systemctl stop nginx.service`"}]}}"#;
        v.planned(
            "web1",
            "tcp:8080",
            Ok(serde_json::from_str(refused).expect("plan")),
        );
        let screen = draw(&v);
        assert!(screen.contains("systemctl stop nginx.service"), "{screen}");
        assert!(screen.contains("nothing will be signalled"), "{screen}");
        assert_eq!(v.key(key(KeyCode::Char('y'))), Action::None);
        assert_eq!(v.dialog, Dialog::None);
    }

    #[test]
    fn fleet_any_other_key_cancels_the_kill() {
        let mut v = view();
        v.key(key(KeyCode::Char('x')));
        v.planned(
            "web1",
            "tcp:8080",
            Ok(serde_json::from_str(PLAN).expect("plan")),
        );
        assert_eq!(v.key(key(KeyCode::Char('n'))), Action::None);
        assert_eq!(v.dialog, Dialog::None);
        assert_eq!(
            v.status.as_deref(),
            Some("not confirmed, nothing signalled")
        );
    }
}
