//! Phase: what project lookup and connection counts add to a scan.

use super::*;

// ---------------------------------------------------------------------------
// Phase: project lookup and connection counts (issue 13)
// ---------------------------------------------------------------------------

/// Mean CPU (ms) per scan of `n` scans, after one uncounted scan when
/// `warm`; each with `Scanner::context` set to `context`. Cold (`!warm`)
/// uses a fresh Scanner per scan.
pub(crate) fn scan_cpu(opts: &Options, n: usize, warm: bool, context: bool) -> Result<f64> {
    let fresh = || {
        let mut sc = Scanner::new();
        sc.context = context;
        sc
    };
    let mut sc = fresh();
    if warm {
        black_box(sc.scan(opts)?);
    }
    let t0 = self_cpu_ticks()?;
    for _ in 0..n {
        if !warm {
            sc = fresh();
        }
        black_box(sc.scan(opts)?);
    }
    Ok(ticks(self_cpu_ticks()? - t0).as_secs_f64() * 1000.0 / n as f64)
}

/// The same scans with and without the project/connection context, while
/// one loopback client per fixture listener (held by the bench) gives the
/// connection matching and client lookup real work.
pub(crate) fn phase_context(
    cfg: &Config,
    fixture: &Fixture,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let clients: Vec<std::net::TcpStream> = fixture
        .listeners
        .keys()
        .filter_map(|&p| std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, p)).ok())
        .collect();
    let opts = Options::default();
    let runs = cfg.runs.max(5);
    progress(format!(
        "context: {runs} cold scans and {} refreshes, with and without project + connections ({} clients)…",
        cfg.refreshes,
        clients.len()
    ));
    let snap = Scanner::new().scan(&opts)?;
    let counted: u32 = snap.connections.values().map(|c| c.established).sum();
    let named = snap
        .connections
        .values()
        .flat_map(|c| &c.clients)
        .filter(|c| c.pid == Some(std::process::id() as i32))
        .count();
    let projects = snap
        .contexts
        .values()
        .filter(|c| c.project.is_some())
        .count();
    let (cold_on, cold_off) = (
        scan_cpu(&opts, runs, false, true)?,
        scan_cpu(&opts, runs, false, false)?,
    );
    let (inc_on, inc_off) = (
        scan_cpu(&opts, cfg.refreshes, true, true)?,
        scan_cpu(&opts, cfg.refreshes, true, false)?,
    );
    let res = 2000.0 / portwarden::os::clk_tck() as f64 / cfg.refreshes as f64;
    rows.push(Row::new(
        "cold scan CPU with project + connections vs without (`Scanner::context`)",
        format!("{cold_on:.1} ms"),
        format!("{cold_off:.1} ms"),
        format!("{:+.1} %", (cold_on / cold_off - 1.0) * 100.0),
        "—",
        Verdict::Info,
    ));
    rows.push(Row::new(
        "steady refresh CPU with project + connections vs without",
        format!("{inc_on:.1} ms ±{res:.1}"),
        format!("{inc_off:.1} ms ±{res:.1}"),
        format!("{:+.1} ms", inc_on - inc_off),
        "—",
        Verdict::Info,
    ));
    notes.push(format!(
        "Context phase: {} loopback clients held by the bench (one per fixture listener); the scan counted {counted} established connections on TCP listeners and named the bench as the client of {named}; {projects} holders had a project (the fixture runs in the bench's cwd). CPU is the mean user+sys per scan ({runs} cold scans, {} refreshes after a warm-up, library default full rescans included).",
        clients.len(),
        cfg.refreshes
    ));
    drop(clients);
    Ok(())
}
