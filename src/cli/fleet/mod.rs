//! `--host`: the same questions asked of many machines over OpenSSH.
//!
//! Nothing here discovers, classifies or plans: each host runs its own
//! portwarden (`portwarden … --json`) and this face gathers the answers,
//! in parallel and each bounded by timeouts, so one slow or dead host
//! never holds up the others. A host that cannot answer becomes an error
//! row naming the fix (install, `--remote-bin`, `--push`), never a silent
//! gap.

pub mod kill;
pub mod remote;
pub mod ssh;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::{Cli, CliError, Command, ListArgs, Out, WaitArgs, WhyArgs, exit};
use portwarden::escape::{escape, truncate};
use portwarden::spec::parse_duration;
use remote::{Host, RemoteSocket};

/// Flags that send a question to other machines.
#[derive(Debug, Args, Default, Clone)]
pub struct FleetArgs {
    /// Ask HOST over ssh (repeatable; `local` means this machine). For
    /// the TUI, list, why, kill and wait.
    #[arg(long = "host", value_name = "HOST", global = true)]
    pub hosts: Vec<String>,
    /// Read hosts from FILE, one per line (`#` comments).
    #[arg(long, value_name = "FILE", global = true)]
    pub hosts_file: Option<PathBuf>,
    /// ssh config file (passed to ssh as `-F FILE`).
    #[arg(long, value_name = "FILE", global = true)]
    pub ssh_config: Option<PathBuf>,
    /// Extra ssh option (repeatable; passed as `-o KEY=VALUE`).
    #[arg(long = "ssh-option", value_name = "KEY=VALUE", global = true)]
    pub ssh_options: Vec<String>,
    /// portwarden on the remote hosts [default: `portwarden` on their PATH].
    #[arg(long, value_name = "PATH", global = true)]
    pub remote_bin: Option<String>,
    /// Copy this binary to a remote's ~/.cache/portwarden/ first when its
    /// architecture matches and it has none of this version.
    #[arg(long, global = true)]
    pub push: bool,
    /// ssh connect timeout [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, global = true)]
    pub connect_timeout: Option<Duration>,
}

impl FleetArgs {
    /// Was any host named?
    pub fn active(&self) -> bool {
        !self.hosts.is_empty() || self.hosts_file.is_some()
    }

    /// `--host`s then the file's, in order, without duplicates.
    pub fn host_list(&self) -> Result<Vec<String>, String> {
        let mut hosts = self.hosts.clone();
        if let Some(f) = &self.hosts_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read --hosts-file {}: {e}", f.display()))?;
            hosts.extend(parse_hosts_file(&text));
        }
        let mut seen = std::collections::HashSet::new();
        hosts.retain(|h| seen.insert(h.clone()));
        if hosts.is_empty() {
            return Err("no hosts: --hosts-file names none".into());
        }
        Ok(hosts)
    }
}

/// One host per line; blank lines and `#` comments ignored.
pub fn parse_hosts_file(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Run the command line when hosts were named.
pub fn run(cli: Cli) -> ExitCode {
    let mut out = Out::stdout();
    let code = dispatch(cli, &mut out);
    super::finish(code, &mut out)
}

fn dispatch(cli: Cli, out: &mut Out) -> Result<u8, CliError> {
    let hosts = match cli.fleet.host_list() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("portwarden: {e}");
            return Ok(exit::USAGE);
        }
    };
    let fleet = remote::Fleet::new(&cli.fleet, hosts);
    match cli.command {
        Some(Command::List(a)) => list(&fleet, &a, out),
        Some(Command::Why(a)) => why(&fleet, &a, out),
        Some(Command::Wait(a)) => wait(&fleet, &a),
        Some(Command::Kill(a)) => kill::run(&fleet, &a, out),
        None => crate::tui::fleet::run(&fleet, &cli),
        Some(_) => {
            eprintln!("portwarden: --host applies to the TUI, list, why, kill and wait");
            Ok(exit::USAGE)
        }
    }
}

