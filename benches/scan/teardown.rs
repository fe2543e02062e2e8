//! Every child the bench starts is registered here, so that a normal end,
//! an error, a panic or a signal all kill and reap it.

use super::*;

// ---------------------------------------------------------------------------
// Child registry and teardown
// ---------------------------------------------------------------------------

/// Every child the bench has not reaped yet, and every tmux server it
/// started. A pid stays registered until it is reaped, and reaping happens
/// under this lock, so the signal thread can only ever SIGKILL our own
/// (possibly zombie) children, never a recycled pid.
pub(crate) struct Registry {
    pub(crate) pids: BTreeSet<u32>,
    pub(crate) tmux: Vec<String>,
}

pub(crate) static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pids: BTreeSet::new(),
    tmux: Vec::new(),
});

pub(crate) fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock must not stop teardown.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Block SIGINT/SIGTERM/SIGHUP and take them in one thread with sigwait:
/// teardown then runs as ordinary code, outside any signal handler.
pub(crate) fn install_signal_teardown() -> Result<()> {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set.thread_block().wrap_err("blocking SIGINT/SIGTERM")?;
    thread::Builder::new()
        .name("teardown".into())
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                emergency_teardown(sig);
            }
        })
        .wrap_err("spawning the teardown thread")?;
    Ok(())
}

pub(crate) fn emergency_teardown(sig: Signal) -> ! {
    eprintln!("\n[bench] {sig}: killing the fixture and exiting");
    let reg = registry();
    for &pid in &reg.pids {
        let _ = kill(NixPid::from_raw(pid as i32), Signal::SIGKILL);
    }
    for sock in &reg.tmux {
        kill_tmux_server(sock);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for &pid in &reg.pids {
        while Instant::now() < deadline {
            match waitpid(NixPid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => thread::sleep(Duration::from_millis(1)),
                _ => break,
            }
        }
    }
    std::process::exit(128 + sig as i32);
}

/// Children inherit the signal mask across fork and exec (std does not reset
/// it), so everything the bench starts has SIGINT/SIGTERM/SIGHUP blocked.
/// That is harmless for short tool runs (the teardown thread SIGKILLs them),
/// and fixture children clear it themselves; but a long-lived program that
/// the bench does not own directly (tmux and the TUI in it) must start
/// clean, or it would shrug off the SIGHUP tmux sends on kill-server. So
/// those go through this trampoline: the bench re-executed, mask cleared,
/// then exec (same pid, so the registry stays right).
pub(crate) fn clean_exec(args: &[OsString]) -> color_eyre::eyre::Report {
    if let Err(e) = SigSet::empty().thread_set_mask() {
        return eyre!("clearing the signal mask: {e}");
    }
    let Some((prog, rest)) = args.split_first() else {
        return eyre!("nothing to exec");
    };
    eyre!(
        "{}: {}",
        prog.to_string_lossy(),
        Command::new(prog).args(rest).exec()
    )
}

/// A command run through [`clean_exec`].
pub(crate) fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let mut c = Command::new(exe);
    c.arg(EXEC_MODE).arg(program);
    c
}

/// One child process we own: SIGKILLed and reaped on drop unless already
/// reaped.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) reaped: Option<ExitStatus>,
}

impl Proc {
    /// Spawn under the registry lock, so the signal thread never misses a
    /// child that exists.
    pub(crate) fn spawn(cmd: &mut Command) -> Result<Proc> {
        let mut reg = registry();
        let child = cmd
            .spawn()
            .wrap_err_with(|| format!("cannot start {:?}", cmd.get_program()))?;
        reg.pids.insert(child.id());
        Ok(Proc {
            child,
            reaped: None,
        })
    }

    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Reap (the child is expected to have exited already, or to exit
    /// before `deadline`).
    pub(crate) fn reap(&mut self, deadline: Instant) -> Result<ExitStatus> {
        if let Some(st) = self.reaped {
            return Ok(st);
        }
        let pid = self.child.id();
        loop {
            {
                let mut reg = registry();
                if let Some(st) = self.child.try_wait()? {
                    reg.pids.remove(&pid);
                    self.reaped = Some(st);
                    return Ok(st);
                }
            }
            if Instant::now() >= deadline {
                bail!("pid {pid} did not exit in time");
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    pub(crate) fn kill_and_reap(&mut self) -> Result<ExitStatus> {
        if self.reaped.is_none() {
            let _ = self.child.kill();
        }
        self.reap(Instant::now() + Duration::from_secs(10))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Err(e) = self.kill_and_reap() {
            progress(format!("warning: {e:#}"));
        }
    }
}
