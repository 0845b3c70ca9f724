#!/usr/bin/env bash
# tests/demo.sh — build libcrashguard.so and watch it report a crash.
#
# Compiles a small C program that dereferences NULL three calls deep, runs it once without
# and once with the preload, and shows that it dies of SIGSEGV both times.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in gcc go; do
  if ! command -v "$tool" >/dev/null; then
    [ "$tool" = gcc ] && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null; continue; }
    echo "demo: Go is required (see go.mod)" >&2; exit 1
  fi
done
./build.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/demo" tests/crashers/core.c -pthread
echo "--- without crashguard:"
"$tmp/demo" null || echo "exit status $?"
echo "--- with LD_PRELOAD=$PWD/libcrashguard.so:"
LD_PRELOAD=$PWD/libcrashguard.so "$tmp/demo" null || echo "exit status $?"