/// One host's part of the multi-host `list --json` document.
#[derive(Debug, Serialize)]
pub struct HostDoc<'a> {
    /// The host as named.
    pub host: &'a str,
    /// Why it could not answer (`null` when it did).
    pub error: Option<&'a str>,
    /// Its sockets, exactly as its own `list --json` gave them.
    pub sockets: &'a [serde_json::Value],
}

/// The multi-host `list --json` document.
#[derive(Debug, Serialize)]
pub struct FleetDoc<'a> {
    /// Schema version: 1.
    pub schema: u32,
    /// One entry per host, in the order named.
    pub hosts: Vec<HostDoc<'a>>,
}

/// The `list` arguments a remote runs.
pub fn list_args(a: &ListArgs) -> Vec<String> {
    let mut v = vec!["list".to_string(), "--json".into()];
    v.extend(a.ports.iter().map(|p| p.to_string()));
    if a.proto.tcp {
        v.push("--tcp".into());
    }
    if a.proto.udp {
        v.push("--udp".into());
    }
    v
}

/// `list --host …`: every host's sockets, exit 1 when any host failed.
pub fn list(fleet: &remote::Fleet, a: &ListArgs, out: &mut Out) -> Result<u8, CliError> {
    let answers = fleet.list(&list_args(a));
    if a.json {
        let doc = FleetDoc {
            schema: 1,
            hosts: answers
                .iter()
                .map(|h| HostDoc {
                    host: &h.host,
                    error: h.error.as_deref(),
                    sockets: &h.raw,
                })
                .collect(),
        };
        let text =
            serde_json::to_string(&doc).map_err(|e| CliError::Write(std::io::Error::other(e)))?;
        out.line(&portwarden::escape::json_safe(text))?;
    } else {
        for line in render_table(&answers, out.width) {
            out.line(&line)?;
        }
    }
    Ok(if answers.iter().any(|h| h.error.is_some()) {
        exit::ERROR
    } else {
        exit::OK
    })
}

/// The `list` table with a HOST column first; a failed host is one row
/// with its error.
pub fn render_table(hosts: &[Host], width: Option<usize>) -> Vec<String> {
    let hw = hosts
        .iter()
        .map(|h| h.host.chars().count())
        .chain([4])
        .max()
        .unwrap_or(4)
        .min(24);
    let mut rows: Vec<(String, [String; 7])> = Vec::new();
    for h in hosts {
        for s in &h.sockets {
            for r in table_rows(s) {
                rows.push((h.host.clone(), r));
            }
        }
    }
    let cells: Vec<[String; 7]> = rows.iter().map(|(_, r)| r.clone()).collect();
    let inner = super::list::render_table(&cells, width.map(|w| w.saturating_sub(hw + 2)));
    let pad = |h: &str| {
        let h = truncate(&escape(h), hw);
        let n = hw.saturating_sub(h.chars().count());
        format!("{h}{}  ", " ".repeat(n))
    };
    let mut lines = Vec::new();
    for (i, l) in inner.iter().enumerate() {
        let host = if i == 0 { "HOST" } else { &rows[i - 1].0 };
        lines.push(format!("{}{l}", pad(host)));
    }
    for h in hosts {
        if let Some(e) = &h.error {
            lines.push(format!("{}error: {}", pad(&h.host), escape(e)));
        }
    }
    if hosts.iter().flat_map(|h| &h.sockets).any(|s| s.stuck) {
        lines.push("! = accept queue full: the listener is up but not accepting (stuck)".into());
    }
    lines
}

/// Table cells (the same seven as `list`) of one remote socket, escaped.
pub fn table_rows(s: &RemoteSocket) -> Vec<[String; 7]> {
    let endpoint = format!("{}{}", if s.stuck { "!" } else { "" }, s.endpoint());
    if s.holders.is_empty() {
        return vec![super::list::unresolved_row(
            s.proto.clone(),
            endpoint,
            s.uid,
            s.unresolved.as_deref(),
        )];
    }
    s.holders
        .iter()
        .map(|h| {
            [
                escape(&s.proto).into_owned(),
                endpoint.clone(),
                h.pid.to_string(),
                h.ppid.to_string(),
                escape(&h.user.clone().unwrap_or_else(|| h.uid.to_string())).into_owned(),
                escape(&h.class).into_owned(),
                escape(&h.short_command()).into_owned(),
            ]
        })
        .collect()
}

