//! Containers: who a published port really belongs to.
//!
//! A port published with `docker run -p` or `podman run -p` is held on the
//! host by a *forwarder* — `docker-proxy` (a child of dockerd), `conmon`
//! (rootful podman keeps the port reserved there) or `rootlessport` — not by
//! the service. Killing the forwarder un-publishes the port while the
//! container keeps running, and the forwarder sits in the engine's cgroup,
//! so the generic "managed by a systemd unit" advice would be to stop the
//! whole engine. The right subject is the container the forwarder serves;
//! the right action is to stop that container through its engine.
//!
//! This module is the pure half: the model ([`Container`], [`ContainerTable`]
//! recorded in the [`Snapshot`]), parsers for what the engines and the disk
//! say (literal-fixture tested), recognising a forwarder from its command
//! line, and the verdict for a holder. The I/O half — the engine's HTTP API
//! on its unix socket, the on-disk fallbacks — is [`crate::os::engine`],
//! run by discovery so that classification stays a function of plain data.

use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use crate::classify::{Class, Manager, Verdict};
use crate::escape::escape;
use crate::model::{Process, Proto, Snapshot};

/// A container engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Docker (dockerd).
    Docker,
    /// Podman.
    Podman,
}

impl Engine {
    /// Lower-case name, also the name of its CLI (`docker`, `podman`).
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }
}

/// Where what we know about a container came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The engine's HTTP API answered.
    Api,
    /// Read from the engine's state on disk (the API did not answer).
    Disk,
    /// Only the forwarder's or the cgroup's own words (no engine data).
    #[default]
    Process,
}

/// One port a container publishes on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// TCP or UDP.
    pub proto: Proto,
    /// Host address it is bound to (`None`: every address).
    pub host_ip: Option<IpAddr>,
    /// Host port.
    pub host_port: u16,
    /// Port inside the container.
    pub container_port: u16,
}

/// A container, as far as it is known. Serialized as the holder's
/// `"container"` JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    /// Its engine.
    pub engine: Engine,
    /// Full container id (empty when even that is unknown).
    pub id: String,
    /// Container name, without docker's leading `/`.
    pub name: Option<String>,
    /// Image it runs.
    pub image: Option<String>,
    /// `com.docker.compose.project` label.
    pub compose_project: Option<String>,
    /// `com.docker.compose.service` label.
    pub compose_service: Option<String>,
    /// Its addresses on the engine's networks.
    #[serde(skip)]
    pub ips: Vec<IpAddr>,
    /// Ports it publishes on the host.
    #[serde(skip)]
    pub ports: Vec<Published>,
    /// Where this record came from.
    #[serde(skip)]
    pub source: Source,
    /// The API socket that answered for it: what `--force` stops it through.
    #[serde(skip)]
    pub api: Option<String>,
    /// A rootless container's owner: its engine CLI must run as that user.
    #[serde(skip)]
    pub rootless_user: Option<String>,
}

impl Container {
    /// A record that knows only the engine and id.
    pub fn bare(engine: Engine, id: &str) -> Self {
        Container {
            engine,
            id: id.to_string(),
            name: None,
            image: None,
            compose_project: None,
            compose_service: None,
            ips: Vec::new(),
            ports: Vec::new(),
            source: Source::Process,
            api: None,
            rootless_user: None,
        }
    }

    /// The command a person runs to stop it: the compose service when it
    /// is labelled as one (stopping only the container would leave compose
    /// believing it runs), else the container by name, else by id.
    pub fn stop_command(&self) -> String {
        let cli = self.engine.as_str();
        if let (Some(p), Some(s)) = (&self.compose_project, &self.compose_service) {
            return format!("{cli} compose -p {p} stop {s}");
        }
        match (&self.name, self.id.is_empty()) {
            (Some(n), _) => format!("{cli} stop {n}"),
            (None, false) => format!("{cli} stop {}", short_id(&self.id)),
            (None, true) => match self.ports.first() {
                Some(p) => format!("{cli} stop $({cli} ps -q --filter publish={})", p.host_port),
                None => format!("{cli} ps, then {cli} stop NAME"),
            },
        }
    }

