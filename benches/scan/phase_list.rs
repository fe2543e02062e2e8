//! Phase: cold `list --json` against `ss`, `lsof` and the netstat2 crate.

use super::*;

// ---------------------------------------------------------------------------
// Phase: list --json vs ss vs lsof vs netstat2
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    Portwarden,
    Ss,
    Lsof,
    Netstat2,
}

/// Every tool's timings over all runs, and how the sets compared.
#[derive(Default)]
struct Tally {
    wall: BTreeMap<&'static str, Vec<Duration>>,
    cpu: BTreeMap<&'static str, Vec<Duration>>,
    /// Per-run ratios portwarden / tool, by tool.
    ratios: BTreeMap<&'static str, Vec<f64>>,
    agree: usize,
    mismatches: BTreeSet<String>,
    sizes: (usize, usize),
    fixture_seen: bool,
}

/// What one timed run of one tool gave.
struct Timed {
    wall: Duration,
    cpu: Option<Duration>,
    tuples: Option<Tuples>,
}

/// Returns the median wall time of `list --json` (the TUI phase uses it to
/// know how long the first scan takes).
pub(crate) fn phase_list(
    cfg: &Config,
    fx: &Fixture,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<Duration> {
    let ss = find_in_path("ss");
    let lsof = find_in_path("lsof").filter(|_| cfg.runs_phase(Phase::Lsof));
    let mut tools = vec![Tool::Portwarden];
    if ss.is_some() {
        tools.push(Tool::Ss);
    }
    if lsof.is_some() {
        tools.push(Tool::Lsof);
    }
    tools.push(Tool::Netstat2);

    let mut tally = Tally {
        fixture_seen: true,
        ..Tally::default()
    };
    for run in 0..cfg.runs {
        // Rotate who goes first: each tool takes every position in turn.
        let mut order = tools.clone();
        order.rotate_left(run % tools.len());
        progress(format!("list run {}/{}: {order:?}", run + 1, cfg.runs));
        let mut this = BTreeMap::new();
        for tool in order {
            let path = match tool {
                Tool::Ss => ss.as_deref(),
                Tool::Lsof => lsof.as_deref(),
                _ => None,
            };
            this.insert(tool.name(), time_tool(cfg, tool, path)?);
        }
        tally.add_run(&this, fx);
    }
    let pw_ms = tally.median_ms("portwarden").unwrap_or(f64::NAN);
    report_vs_ss(cfg, &tally, ss.as_deref(), pw_ms, rows, notes)?;
    report_others(&tally, pw_ms, rows, notes);
    Ok(Duration::from_secs_f64(pw_ms / 1000.0))
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Portwarden => "portwarden",
            Tool::Ss => "ss",
            Tool::Lsof => "lsof",
            Tool::Netstat2 => "netstat2",
        }
    }
}

