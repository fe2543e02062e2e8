//! Phase: the TUI's CPU use while idle, in tmux.

use super::*;

// ---------------------------------------------------------------------------
// Phase: TUI idle CPU
// ---------------------------------------------------------------------------

pub(crate) fn tmux(sock: &str) -> Command {
    let mut c = clean_command("tmux");
    c.args(["-L", sock, "-f", "/dev/null"]);
    c
}

/// Kill the tmux server on `sock` and remove its socket file (tmux leaves it
/// behind when the server is killed).
pub(crate) fn kill_tmux_server(sock: &str) {
    stop_tmux_server(sock);
    let dir = std::env::var_os("TMUX_TMPDIR").unwrap_or_else(|| "/tmp".into());
    let uid = rustix::process::getuid().as_raw();
    let _ = std::fs::remove_file(Path::new(&dir).join(format!("tmux-{uid}")).join(sock));
}

pub(crate) fn stop_tmux_server(sock: &str) {
    let Ok(mut child) = tmux(sock)
        .arg("kill-server")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The tmux server of the TUI phase: killed on drop (and by the signal
/// thread, which finds it in the registry).
pub(crate) struct TmuxServer {
    pub(crate) sock: String,
    /// pidfd of the pane's process, once known: kill-server only sends it
    /// SIGHUP, so drop waits for it and SIGKILLs it if it lingers.
    pub(crate) pane: Option<OwnedFd>,
}

impl TmuxServer {
    pub(crate) fn start(sock: String, program: &Path) -> Result<TmuxServer> {
        registry().tmux.push(sock.clone());
        let server = TmuxServer { sock, pane: None };
        // Several arguments: tmux runs them without a shell; `sh -c exec`
        // makes the pane's pid portwarden's own.
        let ran = run_capture(
            tmux(&server.sock)
                .args(["new-session", "-d", "-x", "80", "-y", "24", "-s", "pw"])
                .args(["sh", "-c", "exec \"$0\""])
                .arg(program)
                .stderr(Stdio::inherit()),
            Duration::from_secs(10),
            false,
        )?;
        if !ran.status.success() {
            bail!("tmux new-session failed: {}", ran.status);
        }
        Ok(server)
    }

    pub(crate) fn pane_pid(&self) -> Result<Option<u32>> {
        let ran = run_capture(
            tmux(&self.sock)
                .args(["list-panes", "-t", "pw", "-F", "#{pane_pid}"])
                .stderr(Stdio::null()),
            Duration::from_secs(10),
            false,
        )?;
        Ok(String::from_utf8_lossy(&ran.out).trim().parse().ok())
    }
}

impl Drop for TmuxServer {
    fn drop(&mut self) {
        kill_tmux_server(&self.sock);
        if let Some(fd) = &self.pane
            && !matches!(
                wait_readable(fd.as_fd(), Instant::now() + Duration::from_secs(3)),
                Ok(true)
            )
        {
            let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
        }
        registry().tmux.retain(|s| s != &self.sock);
    }
}

pub(crate) fn is_portwarden(pid: u32) -> bool {
    read_trimmed(&format!("/proc/{pid}/comm")).is_some_and(|c| c == "portwarden")
}

/// Phase: the TUI's idle CPU at the default interval, in an 80×24 tmux
/// pane, against its target (pending when tmux or the TUI is missing).
pub(crate) fn phase_tui(
    cfg: &Config,
    list_wall: Option<Duration>,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let metric = "TUI idle CPU at the default interval (80×24 tmux)";
    let target = format!("≤ {TARGET_TUI_IDLE_PCT:.0} % of a core");
    let pending = |why: &str, rows: &mut Vec<Row>| {
        rows.push(Row::new(
            metric,
            why,
            "—",
            "—",
            target.clone(),
            Verdict::Pending,
        ));
    };
    if find_in_path("tmux").is_none() {
        pending("tmux not installed", rows);
        return Ok(());
    }
    progress(format!("TUI idle: {} s under tmux…", cfg.tui_secs));
    let mut server = TmuxServer::start(
        format!("portwarden-bench-{}", std::process::id()),
        &cfg.portwarden,
    )?;
    // Let the first (cold) scan finish before the window opens.
    let settle = Duration::from_secs(3).max(list_wall.unwrap_or_default() * 3);
    let pane = server.pane_pid()?;
    server.pane = pane.and_then(|p| pidfd(p).ok());
    thread::sleep(settle);
    let Some(pid) = pane.filter(|&p| is_portwarden(p)) else {
        pending(
            "pending: `portwarden` with no arguments exited (no TUI yet)",
            rows,
        );
        notes.push("TUI: `portwarden` without arguments did not stay running under tmux (it printed the list and exited), so its idle CPU is pending until the TUI is merged.".into());
        return Ok(());
    };
    let (pct, window) = match idle_cpu(cfg, server, pid) {
        Ok(m) => m,
        Err(why) => {
            pending(why, rows);
            return Ok(());
        }
    };
    rows.push(Row::new(
        metric,
        format!("{pct:.2} %"),
        "—",
        "—",
        target,
        Verdict::judge(pct <= TARGET_TUI_IDLE_PCT),
    ));
    notes.push(format!(
        "TUI: utime+stime of the pane's portwarden over {:.1} s after a {:.1} s settle; resolution {:.2} %.",
        window.as_secs_f64(),
        settle.as_secs_f64(),
        100.0 / portwarden::os::clk_tck() as f64 / window.as_secs_f64()
    ));
    Ok(())
}

/// The TUI `pid`'s CPU (percent of a core) over a `--tui-secs` window, and
/// the window; the tmux server is gone afterwards. `Err` says why there is
/// no figure (the TUI exited).
fn idle_cpu(cfg: &Config, server: TmuxServer, pid: u32) -> Result<(f64, Duration), &'static str> {
    let who = pid.to_string();
    let (Some(c0), t0) = (stat_sum(&who, &[14, 15]), Instant::now()) else {
        return Err("pending: TUI exited");
    };
    thread::sleep(Duration::from_secs(cfg.tui_secs));
    let c1 = stat_sum(&who, &[14, 15]).filter(|_| is_portwarden(pid));
    let window = t0.elapsed();
    drop(server);
    let Some(c1) = c1 else {
        return Err("pending: TUI exited during the window");
    };
    let pct = ticks(c1.saturating_sub(c0)).as_secs_f64() / window.as_secs_f64() * 100.0;
    Ok((pct, window))
}
