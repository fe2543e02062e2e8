//! Literal fixtures for the TUI tests: a small machine with one of each
//! interesting case, a fixed "now", and helpers to drive and draw an
//! [`App`] without a terminal.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use portwarden::classify::{Class, Context};
use portwarden::model::{Pid, Process, Snapshot, Socket};

use super::effects::{self, PlanView, Planned, RefusalView, TargetView};
use super::render::render;
use super::state::App;
use super::update::{Effect, Msg, update};
use crate::testkit::{Proc, Sock, snap};

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

/// alice's login session: the cgroup of every fixture process not in a
/// service.
const SESSION: &str = "0::/user.slice/user-1000.slice/session-2.scope";
/// alice's terminal, pts/0.
const PTS0: u32 = 136 << 8;

/// A process of the fixture machine: alice's unless said otherwise, run
/// from `/usr/bin`, in her login session.
fn machine_proc(pid: Pid, name: &str, argv: &[&str]) -> Proc {
    Proc::new(pid, name)
        .user("alice")
        .cmd(argv)
        .exe(&format!("/usr/bin/{}", argv[0]))
        .cgroup(SESSION)
}

/// A TCP listener of the fixture machine on `addr:port` (backlog 511).
fn tcp_on(addr: IpAddr, port: u16) -> Sock {
    Sock::tcp(port).on(addr).queue(0, 511)
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
    Snapshot {
        boot_time: BOOT,
        ..snap(machine_procs(), machine_sockets())
    }
}

/// The processes of [`snapshot`].
fn machine_procs() -> Vec<Process> {
    let nginx = |pid: Pid, ppid: Pid, argv: &[&str]| {
        machine_proc(pid, "nginx", argv)
            .ppid(ppid)
            .group(700, 700)
            .uid(33)
            .user("www-data")
            .started(60)
            .cgroup("0::/system.slice/nginx.service")
            .build()
    };
    let node = |pid: Pid, ppid: Pid, argv: &[&str], started: u64| {
        machine_proc(pid, "node", argv)
            .ppid(ppid)
            .group(3000, 2000)
            .started(started)
            .build()
    };
    // Started from alice's shell (2000), on her terminal.
    let from_shell = |pid: Pid, name: &str, argv: &[&str], started: u64| {
        machine_proc(pid, name, argv)
            .ppid(2000)
            .group(pid, 2000)
            .tty(PTS0)
            .started(started)
            .build()
    };
    vec![
        machine_proc(1, "systemd", &["/sbin/init"])
            .ppid(0)
            .uid(0)
            .user("root")
            .started(0)
            .build(),
        nginx(700, 1, &["nginx: master process /usr/sbin/nginx"]),
        nginx(701, 700, &["nginx: worker process"]),
        machine_proc(2000, "bash", &["-bash"])
            .tty(PTS0)
            .started(3_600)
            .build(),
        node(3000, 1, &["node", "server.js", "--port", "3000"], 80_000),
        node(3001, 3000, &["node", "worker.js", "1"], 80_001),
        node(3002, 3000, &["node", "worker.js", "2"], 80_001),
        from_shell(
            4000,
            "python3",
            &["python3", "-m", "http.server", "8000", "--bind", "::1"],
            86_000,
        ),
        machine_proc(4100, "syncthing", &["syncthing", "serve", "--no-browser"])
            .started(120)
            .build(),
        from_shell(
            4200,
            "gunicorn",
            &["gunicorn", "app:app", "-b", "127.0.0.1:5000"],
            85_000,
        ),
        from_shell(4300, EVIL, &[EVIL, "--serve"], 86_300),
        machine_proc(4400, "redis-server", &["redis-server", "127.0.0.1:6379"])
            .started(300)
            .cgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/redis.service")
            .build(),
        from_shell(9000, "portwarden", &["portwarden"], 86_390),
    ]
}

/// The sockets of [`snapshot`].
fn machine_sockets() -> Vec<Socket> {
    let mut nfs = tcp_on(ANY, 2049).inode(0).uid(0).build();
    nfs.unresolved = Some(portwarden::discover::unresolved_reason(
        &nfs,
        &portwarden::discover::Visibility {
            euid: ME,
            ..Default::default()
        },
        &[],
    ));
    vec![
        tcp_on(ANY, 80)
            .inode(800)
            .uid(0)
            .holders(&[700, 701])
            .build(),
        nfs,
        tcp_on(ANY, 3000).inode(3000).holders(&[3000]).build(),
        tcp_on(LO, 5000)
            .inode(5000)
            .queue(129, 128)
            .holders(&[4200])
            .build(),
        tcp_on(LO, 6379).inode(6379).holders(&[4400]).build(),
        tcp_on(LO6, 8000).inode(8000).holders(&[4000]).build(),
        tcp_on(LO, 9999).inode(9999).holders(&[4300]).build(),
        Sock::udp(21027)
            .on(ANY)
            .inode(21027)
            .holders(&[4100])
            .build(),
    ]
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
    let dockerd = machine_proc(4890, "dockerd", &["dockerd"])
        .uid(0)
        .user("root")
        .started(10)
        .build();
    let fwd = machine_proc(
        4900,
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
    )
    .ppid(4890)
    .group(4890, 4890)
    .uid(0)
    .user("root")
    .started(500)
    .cgroup("0::/system.slice/docker.service")
    .build();
    snap.processes.insert(4890, dockerd);
    snap.processes.insert(4900, fwd);
    snap.sockets.push(
        tcp_on(LO, 18080)
            .inode(18080)
            .uid(0)
            .holders(&[4900])
            .build(),
    );
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
