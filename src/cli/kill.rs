//! `portwarden kill` and `portwarden wait`: the library's plan/execute and
//! wait, with a confirmation that never prompts a non-terminal.

use std::io::{BufRead, Write};

use serde::Serialize;

use super::{CliError, KillArgs, Out, WaitArgs, exit, interactive};
use portwarden::config::Config;
use portwarden::discover::{Options, discover};
use portwarden::escape::{escape, truncate, truncate_cut};
use portwarden::kill::{self, Condition, Outcome, Plan, Policy, Progress, Report, signal_name};

/// The `kill --json` document (schema 1; README lists its fields and
/// units).
#[derive(Serialize)]
struct KillDoc<'a> {
    schema: u32,
    dry_run: bool,
    plan: &'a Plan,
    report: Option<ReportJson<'a>>,
    exit_code: u8,
}

/// The report as `kill --json` writes it: [`Report`]'s own fields in its
/// order, each outcome with `exited_after_ms` next to `exited_after` — the
/// same milliseconds under a name that says so (the old name stays: field
/// names are a contract).
struct ReportJson<'a>(&'a Report);

/// One outcome with `exited_after_ms` added (see [`ReportJson`]).
struct OutcomeJson<'a>(&'a Outcome);

/// Milliseconds, rounded, as every `*_ms` field of the report has them.
fn millis(d: &std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round()
}

impl Serialize for ReportJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let r = self.0;
        let ports: Vec<String> = r.ports.iter().map(ToString::to_string).collect();
        let outcomes: Vec<OutcomeJson<'_>> = r.outcomes.iter().map(OutcomeJson).collect();
        let mut st = s.serialize_struct("Report", 7)?;
        st.serialize_field("ports", &ports)?;
        st.serialize_field("outcomes", &outcomes)?;
        st.serialize_field("refusals", &r.refusals)?;
        st.serialize_field(
            "port_free_after_ms",
            &r.port_free_after.as_ref().map(millis),
        )?;
        st.serialize_field("still_held", &r.still_held)?;
        st.serialize_field("convergence", &r.convergence)?;
        st.serialize_field("containers", &r.containers)?;
        st.end()
    }
}

impl Serialize for OutcomeJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let o = self.0;
        let exited = o.exited_after.as_ref().map(millis);
        let mut st = s.serialize_struct("Outcome", 8)?;
        st.serialize_field("pid", &o.pid)?;
        st.serialize_field("name", &o.name)?;
        st.serialize_field("role", &o.role)?;
        st.serialize_field("signals", &o.signals)?;
        st.serialize_field("exited_after", &exited)?;
        st.serialize_field("exited_after_ms", &exited)?;
        st.serialize_field("skipped", &o.skipped)?;
        st.serialize_field("error", &o.error)?;
        st.end()
    }
}

/// Run `kill`: plan, stop early when there is nothing to signal (refused,
/// empty, dry run, not confirmed), else execute and report.
pub fn run_kill(args: &KillArgs, cfg: &Config, out: &mut Out) -> Result<u8, CliError> {
    let snap = discover(&Options::default())?;
    let ctx = cfg.context();
    let Some(ports) = super::context::kill_ports(args, &snap, out)? else {
        return Ok(exit::OK);
    };
    let plan = kill::plan_ports(&snap, &ctx, &ports, &kill_policy(args, cfg));
    if let Some(code) = check_expected(args, &plan, out)? {
        return Ok(code);
    }
    if let Some(code) = without_signal(args, &plan, out)? {
        return Ok(code);
    }
    if !args.yes
        && let Some(code) = confirm(args, &plan, out)?
    {
        return Ok(code);
    }
    execute_and_report(args, &plan, out)
}

/// The configured kill policy with this command's flags applied.
fn kill_policy(args: &KillArgs, cfg: &Config) -> Policy {
    let base = cfg.kill_policy();
    Policy {
        signal: args.signal.unwrap_or(base.signal),
        grace: args.grace.unwrap_or(base.grace),
        tree: args.tree,
        force: args.force,
        only: args.only.clone(),
        ..base
    }
}

