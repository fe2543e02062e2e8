//! `portwarden mcp`: the official Python MCP SDK (PyPI `mcp`) as the
//! client, launching `portwarden mcp` over stdio exactly as an agent's
//! host application would (`tests/fixtures/mcp_client.py`), against real
//! listeners.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::util::{
    Guard, Spec, fixture_script, is_alive, is_root, portwarden_path, python, wait_until,
};

/// Run the client: initialize, list tools, then `calls` in order.
fn session(server_args: &[&str], calls: Value) -> Value {
    let spec = json!({
        "command": portwarden_path(),
        "args": server_args,
        "calls": calls,
    });
    let out = Command::new(python())
        .arg(fixture_script("mcp_client.py"))
        .arg(spec.to_string())
        .env_remove("SUDO_UID")
        .output()
        .expect("run the MCP client");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'mcp'"),
        "the Python MCP SDK is missing: pip install mcp (run .ci/setup-fleet.sh)"
    );
    assert!(out.status.success(), "MCP client failed: {stderr}");
    serde_json::from_slice(&out.stdout).expect("client output is JSON")
}

fn result(doc: &Value, i: usize) -> (&Value, Value) {
    let r = &doc["results"][i];
    let text = r["text"].as_str().expect("text");
    (
        r,
        serde_json::from_str(text).unwrap_or(Value::String(text.into())),
    )
}

#[test]
fn mcp_read_only_lists_explains_and_refuses_to_kill() {
    let mut guard = Guard::new();
    let fx = Spec::new("orphan").start();
    let h = fx.one("holder").clone();
    guard.adopt(h.pid, h.start_time);
    let port = h.port.to_string();
    let doc = session(
        &["mcp"],
        json!([
            {"name": "list_listeners", "arguments": {"ports": [port]}},
            {"name": "explain_port", "arguments": {"port": port}},
            {"name": "free_port", "arguments": {"port": port, "allow_live": true}},
        ]),
    );
    assert_eq!(doc["server"], "portwarden");
    let mut names: Vec<&str> = doc["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["explain_port", "free_port", "list_listeners"]);
    let free = doc["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "free_port")
        .expect("free_port");
    let d = free["description"].as_str().expect("description");
    assert!(
        d.contains("allow_live") && d.contains("ask the user"),
        "{d}"
    );
    assert_eq!(free["schema"]["required"], json!(["port"]));

    let (r, list) = result(&doc, 0);
    assert_eq!(r["is_error"], false);
    let sockets = list["sockets"].as_array().expect("sockets");
    assert_eq!(sockets.len(), 1, "{list}");
    assert_eq!(sockets[0]["holders"][0]["pid"], h.pid);
    assert_eq!(sockets[0]["holders"][0]["class"], "orphan");

    let (r, why) = result(&doc, 1);
    assert_eq!(r["is_error"], false);
    assert!(
        why.as_str()
            .is_some_and(|t| t.contains(&format!("pid {}", h.pid))),
        "{why}"
    );

    let (r, text) = result(&doc, 2);
    assert_eq!(r["is_error"], true);
    assert!(
        text.as_str()
            .is_some_and(|t| t.contains("read-only") && t.contains("--allow-kill")),
        "{text}"
    );
    assert!(
        is_alive(h.pid, h.start_time),
        "read-only: nothing signalled"
    );
}

#[test]
fn mcp_allow_kill_frees_an_orphan_but_not_a_live_or_foreign_holder() {
    let mut guard = Guard::new();
    let orphan = Spec::new("orphan").start();
    let o = orphan.one("holder").clone();
    guard.adopt(o.pid, o.start_time);
    // Its parent is this test: part of a running program.
    let live = Spec::new("listen").start();
    let l = live.one("holder").clone();
    // The fixture runs in this checkout: its project is named by the
    // manifest (Cargo.toml's package name), whatever the directory is called.
    let project = env!("CARGO_PKG_NAME").to_string();
    let mut calls = vec![
        json!({"name": "list_listeners", "arguments": {"ports": [o.port.to_string()], "project": project}}),
        json!({"name": "list_listeners", "arguments": {"ports": [o.port.to_string()], "project": "no-such-project"}}),
        json!({"name": "free_port", "arguments": {"port": l.port.to_string()}}),
        json!({"name": "free_port", "arguments": {"port": o.port.to_string(), "grace": "1s"}}),
    ];
    let foreign = is_root().then(|| Spec::new("listen").run_as(65534).start());
    if let Some(f) = &foreign {
        let p = f.one("holder").port.to_string();
        calls.push(json!({"name": "free_port", "arguments": {"port": p, "allow_live": true}}));
    }
    let doc = session(&["mcp", "--allow-kill"], Value::Array(calls));
    assert!(
        doc["instructions"]
            .as_str()
            .is_some_and(|i| i.contains("free_port is enabled")),
        "{doc}"
    );

    let (_, found) = result(&doc, 0);
    assert_eq!(
        found["sockets"].as_array().map(Vec::len),
        Some(1),
        "{found}"
    );
    assert_eq!(found["sockets"][0]["project"], project.as_str());
    let (_, none) = result(&doc, 1);
    assert_eq!(none["sockets"], json!([]));

    let (r, refused) = result(&doc, 2);
    assert_eq!(r["is_error"], true, "{refused}");
    assert_eq!(refused["refused"], true);
    assert_eq!(refused["plan"]["refusals"][0]["class"], "live");
    assert!(
        is_alive(l.pid, l.start_time),
        "a live holder needs allow_live"
    );

    let (r, freed) = result(&doc, 3);
    assert_eq!(r["is_error"], false, "{freed}");
    assert_eq!(freed["plan"]["targets"][0]["pid"], o.pid);
    assert!(freed["report"]["port_free_after_ms"].is_number(), "{freed}");
    assert!(wait_until(Duration::from_secs(5), || !is_alive(
        o.pid,
        o.start_time
    )));

    if let Some(f) = &foreign {
        let fh = f.one("holder");
        let (r, refused) = result(&doc, 4);
        assert_eq!(r["is_error"], true);
        assert_eq!(
            refused["plan"]["refusals"][0]["class"], "foreign",
            "{refused}"
        );
        assert!(
            is_alive(fh.pid, fh.start_time),
            "foreign is never freed over MCP"
        );
    }
}
