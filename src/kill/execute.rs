//! Executing a plan: identity re-verified through a pidfd immediately
//! before every signal, escalation after the grace, waiting for death, and
//! a last look at the port (with a watch for a respawn).

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use super::converge::{Convergence, Newcomer, Scope};
use super::plan::{Plan, Policy, Role, plan_ports};
use super::report::{
    ContainerOutcome, Outcome, Report, StillHeld, holders_described, respawn_next_step,
};
use super::{KILL_GRACE, SIGKILL};
use crate::classify::Context;
use crate::discover::{Options, Scanner};
use crate::error::{Error, Result};
use crate::model::Pid;
use crate::os::pidfd::{self, Opened, Pinned, SignalError};
use crate::spec::PortSpec;

/// Progress reported while [`execute`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A signal was delivered.
    Signalled {
        /// The target.
        pid: Pid,
        /// The signal number.
        signal: i32,
    },
    /// A target was observed dead (exited or zombie).
    Exited {
        /// The target.
        pid: Pid,
        /// Time since the first signal.
        after: Duration,
    },
    /// The grace ran out: survivors get SIGKILL.
    Escalating,
    /// Every target is dead; checking the port.
    WaitingForPort,
}

/// A target during execution: its outcome's index and the pinned process.
struct Live {
    idx: usize,
    proc: Pinned,
}

/// Wait until every live target is dead or `deadline` passes; record exit
/// times. Waits on pidfd readability (the kernel wakes us at exit), polling
/// /proc only for targets without a pidfd.
fn wait_all(
    live: &mut Vec<Live>,
    outcomes: &mut [Outcome],
    start: Instant,
    deadline: Instant,
    on: &mut dyn FnMut(&Progress),
) {
    loop {
        // Reap what is already dead (covers zombies and the no-pidfd case).
        live.retain(|l| {
            let dead = l.proc.is_dead();
            if dead {
                let after = start.elapsed();
                outcomes[l.idx].exited_after = Some(after);
                on(&Progress::Exited {
                    pid: l.proc.pid(),
                    after,
                });
            }
            !dead
        });
        if live.is_empty() || Instant::now() >= deadline {
            return;
        }
        pidfd::wait_any(live.iter().map(|l| &l.proc), deadline);
    }
}

/// How long one signal round waits before re-reading the planned groups.
const ROUND: Duration = Duration::from_millis(50);
/// At most this many signal rounds (the grace and [`KILL_GRACE`] bound the
/// time as well).
const MAX_ROUNDS: u32 = 400;
/// SIGSTOP: freezes a subtree before SIGKILL (see [`RoundState::kill_all`]).
const SIGSTOP: i32 = 19;
/// Most rounds of looking for children of frozen processes.
const FREEZE_ROUNDS: u32 = 20;

/// A fresh outcome for a target about to be signalled.
fn new_outcome(pid: Pid, name: &str, role: Role) -> Outcome {
    Outcome {
        pid,
        name: name.to_string(),
        role,
        signals: Vec::new(),
        exited_after: None,
        skipped: None,
        error: None,
    }
}

/// Verify `o.pid` against `start_time`, send `sig`, record the outcome and
/// (when signalled) the live entry.
fn signal_one(
    outcomes: &mut Vec<Outcome>,
    live: &mut Vec<Live>,
    mut o: Outcome,
    start_time: u64,
    sig: i32,
    on: &mut dyn FnMut(&Progress),
) {
    let idx = outcomes.len();
    match pidfd::open(o.pid, start_time) {
        Opened::Gone(why) | Opened::Mismatch(why) => o.skipped = Some(why),
        Opened::Same(proc) => match proc.signal(sig) {
            Ok(()) => {
                o.signals.push(sig);
                on(&Progress::Signalled {
                    pid: o.pid,
                    signal: sig,
                });
                live.push(Live { idx, proc });
            }
            Err(SignalError::Gone) => o.skipped = Some("already gone".into()),
            Err(SignalError::Failed(e)) => o.error = Some(format!("signal failed: {e}")),
        },
    }
    outcomes.push(o);
}

/// What the signal rounds work on.
struct RoundState {
    scope: Scope,
    /// Every pid planned or signalled: never a newcomer.
    planned: HashSet<Pid>,
    conv: Convergence,
    live: Vec<Live>,
}

