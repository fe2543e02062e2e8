//! The transport: the system `ssh` binary, never a library of our own, so
//! `~/.ssh/config`, agents, jump hosts and known-hosts policy are the
//! user's. Every call is non-interactive (`BatchMode=yes`), bounded (a
//! connect timeout and a deadline after which the child is killed), and
//! reuses one shared connection per host (`ControlMaster=auto`) so the
//! TUI's refreshes and a kill's plan-then-execute do not reconnect.
//!
//! `local` is this machine: the same arguments run through this very
//! binary, so the code path above is the same for every host.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The host name meaning "this machine, without ssh".
pub const LOCAL: &str = "local";

/// How portwarden reaches remote hosts.
#[derive(Debug, Clone)]
pub struct Transport {
    /// `--ssh-config FILE` → `ssh -F FILE`.
    pub config: Option<PathBuf>,
    /// `--ssh-option K=V` → `ssh -o K=V`.
    pub options: Vec<String>,
    /// The remote's portwarden (`--remote-bin`, default `portwarden`).
    pub remote_bin: String,
    /// `ConnectTimeout`.
    pub connect_timeout: Duration,
    /// Where the shared connections' sockets live.
    pub control_dir: PathBuf,
}

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status; `None` when killed (deadline) or by a signal.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The deadline passed and the child was killed.
    pub timed_out: bool,
}

/// The directory for `ControlPath` sockets: `$XDG_RUNTIME_DIR/portwarden`
/// (per-user, tmpfs, mode 0700), else a private directory under the temp
/// dir named by uid. Created 0700; never shared with another user.
pub fn control_dir() -> PathBuf {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let uid = rustix::process::getuid().as_raw();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("portwarden"),
        None => std::env::temp_dir().join(format!("portwarden-ssh-{uid}")),
    };
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    // A directory someone else made (or left group/world-accessible) would
    // let them hijack our connections: fall back to a fresh private one.
    let safe = std::fs::metadata(&dir).is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0
    });
    if safe {
        dir
    } else {
        let alt = std::env::temp_dir().join(format!("portwarden-ssh-{uid}-{}", std::process::id()));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&alt);
        alt
    }
}

/// Quote one word for the remote POSIX shell (ssh joins its arguments
/// into one command line). A leading `~/` becomes `"$HOME"/` so pushed
/// binaries under the remote's home resolve.
pub fn shell_quote(s: &str) -> String {
    let quote = |t: &str| format!("'{}'", t.replace('\'', r"'\''"));
    match s.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", quote(rest)),
        None => quote(s),
    }
}

impl Transport {
    /// The `ssh` argument list (without the remote command) for `host`.
    pub fn ssh_args(&self, host: &str) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(c) = &self.config {
            a.push("-F".into());
            a.push(c.display().to_string());
        }
        // ssh takes the first value given for an option: the user's
        // --ssh-option come first so they can override these defaults.
        for o in &self.options {
            a.push("-o".into());
            a.push(o.clone());
        }
        let secs = self.connect_timeout.as_secs().max(1);
        for o in [
            "BatchMode=yes".to_string(),
            format!("ConnectTimeout={secs}"),
            "ControlMaster=auto".into(),
            format!("ControlPath={}/%C", self.control_dir.display()),
            "ControlPersist=60".into(),
        ] {
            a.push("-o".into());
            a.push(o);
        }
        a.push("--".into());
        a.push(host.into());
        a
    }

    /// The command that runs portwarden with `args` on `host`.
    pub fn command(&self, host: &str, bin: &str, args: &[String]) -> Command {
        if host == LOCAL {
            let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("portwarden"));
            let mut c = Command::new(exe);
            c.args(args);
            return c;
        }
        let remote: Vec<String> = std::iter::once(bin)
            .chain(args.iter().map(String::as_str))
            .map(shell_quote)
            .collect();
        self.raw(host, &remote.join(" "))
    }

    /// `ssh … HOST -- SCRIPT`: a remote shell command line.
    pub fn raw(&self, host: &str, script: &str) -> Command {
        let mut c = Command::new("ssh");
        c.args(self.ssh_args(host)).arg(script);
        c
    }
}

/// Run `cmd` with `input` on stdin, killing it after `deadline`.
pub fn run(
    mut cmd: Command,
    input: Option<&Path>,
    deadline: Option<Duration>,
) -> io::Result<Output> {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let feeder = match (input, child.stdin.take()) {
        (Some(path), Some(mut stdin)) => {
            let path = path.to_path_buf();
            Some(std::thread::spawn(move || -> io::Result<()> {
                let mut f = std::fs::File::open(path)?;
                io::copy(&mut f, &mut stdin)?;
                stdin.flush()
            }))
        }
        _ => None,
    };
    let out = Reader::start(child.stdout.take());
    let err = Reader::start(child.stderr.take());
    let (code, timed_out) = wait(&mut child, deadline)?;
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Ok(Output {
        code,
        stdout: out.finish(),
        stderr: err.finish(),
        timed_out,
    })
}

/// A pipe drained on its own thread. If something inherited the pipe and
/// keeps it open after the child ended (a misbehaving ssh master), the
/// text read so far is taken after a short bound instead of waiting.
struct Reader {
    buf: std::sync::Arc<std::sync::Mutex<(Vec<u8>, bool)>>,
}

impl Reader {
    fn start<R: Read + Send + 'static>(r: Option<R>) -> Reader {
        let buf = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), r.is_none())));
        if let Some(mut r) = r {
            let b = buf.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    let n = r.read(&mut chunk).unwrap_or(0);
                    let mut g = b.lock().unwrap_or_else(|e| e.into_inner());
                    if n == 0 {
                        g.1 = true;
                        return;
                    }
                    g.0.extend_from_slice(&chunk[..n]);
                }
            });
        }
        Reader { buf }
    }

    fn finish(self) -> String {
        let start = Instant::now();
        loop {
            let g = self.buf.lock().unwrap_or_else(|e| e.into_inner());
            if g.1 || start.elapsed() > Duration::from_secs(2) {
                return String::from_utf8_lossy(&g.0).into_owned();
            }
            drop(g);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Wait for the child, killing it at the deadline (the pipes then close,
/// so the readers end too). A ControlPersist master forks away from ssh
/// with its own stdio closed, so it never holds our pipes open.
fn wait(child: &mut Child, deadline: Option<Duration>) -> io::Result<(Option<i32>, bool)> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok((st.code(), false));
        }
        if deadline.is_some_and(|d| start.elapsed() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Ok((None, true));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_remote_shell() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("~/.cache/pw"), "\"$HOME\"/'.cache/pw'");
    }

    #[test]
    fn ssh_is_batch_bounded_and_shared() {
        let t = Transport {
            config: Some("/tmp/cfg".into()),
            options: vec!["Port=2222".into()],
            remote_bin: "portwarden".into(),
            connect_timeout: Duration::from_secs(5),
            control_dir: "/run/user/0/portwarden".into(),
        };
        let a = t.ssh_args("web1").join(" ");
        assert_eq!(
            a,
            "-F /tmp/cfg -o Port=2222 -o BatchMode=yes -o ConnectTimeout=5 -o ControlMaster=auto \
             -o ControlPath=/run/user/0/portwarden/%C -o ControlPersist=60 -- web1"
        );
    }
}
