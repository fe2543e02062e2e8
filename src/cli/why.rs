//! `portwarden why PORT`: prose for a person. Each holder, its class and
//! reasons, its chain of parents up to init, its process group, and what
//! `kill` would do — the facts are [`portwarden::explain`]'s (the TUI's
//! details pane draws the same ones); this file only words them.

use std::fmt::Write as _;

use super::kill::format_plan;
use super::{CliError, Out, WhyArgs, exit};
use portwarden::classify::Context;
use portwarden::config::Config;
use portwarden::discover::{Options, Scanner};
use portwarden::escape::{escape, truncate_cut};
use portwarden::explain::{
    self, ConnFacts, HolderEntry, HolderFacts, Named, PortExplanation, PortSocket, SocketFacts,
};
use portwarden::kill::Policy;
use portwarden::model::{Pid, Snapshot};
use portwarden::spec::PortSpec;
use portwarden::timefmt::{age, utc};

/// How many of a program's other workers are named before "…".
const WORKERS_SHOWN: usize = 20;

/// Run `why`.
pub fn run(args: &WhyArgs, cfg: &Config, out: &mut Out) -> Result<u8, CliError> {
    let mut scanner = Scanner::new();
    let snap = scanner.scan(&Options::default())?;
    let mut e = explain::port(&snap, &cfg.context(), &cfg.kill_policy(), args.port);
    e.method = scanner.last_method().map(ToString::to_string);
    out.write_str(&prose(&e, portwarden::timefmt::now()))?;
    if let Some(method) = &e.method {
        out.write_str(&format!("\n{method}\n"))?;
    }
    Ok(exit::OK)
}

/// The whole explanation, as text (pure: `now` is passed in). `policy` is
/// what a plain `portwarden kill PORT` would use.
pub fn explain(
    snap: &Snapshot,
    ctx: &Context,
    policy: &Policy,
    port: PortSpec,
    now: u64,
) -> String {
    prose(&explain::port(snap, ctx, policy, port), now)
}

/// An explanation in words (without the finder method, which `run` adds
/// after a blank line).
fn prose(e: &PortExplanation, now: u64) -> String {
    let mut s = String::new();
    if e.sockets.is_empty() {
        let _ = writeln!(s, "Nothing listens on port {}: it is free.", e.port);
        return s;
    }
    for sock in &e.sockets {
        socket(&mut s, e, sock, now);
        s.push('\n');
    }
    plan(&mut s, e);
    s
}

/// One socket: its line, queue, connections, and holders.
fn socket(s: &mut String, e: &PortExplanation, sock: &PortSocket, now: u64) {
    let f = &sock.socket;
    let queue = match (f.accept_queue, f.backlog) {
        (Some(q), Some(b)) => format!(", accept queue {q}/{b}"),
        _ => String::new(),
    };
    let _ = writeln!(
        s,
        "{} {} ({}{queue}, inode {}, uid {})",
        f.proto,
        f.endpoint,
        f.state.as_str(),
        f.inode,
        f.uid
    );
    if f.stuck {
        let _ = writeln!(
            s,
            "  STUCK: the accept queue is full — the listener is up but not accepting connections."
        );
    }
    if let Some(c) = &f.connections {
        connections(s, f, c);
    }
    if f.holders.is_empty() {
        let _ = writeln!(
            s,
            "  no holder visible: {}",
            escape(f.unresolved.as_deref().unwrap_or("unknown"))
        );
    }
    for entry in &sock.entries {
        match *entry {
            HolderEntry::SeeAbove(pid) => {
                let _ = writeln!(s, "  held by pid {pid} (see above)");
            }
            HolderEntry::Vanished(pid) => {
                let _ = writeln!(s, "  held by pid {pid} (vanished during the scan)");
            }
            HolderEntry::Explained(pid) => {
                if let Some(h) = e.holders.get(&pid) {
                    holder(s, h, now);
                }
            }
        }
    }
    for same in &sock.same_program {
        workers(s, same.first, &same.more);
    }
}

