//! The only place the TUI talks to [`portwarden::kill`].
//!
//! Everything else in the TUI works with the plain [`PlanView`] this module
//! builds, and passes the opaque [`Planned::plan`] back here to execute. That
//! keeps the kill API's names in one small file: if they change, only this
//! file changes. Planning is pure (a function of the snapshot); execution
//! blocks for up to the grace period and more, so it runs on a worker thread
//! that reports over the event loop's channel.

use portwarden::classify::Context;
use portwarden::kill;
use portwarden::model::Snapshot;
use std::sync::mpsc::Sender;

use super::msg::{KillRequest, KillTarget, Msg};
pub use super::msg::{PlanView, Planned, RefusalView, TargetView};

/// The policy the TUI plans with: the signal and grace defaults, `live`
/// holders allowed (the confirmation dialog is the consent), and `force`
/// only when the user pressed the force key on a refusal.
fn policy(force: bool, base: &kill::Policy) -> kill::Policy {
    kill::Policy {
        allow_live: true,
        force,
        ..base.clone()
    }
}

/// Plan a kill request against a snapshot, with `base`'s signal and grace.
/// Pure: nothing is signalled.
pub fn plan(snap: &Snapshot, ctx: &Context, req: &KillRequest, base: &kill::Policy) -> Planned {
    let pol = policy(req.force, base);
    let make = |pol: &kill::Policy| match &req.target {
        KillTarget::Ports(ports) => kill::plan_ports(snap, ctx, ports, pol),
        KillTarget::Group(pid) => kill::plan_pid(snap, ctx, *pid, pol),
    };
    let plan = make(&pol);
    let mut v = view(&plan);
    if plan.is_refused() && !req.force {
        let forced = make(&policy(true, base));
        v.forcible = !forced.is_refused() && !forced.is_empty();
    }
    Planned {
        view: v,
        plan: Some(plan),
    }
}

/// The plain view of a plan.
pub fn view(plan: &kill::Plan) -> PlanView {
    PlanView {
        ports: plan.ports.iter().map(|p| p.to_string()).collect(),
        targets: plan
            .targets
            .iter()
            .map(|t| TargetView {
                pid: t.pid,
                user: t.user.clone().unwrap_or_else(|| t.uid.to_string()),
                command: t.short_command.clone(),
                class: t.class,
                role: match t.role {
                    kill::Role::Holder => "holder",
                    kill::Role::Group => "group",
                    kill::Role::Descendant => "descendant",
                },
            })
            .collect(),
        refusals: refusal_views(&plan.refusals),
        protected: plan.protected.clone(),
        signal: plan.policy.signal,
        grace: plan.policy.grace,
        forced: plan.policy.force,
        containers: plan
            .containers
            .iter()
            .map(|c| {
                format!(
                    "{} through the {} API (pid {} is not signalled)",
                    c.container.describe(),
                    c.container.engine.as_str(),
                    c.holder
                )
            })
            .collect(),
        forcible: false,
    }
}

/// Refusals as the dialogs show them: workers of one program refused for
/// one reason are said once.
pub fn refusal_views(refusals: &[kill::Refusal]) -> Vec<RefusalView> {
    kill::fold_refusal_list(refusals)
        .into_iter()
        .map(|r| RefusalView {
            pid: r.pid,
            class: r.class,
            reason: r.reason,
        })
        .collect()
}

fn describe(p: &kill::Progress) -> String {
    match p {
        kill::Progress::Signalled { pid, signal } => {
            format!("sent {} to {pid}", super::state::signal_name(*signal))
        }
        kill::Progress::Exited { pid, after } => {
            format!("{pid} exited after {} ms", after.as_millis())
        }
        kill::Progress::Escalating => "grace period over: escalating to SIGKILL".to_string(),
        kill::Progress::WaitingForPort => "waiting for the port to be released…".to_string(),
    }
}

/// Execute a confirmed plan on a worker thread. Each progress step arrives
/// as [`Msg::KillProgress`], the end as [`Msg::KillDone`] with the report's
/// summary. Send errors mean the UI is gone; the kill still completes (the
/// event loop joins the thread before the process exits, so a quit in the
/// middle does not cut an escalation short).
pub fn spawn_execute(
    plan: kill::Plan,
    tx: Sender<Msg>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("portwarden-kill".into())
        .spawn(move || {
            let progress_tx = tx.clone();
            let report = kill::execute(&plan, &mut |p| {
                let _ = progress_tx.send(Msg::KillProgress(describe(p)));
            });
            let _ = tx.send(Msg::KillDone {
                success: report.success(),
                summary: report.summary(),
            });
        })
}

/// A [`Planned`] with no real plan behind it, for tests of the dialogs.
#[cfg(test)]
pub fn fixture(view: PlanView) -> Planned {
    Planned { view, plan: None }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use portwarden::model::{Pid, Process};

    use super::*;

    /// init (1), a shell (800, our parent), us (900), a foreign holder
    /// (700, uid 33); we are uid 1000.
    fn snap() -> (Snapshot, Context) {
        let mut procs = BTreeMap::new();
        for (pid, ppid, uid) in [(1, 0, 0), (800, 1, 1000), (900, 800, 1000), (700, 1, 33)] {
            let p = Process {
                uid,
                start_time: 100 + pid as u64,
                ..Process::new(pid, ppid, "p")
            };
            procs.insert(pid, p);
        }
        let snap = Snapshot {
            processes: procs,
            ..Snapshot::default()
        };
        let ctx = Context {
            uid: 1000,
            self_pid: 900,
            self_pgid: 900,
            ancestors: HashSet::from([800, 1]),
            ..Context::default()
        };
        (snap, ctx)
    }

    fn group(pid: Pid) -> KillRequest {
        KillRequest {
            target: KillTarget::Group(pid),
            force: false,
        }
    }

    #[test]
    fn force_is_offered_only_when_it_would_signal_something() {
        let (snap, ctx) = snap();
        let base = kill::Policy::default();
        let foreign = plan(&snap, &ctx, &group(700), &base);
        assert!(foreign.view.is_refused() && foreign.view.forcible);
        for never in [1, 800, 900, 4242] {
            let p = plan(&snap, &ctx, &group(never), &base);
            assert!(p.view.is_refused(), "pid {never}");
            assert!(!p.view.forcible, "force offered for pid {never}");
        }
    }
}
