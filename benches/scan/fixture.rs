//! The load fixture: N processes × M fds, K of them loopback listeners —
//! the hidden child mode and the parent side that starts and tears it down.

use super::*;

// ---------------------------------------------------------------------------
// Fixture child (hidden mode)
// ---------------------------------------------------------------------------

/// The fixture child: open `--fds` descriptors (one of them a listener with
/// `--listen`), announce `ready <pid> <port>` on stdout, then block reading
/// stdin until the bench closes it (or dies).
pub(crate) fn fixture_child(args: &[OsString]) -> Result<()> {
    let a = ChildArgs::parse(args)?;
    if !prepare_child(&a)? {
        return Ok(());
    }
    ensure_nofile(a.fds + 16)?;
    let (keep, port) = open_fds(a.fds, a.listen)?;
    announce_ready(port)?;
    wait_for_eof();
    drop(keep);
    Ok(())
}

/// The fixture child's command line.
struct ChildArgs {
    fds: usize,
    listen: bool,
    ignore_term: bool,
    parent: Option<i32>,
}

impl ChildArgs {
    fn parse(args: &[OsString]) -> Result<ChildArgs> {
        let mut c = ChildArgs {
            fds: 0,
            listen: false,
            ignore_term: false,
            parent: None,
        };
        let mut it = args.iter().map(|a| a.to_str().unwrap_or(""));
        while let Some(a) = it.next() {
            match a {
                "--fds" => c.fds = it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
                "--parent" => c.parent = it.next().and_then(|v| v.parse().ok()),
                "--listen" => c.listen = true,
                "--ignore-term" => c.ignore_term = true,
                other => bail!("unknown child argument {other:?}"),
            }
        }
        Ok(c)
    }
}

/// Signals of a fixture child: SIGTERM kills it (or, with
/// `--ignore-term`, never does), and it dies with the bench. `false` when
/// the bench is already gone.
fn prepare_child(a: &ChildArgs) -> Result<bool> {
    // The bench blocks these for its sigwait thread and the mask survived
    // exec; a fixture child must die of SIGTERM like any server.
    SigSet::empty()
        .thread_set_mask()
        .wrap_err("clearing the signal mask")?;
    // Die with the bench even when it is SIGKILLed. The parent check closes
    // the window where the bench died before prctl ran.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).wrap_err("PR_SET_PDEATHSIG")?;
    if let Some(p) = a.parent
        && nix::unistd::getppid().as_raw() != p
    {
        return Ok(false);
    }
    if a.ignore_term {
        // A blocked SIGTERM stays pending forever: the same effect on a kill
        // as SIG_IGN, without a signal handler (std resets the mask at exec,
        // so this is ours to set).
        let mut set = SigSet::empty();
        set.add(Signal::SIGTERM);
        set.thread_block().wrap_err("blocking SIGTERM")?;
    }
    Ok(true)
}

/// Open `fds` descriptors, the first a 127.0.0.1 listener if `listen`;
/// them and the listener's port (0 without).
fn open_fds(fds: usize, listen: bool) -> Result<(Vec<OwnedFd>, u16)> {
    // A server-like mix: mostly files, one pipe pair and one unix socket
    // pair per ten fds. The socketpairs matter: their `socket:[N]` links must
    // be compared against the wanted set, unlike files.
    let mut keep: Vec<OwnedFd> = Vec::with_capacity(fds);
    let mut port = 0u16;
    if listen && fds > 0 {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).wrap_err("bind 127.0.0.1:0")?;
        port = l.local_addr()?.port();
        keep.push(l.into());
    }
    let mut slot = 0usize;
    while keep.len() < fds {
        let room = fds - keep.len();
        match slot % 10 {
            0 if room >= 2 => {
                let (r, w) = io::pipe()?;
                keep.push(r.into());
                keep.push(w.into());
            }
            5 if room >= 2 => {
                let (a, b) = UnixStream::pair()?;
                keep.push(a.into());
                keep.push(b.into());
            }
            _ => keep.push(File::open("/dev/null")?.into()),
        }
        slot += 1;
    }
    Ok((keep, port))
}

/// `ready <pid> <port>` on stdout.
fn announce_ready(port: u16) -> Result<()> {
    // One write(2) of fewer than PIPE_BUF bytes: atomic even though every
    // fixture child shares the same stdout pipe.
    let line = format!("ready {} {port}\n", std::process::id());
    let mut out = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    out.write_all(line.as_bytes())?;
    Ok(())
}

/// Block until stdin ends: the bench closed it, or died.
fn wait_for_eof() {
    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 64];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

// ---------------------------------------------------------------------------
// Fixture (parent side)
// ---------------------------------------------------------------------------

/// The running fixture. Dropping it tears it down.
pub(crate) struct Fixture {
    pub(crate) children: Vec<Proc>,
    /// The only write end of the children's shared stdin: closing it ends
    /// them all (EOF), even if the SIGKILLs below never ran.
    pub(crate) stdin_w: Option<io::PipeWriter>,
    /// listener port → holder pid.
    pub(crate) listeners: BTreeMap<u16, u32>,
    pub(crate) ready_in: Duration,
}

