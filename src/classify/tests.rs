//! Unit tests of `classify`, with literal fixtures.

use super::*;
use crate::testkit::{Proc, Sock, ctx, snap};

fn class(s: &Snapshot, c: &Context, pid: Pid) -> Class {
    classify_process(s, c, pid).class
}

#[test]
fn truth_table_every_class() {
    let managed = Proc::new(40, "syncthing")
        .cgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/syncthing.service\n")
        .build();
    let tty_orphan = Proc::new(60, "vite")
        .group(55, 55)
        .tty((136 << 8) | 3)
        .build();
    let s = snap(
        vec![
            Proc::new(800, "bash").build(),
            Proc::new(900, "portwarden")
                .ppid(800)
                .group(900, 800)
                .build(),
            Proc::new(20, "nginx").uid(65534).build(),
            managed,
            Proc::new(50, "redis-server").build(),
            Proc::new(51, "node").group(49, 49).build(),
            tty_orphan,
            Proc::new(70, "python3").ppid(800).group(70, 800).build(),
        ],
        vec![Sock::tcp(3000).holders(&[51]).build()],
    );
    let c = ctx();
    assert_eq!(class(&s, &c, 900), Class::SelfProc);
    assert_eq!(class(&s, &c, 800), Class::SelfProc);
    assert_eq!(class(&s, &c, 20), Class::Foreign);
    assert_eq!(class(&s, &c, 40), Class::Managed);
    assert_eq!(class(&s, &c, 50), Class::Daemon);
    assert_eq!(class(&s, &c, 51), Class::Orphan);
    assert_eq!(class(&s, &c, 60), Class::Orphan);
    assert_eq!(class(&s, &c, 70), Class::Live);

    let v = classify_process(&s, &c, 20);
    assert_eq!(
        v.reasons,
        vec!["owned by uid 65534 (u65534); you are uid 1000"]
    );
    let v = classify_process(&s, &c, 51);
    assert!(
        v.reasons[0].contains("parent is pid 1 (init): its launcher exited"),
        "{v:?}"
    );
    let v = classify_process(&s, &c, 40);
    assert!(
        v.reasons
            .iter()
            .any(|r| r.contains("systemctl --user stop syncthing.service"))
    );
    assert!(
        classify_process(&s, &c, 60)
            .reasons
            .iter()
            .any(|r| r.contains("pts/3"))
    );
    // classify() covers exactly the holders.
    let all = classify(&s, &c);
    assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec![51]);
}

#[test]
fn precedence_first_match_wins() {
    // Our ancestor owned by root: self beats foreign.
    let mut s = snap(
        vec![
            Proc::new(800, "sudo").uid(0).build(),
            Proc::new(900, "portwarden")
                .ppid(800)
                .group(900, 800)
                .build(),
        ],
        vec![],
    );
    let c = ctx();
    assert_eq!(class(&s, &c, 800), Class::SelfProc);
    // Foreign beats managed.
    let mut p = Proc::new(30, "nginx")
        .uid(0)
        .cgroup("0::/system.slice/nginx.service\n")
        .build();
    s.processes.insert(30, p.clone());
    assert_eq!(class(&s, &c, 30), Class::Foreign);
    // Managed beats daemon.
    p.uid = 1000;
    s.processes.insert(30, p);
    assert_eq!(class(&s, &c, 30), Class::Managed);
}

#[test]
fn sudo_uid_decides_who_is_foreign() {
    let s = snap(vec![Proc::new(70, "node").build()], vec![]);
    let mut c = ctx();
    c.uid = 0; // plain root
    assert_eq!(class(&s, &c, 70), Class::Foreign);
    c.uid = 1000; // root via sudo from uid 1000 (Context::current reads SUDO_UID)
    assert_eq!(class(&s, &c, 70), Class::Daemon);
}

