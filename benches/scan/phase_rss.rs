//! Phase: peak RSS of one `list --json` on the fixture.

use super::*;

// ---------------------------------------------------------------------------
// Phase: peak RSS
// ---------------------------------------------------------------------------

/// Phase: peak RSS (VmHWM) of `list --json` against its target, with
/// `ss`'s as the reference and GNU time's ru_maxrss as a second opinion.
pub(crate) fn phase_rss(cfg: &Config, rows: &mut Vec<Row>, notes: &mut Vec<String>) -> Result<()> {
    progress("peak RSS of list --json…");
    let mut peak = 0u64;
    for _ in 0..3 {
        let ran = run_capture(
            Command::new(&cfg.portwarden)
                .args(["list", "--json"])
                .stderr(Stdio::inherit()),
            TOOL_TIMEOUT,
            true,
        )?;
        if !ran.status.success() {
            bail!("portwarden list --json failed: {}", ran.status);
        }
        peak = peak.max(ran.hwm_kb.unwrap_or(0));
    }
    let reference = match find_in_path("ss") {
        Some(ss) => {
            let ran = run_capture(
                Command::new(ss).arg("-ltunpH").stderr(Stdio::null()),
                TOOL_TIMEOUT,
                true,
            )?;
            ran.hwm_kb
        }
        None => None,
    };
    let pw_mb = mb(peak);
    rows.push(Row::new(
        "peak RSS of `list --json`",
        format!("{pw_mb:.1} MB"),
        reference
            .map(|k| format!("ss {:.1} MB", mb(k)))
            .unwrap_or_else(|| "—".into()),
        reference
            .filter(|&k| k > 0)
            .map(|k| format!("{:.1}×", peak as f64 / k as f64))
            .unwrap_or_else(|| "—".into()),
        format!("≤ {TARGET_RSS_MB:.0} MB"),
        if peak == 0 {
            Verdict::Pending
        } else {
            Verdict::judge(pw_mb <= TARGET_RSS_MB)
        },
    ));
    if let Some(k) = gnu_time_maxrss(cfg)? {
        notes.push(format!(
            "Peak RSS is VmHWM sampled while `list` blocks on a one-page stdout pipe (max of 3 runs); \
             cross-check with GNU time's ru_maxrss: {:.1} MB.",
            mb(k)
        ));
    }
    Ok(())
}

/// kB → MB.
fn mb(kb: u64) -> f64 {
    kb as f64 * 1024.0 / 1e6
}

/// A second opinion from wait4's ru_maxrss (kB) of one `list --json`, when
/// GNU time is installed and the run succeeded.
fn gnu_time_maxrss(cfg: &Config) -> Result<Option<u64>> {
    if !Path::new("/usr/bin/time").is_file() {
        return Ok(None);
    }
    let tmp = tempfile::NamedTempFile::new()?;
    let ran = run_capture(
        Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(tmp.path())
            .arg(&cfg.portwarden)
            .args(["list", "--json"])
            .stderr(Stdio::inherit()),
        TOOL_TIMEOUT,
        false,
    )?;
    let maxrss = std::fs::read_to_string(tmp.path())
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse::<u64>().ok()));
    Ok(maxrss.filter(|_| ran.status.success()))
}
