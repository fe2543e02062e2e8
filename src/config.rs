//! The optional config file: `$XDG_CONFIG_HOME/portwarden/config.toml`
//! (default `~/.config/portwarden/config.toml`).
//!
//! Every key is optional and every key has a command-line flag that wins
//! over it. A missing file is the normal case (all defaults); a broken one
//! is an error naming the file, the line and the key — silently ignoring a
//! typo in `supervisors` would change what gets killed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::classify::Context;
use crate::kill::{Policy, parse_kill_signal};
use crate::model::Proto;
use crate::spec::parse_duration;

/// The commented default config, printed by `portwarden config --default`.
pub const DEFAULT_CONFIG: &str = r#"# portwarden config: every key is optional; command-line flags win.
# Location: $XDG_CONFIG_HOME/portwarden/config.toml (~/.config/portwarden/config.toml)

# TUI refresh interval (--interval).
# interval = "2s"

# First signal for kill (--signal): TERM, INT, HUP, KILL, or a number.
# signal = "TERM"

# How long kill waits after the first signal before SIGKILL (--grace).
# grace = "3s"

# How long kill watches a freed port for a restart before calling it free.
# Unset: 2s after a program a supervisor restarts (supervisord, runit, s6,
# pm2, a systemd unit — killed only with --force), 250ms otherwise.
# respawn_watch = "2s"

# Colours in the TUI: "auto" (default; off when NO_COLOR is set) or "plain"
# (never; --no-color).
# theme = "auto"

# Protocols to show by default (--tcp / --udp).
# protocols = ["tcp", "udp"]

# Extra process names that adopt orphans like init does (subreapers), so
# their children count as orphans/daemons, not live.
# supervisors = ["my-supervisor"]

# Extra cgroup path substrings whose processes count as managed (refused
# by kill unless --force).
# managed_cgroups = ["my-orchestrator"]
"#;

/// The parsed file, raw (strings not yet validated).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    interval: Option<String>,
    signal: Option<toml::Value>,
    grace: Option<String>,
    respawn_watch: Option<String>,
    theme: Option<String>,
    protocols: Option<Vec<String>>,
    supervisors: Option<Vec<String>>,
    managed_cgroups: Option<Vec<String>>,
}

/// Settings from the config file, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Where it was read from (`None`: no file).
    pub path: Option<PathBuf>,
    /// TUI refresh interval.
    pub interval: Option<Duration>,
    /// Default first signal.
    pub signal: Option<i32>,
    /// Default grace.
    pub grace: Option<Duration>,
    /// How long to watch for a supervisor's restart (`respawn_watch`).
    pub respawn_watch: Option<Duration>,
    /// `false` when theme = "plain".
    pub color: Option<bool>,
    /// Default protocols (`None` = both).
    pub proto: Option<Proto>,
    /// Extra subreaper names.
    pub supervisors: Vec<String>,
    /// Extra managed cgroup substrings.
    pub managed_cgroups: Vec<String>,
    /// Problems that did not stop loading (an unreadable file is skipped:
    /// running as another user with an inherited `HOME` must still work).
    pub warnings: Vec<String>,
}

/// Where the config file is looked for.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("portwarden").join("config.toml"))
}

/// Load the config from its default place; a missing file is no error.
pub fn load() -> Result<Config, String> {
    match default_path() {
        Some(p) => load_from(&p),
        None => Ok(Config::default()),
    }
}

/// Largest config file read: far more than any real one, small enough that
/// a file pointing at `/dev/zero` cannot grow memory.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Load the config at `path`; a missing file gives the defaults.
///
/// Only a regular file is read: the open never blocks (`O_NONBLOCK`, so a
/// FIFO cannot hang us), the file type is checked on the open descriptor
/// (a symlink to `/dev/zero` or `/dev/urandom` is refused, not read), and
/// at most [`MAX_CONFIG_BYTES`] are read.
pub fn load_from(path: &Path) -> Result<Config, String> {
    let text = match read_bounded(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Ok(Config {
                warnings: vec![format!(
                    "config {} is not readable ({e}); using defaults",
                    path.display()
                )],
                ..Config::default()
            });
        }
        Err(e) => return Err(format!("cannot read config {}: {e}", path.display())),
    };
    parse(&text, path)
}