/// Connection counts, local clients, and what a full queue means given
/// them.
fn connections(s: &mut String, f: &SocketFacts, c: &ConnFacts) {
    let n = &c.counts;
    let _ = writeln!(
        s,
        "  connections: {} established ({} accepted), {} syn_recv, {} close_wait, {} time_wait",
        n.established, c.served, n.syn_recv, n.close_wait, n.time_wait
    );
    if f.stuck {
        let _ = writeln!(
            s,
            "  {}",
            if c.stopped_accepting {
                "queue full and no established connection accepted: the server stopped accepting (hung, or blocked before accept())"
            } else {
                "queue full while serving established connections: it accepts too slowly for its load"
            }
        );
    }
    for k in &n.clients {
        let who = match (k.pid, &k.name) {
            (Some(p), Some(n)) => format!("pid {p} ({})", escape(n)),
            (Some(p), None) => format!("pid {p}"),
            _ => "a process not visible here".to_string(),
        };
        let ep = std::net::SocketAddr::new(k.addr, k.port);
        let _ = writeln!(s, "    client {ep}: {who}");
    }
}

/// `and 3 workers of the same program (pids …): same class and reasons as
/// pid N`.
fn workers(s: &mut String, first: Pid, more: &[Pid]) {
    let pids: Vec<String> = more
        .iter()
        .take(WORKERS_SHOWN)
        .map(Pid::to_string)
        .collect();
    let _ = writeln!(
        s,
        "  and {} {} of the same program (pid{} {}{}): same class and reasons as pid {first}",
        more.len(),
        if more.len() == 1 { "worker" } else { "workers" },
        if more.len() == 1 { "" } else { "s" },
        pids.join(", "),
        if more.len() > WORKERS_SHOWN {
            ", …"
        } else {
            ""
        }
    );
}

/// What `portwarden kill PORT` would do: refuse, or the plan.
fn plan(s: &mut String, e: &PortExplanation) {
    let port = &e.port;
    let _ = writeln!(s, "What `portwarden kill {port}` would do:");
    if e.plan.is_refused() {
        let _ = writeln!(s, "  refuse, signalling nothing:");
        for r in &e.refusals {
            let _ = writeln!(s, "  - {}", escape(r));
        }
    } else {
        for line in format_plan(&e.plan).lines() {
            let _ = writeln!(s, "  {line}");
        }
        let _ = writeln!(
            s,
            "  then check that port {port} is free and report by whom it is held if not."
        );
    }
}

/// One holder: command, class and reasons, owner, context, lineage.
fn holder(s: &mut String, h: &HolderFacts, now: u64) {
    let _ = writeln!(
        s,
        "  held by pid {}: {}",
        h.pid,
        truncate_cut(&escape(&h.command), 300)
    );
    let _ = writeln!(s, "    class: {}", h.verdict.class);
    match h.halt {
        Some(explain::Halt::Stopped) => {
            let _ = writeln!(
                s,
                "    state: stopped (T): a SIGTERM it handles waits until it is continued (SIGCONT); kill escalates to SIGKILL after the grace"
            );
        }
        Some(explain::Halt::Traced) => {
            let _ = writeln!(
                s,
                "    state: traced (t), stopped by a debugger: a SIGTERM waits for the tracer; kill escalates to SIGKILL after the grace"
            );
        }
        None => {}
    }
    for r in &h.verdict.reasons {
        let _ = writeln!(s, "      - {}", escape(r));
    }
    let user = h
        .user
        .as_deref()
        .map(|u| format!("{} (uid {})", escape(u), h.uid))
        .unwrap_or_else(|| format!("uid {}", h.uid));
    let _ = writeln!(s, "    user: {user}");
    context(s, h, now);
    lineage(s, h);
}

/// Working directory, project, executable and start time.
fn context(s: &mut String, h: &HolderFacts, now: u64) {
    if let Some(cwd) = &h.cwd {
        let _ = writeln!(s, "    cwd: {}", escape(cwd));
    }
    if let Some(p) = &h.project {
        let _ = writeln!(
            s,
            "    project: {} (root {}{})",
            escape(&p.label()),
            escape(&p.root),
            if p.worktree { ", a git worktree" } else { "" }
        );
    }
    if let Some(exe) = &h.exe {
        let _ = writeln!(s, "    exe: {}", escape(exe));
    }
    if let Some(started) = h.started {
        let _ = writeln!(
            s,
            "    started: {} UTC ({} ago)",
            utc(started),
            age(now.saturating_sub(started))
        );
    }
}