impl RoundState {
    /// The rounds of `plan`, with `me` and `ancestors` (read now) never
    /// touched.
    fn new(plan: &Plan, me: Pid, ancestors: &[Pid]) -> Self {
        // 0 in a PID namespace whose group leader lives outside it.
        let self_pgid = nix::unistd::getpgrp().as_raw();
        RoundState {
            scope: Scope::new(plan, me, self_pgid, ancestors),
            planned: plan.targets.iter().map(|t| t.pid).collect(),
            conv: Convergence::default(),
            live: Vec::new(),
        }
    }

    /// Read the planned groups and subtrees; signal what is new with `sig`.
    /// Returns whether anything new arrived.
    fn signal_newcomers(
        &mut self,
        outcomes: &mut Vec<Outcome>,
        sig: i32,
        on: &mut dyn FnMut(&Progress),
    ) -> bool {
        let fresh = self.fetch();
        self.signal(fresh, outcomes, sig, on)
    }

    /// SIGKILL every live target. In a subtree kill they are first all
    /// stopped (SIGSTOP), and what they forked before stopping is taken in
    /// and stopped too, so no child is forked between the last look and its
    /// parent's death (it would be reparented and lost to the tree).
    fn kill_all(&mut self, outcomes: &mut Vec<Outcome>, on: &mut dyn FnMut(&Progress)) {
        if self.scope.has_tree() {
            self.send_all(SIGSTOP, outcomes, on);
            for _ in 0..FREEZE_ROUNDS {
                let fresh = self.fetch();
                if !self.signal(fresh, outcomes, SIGSTOP, on) {
                    break;
                }
            }
        }
        self.send_all(SIGKILL, outcomes, on);
    }

    /// `sig` to every live target (identity pinned by its pidfd).
    fn send_all(&self, sig: i32, outcomes: &mut [Outcome], on: &mut dyn FnMut(&Progress)) {
        for l in &self.live {
            if l.proc.signal(sig).is_ok() {
                outcomes[l.idx].signals.push(sig);
                on(&Progress::Signalled {
                    pid: l.proc.pid(),
                    signal: sig,
                });
            }
        }
    }

    /// Newcomers to the planned groups and subtrees since the last look.
    fn fetch(&mut self) -> Vec<Newcomer> {
        if self.scope.is_empty() {
            return Vec::new();
        }
        self.scope.newcomers(&self.planned)
    }

    /// Identity-check and signal `fresh` with `sig`; whether there were any.
    fn signal(
        &mut self,
        fresh: Vec<Newcomer>,
        outcomes: &mut Vec<Outcome>,
        sig: i32,
        on: &mut dyn FnMut(&Progress),
    ) -> bool {
        let arrived = !fresh.is_empty();
        for n in fresh {
            self.planned.insert(n.pid);
            self.conv.newcomers += 1;
            let o = new_outcome(n.pid, &n.name, n.role);
            signal_one(outcomes, &mut self.live, o, n.start_time, sig, on);
        }
        arrived
    }
}

/// Wait, re-read the planned groups and subtrees, signal newcomers with
/// the signal of the moment; escalate to SIGKILL when the grace is over;
/// stop when nothing is alive and nothing new arrived, or at the bound.
fn rounds(
    plan: &Plan,
    st: &mut RoundState,
    outcomes: &mut Vec<Outcome>,
    start: Instant,
    on: &mut dyn FnMut(&Progress),
    all_dead: &mut dyn FnMut(),
) {
    let mut sig = plan.policy.signal;
    let mut deadline = start + plan.policy.grace;
    loop {
        let step = if st.scope.is_empty() {
            deadline
        } else {
            deadline.min(Instant::now() + ROUND)
        };
        wait_all(&mut st.live, outcomes, start, step, on);
        if st.live.is_empty() {
            // Before this round's look for newcomers (a listing of /proc,
            // which takes a while on a busy machine): the port can be seen
            // free now.
            all_dead();
        }
        st.conv.rounds += 1;
        let arrived = st.signal_newcomers(outcomes, sig, on);
        st.conv.elapsed = start.elapsed();
        if st.live.is_empty() && !arrived {
            return;
        }
        if Instant::now() >= deadline {
            if sig == SIGKILL {
                st.conv.bounded = true;
                return;
            }
            sig = SIGKILL;
            deadline = Instant::now() + KILL_GRACE;
            on(&Progress::Escalating);
            st.kill_all(outcomes, on);
        }
        if st.conv.rounds >= MAX_ROUNDS {
            st.conv.bounded = true;
            return;
        }
    }
}

