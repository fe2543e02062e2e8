#!/usr/bin/env bash
# Tools for the fleet, metrics and MCP tests (issue 14), installed only when
# missing (idempotent, quick on a second run):
#   - openssh-server (sshd), openssh-client (ssh, ssh-keygen), iproute2 (ip
#     netns): the fleet tests build test hosts as network namespaces, each
#     running a real sshd;
#   - prometheus (promtool) and prometheus-node-exporter: the metrics tests;
#   - the official Python MCP SDK (PyPI `mcp`) for the python3 the fixtures
#     run with: the MCP tests' client.
# No daemon is started here: each test starts (and tears down) its own sshd
# and node_exporter. Fails loudly, naming what could not be installed.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "setup-fleet: need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
{ command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; } || missing+=(openssh-client)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)

if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || {
        echo "setup-fleet: missing ${missing[*]} and apt-get is not available" >&2
        exit 1
    }
    echo "setup-fleet: installing ${missing[*]}"
    as_root apt-get -o DPkg::Lock::Timeout=600 update
    # policy-rc.d may be absent on a fresh machine: the packages' services
    # would start; they are not needed (tests run their own), so stop them.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
        install -y --no-install-recommends "${missing[@]}"
    for svc in ssh prometheus prometheus-node-exporter; do
        if command -v systemctl >/dev/null 2>&1; then
            as_root systemctl stop "$svc" >/dev/null 2>&1 || true
        fi
    done
fi

# sshd's privilege separation directory (normally made by its unit).
as_root mkdir -p /run/sshd
as_root chmod 0755 /run/sshd

if ! python3 -c 'import mcp' >/dev/null 2>&1; then
    echo "setup-fleet: installing the Python MCP SDK (pip install mcp)"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
            install -y --no-install-recommends python3-pip
    fi
    python3 -m pip install --quiet mcp ||
        python3 -m pip install --quiet --break-system-packages mcp
fi

# Verify, naming anything still missing.
/usr/sbin/sshd -V 2>&1 | head -n 1 || true
for p in ip ssh ssh-keygen promtool prometheus-node-exporter; do
    command -v "$p" >/dev/null 2>&1 || { echo "setup-fleet: $p still missing" >&2; exit 1; }
done
[ -x /usr/sbin/sshd ] || { echo "setup-fleet: /usr/sbin/sshd still missing" >&2; exit 1; }
python3 -c 'import mcp' || { echo "setup-fleet: the python mcp package still cannot be imported" >&2; exit 1; }
echo "setup-fleet: ok"
