#!/usr/bin/env bash
# Real container engines for tests/integration/containers.rs (issue 10).
#
# SOURCE this file (`. .ci/setup-containers.sh`): it exports what the tests
# need into the calling shell. Idempotent: installs only what is missing,
# reuses a daemon that already answers, imports the image only once.
#
# 1. packages: docker.io (dockerd, docker-proxy, containerd, runc),
#    busybox-static, podman (conmon, crun), iptables, uidmap;
# 2. dockerd: the one at $DOCKER_HOST or /var/run/docker.sock when it
#    answers, else one started here with its own --data-root, --exec-root,
#    --pidfile and socket under $PW_CT_DIR, bridge and iptables on, and
#    --userland-proxy=true (so a published port is held by docker-proxy);
#    exports DOCKER_HOST=unix://…;
# 3. image local/bb for docker and podman, built from the static busybox
#    with no registry (`tar -C rootfs -c . | docker import - local/bb`);
# 4. podman: checks that `podman run` works; on a cgroup v1/v2 hybrid host
#    crun refuses to run, so it exports CONTAINERS_CONF with runtime runc;
#    starts `podman system service` on /run/podman/podman.sock (portwarden's
#    default podman API socket) unless something answers there;
# 5. rootless podman: a user pwrootless (created when missing, with subuids
#    and /run/user/UID), /dev/net/tun usable by users (slirp4netns opens it
#    inside the user namespace), local/bb imported as that user; exports
#    PW_ROOTLESS_USER. Its published ports are held by rootlessport.
#
# Any failure stops CI with the reason and the daemon's log: a runtime that
# cannot start is a failure, never a skipped test.

pw_ct_main() {
    local dir="${PW_CT_DIR:-/tmp/portwarden-ci-containers}"
    local started
    started=$(date +%s%N)
    mkdir -p "$dir"

    pw_ct_packages || return 1
    pw_ct_dockerd "$dir" || return 1
    pw_ct_image_docker "$dir" || return 1
    pw_ct_podman "$dir" || return 1
    pw_ct_rootless "$dir" || return 1

    local ms=$((($(date +%s%N) - started) / 1000000))
    printf 'containers ready in %d.%03d s: DOCKER_HOST=%s podman API %s%s\n' \
        $((ms / 1000)) $((ms % 1000)) "$DOCKER_HOST" \
        /run/podman/podman.sock "${CONTAINERS_CONF:+ CONTAINERS_CONF=$CONTAINERS_CONF}"
}

pw_ct_fail() {
    printf '\n\033[1;31msetup-containers: %s\033[0m\n' "$*" >&2
    return 1
}

pw_ct_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        pw_ct_fail "need root (or sudo) to run: $*"
    fi
}

# Install the packages whose programs are missing, in one apt-get call.
pw_ct_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 && command -v docker-proxy >/dev/null 2>&1 &&
        command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    pw_ct_static_busybox || missing+=(busybox-static)
    command -v podman >/dev/null 2>&1 && command -v conmon >/dev/null 2>&1 || missing+=(podman)
    command -v iptables >/dev/null 2>&1 || missing+=(iptables)
    command -v newuidmap >/dev/null 2>&1 || missing+=(uidmap)
    command -v runc >/dev/null 2>&1 || missing+=(runc)
    if [ "${#missing[@]}" -gt 0 ]; then
        command -v apt-get >/dev/null 2>&1 ||
            pw_ct_fail "missing ${missing[*]} and apt-get is not available to install them" || return 1
        echo "installing ${missing[*]}"
        pw_ct_root apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null || return 1
        pw_ct_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
            install -y -q "${missing[@]}" || pw_ct_fail "apt-get install ${missing[*]} failed" || return 1
    fi
    # A busybox that is not static cannot run in an empty image.
    pw_ct_static_busybox ||
        pw_ct_fail "/bin/busybox is not statically linked (install busybox-static)"
}

# A busybox that runs in an empty image: present and not dynamically linked.
pw_ct_static_busybox() {
    [ -x /bin/busybox ] || return 1
    # ldd exits 1 for a static binary: look at what it says, not its status.
    case "$(LC_ALL=C ldd /bin/busybox 2>&1)" in
    *"not a dynamic executable"*) return 0 ;;
    *) return 1 ;;
    esac
}

# Does the engine API on unix socket $1 answer GET /_ping?
pw_ct_ping() {
    [ -S "$1" ] || return 1
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
sys.exit(0 if b" 200 " in s.recv(256) else 1)
EOF
}

pw_ct_dockerd() {
    local dir="$1" sock
    if [ -n "${DOCKER_HOST:-}" ]; then
        sock="${DOCKER_HOST#unix://}"
        pw_ct_ping "$sock" && echo "dockerd answers at $DOCKER_HOST" && return 0
        echo "DOCKER_HOST=$DOCKER_HOST does not answer: starting our own dockerd"
    elif pw_ct_ping /var/run/docker.sock; then
        export DOCKER_HOST=unix:///var/run/docker.sock
        echo "dockerd answers at $DOCKER_HOST"
        return 0
    fi
    sock="$dir/docker.sock"
    export DOCKER_HOST="unix://$sock"
    if pw_ct_ping "$sock"; then
        echo "our dockerd already answers at $DOCKER_HOST"
        return 0
    fi
    echo "starting dockerd (data $dir/docker-data, socket $sock)"
    # setsid: the daemon outlives this script and the step that ran it.
    pw_ct_root setsid dockerd \
        --data-root "$dir/docker-data" --exec-root "$dir/docker-exec" \
        --pidfile "$dir/dockerd.pid" -H "unix://$sock" \
        --userland-proxy=true --iptables=true \
        >"$dir/dockerd.log" 2>&1 </dev/null &
    local i
    for i in $(seq 1 300); do
        pw_ct_ping "$sock" && { echo "dockerd up after ${i}00 ms"; return 0; }
        sleep 0.1
    done
    tail -n 40 "$dir/dockerd.log" >&2
    pw_ct_fail "dockerd did not answer on $sock within 30 s (log above: $dir/dockerd.log)"
}

