#!/usr/bin/env bash
# Tools for the project/connection tests (tests/integration/context.rs):
# they build real git repositories (git init, commit, worktree add).
# Idempotent: installs git only when it is missing.
set -euo pipefail
if ! command -v git >/dev/null 2>&1; then
    echo "git not found: installing it (the project-context tests build repositories)"
    command -v apt-get >/dev/null 2>&1 || { echo "git is missing and apt-get is not available" >&2; exit 1; }
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y git
fi
git --version