    /// `docker container web (id 3f2a9c0d1e2b, image local/bb, compose
    /// project p service s)`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} container", self.engine.as_str());
        if let Some(n) = &self.name {
            s.push(' ');
            s.push_str(n);
        }
        let mut facts = Vec::new();
        if !self.id.is_empty() {
            facts.push(format!("id {}", short_id(&self.id)));
        }
        if let Some(i) = &self.image {
            facts.push(format!("image {i}"));
        }
        match (&self.compose_project, &self.compose_service) {
            (Some(p), Some(sv)) => facts.push(format!("compose project {p} service {sv}")),
            (Some(p), None) => facts.push(format!("compose project {p}")),
            _ => {}
        }
        if facts.is_empty() {
            s.push_str(" (unidentified)");
        } else {
            s.push_str(&format!(" ({})", facts.join(", ")));
        }
        s
    }
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// What one engine's API said when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineProbe {
    /// The engine.
    pub engine: Engine,
    /// The socket path tried.
    pub socket: String,
    /// Why it did not answer (`None`: it answered).
    pub error: Option<String>,
}

/// What discovery learned about containers, recorded in the [`Snapshot`].
/// Empty unless some holder looked like a forwarder or sat in a container's
/// cgroup: nobody else pays for the engine queries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerTable {
    /// Every engine asked, with its answer.
    pub probes: Vec<EngineProbe>,
    /// Running containers the engines (or their state on disk) reported.
    pub containers: Vec<Container>,
    /// Forwarder pid → container id, where discovery tied them by
    /// something other than ports (rootlessport shares a network namespace
    /// with its container; conmon's `-c` names it).
    pub forwarded: Vec<(crate::model::Pid, String)>,
}

impl ContainerTable {
    /// The container of `engine` whose id is `id` (or starts with it).
    pub fn by_id(&self, engine: Engine, id: &str) -> Option<&Container> {
        if id.is_empty() {
            return None;
        }
        self.containers
            .iter()
            .find(|c| c.engine == engine && (c.id == id || c.id.starts_with(id)))
    }

    /// The engine's API probe, if it was asked.
    pub fn probe(&self, engine: Engine) -> Option<&EngineProbe> {
        self.probes.iter().find(|p| p.engine == engine)
    }
}

/// Which kind of forwarder a process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwarderKind {
    /// docker's userland proxy.
    DockerProxy,
    /// podman's container monitor, which keeps rootful ports reserved.
    Conmon,
    /// rootless podman's port forwarder.
    RootlessPort,
}

/// A forwarder and what its command line says about its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarder {
    /// Which forwarder.
    pub kind: ForwarderKind,
    /// The engine it belongs to.
    pub engine: Engine,
    /// `-proto`.
    pub proto: Option<Proto>,
    /// `-host-ip`.
    pub host_ip: Option<IpAddr>,
    /// `-host-port`.
    pub host_port: Option<u16>,
    /// `-container-ip`.
    pub container_ip: Option<IpAddr>,
    /// `-container-port`.
    pub container_port: Option<u16>,
    /// conmon's `-c` / `--cid`.
    pub id: Option<String>,
    /// conmon's `-n` / `--name`.
    pub name: Option<String>,
}

impl ForwarderKind {
    /// Its program name.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwarderKind::DockerProxy => "docker-proxy",
            ForwarderKind::Conmon => "conmon",
            ForwarderKind::RootlessPort => "rootlessport",
        }
    }
}

/// The value of a Go- or getopt-style flag: `-f V`, `-f=V`, `--f V`,
/// `--f=V`, for any of `names` (given without dashes).
pub fn flag_value<'a>(args: &'a [String], names: &[&str]) -> Option<&'a str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let bare = a.trim_start_matches('-');
        if bare.len() == a.len() {
            continue;
        }
        let (key, inline) = match bare.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (bare, None),
        };
        if names.contains(&key) {
            return match inline {
                Some(v) => Some(v),
                None => it.next().map(String::as_str),
            };
        }
    }
    None
}

