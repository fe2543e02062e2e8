//! `portwarden list`: every listening socket, its holders and their classes,
//! as a table for people or JSON for scripts.

use std::collections::BTreeMap;

use super::{CliError, ListArgs, Out, exit, json};
use portwarden::classify::{self, Verdict};
use portwarden::config::Config;
use portwarden::escape::{escape, truncate, truncate_cut};
use portwarden::model::{Pid, Snapshot, Socket};
use portwarden::spec::PortSpec;

/// Run `list`.
pub fn run(args: &ListArgs, cfg: &Config, out: &mut Out) -> Result<u8, CliError> {
    let mut scanner = portwarden::discover::Scanner::with_method(args.method);
    let snap = scanner.scan(&args.proto.options(cfg))?;
    if args.verbose
        && let Some(report) = scanner.last_method()
    {
        eprintln!("portwarden: {report}");
    }
    let ctx = cfg.context();
    let verdicts = classify::classify(&snap, &ctx);
    let mut sockets: Vec<&Socket> = select(&snap, &args.ports);
    if let Some(dir) = &args.project {
        let dir = super::context::project_dir(dir)?;
        sockets.retain(|s| super::context::in_project(&snap, s, &dir));
    }
    if args.json {
        let doc = json::ListDoc {
            schema: 1,
            sockets: sockets
                .iter()
                .map(|s| json::socket(&snap, &verdicts, s))
                .collect(),
        };
        let text =
            serde_json::to_string(&doc).map_err(|e| CliError::Write(std::io::Error::other(e)))?;
        out.line(&portwarden::escape::json_safe(text))?;
    } else {
        let mut rows = table_rows(&snap, &verdicts, &sockets);
        let projected = with_project_column(&snap, &sockets, &mut rows, out.width);
        for (i, line) in render_table(&rows, out.width).into_iter().enumerate() {
            let line = match (&projected, i) {
                (Some(w), 0) => line.replacen("COMMAND", &format!("{:<w$}  COMMAND", "PROJECT"), 1),
                _ => line,
            };
            out.line(&line)?;
        }
        if sockets.iter().any(|s| s.stuck()) {
            out.line("! = accept queue full: the listener is up but not accepting (stuck)")?;
        }
    }
    Ok(exit::OK)
}

/// Narrowest terminal that gets a PROJECT column in `list`'s table.
pub const PROJECT_COLUMN_WIDTH: usize = 120;

/// On a terminal at least [`PROJECT_COLUMN_WIDTH`] wide, when some holder
/// has a project, put a PROJECT column (`name@branch`) before COMMAND and
/// return its width. Rows follow [`table_rows`]' order: one per holder, or
/// one for a socket without any.
fn with_project_column(
    snap: &Snapshot,
    sockets: &[&Socket],
    rows: &mut [[String; 7]],
    width: Option<usize>,
) -> Option<usize> {
    if width.is_none_or(|w| w < PROJECT_COLUMN_WIDTH) {
        return None;
    }
    let labels: Vec<String> = sockets
        .iter()
        .flat_map(|s| {
            let per: Vec<String> = s
                .holders
                .iter()
                .filter(|p| snap.process(**p).is_some())
                .map(|p| {
                    snap.contexts
                        .get(p)
                        .and_then(|c| c.project.as_ref())
                        .map(|p| escape(&p.label()).into_owned())
                        .unwrap_or_default()
                })
                .collect();
            if s.holders.is_empty() {
                vec![String::new()]
            } else {
                per
            }
        })
        .collect();
    if labels.len() != rows.len() || labels.iter().all(String::is_empty) {
        return None;
    }
    let w = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(7, 24);
    for (r, l) in rows.iter_mut().zip(labels) {
        r[6] = format!("{:<w$}  {}", truncate(&l, w), r[6]);
    }
    Some(w)
}

/// Sockets matching any of `ports` (all sockets when `ports` is empty).
pub fn select<'a>(snap: &'a Snapshot, ports: &[PortSpec]) -> Vec<&'a Socket> {
    snap.sockets
        .iter()
        .filter(|s| ports.is_empty() || ports.iter().any(|p| p.matches(s.proto, s.port)))
        .collect()
}

/// Longest COMMAND cell when stdout is not a terminal.
pub const MAX_PIPED_COMMAND: usize = 4096;

/// The table header.
pub const HEADER: [&str; 7] = [
    "PROTO",
    "ADDR:PORT",
    "PID",
    "PPID",
    "USER",
    "CLASS",
    "COMMAND",
];

