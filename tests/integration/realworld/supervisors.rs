//! Programs something restarts: supervisord, runit, s6 and a shell loop —
//! managed (or live) with the command that stops them, and the respawn seen.

use super::*;

/// supervisord from a temp config (unix socket in `dir`) running `web`,
/// python's http.server on `port` with autorestart. Returns its config
/// file and supervisord's pid.
pub(super) fn start_supervisord(g: &mut Guard, dir: &Path, port: u16) -> (PathBuf, i32) {
    let supervisord = need("supervisord");
    let d = dir.display().to_string();
    let conf = dir.join("supervisord.conf");
    std::fs::write(
        &conf,
        format!(
            "[unix_http_server]\nfile={d}/supervisor.sock\n\
             [supervisord]\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\nchildlogdir={d}\n\
             [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
             [supervisorctl]\nserverurl=unix://{d}/supervisor.sock\n\
             [program:web]\ncommand={} -m http.server {port} --bind 127.0.0.1\ndirectory={d}\nautorestart=true\nstartsecs=1\n",
            python().display()
        ),
    )
    .unwrap();
    launch(
        g,
        Command::new(&supervisord).arg("-c").arg(&conf),
        &dir.join("launch.log"),
        "tcp",
        port,
    );
    (conf.clone(), pid_file(&dir.join("supervisord.pid")))
}