#[test]
fn nginx_workers_are_roots_program_and_their_reasons_are_their_own() {
    let master = Proc::new(4661, "nginx")
        .uid(0)
        .exe("/usr/sbin/nginx")
        .cmd(&["nginx: master process /usr/sbin/nginx"])
        .build();
    let worker = Proc::new(4662, "nginx")
        .ppid(4661)
        .group(4661, 4661)
        .uid(65534)
        .exe("/usr/sbin/nginx")
        .build();
    let mut s = snap(
        vec![master, worker],
        vec![Sock::tcp(80).holders(&[4661, 4662]).build()],
    );
    s.facts.insert(
        4661,
        crate::evidence::Facts {
            cwd: Some("/".into()),
            stdio: ["/dev/null", "/dev/null", "/var/log/nginx/error.log"]
                .map(|l| Some(crate::evidence::Stream::from_link(l))),
            env: Default::default(),
        },
    );
    let mut c = ctx();
    c.uid = 0;
    let v = classify_process(&s, &c, 4662);
    assert_eq!(v.class, Class::Daemon, "{v:?}");
    // Nothing about the master is said as if it were the worker's.
    assert!(
        v.reasons
            .iter()
            .all(|r| !r.starts_with("parent is pid 1") && !r.starts_with("leads")),
        "{v:?}"
    );
    assert!(v.reasons.contains(
        &"its program's leader pid 4661 (nginx) leads its own session (sid = pid) with no controlling terminal"
            .to_string()
    ), "{v:?}");
    assert!(
        v.reasons
            .iter()
            .any(|r| r.starts_with("its parent is pid 4661 (nginx), its program's leader")),
        "{v:?}"
    );
    assert!(v.reasons.iter().any(|r| r.contains("runs as uid 65534")));
    let m = classify_process(&s, &c, 4661);
    assert_eq!(m.class, Class::Daemon);
    assert_eq!(m.reasons[0], "parent is pid 1 (init): it was reparented");

    // Seen by `nobody` itself: the master's exe and fds are hidden, the
    // workers are nobody's — but the program is root's.
    let mut hidden = s.clone();
    if let Some(m) = hidden.processes.get_mut(&4661) {
        m.exe = None;
    }
    hidden.sockets = vec![Sock::tcp(80).holders(&[4662]).build()];
    let mut nobody = ctx();
    nobody.uid = 65534;
    assert_eq!(class(&hidden, &nobody, 4662), Class::Foreign);
    // Under sudo from uid 1000, root's nginx is still the invoker's.
    c.uid = 1000;
    c.also_own = vec![0];
    assert_eq!(class(&s, &c, 4662), Class::Daemon);
    // Another user's nginx stays foreign, worker included, named by
    // its leader's owner.
    c.also_own.clear();
    let v = classify_process(&s, &c, 4662);
    assert_eq!(v.class, Class::Foreign);
    assert!(
        v.reasons[0].starts_with("its program's leader pid 4661 (nginx) is owned by uid 0"),
        "{v:?}"
    );
}

#[test]
fn a_daemon_that_bound_as_root_and_dropped_to_a_system_account_is_roots() {
    // dnsmasq: one process, double-forked, runs as nobody; its socket
    // was created by root before the drop.
    let dnsmasq = Proc::new(60, "dnsmasq").group(59, 59).uid(65534).build();
    let mut sock = Sock::tcp(53).holders(&[60]).build();
    sock.uid = 0;
    let s = snap(vec![dnsmasq], vec![sock.clone()]);
    let root = Context { uid: 0, ..ctx() };
    let v = classify_process(&s, &root, 60);
    assert_ne!(v.class, Class::Foreign, "{v:?}");
    assert!(
        v.reasons
            .iter()
            .any(|r| r.contains("socket was created by uid 0"))
    );
    // Under sudo, root's programs are the invoker's too.
    let sudo = Context {
        uid: 1000,
        also_own: vec![0],
        ..ctx()
    };
    assert_ne!(class(&s, &sudo, 60), Class::Foreign);
    // Another user still sees another user's program.
    assert_eq!(class(&s, &ctx(), 60), Class::Foreign);
    // A user's socket in a system account's hands was passed to it:
    // still another user's process.
    let www = Proc::new(62, "apache2").uid(33).build();
    let s2 = snap(vec![www], vec![Sock::tcp(80).holders(&[62]).build()]);
    assert_eq!(class(&s2, &ctx(), 62), Class::Foreign);
    // A person's process holding a root-made socket stays the person's.
    let person = Proc::new(61, "node").uid(1001).build();
    let mut handed = Sock::tcp(54).holders(&[61]).build();
    handed.uid = 0;
    let s = snap(vec![person], vec![handed]);
    assert_eq!(class(&s, &root, 61), Class::Foreign);
}

