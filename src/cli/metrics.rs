//! `portwarden metrics`: the listeners as Prometheus text-format metrics,
//! for node_exporter's textfile collector (`--textfile PATH`, written to a
//! temp file and renamed so the collector never reads half a file) or
//! stdout.
//!
//! Label cardinality is bounded on purpose: a series is named by what an
//! operator alerts on (protocol, address, port, class, user, program name,
//! project) and never by a pid, which would make every restart a new
//! series. Rendering is a pure function of the scan ([`render`]) so the
//! format is unit-tested with literal data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{CliError, MetricsArgs, Out, exit};
use portwarden::classify::{self, Class, Verdict};
use portwarden::config::Config;
use portwarden::model::{Pid, Proto, Snapshot, Socket};

/// Run `metrics`.
pub fn run(args: &MetricsArgs, cfg: &Config, out: &mut Out) -> Result<u8, CliError> {
    let started = Instant::now();
    let snap = portwarden::discover::discover(&portwarden::discover::Options::default())?;
    let verdicts = classify::classify(&snap, &cfg.context());
    let text = render(&snap, &verdicts, started.elapsed());
    match &args.textfile {
        Some(path) => match write_atomic(path, &text) {
            Ok(()) => Ok(exit::OK),
            Err(e) => {
                eprintln!("portwarden: cannot write {}: {e}", path.display());
                Ok(exit::ERROR)
            }
        },
        None => out.write_str(&text).map(|()| exit::OK),
    }
}

/// Write `text` to `path` atomically: a temp file in the same directory,
/// then `rename` (the textfile collector must never see a partial file;
/// its name does not end in `.prom`, so the collector ignores it).
pub fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("the path names no file"))?;
    let mut tmp = PathBuf::from(dir);
    tmp.push(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let res = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Escape a label value per the exposition format: backslash, double
/// quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// `{k="v",…}` with every value escaped.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// The socket's identity labels, shared by every per-listener series.
type SockKey = (Proto, String, u16);

fn sock_key(s: &Socket) -> SockKey {
    (s.proto, s.addr.to_string(), s.port)
}

/// The class a socket is counted under in `portwarden_listeners`: its
/// first holder's (holders of one socket are one program), `unknown` when
/// no holder is visible.
fn socket_class(s: &Socket, verdicts: &BTreeMap<Pid, Verdict>) -> &'static str {
    s.holders
        .iter()
        .find_map(|p| verdicts.get(p))
        .map(|v| v.class.as_str())
        .unwrap_or("unknown")
}