/// Carry out a plan: verify, signal, escalate, confirm. Blocking (up to
/// grace + 2 s + a short port check); run it off any UI thread.
///
/// A refused plan signals nothing and returns a report carrying the
/// refusals.
pub fn execute(plan: &Plan, on: &mut dyn FnMut(&Progress)) -> Report {
    let mut report = Report {
        ports: plan.ports.clone(),
        outcomes: Vec::new(),
        refusals: plan.refusals.clone(),
        port_free_after: None,
        still_held: Vec::new(),
        containers: Vec::new(),
        convergence: Convergence::default(),
    };
    if plan.is_refused() {
        return report;
    }
    let start = Instant::now();
    report.containers = stop_containers(plan);
    let mut probe = PortProbe::new(&report.ports);
    let mut all_dead = || probe.look();
    let (convergence, signalled) = signal_processes(plan, &mut report.outcomes, on, &mut all_dead);
    report.convergence = convergence;
    // "Free after" counts from the first action that frees the port: the
    // first container stop, else the first signal.
    let from = if plan.containers.is_empty() {
        signalled
    } else {
        start
    };
    on(&Progress::WaitingForPort);
    confirm_ports(&mut report, from, watch_time(plan), probe);
    report
}

/// Which of the plan's ports are still listening, and when they were first
/// seen free (observed, never assumed).
struct PortProbe {
    scanner: Scanner,
    ports: Vec<PortSpec>,
    first_free: Option<Instant>,
}

impl PortProbe {
    fn new(ports: &[PortSpec]) -> Self {
        PortProbe {
            scanner: Scanner::new(),
            ports: ports.to_vec(),
            first_free: None,
        }
    }

    /// The ports still held (all of them when the table cannot be read).
    fn held(&mut self) -> Vec<PortSpec> {
        let Ok(socks) = self.scanner.sockets(&Options::default()) else {
            return self.ports.clone();
        };
        self.ports
            .iter()
            .filter(|p| socks.iter().any(|s| p.matches(s.proto, s.port)))
            .copied()
            .collect()
    }

    /// Every target is dead: note the moment the ports are seen free, once.
    fn look(&mut self) {
        if self.first_free.is_none() && self.held().is_empty() {
            self.first_free = Some(Instant::now());
        }
    }
}

/// Stop the plan's containers through their engines' APIs (never by
/// signalling), each with the plan's grace.
fn stop_containers(plan: &Plan) -> Vec<ContainerOutcome> {
    plan.containers
        .iter()
        .map(|cs| {
            let t0 = Instant::now();
            let r =
                crate::os::engine::stop(Path::new(&cs.socket), &cs.container.id, plan.policy.grace);
            ContainerOutcome {
                container: cs.container.clone(),
                stopped_after: r.is_ok().then(|| t0.elapsed()),
                error: r.err().map(|e| format!("{}: {e}", cs.socket)),
            }
        })
        .collect()
}

/// Signal the plan's targets and whatever joins their groups or subtrees,
/// escalating and waiting as [`rounds`] does; record each outcome. Returns
/// how the rounds went and when the first signal was sent.
fn signal_processes(
    plan: &Plan,
    outcomes: &mut Vec<Outcome>,
    on: &mut dyn FnMut(&Progress),
    all_dead: &mut dyn FnMut(),
) -> (Convergence, Instant) {
    // The protected set, re-read now: ancestors could have changed since the
    // plan was made (our parent died and we were reparented).
    let me = std::process::id() as Pid;
    let ancestors = crate::os::ancestors_of(me);
    let mut st = RoundState::new(plan, me, &ancestors);
    // Read the groups once before the first signal: members forked since
    // the plan are signalled with it, and later rounds only read pids that
    // are new since (a listing of /proc), so the port is confirmed free
    // right after the last exit.
    let early = st.fetch();
    // A first SIGKILL in a subtree kill is a stop, then `kill_all`.
    let freeze_first = plan.policy.signal == SIGKILL && st.scope.has_tree();
    let first = if freeze_first {
        SIGSTOP
    } else {
        plan.policy.signal
    };
    // Convergence is bounded from the first signal, and "free after" is
    // measured from it too (unless containers were stopped first): the
    // read of the groups above is preparation, not the kill.
    let signalled = Instant::now();
    for t in &plan.targets {
        let mut o = new_outcome(t.pid, &t.name, t.role);
        if t.pid <= 1 || t.pid == me || ancestors.contains(&t.pid) {
            o.skipped = Some("protected (init, portwarden or its ancestor)".into());
            outcomes.push(o);
            continue;
        }
        signal_one(outcomes, &mut st.live, o, t.start_time, first, on);
    }
    st.signal(early, outcomes, first, on);
    if freeze_first {
        st.kill_all(outcomes, on);
    }
    rounds(plan, &mut st, outcomes, signalled, on, all_dead);
    (st.conv, signalled)
}

