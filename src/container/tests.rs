//! Unit tests of `container`, with literal fixtures.

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
