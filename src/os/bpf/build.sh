#!/usr/bin/env bash
# Rebuild task_sockets.bpf.o from task_sockets.bpf.c, reproducibly: run from
# this directory with relative paths, debug prefix mapped, DWARF stripped
# (BTF and BTF.ext kept: the loader's CO-RE relocations need them).
# Usage: build.sh [OUTPUT]   (default: task_sockets.bpf.o next to this file)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
out="${1:-task_sockets.bpf.o}"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
clang -target bpf -O2 -g -Wall -Werror \
    -fdebug-prefix-map="$PWD"=. -fno-ident \
    -c task_sockets.bpf.c -o "$tmp"
llvm-strip -g "$tmp"
cp "$tmp" "$out"
