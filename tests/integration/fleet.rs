//! `--host`: a real fleet of test hosts. Each host is a network namespace
//! the test creates, joined to this one by its own veth pair with its own
//! /30 inside 10.213.0.0/16, running a real OpenSSH `sshd` with keys
//! generated into a temp dir. portwarden reaches them through the system
//! `ssh` with a temp `--ssh-config`; the remote side is this test build
//! (`--remote-bin`), which sees only its namespace's sockets.
//!
//! [`Lab`] tears everything down on drop, panicking or not: every process
//! left in a namespace (sshd, its sessions, fixtures) is killed, the
//! namespaces and veths deleted, the subnet's lock file removed.

use std::ffi::OsStr;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::pty::Pty;
use crate::util::{Fixture, Guard, Ready, Spec, is_alive, portwarden, portwarden_path, wait_until};

/// Run a setup command; a failure is the test's failure, with its stderr.
fn sh(args: &[&str]) {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (run .ci/setup-fleet.sh)", args[0]));
    assert!(
        o.status.success(),
        "{} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn require(program: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found || Path::new(program).exists(),
        "{program} is missing: the fleet tests need openssh-server, openssh-client and iproute2 \
         (run .ci/setup-fleet.sh)"
    );
}

/// One test host.
struct LabHost {
    name: String,
    ns: String,
    veth: String,
    /// Its address, inside its namespace.
    addr: String,
    lock: PathBuf,
    sshd: Option<Child>,
}

/// The fleet of one test.
struct Lab {
    dir: tempfile::TempDir,
    hosts: Vec<LabHost>,
    /// `XDG_RUNTIME_DIR` for portwarden: its shared-connection sockets.
    runtime: PathBuf,
}

/// A free /30 (10.213.N.0/30), claimed with a lock file so parallel tests
/// never share one; its veth names are free too.
fn claim_subnet() -> (u8, PathBuf) {
    for n in 1..=250u8 {
        let lock = std::env::temp_dir().join(format!("portwarden-fleet-net-{n}"));
        if fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
            .is_ok()
        {
            return (n, lock);
        }
    }
    panic!("no free test subnet (stale /tmp/portwarden-fleet-net-* lock files?)");
}

impl Lab {
    /// Hosts by name; `true` runs an sshd there, `false` leaves it down.
    fn new(hosts: &[(&str, bool)]) -> Lab {
        for p in ["ip", "ssh", "ssh-keygen", "/usr/sbin/sshd"] {
            require(p);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime = dir.path().join("run");
        fs::create_dir(&runtime).expect("runtime dir");
        fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod");
        // sshd's privilege separation directory.
        fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let key = dir.path().join("id_ed25519");
        keygen(&key);
        let mut lab = Lab {
            dir,
            hosts: Vec::new(),
            runtime,
        };
        for (name, up) in hosts {
            lab.add_host(name, *up);
        }
        lab.write_ssh_config();
        lab
    }

    fn add_host(&mut self, name: &str, up: bool) {
        let (n, lock) = claim_subnet();
        let ns = format!("portwarden-fleet-{n}");
        let (veth, peer) = (format!("pwfr{n}"), format!("pwfn{n}"));
        // Stale leftovers of a killed run with this subnet: remove first.
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        let _ = Command::new("ip").args(["link", "del", &veth]).output();
        let host = LabHost {
            name: name.into(),
            ns: ns.clone(),
            veth: veth.clone(),
            addr: format!("10.213.{n}.2"),
            lock,
            sshd: None,
        };
        // Registered before the first command so a failure still tears down.
        self.hosts.push(host);
        sh(&["ip", "netns", "add", &ns]);
        sh(&[
            "ip", "link", "add", &veth, "type", "veth", "peer", "name", &peer, "netns", &ns,
        ]);
        sh(&[
            "ip",
            "addr",
            "add",
            &format!("10.213.{n}.1/30"),
            "dev",
            &veth,
        ]);
        sh(&["ip", "link", "set", &veth, "up"]);
        sh(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("10.213.{n}.2/30"),
            "dev",
            &peer,
        ]);
        sh(&["ip", "-n", &ns, "link", "set", &peer, "up"]);
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        if up {
            self.start_sshd(self.hosts.len() - 1);
        }
    }

