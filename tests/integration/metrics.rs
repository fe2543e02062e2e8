//! `portwarden metrics`: what a real node_exporter (Debian's
//! `prometheus-node-exporter`, textfile collector only, on loopback) serves
//! from the file portwarden wrote, and what Prometheus' own `promtool`
//! says of that file and of the example alert rules.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{Guard, Probe, Spec, free_port, portwarden, wait_until};

const NODE_EXPORTER: &str = "prometheus-node-exporter";

fn require(program: &str) {
    let ok = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{program} is missing: the metrics tests need Debian's prometheus (promtool) and \
         prometheus-node-exporter (run .ci/setup-fleet.sh)"
    );
}

/// One sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, String);

/// Parse the text format (enough of it: names, quoted label values with
/// `\\`, `\"`, `\n` escapes, the value).
fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => {
                let (n, v) = line.split_once(' ').expect("name value");
                out.push((n.to_string(), BTreeMap::new(), v.to_string()));
                continue;
            }
        };
        let mut labels = BTreeMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut val = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => val.push('\n'),
                        Some(o) => val.push(o),
                        None => panic!("{line}"),
                    },
                    '"' => break,
                    c => val.push(c),
                }
            }
            labels.insert(key.trim_start_matches(',').to_string(), val);
            if chars.peek() == Some(&'}') {
                chars.next();
                break;
            }
        }
        let value: String = chars.collect();
        out.push((name.to_string(), labels, value.trim().to_string()));
    }
    out
}

fn find<'a>(samples: &'a [Sample], name: &str, want: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let (head, body) = body.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then_some(body)
        .or_else(|| head.starts_with("HTTP/1.1 200").then_some(body))
        .map(str::to_string)
}

fn promtool_check_metrics(path: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(path).expect("metrics file"))
        .output()
        .expect("promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn node_exporter_serves_portwarden_metrics_and_promtool_accepts_them() {
    require("promtool");
    require(NODE_EXPORTER);
    let mut guard = Guard::new();
    // A holder whose name needs escaping, and a stuck listener with
    // connections waiting in its accept queue.
    let name = r#"pw"q\x"#;
    let orphan = Spec::new("orphan").args(&["--name", name]).start();
    let oh = orphan.one("holder").clone();
    guard.adopt(oh.pid, oh.start_time);
    let stuck = Spec::new("stuck")
        .args(&["--backlog", "1", "--clients", "3"])
        .start();
    let sh = stuck.one("holder").clone();

    let dir = tempfile::tempdir().expect("tempdir");
    write_textfile(dir.path());
    let samples = parse(&scrape(&mut guard, dir.path()));
    let scrape_err = find(&samples, "node_textfile_scrape_error", &[]);
    assert_eq!(scrape_err.len(), 1, "{samples:?}");
    assert_eq!(
        scrape_err[0].2, "0",
        "node_exporter could not read the file"
    );
    assert_info(&samples, oh.port, name);
    assert_stuck(&samples, sh.port);
    let orphans = find(&samples, "portwarden_listeners", &[("class", "orphan")]);
    assert!(orphans[0].2.parse::<u64>().expect("number") >= 1);
    assert_eq!(
        find(&samples, "portwarden_scan_duration_seconds", &[]).len(),
        1
    );
    // No pid in any label: a restart must not make new series.
    let pids = [oh.pid.to_string(), sh.pid.to_string()];
    for (n, l, _) in samples
        .iter()
        .filter(|(n, _, _)| n.starts_with("portwarden_"))
    {
        assert!(
            l.values().all(|v| !pids.contains(v)),
            "{n} has a pid label: {l:?}"
        );
    }
}

/// `metrics --textfile DIR/portwarden.prom`: one file, no temp file left,
/// and promtool accepts it.
fn write_textfile(dir: &Path) {
    let file = dir.join("portwarden.prom");
    portwarden()
        .args(["metrics", "--textfile"])
        .arg(&file)
        .assert()
        .code(0);
    let entries: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(entries, ["portwarden.prom"], "no temp file left behind");
    let (ok, text) = promtool_check_metrics(&file);
    assert!(ok, "promtool check metrics: {text}");
}

/// Start node_exporter (textfile collector only) on loopback and scrape it.
fn scrape(guard: &mut Guard, dir: &Path) -> String {
    let port = free_port(Probe::Tcp4);
    let ne = Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--collector.disable-defaults", "--collector.textfile"])
        .arg(format!("--collector.textfile.directory={}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node_exporter");
    guard.child(ne);
    let mut body = String::new();
    assert!(
        wait_until(Duration::from_secs(15), || {
            body = http_get(port, "/metrics").unwrap_or_default();
            body.contains("portwarden_")
        }),
        "node_exporter on 127.0.0.1:{port} never served portwarden metrics: {body}"
    );
    body
}

/// The orphan's info series: its labels, the escaped name round-tripped.
fn assert_info(samples: &[Sample], port: u16, name: &str) {
    let op = port.to_string();
    let info = find(
        samples,
        "portwarden_listener_info",
        &[("port", &op), ("proto", "tcp"), ("addr", "127.0.0.1")],
    );
    assert_eq!(info.len(), 1, "{samples:?}");
    let l = &info[0].1;
    assert_eq!(l["class"], "orphan");
    assert_eq!(l["command"], name, "the escaped name round-trips");
    assert_eq!(l["user"], "root");
    assert!(l.contains_key("project"), "{l:?}");
    assert_eq!(info[0].2, "1");
}

/// The stuck listener: stuck 1, queue ≥ backlog 1, its connections.
fn assert_stuck(samples: &[Sample], port: u16) {
    let sp = port.to_string();
    let key = [
        ("port", sp.as_str()),
        ("proto", "tcp"),
        ("addr", "127.0.0.1"),
    ];
    let stuck_v = find(samples, "portwarden_listener_stuck", &key);
    assert_eq!(stuck_v.len(), 1, "{samples:?}");
    assert_eq!(stuck_v[0].2, "1");
    let backlog = find(samples, "portwarden_listener_backlog", &key);
    let queue = find(samples, "portwarden_listener_accept_queue", &key);
    let q: u64 = queue[0].2.parse().expect("number");
    let b: u64 = backlog[0].2.parse().expect("number");
    assert!(q >= b && b == 1, "queue {q}, backlog {b}");
    let mut conn_key = key.to_vec();
    conn_key.push(("state", "established"));
    let conns = find(samples, "portwarden_listener_connections", &conn_key);
    assert_eq!(conns.len(), 1, "{samples:?}");
    assert!(conns[0].2.parse::<u64>().expect("number") >= 2, "{conns:?}");
}

#[test]
fn metrics_go_to_stdout_without_textfile_and_the_example_rules_pass_promtool() {
    require("promtool");
    let out = portwarden().arg("metrics").output().expect("run");
    assert!(out.status.success());
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("stdout.prom");
    std::fs::write(&f, &out.stdout).expect("write");
    let (ok, text) = promtool_check_metrics(&f);
    assert!(ok, "promtool check metrics: {text}");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/portwarden.rules.yml");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("2 rules found"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