/// How long to watch a freed port: a supervisor restarts after a delay
/// (supervisord: about a second), so watch long enough to see it.
fn watch_time(plan: &Plan) -> Duration {
    if plan.respawners.iter().any(|r| r.supervised) {
        plan.policy.watch.max(plan.policy.respawn_watch)
    } else {
        plan.policy.watch
    }
}

/// Look at the ports again. A listening socket closes in the holder's exit
/// path before the pidfd wakes us, so "free" is normally immediate; a short
/// bounded re-check covers sockets whose last fd lived elsewhere. Once free,
/// the ports are watched for `watch` more, to catch a respawn.
fn confirm_ports(report: &mut Report, start: Instant, watch: Duration, mut probe: PortProbe) {
    let settle = Instant::now() + Duration::from_millis(300);
    let mut held = probe.held();
    while !held.is_empty() && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(5));
        held = probe.held();
    }
    let mut retaken_after = None;
    if held.is_empty() {
        // Free now, and maybe seen free already the moment the last target
        // died (before the convergence round's look for newcomers).
        let seen = probe.first_free.unwrap_or_else(Instant::now);
        let free_after = seen.duration_since(start);
        report.port_free_after = Some(free_after);
        let until = Instant::now() + watch;
        while held.is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
            held = probe.held();
        }
        if held.is_empty() {
            return;
        }
        report.port_free_after = None;
        retaken_after = Some(free_after);
    } else if let Some(seen) = probe.first_free {
        // Free when the last target died, held again by the time we looked.
        retaken_after = Some(seen.duration_since(start));
    }
    // Still held: say by whom — a supervisor may have respawned it.
    let snap = probe.scanner.scan(&Options::default()).ok();
    let ctx = Context::current();
    for port in held {
        let by = snap
            .as_ref()
            .map(|snap| holders_described(snap, port))
            .unwrap_or_default();
        let (respawner, next_step) = snap
            .as_ref()
            .map(|snap| respawn_next_step(snap, &ctx, port))
            .unwrap_or_default();
        report.still_held.push(StillHeld {
            port,
            by,
            retaken_after,
            respawner,
            next_step,
        });
    }
}

/// Reclaim `port` for a program that is about to bind it: plan with
/// `policy`, refuse rather than touch anything the policy forbids, execute,
/// and return the report only when the port was observed free.
///
/// With [`Policy::default`] only orphans and daemons of the calling user
/// are ended; `live`, `foreign` and `managed` holders make it refuse.
///
/// ```no_run
/// use portwarden::kill::{ensure_port_free, Policy};
///
/// // At start-up, reclaim our sidecar's port from an orphan of a previous
/// // run, but never touch anything else.
/// let policy = Policy { only: Some("my-sidecar".into()), ..Policy::default() };
/// match ensure_port_free(4317, &policy) {
///     Ok(report) => eprintln!("{}", report.summary()),
///     Err(e) => eprintln!("cannot reclaim :4317: {e}"),
/// }
/// // … now bind 4317.
/// ```
pub fn ensure_port_free(port: u16, policy: &Policy) -> Result<Report> {
    let snap = Scanner::new().scan(&Options::default())?;
    let ctx = Context::current();
    let spec = PortSpec { proto: None, port };
    let plan = plan_ports(&snap, &ctx, &[spec], policy);
    if plan.is_refused() {
        return Err(Error::Refused(
            plan.refusals
                .iter()
                .map(|r| r.reason.clone())
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    let report = execute(&plan, &mut |_| {});
    if report.success() {
        Ok(report)
    } else {
        Err(Error::NotFreed(report.summary()))
    }
}

/// What [`wait_port`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// No socket listens on the port.
    Free,
    /// Some socket listens on the port.
    Listening,
}

/// Poll the kernel's socket table (no `/proc` walk) every 10 ms until the
/// condition holds (`Ok(true)`) or `timeout` passes (`Ok(false)`).
pub fn wait_port(spec: PortSpec, cond: Condition, timeout: Option<Duration>) -> Result<bool> {
    let mut scanner = Scanner::new();
    let opts = Options::for_proto(spec.proto);
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let socks = scanner.sockets(&opts)?;
        let listening = socks.iter().any(|s| spec.matches(s.proto, s.port));
        if listening == (cond == Condition::Listening) {
            return Ok(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
