#!/usr/bin/env bash
# The BPF holder finder (src/os/bpf/): make sure its tools exist, rebuild
# the committed object from source and fail when it differs — the object
# portwarden embeds must be exactly what task_sockets.bpf.c compiles to.
#
# Installs (apt-get, only what is missing): clang and llvm (compiler,
# llvm-strip), libbpf-dev (bpf/bpf_helpers.h, bpf_core_read.h), bpftool
# (checks the object's BTF). The tests also need cc (the Rust linker's),
# unshare and setpriv (util-linux) and a kernel with BTF; say so early.
# Idempotent; sourced or run from the repository root or anywhere.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/src/os/bpf"

bpf_fail() {
    printf '\n\033[1;31msetup-bpf: %s\033[0m\n' "$*" >&2
    exit 1
}

bpf_sudo() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v clang >/dev/null 2>&1 || missing+=(clang)
command -v llvm-strip >/dev/null 2>&1 || missing+=(llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
command -v bpftool >/dev/null 2>&1 || [ -x /usr/sbin/bpftool ] || missing+=(bpftool)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup-bpf: installing ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || bpf_fail "need ${missing[*]} and apt-get is not available"
    bpf_sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
    bpf_sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
fi
bpftool="$(command -v bpftool || echo /usr/sbin/bpftool)"
clang --version | head -n 1

for tool in cc unshare setpriv; do
    command -v "$tool" >/dev/null 2>&1 || bpf_fail "$tool is missing (the BPF integration tests need it)"
done
[ -r /sys/kernel/btf/vmlinux ] || bpf_fail "the kernel has no BTF (/sys/kernel/btf/vmlinux): the BPF tests cannot pass here"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
bash "$dir/build.sh" "$out"
if ! cmp -s "$out" "$dir/task_sockets.bpf.o"; then
    bpf_fail "src/os/bpf/task_sockets.bpf.o is not what task_sockets.bpf.c compiles to: run src/os/bpf/build.sh and commit the object (it was built with Debian clang 14.0.6; another clang may emit other bytes)"
fi
"$bpftool" btf dump file "$dir/task_sockets.bpf.o" >/dev/null ||
    bpf_fail "the committed object has no readable BTF (needed for CO-RE)"
echo "setup-bpf: task_sockets.bpf.o matches its source"
