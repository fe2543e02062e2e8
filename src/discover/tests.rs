//! Unit tests of `discover`, with literal fixtures.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::*;

/// A python listener we started; killed and reaped even on failure.
struct Fixture(Child, u16);
impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Listen on 127.0.0.1:0; on a line on stdin, fork a child that keeps
/// the socket. Prints the port, then "forked" after each fork.
fn listener() -> Fixture {
    let script = r#"
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
for line in sys.stdin:
    if os.fork() == 0:
        sys.stdin.close(); import time; time.sleep(30); os._exit(0)
    print("forked", flush=True)
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    out.read_line(&mut line).expect("port line");
    let port = line.trim().parse().expect("port");
    child.stdout = Some(out.into_inner());
    Fixture(child, port)
}

fn holders(snap: &Snapshot, port: u16) -> Vec<Pid> {
    snap.sockets_on(port, Some(Proto::Tcp))
        .flat_map(|s| s.holders.clone())
        .collect()
}

#[test]
fn incremental_scan_sees_new_sockets_and_new_holders() {
    use std::io::Write;
    let mut scanner = Scanner::new();
    scanner.full_every = 1000;
    let opts = Options::default();
    scanner.scan(&opts).expect("first scan");
    assert!(scanner.last_scan().full);

    // A new listener appears: found by an incremental scan.
    let mut fx = listener();
    let pid = fx.0.id() as Pid;
    let snap = scanner.scan(&opts).expect("second scan");
    assert!(!scanner.last_scan().full, "should be incremental");
    assert_eq!(holders(&snap, fx.1), vec![pid]);
    let p = snap.process(pid).expect("holder in table");
    assert!(p.detailed && p.cmdline.first().is_some_and(|a| a.contains("python")));

    // The holder forks: the child (a new process) holds the same known
    // inode and must show up too.
    let stdin = fx.0.stdin.as_mut().expect("stdin");
    writeln!(stdin, "fork").expect("ask fork");
    let mut line = String::new();
    let mut out = BufReader::new(fx.0.stdout.take().expect("stdout"));
    out.read_line(&mut line).expect("forked");
    let snap = scanner.scan(&opts).expect("third scan");
    assert!(!scanner.last_scan().full);
    let h = holders(&snap, fx.1);
    assert_eq!(h.len(), 2, "{h:?}");
    assert!(h.contains(&pid));
    let worker = *h.iter().find(|&&p| p != pid).expect("worker");
    assert_eq!(snap.process(worker).map(|p| p.ppid), Some(pid));

    // Everything ends: the socket leaves the table.
    drop(fx);
    // The forked worker reads stdin (closed now) only before the fork;
    // it sleeps, so kill it explicitly — it is our grandchild.
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(worker).expect("pid"),
        rustix::process::Signal::KILL,
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let snap = scanner.scan(&opts).expect("scan");
        if snap.process(worker).is_none_or(|p| p.state == 'Z') {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "worker did not die");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn unresolved_reasons_name_only_what_was_checked() {
    let mut s = crate::testkit::Sock::tcp(8080).build();
    s.uid = 0;
    let root = Visibility {
        euid: 0,
        init_pidns: Some(true),
        pidns_seen: 1,
        searched: 120,
        ..Visibility::default()
    };
    let r = unresolved_reason(&s, &root, &[]);
    assert!(
        r.contains("all 120 processes") && r.contains("SCM_RIGHTS"),
        "{r}"
    );
    assert!(!r.contains("another PID namespace"), "{r}");

    let r = unresolved_reason(&s, &root, &[4242]);
    assert!(
        r.contains("pid 4242") && r.contains("exited during the scan"),
        "{r}"
    );

    let contained = Visibility {
        init_pidns: Some(false),
        pidns_seen: 2,
        ..root.clone()
    };
    let r = unresolved_reason(&s, &contained, &[]);
    assert!(
        r.contains("not the machine's initial one") && r.contains("2 PID"),
        "{r}"
    );

    let protected = Visibility {
        denied: 1,
        ..root.clone()
    };
    let r = unresolved_reason(&s, &protected, &[]);
    assert!(
        r.contains("1 process(es) could not be inspected even as root"),
        "{r}"
    );

    let user = Visibility {
        euid: 1000,
        hidepid: Some("hidepid=2".into()),
        ..root
    };
    let r = unresolved_reason(&s, &user, &[]);
    assert!(
        r.contains("uid 0") && r.contains("hidepid=2") && r.contains("root"),
        "{r}"
    );
}

#[test]
fn incremental_equals_full() {
    // Other tests start and stop listeners concurrently, so compare only
    // what is ours: the fixture's socket, its holder and its details.
    let opts = Options::default();
    let mut inc = Scanner::new();
    inc.full_every = 1000;
    inc.scan(&opts).expect("scan");
    let fx = listener();
    let a = inc.scan(&opts).expect("incremental");
    assert!(!inc.last_scan().full);
    let b = Scanner::new().scan(&opts).expect("full");
    let ours = |s: &Snapshot| -> Vec<(Socket, Vec<Process>)> {
        s.sockets_on(fx.1, None)
            .map(|x| {
                // The scheduler state is volatile (R/S); all else must match.
                let procs = x
                    .holders
                    .iter()
                    .filter_map(|p| s.process(*p).cloned())
                    .map(|p| Process { state: '?', ..p })
                    .collect();
                (x.clone(), procs)
            })
            .collect()
    };
    assert_eq!(ours(&a).len(), 1);
    assert_eq!(ours(&a), ours(&b));
}