/// Write the `--json` document and return its exit code.
fn write_doc(
    out: &mut Out,
    dry_run: bool,
    plan: &Plan,
    report: Option<&Report>,
    code: u8,
) -> Result<u8, CliError> {
    let doc = KillDoc {
        schema: 1,
        dry_run,
        plan,
        report: report.map(ReportJson),
        exit_code: code,
    };
    let text =
        serde_json::to_string(&doc).map_err(|e| CliError::Write(std::io::Error::other(e)))?;
    out.line(&portwarden::escape::json_safe(text))?;
    Ok(code)
}

/// `--expect-pids`: the exit code of a refusal when the plan no longer
/// targets exactly the pids that were confirmed.
fn check_expected(args: &KillArgs, plan: &Plan, out: &mut Out) -> Result<Option<u8>, CliError> {
    let Some(expected) = &args.expect_pids else {
        return Ok(None);
    };
    let mut expected = expected.clone();
    expected.sort_unstable();
    expected.dedup();
    if plan.pids() == expected {
        return Ok(None);
    }
    let reason = format!(
        "the plan changed since it was confirmed: expected pids {}, now {}",
        pid_list(&expected),
        pid_list(&plan.pids())
    );
    refuse_changed(plan, reason, args.json, out).map(Some)
}

/// A plan that signals nothing — refused, empty, or a dry run — shown and
/// its exit code returned; `None` when there is something to do.
fn without_signal(args: &KillArgs, plan: &Plan, out: &mut Out) -> Result<Option<u8>, CliError> {
    let code = if plan.is_refused() {
        exit::REFUSED
    } else if plan.is_empty() || args.dry_run {
        exit::OK
    } else {
        return Ok(None);
    };
    if args.json {
        return write_doc(out, args.dry_run, plan, None, code).map(Some);
    }
    if plan.is_refused() {
        eprint!("{}", format_plan(plan));
        eprintln!("portwarden: refused, nothing signalled:");
        for r in kill::fold_refusals(&plan.refusals) {
            eprintln!("  - {}", escape(&r));
        }
    } else if plan.is_empty() && plan.already_free.len() == plan.ports.len() {
        for p in &plan.ports {
            out.line(&format!("port {p} is already free"))?;
        }
    } else {
        out.write_str(&format_plan(plan))?;
        out.line(if plan.is_empty() {
            "nothing to signal"
        } else {
            "dry run: nothing signalled"
        })?;
    }
    Ok(Some(code))
}

/// Ask on the terminal (never a non-terminal: that is a refusal). `None`
/// when confirmed, else the exit code.
fn confirm(args: &KillArgs, plan: &Plan, out: &mut Out) -> Result<Option<u8>, CliError> {
    eprint!("{}", format_plan(plan));
    if !interactive() {
        eprintln!(
            "portwarden: refusing to kill without --yes: stdin/stderr is not a terminal, so nobody can confirm"
        );
        if args.json {
            return write_doc(out, args.dry_run, plan, None, exit::REFUSED).map(Some);
        }
        return Ok(Some(exit::REFUSED));
    }
    eprint!("{} [y/N] ", confirm_question(plan));
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        eprintln!("portwarden: not confirmed, nothing signalled");
        return Ok(Some(exit::REFUSED));
    }
    Ok(None)
}

/// Execute the plan (progress on stderr unless `--json`), then the report
/// as JSON or one summary line plus the connections that outlive it.
fn execute_and_report(args: &KillArgs, plan: &Plan, out: &mut Out) -> Result<u8, CliError> {
    let quiet = args.json;
    let report = kill::execute(plan, &mut |p| {
        if !quiet {
            print_progress(p);
        }
    });
    let code = if report.success() {
        exit::OK
    } else {
        exit::NOT_FREED
    };
    if args.json {
        return write_doc(out, args.dry_run, plan, Some(&report), code);
    }
    out.line(&escape(&report.summary()))?;
    if report.success() {
        // The listener is gone; its connections may not be (an ssh
        // session outlives its sshd listener).
        for p in &plan.ports {
            for l in super::context::lingering_lines(p.port) {
                out.line(&l)?;
            }
        }
    }
    Ok(code)
}

