//! Stock servers that drop privileges or daemonise: nginx, apache2, dnsmasq,
//! gunicorn, redis, sshd — classed by their program, freed with consent.

use super::*;

/// nginx as root from a temp prefix: `user nobody`, two workers, daemon on.
/// Returns the master's pid.
pub(super) fn start_nginx(g: &mut Guard, dir: &Path, port: u16) -> i32 {
    let nginx = need("nginx");
    let d = dir.display().to_string();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "user nobody nogroup;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {d}/cb; proxy_temp_path {d}/px;\n\
             fastcgi_temp_path {d}/fc; uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;\n\
             server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"ok\"; }} }} }}\n"
        ),
    )
    .unwrap();
    launch_daemon(
        g,
        Command::new(&nginx)
            .args(["-p", &d, "-c"])
            .arg(&conf)
            .args(["-g", "daemon on;"]),
        dir,
        "tcp",
        port,
        &dir.join("nginx.pid"),
    )
}

/// Root's nginx ([`start_nginx`]) on a port the kernel picked, its master
/// and two workers seen and adopted.
pub(super) struct Nginx {
    /// Dropped first: the processes end before their directory goes.
    pub(super) _g: Guard,
    pub(super) _dir: tempfile::TempDir,
    pub(super) port: u16,
    pub(super) master: i32,
    pub(super) hs: Vec<Value>,
}

pub(super) fn nginx_with_workers() -> Nginx {
    root_required("nginx");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let mut g = Guard::new();
    let master = start_nginx(&mut g, dir.path(), port);
    // The master binds before it forks its workers: wait (bounded) for them.
    let hs = holders_at_least(&mut g, "tcp", port, 3);
    assert_eq!(hs.len(), 3, "master and 2 workers: {hs:#?}");
    Nginx {
        _g: g,
        _dir: dir,
        port,
        master,
        hs,
    }
}

#[test]
fn nginx_workers_as_nobody_are_roots_program_freed_with_consent() {
    let nginx = nginx_with_workers();
    let (port, master, hs) = (nginx.port, nginx.master, &nginx.hs);
    for h in hs {
        assert_eq!(h["class"], "daemon", "{h:#}");
        if pid_of(h) == master {
            assert_eq!(h["user"], "root");
            assert!(reasons(h)[0].contains("it was reparented"), "{h:#}");
            continue;
        }
        // A worker: its own facts first, its master's facts said as such.
        assert_eq!(h["user"], "nobody", "{h:#}");
        assert_eq!(h["ppid"], master, "{h:#}");
        let r = reasons(h);
        assert!(
            r[0].starts_with(&format!(
                "its parent is pid {master} (nginx), its program's leader"
            )),
            "{r:#?}"
        );
        assert!(
            r.iter()
                .all(|x| !x.starts_with("parent is pid 1") && !x.starts_with("leads")),
            "a fact of the master said as the worker's: {r:#?}"
        );
        assert!(has_reason(
            h,
            &format!("its program's leader pid {master} (nginx) leads its own session")
        ));
        // Its owner for policy is its program's: root.
        assert!(
            has_reason(
                h,
                &format!(
                    "runs as uid 65534 (nobody), dropped to by its program's leader pid {master} (nginx), owned by uid 0 (root)"
                )
            ),
            "{r:#?}"
        );
    }
    // Under sudo from uid 1000, root's nginx is still the invoker's.
    let out = portwarden()
        .env("SUDO_UID", "1000")
        .args(["list", "--json", &port.to_string()])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in sockets(&doc) {
        for h in s["holders"].as_array().unwrap() {
            assert_eq!(h["class"], "daemon", "under sudo: {h:#}");
        }
    }
    let text = why(&port.to_string());
    assert!(
        !text.contains("foreign") && !text.contains("refuse"),
        "{text}"
    );
    // The second worker's reasons are the first's: said once.
    let workers: Vec<i32> = hs.iter().map(pid_of).filter(|&p| p != master).collect();
    assert!(
        text.contains(&format!(
            "and 1 worker of the same program (pid {}): same class and reasons as pid {}",
            workers[1], workers[0]
        )),
        "{text}"
    );
    consent_frees(&port.to_string(), "tcp", port, hs);
}