/// Recognise a published port's forwarder by its program name (comm or
/// the executable's file name) and read its arguments.
pub fn forwarder(p: &Process) -> Option<Forwarder> {
    let exe_base = p
        .exe
        .as_deref()
        .and_then(|e| e.rsplit('/').next())
        .map(|b| b.trim_end_matches(" (deleted)"));
    let argv0 = p.cmdline.first().and_then(|a| a.rsplit('/').next());
    let is = |n: &str| p.name == n || exe_base == Some(n) || argv0 == Some(n);
    let (kind, engine) = if is("docker-proxy") {
        (ForwarderKind::DockerProxy, Engine::Docker)
    } else if is("conmon") {
        (ForwarderKind::Conmon, Engine::Podman)
    } else if is("rootlessport") {
        (ForwarderKind::RootlessPort, Engine::Podman)
    } else {
        return None;
    };
    let args = p.cmdline.get(1..).unwrap_or(&[]);
    let get = |n: &[&str]| flag_value(args, n);
    let proto = match get(&["proto"]) {
        Some("udp") => Some(Proto::Udp),
        Some("tcp") => Some(Proto::Tcp),
        _ => None,
    };
    Some(Forwarder {
        kind,
        engine,
        proto,
        host_ip: get(&["host-ip"]).and_then(|s| s.parse().ok()),
        host_port: get(&["host-port"]).and_then(|s| s.parse().ok()),
        container_ip: get(&["container-ip"]).and_then(|s| s.parse().ok()),
        container_port: get(&["container-port"]).and_then(|s| s.parse().ok()),
        id: get(&["c", "cid"]).map(str::to_string),
        name: get(&["n", "name"]).map(str::to_string),
    })
}

/// The container a process's cgroup puts it in (`/docker/<id>`,
/// `docker-<id>.scope`, `libpod-<id>…`, `/libpod_parent/libpod-<id>`), as
/// engine and id. Kubernetes pods are left to the generic cgroup rules.
pub fn from_cgroup(cgroup: &str) -> Option<(Engine, String)> {
    match crate::classify::manager_from_cgroup(cgroup, &[])? {
        Manager::Docker { id } => Some((Engine::Docker, id)),
        Manager::Podman { id } => Some((Engine::Podman, id)),
        _ => None,
    }
}

/// Is the holder a forwarder or inside a container, so that discovery
/// must ask the engine? Returns the engine to ask.
pub fn engine_wanted(p: &Process) -> Option<Engine> {
    if let Some(f) = forwarder(p) {
        return Some(f.engine);
    }
    // Every holder passes here on every scan: a substring test first, so
    // the common case (no container) costs no parse.
    let cg = p.cgroup.as_deref()?;
    if !cg.contains("docker") && !cg.contains("libpod") {
        return None;
    }
    from_cgroup(cg).map(|(e, _)| e)
}

/// The container a forwarder serves, from the table: by id (conmon), by
/// the published host port it listens on, then by the container address in
/// its arguments.
pub fn for_forwarder<'a>(
    table: &'a ContainerTable,
    pid: crate::model::Pid,
    f: &Forwarder,
    bound: &[(Proto, IpAddr, u16)],
) -> Option<&'a Container> {
    let tied = table
        .forwarded
        .iter()
        .find(|(p, _)| *p == pid)
        .map(|(_, id)| id.as_str());
    if let Some(c) =
        f.id.as_deref()
            .or(tied)
            .and_then(|id| table.by_id(f.engine, id))
    {
        return Some(c);
    }
    let ours = table.containers.iter().filter(|c| c.engine == f.engine);
    let by_port = ours.clone().find(|c| {
        c.ports.iter().any(|pp| {
            bound.iter().any(|&(proto, ip, port)| {
                pp.proto == proto
                    && pp.host_port == port
                    && pp.host_ip.is_none_or(|h| h == ip || h.is_unspecified())
            })
        })
    });
    if by_port.is_some() {
        return by_port;
    }
    let ip = f.container_ip?;
    ours.clone().find(|c| c.ips.contains(&ip))
}

/// The verdict for a holder that is a container forwarder or runs inside a
/// container, `None` for anything else. Always `managed`: a forwarder is
/// never the thing to kill, and a container's process belongs to the
/// container.
pub fn verdict(snap: &Snapshot, p: &Process) -> Option<Verdict> {
    if let Some(f) = forwarder(p) {
        return Some(forwarder_verdict(snap, p, &f));
    }
    let (engine, id) = from_cgroup(p.cgroup.as_deref()?)?;
    let c = snap
        .containers
        .by_id(engine, &id)
        .cloned()
        .unwrap_or_else(|| Container::bare(engine, &id));
    let mut reasons = vec![format!("runs inside {}", c.describe())];
    reasons.extend(provenance(snap, &c));
    reasons.push(stop_advice(&c));
    Some(managed(reasons, c))
}