    fn start_sshd(&mut self, i: usize) {
        let d = self.dir.path().join(&self.hosts[i].name);
        fs::create_dir(&d).expect("host dir");
        let host_key = d.join("host_key");
        keygen(&host_key);
        // The remote user's home: --push writes there, not into /root.
        fs::create_dir(d.join("home")).expect("home");
        fs::copy(
            self.dir.path().join("id_ed25519.pub"),
            d.join("authorized_keys"),
        )
        .expect("authorized_keys");
        let addr = self.hosts[i].addr.clone();
        let conf = d.join("sshd_config");
        fs::write(
            &conf,
            format!(
                "ListenAddress {addr}\nPort 22\nHostKey {hk}\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n\
                 MaxSessions 50\nMaxStartups 50\nSetEnv HOME={d}/home\n",
                hk = host_key.display(),
                d = d.display()
            ),
        )
        .expect("sshd_config");
        let pubkey = fs::read_to_string(d.join("host_key.pub")).expect("host key");
        let mut kh = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("known_hosts"))
            .expect("known_hosts");
        std::io::Write::write_all(&mut kh, format!("{addr} {pubkey}").as_bytes())
            .expect("known_hosts");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.hosts[i].ns,
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
            ])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        self.hosts[i].sshd = Some(child);
        let sa: SocketAddr = format!("{addr}:22").parse().expect("addr");
        assert!(
            wait_until(Duration::from_secs(15), || {
                TcpStream::connect_timeout(&sa, Duration::from_millis(200)).is_ok()
            }),
            "sshd in {} never listened on {sa}",
            self.hosts[i].ns
        );
    }

    fn write_ssh_config(&self) {
        let mut c = String::new();
        for h in &self.hosts {
            c.push_str(&format!("Host {}\n  HostName {}\n", h.name, h.addr));
        }
        c.push_str(&format!(
            "Host *\n  User root\n  IdentityFile {d}/id_ed25519\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  \
             StrictHostKeyChecking yes\n  LogLevel ERROR\n",
            d = self.dir.path().display()
        ));
        fs::write(self.config(), c).expect("ssh config");
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    fn host(&self, name: &str) -> &LabHost {
        self.hosts.iter().find(|h| h.name == name).expect("host")
    }

    /// `portwarden --ssh-config … --remote-bin <this build> ARGS`.
    fn portwarden(&self, args: &[&str]) -> assert_cmd::Command {
        let mut c = portwarden();
        c.env("XDG_RUNTIME_DIR", &self.runtime)
            .arg("--ssh-config")
            .arg(self.config())
            .arg("--remote-bin")
            .arg(portwarden_path())
            .args(args)
            .timeout(Duration::from_secs(90));
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The shared connections portwarden opened (ControlPersist keeps
        // their masters alive after the test): end each through its socket.
        let sockets = fs::read_dir(self.runtime.join("portwarden"))
            .into_iter()
            .flatten();
        for sock in sockets.flatten() {
            let _ = Command::new("ssh")
                .arg("-o")
                .arg(format!("ControlPath={}", sock.path().display()))
                .args(["-O", "exit", "lab-host"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for h in &mut self.hosts {
            // Every process in the namespace is one this test started
            // (sshd, its sessions, fixtures).
            if let Ok(o) = Command::new("ip").args(["netns", "pids", &h.ns]).output() {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>()
                        && pid > 1
                    {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
            if let Some(mut c) = h.sshd.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            let _ = Command::new("ip").args(["netns", "del", &h.ns]).output();
            let _ = Command::new("ip").args(["link", "del", &h.veth]).output();
            let _ = fs::remove_file(&h.lock);
        }
    }
}

fn keygen(path: &Path) {
    sh(&[
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "portwarden-test",
        "-f",
        &path.display().to_string(),
    ]);
}

/// An orphan listener on 0.0.0.0 in `host`'s namespace, on `port` (free
/// there: asserted) or one the kernel picks; its holder adopted by `guard`
/// too. The fixture (keep it: it owns the processes) and the holder.
fn orphan_in(lab: &Lab, host: &str, guard: &mut Guard, port: Option<u16>) -> (Fixture, Ready) {
    let spec = Spec::new("orphan")
        .bind("tcp,0.0.0.0")
        .in_netns(&lab.host(host).ns);
    let fx = match port {
        None => spec.start(),
        Some(port) => spec
            .start_on(port)
            .unwrap_or_else(|| panic!("the port is free in {host}'s namespace")),
    };
    let holder = fx.one("holder").clone();
    guard.adopt(holder.pid, holder.start_time);
    (fx, holder)
}

/// Has `h` ended (waiting a bounded 5 s)?
fn ended(h: &Ready) -> bool {
    wait_until(Duration::from_secs(5), || !is_alive(h.pid, h.start_time))
}

fn host_doc<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["hosts"]
        .as_array()
        .expect("hosts array")
        .iter()
        .find(|h| h["host"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {doc}"))
}

fn ports_of(host: &Value) -> Vec<u64> {
    host["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .filter_map(|s| s["port"].as_u64())
        .collect()
}

#[test]
fn fleet_lists_per_host_kills_on_one_and_reports_a_down_host() {
    let lab = Lab::new(&[("web1", true), ("web2", true), ("web3", false)]);
    let mut guard = Guard::new();
    let (_fx, holder) = orphan_in(&lab, "web1", &mut guard, None);
    list_json_has_it_under_web1_only(&lab, &holder);
    list_table_has_a_host_column(&lab, &holder);
    why_explains_per_host(&lab, &holder);
    kill_frees_it_on_web1_only(&lab, &holder);
    wait_and_list_see_it_free(&lab, holder.port);
}

/// JSON: the listener is under web1 only; web3 is an error row.
fn list_json_has_it_under_web1_only(lab: &Lab, holder: &Ready) {
    let port = holder.port;
    let out = lab
        .portwarden(&[
            "--host", "local", "--host", "web1", "--host", "web2", "--host", "web3", "list",
            "--json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "a host failed: exit 1");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["schema"], 1);
    let names: Vec<&str> = doc["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(names, ["local", "web1", "web2", "web3"]);
    let w1 = host_doc(&doc, "web1");
    assert_eq!(w1["error"], Value::Null, "{w1}");
    let sock = w1["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .find(|s| s["port"] == port)
        .unwrap_or_else(|| panic!("port {port} not under web1: {w1}"));
    assert_eq!(sock["holders"][0]["pid"], holder.pid);
    assert_eq!(sock["holders"][0]["class"], "orphan");
    for other in ["local", "web2"] {
        let h = host_doc(&doc, other);
        assert_eq!(h["error"], Value::Null, "{h}");
        assert!(
            !ports_of(h).contains(&u64::from(port)),
            "{other} lists {port}: {h}"
        );
    }
    let w3 = host_doc(&doc, "web3");
    let err = w3["error"].as_str().expect("web3 error");
    assert!(
        err.starts_with("ssh: connect to host ") && err.contains("Connection refused"),
        "{err}"
    );
    assert_eq!(w3["sockets"], serde_json::json!([]));
}

/// The table: a HOST column, web1's row, web3's error row.
fn list_table_has_a_host_column(lab: &Lab, holder: &Ready) {
    let port = holder.port;
    let out = lab
        .portwarden(&["--host", "web1", "--host", "web3", "list"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("HOST  PROTO"), "{table}");
    assert!(
        lines.iter().any(|l| l.starts_with("web1")
            && l.contains(&format!(":{port} "))
            && l.contains(&holder.pid.to_string())),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("web3  error: ssh: connect to host")),
        "{table}"
    );
}

/// why: each host's explanation under its name.
fn why_explains_per_host(lab: &Lab, holder: &Ready) {
    let port = holder.port;
    let out = lab
        .portwarden(&["--host", "web1", "why", &port.to_string()])
        .output()
        .expect("run");
    let why = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{why}");
    assert!(
        why.starts_with("== web1 ==\n") && why.contains(&format!("pid {}", holder.pid)),
        "{why}"
    );
}

/// kill: planned on both, executed on web1 with the confirmed pids.
fn kill_frees_it_on_web1_only(lab: &Lab, holder: &Ready) {
    let port = holder.port;
    let out = lab
        .portwarden(&[
            "--host",
            "web1",
            "--host",
            "web2",
            "kill",
            &port.to_string(),
            "--yes",
            "--json",
        ])
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let w1 = host_doc(&doc, "web1");
    assert_eq!(w1["exit_code"], 0, "{w1}");
    assert_eq!(w1["plan"]["targets"][0]["pid"], holder.pid, "{w1}");
    assert!(w1["report"]["port_free_after_ms"].is_number(), "{w1}");
    let w2 = host_doc(&doc, "web2");
    assert_eq!(
        w2["plan"]["already_free"],
        serde_json::json!([port.to_string()])
    );
    assert_eq!(w2["report"], Value::Null, "nothing ran on web2: {w2}");
    assert!(ended(holder), "the holder in web1 survived");
}

/// wait, over a --hosts-file: free on both now; never listening again.
fn wait_and_list_see_it_free(lab: &Lab, port: u16) {
    let hosts = lab.dir.path().join("hosts");
    fs::write(&hosts, "web1\n# the second one\nweb2\n").expect("hosts file");
    let p = port.to_string();
    lab.portwarden(&["wait", &p, "--free", "--timeout", "5s", "--hosts-file"])
        .arg(&hosts)
        .assert()
        .code(0);
    let out = lab
        .portwarden(&[
            "--host",
            "web1",
            "wait",
            &p,
            "--listening",
            "--timeout",
            "300ms",
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("web1: timed out"));
    let out = lab
        .portwarden(&["--host", "web1", "list", "--json", &port.to_string()])
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(host_doc(&doc, "web1")["sockets"], serde_json::json!([]));
}

/// `portwarden --ssh-config … ARGS` with this `--remote-bin`, or none.
fn bare(lab: &Lab, remote_bin: Option<&Path>, args: &[&str]) -> (Option<i32>, String) {
    let mut c = portwarden();
    c.env("XDG_RUNTIME_DIR", &lab.runtime)
        .arg("--ssh-config")
        .arg(lab.config())
        .timeout(Duration::from_secs(120));
    if let Some(b) = remote_bin {
        c.arg("--remote-bin").arg(b);
    }
    let out = c.args(args).output().expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn fleet_names_the_fix_for_a_missing_or_old_remote_and_push_installs_it() {
    let lab = Lab::new(&[("web1", true)]);
    let (code, text) = bare(
        &lab,
        Some(Path::new("/nonexistent/portwarden")),
        &["--host", "web1", "list"],
    );
    assert_eq!(code, Some(1));
    assert!(
        text.contains("web1  error: web1: portwarden not found there")
            && text.contains("--remote-bin")
            && text.contains("--push"),
        "{text}"
    );

    // An older portwarden rejects what it does not know, as clap does.
    let old = lab.dir.path().join("old-portwarden");
    fs::write(
        &old,
        "#!/bin/sh\necho \"error: unexpected argument '--expect-pids' found\" >&2\nexit 2\n",
    )
    .expect("script");
    fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let (code, text) = bare(&lab, Some(&old), &["--host", "web1", "list", "--json"]);
    assert_eq!(code, Some(1));
    let doc: Value = serde_json::from_str(text.lines().next().unwrap_or("")).expect("json");
    let err = host_doc(&doc, "web1")["error"]
        .as_str()
        .expect("error")
        .to_string();
    assert!(err.contains("older") && err.contains("--push"), "{err}");

    // --push: no portwarden on the remote PATH, so it is copied to
    // ~/.cache/portwarden/ (once) and run from there.
    let home = lab.dir.path().join("web1/home");
    let (code, text) = bare(&lab, None, &["--host", "web1", "--push", "list", "--json"]);
    assert_eq!(code, Some(0), "{text}");
    let doc: Value = serde_json::from_str(text.lines().next().unwrap_or("")).expect("json");
    assert_eq!(host_doc(&doc, "web1")["error"], Value::Null, "{doc}");
    let pushed = fs::read_dir(home.join(".cache/portwarden"))
        .expect("pushed dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect::<Vec<_>>();
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert!(
        pushed[0]
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("portwarden-")),
        "{pushed:?}"
    );
    assert_eq!(
        fs::metadata(&pushed[0]).expect("pushed").len(),
        fs::metadata(portwarden_path()).expect("binary").len()
    );
    let before = fs::metadata(&pushed[0])
        .and_then(|m| m.modified())
        .expect("mtime");
    let (code, text) = bare(&lab, None, &["--host", "web1", "--push", "list", "--json"]);
    assert_eq!(code, Some(0), "{text}");
    let after = fs::metadata(&pushed[0])
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(
        before, after,
        "this version was already there: not copied again"
    );
}

#[test]
fn kill_expect_pids_refuses_a_changed_plan_and_signals_nothing() {
    let mut guard = Guard::new();
    let fx = Spec::new("orphan").start();
    let h = fx.one("holder").clone();
    guard.adopt(h.pid, h.start_time);
    let wrong = (h.pid + 1).to_string();
    let out = portwarden()
        .args([
            "kill",
            &h.port.to_string(),
            "--yes",
            "--json",
            "--expect-pids",
            &wrong,
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let reason = doc["plan"]["refusals"][0]["reason"]
        .as_str()
        .expect("reason");
    assert!(reason.contains("plan changed"), "{reason}");
    assert_eq!(doc["report"], Value::Null);
    assert!(is_alive(h.pid, h.start_time), "nothing may be signalled");
    // The confirmed pids: it goes ahead.
    portwarden()
        .args([
            "kill",
            &h.port.to_string(),
            "--yes",
            "--expect-pids",
            &h.pid.to_string(),
        ])
        .assert()
        .code(0);
    assert!(ended(&h));
}

/// The fleet TUI (or prompt) in a 24×100 pseudo-terminal, reaching the
/// lab's hosts through its ssh config.
fn start_pty(lab: &Lab, args: &[&str]) -> Pty {
    Pty::portwarden()
        .size(24, 100)
        .timeout(Duration::from_secs(30))
        .env("XDG_RUNTIME_DIR", &lab.runtime)
        .args([OsStr::new("--ssh-config"), lab.config().as_os_str()])
        .args([OsStr::new("--remote-bin"), portwarden_path().as_os_str()])
        .args(args)
        .spawn()
}

#[test]
fn fleet_tui_shows_the_host_column_and_kills_on_the_named_host() {
    let lab = Lab::new(&[("web1", true), ("web3", false)]);
    let mut guard = Guard::new();
    let (_fx, holder) = orphan_in(&lab, "web1", &mut guard, None);
    let endpoint = format!("0.0.0.0:{}", holder.port);

    let mut tui = start_pty(&lab, &["--host", "web1", "--host", "web3"]);
    let screen = tui.wait_for("web1's listener and web3's error", |s| {
        s.lines()
            .any(|l| l.starts_with("web1") && l.contains(&endpoint))
            && s.lines().any(|l| l.starts_with("web3  error: ssh:"))
    });
    let lines: Vec<&str> = screen.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("HOST  PROTO"))
        .unwrap_or_else(|| panic!("no HOST column:\n{screen}"));
    let row = lines
        .iter()
        .position(|l| l.starts_with("web1") && l.contains(&endpoint))
        .expect("row");
    tui.keys(&"j".repeat(row - header - 1));
    tui.keys("x");
    let dialog = tui.wait_for("the kill dialog", |s| {
        s.contains("kill on web1") && s.contains("[y] kill 1 process on web1")
    });
    assert!(
        dialog.contains(&holder.pid.to_string()) && dialog.contains("on web1"),
        "{dialog}"
    );
    tui.keys("y");
    tui.wait_for("the outcome", |s| {
        s.contains(&format!("web1: port tcp:{} free after", holder.port))
    });
    assert!(ended(&holder), "the holder in web1 survived");
    tui.keys("q");
    assert!(
        tui.wait_exit(Duration::from_secs(10)).is_some(),
        "q did not quit"
    );
}

#[test]
fn fleet_kill_asks_once_for_every_host_then_reports_per_host() {
    let lab = Lab::new(&[("web1", true), ("web2", true), ("web3", false)]);
    let mut guard = Guard::new();
    // One port number on two hosts: each host frees its own holder.
    let (_first, h1) = orphan_in(&lab, "web1", &mut guard, None);
    let (_second, h2) = orphan_in(&lab, "web2", &mut guard, Some(h1.port));
    let port = h1.port.to_string();
    let args = [
        "--host", "web1", "--host", "web2", "--host", "web3", "kill", &port,
    ];
    let mut pty = start_pty(&lab, &args);
    let screen = pty.wait_for("one question for both hosts", |s| {
        s.contains("Kill 2 processes on these hosts (web1, web2)? [y/N]")
    });
    assert!(
        screen.contains("== web1 ==")
            && screen.contains("== web2 ==")
            && screen.contains("== web3 ==\n  error: ssh: connect to host"),
        "{screen}"
    );
    pty.keys("y\r");
    pty.wait_for("a report per host", |s| {
        s.contains(&format!("web1: port {port} free after"))
            && s.contains(&format!("web2: port {port} free after"))
    });
    for h in [&h1, &h2] {
        assert!(ended(h), "pid {} survived", h.pid);
    }
}
