//! Real containers (issue 10, item 4): a port published by docker or podman
//! is held on the host by a forwarder (docker-proxy, conmon); portwarden
//! must call it `managed` by the container, name the container and its
//! engine's stop command, refuse to kill it, and with `--force` stop the
//! container through the engine's API — never signal the forwarder.
//!
//! Needs what `.ci/setup-containers.sh` provides: a dockerd at
//! `$DOCKER_HOST`, podman with its API service on /run/podman/podman.sock,
//! and the image `local/bb` (a static busybox) in both. A missing engine is
//! a failure that says so, not a skip. Every container a test starts is
//! removed by a guard, also when an assertion fails.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

/// Bound for one engine CLI call (`docker run` may pull nothing, but the
/// machine is shared and busy).
const ENGINE_TIMEOUT: Duration = Duration::from_secs(90);

/// `local/bb` as podman names it.
const PODMAN_IMAGE: &str = "localhost/local/bb:latest";

/// The command line that runs an engine's CLI: `docker`, `podman`, or
/// podman as the rootless user (`PW_ROOTLESS_USER`, from the setup script).
fn cli_argv(cli: &str) -> Vec<String> {
    if cli != "podman-rootless" {
        return vec![cli.to_string()];
    }
    let user = std::env::var("PW_ROOTLESS_USER").unwrap_or_else(|_| {
        panic!("PW_ROOTLESS_USER is not set: source .ci/setup-containers.sh (it creates the rootless podman user)")
    });
    let uid = nix::unistd::User::from_name(&user)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no user {user}: source .ci/setup-containers.sh"))
        .uid;
    let mut v: Vec<String> = ["runuser", "-u", &user, "--", "env"]
        .map(String::from)
        .to_vec();
    v.push(format!("XDG_RUNTIME_DIR=/run/user/{uid}"));
    if let Ok(conf) = std::env::var("CONTAINERS_CONF") {
        v.push(format!("CONTAINERS_CONF={conf}"));
    }
    v.push("podman".into());
    v
}