/// Parents, process group and descendants.
fn lineage(s: &mut String, h: &HolderFacts) {
    let chain: Vec<String> = h.parents.iter().map(named).collect();
    let _ = writeln!(s, "    parents: {}", chain.join(" ← "));
    let g = &h.group;
    let shown: Vec<String> = g.members.iter().map(named).collect();
    let more = g.size.saturating_sub(g.members.len());
    let _ = writeln!(
        s,
        "    process group {}: {}{}{}",
        g.pgid,
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        if g.own {
            " (portwarden's own group: the group is not signalled as a whole)"
        } else {
            ""
        }
    );
    if h.descendants > 0 {
        let _ = writeln!(s, "    descendants: {}", h.descendants);
    }
}

/// `1234 node`, or the bare pid of a process not seen.
fn named(n: &Named) -> String {
    match &n.name {
        Some(name) => format!("{} {}", n.pid, escape(name)),
        None => n.pid.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use portwarden::model::{Family, Process, Proto, SockState, Socket};

    use super::*;

    fn process(pid: Pid, ppid: Pid, pgid: Pid, name: &str) -> Process {
        let mut p = Process::new(pid, ppid, name);
        p.pgid = pgid;
        p.sid = 1000;
        p.uid = 1000;
        p.user = Some("dev".into());
        p.cmdline = vec![name.into(), "--serve".into()];
        p.start_time = 500 * 100;
        p.detailed = true;
        p
    }

    /// An orphaned server (1000, under init) and two forked workers, all
    /// holding 127.0.0.1:8080; portwarden runs as pid 9000.
    fn machine() -> Snapshot {
        let procs = [
            process(1, 0, 1, "init"),
            process(1000, 1, 1000, "srv"),
            process(1001, 1000, 1000, "srv"),
            process(1002, 1000, 1000, "srv"),
        ];
        let sock = Socket {
            proto: Proto::Tcp,
            family: Family::Ipv4,
            addr: "127.0.0.1".parse().expect("ip"),
            port: 8080,
            state: SockState::Listen,
            inode: 77,
            uid: 1000,
            accept_queue: Some(0),
            backlog: Some(128),
            holders: vec![1000, 1001, 1002],
            unresolved: None,
        };
        Snapshot {
            sockets: vec![sock],
            processes: procs.into_iter().map(|p| (p.pid, p)).collect(),
            boot_time: 1_795_000_000,
            clk_tck: 100,
            ..Snapshot::default()
        }
    }

    #[test]
    fn workers_of_one_program_are_folded_into_the_first() {
        let ctx = Context {
            uid: 1000,
            self_pid: 9000,
            self_pgid: 9000,
            ..Context::default()
        };
        let port: PortSpec = "8080".parse().expect("spec");
        let text = explain(&machine(), &ctx, &Policy::default(), port, 1_795_000_600);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "tcp 127.0.0.1:8080 (LISTEN, accept queue 0/128, inode 77, uid 1000)"
        );
        assert_eq!(lines[1], "  held by pid 1000: srv --serve");
        assert!(
            text.contains(
                "  and 1 worker of the same program (pid 1002): same class and reasons as pid 1001\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("    parents: 1001 srv ← 1000 srv ← 1 init\n"),
            "{text}"
        );
        assert!(
            text.contains("    process group 1000: 1000 srv, 1001 srv, 1002 srv\n"),
            "{text}"
        );
        assert!(
            text.contains("    started: 2026-11-18 11:15:00 UTC (1m 40s ago)\n"),
            "{text}"
        );
        assert!(
            text.contains("What `portwarden kill 8080` would do:"),
            "{text}"
        );
    }

    #[test]
    fn a_free_port_says_so() {
        let port: PortSpec = "9".parse().expect("spec");
        let text = explain(&machine(), &Context::default(), &Policy::default(), port, 0);
        assert_eq!(text, "Nothing listens on port 9: it is free.\n");
    }
}