# A root filesystem holding only the static busybox and its applet links.
pw_ct_rootfs() {
    local root="$1"
    rm -rf "$root"
    mkdir -p "$root/bin" "$root/tmp" "$root/www"
    cp /bin/busybox "$root/bin/busybox"
    local a
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
    done
}

pw_ct_image_docker() {
    local dir="$1"
    if docker image inspect local/bb >/dev/null 2>&1; then
        echo "docker image local/bb present"
        return 0
    fi
    pw_ct_rootfs "$dir/rootfs"
    tar -C "$dir/rootfs" -c . | docker import - local/bb >/dev/null ||
        pw_ct_fail "docker import of local/bb failed" || return 1
    docker run --rm local/bb busybox true ||
        pw_ct_fail "docker cannot run a container from local/bb (log: $dir/dockerd.log)"
}

pw_ct_podman() {
    local dir="$1"
    if ! podman image exists local/bb; then
        [ -d "$dir/rootfs" ] || pw_ct_rootfs "$dir/rootfs"
        tar -C "$dir/rootfs" -c . | podman import -q - local/bb >/dev/null ||
            pw_ct_fail "podman import of local/bb failed" || return 1
    fi
    local run=(run --rm --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 local/bb busybox true)
    if ! podman "${run[@]}" >/dev/null 2>"$dir/podman-run.err"; then
        # crun: "cgroups in hybrid mode not supported": runc copes.
        echo "podman run failed with the default runtime: $(tail -n 1 "$dir/podman-run.err")"
        printf '[engine]\nruntime = "runc"\n' >"$dir/containers.conf"
        export CONTAINERS_CONF="$dir/containers.conf"
        podman "${run[@]}" >/dev/null ||
            pw_ct_fail "podman cannot run a container from local/bb with crun or runc" || return 1
        echo "podman runs containers with runc (CONTAINERS_CONF=$CONTAINERS_CONF)"
    fi
    local sock=/run/podman/podman.sock
    if pw_ct_ping "$sock"; then
        echo "podman API answers at $sock"
        return 0
    fi
    pw_ct_root mkdir -p /run/podman
    pw_ct_root setsid env ${CONTAINERS_CONF:+CONTAINERS_CONF=$CONTAINERS_CONF} \
        podman system service --time=0 "unix://$sock" \
        >"$dir/podman-service.log" 2>&1 </dev/null &
    local i
    for i in $(seq 1 200); do
        pw_ct_ping "$sock" && { echo "podman API up after ${i}00 ms"; return 0; }
        sleep 0.1
    done
    tail -n 20 "$dir/podman-service.log" >&2
    pw_ct_fail "podman system service did not answer on $sock within 20 s"
}

# Run podman as the rootless user, from a directory it may enter.
pw_ct_as_rootless() {
    local user="$1" uid
    shift
    uid=$(id -u "$user")
    (cd /tmp && runuser -u "$user" -- env HOME="$(getent passwd "$user" | cut -d: -f6)" \
        XDG_RUNTIME_DIR="/run/user/$uid" ${CONTAINERS_CONF:+CONTAINERS_CONF=$CONTAINERS_CONF} "$@")
}

pw_ct_rootless() {
    local dir="$1" user=pwrootless uid
    if ! id -u "$user" >/dev/null 2>&1; then
        pw_ct_root useradd --create-home --shell /bin/sh "$user" ||
            pw_ct_fail "cannot create user $user for rootless podman" || return 1
    fi
    uid=$(id -u "$user")
    local f
    for f in /etc/subuid /etc/subgid; do
        grep -q "^$user:" "$f" 2>/dev/null || echo "$user:300000:65536" | pw_ct_root tee -a "$f" >/dev/null
    done
    pw_ct_root mkdir -p "/run/user/$uid"
    pw_ct_root chown "$user:" "/run/user/$uid"
    pw_ct_root chmod 700 "/run/user/$uid"
    # Debian makes it 0666; some images ship it 0600, which breaks slirp4netns.
    [ "$(stat -c %a /dev/net/tun 2>/dev/null)" = 666 ] || pw_ct_root chmod 666 /dev/net/tun ||
        pw_ct_fail "cannot make /dev/net/tun usable for rootless podman" || return 1
    chmod 755 "$dir"
    if [ -n "${CONTAINERS_CONF:-}" ]; then chmod 644 "$CONTAINERS_CONF"; fi
    if ! pw_ct_as_rootless "$user" podman image exists local/bb 2>/dev/null; then
        tar -C "$dir/rootfs" -c . | pw_ct_as_rootless "$user" podman import -q - local/bb >/dev/null ||
            pw_ct_fail "rootless podman import of local/bb failed" || return 1
    fi
    pw_ct_as_rootless "$user" podman run --rm local/bb busybox true >/dev/null 2>"$dir/rootless-run.err" || {
        tail -n 5 "$dir/rootless-run.err" >&2
        pw_ct_fail "rootless podman (user $user) cannot run a container from local/bb"
        return 1
    }
    export PW_ROOTLESS_USER="$user"
    echo "rootless podman runs as user $user"
}

pw_ct_main
