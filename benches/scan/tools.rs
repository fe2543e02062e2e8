//! Running the tools side by side (portwarden, ss, lsof, netstat2) with
//! bounded waits, and the (proto, port, pid) sets they report.

use super::*;

// ---------------------------------------------------------------------------
// Running tools
// ---------------------------------------------------------------------------

/// One finished tool run.
pub(crate) struct Ran {
    pub(crate) out: Vec<u8>,
    /// Spawn to exit (observed by pidfd, before reaping).
    pub(crate) wall: Duration,
    pub(crate) status: ExitStatus,
    /// The child's user + sys (clock ticks, via our cutime/cstime).
    pub(crate) cpu: Duration,
    /// Peak RSS in KiB, when probed.
    pub(crate) hwm_kb: Option<u64>,
}

/// Run `cmd` to completion with stdout captured, bounded by `timeout`.
///
/// With `probe_rss`, the stdout pipe is shrunk to one page so the child
/// blocks on its output while its memory is still mapped, and VmHWM (the
/// same high-water mark as wait4's ru_maxrss) is sampled each time the pipe
/// fills. The std library has no wait4, and nix's `resource` feature (for
/// getrusage(RUSAGE_CHILDREN)) is not enabled in this crate.
pub(crate) fn run_capture(cmd: &mut Command, timeout: Duration, probe_rss: bool) -> Result<Ran> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let what = format!("{:?}", cmd.get_program());
    let cpu0 = children_cpu_ticks()?;
    let t0 = Instant::now();
    let deadline = t0 + timeout;
    let mut p = Proc::spawn(cmd)?;
    let pid = p.id();
    let pfd = pidfd(pid)?;
    let mut stdout = p
        .child
        .stdout
        .take()
        .ok_or_else(|| eyre!("no stdout pipe"))?;
    if probe_rss {
        rustix::pipe::fcntl_setpipe_size(&stdout, 4096).wrap_err("F_SETPIPE_SZ")?;
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut hwm: Option<u64> = None;
    loop {
        // When probing, also wake every millisecond to sample: a program
        // whose whole output fits in the pipe never blocks on it.
        let wake = if probe_rss {
            deadline.min(Instant::now() + Duration::from_millis(1))
        } else {
            deadline
        };
        let readable = wait_readable(stdout.as_fd(), wake)?;
        if probe_rss && let Some(k) = vm_hwm_kb(pid) {
            hwm = Some(hwm.unwrap_or(0).max(k));
        }
        if !readable {
            if Instant::now() >= deadline {
                bail!("{what} timed out after {timeout:?}");
            }
            continue;
        }
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).wrap_err_with(|| format!("reading {what}")),
        }
    }
    if !wait_readable(pfd.as_fd(), deadline)? {
        bail!("{what} closed stdout but did not exit within {timeout:?}");
    }
    let wall = t0.elapsed();
    let status = p.reap(deadline)?;
    let cpu = ticks(children_cpu_ticks()?.saturating_sub(cpu0));
    Ok(Ran {
        out,
        wall,
        status,
        cpu,
        hwm_kb: hwm,
    })
}

/// (proto, port, pid) of every listening socket; pid 0 for a socket with no
/// visible holder.
pub(crate) type Tuples = BTreeSet<(String, u16, u32)>;

pub(crate) fn tuples_from_portwarden(json: &[u8]) -> Result<Tuples> {
    let v: serde_json::Value =
        serde_json::from_slice(json).wrap_err("portwarden list --json is not JSON")?;
    let mut out = Tuples::new();
    let socks = v["sockets"]
        .as_array()
        .ok_or_else(|| eyre!("list --json has no sockets array"))?;
    for s in socks {
        let proto = s["proto"].as_str().unwrap_or("?").to_string();
        let port = s["port"].as_u64().unwrap_or(0) as u16;
        let holders = s["holders"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if holders.is_empty() {
            out.insert((proto.clone(), port, 0));
        }
        for h in holders {
            out.insert((proto.clone(), port, h["pid"].as_u64().unwrap_or(0) as u32));
        }
    }
    Ok(out)
}

/// Parse `ss -ltunpH`: `tcp LISTEN 0 128 127.0.0.1:4000 0.0.0.0:* users:(("x",pid=12,fd=3),…)`.
pub(crate) fn tuples_from_ss(text: &[u8]) -> Tuples {
    let mut out = Tuples::new();
    for line in String::from_utf8_lossy(text).lines() {
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        let (Some(proto), Some(local)) = (cols.first(), cols.get(4)) else {
            continue;
        };
        let Some(port) = local.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        let pids: BTreeSet<u32> = line
            .match_indices("pid=")
            .filter_map(|(i, m)| {
                let rest = &line[i + m.len()..];
                let end = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                rest[..end].parse().ok()
            })
            .collect();
        if pids.is_empty() {
            out.insert((proto.to_string(), port, 0));
        }
        for pid in pids {
            out.insert((proto.to_string(), port, pid));
        }
    }
    out
}

pub(crate) fn portwarden_tuples(cfg: &Config) -> Result<Tuples> {
    let ran = run_capture(
        Command::new(&cfg.portwarden)
            .args(["list", "--json"])
            .stderr(Stdio::inherit()),
        TOOL_TIMEOUT,
        false,
    )?;
    if !ran.status.success() {
        bail!("portwarden list --json failed: {}", ran.status);
    }
    tuples_from_portwarden(&ran.out)
}

pub(crate) fn ss_tuples(ss: &Path) -> Result<Tuples> {
    let ran = run_capture(
        Command::new(ss).arg("-ltunpH").stderr(Stdio::null()),
        TOOL_TIMEOUT,
        false,
    )?;
    if !ran.status.success() {
        bail!("ss -ltunpH failed: {}", ran.status);
    }
    Ok(tuples_from_ss(&ran.out))
}

/// Up to three ss → portwarden → ss rounds; the differences of the last
/// round (empty = agreement): tuples both ss runs saw that portwarden
/// missed, and tuples portwarden showed that neither ss run saw.
pub(crate) fn stable_set_check(cfg: &Config, ss: &Path) -> Result<Vec<String>> {
    let mut diffs = Vec::new();
    for round in 0..3 {
        progress(format!(
            "result-set recheck ss → portwarden → ss, round {}",
            round + 1
        ));
        let before = ss_tuples(ss)?;
        let pw = portwarden_tuples(cfg)?;
        let after = ss_tuples(ss)?;
        diffs.clear();
        for t in before.intersection(&after).filter(|t| !pw.contains(*t)) {
            diffs.push(format!("missed by portwarden: {} {} pid {}", t.0, t.1, t.2));
        }
        for t in pw
            .iter()
            .filter(|t| !before.contains(*t) && !after.contains(*t))
        {
            diffs.push(format!("only portwarden: {} {} pid {}", t.0, t.1, t.2));
        }
        if diffs.is_empty() {
            break;
        }
    }
    Ok(diffs)
}

pub(crate) fn tuples_from_snapshot(snap: &Snapshot) -> Tuples {
    let mut out = Tuples::new();
    for s in &snap.sockets {
        if s.holders.is_empty() {
            out.insert((s.proto.to_string(), s.port, 0));
        }
        for &h in &s.holders {
            out.insert((s.proto.to_string(), s.port, h as u32));
        }
    }
    out
}