fn header(s: &mut String, name: &str, help: &str) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Every series, as Prometheus text format (pure: connection counts and
/// each holder's project come from the scan itself).
pub fn render(snap: &Snapshot, verdicts: &BTreeMap<Pid, Verdict>, took: Duration) -> String {
    let mut s = String::new();
    render_info(&mut s, snap, verdicts);
    render_queues(&mut s, snap);
    render_connections(&mut s, snap);
    header(
        &mut s,
        "portwarden_listeners",
        "Listening sockets by the class of their holder (unknown: holder not visible).",
    );
    let mut totals: BTreeMap<&str, u64> = Class::ALL.iter().map(|c| (c.as_str(), 0)).collect();
    totals.insert("unknown", 0);
    for sock in &snap.sockets {
        *totals.entry(socket_class(sock, verdicts)).or_default() += 1;
    }
    for (class, n) in totals {
        let _ = writeln!(s, "portwarden_listeners{} {n}", labels(&[("class", class)]));
    }
    header(
        &mut s,
        "portwarden_scan_duration_seconds",
        "How long the scan behind these metrics took.",
    );
    let _ = writeln!(s, "portwarden_scan_duration_seconds {}", took.as_secs_f64());
    s
}

fn render_info(s: &mut String, snap: &Snapshot, verdicts: &BTreeMap<Pid, Verdict>) {
    header(
        s,
        "portwarden_listener_info",
        "A listening socket and the program holding it (always 1).",
    );
    // A set: the workers of one prefork server share every label (no pids).
    let mut rows: std::collections::BTreeSet<String> = Default::default();
    for sock in &snap.sockets {
        let (proto, addr, port) = sock_key(sock);
        let port = port.to_string();
        let mut add = |class: &str, user: &str, command: &str, project: &str| {
            rows.insert(labels(&[
                ("proto", proto.as_str()),
                ("addr", &addr),
                ("port", &port),
                ("class", class),
                ("user", user),
                ("command", command),
                ("project", project),
            ]));
        };
        if sock.holders.is_empty() {
            add("unknown", &sock.uid.to_string(), "", "");
        }
        for pid in &sock.holders {
            let (Some(p), Some(v)) = (snap.process(*pid), verdicts.get(pid)) else {
                continue;
            };
            let user = p.user.clone().unwrap_or_else(|| p.uid.to_string());
            let project = snap
                .contexts
                .get(pid)
                .and_then(|c| c.project.as_ref())
                .map_or("", |p| p.name.as_str());
            add(v.class.as_str(), &user, &p.name, project);
        }
    }
    for r in rows {
        let _ = writeln!(s, "portwarden_listener_info{r} 1");
    }
}

fn render_queues(s: &mut String, snap: &Snapshot) {
    // Several sockets may share proto/addr/port (SO_REUSEPORT): one series
    // each, summed, so no series is duplicated.
    let mut q: BTreeMap<SockKey, (u64, u64, bool)> = BTreeMap::new();
    for sock in snap.sockets.iter().filter(|s| s.proto == Proto::Tcp) {
        let (Some(aq), Some(bl)) = (sock.accept_queue, sock.backlog) else {
            continue;
        };
        let e = q.entry(sock_key(sock)).or_default();
        e.0 += u64::from(aq);
        e.1 += u64::from(bl);
        e.2 |= sock.stuck();
    }
    let series = [
        (
            "portwarden_listener_accept_queue",
            "Connections waiting to be accepted.",
        ),
        ("portwarden_listener_backlog", "The listen backlog."),
        (
            "portwarden_listener_stuck",
            "1 when the accept queue is full: up but not accepting.",
        ),
    ];
    for (i, (name, help)) in series.iter().enumerate() {
        header(s, name, help);
        for ((proto, addr, port), (aq, bl, stuck)) in &q {
            let v = [*aq, *bl, u64::from(*stuck)][i];
            let l = labels(&[
                ("proto", proto.as_str()),
                ("addr", addr),
                ("port", &port.to_string()),
            ]);
            let _ = writeln!(s, "{name}{l} {v}");
        }
    }
}

fn render_connections(s: &mut String, snap: &Snapshot) {
    header(
        s,
        "portwarden_listener_connections",
        "TCP connections on a listener's address and port, by state.",
    );
    // Sockets sharing proto/addr/port (SO_REUSEPORT) are summed, so no
    // series is duplicated.
    let mut counts: BTreeMap<(SockKey, &str), u64> = BTreeMap::new();
    for sock in snap.sockets.iter().filter(|s| s.proto == Proto::Tcp) {
        let Some(c) = snap.connections.get(&sock.inode) else {
            continue;
        };
        let by_state = [
            ("established", c.established),
            ("syn_recv", c.syn_recv),
            ("close_wait", c.close_wait),
            ("time_wait", c.time_wait),
        ];
        for (state, n) in by_state {
            *counts.entry((sock_key(sock), state)).or_default() += u64::from(n);
        }
    }
    for (((proto, addr, port), state), n) in counts {
        let l = labels(&[
            ("proto", proto.as_str()),
            ("addr", &addr),
            ("port", &port.to_string()),
            ("state", state),
        ]);
        let _ = writeln!(s, "portwarden_listener_connections{l} {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portwarden::classify::Context;
    use portwarden::model::{Family, Process, SockState};
    use std::net::{IpAddr, Ipv4Addr};

    fn proc(pid: Pid, ppid: Pid, name: &str) -> Process {
        Process {
            pgid: 4242,
            sid: 4242,
            uid: 1000,
            user: Some("dev\"x".into()),
            cmdline: vec![name.to_string()],
            detailed: true,
            ..Process::new(pid, ppid, name)
        }
    }

    fn web_context() -> portwarden::project::ProcContext {
        portwarden::project::ProcContext {
            cwd: Some("/home/dev/web".into()),
            project: Some(portwarden::project::Project {
                root: "/home/dev/web".into(),
                name: "web".into(),
                branch: Some("main".into()),
                worktree: false,
            }),
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
    }

    #[test]
    fn series_have_bounded_labels_and_no_pids() {
        let sock = Socket {
            proto: Proto::Tcp,
            family: Family::Ipv4,
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8080,
            state: SockState::Listen,
            inode: 1,
            uid: 1000,
            accept_queue: Some(3),
            backlog: Some(3),
            holders: vec![4242, 4243],
            unresolved: None,
        };
        let sn = Snapshot {
            sockets: vec![sock],
            processes: [
                proc(1, 0, "init"),
                proc(4242, 1, "node"),
                proc(4243, 4242, "node"),
            ]
            .into_iter()
            .map(|p| (p.pid, p))
            .collect(),
            boot_time: 0,
            clk_tck: 100,
            connections: BTreeMap::from([(
                1,
                portwarden::conns::Connections {
                    established: 1,
                    ..Default::default()
                },
            )]),
            contexts: [4242, 4243]
                .into_iter()
                .map(|pid| (pid, web_context()))
                .collect(),
            ..Snapshot::default()
        };
        let ctx = Context {
            uid: 1000,
            self_pid: 9000,
            self_pgid: 9000,
            ..Context::default()
        };
        let v = classify::classify(&sn, &ctx);
        let text = render(&sn, &v, Duration::from_millis(5));
        let info: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("portwarden_listener_info{"))
            .collect();
        assert_eq!(info.len(), 1, "{text}");
        assert!(info[0].contains(r#"user="dev\"x""#), "{text}");
        assert!(
            info[0].contains(r#"command="node",project="web"} 1"#),
            "{text}"
        );
        assert!(!text.contains("4242"), "{text}");
        assert!(
            text.contains("portwarden_listener_stuck{proto=\"tcp\""),
            "{text}"
        );
        assert!(text.contains("state=\"established\"} 1"), "{text}");
        assert!(
            text.contains("portwarden_listeners{class=\"unknown\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("portwarden_scan_duration_seconds 0.005"),
            "{text}"
        );
    }
}
