//! Container engines: their HTTP API on a unix socket, and their state on
//! disk when the API does not answer.
//!
//! Docker's API (and podman's compat API, the same paths) is plain HTTP/1.1
//! over a unix socket. Two requests are all portwarden needs — list running
//! containers, stop one — so this is a small blocking client on std's
//! `UnixStream` with a timeout on every read and write, an overall deadline
//! and a cap on the answer's size: no async runtime, no new dependency
//! (bollard would bring tokio, hyper and about 80 more crates for two
//! requests). It never shells out to `docker`.
//!
//! Discovery calls [`gather`] only when a holder is a container's forwarder
//! or process, and records the answer in the snapshot; `kill --force` calls
//! [`stop`].

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::collections::HashSet;

use crate::container::{self, Container, ContainerTable, Engine, EngineProbe, ForwarderKind};
use crate::model::{Process, Snapshot};

/// Largest answer read: a list of thousands of containers fits easily.
const MAX_RESPONSE: usize = 8 << 20;
/// Largest state file read from disk.
const MAX_FILE: u64 = 4 << 20;
/// How long a listing may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(3);
/// Most container directories read from disk.
const MAX_DIRS: usize = 4096;

/// An HTTP answer: status code and (de-chunked) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// One request over the unix socket at `socket`, `Connection: close`,
/// bounded by `timeout` in total.
pub fn request(
    socket: &Path,
    method: &str,
    target: &str,
    timeout: Duration,
) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    let mut s = UnixStream::connect(socket)?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: portwarden\r\n\
         Connection: close\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "no complete answer in time"))?;
        s.set_read_timeout(Some(left))?;
        let n = match s.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A read timeout surfaces as EAGAIN: say what it means.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no complete answer within {} s", timeout.as_secs_f32()),
                ));
            }
            Err(e) => return Err(e),
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        if buf.len() > MAX_RESPONSE {
            return Err(io::Error::other("answer larger than 8 MiB"));
        }
        match parse_response(&buf, n == 0) {
            Some(r) => return r,
            None if n == 0 => return Err(io::Error::other("connection closed mid-answer")),
            None => {}
        }
    }
}

/// Parse an HTTP/1.1 response from `buf`: `None` while more is needed,
/// `Some(Err)` for a malformed one. `eof` says the peer closed (then a
/// body without length ends there).
pub fn parse_response(buf: &[u8], eof: bool) -> Option<io::Result<Response>> {
    let bad = |m: &str| {
        Some(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            m.to_string(),
        )))
    };
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(buf.get(..end)?);
    let body = buf.get(end + 4..)?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let Some(status) = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
    else {
        return bad("not an HTTP status line");
    };
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "content-length" {
            length = v.parse::<usize>().ok();
        } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let done = |body: Vec<u8>| Some(Ok(Response { status, body }));
    if chunked {
        return match dechunk(body) {
            Some(Ok(b)) => done(b),
            Some(Err(())) => bad("malformed chunked body"),
            None => None,
        };
    }
    match length {
        // 204 and 304 carry no body whatever the headers say.
        _ if status == 204 || status == 304 => done(Vec::new()),
        Some(n) if body.len() >= n => done(body.get(..n)?.to_vec()),
        Some(_) => None,
        None if eof => done(body.to_vec()),
        None => None,
    }
}

/// Decode a chunked body: `None` while incomplete, `Err` when malformed.
fn dechunk(mut rest: &[u8]) -> Option<Result<Vec<u8>, ()>> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(rest.get(..eol)?);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            return Some(Err(()));
        };
        let data = rest.get(eol + 2..)?;
        if size == 0 {
            return Some(Ok(out));
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(data.get(..size)?);
        rest = data.get(size + 2..)?;
    }
}