fn managed(reasons: Vec<String>, c: Container) -> Verdict {
    Verdict {
        class: Class::Managed,
        reasons,
        manager: Some(Manager::Container(c)),
    }
}

fn stop_advice(c: &Container) -> String {
    let who = match &c.rootless_user {
        Some(u) => format!(
            " as user {} (a rootless container: only its owner's {} sees it)",
            escape(u),
            c.engine.as_str()
        ),
        None => String::new(),
    };
    format!(
        "stop it with `{}`{who} (or --force, which stops the container through the {} API)",
        c.stop_command(),
        c.engine.as_str()
    )
}

/// How we know, and — when the API did not answer — why not.
fn provenance(snap: &Snapshot, c: &Container) -> Vec<String> {
    let mut out = Vec::new();
    let probe = snap.containers.probe(c.engine);
    match (c.source, probe) {
        (Source::Api, Some(pr)) => out.push(format!(
            "the {} engine API at {} names it",
            c.engine.as_str(),
            escape(c.api.as_deref().unwrap_or(&pr.socket))
        )),
        (_, Some(EngineProbe { error: Some(e), .. })) => {
            out.push(format!(
                "no {} engine API reachable: {e}",
                c.engine.as_str()
            ));
            if c.source == Source::Disk {
                out.push(format!(
                    "named from {}'s state on disk instead",
                    c.engine.as_str()
                ));
            }
        }
        _ => {}
    }
    out
}

fn forwarder_verdict(snap: &Snapshot, p: &Process, f: &Forwarder) -> Verdict {
    let bound: Vec<(Proto, IpAddr, u16)> = snap
        .sockets
        .iter()
        .filter(|s| s.holders.contains(&p.pid))
        .map(|s| (s.proto, s.addr, s.port))
        .collect();
    let mut found = for_forwarder(&snap.containers, p.pid, f, &bound).cloned();
    if f.kind == ForwarderKind::RootlessPort
        && let Some(c) = found.as_mut()
    {
        c.rootless_user = Some(p.user.clone().unwrap_or_else(|| p.uid.to_string()));
    }
    let c = found.unwrap_or_else(|| {
        let mut c = Container::bare(f.engine, f.id.as_deref().unwrap_or(""));
        c.name = f.name.clone();
        // What the forwarder itself says is published: enough for a stop
        // command that finds the container by its port.
        c.ports = bound
            .iter()
            .map(|&(proto, ip, port)| Published {
                proto,
                host_ip: Some(ip),
                host_port: port,
                container_port: f.container_port.unwrap_or(0),
            })
            .collect();
        c
    });
    let target = match (f.container_ip, f.container_port) {
        (Some(ip), Some(port)) => format!(" at {}", endpoint(ip, port)),
        _ => String::new(),
    };
    let mut reasons = match f.kind {
        // Rootful podman forwards with firewall rules; conmon only keeps
        // the port reserved, as the container's monitor.
        ForwarderKind::Conmon => vec![
            format!(
                "conmon, podman's container monitor, holds this published port for {}",
                c.describe()
            ),
            "it is not the service: killing it leaves the container running without its monitor"
                .to_string(),
        ],
        _ => vec![
            format!(
                "{} forwards this published port to {}{target}",
                f.kind.as_str(),
                c.describe()
            ),
            "a forwarder is never the thing to kill: killing it un-publishes the port while \
             the container keeps running"
                .to_string(),
        ],
    };
    reasons.extend(provenance(snap, &c));
    if c.source == Source::Process {
        let from = match (&f.id, &f.name, f.container_ip) {
            _ if f.kind == ForwarderKind::RootlessPort && !c.id.is_empty() => {
                "tied to the container by the network namespace they share; named by its conmon's -c/-n"
            }
            (_, Some(_), _) | (Some(_), _, _) => "named from its own arguments (-n/-c)",
            (None, None, Some(_)) => {
                "the container is known only by the -container-ip in its arguments"
            }
            _ => "the container could not be identified",
        };
        reasons.push(from.to_string());
    }
    reasons.push(stop_advice(&c));
    managed(reasons, c)
}