/// Run one tool once against the fixture (`path` is ss's or lsof's).
fn time_tool(cfg: &Config, tool: Tool, path: Option<&Path>) -> Result<Timed> {
    let external = |cmd: &mut Command, what: &str, check: bool| -> Result<Ran> {
        let ran = run_capture(cmd, TOOL_TIMEOUT, false)?;
        if check && !ran.status.success() {
            bail!("{what} failed: {}", ran.status);
        }
        Ok(ran)
    };
    Ok(match (tool, path) {
        (Tool::Portwarden, _) => {
            let mut cmd = Command::new(&cfg.portwarden);
            cmd.args(["list", "--json"]).stderr(Stdio::inherit());
            let ran = external(&mut cmd, "portwarden list --json", true)?;
            let tuples = Some(tuples_from_portwarden(&ran.out)?);
            Timed {
                wall: ran.wall,
                cpu: Some(ran.cpu),
                tuples,
            }
        }
        (Tool::Ss, Some(ss)) => {
            let mut cmd = Command::new(ss);
            cmd.arg("-ltunpH").stderr(Stdio::null());
            let ran = external(&mut cmd, "ss -ltunpH", true)?;
            let tuples = Some(tuples_from_ss(&ran.out));
            Timed {
                wall: ran.wall,
                cpu: Some(ran.cpu),
                tuples,
            }
        }
        (Tool::Lsof, Some(lsof)) => {
            // lsof exits 1 when some selection matched nothing: its status
            // says nothing about the timing.
            let mut cmd = Command::new(lsof);
            cmd.args(["-nP", "-iTCP", "-sTCP:LISTEN", "-iUDP"])
                .stderr(Stdio::null());
            let ran = external(&mut cmd, "lsof", false)?;
            Timed {
                wall: ran.wall,
                cpu: Some(ran.cpu),
                tuples: None,
            }
        }
        (Tool::Netstat2, _) => {
            use netstat2::{AddressFamilyFlags, ProtocolFlags};
            let t = Instant::now();
            let v = netstat2::get_sockets_info(
                AddressFamilyFlags::IPV4 | AddressFamilyFlags::IPV6,
                ProtocolFlags::TCP | ProtocolFlags::UDP,
            )
            .map_err(|e| eyre!("netstat2: {e:?}"))?;
            let wall = t.elapsed();
            black_box(v);
            Timed {
                wall,
                cpu: None,
                tuples: None,
            }
        }
        (tool, None) => bail!("{tool:?} is not installed"),
    })
}

impl Tally {
    /// Record one run: wall and CPU times, ratios, and the set comparison.
    fn add_run(&mut self, this: &BTreeMap<&'static str, Timed>, fx: &Fixture) {
        for (k, t) in this {
            self.wall.entry(k).or_default().push(t.wall);
            if let Some(c) = t.cpu {
                self.cpu.entry(k).or_default().push(c);
            }
        }
        if let Some(pw) = this.get("portwarden").map(|t| t.wall) {
            for (k, t) in this.iter().filter(|(k, _)| **k != "portwarden") {
                let r = pw.as_secs_f64() / t.wall.as_secs_f64();
                self.ratios.entry(k).or_default().push(r);
            }
        }
        let pw_set = this.get("portwarden").and_then(|t| t.tuples.as_ref());
        let ss_set = this.get("ss").and_then(|t| t.tuples.as_ref());
        if let (Some(p), Some(s)) = (pw_set, ss_set) {
            self.sizes = (p.len(), s.len());
            self.agree += usize::from(p == s);
            for t in p.difference(s) {
                let line = format!("only portwarden: {} {} pid {}", t.0, t.1, t.2);
                self.mismatches.insert(line);
            }
            for t in s.difference(p) {
                let line = format!("only ss: {} {} pid {}", t.0, t.1, t.2);
                self.mismatches.insert(line);
            }
        }
        if let Some(p) = pw_set {
            // The fixture itself must be in what portwarden reports.
            self.fixture_seen &= fx
                .listeners
                .iter()
                .all(|(&port, &pid)| p.contains(&("tcp".to_string(), port, pid)));
        }
    }

    fn median_ms(&self, k: &str) -> Option<f64> {
        self.wall.get(k).map(|v| median_ms(v))
    }

    fn cpu_ms(&self, k: &str) -> Option<f64> {
        self.cpu.get(k).map(|v| median_ms(v))
    }

    fn ratio(&self, k: &str) -> f64 {
        self.ratios.get(k).map_or(f64::NAN, |v| median(v))
    }
}

