//! The report: rows with targets and verdicts, printed as a table.

use super::*;

// ---------------------------------------------------------------------------
// Report rows
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    Fail,
    Info,
    Pending,
}

impl Verdict {
    pub(crate) fn judge(ok: bool) -> Verdict {
        if ok { Verdict::Pass } else { Verdict::Fail }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "**pass**",
            Verdict::Fail => "**FAIL**",
            Verdict::Info => "info",
            Verdict::Pending => "pending",
        }
    }
}

pub(crate) struct Row {
    pub(crate) metric: String,
    pub(crate) portwarden: String,
    pub(crate) reference: String,
    pub(crate) ratio: String,
    pub(crate) target: String,
    pub(crate) verdict: Verdict,
}

impl Row {
    pub(crate) fn new(
        metric: impl Into<String>,
        portwarden: impl Into<String>,
        reference: impl Into<String>,
        ratio: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
    ) -> Row {
        Row {
            metric: metric.into(),
            portwarden: portwarden.into(),
            reference: reference.into(),
            ratio: ratio.into(),
            target: target.into(),
            verdict,
        }
    }
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

/// `YYYY-MM-DD HH:MM UTC`, from the library's own formatter.
pub(crate) fn utc_now() -> String {
    let t = portwarden::timefmt::utc(portwarden::timefmt::now());
    format!("{} UTC", t.get(..16).unwrap_or(&t))
}

pub(crate) fn machine() -> String {
    let cpus = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_ascii_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cpus} × {model}, Linux {kernel}, {mem_gib:.1} GiB RAM")
}

/// The 1-minute load average: a busy machine (a test suite running next to
/// the bench) makes every wall time noisy, so the report says so.
pub(crate) fn load_average() -> String {
    read_trimmed("/proc/loadavg")
        .and_then(|s| s.split_ascii_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

pub(crate) fn print_report(cfg: &Config, rows: &[Row], notes: &[String]) {
    let mut s = String::new();
    let _ = writeln!(s, "## portwarden benchmark — {}", utc_now());
    let _ = writeln!(s);
    let _ = writeln!(s, "- Machine: {}", machine());
    let _ = writeln!(
        s,
        "- Fixture: {} processes × {} fds, {} listeners; {} runs, {} refreshes, {} kill runs per kind{}",
        cfg.procs,
        cfg.fds,
        cfg.listeners,
        cfg.runs,
        cfg.refreshes,
        cfg.kill_runs,
        if cfg.quick {
            " (--quick: not asserted)"
        } else {
            ""
        }
    );
    let _ = writeln!(s, "- portwarden: {}", cfg.portwarden.display());
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| metric | portwarden | reference | ratio | target | result |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.metric,
            r.portwarden,
            r.reference,
            r.ratio,
            r.target,
            r.verdict.as_str()
        );
    }
    let _ = writeln!(s);
    for n in notes {
        let _ = writeln!(s, "- {n}");
    }
    print!("{s}");
}
