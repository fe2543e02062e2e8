//! Safe kill: free a port by ending its holders' whole process group, and
//! prove it happened.
//!
//! Two steps, deliberately separate so a person (or a confirm popup) can see
//! the plan before anything happens:
//!
//! 1. [`plan_ports`] / [`plan_pid`] — a pure function of a [`Snapshot`](crate::model::Snapshot):
//!    every holder of the port, every member of each holder's process group,
//!    optionally every descendant ([`Policy::tree`]); with the protected set
//!    left out and policy refusals recorded. Nothing is signalled.
//! 2. [`execute`] — for each target, immediately before signalling, open a
//!    pidfd and re-check the start time *after* opening it: the pidfd then
//!    pins that exact process, so a recycled pid can never be signalled.
//!    SIGTERM (or the chosen signal), wait on the pidfds up to the grace,
//!    SIGKILL survivors, wait again, then look at the port and report what
//!    was observed — never a success that was not seen.
//!
//! The protected set is never signalled, whatever the policy: pid ≤ 1,
//! portwarden itself, its ancestors. When a holder shares portwarden's own
//! process group (a script started a server with `&` and then called
//! `portwarden kill`), the group is not taken: only the holder and its
//! descendants are, so the caller survives. Signals always go to single
//! processes (never `kill(-pgid)`), because only a single process can be
//! identity-checked.

use std::time::Duration;

use crate::escape::escape;

mod converge;
mod execute;
mod plan;
mod report;

pub use converge::Convergence;
pub use execute::{Condition, Progress, ensure_port_free, execute, wait_port};
pub use plan::{
    ContainerStop, Plan, Policy, Refusal, Respawner, Role, Target, dedup_ports, plan_pid,
    plan_ports,
};
pub use report::{
    ContainerOutcome, Outcome, Report, StillHeld, fold_refusal_list, fold_refusals,
    holders_described, name_a_few, respawn_next_step,
};

// The unit tests below build snapshots and plans by hand.
#[cfg(test)]
use crate::{
    classify::{Class, Context},
    model::{Pid, Snapshot},
    os::procfs,
    spec::PortSpec,
};

/// SIGTERM.
pub const SIGTERM: i32 = 15;
/// SIGKILL.
pub const SIGKILL: i32 = 9;
/// How long to wait for survivors after SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Parse a signal name or number: `TERM`, `SIGTERM`, `term`, `15`.
pub fn parse_signal(s: &str) -> std::result::Result<i32, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map(|sig| sig as i32)
            .map_err(|_| format!("invalid signal '{}': no such signal number", escape(s)));
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| {
            format!(
                "invalid signal '{}': use a name like TERM, INT, KILL or a number",
                escape(s)
            )
        })
}

/// Signals whose default action ends a process (Linux, signal(7)): the
/// only ones that make sense as the first signal of a kill.
pub const ENDING_SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "XCPU", "XFSZ", "VTALRM", "PROF", "IO", "PWR", "SYS",
];

/// Whether `sig`'s default action ends a process (STOP, CONT, CHLD, WINCH,
/// URG, TSTP, TTIN and TTOU stop it, continue it or are ignored).
pub fn ends_process(sig: i32) -> bool {
    ENDING_SIGNALS.contains(&signal_name(sig).as_str())
}

/// [`parse_signal`], refusing a signal that cannot end a process: `kill
/// --signal STOP` would "succeed" at freeing nothing, then SIGKILL.
pub fn parse_kill_signal(s: &str) -> std::result::Result<i32, String> {
    let sig = parse_signal(s)?;
    if ends_process(sig) {
        return Ok(sig);
    }
    Err(format!(
        "signal {} cannot end a process (by default it stops, continues or is ignored); use one that can: {}",
        signal_name(sig),
        ENDING_SIGNALS.join(", ")
    ))
}