/// The text of a regular file of at most [`MAX_CONFIG_BYTES`], opened
/// without blocking.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)?;
    let ft = f.metadata()?.file_type();
    if !ft.is_file() {
        let kind = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(std::io::Error::other(format!(
            "it is {kind}, not a regular file"
        )));
    }
    let mut bytes = Vec::new();
    f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} KiB",
            MAX_CONFIG_BYTES / 1024
        )));
    }
    String::from_utf8(bytes)
        .map_err(|e| std::io::Error::other(format!("it is not UTF-8 text ({e})")))
}

/// Parse config text; errors name the file, line and key.
pub fn parse(text: &str, path: &Path) -> Result<Config, String> {
    let shown = path.display();
    let raw: Raw = toml::from_str(text).map_err(|e| syntax_error(text, &shown, &e))?;
    let line_of = |key: &str| {
        text.lines()
            .position(|l| l.trim_start().starts_with(key))
            .map(|i| i + 1)
            .unwrap_or(1)
    };
    let bad = |key: &str, why: String| {
        format!("config {shown}: line {}: key '{key}': {why}", line_of(key))
    };
    let mut cfg = Config {
        path: Some(path.to_path_buf()),
        ..Config::default()
    };
    if let Some(v) = raw.interval {
        cfg.interval = Some(parse_duration(&v).map_err(|e| bad("interval", e))?);
    }
    if let Some(v) = raw.respawn_watch {
        cfg.respawn_watch = Some(parse_duration(&v).map_err(|e| bad("respawn_watch", e))?);
    }
    if let Some(v) = raw.grace {
        cfg.grace = Some(parse_duration(&v).map_err(|e| bad("grace", e))?);
    }
    if let Some(v) = raw.signal {
        cfg.signal = Some(signal_value(v).map_err(|e| bad("signal", e))?);
    }
    if let Some(t) = raw.theme {
        cfg.color = theme(&t).map_err(|e| bad("theme", e))?;
    }
    if let Some(ps) = raw.protocols {
        cfg.proto = protocols(&ps).map_err(|e| bad("protocols", e))?;
    }
    cfg.supervisors = raw.supervisors.unwrap_or_default();
    cfg.managed_cgroups = raw.managed_cgroups.unwrap_or_default();
    Ok(cfg)
}

/// A TOML syntax error as "config PATH: line N: message".
fn syntax_error(text: &str, shown: &std::path::Display<'_>, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .map(|s| {
            text.as_bytes()[..s.start.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1
        })
        .map(|l| format!(" line {l}:"))
        .unwrap_or_default();
    format!("config {shown}:{line} {}", e.message().trim())
}

/// `signal = "TERM"` or `signal = 15`: one that can end a process.
fn signal_value(v: toml::Value) -> Result<i32, String> {
    let s = match v {
        toml::Value::String(s) => s,
        toml::Value::Integer(i) => i.to_string(),
        other => return Err(format!("expected a name or number, got {other}")),
    };
    parse_kill_signal(&s)
}

/// `theme`: `None` lets the terminal decide, `Some(false)` is plain.
fn theme(t: &str) -> Result<Option<bool>, String> {
    match t {
        "auto" | "default" => Ok(None),
        "plain" | "none" | "no-color" => Ok(Some(false)),
        other => Err(format!(
            "unknown theme '{}': use \"auto\" or \"plain\"",
            crate::escape::escape(other)
        )),
    }
}

/// `protocols = ["tcp", "udp"]`: one protocol, or `None` for both.
fn protocols(ps: &[String]) -> Result<Option<Proto>, String> {
    let mut tcp = false;
    let mut udp = false;
    for p in ps {
        match p.to_ascii_lowercase().as_str() {
            "tcp" => tcp = true,
            "udp" => udp = true,
            other => {
                return Err(format!(
                    "unknown protocol '{}': use \"tcp\" and/or \"udp\"",
                    crate::escape::escape(other)
                ));
            }
        }
    }
    Ok(match (tcp, udp) {
        (true, false) => Some(Proto::Tcp),
        (false, true) => Some(Proto::Udp),
        _ => None,
    })
}

impl Config {
    /// The classification context of this process, with this config's extra
    /// supervisors and managed patterns.
    pub fn context(&self) -> Context {
        let mut ctx = Context::current();
        ctx.extra_supervisors = self.supervisors.clone();
        ctx.extra_managed = self.managed_cgroups.clone();
        ctx
    }

