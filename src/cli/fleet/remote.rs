//! Asking hosts: one thread per host, each call bounded, each failure turned
//! into one sentence that names the fix; and the remote's `--json` parsed
//! back with serde into the few fields the table and the TUI show.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::FleetArgs;
use super::ssh::{self, LOCAL, Output, Transport};
use portwarden::model::{Pid, Process};

/// How long one question (list, why, a kill's plan) may take on a host,
/// connection included, before that host is given up on.
pub const QUERY_DEADLINE: Duration = Duration::from_secs(30);

/// How many hosts are asked at once (each is one `ssh` process).
pub const MAX_PARALLEL: usize = 32;

/// This build's version (what `--push` installs and errors name).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The hosts and how to reach them.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Hosts in the order named.
    pub hosts: Vec<String>,
    /// The ssh transport.
    pub transport: Transport,
    /// `--push`.
    pub push: bool,
}

/// One remote listening socket: the fields of `list --json` shown here.
#[derive(Debug, Clone, Deserialize)]
pub struct RemoteSocket {
    /// `tcp` / `udp`.
    pub proto: String,
    /// Bind address.
    pub addr: String,
    /// Port.
    pub port: u16,
    /// Owner uid.
    pub uid: u32,
    /// Accept queue full.
    #[serde(default)]
    pub stuck: bool,
    /// Why no holder is visible.
    #[serde(default)]
    pub unresolved: Option<String>,
    /// Holders.
    #[serde(default)]
    pub holders: Vec<RemoteHolder>,
}

impl RemoteSocket {
    /// `10.0.0.1:8080`, `[::]:8080`.
    pub fn endpoint(&self) -> String {
        if self.addr.contains(':') {
            format!("[{}]:{}", self.addr, self.port)
        } else {
            format!("{}:{}", self.addr, self.port)
        }
    }
}

/// One remote holder.
#[derive(Debug, Clone, Deserialize)]
pub struct RemoteHolder {
    /// Pid (on that host).
    pub pid: Pid,
    /// Parent pid.
    pub ppid: Pid,
    /// Uid.
    pub uid: u32,
    /// User name.
    #[serde(default)]
    pub user: Option<String>,
    /// `comm`.
    pub name: String,
    /// Arguments.
    #[serde(default)]
    pub cmdline: Vec<String>,
    /// Class as that host judged it.
    pub class: String,
}

impl RemoteHolder {
    /// The command as `list` shows it (program directory dropped).
    pub fn short_command(&self) -> String {
        let mut p = Process::new(self.pid, self.ppid, &self.name);
        p.cmdline = self.cmdline.clone();
        p.short_command()
    }
}

#[derive(Deserialize)]
struct ListDoc {
    schema: u32,
    sockets: Vec<serde_json::Value>,
}

/// One host's answer to `list`.
#[derive(Debug, Clone)]
pub struct Host {
    /// The host as named.
    pub host: String,
    /// Why it could not answer.
    pub error: Option<String>,
    /// Its sockets as it sent them (re-emitted verbatim by `--json`).
    pub raw: Vec<serde_json::Value>,
    /// The same, parsed.
    pub sockets: Vec<RemoteSocket>,
}

impl Host {
    /// A host that could not answer.
    pub fn failed(host: &str, error: &str) -> Host {
        Host {
            host: host.into(),
            error: Some(error.into()),
            raw: Vec::new(),
            sockets: Vec::new(),
        }
    }
}

fn old_remote(host: &str) -> String {
    format!(
        "{host}: the remote portwarden did not answer with schema-1 JSON (it is older than \
         {VERSION}, or --remote-bin is not portwarden): upgrade it there, or use --push"
    )
}

/// Parse a host's `list --json` output.
pub fn parse_list(host: &str, stdout: &str) -> Host {
    match serde_json::from_str::<ListDoc>(stdout) {
        Ok(doc) if doc.schema == 1 => {
            let parsed: Result<Vec<RemoteSocket>, _> = doc
                .sockets
                .iter()
                .map(|v| serde_json::from_value(v.clone()))
                .collect();
            match parsed {
                Ok(sockets) => Host {
                    host: host.into(),
                    error: None,
                    raw: doc.sockets,
                    sockets,
                },
                Err(_) => Host::failed(host, &old_remote(host)),
            }
        }
        _ => Host::failed(host, &old_remote(host)),
    }
}