/// A signal's name without the `SIG` prefix (`TERM`), or its number.
pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().trim_start_matches("SIG").to_string())
        .unwrap_or_else(|_| sig.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Proc, Sock, ctx, snap};

    fn port(p: u16) -> Vec<PortSpec> {
        vec![PortSpec {
            proto: None,
            port: p,
        }]
    }

    fn live_ok() -> Policy {
        Policy {
            allow_live: true,
            ..Policy::default()
        }
    }

    #[test]
    fn orphan_group_is_taken_whole() {
        // npm (50, leader, orphaned) → node (51, holder) → worker (52); all in group 50.
        let s = snap(
            vec![
                Proc::new(50, "npm").group(50, 40).build(),
                Proc::new(51, "node").ppid(50).group(50, 40).build(),
                Proc::new(52, "worker").ppid(51).group(50, 40).build(),
                Proc::new(53, "escapee").ppid(51).build(),
            ],
            vec![Sock::tcp(3000).holders(&[51]).build()],
        );
        let plan = plan_ports(&s, &ctx(), &port(3000), &Policy::default());
        assert!(!plan.is_refused(), "{:?}", plan.refusals);
        assert_eq!(plan.pids(), vec![50, 51, 52]);
        assert_eq!(plan.targets[0].role, Role::Holder);
        assert_eq!(plan.targets[0].start_time, 1051);
        // --tree also takes the setsid escapee.
        let tree = Policy {
            tree: true,
            ..Policy::default()
        };
        assert_eq!(
            plan_ports(&s, &ctx(), &port(3000), &tree).pids(),
            vec![50, 51, 52, 53]
        );
    }

    #[test]
    fn protected_set_is_never_planned() {
        // A holder inside our own group 900 (a script ran `server &` then us):
        // the group is not taken, only the holder and its descendants.
        let s = snap(
            vec![
                Proc::new(800, "bash").build(),
                Proc::new(900, "portwarden")
                    .ppid(800)
                    .group(900, 800)
                    .build(),
                Proc::new(899, "script").ppid(800).group(900, 800).build(),
                Proc::new(901, "server").ppid(899).group(900, 800).build(),
                Proc::new(902, "server-child")
                    .ppid(901)
                    .group(900, 800)
                    .build(),
                // A weird holder group that contains init and our shell.
                Proc::new(5, "odd").group(1, 1).build(),
            ],
            vec![
                Sock::tcp(8080).holders(&[901]).build(),
                Sock::tcp(9090).holders(&[5, 1, 0, 900, 800]).build(),
            ],
        );
        let plan = plan_ports(&s, &ctx(), &port(8080), &live_ok());
        assert!(!plan.is_refused(), "{:?}", plan.refusals);
        assert_eq!(plan.pids(), vec![901, 902]);
        for bad in [0, 1, 800, 899, 900] {
            assert!(!plan.pids().contains(&bad), "{bad} planned");
        }
        // Holders that are init, self or ancestors refuse the plan.
        let plan = plan_ports(&s, &ctx(), &port(9090), &live_ok());
        assert!(plan.is_refused());
        let refused: Vec<Pid> = plan.refusals.iter().map(|r| r.pid).collect();
        assert!(refused.contains(&1) && refused.contains(&900) && refused.contains(&800));
        assert!(
            plan.targets
                .iter()
                .all(|t| t.pid > 1 && t.pid != 900 && t.pid != 800)
        );
        // Even with force.
        let forced = Policy {
            force: true,
            ..live_ok()
        };
        let plan = plan_ports(&s, &ctx(), &port(9090), &forced);
        assert!(plan.is_refused());
        assert!(
            plan.targets
                .iter()
                .all(|t| t.pid > 1 && t.pid != 900 && t.pid != 800)
        );
    }

    #[test]
    fn policy_refusals() {
        let managed = Proc::new(30, "nginx")
            .cgroup("0::/system.slice/nginx.service\n")
            .build();
        let s = snap(
            vec![
                Proc::new(20, "apache2").uid(33).build(),
                managed,
                Proc::new(800, "bash").build(),
                Proc::new(40, "vite").ppid(800).group(40, 800).build(),
            ],
            vec![
                Sock::tcp(80).holders(&[20]).build(),
                Sock::tcp(81).holders(&[30]).build(),
                Sock::tcp(5173).holders(&[40]).build(),
            ],
        );
        let c = ctx();
        let foreign = plan_ports(&s, &c, &port(80), &live_ok());
        assert!(foreign.is_refused() && foreign.targets.is_empty());
        assert!(foreign.refusals[0].reason.contains("--force"));
        let forced = Policy {
            force: true,
            ..live_ok()
        };
        assert_eq!(plan_ports(&s, &c, &port(80), &forced).pids(), vec![20]);

        let managed = plan_ports(&s, &c, &port(81), &live_ok());
        assert!(managed.is_refused());
        assert!(
            managed.refusals[0]
                .reason
                .contains("systemctl stop nginx.service")
        );

        // Live needs consent.
        assert!(plan_ports(&s, &c, &port(5173), &Policy::default()).is_refused());
        assert_eq!(plan_ports(&s, &c, &port(5173), &live_ok()).pids(), vec![40]);

        // --only must match every holder.
        let only = |p: &str| Policy {
            only: Some(p.into()),
            ..live_ok()
        };
        assert_eq!(
            plan_ports(&s, &c, &port(5173), &only("vite")).pids(),
            vec![40]
        );
        let miss = plan_ports(&s, &c, &port(5173), &only("webpack"));
        assert!(miss.is_refused() && miss.targets.is_empty());
    }

    /// docker-proxy (pid 500, root) holding :18080 for container `web`,
    /// with or without an answering engine API.
    fn forwarded(api: bool) -> Snapshot {
        use crate::container::{Container, Engine, EngineProbe, Published, Source};
        let mut fwd = Proc::new(500, "docker-proxy")
            .ppid(400)
            .group(400, 400)
            .build();
        fwd.cmdline = [
            "docker-proxy",
            "-proto",
            "tcp",
            "-host-port",
            "18080",
            "-container-ip",
            "172.17.0.2",
        ]
        .map(String::from)
        .to_vec();
        let mut s = snap(
            vec![Proc::new(400, "dockerd").build(), fwd],
            vec![Sock::tcp(18080).holders(&[500]).build()],
        );
        let mut c = Container::bare(Engine::Docker, "b77e2cccdedb4ae4f1331b57a7f0749a51fdf2b0");
        c.name = Some("web".into());
        c.ips = vec!["172.17.0.2".parse().expect("ip")];
        c.ports = vec![Published {
            proto: crate::model::Proto::Tcp,
            host_ip: None,
            host_port: 18080,
            container_port: 8080,
        }];
        c.source = if api { Source::Api } else { Source::Disk };
        c.api = api.then(|| "/run/docker.sock".to_string());
        s.containers.probes.push(EngineProbe {
            engine: Engine::Docker,
            socket: "/run/docker.sock".into(),
            error: (!api).then(|| "/run/docker.sock: connection refused".to_string()),
        });
        s.containers.containers.push(c);
        s
    }

    #[test]
    fn a_container_is_stopped_through_its_engine_never_signalled() {
        let s = forwarded(true);
        let plain = plan_ports(&s, &ctx(), &port(18080), &live_ok());
        assert!(plain.is_refused() && plain.targets.is_empty() && plain.containers.is_empty());
        assert!(
            plain.refusals[0]
                .reason
                .contains("stop it with `docker stop web`"),
            "{plain:?}"
        );
        let forced = Policy {
            force: true,
            ..live_ok()
        };
        let plan = plan_ports(&s, &ctx(), &port(18080), &forced);
        assert!(!plan.is_refused() && !plan.is_empty(), "{plan:?}");
        assert!(plan.targets.is_empty(), "the forwarder is never a target");
        assert_eq!(plan.containers.len(), 1);
        assert_eq!(plan.containers[0].holder, 500);
        assert_eq!(plan.containers[0].socket, "/run/docker.sock");
        // --only must match the holder or the container.
        let only = |pat: &str| Policy {
            only: Some(pat.into()),
            ..forced.clone()
        };
        assert!(!plan_ports(&s, &ctx(), &port(18080), &only("web")).is_refused());
        assert!(plan_ports(&s, &ctx(), &port(18080), &only("nginx")).is_refused());
    }

    #[test]
    fn a_report_names_the_stopped_container() {
        let c = forwarded(true).containers.containers[0].clone();
        let mut r = Report {
            ports: port(18080),
            outcomes: Vec::new(),
            refusals: Vec::new(),
            port_free_after: Some(Duration::from_millis(3200)),
            still_held: Vec::new(),
            containers: vec![ContainerOutcome {
                container: c,
                stopped_after: Some(Duration::from_millis(3100)),
                error: None,
            }],
            convergence: Convergence::default(),
        };
        assert!(r.success());
        assert_eq!(
            r.summary(),
            "port 18080 free after 3200 ms — docker container web (id b77e2cccdedb) stopped through the docker API"
        );
        r.containers[0].stopped_after = None;
        r.containers[0].error = Some("/run/docker.sock: permission denied".into());
        r.port_free_after = None;
        r.still_held.push(StillHeld {
            port: port(18080)[0],
            by: vec!["pid 500 (docker-proxy), child of pid 400 (dockerd)".into()],
            retaken_after: None,
            respawner: None,
            next_step: None,
        });
        assert!(!r.success());
        assert!(
            r.summary()
                .contains("could not stop docker container web (id b77e2cccdedb): /run/docker.sock: permission denied"),
            "{}",
            r.summary()
        );
    }

    #[test]
    fn without_an_engine_even_force_refuses() {
        let s = forwarded(false);
        let forced = Policy {
            force: true,
            ..live_ok()
        };
        let plan = plan_ports(&s, &ctx(), &port(18080), &forced);
        assert!(plan.is_refused() && plan.is_empty(), "{plan:?}");
        let why = &plan.refusals[0].reason;
        assert!(
            why.contains("no docker engine API reachable: /run/docker.sock: connection refused"),
            "{why}"
        );
        assert!(why.contains("--force cannot stop it"), "{why}");
        assert!(why.contains("`docker stop web`"), "{why}");
    }

    #[test]
    fn free_port_and_unresolved_socket() {
        let mut hidden = Sock::tcp(2024).build();
        hidden.unresolved = Some("owned by uid 0".into());
        let s = snap(vec![], vec![hidden]);
        let free = plan_ports(&s, &ctx(), &port(4000), &Policy::default());
        assert!(free.is_empty() && !free.is_refused());
        assert_eq!(free.already_free, port(4000));
        let p = plan_ports(&s, &ctx(), &port(2024), &Policy::default());
        assert!(p.is_refused(), "an unseen holder cannot be freed: refuse");
    }

    #[test]
    fn a_shell_sharing_the_group_is_left_alone() {
        // bash (login shell on pts/2, no job control) started node in its
        // own group; node holds the port.
        let bash = Proc::new(50, "bash").ppid(40).tty((136 << 8) | 2).build();
        let mut node = Proc::new(51, "node").ppid(50).group(50, 50).build();
        node.tty_nr = bash.tty_nr;
        let s = snap(
            vec![Proc::new(40, "sshd").build(), bash, node],
            vec![Sock::tcp(3000).holders(&[51]).build()],
        );
        let plan = plan_ports(&s, &ctx(), &port(3000), &live_ok());
        assert_eq!(plan.pids(), vec![51]);
        assert!(
            plan.protected
                .iter()
                .any(|(p, why)| *p == 50 && why.contains("pts/2"))
        );
    }

    #[test]
    fn zombies_are_not_targets() {
        let mut zombie = Proc::new(50, "npm").build();
        zombie.state = 'Z';
        let s = snap(
            vec![zombie, Proc::new(51, "node").group(50, 50).build()],
            vec![Sock::tcp(3000).holders(&[51]).build()],
        );
        assert_eq!(
            plan_ports(&s, &ctx(), &port(3000), &Policy::default()).pids(),
            vec![51]
        );
    }

    #[test]
    fn respawners_and_next_steps() {
        let sup = Proc::new(50, "supervisord").cmd(&["supervisord"]).build();
        let mut s = snap(
            vec![
                sup,
                Proc::new(51, "python3").ppid(50).group(51, 50).build(),
                Proc::new(800, "bash").build(),
                Proc::new(61, "python3").ppid(800).group(61, 800).build(),
                Proc::new(71, "redis-server").build(),
            ],
            vec![
                Sock::tcp(8000).holders(&[51]).build(),
                Sock::tcp(8001).holders(&[61]).build(),
                Sock::tcp(8002).holders(&[71]).build(),
            ],
        );
        let mut f = crate::evidence::Facts::default();
        f.env.insert("SUPERVISOR_PROCESS_NAME".into(), "web".into());
        s.facts.insert(51, f);
        let forced = Policy {
            force: true,
            allow_live: true,
            ..Policy::default()
        };
        let r = |p: u16| plan_ports(&s, &ctx(), &port(p), &forced).respawners;
        // A supervisor restarts: watched for respawn_watch.
        let sup = r(8000);
        assert_eq!(sup.len(), 1);
        assert_eq!((sup[0].pid, sup[0].supervised), (50, true));
        assert_eq!(
            sup[0].stop_command.as_deref(),
            Some("supervisorctl stop web")
        );
        // A living parent may restart its child: named, not supervised.
        let live = r(8001);
        assert_eq!((live[0].pid, live[0].supervised), (800, false));
        // A daemon under init: nobody to restart it.
        assert!(r(8002).is_empty());

        let c = ctx();
        let spec = |p: u16| PortSpec {
            proto: None,
            port: p,
        };
        let (who, next) = respawn_next_step(&s, &c, spec(8000));
        assert_eq!(
            who.as_deref(),
            Some("pid 50 (supervisord), supervisord program web")
        );
        assert!(next.is_some_and(|n| n.contains("`supervisorctl stop web`")));
        let (who, next) = respawn_next_step(&s, &c, spec(8001));
        assert_eq!(who.as_deref(), Some("pid 800 (bash)"));
        assert!(
            next.is_some_and(|n| n.contains("`kill 800`") && n.contains("portwarden kill 8001"))
        );
        let (who, next) = respawn_next_step(&s, &c, spec(8002));
        assert_eq!(who, None);
        assert!(next.is_some_and(|n| n.contains("portwarden why 8002")));
    }

    #[test]
    fn refusals_of_workers_of_one_program_are_said_once() {
        let r = |pid: Pid, reason: &str| Refusal {
            pid,
            class: Class::Foreign,
            reason: format!("pid {pid} (nginx) is foreign: {reason}"),
        };
        let lead = "its program's leader pid 10 (nginx) is owned by uid 0 (root); you are uid 1000";
        let v = vec![
            r(10, "owned by uid 0 (root); you are uid 1000"),
            r(11, lead),
            r(12, lead),
            r(13, lead),
        ];
        let folded = fold_refusals(&v);
        assert_eq!(folded.len(), 2, "{folded:#?}");
        assert_eq!(folded[0], v[0].reason);
        assert_eq!(
            folded[1],
            format!(
                "{} (and 2 workers of the same program: pids 12, 13)",
                v[1].reason
            )
        );
    }

    #[test]
    fn group_members_of_other_users_are_left_alone() {
        let s = snap(
            vec![
                Proc::new(50, "sudo").uid(0).build(),
                Proc::new(51, "node").ppid(50).group(50, 50).build(),
            ],
            vec![Sock::tcp(3000).holders(&[51]).build()],
        );
        let plan = plan_ports(&s, &ctx(), &port(3000), &Policy::default());
        assert_eq!(plan.pids(), vec![51]);
        assert!(plan.protected.iter().any(|(p, _)| *p == 50));
    }

    /// A child we spawned, killed and reaped even if the test fails.
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn identity_mismatch_signals_nothing() {
        let child = Child(
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn sleep"),
        );
        let pid = child.0.id() as Pid;
        let real = procfs::start_time(pid).expect("child start time");
        let target = Target {
            pid,
            start_time: real + 1, // "the process we planned" is not this one
            name: "sleep".into(),
            command: "sleep 30".into(),
            short_command: "sleep 30".into(),
            uid: 0,
            user: None,
            class: Class::Orphan,
            role: Role::Holder,
        };
        let plan = Plan {
            ports: Vec::new(),
            already_free: Vec::new(),
            targets: vec![target],
            refusals: Vec::new(),
            protected: Vec::new(),
            containers: Vec::new(),
            groups: Vec::new(),
            tree_roots: Vec::new(),
            respawners: Vec::new(),
            policy: Policy {
                signal: SIGKILL,
                grace: Duration::from_millis(100),
                ..Policy::default()
            },
        };
        let mut events = Vec::new();
        let report = execute(&plan, &mut |p| events.push(p.clone()));
        assert!(
            events
                .iter()
                .all(|e| !matches!(e, Progress::Signalled { .. }))
        );
        assert!(report.outcomes[0].signals.is_empty());
        assert!(
            report.outcomes[0]
                .skipped
                .as_deref()
                .is_some_and(|w| w.contains("pid reused"))
        );
        // Still alive, same identity.
        assert_eq!(procfs::start_time(pid), Some(real));
    }

    fn outcome(
        pid: Pid,
        exited: Option<u64>,
        skipped: Option<&str>,
        error: Option<&str>,
    ) -> Outcome {
        Outcome {
            pid,
            name: "node".into(),
            role: Role::Holder,
            signals: vec![SIGTERM],
            exited_after: exited.map(Duration::from_millis),
            skipped: skipped.map(String::from),
            error: error.map(String::from),
        }
    }

    #[test]
    fn reports_say_what_was_observed() {
        let mut r = Report {
            ports: port(8080),
            outcomes: vec![
                outcome(1, Some(140), None, None),
                outcome(2, Some(150), None, None),
            ],
            refusals: Vec::new(),
            port_free_after: Some(Duration::from_millis(152)),
            still_held: Vec::new(),
            containers: Vec::new(),
            convergence: Convergence::default(),
        };
        assert!(r.success());
        assert_eq!(
            r.summary(),
            "port 8080 free after 152 ms — 2 processes ended"
        );

        // A target we could not signal survived: not a success even if
        // the port is free.
        r.outcomes
            .push(outcome(3, None, None, Some("signal failed: EPERM")));
        assert!(!r.success());
        assert!(
            r.summary()
                .contains("could not signal pid 3 (node): signal failed: EPERM")
        );
        r.outcomes.pop();

        // A reused pid is skipped, not a failure.
        r.outcomes.push(outcome(
            4,
            None,
            Some("pid reused: start time 9 differs"),
            None,
        ));
        assert!(r.success());
        assert!(r.summary().contains("skipped pid 4: pid reused"));
        r.outcomes.pop();

        // Respawned: still held, by whom.
        r.port_free_after = None;
        r.still_held.push(StillHeld {
            port: PortSpec {
                proto: None,
                port: 8080,
            },
            by: vec!["pid 77 (node), child of pid 70 (supervisor)".into()],
            retaken_after: None,
            respawner: None,
            next_step: None,
        });
        assert!(!r.success());
        assert_eq!(
            r.summary(),
            "port 8080 still held by pid 77 (node), child of pid 70 (supervisor); 2 processes ended"
        );

        // Free for a moment, then re-taken by a respawn.
        r.still_held[0].retaken_after = Some(Duration::from_millis(12));
        assert!(r.summary().starts_with(
            "port 8080 still held (it was free after 12 ms, then re-taken) by pid 77"
        ));

        // A survivor of SIGKILL.
        r.still_held.clear();
        r.port_free_after = Some(Duration::from_millis(5));
        r.outcomes.push(outcome(5, None, None, None));
        assert!(!r.success());
        assert!(r.summary().contains("survived SIGKILL: pid 5 (node)"));
    }

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("sigkill"), Ok(9));
        assert_eq!(parse_signal("2"), Ok(2));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
        assert_eq!(signal_name(15), "TERM");
    }

    #[test]
    fn only_signals_that_end_a_process_start_a_kill() {
        for ok in ["TERM", "INT", "HUP", "KILL", "QUIT", "USR1", "9", "SIGALRM"] {
            assert!(parse_kill_signal(ok).is_ok(), "{ok}");
        }
        for bad in [
            "STOP", "CONT", "CHLD", "WINCH", "URG", "TSTP", "TTIN", "TTOU", "19",
        ] {
            let e = parse_kill_signal(bad).expect_err(bad);
            assert!(
                e.contains("cannot end a process") && e.contains("TERM"),
                "{e}"
            );
        }
    }

    #[test]
    fn duplicate_ports_are_merged() {
        let p = |proto, port| PortSpec { proto, port };
        let tcp = Some(crate::model::Proto::Tcp);
        assert_eq!(
            dedup_ports(&[p(None, 80), p(None, 80), p(tcp, 80), p(None, 81)]),
            vec![p(None, 80), p(None, 81)]
        );
        assert_eq!(dedup_ports(&[p(tcp, 80), p(None, 80)]), vec![p(None, 80)]);
    }

    #[test]
    fn long_lists_name_a_few() {
        let many: Vec<String> = (0..80).map(|i| format!("pid {i}")).collect();
        let s = name_a_few(&many, 3);
        assert_eq!(s, "pid 0, pid 1, pid 2 and 77 more, see --json");
        assert_eq!(name_a_few(&many[..4], 3), "pid 0, pid 1, pid 2, pid 3");
    }
}

