//! One pseudo-terminal harness for every test that drives a program
//! through a terminal (the TUI, the fleet TUI and prompt, an interactive
//! shell).
//!
//! Why one: each of those tests needs the same few things done right — a
//! reader thread that never lets the program block on a full pty buffer, a
//! vt100 parser so a test reads the screen a person would see, the raw bytes
//! for escape sequences a screen does not show (alternate screen, cursor),
//! bounded waits that print the screen when they fail, and a `Drop` that
//! kills and reaps the program even when an assertion panicked. The options
//! the callers differ in (size, arguments, environment, wait bound) are set
//! on a [`PtyBuilder`].

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

use crate::util::{READY_TIMEOUT, portwarden_path, wait_until};

/// Everything the program wrote: parsed as a screen, and raw.
struct Output {
    parser: vt100::Parser,
    raw: Vec<u8>,
}

/// How to start a program in a pseudo-terminal: its command, the terminal
/// size and how long [`Pty::wait_for`] waits.
pub struct PtyBuilder {
    cmd: CommandBuilder,
    rows: u16,
    cols: u16,
    timeout: Duration,
}

impl PtyBuilder {
    /// `program` in a 24×80 terminal, its environment inherited.
    pub fn new(program: impl AsRef<OsStr>) -> PtyBuilder {
        PtyBuilder {
            cmd: CommandBuilder::new(program),
            rows: 24,
            cols: 80,
            timeout: READY_TIMEOUT,
        }
    }

    /// The terminal's size.
    pub fn size(mut self, rows: u16, cols: u16) -> PtyBuilder {
        self.rows = rows;
        self.cols = cols;
        self
    }

    /// How long [`Pty::wait_for`] waits before it fails.
    pub fn timeout(mut self, timeout: Duration) -> PtyBuilder {
        self.timeout = timeout;
        self
    }

    /// Arguments, in order.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> PtyBuilder {
        self.cmd.args(args);
        self
    }

    /// Set an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> PtyBuilder {
        self.cmd.env(key, value);
        self
    }

    /// Remove an inherited environment variable.
    pub fn env_remove(mut self, key: &str) -> PtyBuilder {
        self.cmd.env_remove(key);
        self
    }

    /// The working directory.
    pub fn cwd(mut self, dir: &Path) -> PtyBuilder {
        self.cmd.cwd(dir);
        self
    }

    /// Open the terminal, start the program in it and start reading.
    pub fn spawn(self) -> Pty {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: self.rows,
                cols: self.cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let child = pty.slave.spawn_command(self.cmd).expect("spawn in a pty");
        // Our copy of the slave would keep the terminal open after the
        // program exits: the reader would never see the end.
        drop(pty.slave);
        let reader = pty.master.try_clone_reader().expect("reader");
        let writer = pty.master.take_writer().expect("writer");
        let output = Arc::new(Mutex::new(Output {
            parser: vt100::Parser::new(
                std::num::NonZero::new(self.rows).expect("rows"),
                std::num::NonZero::new(self.cols).expect("cols"),
                0,
            ),
            raw: Vec::new(),
        }));
        read_into(reader, Arc::clone(&output));
        Pty {
            output,
            writer,
            child,
            master: pty.master,
            timeout: self.timeout,
        }
    }
}

/// Feed what the program writes to the screen and the raw buffer until the
/// terminal closes, on a thread of its own so the program never blocks on a
/// full pty.
fn read_into(mut reader: Box<dyn Read + Send>, output: Arc<Mutex<Output>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut o = output.lock().unwrap();
            o.parser.process(&buf[..n]);
            o.raw.extend_from_slice(&buf[..n]);
        }
    });
}

/// A program running in a pseudo-terminal; killed and reaped on drop.
pub struct Pty {
    output: Arc<Mutex<Output>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    /// Kept open: closing the master hangs up the program's terminal.
    master: Box<dyn MasterPty + Send>,
    timeout: Duration,
}

impl Pty {
    /// The TUI (`portwarden` itself) as a person starts it: a colour
    /// terminal, and not taken for a sudo user.
    pub fn portwarden() -> PtyBuilder {
        PtyBuilder::new(portwarden_path())
            .env("TERM", "xterm-256color")
            .env_remove("SUDO_UID")
    }

    /// The program's pid.
    pub fn pid(&self) -> i32 {
        self.child.process_id().expect("pid") as i32
    }

    /// The screen's text now.
    pub fn contents(&self) -> String {
        self.output.lock().unwrap().parser.screen().contents()
    }

    /// Bytes written so far.
    pub fn raw_len(&self) -> usize {
        self.output.lock().unwrap().raw.len()
    }

    /// Everything written after the first `from` bytes, as text.
    pub fn raw_since(&self, from: usize) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap().raw[from..]).into_owned()
    }

    /// Wait (bounded) until the screen satisfies `cond`; panic with the
    /// screen otherwise.
    pub fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        if wait_until(self.timeout, || cond(&self.contents())) {
            return self.contents();
        }
        panic!("the TUI never showed {what}; screen:\n{}", self.contents());
    }

    /// Wait (bounded) until everything written so far satisfies `cond`;
    /// panic with it otherwise. For output that scrolls past the screen.
    pub fn wait_for_raw(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        if wait_until(self.timeout, || cond(&self.raw_since(0))) {
            return self.raw_since(0);
        }
        panic!("never wrote {what}; output:\n{}", self.raw_since(0));
    }

    /// Type `s`.
    pub fn keys(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// The terminal's local mode bits (ICANON, ECHO, …). portable-pty's
    /// termios type comes from its own nix version: callers compare raw
    /// bits.
    fn local_flags(&self) -> nix::libc::tcflag_t {
        let t = self.master.get_termios().expect("termios of the pty");
        t.local_flags.bits()
    }

    /// Canonical mode and echo on (the terminal given back).
    pub fn cooked(&self) -> bool {
        let want = nix::libc::ICANON | nix::libc::ECHO;
        self.local_flags() & want == want
    }

    /// Canonical mode and echo both off (raw mode).
    pub fn raw_mode(&self) -> bool {
        self.local_flags() & (nix::libc::ICANON | nix::libc::ECHO) == 0
    }

    /// The exit status, waiting (bounded) for the program to end; `None`
    /// if it did not.
    pub fn wait_exit(&mut self, within: Duration) -> Option<portable_pty::ExitStatus> {
        let mut status = None;
        wait_until(within, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// SIGKILL the program (it cannot pass anything on, as after an OOM
    /// kill) and reap it.
    pub fn kill_outright(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.pid()), Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }

    /// The exit code, waiting (bounded) for the program to end.
    pub fn exit_code(&mut self) -> u32 {
        self.wait_exit(READY_TIMEOUT)
            .expect("the TUI ended")
            .exit_code()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // Never leave the program running, even when an assertion failed.
        if let Ok(None) = self.child.try_wait() {
            // A stopped program (job-control tests) would not act on the
            // hangup portable-pty sends first.
            let _ = kill(Pid::from_raw(self.pid()), Signal::SIGCONT);
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
