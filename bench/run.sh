#!/usr/bin/env bash
# bench/run.sh — what libcrashguard.so costs, as ratios against no preload in one run, and
# two peers (backward-cpp with libdw, Abseil's failure signal handler, built as preload shims
# from bench/peers/). Installs hyperfine, valgrind and the peers' libraries (Debian) if
# missing. Writes bench/results/latest.md and prints it. bench/README.md says what each row is.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v hyperfine >/dev/null || ! command -v valgrind >/dev/null || [ ! -f /usr/include/backward.hpp ] ||
   [ ! -f /usr/include/elfutils/libdw.h ] || [ ! -f /usr/include/absl/debugging/failure_signal_handler.h ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine valgrind \
    libbackward-cpp-dev libdw-dev libabsl-dev >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The benchmark crashes the same programs hundreds of times a minute: every crash is to be
# reported in full, not counted in one line (docs/report.md, A crash loop).
export CRASHGUARD_STORM_LIMIT=off
# Helpers started by a cold run finish before anything else is measured.
wait_helpers() { while pgrep -f -- ' --helper ' >/dev/null; do sleep 0.05; done; }
lib=$tmp/libcrashguard.so
./build.sh "$lib" >/dev/null
for p in sleeper crash20 spawn; do gcc -O2 -g -fno-omit-frame-pointer -o "$tmp/$p" "bench/$p.c"; done
cp /bin/true "$tmp/true"
echo 'void crashguard_bench_empty(void) {}' > "$tmp/empty.c"   # the floor: any preload at all
gcc -O2 -shared -fPIC -o "$tmp/empty.so" "$tmp/empty.c"
g++ -O2 -shared -fPIC -o "$tmp/backward.so" bench/peers/backward_shim.cpp -ldw   # peer: backward-cpp + libdw
g++ -O2 -shared -fPIC -o "$tmp/absl.so" bench/peers/absl_shim.cpp $(pkg-config --libs absl_failure_signal_handler)
# cold (bench/cold.py): an empty cache of its own for every start, which finds every table
# missing and starts a helper; the helper then builds them in the background, as it does in
# production, and is waited for (untimed) before the next run. Warm: every table cached.
# $unusable is a cache directory no helper may use (mode 0777): the helper with nothing to do.
warm=$tmp/warm; unusable=$tmp/unusable
mkdir -p "$unusable"; chmod 0777 "$unusable"
# valgrind preloads a library of its own: cached too, so the instruction count sees a warm start.
vgpreload=$(ls /usr/libexec/valgrind/vgpreload_core-amd64-linux.so 2>/dev/null || true)
"$tmp/crashguard" warm --dir "$warm" --library "$lib" "$tmp/true" "$tmp/sleeper" "$tmp/crash20" $vgpreload >/dev/null
runs=${RUNS:-400}
W="CRASHGUARD_CACHE_DIR=$warm LD_PRELOAD=$lib"

hyperfine -N --warmup 30 --runs "$runs" --export-json "$tmp/true.json" \
  "env $tmp/true" "env $W $tmp/true" \
  "env LD_PRELOAD=$tmp/backward.so $tmp/true" "env LD_PRELOAD=$tmp/absl.so $tmp/true" >/dev/null
read -r t0 t2 t3 t4 < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(*[x["median"]*1e3 for x in r])' "$tmp/true.json")
# Cold starts the way the issue measured them (hyperfine, through env): before every run, the
# helper of the last one has ended and the cold cache is empty again (untimed, both commands).
cold=$tmp/cold
printf '#!/bin/sh\nwhile pgrep -f -- " --helper " >/dev/null; do sleep 0.01; done\nrm -rf %s; mkdir %s\n' "$cold" "$cold" > "$tmp/prep.sh"
chmod +x "$tmp/prep.sh"
hyperfine -N --runs "${COLD_ROUNDS:-60}" --prepare "$tmp/prep.sh" --prepare "$tmp/prep.sh" --export-json "$tmp/cold.json" \
  "env $tmp/true" "env CRASHGUARD_CACHE_DIR=$cold LD_PRELOAD=$lib $tmp/true" >/dev/null
read -r h0 h1 < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(*[x["median"]*1e3 for x in r])' "$tmp/cold.json")
# Cold starts against no preload and warm starts, in the same rounds (bench/cold.py).
ct=$(python3 bench/cold.py "${COLD_ROUNDS:-60}" "$tmp/spawn" "$lib" "$warm" -- "$tmp/true")
cs=$(python3 bench/cold.py 30 "$tmp/spawn" "$lib" "$warm" -- "$tmp/sleeper")
# No preload, warm and an empty preload, interleaved in 30 rounds of 100 spawns: drift on
# a shared VM then hits every column alike, as it does not in hyperfine's one-command-after-
# another order. Medians of the rounds' medians: wall and (mean) CPU per start.
python3 - "$tmp/spawn" "$tmp/true" "$lib" "$warm" "$tmp/empty.so" > "$tmp/interleaved" <<'PY'
import statistics, subprocess, sys
spawn, true, lib, warm, empty = sys.argv[1:]
cases = [[], [f"CRASHGUARD_CACHE_DIR={warm}", f"LD_PRELOAD={lib}"], [f"LD_PRELOAD={empty}"]]
wall = [[] for _ in cases]; cpu = [[] for _ in cases]
for _ in range(30):
    for i, env in enumerate(cases):
        out = subprocess.run([spawn, "100", *env, true], capture_output=True, text=True, check=True).stdout.split()
        wall[i].append(float(out[0])); cpu[i].append(float(out[1]))
print(*[statistics.median(r) / 1e3 for r in wall], *[statistics.median(r) / 1e3 for r in cpu])
PY
read -r w0 w2 we u0 u2 ue < "$tmp/interleaved"
# Instructions executed by /bin/true (callgrind counts the dynamic loader too): repeatable
# where wall time on a shared VM is not. (A cold start's helper is not counted: valgrind
# does not follow a clone with CLONE_VM that is not a thread.)
instr() { env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$tmp/true" 2>&1 | awk '/Collected/ {print $4}'; }
i0=$(instr X=1); i2=$(instr $W)

# A program linking a very large library: clang (libLLVM, libclang-cpp) compiling an empty file.
clang_bin=$(command -v clang || true)
if [ -n "$clang_bin" ]; then
  "$tmp/crashguard" warm --dir "$warm" --library "$lib" "$clang_bin" >/dev/null
  ck=$(python3 bench/cold.py 10 "$tmp/spawn" "$lib" "$warm" -- "$clang_bin" -c -x c /dev/null -o /dev/null)
else
  ck=$(printf 'nan %.0s' {1..11})
fi
s0=$("$tmp/spawn" 200 "$tmp/sleeper")
s2=$("$tmp/spawn" 200 $W "$tmp/sleeper")
s3=$("$tmp/spawn" 200 LD_PRELOAD=$tmp/backward.so "$tmp/sleeper")
s4=$("$tmp/spawn" 200 LD_PRELOAD=$tmp/absl.so "$tmp/sleeper")
# VmSize, VmRSS, Threads as the program saw them at 50 ms
status() { env "$@" "$tmp/sleeper" | awk '{printf "%s ", $2}'; }
st0=$(status X=1); st1=$(status CRASHGUARD_CACHE_DIR="$(mktemp -d "$tmp/st.XXXX")" LD_PRELOAD=$lib); st2=$(status $W)
wait_helpers
st3=$(status LD_PRELOAD=$tmp/backward.so); st4=$(status LD_PRELOAD=$tmp/absl.so)

# The helper on its own, as a host starts it (bench/README.md): libc with its debug file, and
# libLLVM (the largest library here), each into an empty cache. Wall = time to tables.
loader=$(readelf -lW /bin/true | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
buildid() { readelf -n "$1" | awk '/Build ID/ {print $3; exit}'; }
helper() {
  local d; d=$(mktemp -d "$tmp/h.XXXX")
  "$tmp/spawn" 1 CRASHGUARD_DEBUG=0 "$loader" --argv0 crashguard "$lib" --helper --library="$lib" --urgent \
    --dir="$d" -- "$(buildid "$1"):$1"
}
libc=$(readlink -f /lib/x86_64-linux-gnu/libc.so.6)
h_libc=$(helper "$libc")
llvm=$(ls /usr/lib/x86_64-linux-gnu/libLLVM-*.so.1 2>/dev/null | head -1 || true)
if [ -n "$llvm" ]; then h_llvm=$(helper "$(readlink -f "$llvm")"); llvm_debug=$(ls /usr/lib/debug/.build-id/"$(buildid "$llvm" | cut -c1-2)"/"$(buildid "$llvm" | cut -c3-)".debug 2>/dev/null || true); else h_llvm='nan nan nan'; fi
h_none=$("$tmp/spawn" 20 "$loader" --argv0 crashguard "$lib" --helper --library="$lib" --dir="$unusable" --)
# Large DWARF (bench/bigdwarf.sh DIR, minutes of g++): BIGDWARF=DIR adds the helper on it.
h_big='' h_bigdbg=''
if [ -n "${BIGDWARF:-}" ] && [ -f "$BIGDWARF/libbig.so" ]; then
  h_big=$(helper "$BIGDWARF/libbig.so")
  h_bigdbg=$(CRASHGUARD_DEBUG_DIRS=$BIGDWARF/debug helper "$BIGDWARF/stripped/libbig.so")
fi

c0=$(python3 bench/crashtime.py 30 -- "$tmp/crash20")
c1=$(python3 bench/crashtime.py 20 "CRASHGUARD_CACHE_DIR={fresh}" LD_PRELOAD=$lib -- "$tmp/crash20")
wait_helpers
c2=$(python3 bench/crashtime.py 30 $W -- "$tmp/crash20")
# The handler's unwinding per frame: 402 frames against 2 (the report keeps 100 of them but
# unwinds all).
u2f=$(python3 bench/crashtime.py 60 $W -- "$tmp/crash20" now 2)
u402=$(python3 bench/crashtime.py 60 $W -- "$tmp/crash20" now 402)
bw=$(python3 bench/crashtime.py 30 LD_PRELOAD=$tmp/backward.so -- "$tmp/crash20")
ab=$(python3 bench/crashtime.py 30 LD_PRELOAD=$tmp/absl.so -- "$tmp/crash20")
# Completeness: how many of the 19 frames of `descend` each report names.
named() { env "$@" "$tmp/crash20" 2>&1 >/dev/null | grep -cE '^ *(#[0-9]+|@).*descend' || true; }
n_ours=$(named $W); n_cold=$(named CRASHGUARD_CACHE_DIR="$(mktemp -d "$tmp/n.XXXX")" LD_PRELOAD=$lib); wait_helpers
n_bw=$(named LD_PRELOAD=$tmp/backward.so); n_ab=$(named LD_PRELOAD=$tmp/absl.so)

mkdir -p bench/results
export ct cs ck h0 h1 i0 i2 t0 t2 t3 t4 w0 w2 we u0 u2 ue s0 s2 s3 s4 st0 st1 st2 st3 st4 \
  h_libc h_llvm h_none h_big h_bigdbg llvm llvm_debug c0 c1 c2 u2f u402 bw ab n_ours n_cold n_bw n_ab
python3 > bench/results/latest.md <<'PY'
import os
e = os.environ
f = lambda k: [float(x) for x in e[k].split()]
t0, t2, t3, t4 = (float(e[k]) for k in ("t0", "t2", "t3", "t4"))
w0, w2, we, u0, u2, ue = (float(e[k]) for k in ("w0", "w2", "we", "u0", "u2", "ue"))
s = [f(k) for k in ("s0", "s2", "s3", "s4")]
st = [e[k].split() for k in ("st0", "st1", "st2", "st3", "st4")]
c = [e[k].split() for k in ("c0", "c1", "c2")]
i0, i2 = float(e["i0"]), float(e["i2"])
ct, cs, ck = f("ct"), f("cs"), f("ck")  # none wall cpu rss, warm wall cpu rss, cold wall cpu rss, tables, n
x = lambda a, b: f"{a/b:.2f}x"
print("Cold starts (`bench/cold.py`): each round runs the program with no preload, warm, and cold (an")
print("empty cache of its own: a helper starts and builds the tables in the background), waiting for")
print("the helper to end before the next round; medians, ratios to no preload of the same rounds.")
print()
print("| program | no preload: wall / CPU / max RSS | warm start | cold start (a helper starts) | cold: start to tables written |")
print("|---|---|---|---|---|")
for name, r in (("`/bin/true`", ct), ("50 ms program", cs), ("clang, an empty file (libLLVM, libclang-cpp)", ck)):
    if r[0] != r[0]:
        continue
    print(f"| {name} | {r[0]/1e3:.2f} ms / {r[1]/1e3:.2f} ms / {r[2]/1024:.2f} MiB | "
          f"{r[3]/1e3:.2f} ms ({x(r[3], r[0])}) / {r[4]/1e3:.2f} ms ({x(r[4], r[1])}) / {r[5]/1024:.2f} MiB (+{(r[5]-r[2])/1024:.2f}) | "
          f"{r[6]/1e3:.2f} ms ({x(r[6], r[0])}) / {r[7]/1e3:.2f} ms ({x(r[7], r[1])}) / {r[8]/1024:.2f} MiB (+{(r[8]-r[2])/1024:.2f}) | "
          f"{r[9]/1e3:.0f} ms ({int(r[10])} rounds) |")
print()
print("| measurement | no preload | warm start (every table cached) |")
print("|---|---|---|")
print(f"| `/bin/true` wall, interleaved rounds (posix_spawn), median | {w0:.3f} ms | {w2:.3f} ms ({w2/w0:.2f}x) |")
print(f"| `/bin/true` CPU (user+sys), interleaved, median | {u0:.3f} ms | {u2:.3f} ms ({u2/u0:.2f}x) |")
print(f"| the same with an empty preload library (the floor of any preload): wall / CPU | {w0:.3f} / {u0:.3f} ms | {we:.3f} ms ({we/w0:.2f}x) / {ue:.3f} ms ({ue/u0:.2f}x) |")
print(f"| `/bin/true` wall, median (hyperfine) | {t0:.2f} ms | {t2:.2f} ms ({t2/t0:.2f}x) |")
h0, h1 = float(e["h0"]), float(e["h1"])
print(f"| `/bin/true` cold, wall, median (hyperfine through `env`, an empty cache and no helper running before each run) | {h0:.2f} ms | cold: {h1:.2f} ms ({h1/h0:.2f}x) |")
print(f"| `/bin/true` instructions (callgrind, incl. the loader) | {i0/1e3:.0f} k | {i2/1e3:.0f} k ({i2/i0:.1f}x) |")
print(f"| 50 ms program: wall, median | {s[0][0]/1e3:.2f} ms | {s[1][0]/1e3:.2f} ms ({s[1][0]/s[0][0]:.2f}x) |")
print(f"| 50 ms program: CPU (user+sys), mean | {s[0][1]/1e3:.2f} ms | {s[1][1]/1e3:.2f} ms (+{(s[1][1]-s[0][1])/1e3:.2f} ms) |")
print(f"| 50 ms program: max RSS, median | {s[0][2]/1024:.2f} MiB | {s[1][2]/1024:.2f} MiB (+{(s[1][2]-s[0][2])/1024:.2f}) |")
print(f"| 50 ms program: threads / VmSize / VmRSS at 50 ms (cold: {st[1][2]} / {int(st[1][0])/1024:.1f} MiB / {int(st[1][1])/1024:.2f} MiB) | {st[0][2]} / {int(st[0][0])/1024:.1f} MiB / {int(st[0][1])/1024:.2f} MiB | {st[2][2]} / {int(st[2][0])/1024:.1f} MiB / {int(st[2][1])/1024:.2f} MiB |")
print()
print("| 20-frame crash | no preload | cold (empty cache: waits for its helper) | warm |")
print("|---|---|---|---|")
print(f"| fault → report written, median | — | {float(c[1][0])/1e3:.2f} ms | {float(c[2][0])/1e3:.2f} ms |")
print(f"| fault → death seen by parent, median | {float(c[0][1])/1e3:.2f} ms | {float(c[1][1])/1e3:.2f} ms | {float(c[2][1])/1e3:.2f} ms |")
print(f"| `descend` frames named (of 19) | — | {e['n_cold']} | {e['n_ours']} |")
a, b = float(e["u2f"].split()[0]), float(e["u402"].split()[0])
print(f"| fault → report, 2 frames / 402 frames | — | — | {a/1e3:.2f} ms / {b/1e3:.2f} ms |")
print()
hl, hm, hn = f("h_libc"), f("h_llvm"), f("h_none")
print("| the helper on its own (into an empty cache) | time to tables (wall) | CPU (user+sys) | peak RSS |")
print("|---|---|---|---|")
print(f"| libc with its debug file (symbols, unwind rules, lines, inlines) | {hl[0]/1e3:.0f} ms | {hl[1]/1e3:.0f} ms | {hl[2]/1024:.0f} MiB |")
dbg = "with" if e.get("llvm_debug") else "no debug information installed:"
print(f"| {os.path.basename(e.get('llvm') or 'libLLVM')} ({dbg} symbols, unwind rules) | {hm[0]/1e3:.0f} ms | {hm[1]/1e3:.0f} ms | {hm[2]/1024:.0f} MiB |")
print(f"| nothing to do (no usable directory: exits before loading Go) | {hn[0]/1e3:.2f} ms | {hn[1]/1e3:.2f} ms | {hn[2]/1024:.1f} MiB |")
if e.get("h_big"):
    hb, hd = f("h_big"), f("h_bigdbg")
    print(f"| generated library, DWARF embedded (`bench/bigdwarf.sh`) | {hb[0]/1e3:.0f} ms | {hb[1]/1e3:.0f} ms | {hb[2]/1024:.0f} MiB |")
    print(f"| the same stripped, with its compressed debug file | {hd[0]/1e3:.0f} ms | {hd[1]/1e3:.0f} ms | {hd[2]/1024:.0f} MiB |")
print()
bw, ab = float(e["bw"].split()[1]), float(e["ab"].split()[1])
print("| same 20-frame crash (19 frames of `descend`) | crashguard (warm) | backward-cpp + libdw | Abseil failure signal handler |")
print("|---|---|---|---|")
print(f"| fault → death, median | {float(c[2][1])/1e3:.2f} ms | {bw/1e3:.2f} ms ({bw/float(c[2][1]):.0f}x) | {ab/1e3:.2f} ms ({ab/float(c[2][1]):.1f}x) |")
print(f"| `descend` frames named | {e['n_ours']} | {e['n_bw']} | {e['n_ab']} |")
print(f"| `/bin/true` wall, median (ratio to no preload) | {t2:.2f} ms ({t2/t0:.2f}x) | {t3:.2f} ms ({t3/t0:.2f}x) | {t4:.2f} ms ({t4/t0:.2f}x) |")
print(f"| 50 ms program: CPU (user+sys), mean | {s[1][1]/1e3:.2f} ms | {s[2][1]/1e3:.2f} ms | {s[3][1]/1e3:.2f} ms |")
print(f"| 50 ms program: max RSS, median | {s[1][2]/1024:.2f} MiB | {s[2][2]/1024:.2f} MiB | {s[3][2]/1024:.2f} MiB |")
print(f"| 50 ms program: threads | {st[2][2]} | {st[3][2]} | {st[4][2]} |")
PY
cat bench/results/latest.md
