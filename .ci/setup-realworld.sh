#!/usr/bin/env bash
# Real-world servers for tests/integration/realworld.rs: nginx, apache2,
# dnsmasq, supervisord, redis-server, sshd, runit, s6 (Debian), node, and
# gunicorn (PyPI) for the python3 the tests use.
#
# Idempotent and quick when everything is there: only what is missing is
# installed. Installed services must not start (they would hold ports and
# outlive the run): a policy-rc.d that forbids starting services is put in
# place for the install when the machine has none, and removed afterwards.
# Fails loudly, naming what could not be installed.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "setup-realworld: need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

# package → a file it installs (what the tests run).
declare -A wanted=(
    [nginx]=/usr/sbin/nginx
    [apache2]=/usr/sbin/apache2
    [dnsmasq]=/usr/sbin/dnsmasq
    [supervisor]=/usr/bin/supervisord
    [redis-server]=/usr/bin/redis-server
    [openssh-server]=/usr/sbin/sshd
    [runit]=/usr/bin/runsv
    [s6]=/usr/bin/s6-supervise
)
missing=()
for pkg in "${!wanted[@]}"; do
    [ -x "${wanted[$pkg]}" ] || missing+=("$pkg")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)

if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || {
        echo "setup-realworld: missing ${missing[*]} and apt-get is not available" >&2
        exit 1
    }
    echo "setup-realworld: installing ${missing[*]}"
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # 101: "action forbidden" — invoke-rc.d starts nothing.
        as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
        made_policy=1
    fi
    as_root apt-get -o DPkg::Lock::Timeout=600 update
    rc=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
        install -y --no-install-recommends "${missing[@]}" || rc=$?
    if [ -n "$made_policy" ]; then
        as_root rm -f /usr/sbin/policy-rc.d
    fi
    [ "$rc" -eq 0 ] || { echo "setup-realworld: apt-get install ${missing[*]} failed" >&2; exit 1; }
    for pkg in "${!wanted[@]}"; do
        [ -x "${wanted[$pkg]}" ] || { echo "setup-realworld: $pkg installed but ${wanted[$pkg]} is missing" >&2; exit 1; }
    done
fi

# Nothing from the packages may hold a port during the tests: stop any
# service that did start (a machine without policy-rc.d support).
for svc in nginx apache2 dnsmasq supervisor redis-server ssh runit; do
    if command -v service >/dev/null 2>&1 && service "$svc" status >/dev/null 2>&1; then
        echo "setup-realworld: stopping $svc (started by its package)"
        as_root service "$svc" stop || true
    fi
done

# gunicorn for the python3 the tests run (tests/integration/util.rs
# resolves `python3` on PATH).
if ! python3 -c 'import gunicorn' >/dev/null 2>&1; then
    echo "setup-realworld: installing gunicorn with pip"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y python3-pip
    fi
    # Debian's system python refuses pip installs (PEP 668) unless told.
    python3 -m pip install --quiet gunicorn ||
        python3 -m pip install --quiet --break-system-packages gunicorn
    python3 -c 'import gunicorn' || { echo "setup-realworld: gunicorn is not importable after pip install" >&2; exit 1; }
fi

echo "setup-realworld: nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///'), apache2, dnsmasq, supervisord, redis, sshd, runit, s6, node $(node --version), gunicorn $(python3 -c 'import gunicorn; print(gunicorn.__version__)')"