/// `why --host …`: each host's explanation under its name.
fn why(fleet: &remote::Fleet, a: &WhyArgs, out: &mut Out) -> Result<u8, CliError> {
    let args = vec!["why".to_string(), a.port.to_string()];
    let answers = fleet.each(&args, Some(remote::QUERY_DEADLINE), |o| {
        remote::check_text(o)
    });
    let mut code = exit::OK;
    for (host, r) in answers {
        out.line(&format!("== {} ==", escape(&host)))?;
        match r {
            Ok(text) => out.write_str(&escape_block(&text))?,
            Err(e) => {
                out.line(&format!("error: {}", escape(&e)))?;
                code = exit::ERROR;
            }
        }
    }
    Ok(code)
}

/// Escape a remote's multi-line text line by line (its newlines stay).
fn escape_block(text: &str) -> String {
    let mut s = String::new();
    for l in text.lines() {
        s.push_str(&escape(l));
        s.push('\n');
    }
    s
}

/// `wait --host …`: the condition on every host (0 when it holds on all;
/// 4 when any timed out; 1 when any failed).
fn wait(fleet: &remote::Fleet, a: &WaitArgs) -> Result<u8, CliError> {
    let mut args = vec!["wait".to_string(), a.port.to_string()];
    args.push(if a.listening { "--listening" } else { "--free" }.into());
    if let Some(t) = a.timeout {
        args.push("--timeout".into());
        args.push(format!("{}ms", t.as_millis()));
    }
    // The remote bounds the wait itself; ours only adds slack for ssh.
    let deadline = a.timeout.map(|t| t + remote::QUERY_DEADLINE);
    let answers = fleet.each(&args, deadline, |o| Ok(o.code));
    let mut code = exit::OK;
    for (host, r) in answers {
        match r {
            Ok(Some(0)) => {}
            Ok(Some(4)) => {
                eprintln!(
                    "portwarden: {}: timed out waiting for port {}",
                    escape(&host),
                    a.port
                );
                code = code.max(exit::NOT_FREED);
            }
            Ok(c) => {
                eprintln!(
                    "portwarden: {}: wait failed (exit {})",
                    escape(&host),
                    c.map_or("none".to_string(), |c| c.to_string())
                );
                code = code.max(exit::ERROR);
            }
            Err(e) => {
                eprintln!("portwarden: {}: {}", escape(&host), escape(&e));
                code = code.max(exit::ERROR);
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_skips_blanks_and_comments() {
        assert_eq!(
            parse_hosts_file("web1\n\n# db\n  web2  # eu\nlocal\n"),
            ["web1", "web2", "local"]
        );
    }

    #[test]
    fn table_has_a_host_column_and_an_error_row() {
        let doc = r#"{"schema":1,"sockets":[{"proto":"tcp","family":"ipv4","addr":"10.0.0.1",
            "port":8080,"state":"LISTEN","inode":1,"uid":0,"accept_queue":0,"backlog":128,
            "stuck":false,"unresolved":null,"holders":[{"pid":42,"ppid":1,"pgid":42,"sid":42,
            "uid":0,"user":"root","name":"python3","cmdline":["/usr/bin/python3","app.py"],
            "exe":null,"start_time":1,"tty":null,"cgroup":null,"class":"orphan","reasons":[],
            "manager":null,"stop_command":null}]}]}"#;
        let ok = remote::parse_list("web1", doc);
        let bad = Host::failed(
            "web2",
            "ssh: connect to host web2 port 22: Connection refused",
        );
        let lines = render_table(&[ok, bad], None);
        assert!(lines[0].starts_with("HOST  PROTO"), "{lines:?}");
        assert!(
            lines[1].starts_with("web1  tcp    10.0.0.1:8080")
                && lines[1].ends_with("python3 app.py"),
            "{lines:?}"
        );
        assert_eq!(
            lines[2],
            "web2  error: ssh: connect to host web2 port 22: Connection refused"
        );
    }
}