/// The rows against `ss`: speed, and whether both saw the same set.
fn report_vs_ss(
    cfg: &Config,
    tally: &Tally,
    ss: Option<&Path>,
    pw_ms: f64,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let (Some(ss_ms), Some(ss)) = (tally.median_ms("ss"), ss) else {
        rows.push(Row::new(
            "cold `list --json` wall vs `ss -ltunpH`",
            format!("{pw_ms:.0} ms"),
            "ss not installed",
            "—",
            format!("≤ {TARGET_LIST_VS_SS}×"),
            Verdict::Pending,
        ));
        return Ok(());
    };
    let r = tally.ratio("ss");
    rows.push(Row::new(
        "cold `list --json` wall vs `ss -ltunpH`",
        format!("{pw_ms:.0} ms"),
        format!("{ss_ms:.0} ms"),
        format!("{r:.3}×"),
        format!("≤ {TARGET_LIST_VS_SS}×"),
        Verdict::judge(r <= TARGET_LIST_VS_SS),
    ));
    // Other programs on the machine (a test suite, a cron job) open and
    // close sockets between two tool runs. When a run disagreed, decide
    // with ss → portwarden → ss back to back: portwarden must show every
    // tuple both ss runs saw, and nothing neither saw.
    let stable = if tally.agree == cfg.runs {
        None
    } else {
        Some(stable_set_check(cfg, ss)?)
    };
    let ok = tally.fixture_seen && stable.as_ref().is_none_or(Vec::is_empty);
    let mut ratio = format!("{}/{} runs equal", tally.agree, cfg.runs);
    if let Some(st) = &stable {
        ratio.push_str(if st.is_empty() {
            "; ss→pw→ss recheck equal"
        } else {
            "; ss→pw→ss recheck differs"
        });
    }
    rows.push(Row::new(
        "(proto, port, pid) set vs `ss`",
        format!("{} tuples", tally.sizes.0),
        format!("{} tuples", tally.sizes.1),
        ratio,
        "same set",
        Verdict::judge(ok),
    ));
    set_notes(tally, ok, stable, notes);
    Ok(())
}

/// Notes on set differences: transient ones, confirmed ones, a fixture
/// listener portwarden did not show.
fn set_notes(tally: &Tally, ok: bool, stable: Option<Vec<String>>, notes: &mut Vec<String>) {
    let m = &tally.mismatches;
    if !m.is_empty() {
        let shown: Vec<String> = m.iter().take(12).cloned().collect();
        notes.push(format!(
            "Set differences seen in the timed runs ({} distinct; {}): {}{}",
            m.len(),
            if ok {
                "sockets of other programs that came and went between the two tools' runs: the back-to-back recheck agreed"
            } else {
                "the back-to-back recheck confirmed a difference"
            },
            shown.join("; "),
            if m.len() > 12 { "; …" } else { "" }
        ));
    }
    if let Some(st) = stable.filter(|s| !s.is_empty()) {
        notes.push(format!("Confirmed differences vs ss: {}", st.join("; ")));
    }
    if !tally.fixture_seen {
        notes.push("portwarden's list did not show every fixture listener with its pid.".into());
    }
}

/// Informational rows against lsof and netstat2, and the CPU note.
fn report_others(tally: &Tally, pw_ms: f64, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let others = [
        ("lsof", "`lsof -nP -iTCP -sTCP:LISTEN -iUDP`"),
        (
            "netstat2",
            "netstat2 `get_sockets_info` (in-process, TCP+UDP, v4+v6, with pids)",
        ),
    ];
    for (k, label) in others {
        if let Some(ms) = tally.median_ms(k) {
            rows.push(Row::new(
                format!("cold `list --json` wall vs {label}"),
                format!("{pw_ms:.0} ms"),
                format!("{ms:.0} ms"),
                format!("{:.2}×", tally.ratio(k)),
                "—",
                Verdict::Info,
            ));
        }
    }
    let mut cpu_note = format!(
        "`list` CPU (user+sys, median, 10 ms ticks): portwarden {:.0} ms",
        tally.cpu_ms("portwarden").unwrap_or(f64::NAN)
    );
    for k in ["ss", "lsof"] {
        if let Some(c) = tally.cpu_ms(k) {
            let _ = write!(cpu_note, ", {k} {c:.0} ms");
        }
    }
    cpu_note.push_str(". Wall times are medians; ratios are medians of per-run ratios, run order rotated every run.");
    notes.push(cpu_note);
}