#[test]
fn roots_nginx_is_foreign_to_its_workers_uid_and_refused_once_per_reason() {
    let nginx = nginx_with_workers();
    let (port, master, hs) = (nginx.port, nginx.master, &nginx.hs);
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = portwarden_for_nobody(bin_dir.path());
    // Run as `nobody`: the workers run as nobody too, but the program is
    // root's — foreign, every one of them, and never signalled.
    let (code, out, err) = run_as_nobody(&bin, &["kill", &port.to_string(), "--yes"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "its program's leader pid {master} (nginx) is owned by uid 0 (root); you are uid 65534"
        )),
        "{err}"
    );
    // Two workers, one reason: said once, the other counted.
    assert!(
        err.contains("(and 1 worker of the same program: pid "),
        "{err}"
    );
    assert_eq!(err.matches("this worker runs as").count(), 1, "{err}");
    for h in hs {
        let pid = pid_of(h);
        assert!(proc_start_time(pid).is_some(), "pid {pid} was signalled");
    }
    assert!(listening("tcp", port));
}

#[test]
fn apache2_prefork_is_roots_daemon_freed_with_consent() {
    root_required("apache2");
    let apache = need("apache2");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let port = free_port(Probe::Tcp4);
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    let conf = dir.path().join("apache2.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerRoot {d}\nDefaultRuntimeDir {d}/run\nPidFile {d}/run/apache2.pid\n\
             LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so\n\
             LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n\
             ServerName localhost\nListen 127.0.0.1:{port}\nUser nobody\nGroup nogroup\n\
             ErrorLog {d}/error.log\nDocumentRoot {d}\nStartServers 3\nMinSpareServers 2\nMaxSpareServers 4\n"
        ),
    )
    .unwrap();
    let mut g = Guard::new();
    let master = launch_daemon(
        &mut g,
        Command::new(&apache)
            .args(["-d", &d, "-f"])
            .arg(&conf)
            .args(["-k", "start"]),
        dir.path(),
        "tcp",
        port,
        &dir.path().join("run/apache2.pid"),
    );
    // Prefork children appear right after the master binds, and each runs
    // as root for the moment between its fork and its setuid: wait (bounded)
    // until at least 3 holders are there and every child has dropped.
    let mut hs = Vec::new();
    wait_until(READY_TIMEOUT, || {
        hs = holders(&mut g, "tcp", port);
        hs.len() >= 3
            && hs
                .iter()
                .all(|h| pid_of(h) == master || h["user"] == "nobody")
    });
    assert!(hs.len() >= 3, "master and its children: {hs:#?}");
    for h in &hs {
        assert_eq!(h["class"], "daemon", "{h:#}");
        if pid_of(h) != master {
            assert_eq!(h["user"], "nobody", "{h:#}");
            assert!(has_reason(
                h,
                &format!("its program's leader pid {master} (apache2) leads its own session")
            ));
        }
    }
    consent_frees(&port.to_string(), "tcp", port, &hs);
}

#[test]
fn dnsmasq_udp_double_fork_is_a_daemon() {
    // Stock dnsmasq binds as root and then drops to `nobody`: still root's
    // program (its socket says who bound it), freed without --force.
    dnsmasq_case(&[], "nobody");
}

#[test]
fn dnsmasq_that_keeps_roots_uid_is_a_daemon() {
    dnsmasq_case(&["--user=root"], "root");
}

pub(super) fn dnsmasq_case(extra: &[&str], user: &str) {
    root_required("dnsmasq");
    let dnsmasq = need("dnsmasq");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Udp4);
    let mut g = Guard::new();
    let pidf = dir.path().join("dnsmasq.pid");
    launch_daemon(
        &mut g,
        Command::new(&dnsmasq)
            .arg(format!("--port={port}"))
            .args([
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
            ])
            .args(extra)
            .arg(format!("--pid-file={}", pidf.display())),
        dir.path(),
        "udp",
        port,
        &pidf,
    );
    let h = &sole_of_class(
        &mut g,
        "udp",
        port,
        "daemon",
        &["the double fork of a daemon", "has working directory / "],
    );
    assert_eq!(h["user"], user);
    if user != "root" {
        assert!(has_reason(h, "its socket was created by uid 0"), "{h:#}");
    }
    consent_frees(&format!("udp:{port}"), "udp", port, std::slice::from_ref(h));
}