impl Fixture {
    /// Start every child and wait (bounded) until each announced itself.
    pub(crate) fn spawn(cfg: &Config) -> Result<Fixture> {
        let t0 = Instant::now();
        progress(format!(
            "spawning {} fixture processes × {} fds ({} listeners)…",
            cfg.procs, cfg.fds, cfg.listeners
        ));
        let (stdin_r, stdin_w) = io::pipe()?;
        let (ready_r, ready_w) = io::pipe()?;
        let mut fx = Fixture {
            children: Vec::with_capacity(cfg.procs),
            stdin_w: Some(stdin_w),
            listeners: BTreeMap::new(),
            ready_in: Duration::ZERO,
        };
        // Generous, but bounded: ~ 20 ms per child on a slow box.
        let deadline = t0 + Duration::from_secs(30) + Duration::from_millis(20 * cfg.procs as u64);
        fx.spawn_children(cfg, &stdin_r, &ready_w, deadline)?;
        // Only the children hold write ends now: EOF means they all died.
        drop(ready_w);
        drop(stdin_r);
        fx.listeners = await_ready(cfg, ready_r, deadline)?;
        if fx.listeners.len() != cfg.listeners {
            bail!(
                "expected {} listeners, {} reported a port",
                cfg.listeners,
                fx.listeners.len()
            );
        }
        fx.ready_in = t0.elapsed();
        progress(format!(
            "fixture ready in {:.1} s",
            fx.ready_in.as_secs_f64()
        ));
        Ok(fx)
    }

    /// Start the children (listeners spread evenly over them), all reading
    /// `stdin_r` and announcing on `ready_w`.
    fn spawn_children(
        &mut self,
        cfg: &Config,
        stdin_r: &io::PipeReader,
        ready_w: &io::PipeWriter,
        deadline: Instant,
    ) -> Result<()> {
        let me = std::process::id().to_string();
        let fds = cfg.fds.to_string();
        for i in 0..cfg.procs {
            let listen = (i * cfg.listeners) / cfg.procs != ((i + 1) * cfg.listeners) / cfg.procs;
            let mut cmd = Command::new(&cfg.exe);
            cmd.args([CHILD_MODE, "--fds", &fds, "--parent", &me]);
            if listen {
                cmd.arg("--listen");
            }
            if !cfg.shared_group {
                cmd.process_group(0);
            }
            cmd.stdin(Stdio::from(stdin_r.try_clone()?))
                .stdout(Stdio::from(ready_w.try_clone()?))
                .stderr(Stdio::inherit());
            self.children.push(Proc::spawn(&mut cmd)?);
            if Instant::now() >= deadline {
                bail!(
                    "spawning the fixture is too slow ({i} of {} in time)",
                    cfg.procs
                );
            }
        }
        Ok(())
    }
}

/// Read `ready <pid> <port>` lines until every child announced itself:
/// listener port → holder pid.
fn await_ready(
    cfg: &Config,
    mut ready_r: io::PipeReader,
    deadline: Instant,
) -> Result<BTreeMap<u16, u32>> {
    let mut listeners = BTreeMap::new();
    let mut pending = String::new();
    let mut ready = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    while ready < cfg.procs {
        if !wait_readable(ready_r.as_fd(), deadline)? {
            bail!(
                "only {ready} of {} fixture processes became ready in time",
                cfg.procs
            );
        }
        let n = match ready_r.read(&mut buf) {
            Ok(0) => bail!(
                "fixture processes died: {ready} of {} were ready",
                cfg.procs
            ),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).wrap_err("reading fixture readiness"),
        };
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(nl) = pending.find('\n') {
            let line: String = pending.drain(..=nl).collect();
            let (pid, port) = parse_ready(&line)?;
            if port != 0 {
                listeners.insert(port, pid);
            }
            ready += 1;
        }
    }
    Ok(listeners)
}

pub(crate) fn parse_ready(line: &str) -> Result<(u32, u16)> {
    let mut w = line.split_ascii_whitespace();
    match (w.next(), w.next(), w.next()) {
        (Some("ready"), Some(pid), Some(port)) => Ok((pid.parse()?, port.parse()?)),
        _ => bail!("bad readiness line from a fixture child: {line:?}"),
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // EOF first (every child wakes and exits by itself), then SIGKILL so
        // teardown does not depend on them being well-behaved.
        drop(self.stdin_w.take());
        let reg = registry();
        for c in &mut self.children {
            if c.reaped.is_none() {
                let _ = c.child.kill();
            }
        }
        drop(reg);
        let deadline = Instant::now() + Duration::from_secs(30);
        for c in &mut self.children {
            if let Err(e) = c.reap(deadline) {
                progress(format!("warning: fixture teardown: {e:#}"));
            }
        }
        self.children.clear();
    }
}

/// A listener holder for the kill phase: its own process group, like a
/// server started from a shell.
pub(crate) struct Holder {
    pub(crate) proc: Proc,
    pub(crate) port: u16,
    // Keeps the holder's stdin open: it exits when this closes.
    pub(crate) _stdin: ChildStdin,
}

pub(crate) fn spawn_holder(cfg: &Config, ignore_term: bool) -> Result<Holder> {
    let mut cmd = Command::new(&cfg.exe);
    cmd.args([
        CHILD_MODE,
        "--fds",
        "8",
        "--listen",
        "--parent",
        &std::process::id().to_string(),
    ]);
    if ignore_term {
        cmd.arg("--ignore-term");
    }
    cmd.process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut proc = Proc::spawn(&mut cmd)?;
    let stdin = proc
        .child
        .stdin
        .take()
        .ok_or_else(|| eyre!("holder has no stdin pipe"))?;
    let mut stdout = proc
        .child
        .stdout
        .take()
        .ok_or_else(|| eyre!("holder has no stdout pipe"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut line = Vec::new();
    let mut buf = [0u8; 128];
    while !line.contains(&b'\n') {
        if !wait_readable(stdout.as_fd(), deadline)? {
            bail!("holder did not become ready in 10 s");
        }
        match stdout.read(&mut buf) {
            Ok(0) => bail!("holder exited before it was ready"),
            Ok(n) => line.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).wrap_err("reading holder readiness"),
        }
    }
    let (_, port) = parse_ready(&String::from_utf8_lossy(&line))?;
    Ok(Holder {
        proc,
        port,
        _stdin: stdin,
    })
}
