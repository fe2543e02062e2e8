#!/usr/bin/env bash
# Tools the issue-11 hardening tests need (tests/integration/hardening2.rs):
# a C compiler, because some hostile holders (a process whose main thread
# called pthread_exit, a thread with its own fd table, a socket in flight in
# an SCM_RIGHTS message) cannot be made from Python. The tests build
# tests/fixtures/pwfix.c with `cc` and fail (not skip) without it.
#
# Idempotent: installs gcc only when no `cc` is on PATH.
set -euo pipefail

if command -v cc >/dev/null 2>&1; then
    echo "cc found: $(cc --version | head -n 1)"
    exit 0
fi
echo "cc not found: installing gcc (and the C library headers)"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-hardening: no cc and no apt-get to install gcc" >&2
    exit 1
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup-hardening: need root or sudo to install gcc" >&2; exit 1; }
    sudo_cmd=(sudo)
fi
"${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y gcc libc6-dev
command -v cc >/dev/null 2>&1 || { echo "setup-hardening: gcc installed but no cc on PATH" >&2; exit 1; }
cc --version | head -n 1