    /// The kill policy every face starts from: this config's signal and
    /// grace over the defaults, and consent for live holders — the user
    /// named the port and confirms (or passed `--yes`). Flags go on top.
    pub fn kill_policy(&self) -> Policy {
        let d = Policy::default();
        Policy {
            signal: self.signal.unwrap_or(d.signal),
            grace: self.grace.unwrap_or(d.grace),
            // One key for both watches: set, it is how long any kill
            // watches for a restart; unset, 2 s after a supervised program
            // and 250 ms otherwise.
            watch: self.respawn_watch.unwrap_or(d.watch),
            respawn_watch: self.respawn_watch.unwrap_or(d.respawn_watch),
            allow_live: true,
            ..d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Config, String> {
        parse(text, Path::new("/x/config.toml"))
    }

    #[test]
    fn empty_and_default_configs_parse() {
        assert_eq!(p("").map(|c| c.interval), Ok(None));
        let d = p(DEFAULT_CONFIG).expect("default config parses");
        assert_eq!(d.signal, None);
    }

    #[test]
    fn every_key() {
        let c = p(r#"
interval = "500ms"
signal = "INT"
grace = "1s"
theme = "plain"
protocols = ["tcp"]
supervisors = ["runner"]
managed_cgroups = ["ci-job"]
"#)
        .expect("valid");
        assert_eq!(c.interval, Some(Duration::from_millis(500)));
        assert_eq!(c.signal, Some(2));
        assert_eq!(c.grace, Some(Duration::from_secs(1)));
        assert_eq!(c.color, Some(false));
        assert_eq!(c.proto, Some(Proto::Tcp));
        assert_eq!(c.supervisors, vec!["runner"]);
        assert_eq!(c.managed_cgroups, vec!["ci-job"]);
        assert_eq!(p("signal = 15").map(|c| c.signal), Ok(Some(15)));
    }

    #[test]
    fn a_missing_file_is_the_defaults() {
        let c = load_from(Path::new("/nonexistent/portwarden/config.toml")).expect("defaults");
        assert_eq!(c, Config::default());
    }

    #[test]
    fn kill_policy_takes_signal_and_grace_from_the_file() {
        let c = p("signal = \"INT\"\ngrace = \"1s\"\n").expect("valid");
        let pol = c.kill_policy();
        assert_eq!((pol.signal, pol.grace), (2, Duration::from_secs(1)));
        assert_eq!(pol.respawn_watch, Duration::from_secs(2));
        let c = p("respawn_watch = \"5s\"\n").expect("valid");
        assert_eq!(c.kill_policy().respawn_watch, Duration::from_secs(5));
        assert_eq!(c.kill_policy().watch, Duration::from_secs(5));
        assert_eq!(
            p("").expect("valid").kill_policy().watch,
            Duration::from_millis(250)
        );
        assert!(pol.allow_live && !pol.force && !pol.tree);
        assert_eq!(Config::default().kill_policy().signal, crate::kill::SIGTERM);
    }

    #[test]
    fn only_a_bounded_regular_file_is_read() {
        for dev in ["/dev/zero", "/dev/urandom", "/dev/null", "/"] {
            let e = load_from(Path::new(dev)).expect_err(dev);
            assert!(e.contains(dev) && e.contains("not a regular file"), "{e}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; 2 * 1024 * 1024]).expect("write");
        let e = load_from(&big).expect_err("too big");
        assert!(e.contains("larger than 1024 KiB"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = p("interval = \"2s\"\ngrace = \"soon\"\n").expect_err("bad grace");
        assert!(
            e.contains("/x/config.toml") && e.contains("line 2") && e.contains("'grace'"),
            "{e}"
        );
        let e = p("\n\nintervall = \"2s\"\n").expect_err("unknown key");
        assert!(e.contains("line 3") && e.contains("intervall"), "{e}");
        let e = p("interval = [\n").expect_err("syntax");
        assert!(e.contains("/x/config.toml"), "{e}");
        let e = p("protocols = [\"sctp\"]").expect_err("bad proto");
        assert!(e.contains("'protocols'") && e.contains("sctp"), "{e}");
    }
}