/// Run `engine ARGS…` with a deadline; its output.
fn engine(cli: &str, args: &[&str]) -> Output {
    let argv = cli_argv(cli);
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .args(args)
        .current_dir("/tmp")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `{cli}` ({e}): run .ci/setup-containers.sh to install and start it")
        });
    let deadline = Instant::now() + ENGINE_TIMEOUT;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{cli} {args:?}` did not finish within {ENGINE_TIMEOUT:?}");
        }
        std::thread::sleep(POLL);
    }
}

/// `engine ARGS…` must succeed; its trimmed stdout.
fn engine_ok(cli: &str, args: &[&str]) -> String {
    let out = engine(cli, args);
    assert!(
        out.status.success(),
        "`{cli} {args:?}` failed ({:?}): {}\n(is the engine up? source .ci/setup-containers.sh)",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes every container it started, on drop (panics included).
struct Containers {
    cli: &'static str,
    names: Vec<String>,
}

impl Containers {
    fn new(cli: &'static str) -> Self {
        Containers {
            cli,
            names: Vec::new(),
        }
    }

    /// `CLI run -d --name <unique> EXTRA… local/bb busybox httpd -f -p
    /// LISTEN`: the container's name.
    fn run(&mut self, extra: &[&str], listen: &str) -> String {
        let name = unique_tag();
        // Recorded first: a run that fails half-way may leave a container.
        self.names.push(name.clone());
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["local/bb", "busybox", "httpd", "-f", "-p", listen]);
        engine_ok(self.cli, &args);
        name
    }

    fn inspect(&self, name: &str, format: &str) -> String {
        engine_ok(self.cli, &["inspect", "--format", format, name])
    }

    fn running(&self, name: &str) -> bool {
        self.inspect(name, "{{.State.Running}}") == "true"
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        // podman's `rm -f` would first wait 10 s for a stop; docker's kills.
        let now: &[&str] = if self.cli.starts_with("podman") {
            &["-t", "0"]
        } else {
            &[]
        };
        let argv = cli_argv(self.cli);
        for n in &self.names {
            let _ = Command::new(&argv[0])
                .args(&argv[1..])
                .current_dir("/tmp")
                .args(["rm", "-f"])
                .args(now)
                .arg(n)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A loopback port the kernel just handed out, and `127.0.0.1:PORT:8080`.
fn publish() -> (u16, String) {
    let port = free_port(Probe::Tcp4);
    (port, format!("127.0.0.1:{port}:8080"))
}

/// Wait (bounded) until something listens on 127.0.0.1:`port`; the one
/// holder's JSON object from `list --json PORT`.
fn the_holder(port: u16) -> Value {
    assert!(
        wait_until(READY_TIMEOUT, || !can_bind("tcp", "127.0.0.1", port)),
        "nothing listens on 127.0.0.1:{port}"
    );
    let doc = list_json(&[&port.to_string()]);
    let sock = socket_at(&doc, "tcp", "127.0.0.1", port);
    let pids = holder_pids(&sock);
    assert_eq!(pids.len(), 1, "one holder expected: {sock:#}");
    holder(&sock, pids[0])
}

fn run_pw(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut c = portwarden();
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(args).output().expect("run portwarden");
    (
        out.status.code().expect("exited, not signalled"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn reasons(h: &Value) -> Vec<String> {
    h["reasons"]
        .as_array()
        .unwrap_or_else(|| panic!("no reasons in {h:#}"))
        .iter()
        .map(|r| r.as_str().unwrap_or_default().to_string())
        .collect()
}

/// Assert `h` is managed by the container `name` (`id`, from `image`) of
/// `engine`, with that engine's stop command; the stop command.
fn assert_container(h: &Value, engine: &str, name: &str, id: &str, image: &str) -> String {
    assert_eq!(h["class"], "managed", "{h:#}");
    let c = &h["container"];
    assert_eq!(c["engine"], engine, "{h:#}");
    assert_eq!(c["name"], name, "{h:#}");
    assert_eq!(c["id"], id, "{h:#}");
    assert_eq!(c["image"], image, "{h:#}");
    let stop = format!("{engine} stop {name}");
    assert_eq!(h["stop_command"], stop.as_str(), "{h:#}");
    stop
}

/// `portwarden ARGS` (a kill) with `env` must refuse (exit 3) and leave the
/// container running and the port held; its stderr.
fn kill_refused(
    cs: &Containers,
    name: &str,
    port: u16,
    env: &[(&str, &str)],
    a: &[&str],
) -> String {
    let (code, out, err) = run_pw(env, a);
    assert_eq!(
        code, 3,
        "kill {a:?} must refuse\nstdout: {out}\nstderr: {err}"
    );
    assert!(cs.running(name), "kill {a:?} stopped the container");
    assert!(
        !can_bind("tcp", "127.0.0.1", port),
        "kill {a:?} freed the port"
    );
    err
}

/// `kill PORT --force --yes --only NAME` stops the container (exit 0) and
/// frees the port; its stdout.
fn force_stops(cs: &Containers, name: &str, port: u16) -> String {
    let p = port.to_string();
    let (code, out, err) = run_pw(&[], &["kill", &p, "--force", "--yes", "--only", name]);
    assert_eq!(code, 0, "kill --force\nstdout: {out}\nstderr: {err}");
    assert!(
        !cs.running(name),
        "the container still runs after kill --force"
    );
    assert!(can_bind("tcp", "127.0.0.1", port), "port {port} not free");
    out
}

#[test]
fn docker_proxy_is_managed_by_its_container_and_force_stops_the_container() {
    let mut cs = Containers::new("docker");
    let (port, publish) = publish();
    let name = cs.run(&["-p", &publish], "8080");
    let id = cs.inspect(&name, "{{.Id}}");

    let h = the_holder(port);
    assert_eq!(
        h["name"], "docker-proxy",
        "the published port's holder: {h:#}"
    );
    let stop = assert_container(&h, "docker", &name, &id, "local/bb");
    assert_eq!(h["container"]["compose_project"], Value::Null, "{h:#}");
    assert!(
        reasons(&h).iter().any(|r| r.contains("docker engine API")),
        "named through the API: {h:#}"
    );

    let (code, why, err) = run_pw(&[], &["why", &port.to_string()]);
    assert_eq!(code, 0, "why: {err}");
    assert!(why.contains("class: managed"), "{why}");
    assert!(
        why.contains(&format!("docker container {name} (id {}", &id[..12])),
        "{why}"
    );
    assert!(why.contains(&format!("`{stop}`")), "{why}");

    // A plain kill refuses and touches nothing.
    let p = port.to_string();
    let err = kill_refused(&cs, &name, port, &[], &["kill", &p, "--yes"]);
    assert!(err.contains(&format!("`{stop}`")), "{err}");

    // --force stops the container through the API; the port is free.
    let out = force_stops(&cs, &name, port);
    assert!(
        out.contains(&format!("docker container {name}"))
            && out.contains("stopped through the docker API"),
        "{out}"
    );
}

#[test]
fn compose_labels_give_the_compose_stop_command() {
    let mut cs = Containers::new("docker");
    let (port, publish) = publish();
    let project = format!("p{}", std::process::id());
    let name = cs.run(
        &[
            "-p",
            &publish,
            "--label",
            &format!("com.docker.compose.project={project}"),
            "--label",
            "com.docker.compose.service=s",
        ],
        "8080",
    );
    let h = the_holder(port);
    assert_eq!(h["class"], "managed", "{h:#}");
    assert_eq!(h["container"]["name"], name.as_str(), "{h:#}");
    assert_eq!(h["container"]["compose_project"], project.as_str(), "{h:#}");
    assert_eq!(h["container"]["compose_service"], "s", "{h:#}");
    let stop = format!("docker compose -p {project} stop s");
    assert_eq!(h["stop_command"], stop.as_str(), "{h:#}");
    let p = port.to_string();
    let err = kill_refused(&cs, &name, port, &[], &["kill", &p, "--yes"]);
    assert!(err.contains(&format!("`{stop}`")), "{err}");
}

#[test]
fn a_process_inside_a_container_is_managed_by_it() {
    // Host networking: the container's own httpd holds the host port, so
    // the holder is known by its cgroup (/docker/<id>), not a forwarder.
    let mut cs = Containers::new("docker");
    let port = free_port(Probe::Tcp4);
    let name = cs.run(&["--network", "host"], &format!("127.0.0.1:{port}"));
    let h = the_holder(port);
    assert_eq!(h["name"], "busybox", "{h:#}");
    assert_eq!(h["class"], "managed", "{h:#}");
    assert_eq!(h["container"]["name"], name.as_str(), "{h:#}");
    assert_eq!(h["stop_command"], format!("docker stop {name}").as_str());
    assert!(
        reasons(&h)[0].starts_with(&format!("runs inside docker container {name}")),
        "{h:#}"
    );
    let p = port.to_string();
    kill_refused(&cs, &name, port, &[], &["kill", &p, "--yes"]);
}

#[test]
fn no_engine_reachable_is_said_and_the_forwarder_still_refused() {
    let mut cs = Containers::new("docker");
    let (port, publish) = publish();
    let name = cs.run(&["-p", &publish], "8080");
    the_holder(port);

    // A socket file nobody listens on: connection refused.
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).expect("bind a unix socket"));
    let host = format!("unix://{}", dead.display());
    let env = [("DOCKER_HOST", host.as_str())];

    let (code, why, err) = run_pw(&env, &["why", &port.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(why.contains("class: managed"), "{why}");
    assert!(
        why.contains(&format!(
            "no docker engine API reachable: {}",
            dead.display()
        )),
        "{why}"
    );
    for args in [vec!["--yes"], vec!["--force", "--yes"]] {
        let mut a = vec!["kill", "--only", &name];
        let p = port.to_string();
        a.push(&p);
        a.extend(args.iter().copied());
        let err = kill_refused(&cs, &name, port, &env, &a);
        assert!(err.contains("no docker engine API reachable"), "{err}");
    }
}

#[test]
fn podman_holder_is_managed_by_its_container_and_force_stops_it() {
    let mut cs = Containers::new("podman");
    let (port, publish) = publish();
    let name = cs.run(
        &[
            "-p",
            &publish,
            "--ulimit",
            "nofile=4096:4096",
            "--ulimit",
            "nproc=4096:4096",
        ],
        "8080",
    );
    let id = cs.inspect(&name, "{{.Id}}");
    let h = the_holder(port);
    // Rootful podman keeps the published port open in conmon.
    assert_eq!(h["name"], "conmon", "the published port's holder: {h:#}");
    let stop = assert_container(&h, "podman", &name, &id, PODMAN_IMAGE);

    let p = port.to_string();
    let err = kill_refused(&cs, &name, port, &[], &["kill", &p, "--yes"]);
    assert!(err.contains(&format!("`{stop}`")), "{err}");

    let out = force_stops(&cs, &name, port);
    assert!(out.contains("stopped through the podman API"), "{out}");
}

#[test]
fn rootless_podman_rootlessport_is_managed_by_its_container() {
    let mut cs = Containers::new("podman-rootless");
    let (port, publish) = publish();
    let name = cs.run(&["-p", &publish], "8080");
    let id = cs.inspect(&name, "{{.Id}}");
    let user = std::env::var("PW_ROOTLESS_USER").expect("set by the setup script");
    let h = the_holder(port);
    // Rootless podman forwards published ports with rootlessport, owned by
    // the user; root asks about it.
    assert_eq!(
        h["name"], "rootlessport",
        "the published port's holder: {h:#}"
    );
    assert_eq!(h["user"], user.as_str(), "{h:#}");
    let stop = assert_container(&h, "podman", &name, &id, PODMAN_IMAGE);
    assert!(
        reasons(&h)
            .iter()
            .any(|r| r.contains(&format!("`{stop}` as user {user}"))),
        "{h:#}"
    );
    // The user serves no API here: even --force refuses, and says why.
    for extra in [vec![], vec!["--force"]] {
        let p = port.to_string();
        let mut a = vec!["kill", p.as_str(), "--yes", "--only", &name];
        a.extend(extra.iter().copied());
        let err = kill_refused(&cs, &name, port, &[], &a);
        assert!(err.contains(&format!("`{stop}` as user `{user}`")), "{err}");
    }
}
