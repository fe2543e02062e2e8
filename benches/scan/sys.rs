//! Small OS helpers: /proc readers, CPU ticks, peak RSS, pidfds, medians,
//! and the process and fd limits the fixture needs.

use super::*;

// ---------------------------------------------------------------------------
// Small OS helpers
// ---------------------------------------------------------------------------

pub(crate) fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The fields of `/proc/<who>/stat` after the `(comm)`; index 0 is field 3
/// (state), so field N is index N - 3.
pub(crate) fn stat_fields(who: &str) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{who}/stat")).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    Some(rest.split_ascii_whitespace().map(str::to_string).collect())
}

pub(crate) fn stat_sum(who: &str, fields: &[usize]) -> Option<u64> {
    let f = stat_fields(who)?;
    fields
        .iter()
        .map(|&n| f.get(n - 3).and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

pub(crate) fn ticks(n: u64) -> Duration {
    Duration::from_secs_f64(n as f64 / portwarden::os::clk_tck() as f64)
}

/// utime + stime of this whole process (every thread, live or exited), in
/// clock ticks. Coarse (10 ms) but complete; phases average over many scans.
/// getrusage would give µs, but nix's `resource` feature is not enabled.
pub(crate) fn self_cpu_ticks() -> Result<u64> {
    stat_sum("self", &[14, 15]).ok_or_else(|| eyre!("cannot read /proc/self/stat"))
}

/// cutime + cstime: CPU of reaped children, in clock ticks.
pub(crate) fn children_cpu_ticks() -> Result<u64> {
    stat_sum("self", &[16, 17]).ok_or_else(|| eyre!("cannot read /proc/self/stat"))
}

/// VmHWM (peak RSS, KiB) of a live process.
pub(crate) fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_ascii_whitespace().nth(1)?.parse().ok()
}

pub(crate) fn pidfd(pid: u32) -> Result<OwnedFd> {
    let p = rustix::process::Pid::from_raw(pid as i32).ok_or_else(|| eyre!("bad pid {pid}"))?;
    pidfd_open(p, PidfdFlags::empty()).wrap_err_with(|| format!("pidfd_open({pid})"))
}

/// Wait until `fd` is readable (or hung up), at most until `deadline`.
/// A pidfd becomes readable when its process exits — without reaping it.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, deadline: Instant) -> Result<bool> {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let rem = deadline - now;
        let ts = Timespec {
            tv_sec: rem.as_secs() as i64,
            tv_nsec: i64::from(rem.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(e).wrap_err("poll"),
        }
    }
}

pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

pub(crate) fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) fn median_ms(v: &[Duration]) -> f64 {
    median(&v.iter().map(|d| ms(*d)).collect::<Vec<_>>())
}

/// Refuse early, with a clear message, when the machine cannot hold the
/// fixture (fd and process limits), and raise our own fd limit.
pub(crate) fn preflight(cfg: &Config) -> Result<()> {
    ensure_nofile(256)?;
    let pid_max: usize = read_trimmed("/proc/sys/kernel/pid_max")
        .and_then(|s| s.parse().ok())
        .unwrap_or(32768);
    let running = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|s| s.parse::<u32>().is_ok())
                })
                .count()
        })
        .unwrap_or(0);
    // Each kill run and tool run adds a process or two on top.
    if running + cfg.procs + 64 > pid_max {
        bail!(
            "{} processes already run and the fixture needs {} more, but pid_max is {pid_max}",
            running,
            cfg.procs
        );
    }
    let nproc = getrlimit(Resource::Nproc).current;
    if let Some(n) = nproc
        && rustix::process::geteuid().as_raw() != 0
        && (running + cfg.procs + 64) as u64 > n
    {
        progress(format!(
            "warning: RLIMIT_NPROC is {n}; {} fixture processes may not fit",
            cfg.procs
        ));
    }
    let hard = getrlimit(Resource::Nofile).maximum;
    if let Some(h) = hard
        && (cfg.fds as u64 + 16) > h
    {
        bail!(
            "--fds {} exceeds the hard RLIMIT_NOFILE ({h}) a child could raise itself to",
            cfg.fds
        );
    }
    Ok(())
}

/// Raise the soft RLIMIT_NOFILE to at least `need` (up to the hard limit).
pub(crate) fn ensure_nofile(need: usize) -> Result<()> {
    let need = need as u64;
    let lim = getrlimit(Resource::Nofile);
    if lim.current.is_none_or(|c| c >= need) {
        return Ok(());
    }
    if lim.maximum.is_some_and(|m| m < need) {
        bail!(
            "need {need} open files but the hard RLIMIT_NOFILE is {:?}",
            lim.maximum
        );
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(need),
            maximum: lim.maximum,
        },
    )
    .wrap_err("raising RLIMIT_NOFILE")
}