/// The last meaningful line of a command's stderr.
fn last_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// A failure of the transport or of starting portwarden, as one sentence
/// naming the fix; `None` when portwarden ran (whatever it answered).
pub fn failure(host: &str, bin: &str, args: &[String], o: &Output) -> Option<String> {
    if o.timed_out {
        return Some(format!(
            "ssh: no answer from {host} in time (gave up and closed the connection)"
        ));
    }
    let stderr_line = last_line(&o.stderr).unwrap_or("");
    match o.code {
        Some(255) if host != LOCAL => Some(if stderr_line.starts_with("ssh:") {
            stderr_line.to_string()
        } else if stderr_line.is_empty() {
            format!("ssh: cannot reach {host}")
        } else {
            format!("ssh: {stderr_line}")
        }),
        Some(126 | 127) => Some(format!(
            "{host}: portwarden not found there (`{bin}`: {stderr_line}): install portwarden \
             {VERSION} on it, pass --remote-bin PATH, or use --push"
        )),
        Some(2)
            if [
                "unexpected argument",
                "unrecognized subcommand",
                "invalid value",
            ]
            .iter()
            .any(|m| o.stderr.contains(m)) =>
        {
            Some(format!(
                "{host}: the remote portwarden is older than {VERSION} and does not understand \
                 `portwarden {}` ({stderr_line}): upgrade it there, or use --push",
                args.join(" ")
            ))
        }
        None => Some(format!("{host}: portwarden ended by a signal")),
        _ => None,
    }
}

/// A text answer (`why`): its stdout when it succeeded.
pub fn check_text(o: &Output) -> Result<String, String> {
    match o.code {
        Some(0) => Ok(o.stdout.clone()),
        c => Err(format!(
            "{} (exit {})",
            last_line(&o.stderr).unwrap_or("failed"),
            c.unwrap_or(-1)
        )),
    }
}

impl Fleet {
    /// The fleet the flags describe.
    pub fn new(a: &FleetArgs, hosts: Vec<String>) -> Fleet {
        Fleet {
            hosts,
            transport: Transport {
                config: a.ssh_config.clone(),
                options: a.ssh_options.clone(),
                remote_bin: a.remote_bin.clone().unwrap_or_else(|| "portwarden".into()),
                connect_timeout: a.connect_timeout.unwrap_or(Duration::from_secs(5)),
                control_dir: ssh::control_dir(),
            },
            push: a.push,
        }
    }

    /// Run `portwarden ARGS` on every host in parallel and map each
    /// output with `f`; transport failures become that host's error.
    pub fn each<T: Send>(
        &self,
        args: &[String],
        deadline: Option<Duration>,
        f: impl Fn(&Output) -> Result<T, String> + Sync,
    ) -> Vec<(String, Result<T, String>)> {
        self.each_with(|_| args.to_vec(), deadline, f)
    }