#[test]
fn sudo_uid_counts_only_for_root() {
    assert_eq!(invoker(0, Some("1000")), (1000, vec![0]));
    assert_eq!(invoker(1000, Some("0")), (1000, vec![]));
    assert_eq!(invoker(1000, Some("1001")), (1000, vec![]));
    assert_eq!(invoker(0, None), (0, vec![]));
    assert_eq!(invoker(0, Some("junk")), (0, vec![]));
}

#[test]
fn supervised_program_is_managed_with_its_stop_command() {
    let sup = Proc::new(50, "supervisord")
        .cmd(&["supervisord", "-c", "/tmp/s.conf"])
        .build();
    let mut s = snap(
        vec![sup, Proc::new(51, "python3").ppid(50).group(51, 50).build()],
        vec![Sock::tcp(8000).holders(&[51]).build()],
    );
    let mut f = crate::evidence::Facts::default();
    f.env.insert("SUPERVISOR_PROCESS_NAME".into(), "web".into());
    s.facts.insert(51, f);
    let v = classify_process(&s, &ctx(), 51);
    assert_eq!(v.class, Class::Managed, "{v:?}");
    assert_eq!(
        v.reasons[0],
        "runs as supervisord program web, started by pid 50 (supervisord), which restarts it when it dies"
    );
    assert_eq!(
        v.manager.map(|m| m.stop_command()).as_deref(),
        Some("supervisorctl -c /tmp/s.conf stop web")
    );
}

#[test]
fn subreaper_parent_counts_as_init() {
    let s = snap(
        vec![
            Proc::new(10, "tini").build(),
            Proc::new(11, "node").ppid(10).group(5, 5).build(),
            Proc::new(12, "worker").ppid(10).build(),
            Proc::new(13, "my-reaper").build(),
            Proc::new(14, "child").ppid(13).group(5, 5).build(),
        ],
        vec![],
    );
    let mut c = ctx();
    assert_eq!(class(&s, &c, 11), Class::Orphan);
    assert_eq!(class(&s, &c, 12), Class::Daemon);
    assert_eq!(class(&s, &c, 14), Class::Live);
    c.extra_supervisors = vec!["my-reaper".into()];
    assert_eq!(class(&s, &c, 14), Class::Orphan);
}

#[test]
fn cgroup_managers_from_real_systems() {
    let m = |s: &str| manager_from_cgroup(s, &[]);
    assert_eq!(
        m("0::/system.slice/nginx.service\n"),
        Some(Manager::Systemd {
            unit: "nginx.service".into()
        })
    );
    // cgroup v1, several hierarchies.
    assert_eq!(
        m("12:pids:/system.slice/sshd.service\n1:name=systemd:/system.slice/sshd.service\n"),
        Some(Manager::Systemd {
            unit: "sshd.service".into()
        })
    );
    assert_eq!(
        m(
            "0::/system.slice/docker-3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a.scope\n"
        ),
        Some(Manager::Docker {
            id: "3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a".into()
        })
    );
    assert!(matches!(
        m("11:memory:/docker/4c01db0b339c9c4c01db0b339c9c4c01db0b339c9c4c01db0b339c9c4c01db0b\n"),
        Some(Manager::Docker { .. })
    ));
    assert!(matches!(
        m(
            "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-5e1ba5e1ba5e1ba5e1ba.scope/container\n"
        ),
        Some(Manager::Podman { .. })
    ));
    assert!(matches!(
        m(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6a1b2c3d_1111_2222_3333_444455556666.slice/cri-containerd-abcdefabcdef0123.scope\n"
        ),
        Some(Manager::Kubernetes { pod: Some(_) })
    ));
    // Interactive places are not managed.
    assert_eq!(m("0::/user.slice/user-1000.slice/session-3.scope\n"), None);
    assert_eq!(
        m(
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1.scope\n"
        ),
        None
    );
    assert_eq!(
        m("0::/user.slice/user-1000.slice/user@1000.service/init.scope\n"),
        None
    );
    assert_eq!(m("0::/\n"), None);
    assert_eq!(
        m("4:memory:/process_api/135d1f48\n9:name=systemd:/\n"),
        None
    );
    // A configured pattern.
    assert_eq!(
        manager_from_cgroup("0::/my-supervisor/job-7\n", &["my-supervisor".into()]),
        Some(Manager::Pattern {
            pattern: "my-supervisor".into()
        })
    );
}
