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
mod tests {
    use super::*;
    use crate::testkit::{Proc, Sock, snap};

    const ID: &str = "b77e2cccdedb4ae4f1331b57a7f0749a51fdf2b098753c4a082ba3865e5aab31";
    const PID: &str = "3a5b2d5a821cb4ea5da2028cd0ca00ab5e495dac7c09edb49e32fcb27df7b594";

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    fn docker_proxy() -> Process {
        let mut p = Proc::new(500, "docker-proxy")
            .ppid(400)
            .group(400, 400)
            .uid(0)
            .build();
        p.cmdline = argv(
            "/usr/sbin/docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port 18080 \
             -container-ip 172.17.0.2 -container-port 8080",
        );
        p.cgroup = Some("0::/system.slice/docker.service\n".into());
        p
    }

    /// What docker 20.10 answered to `GET /containers/json` here.
    fn api_list() -> String {
        format!(
            r#"[{{"Id":"{ID}","Names":["/pwtest1"],"Image":"local/bb","Ports":[{{"IP":"127.0.0.1","PrivatePort":8080,"PublicPort":18080,"Type":"tcp"}}],"Labels":{{"com.docker.compose.project":"p","com.docker.compose.service":"s"}},"State":"running","NetworkSettings":{{"Networks":{{"bridge":{{"IPAddress":"172.17.0.2"}}}}}}}}]"#
        )
    }

    #[test]
    fn docker_proxy_arguments() {
        let f = forwarder(&docker_proxy()).expect("a forwarder");
        assert_eq!(f.kind, ForwarderKind::DockerProxy);
        assert_eq!(f.engine, Engine::Docker);
        assert_eq!(f.proto, Some(Proto::Tcp));
        assert_eq!(f.host_port, Some(18080));
        assert_eq!(f.container_ip, Some("172.17.0.2".parse().expect("ip")));
        assert_eq!(f.container_port, Some(8080));
        assert_eq!(f.id, None);
        // Go accepts `--flag=value` too.
        let mut p = docker_proxy();
        p.cmdline = argv("docker-proxy --proto=udp --host-port=53 --container-ip=10.0.0.9");
        let f = forwarder(&p).expect("a forwarder");
        assert_eq!(
            (f.proto, f.host_port),
            (Some(Proto::Udp), Some(53)),
            "{f:?}"
        );
    }

    #[test]
    fn conmon_arguments_and_non_forwarders() {
        let mut p = Proc::new(600, "conmon").uid(0).build();
        p.cmdline = argv(&format!(
            "/usr/bin/conmon --api-version 1 -c {PID} -u {PID} -r /usr/bin/runc -n pwptest1 --exit-dir /run/libpod/exits"
        ));
        let f = forwarder(&p).expect("conmon is a forwarder");
        assert_eq!(f.engine, Engine::Podman);
        assert_eq!(f.id.as_deref(), Some(PID));
        assert_eq!(f.name.as_deref(), Some("pwptest1"));
        assert_eq!(forwarder(&Proc::new(7, "nginx").uid(0).build()), None);
        let r = Proc::new(8, "rootlessport").cmd(&["rootlessport"]).build();
        assert_eq!(
            forwarder(&r).map(|f| f.kind),
            Some(ForwarderKind::RootlessPort)
        );
    }

    #[test]
    fn cgroup_paths_of_real_engines() {
        let d = format!("0::/docker/{ID}\n");
        assert_eq!(from_cgroup(&d), Some((Engine::Docker, ID.to_string())));
        let v1 = format!("9:name=systemd:/docker/{ID}\n4:memory:/docker/{ID}\n");
        assert_eq!(from_cgroup(&v1), Some((Engine::Docker, ID.to_string())));
        let scope = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(from_cgroup(&scope), Some((Engine::Docker, ID.to_string())));
        let lp = format!("8:pids:/libpod_parent/libpod-{PID}\n");
        assert_eq!(from_cgroup(&lp), Some((Engine::Podman, PID.to_string())));
        let sys = format!("0::/machine.slice/libpod-{PID}.scope/container\n");
        assert_eq!(from_cgroup(&sys), Some((Engine::Podman, PID.to_string())));
        // conmon's own cgroup is not a container's.
        assert_eq!(from_cgroup("8:pids:/libpod_parent/conmon\n"), None);
        assert_eq!(
            from_cgroup(
                "0::/kubepods.slice/kubepods-pod1234.slice/cri-containerd-abcdef012345.scope\n"
            ),
            None
        );
    }

