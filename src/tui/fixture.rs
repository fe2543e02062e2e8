//! Literal fixtures for the TUI tests: a small machine with one of each
//! interesting case, a fixed "now", and helpers to drive and draw an
//! [`App`] without a terminal.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use portwarden::classify::{Class, Context};
use portwarden::model::{Family, Pid, Process, Proto, Snapshot, SockState, Socket};

use super::effects::{self, PlanView, Planned, RefusalView, TargetView};
use super::render::render;
use super::state::App;
use super::update::{Effect, Msg, update};

/// "Now" in every fixture: 2026-11-18 11:06:40 UTC.
pub const NOW: u64 = 1_795_000_000;
/// The machine booted a day before.
pub const BOOT: u64 = NOW - 86_400;
/// The invoking user.
pub const ME: u32 = 1000;
/// The hostile process name.
pub const EVIL: &str = "evil\u{1b}]0;pwned\u{7}";

pub fn ctx() -> Context {
    Context {
        uid: ME,
        self_pid: 9000,
        self_pgid: 9000,
        ancestors: HashSet::from([2000, 1]),
        extra_supervisors: Vec::new(),
        extra_managed: Vec::new(),
        ..Context::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn proc(
    pid: Pid,
    ppid: Pid,
    pgid: Pid,
    sid: Pid,
    uid: u32,
    user: &str,
    name: &str,
    cmdline: &[&str],
    started_secs_after_boot: u64,
) -> Process {
    let mut p = Process::new(pid, ppid, name);
    p.pgid = pgid;
    p.sid = sid;
    p.uid = uid;
    p.user = Some(user.to_string());
    p.cmdline = cmdline.iter().map(|s| s.to_string()).collect();
    p.exe = cmdline.first().map(|c| format!("/usr/bin/{c}"));
    p.start_time = started_secs_after_boot * 100;
    p.cgroup = Some("0::/user.slice/user-1000.slice/session-2.scope".into());
    p.detailed = true;
    p
}

fn sock(proto: Proto, addr: IpAddr, port: u16, inode: u64, uid: u32, holders: &[Pid]) -> Socket {
    Socket {
        proto,
        family: if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        },
        addr,
        port,
        state: if proto == Proto::Tcp {
            SockState::Listen
        } else {
            SockState::Unconn
        },
        inode,
        uid,
        accept_queue: (proto == Proto::Tcp).then_some(0),
        backlog: (proto == Proto::Tcp).then_some(511),
        holders: holders.to_vec(),
        unresolved: None,
    }
}

const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// The fixture machine:
/// - `:80` foreign nginx (uid 33), master 700 and worker 701 both holding it;
/// - `:2049` no visible holder (kernel nfsd), with the unresolved reason;
/// - `0.0.0.0:3000` orphan node server 3000 with workers 3001, 3002 in its group;
/// - `127.0.0.1:5000` a stuck gunicorn (accept queue full);
/// - `127.0.0.1:6379` a managed redis (systemd user unit);
/// - `[::1]:8000` a live python;
/// - `127.0.0.1:9999` a live process whose name is an OSC title escape;
/// - `udp 0.0.0.0:21027` a daemon (syncthing).
pub fn snapshot() -> Snapshot {
    let tty = 136 << 8; // pts/0
    let mut procs = vec![
        proc(1, 0, 1, 1, 0, "root", "systemd", &["/sbin/init"], 0),
        proc(
            700,
            1,
            700,
            700,
            33,
            "www-data",
            "nginx",
            &["nginx: master process /usr/sbin/nginx"],
            60,
        ),
        proc(
            701,
            700,
            700,
            700,
            33,
            "www-data",
            "nginx",
            &["nginx: worker process"],
            60,
        ),
        proc(2000, 1, 2000, 2000, ME, "alice", "bash", &["-bash"], 3_600),
        proc(
            3000,
            1,
            3000,
            2000,
            ME,
            "alice",
            "node",
            &["node", "server.js", "--port", "3000"],
            80_000,
        ),
        proc(
            3001,
            3000,
            3000,
            2000,
            ME,
            "alice",
            "node",
            &["node", "worker.js", "1"],
            80_001,
        ),
        proc(
            3002,
            3000,
            3000,
            2000,
            ME,
            "alice",
            "node",
            &["node", "worker.js", "2"],
            80_001,
        ),
        proc(
            4000,
            2000,
            4000,
            2000,
            ME,
            "alice",
            "python3",
            &["python3", "-m", "http.server", "8000", "--bind", "::1"],
            86_000,
        ),
        proc(
            4100,
            1,
            4100,
            4100,
            ME,
            "alice",
            "syncthing",
            &["syncthing", "serve", "--no-browser"],
            120,
        ),
        proc(
            4200,
            2000,
            4200,
            2000,
            ME,
            "alice",
            "gunicorn",
            &["gunicorn", "app:app", "-b", "127.0.0.1:5000"],
            85_000,
        ),
        proc(
            4300,
            2000,
            4300,
            2000,
            ME,
            "alice",
            EVIL,
            &[EVIL, "--serve"],
            86_300,
        ),
        proc(
            4400,
            1,
            4400,
            4400,
            ME,
            "alice",
            "redis-server",
            &["redis-server", "127.0.0.1:6379"],
            300,
        ),
        proc(
            9000,
            2000,
            9000,
            2000,
            ME,
            "alice",
            "portwarden",
            &["portwarden"],
            86_390,
        ),
    ];
    for p in &mut procs {
        if matches!(p.pid, 2000 | 4000 | 4200 | 4300 | 9000) {
            p.tty_nr = tty;
        }
        if p.pid == 4400 {
            p.cgroup = Some(
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/redis.service".into(),
            );
        }
        if p.uid == 33 {
            p.cgroup = Some("0::/system.slice/nginx.service".into());
        }
    }
    let mut stuck = sock(Proto::Tcp, LO, 5000, 5000, ME, &[4200]);
    stuck.accept_queue = Some(129);
    stuck.backlog = Some(128);
    let mut nfs = sock(Proto::Tcp, ANY, 2049, 0, 0, &[]);
    nfs.unresolved = Some(portwarden::discover::unresolved_reason(
        &nfs,
        &portwarden::discover::Visibility {
            euid: ME,
            ..Default::default()
        },
        &[],
    ));
    let sockets = vec![
        sock(Proto::Tcp, ANY, 80, 800, 0, &[700, 701]),
        nfs,
        sock(Proto::Tcp, ANY, 3000, 3000, ME, &[3000]),
        stuck,
        sock(Proto::Tcp, LO, 6379, 6379, ME, &[4400]),
        sock(Proto::Tcp, LO6, 8000, 8000, ME, &[4000]),
        sock(Proto::Tcp, LO, 9999, 9999, ME, &[4300]),
        sock(Proto::Udp, ANY, 21027, 21027, ME, &[4100]),
    ];
    Snapshot {
        sockets,
        processes: procs
            .into_iter()
            .map(|p| (p.pid, p))
            .collect::<BTreeMap<_, _>>(),
        boot_time: BOOT,
        clk_tck: 100,
        ..Snapshot::default()
    }
}

/// An app that received [`snapshot`] at [`NOW`] on a `w`×`h` terminal.
pub fn app_sized(w: u16, h: u16) -> App {
    let mut app = App::new(ctx(), Duration::from_secs(2), true, (w, h));
    app.now = NOW;
    let _ = update(
        &mut app,
        Msg::Snapshot {
            result: Ok(snapshot()),
            at: NOW,
        },
    );
    app
}

/// [`app_sized`] at 120×30.
pub fn app() -> App {
    app_sized(120, 30)
}

pub fn press(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> Msg {
    let m = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Msg::Key(KeyEvent::new(KeyCode::Char(c), m))
}

/// Feed messages, collecting every effect.
pub fn feed(app: &mut App, msgs: impl IntoIterator<Item = Msg>) -> Vec<Effect> {
    msgs.into_iter().flat_map(|m| update(app, m)).collect()
}

/// Type a string as key presses.
pub fn typed(s: &str) -> Vec<Msg> {
    s.chars().map(ch).collect()
}

/// Select the first row whose holder is `pid`.
pub fn select_pid(app: &mut App, pid: Pid) {
    let i = app
        .rows
        .iter()
        .position(|r| r.pid == Some(pid))
        .unwrap_or_else(|| panic!("no row for pid {pid}"));
    app.select(i);
}

/// The pid of the selected row.
pub fn selected_pid(app: &App) -> Option<Pid> {
    app.selected_row().and_then(|r| r.pid)
}

/// Draw the app on a `TestBackend` of its size; the buffer as text.
pub fn draw(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(app.size.0, app.size.1)).expect("terminal");
    t.draw(|f| render(app, f)).expect("draw");
    t.backend().to_string()
}

/// Draw and return the buffer, for style checks.
pub fn draw_buffer(app: &App) -> ratatui::buffer::Buffer {
    let mut t = Terminal::new(TestBackend::new(app.size.0, app.size.1)).expect("terminal");
    t.draw(|f| render(app, f)).expect("draw");
    t.backend().buffer().clone()
}

fn target(pid: Pid, user: &str, command: &str, class: Class, role: &'static str) -> TargetView {
    TargetView {
        pid,
        user: user.into(),
        command: command.into(),
        class,
        role,
    }
}

/// The plan for freeing tcp:3000: the node server and its two workers.
pub fn node_plan() -> Planned {
    effects::fixture(PlanView {
        ports: vec!["tcp:3000".into()],
        targets: vec![
            target(
                3000,
                "alice",
                "node server.js --port 3000",
                Class::Orphan,
                "holder",
            ),
            target(3001, "alice", "node worker.js 1", Class::Orphan, "group"),
            target(3002, "alice", "node worker.js 2", Class::Orphan, "group"),
        ],
        refusals: Vec::new(),
        protected: Vec::new(),
        signal: 15,
        grace: Duration::from_secs(3),
        forced: false,
        containers: Vec::new(),
        forcible: false,
    })
}

/// The refused plan for tcp:80 (foreign nginx), or with `force` the
/// forced plan listing what would be killed.
pub fn nginx_plan(force: bool) -> Planned {
    let refusals = vec![RefusalView {
        pid: 700,
        class: Class::Foreign,
        reason: "owned by uid 33 (www-data); you are uid 1000. It runs in systemd unit \
                 nginx.service: stop it with `sudo systemctl stop nginx.service`"
            .into(),
    }];
    effects::fixture(PlanView {
        ports: vec!["tcp:80".into()],
        targets: if force {
            vec![
                target(
                    700,
                    "www-data",
                    "nginx: master process /usr/sbin/nginx",
                    Class::Foreign,
                    "holder",
                ),
                target(
                    701,
                    "www-data",
                    "nginx: worker process",
                    Class::Foreign,
                    "group",
                ),
            ]
        } else {
            Vec::new()
        },
        refusals,
        protected: Vec::new(),
        signal: 15,
        grace: Duration::from_secs(3),
        forced: force,
        containers: Vec::new(),
        forcible: !force,
    })
}

/// The fixture machine plus a docker container `web` publishing
/// 127.0.0.1:18080, held by docker-proxy (pid 4900, root, a child of
/// dockerd), as the docker API named it.
pub fn snapshot_with_container() -> Snapshot {
    let mut snap = snapshot();
    let dockerd = proc(4890, 1, 4890, 4890, 0, "root", "dockerd", &["dockerd"], 10);
    let mut fwd = proc(
        4900,
        4890,
        4890,
        4890,
        0,
        "root",
        "docker-proxy",
        &[
            "docker-proxy",
            "-proto",
            "tcp",
            "-host-ip",
            "127.0.0.1",
            "-host-port",
            "18080",
            "-container-ip",
            "172.17.0.2",
            "-container-port",
            "8080",
        ],
        500,
    );
    fwd.cgroup = Some("0::/system.slice/docker.service".into());
    snap.processes.insert(4890, dockerd);
    snap.processes.insert(4900, fwd);
    snap.sockets
        .push(sock(Proto::Tcp, LO, 18080, 18080, 0, &[4900]));
    let api = r#"[{"Id":"b77e2cccdedb4ae4f1331b57a7f0749a51fdf2b098753c4a082ba3865e5aab31","Names":["/web"],"Image":"local/bb","Ports":[{"IP":"127.0.0.1","PrivatePort":8080,"PublicPort":18080,"Type":"tcp"}],"Labels":{},"NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.2"}}}}]"#;
    snap.containers = portwarden::container::ContainerTable {
        probes: vec![portwarden::container::EngineProbe {
            engine: portwarden::container::Engine::Docker,
            socket: "/var/run/docker.sock".into(),
            error: None,
        }],
        containers: portwarden::container::parse_api_list(
            api,
            portwarden::container::Engine::Docker,
            "/var/run/docker.sock",
        ),
        ..Default::default()
    };
    snap
}

/// A plan with `n` targets (a big worker pool), for scrolling.
pub fn many_plan(n: usize) -> Planned {
    let mut p = node_plan();
    p.view.targets = (0..n)
        .map(|i| {
            target(
                3000 + i as Pid,
                "alice",
                &format!("node worker.js {i}"),
                Class::Orphan,
                if i == 0 { "holder" } else { "group" },
            )
        })
        .collect();
    p
}