#[test]
fn supervisord_program_is_managed_refused_and_forcing_reports_the_respawn() {
    let supervisorctl = need("supervisorctl");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let mut g = Guard::new();
    let (conf, sup) = start_supervisord(&mut g, dir.path(), port);
    // Dropped first (declared last): supervisord dies before its children.
    let _sup_first = ParentFirst(sup, proc_start_time(sup).expect("supervisord alive"));
    let h = &sole_holder(&mut g, "tcp", port);
    let stop = format!("supervisorctl -c {} stop web", conf.display());
    assert_eq!(h["class"], "managed", "{h:#}");
    assert_eq!(h["ppid"], sup);
    assert!(has_reason(h, "supervisord program web"), "{h:#}");
    assert!(has_reason(h, &stop), "{h:#}");
    assert_eq!(h["manager"]["kind"], "supervisord", "{h:#}");

    // Refused without --force, naming the stop command; nothing signalled.
    let (code, doc) = kill_json(&[&port.to_string(), "--yes"], &[]);
    assert_eq!(code, 3, "{doc:#}");
    let refusal = doc["plan"]["refusals"][0]["reason"].as_str().unwrap_or("");
    assert!(refusal.contains(&stop), "{doc:#}");
    assert!(is_alive(pid_of(h), proc_start_time(pid_of(h)).unwrap()));

    // Forced: the program dies, supervisord restarts it, and the report
    // says so (exit 4), naming the respawner and the stop command.
    let bystander = Spec::new("listen").start();
    // A generous watch: a loaded machine restarts python slowly (the 2 s
    // default is for a machine at rest).
    let (_cfg, xdg) = respawn_watch_home("10s");
    let (code, doc) = kill_json(
        &[&port.to_string(), "--yes", "--force"],
        &[("XDG_CONFIG_HOME", xdg.as_str())],
    );
    assert_eq!(code, 4, "{doc:#}");
    let held = &doc["report"]["still_held"][0];
    assert!(
        held["respawner"]
            .as_str()
            .is_some_and(|r| r.contains(&format!("pid {sup} (supervisord)"))
                && r.contains("supervisord program web")),
        "{doc:#}"
    );
    assert!(
        held["next_step"]
            .as_str()
            .is_some_and(|n| n.contains(&stop)),
        "{doc:#}"
    );
    assert!(
        doc["plan"]["respawners"][0]["supervised"] == true,
        "{doc:#}"
    );
    holders(&mut g, "tcp", port);
    assert!(
        is_alive(sup, proc_start_time(sup).unwrap()),
        "supervisord died"
    );
    assert!(is_alive(
        bystander.one("holder").pid,
        bystander.one("holder").start_time
    ));

    // The advice works: the port is free and stays free.
    let st = Command::new(supervisorctl)
        .arg("-c")
        .arg(&conf)
        .args(["stop", "web"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{stop} failed");
    assert!(wait_until(READY_TIMEOUT, || !listening("tcp", port)));
}

/// A service directory whose `run` serves http on `port`, supervised by
/// `supervise DIR` (runit's runsv, s6's s6-supervise): the holder is
/// managed, named by its directory, refused, and the advised command
/// (`stop`, run as the user would) frees the port.
pub(super) fn service_dir_supervisor(supervise: &str, describe: &str, stop: &[&str]) {
    let sup_bin = need(supervise);
    let stop_bin = need(stop[0]);
    let dir = tempfile::tempdir().unwrap();
    let svc = dir.path().join("web");
    std::fs::create_dir_all(&svc).unwrap();
    let port = free_port(Probe::Tcp4);
    let run = svc.join("run");
    std::fs::write(
        &run,
        format!(
            "#!/bin/sh\nexec {} -m http.server {port} --bind 127.0.0.1\n",
            python().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut g = Guard::new();
    let mut cmd = Command::new(&sup_bin);
    cmd.arg(&svc).current_dir(dir.path());
    let sup = launch_in_own_group(&mut g, &mut cmd, dir.path(), port);
    let _sup_first = ParentFirst(sup, proc_start_time(sup).expect("supervisor alive"));
    let h = &sole_holder(&mut g, "tcp", port);
    let dir_s = svc.display().to_string();
    let advice = format!("{} {dir_s}", stop.join(" "));
    assert_eq!(h["class"], "managed", "{h:#}");
    assert!(has_reason(h, &format!("{describe} {dir_s}")), "{h:#}");
    assert!(has_reason(h, &format!("`{advice}`")), "{h:#}");
    let (code, doc) = kill_json(&[&port.to_string(), "--yes"], &[]);
    assert_eq!(code, 3, "{doc:#}");
    // The advice, run as a person would, frees the port.
    let st = Command::new(stop_bin)
        .args(&stop[1..])
        .arg(&svc)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{advice} failed");
    assert!(wait_until(READY_TIMEOUT, || !listening("tcp", port)));
    assert!(
        is_alive(sup, proc_start_time(sup).unwrap()),
        "the supervisor died"
    );
}

#[test]
fn runit_service_is_managed_and_sv_down_frees_it() {
    service_dir_supervisor("runsv", "runit service", &["sv", "down"]);
}

#[test]
fn s6_service_is_managed_and_s6_svc_down_frees_it() {
    service_dir_supervisor("s6-supervise", "s6 service", &["s6-svc", "-d"]);
}

#[test]
fn shell_respawn_loop_is_reported_with_the_next_step() {
    let bash = need("bash");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    // `set -m`: each run of the server is its own process group, as a
    // job-control shell does — so killing the holder's group spares the loop.
    let script = format!(
        "set -m; while true; do {} -m http.server {port} --bind 127.0.0.1; done",
        python().display()
    );
    let mut g = Guard::new();
    let mut cmd = Command::new(bash);
    cmd.args(["-c", &script]).current_dir(dir.path());
    let loop_pid = launch_in_own_group(&mut g, &mut cmd, dir.path(), port);
    let _loop_first = ParentFirst(loop_pid, proc_start_time(loop_pid).expect("loop alive"));
    let h = &sole_holder(&mut g, "tcp", port);
    assert_eq!(h["class"], "live", "{h:#}");
    assert_eq!(h["ppid"], loop_pid);

    // A generous watch: the loop restarts python, which takes a moment on
    // a loaded machine.
    let (_cfg, xdg) = respawn_watch_home("8s");
    let (code, doc) = kill_json(
        &[&port.to_string(), "--yes"],
        &[("XDG_CONFIG_HOME", xdg.as_str())],
    );
    assert_eq!(code, 4, "{doc:#}");
    let held = &doc["report"]["still_held"][0];
    assert_eq!(
        held["respawner"],
        format!("pid {loop_pid} (bash)"),
        "{doc:#}"
    );
    assert!(
        held["next_step"]
            .as_str()
            .is_some_and(|n| n.contains(&format!("kill {loop_pid}"))),
        "{doc:#}"
    );
    holders(&mut g, "tcp", port);
    assert!(
        is_alive(loop_pid, proc_start_time(loop_pid).unwrap()),
        "the loop itself is not a target"
    );
    // Human form: the same next step in the summary.
    let out = portwarden()
        .env("XDG_CONFIG_HOME", &xdg)
        .args(["kill", &port.to_string(), "--yes"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains(&format!("respawned by pid {loop_pid} (bash)"))
            && text.contains(&format!(
                "next: end the respawning parent first (`kill {loop_pid}`"
            )),
        "{text}"
    );
    holders(&mut g, "tcp", port);
}
