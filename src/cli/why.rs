//! `portwarden why PORT`: prose for a person. Each holder, its class and
//! reasons, its chain of parents up to init, its process group, and what
//! `kill` would do — computed by the same planner `kill` uses.

use std::fmt::Write as _;

use super::kill::format_plan;
use super::{CliError, Out, WhyArgs, exit};
use portwarden::classify::{self, Context};
use portwarden::config::Config;
use portwarden::discover::{Options, Scanner};
use portwarden::escape::{escape, truncate_cut};
use portwarden::kill::{self, Policy};
use portwarden::model::{Pid, Snapshot};
use portwarden::spec::PortSpec;
use portwarden::timefmt::{age, utc};

/// Run `why`.
pub fn run(args: &WhyArgs, cfg: &Config, out: &mut Out) -> Result<u8, CliError> {
    let mut scanner = Scanner::new();
    let snap = scanner.scan(&Options::default())?;
    let ctx = cfg.context();
    let policy = cfg.kill_policy();
    out.write_str(&explain(
        &snap,
        &ctx,
        &policy,
        args.port,
        portwarden::timefmt::now(),
    ))?;
    if let Some(report) = scanner.last_method() {
        out.write_str(&format!("\n{report}\n"))?;
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
    let mut s = String::new();
    let sockets: Vec<_> = snap.sockets_on(port.port, port.proto).collect();
    if sockets.is_empty() {
        let _ = writeln!(s, "Nothing listens on port {port}: it is free.");
        return s;
    }
    let mut seen: Vec<Pid> = Vec::new();
    for sock in &sockets {
        let queue = match (sock.accept_queue, sock.backlog) {
            (Some(q), Some(b)) => format!(", accept queue {q}/{b}"),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "{} {} ({}{queue}, inode {}, uid {})",
            sock.proto,
            sock.endpoint(),
            sock.state.as_str(),
            sock.inode,
            sock.uid
        );
        if sock.stuck() {
            let _ = writeln!(
                s,
                "  STUCK: the accept queue is full — the listener is up but not accepting connections."
            );
        }
        super::context::why_connections(&mut s, snap, sock);
        if sock.holders.is_empty() {
            let _ = writeln!(
                s,
                "  no holder visible: {}",
                escape(sock.unresolved.as_deref().unwrap_or("unknown"))
            );
        }
        // Workers of one program share every reason (they name the same
        // leader): the first is shown whole, the rest are counted.
        let mut shown: Vec<(Pid, classify::Verdict, Vec<Pid>)> = Vec::new();
        for &pid in &sock.holders {
            if seen.contains(&pid) {
                let _ = writeln!(s, "  held by pid {pid} (see above)");
                continue;
            }
            seen.push(pid);
            let v = classify::classify_process(snap, ctx, pid);
            let worker = v.reasons.iter().any(|r| r.contains("its program's leader"));
            if let Some((_, _, more)) = shown.iter_mut().find(|(_, sv, _)| worker && *sv == v) {
                more.push(pid);
                continue;
            }
            holder(&mut s, snap, ctx, pid, now);
            shown.push((pid, v, Vec::new()));
        }
        for (first, _, more) in shown.iter().filter(|(_, _, m)| !m.is_empty()) {
            let pids: Vec<String> = more.iter().take(20).map(Pid::to_string).collect();
            let _ = writeln!(
                s,
                "  and {} {} of the same program (pid{} {}{}): same class and reasons as pid {first}",
                more.len(),
                if more.len() == 1 { "worker" } else { "workers" },
                if more.len() == 1 { "" } else { "s" },
                pids.join(", "),
                if more.len() > 20 { ", …" } else { "" }
            );
        }
        s.push('\n');
    }
    let plan = kill::plan_ports(snap, ctx, &[port], policy);
    let _ = writeln!(s, "What `portwarden kill {port}` would do:");
    if plan.is_refused() {
        let _ = writeln!(s, "  refuse, signalling nothing:");
        for r in kill::fold_refusals(&plan.refusals) {
            let _ = writeln!(s, "  - {}", escape(&r));
        }
    } else {
        for line in format_plan(&plan).lines() {
            let _ = writeln!(s, "  {line}");
        }
        let _ = writeln!(
            s,
            "  then check that port {port} is free and report by whom it is held if not."
        );
    }
    s
}

fn holder(s: &mut String, snap: &Snapshot, ctx: &Context, pid: Pid, now: u64) {
    let Some(p) = snap.process(pid) else {
        let _ = writeln!(s, "  held by pid {pid} (vanished during the scan)");
        return;
    };
    let v = classify::classify_process(snap, ctx, pid);
    let _ = writeln!(
        s,
        "  held by pid {pid}: {}",
        truncate_cut(&escape(&p.command()), 300)
    );
    let _ = writeln!(s, "    class: {}", v.class);
    match p.state {
        'T' => {
            let _ = writeln!(
                s,
                "    state: stopped (T): a SIGTERM it handles waits until it is continued (SIGCONT); kill escalates to SIGKILL after the grace"
            );
        }
        't' => {
            let _ = writeln!(
                s,
                "    state: traced (t), stopped by a debugger: a SIGTERM waits for the tracer; kill escalates to SIGKILL after the grace"
            );
        }
        _ => {}
    }
    for r in &v.reasons {
        let _ = writeln!(s, "      - {}", escape(r));
    }
    let user = p
        .user
        .as_deref()
        .map(|u| format!("{} (uid {})", escape(u), p.uid))
        .unwrap_or_else(|| format!("uid {}", p.uid));
    let _ = writeln!(s, "    user: {user}");
    super::context::why_project(s, snap, pid);
    if let Some(exe) = &p.exe {
        let _ = writeln!(s, "    exe: {}", escape(exe));
    }
    if let Some(started) = snap.started_at(p) {
        let _ = writeln!(
            s,
            "    started: {} UTC ({} ago)",
            utc(started),
            age(now.saturating_sub(started))
        );
    }
    let chain: Vec<String> = std::iter::once(pid)
        .chain(snap.ancestors(pid))
        .map(|a| match snap.process(a) {
            Some(ap) => format!("{a} {}", escape(&ap.name)),
            None => a.to_string(),
        })
        .collect();
    let _ = writeln!(s, "    parents: {}", chain.join(" ← "));
    let members = snap.group_members(p.pgid);
    let shown: Vec<String> = members
        .iter()
        .take(20)
        .map(|m| match snap.process(*m) {
            Some(mp) => format!("{m} {}", escape(&mp.name)),
            None => m.to_string(),
        })
        .collect();
    let more = members.len().saturating_sub(20);
    let _ = writeln!(
        s,
        "    process group {}: {}{}{}",
        p.pgid,
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        if p.pgid == ctx.self_pgid {
            " (portwarden's own group: the group is not signalled as a whole)"
        } else {
            ""
        }
    );
    let kids = snap.descendants(pid);
    if !kids.is_empty() {
        let _ = writeln!(s, "    descendants: {}", kids.len());
    }
}