fn endpoint(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Containers from an engine's `GET /containers/json` answer (docker's API,
/// which podman's compat API speaks too).
pub fn parse_api_list(json: &str, engine: Engine, api: &str) -> Vec<Container> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|it| {
            let id = it.get("Id")?.as_str()?;
            let mut c = Container::bare(engine, id);
            c.name = it
                .get("Names")
                .and_then(Value::as_array)
                .and_then(|n| n.first())
                .and_then(Value::as_str)
                .map(|n| n.trim_start_matches('/').to_string());
            c.image = str_at(it, &["Image"]);
            labels(&mut c, it.get("Labels"));
            for port in it
                .get("Ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(host_port) = port.get("PublicPort").and_then(as_port) else {
                    continue;
                };
                c.ports.push(Published {
                    proto: proto_of(port.get("Type").and_then(Value::as_str)),
                    host_ip: port
                        .get("IP")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok()),
                    host_port,
                    container_port: port.get("PrivatePort").and_then(as_port).unwrap_or(0),
                });
            }
            c.ips = network_ips(it.get("NetworkSettings"));
            c.source = Source::Api;
            c.api = Some(api.to_string());
            Some(c)
        })
        .collect()
}

/// A running docker container from its `config.v2.json` (what root can read
/// under `<data-root>/containers/<id>/` when the API does not answer);
/// `None` for a stopped one or unreadable text.
pub fn parse_config_v2(json: &str) -> Option<Container> {
    let v: Value = serde_json::from_str(json).ok()?;
    if v.pointer("/State/Running").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let mut c = Container::bare(Engine::Docker, v.get("ID")?.as_str()?);
    c.name = str_at(&v, &["Name"]).map(|n| n.trim_start_matches('/').to_string());
    c.image = v
        .pointer("/Config/Image")
        .and_then(Value::as_str)
        .map(str::to_string);
    labels(&mut c, v.pointer("/Config/Labels"));
    c.ips = network_ips(v.get("NetworkSettings"));
    if let Some(Value::Object(ports)) = v.pointer("/NetworkSettings/Ports") {
        for (key, binds) in ports {
            let (cport, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            for b in binds.as_array().into_iter().flatten() {
                let Some(host_port) = b.get("HostPort").and_then(as_port) else {
                    continue;
                };
                c.ports.push(Published {
                    proto: proto_of(Some(proto)),
                    host_ip: b
                        .get("HostIp")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok()),
                    host_port,
                    container_port: cport.parse().unwrap_or(0),
                });
            }
        }
    }
    c.source = Source::Disk;
    Some(c)
}

/// Podman containers from its storage's `containers.json` (ids, names and
/// image names; no ports or addresses — conmon's `-c` finds them by id).
pub fn parse_podman_containers_json(json: &str) -> Vec<Container> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|it| {
            let mut c = Container::bare(Engine::Podman, it.get("id")?.as_str()?);
            c.name = it
                .get("names")
                .and_then(Value::as_array)
                .and_then(|n| n.first())
                .and_then(Value::as_str)
                .map(str::to_string);
            // `metadata` is JSON inside a string.
            c.image = it
                .get("metadata")
                .and_then(Value::as_str)
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
                .and_then(|m| str_at(&m, &["image-name"]));
            c.source = Source::Disk;
            Some(c)
        })
        .collect()
}

fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn as_port(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|&p| p != 0)
}

fn proto_of(s: Option<&str>) -> Proto {
    if s == Some("udp") {
        Proto::Udp
    } else {
        Proto::Tcp
    }
}

fn labels(c: &mut Container, labels: Option<&Value>) {
    let Some(l) = labels else { return };
    c.compose_project = str_at(l, &["com.docker.compose.project"]);
    c.compose_service = str_at(l, &["com.docker.compose.service"]);
}

fn network_ips(settings: Option<&Value>) -> Vec<IpAddr> {
    let Some(Value::Object(nets)) = settings.and_then(|s| s.get("Networks")) else {
        return Vec::new();
    };
    nets.values()
        .filter_map(|n| n.get("IPAddress")?.as_str()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests;