#[cfg(test)]
mod proptests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::testkit::{Proc, Sock, snap};

    /// A random process forest: pid i (2..n+2) has a parent among earlier
    /// pids or init, a group led by itself or its parent's group, a uid of
    /// 1000 (ours) or 0/33, sometimes a systemd service cgroup.
    fn table() -> impl Strategy<Value = (Snapshot, Context, Vec<u16>)> {
        (3usize..40)
            .prop_flat_map(|n| {
                (
                    proptest::collection::vec((any::<u16>(), any::<bool>(), 0u8..10, 0u8..10), n),
                    any::<u16>(),
                    proptest::collection::vec(proptest::collection::vec(any::<u16>(), 1..4), 1..5),
                )
            })
            .prop_map(|(spec, me_pick, socks)| {
                let n = spec.len();
                let mut procs: Vec<crate::model::Process> = Vec::new();
                for (i, (parent_pick, own_group, uid_pick, cg_pick)) in spec.iter().enumerate() {
                    let pid = i as Pid + 2;
                    let ppid = if i == 0 {
                        1
                    } else {
                        (*parent_pick as usize % (i + 1)) as Pid + 1
                    };
                    let parent_pgid = procs
                        .iter()
                        .find(|p| p.pid == ppid)
                        .map(|p| p.pgid)
                        .unwrap_or(pid);
                    let pgid = if *own_group || ppid == 1 {
                        pid
                    } else {
                        parent_pgid
                    };
                    let uid = match uid_pick {
                        0 => 0,
                        1 => 33,
                        _ => 1000,
                    };
                    let mut p = Proc::new(pid, "p")
                        .ppid(ppid)
                        .group(pgid, pgid)
                        .uid(uid)
                        .build();
                    if *cg_pick == 0 {
                        p.cgroup = Some("0::/system.slice/x.service\n".into());
                    }
                    procs.push(p);
                }
                let me = (me_pick as usize % n) as Pid + 2;
                let sockets = socks
                    .iter()
                    .enumerate()
                    .map(|(i, hs)| {
                        let mut h: Vec<Pid> =
                            hs.iter().map(|x| (*x as usize % (n + 2)) as Pid).collect();
                        h.sort_unstable();
                        h.dedup();
                        Sock::tcp(1000 + i as u16).holders(&h).build()
                    })
                    .collect::<Vec<_>>();
                let ports = (0..sockets.len()).map(|i| 1000 + i as u16).collect();
                let s = snap(procs, sockets);
                let ctx = Context {
                    uid: 1000,
                    self_pid: me,
                    self_pgid: s.process(me).map(|p| p.pgid).unwrap_or(me),
                    ancestors: s.ancestors(me).into_iter().collect::<HashSet<_>>(),
                    ..Context::default()
                };
                (s, ctx, ports)
            })
    }

    proptest! {
        #[test]
        fn plans_never_touch_the_protected_or_refused(
            (s, ctx, ports) in table(),
            force in any::<bool>(),
            tree in any::<bool>(),
        ) {
            let specs: Vec<PortSpec> = ports.iter().map(|&port| PortSpec { proto: None, port }).collect();
            let policy = Policy { force, tree, allow_live: true, ..Policy::default() };
            for spec in &specs {
                let plan = plan_ports(&s, &ctx, std::slice::from_ref(spec), &policy);
                for t in &plan.targets {
                    prop_assert!(t.pid > 1, "pid {} planned", t.pid);
                    prop_assert!(t.pid != ctx.self_pid, "self planned");
                    prop_assert!(!ctx.ancestors.contains(&t.pid), "ancestor {} planned", t.pid);
                    if !force {
                        prop_assert!(!matches!(t.class, Class::Foreign | Class::Managed) || t.role != Role::Holder,
                            "{:?} holder {} planned without force", t.class, t.pid);
                        prop_assert!(t.class != Class::Foreign, "foreign {} planned without force", t.pid);
                    }
                }
                if plan.is_refused() {
                    // A refused plan is never executed; execute() on it signals nothing.
                    let report = execute(&plan, &mut |_| {});
                    prop_assert!(report.outcomes.is_empty());
                }
                if tree && !plan.is_refused() {
                    let planned: HashSet<Pid> = plan.targets.iter().map(|t| t.pid).collect();
                    let protected: HashSet<Pid> = plan.protected.iter().map(|(p, _)| *p).collect();
                    for h in plan.targets.iter().filter(|t| t.role == Role::Holder) {
                        for d in s.descendants(h.pid) {
                            prop_assert!(planned.contains(&d) || protected.contains(&d),
                                "descendant {d} of holder {} neither planned nor protected", h.pid);
                        }
                    }
                }
            }
        }
    }
}
