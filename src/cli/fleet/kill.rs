//! `kill --host …`: plan everywhere, confirm once, execute what was
//! confirmed.
//!
//! Each host plans for itself (`kill --dry-run --json` there: its own
//! processes, classes and policy). The plans are shown together and
//! confirmed once; then each host executes with `--expect-pids` set to the
//! pids that were shown, so a host whose situation changed in between
//! refuses and signals nothing — the remote side of the rule that nothing
//! is signalled that was not confirmed.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use super::remote::{self, Fleet};
use crate::cli::{CliError, KillArgs, Out, exit, interactive};
use portwarden::escape::{escape, truncate};
use portwarden::model::Pid;

/// A remote `kill --json` document, the parts shown here.
#[derive(Debug, Clone, Deserialize)]
pub struct RemoteKill {
    /// The plan (kept whole for `--json`).
    pub plan: serde_json::Value,
    /// The report, after an execution.
    #[serde(default)]
    pub report: Option<serde_json::Value>,
    /// The remote's exit code.
    pub exit_code: u8,
}

#[derive(Debug, Clone, Deserialize)]
struct Target {
    pid: Pid,
    short_command: String,
    #[serde(default)]
    user: Option<String>,
    uid: u32,
    class: String,
    role: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Refusal {
    reason: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Plan {
    #[serde(default)]
    already_free: Vec<String>,
    targets: Vec<Target>,
    refusals: Vec<Refusal>,
    #[serde(default)]
    protected: Vec<(Pid, String)>,
}

impl RemoteKill {
    fn plan(&self) -> Option<Plan> {
        serde_json::from_value(self.plan.clone()).ok()
    }

    /// The pids the plan will signal, ascending.
    pub fn pids(&self) -> Vec<Pid> {
        let mut v: Vec<Pid> = self
            .plan()
            .map(|p| p.targets.iter().map(|t| t.pid).collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }
}

/// One host in the `kill --host --json` document.
#[derive(Debug, Serialize)]
struct HostKill<'a> {
    host: &'a str,
    error: Option<&'a str>,
    plan: Option<&'a serde_json::Value>,
    report: Option<&'a serde_json::Value>,
    exit_code: u8,
}

/// Parse a `kill --json` answer (exit 0, 3 and 4 all carry one).
pub fn parse(o: &super::ssh::Output) -> Result<RemoteKill, String> {
    serde_json::from_str::<RemoteKill>(o.stdout.trim()).map_err(|_| {
        remote::check_text(o)
            .err()
            .unwrap_or_else(|| "the remote portwarden did not answer with kill JSON".into())
    })
}

/// The policy flags every host gets, as given here.
fn policy_args(a: &KillArgs) -> Vec<String> {
    let mut v: Vec<String> = a.ports.iter().map(|p| p.to_string()).collect();
    if let Some(s) = a.signal {
        v.extend(["--signal".into(), s.to_string()]);
    }
    if let Some(g) = a.grace {
        v.extend(["--grace".into(), format!("{}ms", g.as_millis())]);
    }
    if a.tree {
        v.push("--tree".into());
    }
    if a.force {
        v.push("--force".into());
    }
    if let Some(o) = &a.only {
        v.extend(["--only".into(), o.clone()]);
    }
    v
}

/// Run `kill --host …`: every host plans (a dry run there), the plans are
/// confirmed once, and the confirmed hosts execute exactly what was shown.
pub fn run(fleet: &Fleet, a: &KillArgs, out: &mut Out) -> Result<u8, CliError> {
    if a.expect_pids.is_some() {
        eprintln!("portwarden: --expect-pids names one host's pids: it cannot go with --host");
        return Ok(exit::USAGE);
    }
    let mut plan_args = vec!["kill".to_string()];
    plan_args.extend(policy_args(a));
    plan_args.extend(["--dry-run".into(), "--json".into()]);
    let plans = fleet.each(&plan_args, Some(remote::QUERY_DEADLINE), parse);
    let text = plans_text(&plans);
    let go: Vec<(String, Vec<Pid>)> = plans
        .iter()
        .filter_map(|(h, r)| match r {
            Ok(k) if k.exit_code == exit::OK && !k.pids().is_empty() => Some((h.clone(), k.pids())),
            _ => None,
        })
        .collect();
    let confirmed = if a.dry_run || go.is_empty() {
        false
    } else {
        a.yes || confirm(&text, &go)?
    };
    if !a.json && (a.dry_run || go.is_empty()) {
        out.write_str(&text)?;
        if a.dry_run {
            out.line("dry run: nothing signalled")?;
        }
    }
    let results = if confirmed {
        execute_confirmed(fleet, a, &go, plans)
    } else {
        if !go.is_empty() && !a.dry_run && !a.json {
            eprintln!("portwarden: not confirmed, nothing signalled");
        }
        plans
    };
    let not_confirmed = !go.is_empty() && !a.dry_run && !confirmed;
    if a.json {
        print_json(out, &results, a.dry_run)?;
    } else if confirmed {
        for (h, r) in &results {
            out.line(&format!("{}: {}", escape(h), outcome_line(r)))?;
        }
    }
    Ok(fleet_code(&results, not_confirmed))
}

/// The hosts to execute on and the pids each showed.
type Go = [(String, Vec<Pid>)];

/// Run the confirmed hosts' kills, each bound to the pids it showed
/// (`--expect-pids`); the other hosts keep their plan as their result.
fn execute_confirmed(
    fleet: &Fleet,
    a: &KillArgs,
    go: &Go,
    plans: Vec<(String, Result<RemoteKill, String>)>,
) -> Vec<(String, Result<RemoteKill, String>)> {
    let exec = fleet.each_with(
        |h| exec_args(a, go, h),
        // The kill itself waits (grace, SIGKILL, the port): allow it.
        Some(remote::QUERY_DEADLINE + a.grace.unwrap_or_default() * 2),
        parse,
    );
    plans
        .into_iter()
        .map(|(h, r)| {
            if go.iter().any(|(g, _)| *g == h) {
                exec.iter()
                    .find(|(e, _)| *e == h)
                    .map(|(e, r)| (e.clone(), r.clone()))
                    .unwrap_or((h, r))
            } else {
                (h, r)
            }
        })
        .collect()
}

/// The `kill` arguments for host `h`: the policy flags, `--yes`, and the
/// pids it showed as `--expect-pids`.
fn exec_args(a: &KillArgs, go: &Go, h: &str) -> Vec<String> {
    let pids = go.iter().find(|(g, _)| g == h).map(|(_, p)| p.clone());
    let mut v = vec!["kill".to_string()];
    v.extend(policy_args(a));
    v.extend(["--yes".into(), "--json".into(), "--expect-pids".into()]);
    v.push(
        pids.unwrap_or_default()
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    v
}

/// The exit code of the whole: a survivor beats a refusal beats an error.
fn fleet_code(results: &[(String, Result<RemoteKill, String>)], not_confirmed: bool) -> u8 {
    let codes: Vec<u8> = results
        .iter()
        .map(|(_, r)| r.as_ref().map_or(exit::ERROR, |k| k.exit_code))
        .collect();
    if codes.contains(&exit::NOT_FREED) {
        exit::NOT_FREED
    } else if not_confirmed || codes.contains(&exit::REFUSED) {
        exit::REFUSED
    } else if codes.iter().any(|&c| c != exit::OK) {
        exit::ERROR
    } else {
        exit::OK
    }
}

fn print_json(
    out: &mut Out,
    results: &[(String, Result<RemoteKill, String>)],
    dry_run: bool,
) -> Result<(), CliError> {
    let hosts: Vec<HostKill> = results
        .iter()
        .map(|(h, r)| match r {
            Ok(k) => HostKill {
                host: h,
                error: None,
                plan: Some(&k.plan),
                report: k.report.as_ref(),
                exit_code: k.exit_code,
            },
            Err(e) => HostKill {
                host: h,
                error: Some(e),
                plan: None,
                report: None,
                exit_code: exit::ERROR,
            },
        })
        .collect();
    let doc = serde_json::json!({ "schema": 1, "dry_run": dry_run, "hosts": hosts });
    let text =
        serde_json::to_string(&doc).map_err(|e| CliError::Write(std::io::Error::other(e)))?;
    out.line(&portwarden::escape::json_safe(text))
}

/// Ask once for every host (on stderr; refuse without a terminal).
fn confirm(text: &str, go: &[(String, Vec<Pid>)]) -> Result<bool, CliError> {
    eprint!("{text}");
    if !interactive() {
        eprintln!(
            "portwarden: refusing to kill without --yes: stdin/stderr is not a terminal, so nobody can confirm"
        );
        return Ok(false);
    }
    let n: usize = go.iter().map(|(_, p)| p.len()).sum();
    let hosts: Vec<String> = go.iter().map(|(h, _)| escape(h).into_owned()).collect();
    eprint!(
        "Kill {} on {} ({})? [y/N] ",
        portwarden::escape::count(n, "process", "processes"),
        if go.len() == 1 {
            "1 host"
        } else {
            "these hosts"
        },
        hosts.join(", ")
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Every host's plan, as a person reads it.
pub fn plans_text(plans: &[(String, Result<RemoteKill, String>)]) -> String {
    let mut s = String::new();
    for (h, r) in plans {
        s.push_str(&format!("== {} ==\n", escape(h)));
        let k = match r {
            Ok(k) => k,
            Err(e) => {
                s.push_str(&format!("  error: {}\n", escape(e)));
                continue;
            }
        };
        let Some(p) = k.plan() else {
            s.push_str("  error: the remote plan could not be read\n");
            continue;
        };
        if !p.targets.is_empty() {
            s.push_str(&format!(
                "  {:>7}  {:<10}  {:<10}  {:<8}  COMMAND\n",
                "PID", "ROLE", "USER", "CLASS"
            ));
        }
        for t in &p.targets {
            let user = t.user.clone().unwrap_or_else(|| t.uid.to_string());
            s.push_str(&format!(
                "  {:>7}  {:<10}  {:<10}  {:<8}  {}\n",
                t.pid,
                escape(&t.role),
                truncate(&escape(&user), 10),
                escape(&t.class),
                truncate(&escape(&t.short_command), 200)
            ));
        }
        for (pid, why) in &p.protected {
            s.push_str(&format!("  not signalled: pid {pid} — {}\n", escape(why)));
        }
        for port in &p.already_free {
            s.push_str(&format!(
                "  port {}: nothing listens (already free)\n",
                escape(port)
            ));
        }
        for r in &p.refusals {
            s.push_str(&format!(
                "  refused, nothing signalled: {}\n",
                escape(&r.reason)
            ));
        }
    }
    s
}

/// One host's result after the execution, in one line.
pub fn outcome_line(r: &Result<RemoteKill, String>) -> String {
    let k = match r {
        Ok(k) => k,
        Err(e) => return format!("error: {}", escape(e)),
    };
    let Some(rep) = &k.report else {
        return match k.plan() {
            Some(p) if !p.refusals.is_empty() => format!(
                "refused, nothing signalled: {}",
                p.refusals
                    .iter()
                    .map(|r| escape(&r.reason).into_owned())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Some(p) if p.targets.is_empty() && !p.already_free.is_empty() => format!(
                "port {} already free, nothing signalled",
                p.already_free
                    .iter()
                    .map(|x| escape(x).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => "nothing signalled".into(),
        };
    };
    let ended = rep["outcomes"].as_array().map_or(0, |o| {
        o.iter().filter(|x| !x["exited_after"].is_null()).count()
    });
    let ports: Vec<String> = rep["ports"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|x| x.as_str())
                .map(|x| escape(x).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let held: Vec<String> = rep["still_held"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|x| {
                    format!(
                        "port {} still held by {}",
                        escape(x["port"].as_str().unwrap_or("?")),
                        escape(&x["by"].to_string())
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if held.is_empty() {
        format!(
            "port {} free after {} ms — {} ended",
            ports.join(", "),
            rep["port_free_after_ms"].as_f64().unwrap_or(0.0),
            portwarden::escape::count(ended, "process", "processes")
        )
    } else {
        let ended = portwarden::escape::count(ended, "process", "processes");
        format!("{}; {ended} ended", held.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_show_every_host_and_refusals() {
        let ok: RemoteKill = serde_json::from_str(
            r#"{"schema":1,"dry_run":true,"exit_code":0,"report":null,"plan":{"ports":["8080"],
            "already_free":[],"protected":[],"refusals":[],"targets":[{"pid":42,"start_time":1,
            "name":"python3","command":"python3 app.py","short_command":"python3 app.py","uid":0,
            "user":"root","class":"orphan","role":"holder"}]}}"#,
        )
        .expect("valid");
        assert_eq!(ok.pids(), [42]);
        let text = plans_text(&[
            ("web1".into(), Ok(ok)),
            (
                "web2".into(),
                Err("ssh: connect to host web2 port 22: Connection refused".into()),
            ),
        ]);
        assert!(
            text.contains("== web1 ==\n") && text.contains("python3 app.py"),
            "{text}"
        );
        assert!(text.contains("== web2 ==\n  error: ssh: connect"), "{text}");
    }

    #[test]
    fn outcome_lines_say_what_happened_per_host() {
        let free: RemoteKill = serde_json::from_str(
            r#"{"exit_code":0,"report":null,"plan":{"ports":["8080"],"already_free":["8080"],
            "protected":[],"refusals":[],"targets":[]}}"#,
        )
        .expect("valid");
        assert_eq!(
            outcome_line(&Ok(free)),
            "port 8080 already free, nothing signalled"
        );
        let done: RemoteKill = serde_json::from_str(
            r#"{"exit_code":0,"plan":{"targets":[],"refusals":[]},"report":{"ports":["8080"],
            "outcomes":[{"pid":42,"exited_after":12.0}],"refusals":[],"port_free_after_ms":14.0,
            "still_held":[]}}"#,
        )
        .expect("valid");
        assert_eq!(
            outcome_line(&Ok(done)),
            "port 8080 free after 14 ms — 1 process ended"
        );
        assert_eq!(outcome_line(&Err("ssh: down".into())), "error: ssh: down");
    }

    #[test]
    fn exit_code_prefers_survivors_then_refusals_then_errors() {
        let k = |c| {
            Ok(RemoteKill {
                plan: serde_json::Value::Null,
                report: None,
                exit_code: c,
            })
        };
        assert_eq!(fleet_code(&[("a".into(), k(0))], false), exit::OK);
        assert_eq!(
            fleet_code(&[("a".into(), k(0)), ("b".into(), Err("x".into()))], false),
            exit::ERROR
        );
        assert_eq!(
            fleet_code(&[("a".into(), k(3)), ("b".into(), Err("x".into()))], false),
            exit::REFUSED
        );
        assert_eq!(
            fleet_code(&[("a".into(), k(4)), ("b".into(), k(3))], false),
            exit::NOT_FREED
        );
        assert_eq!(fleet_code(&[("a".into(), k(0))], true), exit::REFUSED);
    }
}