/// One table row, every cell already escaped.
pub fn table_rows(
    snap: &Snapshot,
    verdicts: &BTreeMap<Pid, Verdict>,
    sockets: &[&Socket],
) -> Vec<[String; 7]> {
    let mut rows = Vec::new();
    for s in sockets {
        let endpoint = format!("{}{}", if s.stuck() { "!" } else { "" }, s.endpoint());
        let proto = s.proto.as_str().to_string();
        if s.holders.is_empty() {
            rows.push(unresolved_row(
                proto,
                endpoint,
                s.uid,
                s.unresolved.as_deref(),
            ));
            continue;
        }
        for pid in &s.holders {
            let Some(p) = snap.process(*pid) else {
                continue;
            };
            let class = verdicts.get(pid).map(|v| v.class.as_str()).unwrap_or("?");
            rows.push([
                proto.clone(),
                endpoint.clone(),
                p.pid.to_string(),
                p.ppid.to_string(),
                escape(&p.user.clone().unwrap_or_else(|| p.uid.to_string())).into_owned(),
                class.to_string(),
                escape(&p.short_command()).into_owned(),
            ]);
        }
    }
    rows
}

/// Lay rows out in aligned columns. With a `width` (stdout is a terminal),
/// the COMMAND column is cut to fit; otherwise it is printed whole.
pub fn render_table(rows: &[[String; 7]], width: Option<usize>) -> Vec<String> {
    let mut w = HEADER.map(|h| h.chars().count());
    for r in rows {
        for (i, c) in r.iter().enumerate().take(6) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    // USER may be long (another user's name): cap it so COMMAND keeps room.
    w[4] = w[4].min(12);
    let fixed: usize = w[..6].iter().sum::<usize>() + 6 * 2;
    let cmd_room = width.map(|tw| tw.saturating_sub(fixed).max(10));
    let fmt = |r: [&str; 7]| -> String {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate().take(6) {
            let cell = truncate(cell, w[i]);
            let pad = w[i].saturating_sub(cell.chars().count());
            if i == 2 || i == 3 {
                line.push_str(&" ".repeat(pad));
                line.push_str(&cell);
            } else {
                line.push_str(&cell);
                line.push_str(&" ".repeat(pad));
            }
            line.push_str("  ");
        }
        match cmd_room {
            Some(room) => line.push_str(&truncate(r[6], room)),
            // Not a terminal: no width to fit, but a 64 KiB command line
            // is no use in a table either (JSON keeps it whole).
            None => line.push_str(&truncate_cut(r[6], MAX_PIPED_COMMAND)),
        }
        line.trim_end().to_string()
    };
    let mut out = vec![fmt(HEADER)];
    for r in rows {
        out.push(fmt([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]]));
    }
    out
}

/// The table row of a socket with no visible holder (the TUI shows the
/// same words): `uid N`, class `?`, and why it is unresolved.
pub fn unresolved_row(
    proto: String,
    endpoint: String,
    uid: u32,
    unresolved: Option<&str>,
) -> [String; 7] {
    [
        proto,
        endpoint,
        "-".into(),
        "-".into(),
        format!("uid {uid}"),
        "?".into(),
        format!(
            "(unresolved: {})",
            escape(unresolved.unwrap_or("no holder found"))
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use portwarden::model::{Family, Process, Proto, SockState};
    use portwarden::project::{ProcContext, Project};

    fn snap() -> Snapshot {
        let sock = Socket {
            proto: Proto::Tcp,
            family: Family::Ipv4,
            addr: "127.0.0.1".parse().expect("ip"),
            port: 3000,
            state: SockState::Listen,
            inode: 7,
            uid: 1000,
            accept_queue: Some(0),
            backlog: Some(128),
            holders: vec![42],
            unresolved: None,
        };
        let mut p = Process::new(42, 1, "node");
        p.cmdline = vec!["node".into(), "server.js".into()];
        let mut s = Snapshot {
            sockets: vec![sock],
            ..Snapshot::default()
        };
        s.processes.insert(42, p);
        s.contexts.insert(
            42,
            ProcContext {
                cwd: Some("/home/dev/shop".into()),
                project: Some(Project {
                    root: "/home/dev/shop".into(),
                    name: "shop".into(),
                    branch: Some("main".into()),
                    worktree: false,
                }),
            },
        );
        s
    }

    #[test]
    fn project_column_only_on_a_wide_terminal() {
        let s = snap();
        let socks: Vec<&Socket> = s.sockets.iter().collect();
        let v = BTreeMap::new();
        let mut rows = table_rows(&s, &v, &socks);
        assert_eq!(with_project_column(&s, &socks, &mut rows, Some(100)), None);
        assert_eq!(with_project_column(&s, &socks, &mut rows, None), None);
        assert_eq!(rows[0][6], "node server.js");
        assert_eq!(
            with_project_column(&s, &socks, &mut rows, Some(140)),
            Some(9)
        );
        assert_eq!(rows[0][6], "shop@main  node server.js");
    }
}