    #[test]
    fn api_answer_parses() {
        let cs = parse_api_list(&api_list(), Engine::Docker, "/run/d.sock");
        assert_eq!(cs.len(), 1);
        let c = &cs[0];
        assert_eq!(c.name.as_deref(), Some("pwtest1"));
        assert_eq!(c.image.as_deref(), Some("local/bb"));
        assert_eq!(c.ports[0].host_port, 18080);
        assert_eq!(c.ips, vec!["172.17.0.2".parse::<IpAddr>().expect("ip")]);
        assert_eq!(c.stop_command(), "docker compose -p p stop s");
        assert_eq!(c.api.as_deref(), Some("/run/d.sock"));
        assert!(parse_api_list("not json", Engine::Docker, "x").is_empty());
    }

    #[test]
    fn disk_state_parses() {
        let cfg = format!(
            r#"{{"ID":"{ID}","Name":"/pwtest1","State":{{"Running":true}},"Config":{{"Image":"local/bb","Labels":{{}}}},"NetworkSettings":{{"Networks":{{"bridge":{{"IPAddress":"172.17.0.2"}}}},"Ports":{{"8080/tcp":[{{"HostIp":"127.0.0.1","HostPort":"18080"}}]}}}}}}"#
        );
        let c = parse_config_v2(&cfg).expect("running");
        assert_eq!(c.stop_command(), "docker stop pwtest1");
        assert_eq!(c.ports[0].host_port, 18080);
        assert_eq!(c.ports[0].container_port, 8080);
        assert_eq!(c.source, Source::Disk);
        assert_eq!(
            parse_config_v2(&cfg.replace("\"Running\":true", "\"Running\":false")),
            None
        );
        let pj = format!(
            r#"[{{"id":"{PID}","names":["pwptest1"],"metadata":"{{\"image-name\":\"localhost/local/bb:latest\",\"name\":\"pwptest1\"}}"}}]"#
        );
        let ps = parse_podman_containers_json(&pj);
        assert_eq!(ps[0].image.as_deref(), Some("localhost/local/bb:latest"));
        assert_eq!(ps[0].stop_command(), "podman stop pwptest1");
    }

    #[test]
    fn forwarder_is_managed_by_its_container() {
        let mut s = snap(
            vec![docker_proxy()],
            vec![Sock::tcp(18080).holders(&[500]).build()],
        );
        s.containers = ContainerTable {
            probes: vec![EngineProbe {
                engine: Engine::Docker,
                socket: "/run/d.sock".into(),
                error: None,
            }],
            containers: parse_api_list(
                &api_list().replace(",\"Labels\":{\"com.docker.compose.project\":\"p\",\"com.docker.compose.service\":\"s\"}", ""),
                Engine::Docker,
                "/run/d.sock",
            ),
            ..ContainerTable::default()
        };
        let v = verdict(&s, &docker_proxy()).expect("a container verdict");
        assert_eq!(v.class, Class::Managed);
        let Some(Manager::Container(c)) = &v.manager else {
            panic!("{v:?}")
        };
        assert_eq!(c.id, ID);
        assert_eq!(c.stop_command(), "docker stop pwtest1");
        assert!(
            v.reasons[0].contains("docker-proxy forwards this published port to docker container pwtest1 (id b77e2cccdedb, image local/bb) at 172.17.0.2:8080"),
            "{v:?}"
        );
        assert!(
            v.reasons
                .iter()
                .any(|r| r.contains("`docker stop pwtest1`"))
        );
        // Found by container IP when the port table does not say.
        s.containers.containers[0].ports.clear();
        let v = verdict(&s, &docker_proxy()).expect("a container verdict");
        assert!(v.reasons[0].contains("pwtest1"), "{v:?}");
    }

