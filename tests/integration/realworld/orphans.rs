//! What an unclean exit leaves: a Node sidecar, a Python proxy and a dev
//! server whose launchers died — orphans, each with its evidence, freed.

use super::*;

/// Read `PREFIX <pid>` from a child's stdout (bounded).
pub(super) fn read_tagged_pid(out: impl Read + Send + 'static, prefix: &'static str) -> i32 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Some(p) = line.strip_prefix(prefix) {
                let _ = tx.send(p.trim().parse::<i32>().ok());
                break;
            }
        }
    });
    rx.recv_timeout(READY_TIMEOUT)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no `{prefix}` line"))
}

/// Read `PREFIX <pid>` from what a program in a terminal wrote (bounded):
/// a whole line of its own, so neither the echo of the command that prints
/// it (which also holds the prefix) nor half a pid counts.
pub(super) fn tagged_pid(term: &Pty, prefix: &str) -> i32 {
    let pid_line = |raw: &str| {
        raw.split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .find_map(|l| l.strip_prefix(prefix))
            .map(|p| p.trim().parse::<i32>().ok())
    };
    let raw = term.wait_for_raw(&format!("a `{prefix}` line"), |raw| pid_line(raw).is_some());
    pid_line(&raw)
        .flatten()
        .unwrap_or_else(|| panic!("no `{prefix}` line"))
}

/// Start a launcher (stdout piped, guarded) that prints `PREFIX <pid>` of
/// what it started; that pid, read (bounded) and adopted.
pub(super) fn spawn_tagged(g: &mut Guard, cmd: &mut Command, prefix: &'static str) -> i32 {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    g.child(child);
    let pid = read_tagged_pid(out, prefix);
    adopt(g, pid);
    pid
}

/// Kill a direct child (the launcher) and reap it.
pub(super) fn kill_launcher(g: &mut Guard, i: usize) {
    let c = g.child_mut(i);
    let _ = c.kill();
    let _ = c.wait();
}

pub(super) fn orphan_is_freed(g: &mut Guard, port: u16, pid: i32, evidence: &[&str]) {
    let h = &sole_of_class(g, "tcp", port, "orphan", evidence);
    assert_eq!(pid_of(h), pid);
    consent_frees(&port.to_string(), "tcp", port, std::slice::from_ref(h));
}

#[test]
fn node_detached_sidecar_of_a_killed_app_is_an_orphan() {
    let node = need("node");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let app = dir.path().join("app.js");
    std::fs::write(
        &app,
        format!(
            "const {{ spawn }} = require('child_process');\n\
             const c = spawn(process.execPath, ['-e', \"require('net').createServer().listen({port}, '127.0.0.1', () => console.log('up'))\"], {{ detached: true }});\n\
             c.stdout.on('data', d => {{ if (String(d).includes('up')) console.log('SIDECAR ' + c.pid); }});\n\
             setInterval(() => {{}}, 1e6);\n"
        ),
    )
    .unwrap();
    let mut g = Guard::new();
    let sidecar = spawn_tagged(
        &mut g,
        Command::new(node).arg(&app).current_dir(dir.path()),
        "SIDECAR ",
    );
    kill_launcher(&mut g, 0);
    orphan_is_freed(
        &mut g,
        port,
        sidecar,
        &[
            "has stdin on a socket, a channel from its launcher",
            "leads its own session",
            &format!("has working directory {}", dir.path().display()),
        ],
    );
}

#[test]
fn python_new_session_proxy_of_a_killed_wrapper_is_an_orphan() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let wrapper = dir.path().join("wrapper.py");
    std::fs::write(
        &wrapper,
        format!(
            "import subprocess, sys, time\n\
             proxy = \"import socket, time\\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\\ns.bind(('127.0.0.1', {port})); s.listen(8)\\nprint('up', flush=True)\\ntime.sleep(3600)\"\n\
             p = subprocess.Popen([sys.executable, '-c', proxy], start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n\
             p.stdout.readline()\n\
             print(f'PROXY {{p.pid}}', flush=True)\n\
             time.sleep(3600)\n"
        ),
    )
    .unwrap();
    let mut g = Guard::new();
    let proxy = spawn_tagged(
        &mut g,
        Command::new(python()).arg(&wrapper).current_dir(dir.path()),
        "PROXY ",
    );
    kill_launcher(&mut g, 0);
    orphan_is_freed(
        &mut g,
        port,
        proxy,
        &[
            "has stdout on a pipe nobody reads any more",
            "leads its own session",
        ],
    );
}

#[test]
fn http_server_of_a_killed_terminal_shell_is_an_orphan() {
    let bash = need("bash");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(Probe::Tcp4);
    let mut shell = PtyBuilder::new(bash)
        .args(["--norc", "--noprofile", "-i"])
        .cwd(dir.path())
        .spawn();
    shell.keys(&format!(
        "{} -m http.server {port} --bind 127.0.0.1 & echo SERVER $!\n",
        python().display()
    ));
    let server = tagged_pid(&shell, "SERVER ");
    let mut g = Guard::new();
    adopt(&mut g, server);
    assert!(wait_until(READY_TIMEOUT, || listening("tcp", port)));
    // The terminal's shell is killed outright (SIGKILL: it cannot pass a
    // hangup on to its jobs, as after an OOM kill or a crashed session).
    shell.kill_outright();
    orphan_is_freed(
        &mut g,
        port,
        server,
        &[
            "has stdout on terminal /dev/pts/",
            "whose leader (the shell or launcher that started it) is gone",
            &format!("has working directory {}", dir.path().display()),
        ],
    );
    drop(shell);
}