/// The API socket of `engine`: `DOCKER_HOST` / `CONTAINER_HOST` when they
/// name a unix socket, else the engine's usual place. `Err` says why there
/// is none to try (a `tcp://` host: portwarden only speaks unix sockets).
pub fn socket_of(engine: Engine) -> Result<PathBuf, String> {
    let (var, default) = match engine {
        Engine::Docker => ("DOCKER_HOST", PathBuf::from("/var/run/docker.sock")),
        Engine::Podman => ("CONTAINER_HOST", podman_default_socket()),
    };
    match std::env::var(var) {
        Ok(h) if !h.is_empty() => match h.strip_prefix("unix://") {
            Some(p) => Ok(PathBuf::from(p)),
            None => Err(format!(
                "{var}={h} is not a unix:// socket, which is all portwarden speaks"
            )),
        },
        _ => Ok(default),
    }
}

fn podman_default_socket() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/run/podman/podman.sock");
    }
    let dir = std::env::var("XDG_RUNTIME_DIR")
        .unwrap_or_else(|_| format!("/run/user/{}", rustix::process::geteuid().as_raw()));
    Path::new(&dir).join("podman/podman.sock")
}

/// `GET /containers/json` from `engine` at `socket`.
pub fn list(engine: Engine, socket: &Path) -> io::Result<Vec<Container>> {
    let r = request(socket, "GET", "/containers/json", LIST_TIMEOUT)?;
    if r.status != 200 {
        return Err(io::Error::other(format!(
            "GET /containers/json answered {}: {}",
            r.status,
            api_message(&r.body)
        )));
    }
    Ok(container::parse_api_list(
        &String::from_utf8_lossy(&r.body),
        engine,
        &socket.to_string_lossy(),
    ))
}

/// Stop container `id` through the API at `socket` (`POST
/// /containers/{id}/stop?t=SECS`): the engine sends the container's stop
/// signal, waits `grace`, then kills it. Already stopped counts as done.
pub fn stop(socket: &Path, id: &str, grace: Duration) -> io::Result<()> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a container id: {id:?}"),
        ));
    }
    let secs = grace.as_secs().max(1);
    // The engine waits `secs` before its SIGKILL: give it that and more.
    let timeout = Duration::from_secs(secs + 20);
    let r = request(
        socket,
        "POST",
        &format!("/containers/{id}/stop?t={secs}"),
        timeout,
    )?;
    match r.status {
        204 | 304 => Ok(()),
        s => Err(io::Error::other(format!(
            "POST /containers/{}/stop answered {s}: {}",
            id.get(..12).unwrap_or(id),
            api_message(&r.body)
        ))),
    }
}

/// The engine's `{"message": …}` error text, or the body itself.
fn api_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| text.trim().chars().take(200).collect())
}

/// Ask the engines about the snapshot's container holders: the API first,
/// the engine's state on disk when the API does not answer. Empty (no I/O
/// at all) when no holder is a forwarder or in a container.
pub fn gather(snap: &Snapshot) -> ContainerTable {
    let mut wanted: Vec<Engine> = snap
        .sockets
        .iter()
        .flat_map(|s| &s.holders)
        .filter_map(|pid| container::engine_wanted(snap.process(*pid)?))
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut table = ContainerTable::default();
    for engine in wanted {
        let answer = socket_of(engine).and_then(|sock| {
            let shown = sock.to_string_lossy().into_owned();
            list(engine, &sock)
                .map(|cs| (shown.clone(), cs))
                .map_err(|e| format!("{shown}: {e}"))
        });
        match answer {
            Ok((socket, cs)) => {
                table.probes.push(EngineProbe {
                    engine,
                    socket,
                    error: None,
                });
                table.containers.extend(cs);
            }
            Err(e) => {
                table.probes.push(EngineProbe {
                    engine,
                    socket: socket_of(engine)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    error: Some(e),
                });
                table.containers.extend(from_disk(engine, snap));
            }
        }
        if engine == Engine::Podman {
            rootless(snap, &mut table);
        }
    }
    table
}