pub(super) fn gunicorn_app(dir: &Path) {
    std::fs::write(
        dir.join("app.py"),
        "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
    )
    .unwrap();
    let ok = Command::new(python())
        .args(["-c", "import gunicorn"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "gunicorn is not installed for {}: run .ci/setup-realworld.sh (pip install gunicorn)",
        python().display()
    );
}

#[test]
fn gunicorn_daemon_with_workers_is_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    gunicorn_app(dir.path());
    let port = free_port(Probe::Tcp4);
    let mut g = Guard::new();
    let pidf = dir.path().join("gunicorn.pid");
    let master = launch_daemon(
        &mut g,
        Command::new(python())
            .args(["-m", "gunicorn", "--daemon", "--workers", "3", "-b"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--pid")
            .arg(&pidf)
            .arg("--chdir")
            .arg(dir.path())
            .arg("app:app")
            .current_dir(dir.path()),
        dir.path(),
        "tcp",
        port,
        &pidf,
    );
    let hs = holders_at_least(&mut g, "tcp", port, 4);
    assert_eq!(hs.len(), 4, "master and 3 workers: {hs:#?}");
    for h in &hs {
        assert_eq!(h["class"], "daemon", "{h:#}");
        if pid_of(h) == master {
            assert!(has_reason(h, "the double fork of a daemon"), "{h:#}");
            assert!(has_reason(h, "has stdin on /dev/null"), "{h:#}");
        } else {
            assert!(reasons(h)[0].starts_with("its parent is pid"), "{h:#}");
        }
    }
    consent_frees(&port.to_string(), "tcp", port, &hs);
}

#[test]
fn gunicorn_workers_of_a_running_master_are_live() {
    let dir = tempfile::tempdir().unwrap();
    gunicorn_app(dir.path());
    let port = free_port(Probe::Tcp4);
    let mut g = Guard::new();
    let mut cmd = Command::new(python());
    cmd.args(["-m", "gunicorn", "--workers", "3", "-b"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("app:app")
        .current_dir(dir.path());
    let master = launch_in_own_group(&mut g, &mut cmd, dir.path(), port);
    let hs = holders_at_least(&mut g, "tcp", port, 4);
    assert_eq!(hs.len(), 4, "{hs:#?}");
    for h in &hs {
        assert_eq!(h["class"], "live", "{h:#}");
        if pid_of(h) != master {
            assert!(
                reasons(h)[0].starts_with(&format!("parent pid {master} (")),
                "{h:#}"
            );
        }
    }
    // Live needs consent: refused without --yes (no terminal to ask).
    let (code, _) = kill_json(&[&port.to_string()], &[]);
    assert_eq!(code, 3);
    consent_frees(&port.to_string(), "tcp", port, &hs);
}

#[test]
fn redis_daemonize_yes_is_a_daemon() {
    let redis = need("redis-server");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let pidf = dir.path().join("redis.pid");
    let mut g = Guard::new();
    launch_daemon(
        &mut g,
        Command::new(&redis)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--daemonize", "yes", "--save", "", "--appendonly", "no"])
            .arg("--pidfile")
            .arg(&pidf)
            .arg("--dir")
            .arg(dir.path()),
        dir.path(),
        "tcp",
        port,
        &pidf,
    );
    let h = &sole_of_class(
        &mut g,
        "tcp",
        port,
        "daemon",
        &["leads its own session", "has stdout on /dev/null"],
    );
    consent_frees(&port.to_string(), "tcp", port, std::slice::from_ref(h));
}

#[test]
fn sshd_is_a_daemon() {
    root_required("sshd");
    let sshd = need("sshd");
    let keygen = need("ssh-keygen");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("host_key");
    let st = Command::new(keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "ssh-keygen failed");
    let pidf = dir.path().join("sshd.pid");
    let conf = dir.path().join("sshd_config");
    std::fs::write(
        &conf,
        format!(
            "ListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nUsePAM no\n",
            key.display(),
            pidf.display()
        ),
    )
    .unwrap();
    // Its privilege-separation directory (the Debian package's unit makes it).
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = free_port(Probe::Tcp4);
    let mut g = Guard::new();
    launch_daemon(
        &mut g,
        Command::new(&sshd)
            .arg("-f")
            .arg(&conf)
            .args(["-p", &port.to_string()]),
        dir.path(),
        "tcp",
        port,
        &pidf,
    );
    let h = &sole_of_class(&mut g, "tcp", port, "daemon", &["has working directory / "]);
    consent_frees(&port.to_string(), "tcp", port, std::slice::from_ref(h));
}
