#!/usr/bin/env bash
# bench/minidump.sh — what CRASHGUARD_OUTPUT=minidump:PATTERN adds to a crash, in one run:
# fault → death (crashtime.py, medians) and the minidump's size, for the 20-frame crash
# (crash20.c) and for a process with 64 threads (threads64.c), each with the report alone
# (stderr) and with the report and a minidump; warm cache. Writes
# bench/results/minidump.md and prints it.
set -euo pipefail
# Every crash reported in full: the benchmark crashes the same programs many times a minute.
export CRASHGUARD_STORM_LIMIT=off
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lib=$tmp/libcrashguard.so
./build.sh "$lib" >/dev/null
go build -o "$tmp/crashguard" ./cmd/crashguard
gcc -O2 -g -fno-omit-frame-pointer -o "$tmp/crash20" bench/crash20.c
gcc -O2 -g -pthread -o "$tmp/threads64" bench/threads64.c
"$tmp/crashguard" warm --dir "$tmp/warm" --library "$lib" "$tmp/crash20" "$tmp/threads64" >/dev/null
runs=${RUNS:-30}
W="CRASHGUARD_CACHE_DIR=$tmp/warm LD_PRELOAD=$lib"
mkdir -p "$tmp/d20" "$tmp/d64"
a20=$(python3 bench/crashtime.py "$runs" $W CRASHGUARD_OUTPUT=stderr -- "$tmp/crash20")
b20=$(python3 bench/crashtime.py "$runs" $W CRASHGUARD_OUTPUT=stderr,minidump:$tmp/d20/%p.dmp -- "$tmp/crash20")
a64=$(python3 bench/crashtime.py "$runs" $W CRASHGUARD_OUTPUT=stderr -- "$tmp/threads64")
b64=$(python3 bench/crashtime.py "$runs" $W CRASHGUARD_OUTPUT=stderr,minidump:$tmp/d64/%p.dmp -- "$tmp/threads64")
size() { ls -l "$1"/*.dmp | awk '{print $5}' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
s20=$(size "$tmp/d20"); s64=$(size "$tmp/d64")
n20=$(ls "$tmp/d20" | wc -l); n64=$(ls "$tmp/d64" | wc -l)
th64=$("$tmp/crashguard" minidump "$(ls "$tmp"/d64/*.dmp | head -1)" | sed -n 's/^threads (\([0-9]*\)):$/\1/p')
mkdir -p bench/results
export a20 b20 a64 b64 s20 s64 n20 n64 th64 runs
python3 > bench/results/minidump.md <<'PY'
import os
e = os.environ
f = lambda k: [float(x) for x in e[k].split()]
a20, b20, a64, b64 = f("a20"), f("b20"), f("a64"), f("b64")
print(f"| crash ({e['runs']} runs each, warm cache, medians) | report alone: fault → death | report + minidump: fault → death | added | minidump size |")
print("|---|---|---|---|---|")
print(f"| 20 frames, 1 thread | {a20[1]/1e3:.2f} ms | {b20[1]/1e3:.2f} ms ({b20[1]/a20[1]:.2f}x) | {(b20[1]-a20[1])/1e3:+.2f} ms | {int(e['s20'])/1024:.1f} KiB ({e['n20']} dumps) |")
print(f"| 20 frames, 64 more threads ({e['th64']} in the dump) | {a64[1]/1e3:.2f} ms | {b64[1]/1e3:.2f} ms ({b64[1]/a64[1]:.2f}x) | {(b64[1]-a64[1])/1e3:+.2f} ms | {int(e['s64'])/1024:.1f} KiB ({e['n64']} dumps) |")
PY
cat bench/results/minidump.md