/// Rootless podman: ask each rootlessport owner's own API socket
/// (`/run/user/UID/podman/podman.sock`, when that user serves one), then
/// tie each rootlessport to its container: its child runs in the
/// container's network namespace, the namespace of the process the
/// container's conmon started, and conmon's `-c`/`-n` name the container.
fn rootless(snap: &Snapshot, table: &mut ContainerTable) {
    let fwds: Vec<&Process> = snap
        .sockets
        .iter()
        .flat_map(|s| &s.holders)
        .filter_map(|pid| snap.process(*pid))
        .filter(|p| container::forwarder(p).is_some_and(|f| f.kind == ForwarderKind::RootlessPort))
        .collect();
    if fwds.is_empty() {
        return;
    }
    let mut uids: Vec<u32> = fwds.iter().map(|p| p.uid).filter(|&u| u != 0).collect();
    uids.sort_unstable();
    uids.dedup();
    for uid in uids {
        list_user_podman(uid, table);
    }
    let Ok(host) = std::fs::read_link("/proc/self/ns/net") else {
        return;
    };
    let kids = snap.child_index();
    let conmons: Vec<(Process, HashSet<PathBuf>)> = conmons(snap)
        .into_iter()
        .map(|c| {
            let nets = kids
                .get(&c.pid)
                .into_iter()
                .flatten()
                .filter_map(|k| std::fs::read_link(format!("/proc/{k}/ns/net")).ok())
                .collect();
            (c, nets)
        })
        .collect();
    let on_disk = from_disk(Engine::Podman, snap);
    for f in fwds {
        // Its child (rootlessport-child) lives in the container's network
        // namespace; the parent keeps a thread there only at times.
        let nets: HashSet<PathBuf> = std::iter::once(f.pid)
            .chain(kids.get(&f.pid).into_iter().flatten().copied())
            .flat_map(task_netns)
            .filter(|n| *n != host)
            .collect();
        let Some(cf) = conmons
            .iter()
            .find(|(_, ns)| !ns.is_disjoint(&nets))
            .and_then(|(c, _)| container::forwarder(c))
        else {
            continue;
        };
        if let Some(id) = adopt_conmon_container(cf, &on_disk, table) {
            table.forwarded.push((f.pid, id));
        }
    }
}

/// Ask user `uid`'s own podman API socket (when it serves one) for its
/// containers; record the probe either way.
fn list_user_podman(uid: u32, table: &mut ContainerTable) {
    let sock = PathBuf::from(format!("/run/user/{uid}/podman/podman.sock"));
    if !sock.exists() {
        return;
    }
    let shown = sock.to_string_lossy().into_owned();
    match list(Engine::Podman, &sock) {
        Ok(cs) => {
            for c in cs {
                if table.by_id(Engine::Podman, &c.id).is_none() {
                    table.containers.push(c);
                }
            }
            table.probes.push(EngineProbe {
                engine: Engine::Podman,
                socket: shown,
                error: None,
            });
        }
        Err(e) => table.probes.push(EngineProbe {
            engine: Engine::Podman,
            socket: shown.clone(),
            error: Some(format!("{shown}: {e}")),
        }),
    }
}

/// The container id a conmon's command line names; a container the API
/// did not list is added from what conmon and the disk say.
fn adopt_conmon_container(
    cf: container::Forwarder,
    on_disk: &[Container],
    table: &mut ContainerTable,
) -> Option<String> {
    if table.by_id(Engine::Podman, cf.id.as_deref()?).is_none() {
        let id = cf.id.as_deref()?;
        let mut c = Container::bare(Engine::Podman, id);
        c.name = cf.name.clone();
        c.image = on_disk
            .iter()
            .find(|d| d.id == id)
            .and_then(|d| d.image.clone());
        table.containers.push(c);
    }
    cf.id
}

/// Every conmon of the snapshot with its command line read (a rootless
/// container's conmon is no relative of the holder, so discovery did not
/// read it in detail).
fn conmons(snap: &Snapshot) -> Vec<Process> {
    snap.processes
        .values()
        .filter(|p| p.name == "conmon")
        .map(|p| {
            let mut p = p.clone();
            if !p.detailed {
                crate::os::procfs::fill_details(&mut p);
            }
            p
        })
        .collect()
}

/// The network namespaces of every thread of `pid` (a Go program may keep
/// one thread in another namespace).
fn task_netns(pid: crate::model::Pid) -> HashSet<PathBuf> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return HashSet::new();
    };
    tasks
        .flatten()
        .take(1024)
        .filter_map(|t| std::fs::read_link(t.path().join("ns/net")).ok())
        .collect()
}