    /// Like [`Fleet::each`], with arguments chosen per host. At most
    /// [`MAX_PARALLEL`] hosts are in flight; a slow one holds only its own
    /// worker (and only until its deadline), never the others.
    pub fn each_with<T: Send>(
        &self,
        args: impl Fn(&str) -> Vec<String> + Sync,
        deadline: Option<Duration>,
        f: impl Fn(&Output) -> Result<T, String> + Sync,
    ) -> Vec<(String, Result<T, String>)> {
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Result<T, String>>>> =
            self.hosts.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|sc| {
            for _ in 0..self.hosts.len().min(MAX_PARALLEL) {
                sc.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(h) = self.hosts.get(i) else { return };
                        let r = self.ask(h, &args(h), deadline, &f);
                        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                    }
                });
            }
        });
        self.hosts
            .iter()
            .zip(slots)
            .map(|(h, slot)| {
                let r = slot.into_inner().unwrap_or_else(|e| e.into_inner());
                (
                    h.clone(),
                    r.unwrap_or_else(|| Err(format!("{h}: internal error"))),
                )
            })
            .collect()
    }

    fn ask<T>(
        &self,
        host: &str,
        args: &[String],
        deadline: Option<Duration>,
        f: &impl Fn(&Output) -> Result<T, String>,
    ) -> Result<T, String> {
        let bin = self.prepare(host)?;
        let cmd = self.transport.command(host, &bin, args);
        let o = ssh::run(cmd, None, deadline).map_err(|e| format!("ssh: cannot run ssh: {e}"))?;
        if let Some(e) = failure(host, &bin, args, &o) {
            return Err(e);
        }
        f(&o)
    }

    /// `list` on every host.
    pub fn list(&self, args: &[String]) -> Vec<Host> {
        self.each(args, Some(QUERY_DEADLINE), |o| {
            if o.code == Some(0) {
                Ok(o.stdout.clone())
            } else {
                Err(check_text(o).err().unwrap_or_default())
            }
        })
        .into_iter()
        .map(|(host, r)| match r {
            Ok(stdout) => parse_list(&host, &stdout),
            Err(e) => Host::failed(&host, &e),
        })
        .collect()
    }

    /// The portwarden to run on `host`: `--remote-bin`, or with `--push`
    /// this binary copied to `~/.cache/portwarden/` when needed.
    fn prepare(&self, host: &str) -> Result<String, String> {
        if host == LOCAL || !self.push {
            return Ok(self.transport.remote_bin.clone());
        }
        let target = format!("~/.cache/portwarden/portwarden-{VERSION}");
        let q = ssh::shell_quote(&target);
        let probe = format!("uname -m; if test -x {q}; then echo present; fi");
        let o = ssh::run(self.transport.raw(host, &probe), None, Some(QUERY_DEADLINE))
            .map_err(|e| format!("ssh: cannot run ssh: {e}"))?;
        if let Some(e) = failure(host, "uname", &[], &o) {
            return Err(e);
        }
        let mut lines = o.stdout.lines();
        let arch = lines.next().unwrap_or("").trim().to_string();
        if arch != std::env::consts::ARCH {
            return Err(format!(
                "{host}: cannot --push: it is {arch}, this binary is {}; install portwarden \
                 {VERSION} there or pass --remote-bin PATH",
                std::env::consts::ARCH
            ));
        }
        if lines.any(|l| l.trim() == "present") {
            return Ok(target);
        }
        let exe: PathBuf =
            std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        let tmp = ssh::shell_quote(&format!("~/.cache/portwarden/.portwarden-{VERSION}.tmp"));
        let script = format!(
            "mkdir -p \"$HOME\"/.cache/portwarden && cat > {tmp} && chmod 755 {tmp} && mv -f {tmp} {q}"
        );
        let o = ssh::run(
            self.transport.raw(host, &script),
            Some(&exe),
            Some(QUERY_DEADLINE * 4),
        )
        .map_err(|e| format!("ssh: cannot run ssh: {e}"))?;
        if let Some(e) = failure(host, "cat", &[], &o) {
            return Err(e);
        }
        if o.code != Some(0) {
            return Err(format!(
                "{host}: --push failed: {}",
                last_line(&o.stderr).unwrap_or("copy failed")
            ));
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(code: Option<i32>, stderr: &str) -> Output {
        Output {
            code,
            stdout: String::new(),
            stderr: stderr.into(),
            timed_out: false,
        }
    }

    #[test]
    fn failures_name_the_fix() {
        let a = ["list".to_string(), "--json".into()];
        let e = failure(
            "web2",
            "portwarden",
            &a,
            &out(
                Some(255),
                "ssh: connect to host web2 port 22: Connection refused\n",
            ),
        );
        assert_eq!(
            e.as_deref(),
            Some("ssh: connect to host web2 port 22: Connection refused")
        );
        let e = failure(
            "web1",
            "portwarden",
            &a,
            &out(Some(127), "sh: 1: portwarden: not found"),
        )
        .expect("missing");
        assert!(e.contains("--remote-bin") && e.contains("--push"), "{e}");
        let e = failure(
            "web1",
            "portwarden",
            &a,
            &out(Some(2), "error: unexpected argument '--expect-pids' found"),
        )
        .expect("old");
        assert!(e.contains("older") && e.contains("upgrade"), "{e}");
        assert_eq!(
            failure("web1", "portwarden", &a, &out(Some(3), "refused")),
            None
        );
    }

    #[test]
    fn a_non_portwarden_answer_is_an_old_remote() {
        let h = parse_list("web1", "{\"sockets\":[]}");
        assert!(h.error.as_deref().is_some_and(|e| e.contains("--push")));
        let h = parse_list("web1", "{\"schema\":1,\"sockets\":[]}");
        assert_eq!(h.error, None);
    }
}