/// One line on stderr per step of the kill, as it happens.
fn print_progress(p: &Progress) {
    match p {
        Progress::Signalled { pid, signal } => {
            eprintln!("  SIG{} → pid {pid}", signal_name(*signal));
        }
        Progress::Exited { pid, after } => {
            eprintln!("  pid {pid} ended after {} ms", after.as_millis());
        }
        Progress::Escalating => eprintln!("  grace over: escalating to SIGKILL"),
        Progress::WaitingForPort => {}
    }
}

/// `1, 2, 3` (or `none`).
fn pid_list(pids: &[portwarden::model::Pid]) -> String {
    if pids.is_empty() {
        return "none".into();
    }
    pids.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--expect-pids` did not match: refuse (exit 3), the reason added to the
/// plan's refusals so `--json` carries it too.
fn refuse_changed(plan: &Plan, reason: String, json: bool, out: &mut Out) -> Result<u8, CliError> {
    let mut plan = plan.clone();
    plan.refusals.push(kill::Refusal {
        pid: 0,
        class: portwarden::classify::Class::Foreign,
        reason: reason.clone(),
    });
    if json {
        write_doc(out, false, &plan, None, exit::REFUSED)?;
    } else {
        eprintln!(
            "portwarden: refused, nothing signalled: {}",
            escape(&reason)
        );
    }
    Ok(exit::REFUSED)
}

/// The plan as a person reads it: every pid that will be signalled.
pub fn format_plan(plan: &Plan) -> String {
    let mut s = String::new();
    let ports = plan
        .ports
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let grace = plan.policy.grace;
    let then = if plan.policy.signal == kill::SIGKILL {
        String::new()
    } else {
        format!(", then SIGKILL after {}", fmt_duration(grace))
    };
    if plan.targets.is_empty() && !plan.containers.is_empty() {
        // Nothing is signalled: the engines stop their containers.
        s.push_str(&format!(
            "plan: free port {ports} — stop {} through the engine's API\n",
            portwarden::escape::count(plan.containers.len(), "container", "containers")
        ));
    } else {
        s.push_str(&format!(
            "plan: free port {ports} — SIG{}{then}{}\n",
            signal_name(plan.policy.signal),
            if plan.policy.tree {
                " (with --tree)"
            } else {
                ""
            }
        ));
    }
    if !plan.targets.is_empty() {
        s.push_str(&format!(
            "  {:>7}  {:<10}  {:<10}  {:<8}  COMMAND\n",
            "PID", "ROLE", "USER", "CLASS"
        ));
        for t in &plan.targets {
            let user = t.user.clone().unwrap_or_else(|| t.uid.to_string());
            s.push_str(&format!(
                "  {:>7}  {:<10}  {:<10}  {:<8}  {}\n",
                t.pid,
                format!("{:?}", t.role).to_lowercase(),
                truncate(&escape(&user), 10),
                t.class.as_str(),
                truncate_cut(&escape(&t.short_command), 200)
            ));
        }
    }
    for c in &plan.containers {
        s.push_str(&format!(
            "  stop {} through the {} API at {} (POST /containers/{}/stop, grace {}); pid {} is not signalled\n",
            escape(&c.container.describe()),
            c.container.engine.as_str(),
            escape(&c.socket),
            c.container.id.get(..12).unwrap_or(&c.container.id),
            fmt_duration(grace),
            c.holder
        ));
    }
    for (pid, why) in &plan.protected {
        s.push_str(&format!("  not signalled: pid {pid} — {}\n", escape(why)));
    }
    for p in &plan.already_free {
        s.push_str(&format!("  port {p}: nothing listens (already free)\n"));
    }
    s
}

/// "Kill these 2 processes?", "Stop this container?", or both.
fn confirm_question(plan: &Plan) -> String {
    let this_these = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("this {one}")
        } else {
            format!("these {n} {many}")
        }
    };
    let mut parts = Vec::new();
    if !plan.containers.is_empty() {
        let what = this_these(plan.containers.len(), "container", "containers");
        parts.push(format!("stop {what}"));
    }
    if !plan.targets.is_empty() {
        let what = this_these(plan.targets.len(), "process", "processes");
        parts.push(format!("kill {what}"));
    }
    let q = parts.join(" and ");
    let mut chars = q.chars();
    match chars.next() {
        Some(f) => format!("{}{}?", f.to_uppercase(), chars.as_str()),
        None => "Go ahead?".to_string(),
    }
}

/// `3s`, `500ms`, `1m30s`.
pub fn fmt_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) || ms == 0 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

/// Run `wait`.
pub fn run_wait(args: &WaitArgs, out: &mut Out) -> Result<u8, CliError> {
    let cond = if args.listening {
        Condition::Listening
    } else {
        Condition::Free
    };
    let start = std::time::Instant::now();
    let addrs = args
        .bindable
        .then(|| super::context::probe_addrs(args.port));
    let mut met = kill::wait_port(args.port, cond, args.timeout)?;
    if met && let Some(addrs) = &addrs {
        let deadline = args.timeout.map(|t| start + t);
        met = super::context::wait_bindable(args.port.port, addrs, deadline);
    }
    if met {
        if cond == Condition::Free && addrs.is_none() {
            for l in super::context::lingering_lines(args.port.port) {
                eprintln!("{l}");
            }
        }
        Ok(exit::OK)
    } else {
        let what = match cond {
            Condition::Free => "free",
            Condition::Listening => "listening",
        };
        eprintln!(
            "portwarden: timed out waiting for port {} to be {what}",
            args.port
        );
        out.flush()?;
        Ok(exit::NOT_FREED)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use portwarden::kill::{Convergence, Role, StillHeld};
    use portwarden::spec::PortSpec;

    fn report() -> Report {
        let port = PortSpec {
            proto: Some(portwarden::model::Proto::Tcp),
            port: 8080,
        };
        let outcome = |pid, exited: Option<u64>| Outcome {
            pid,
            name: "node".into(),
            role: Role::Holder,
            signals: vec![15],
            exited_after: exited.map(Duration::from_micros),
            skipped: None,
            error: None,
        };
        Report {
            ports: vec![port],
            outcomes: vec![outcome(42, Some(12_400)), outcome(43, None)],
            refusals: Vec::new(),
            port_free_after: Some(Duration::from_millis(14)),
            still_held: vec![StillHeld {
                port,
                by: vec!["pid 50 (node)".into()],
                retaken_after: Some(Duration::from_millis(20)),
                respawner: None,
                next_step: None,
            }],
            convergence: Convergence {
                rounds: 2,
                newcomers: 0,
                elapsed: Duration::from_millis(60),
                bounded: false,
            },
            containers: Vec::new(),
        }
    }

    /// The JSON report is the library's, field for field and in order,
    /// plus `exited_after_ms` — so a field added to `Report` or `Outcome`
    /// that this copy misses fails here.
    #[test]
    fn json_report_is_the_library_report_plus_exited_after_ms() {
        let r = report();
        let ours = serde_json::to_string(&ReportJson(&r)).expect("serialize");
        let lib = serde_json::to_string(&r).expect("serialize");
        assert!(
            ours.contains(r#""exited_after":12.0,"exited_after_ms":12.0,"#),
            "{ours}"
        );
        assert!(
            ours.contains(r#""exited_after":null,"exited_after_ms":null,"#),
            "{ours}"
        );
        let stripped = ours
            .replace(r#","exited_after_ms":12.0"#, "")
            .replace(r#","exited_after_ms":null"#, "");
        assert_eq!(stripped, lib);
    }
}