    #[test]
    fn rootlessport_tied_by_discovery_is_named_and_run_as_its_user() {
        let p = Proc::new(800, "rootlessport")
            .cmd(&["rootlessport"])
            .build();
        let mut s = snap(
            vec![p.clone()],
            vec![Sock::tcp(18090).holders(&[800]).build()],
        );
        let mut c = Container::bare(Engine::Podman, PID);
        c.name = Some("rl1".into());
        s.containers.containers.push(c);
        s.containers.forwarded.push((800, PID.to_string()));
        let v = verdict(&s, &p).expect("a forwarder");
        assert!(v.reasons[0].contains("podman container rl1"), "{v:?}");
        assert!(
            v.reasons
                .iter()
                .any(|r| r.contains("shares") || r.contains("network namespace")),
            "{v:?}"
        );
        assert!(
            v.reasons
                .iter()
                .any(|r| r.starts_with("stop it with `podman stop rl1` as user u1000")),
            "{v:?}"
        );
        // Untied, it stays unidentified (but still managed).
        s.containers.forwarded.clear();
        let v = verdict(&s, &p).expect("a forwarder");
        assert!(v.reasons[0].contains("(unidentified)"), "{v:?}");
        assert_eq!(v.class, Class::Managed);
    }

    #[test]
    fn no_engine_is_said_and_still_managed() {
        let mut s = snap(
            vec![docker_proxy()],
            vec![Sock::tcp(18080).holders(&[500]).build()],
        );
        s.containers.probes.push(EngineProbe {
            engine: Engine::Docker,
            socket: "/tmp/dead.sock".into(),
            error: Some("/tmp/dead.sock: connection refused".into()),
        });
        let v = verdict(&s, &docker_proxy()).expect("a container verdict");
        assert_eq!(v.class, Class::Managed);
        assert!(
            v.reasons
                .iter()
                .any(|r| r == "no docker engine API reachable: /tmp/dead.sock: connection refused"),
            "{v:?}"
        );
        assert!(
            v.reasons
                .iter()
                .any(|r| r.contains("known only by the -container-ip")),
            "{v:?}"
        );
        assert!(
            v.reasons
                .iter()
                .any(|r| r.contains("`docker stop $(docker ps -q --filter publish=18080)`")),
            "{v:?}"
        );
    }

    #[test]
    fn a_root_forwarder_is_managed_not_foreign() {
        // docker-proxy runs as root; the invoking user is uid 1000.
        let s = snap(
            vec![docker_proxy()],
            vec![Sock::tcp(18080).holders(&[500]).build()],
        );
        let v = crate::classify::classify_process(&s, &crate::testkit::ctx(), 500);
        assert_eq!(v.class, Class::Managed, "{v:?}");
        assert!(v.manager.as_ref().and_then(Manager::container).is_some());
    }

    #[test]
    fn process_inside_a_container_is_managed_by_it() {
        let p = Proc::new(700, "httpd")
            .ppid(650)
            .cgroup(&format!("0::/docker/{ID}\n"))
            .build();
        let mut s = snap(
            vec![p.clone()],
            vec![Sock::tcp(8080).holders(&[700]).build()],
        );
        let v = verdict(&s, &p).expect("in a container");
        let Some(Manager::Container(c)) = &v.manager else {
            panic!("{v:?}")
        };
        assert_eq!(c.stop_command(), "docker stop b77e2cccdedb");
        s.containers.containers = parse_api_list(&api_list(), Engine::Docker, "/d");
        let v = verdict(&s, &p).expect("in a container");
        assert!(v.reasons[0].contains("runs inside docker container pwtest1"));
        assert!(
            v.reasons
                .iter()
                .any(|r| r.contains("`docker compose -p p stop s`"))
        );
        assert_eq!(verdict(&s, &Proc::new(9, "sshd").uid(0).build()), None);
    }
}
