# Everything the tests drive, installed and started: SOURCE this file
# (`. .ci/setup.sh`, as root) in the shell that then runs the README's test
# command — it exports what the container tests need (DOCKER_HOST,
# CONTAINERS_CONF, PW_ROOTLESS_USER). `.ci/run` does exactly this.
#
# Each topic's script installs only what is missing (apt-get, pip), starts
# the daemons its tests need, and fails loudly when it cannot. The first
# failure stops here with `return 1` (never `exit`: an interactive shell
# that sourced this stays open).

pw_step() {
    bash ".ci/$1" || { echo "CI setup failed in .ci/$1" >&2; return 1; }
}

pw_setup() {
    # Real dockerd + podman API + image local/bb (tests/integration/containers.rs).
    source .ci/setup-containers.sh || return 1
    # sshd, ssh, ip netns, promtool, node_exporter, the Python MCP SDK.
    pw_step setup-fleet.sh || return 1
    # clang/llvm/bpftool; the committed BPF object must equal its source.
    pw_step setup-bpf.sh || return 1
    # cc for the hardening tests' C fixtures.
    pw_step setup-hardening.sh || return 1
    # nginx, apache2, dnsmasq, supervisord, redis, sshd, runit, s6, node, gunicorn.
    pw_step setup-realworld.sh || return 1
    # git for the project-context tests.
    pw_step setup-context.sh
}

pushd "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" >/dev/null && {
    pw_setup
    pw_status=$?
    popd >/dev/null
    return "$pw_status" 2>/dev/null || (exit "$pw_status")
}