/// What root can read of the engine's state on disk.
fn from_disk(engine: Engine, snap: &Snapshot) -> Vec<Container> {
    match engine {
        Engine::Docker => {
            let root = docker_data_root(snap);
            let Ok(dir) = std::fs::read_dir(root.join("containers")) else {
                return Vec::new();
            };
            dir.flatten()
                .take(MAX_DIRS)
                .filter_map(|e| read_small(&e.path().join("config.v2.json")))
                .filter_map(|t| container::parse_config_v2(&t))
                .collect()
        }
        Engine::Podman => podman_storage_dirs(snap)
            .iter()
            .filter_map(|d| read_small(&d.join("containers.json")))
            .flat_map(|t| container::parse_podman_containers_json(&t))
            .collect(),
    }
}

fn read_small(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut s = String::new();
    f.take(MAX_FILE).read_to_string(&mut s).ok()?;
    Some(s)
}

/// dockerd's `--data-root` (or old `-g`/`--graph`) from its command line
/// in the snapshot, else `/var/lib/docker`.
fn docker_data_root(snap: &Snapshot) -> PathBuf {
    snap.processes
        .values()
        .filter(|p| p.name == "dockerd")
        .find_map(|p| {
            container::flag_value(
                p.cmdline.get(1..).unwrap_or(&[]),
                &["data-root", "g", "graph"],
            )
            .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("/var/lib/docker"))
}

/// Podman's `overlay-containers` directories: from conmon's `-b
/// <storage>/overlay-containers/<id>/userdata`, plus the rootful default.
fn podman_storage_dirs(snap: &Snapshot) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = conmons(snap)
        .iter()
        .filter_map(|p| {
            let b = container::flag_value(p.cmdline.get(1..).unwrap_or(&[]), &["b", "bundle"])?;
            Some(Path::new(b).parent()?.parent()?.to_path_buf())
        })
        .collect();
    dirs.push(PathBuf::from(
        "/var/lib/containers/storage/overlay-containers",
    ));
    dirs.sort();
    dirs.dedup();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_with_length_chunks_and_none() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]", false)
            .expect("complete")
            .expect("valid");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"[]"[..]));
        // Incomplete until the length is there.
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n[]", false).is_none());
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[{}]\r\n3;x=y\r\n,{}\r\n0\r\n\r\n";
        let r = parse_response(chunked, false)
            .expect("complete")
            .expect("valid");
        assert_eq!(r.body, b"[{}],{}".to_vec());
        assert!(parse_response(&chunked[..60], false).is_none());
        let r = parse_response(b"HTTP/1.1 204 No Content\r\n\r\n", false)
            .expect("complete")
            .expect("valid");
        assert_eq!(r.status, 204);
        let r = parse_response(b"HTTP/1.0 200 OK\r\n\r\nabc", true)
            .expect("complete")
            .expect("valid");
        assert_eq!(r.body, b"abc".to_vec());
        assert!(matches!(
            parse_response(b"garbage\r\n\r\n", true),
            Some(Err(_))
        ));
        assert!(matches!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                true
            ),
            Some(Err(_))
        ));
    }

    #[test]
    fn engine_error_messages() {
        assert_eq!(
            api_message(br#"{"message":"No such container: x"}"#),
            "No such container: x"
        );
        assert_eq!(api_message(b"  plain  "), "plain");
    }

    #[test]
    fn stop_refuses_what_is_not_an_id() {
        let e = stop(Path::new("/nonexistent"), "../../x", Duration::from_secs(1))
            .expect_err("not an id");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_silent_engine_times_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("silent.sock");
        // Accepts (the kernel's backlog does) but never answers.
        let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let e = request(&path, "GET", "/containers/json", Duration::from_millis(200))
            .expect_err("no answer");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    }

    #[test]
    fn a_dead_socket_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = list(Engine::Docker, &dir.path().join("none.sock")).expect_err("no socket");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
