#!/usr/bin/env bash
# bench/run.sh — what libcrashguard.so costs, as ratios against no preload in one run, and
# one peer (backward-cpp with libdw, built as a preload shim from bench/peers/).
# Installs hyperfine (Debian) if missing. Writes bench/results/latest.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v hyperfine >/dev/null || ! command -v valgrind >/dev/null || [ ! -f /usr/include/backward.hpp ] ||
   [ ! -f /usr/include/elfutils/libdw.h ] || [ ! -f /usr/include/absl/debugging/failure_signal_handler.h ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine valgrind \
    libbackward-cpp-dev libdw-dev libabsl-dev >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lib=$tmp/libcrashguard.so
./build.sh "$lib" >/dev/null
go build -o "$tmp/crashguard" ./cmd/crashguard
for p in sleeper crash20 spawn; do gcc -O2 -g -fno-omit-frame-pointer -o "$tmp/$p" "bench/$p.c"; done
cp /bin/true "$tmp/true"
echo 'void crashguard_bench_empty(void) {}' > "$tmp/empty.c"   # the floor: any preload at all
gcc -O2 -shared -fPIC -o "$tmp/empty.so" "$tmp/empty.c"
g++ -O2 -shared -fPIC -o "$tmp/backward.so" bench/peers/backward_shim.cpp -ldw   # peer: backward-cpp + libdw
g++ -O2 -shared -fPIC -o "$tmp/absl.so" bench/peers/absl_shim.cpp $(pkg-config --libs absl_failure_signal_handler)
# cold: a cache directory holding only the Go part's copy (what a first start leaves), where
# no table can be cached (a file stands where each two-hex subdirectory would go): the Go
# part loads and computes every table, every time.
warm=$tmp/warm; cold=$tmp/cold
mkdir -p "$cold"
objcopy --dump-section .crashguard_go="$tmp/go-part.so" "$lib" "$tmp/scratch.so"
cp "$tmp/go-part.so" "$cold/go-part-$(sha256sum "$tmp/go-part.so" | cut -c1-32).so"
for i in $(seq 0 255); do : > "$cold/$(printf %02x "$i")"; done
# valgrind preloads a library of its own: cached too, so the instruction count sees a warm start.
vgpreload=$(ls /usr/libexec/valgrind/vgpreload_core-amd64-linux.so 2>/dev/null || true)
"$tmp/crashguard" warm --dir "$warm" --library "$lib" "$tmp/true" "$tmp/sleeper" "$tmp/crash20" $vgpreload >/dev/null
runs=${RUNS:-400}

hyperfine -N --warmup 30 --runs "$runs" --export-json "$tmp/true.json" \
  "env $tmp/true" \
  "env CRASHGUARD_CACHE_DIR=$cold LD_PRELOAD=$lib $tmp/true" \
  "env CRASHGUARD_CACHE_DIR=$warm LD_PRELOAD=$lib $tmp/true" \
  "env LD_PRELOAD=$tmp/backward.so $tmp/true" \
  "env LD_PRELOAD=$tmp/absl.so $tmp/true" >/dev/null
# No preload, cold, warm and an empty preload, interleaved in 20 rounds of 100 spawns (median of the rounds' medians):
# drift on a shared VM then hits every column alike, as it does not in hyperfine's
# one-command-after-another order.
python3 - "$tmp/spawn" "$tmp/true" "$lib" "$warm" "$cold" "$tmp/empty.so" > "$tmp/interleaved" <<'PY'
import statistics, subprocess, sys
spawn, true, lib, warm, cold, empty = sys.argv[1:]
cases = [[], [f"CRASHGUARD_CACHE_DIR={cold}", f"LD_PRELOAD={lib}"],
         [f"CRASHGUARD_CACHE_DIR={warm}", f"LD_PRELOAD={lib}"], [f"LD_PRELOAD={empty}"]]
rounds = [[] for _ in cases]
for _ in range(20):
    for i, env in enumerate(cases):
        out = subprocess.run([spawn, "100", *env, true], capture_output=True, text=True, check=True).stdout
        rounds[i].append(float(out.split()[0]))
print(*[statistics.median(r) / 1e3 for r in rounds])
PY
read -r w0 w1 w2 we < "$tmp/interleaved"
# Instructions executed by /bin/true (callgrind counts the dynamic loader too): repeatable
# where wall time on a shared VM is not.
instr() { env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$tmp/true" 2>&1 | awk '/Collected/ {print $4}'; }
i0=$(instr X=1); i1=$(instr CRASHGUARD_CACHE_DIR=$cold LD_PRELOAD=$lib); i2=$(instr CRASHGUARD_CACHE_DIR=$warm LD_PRELOAD=$lib)
read -r t0 t1 t2 t3 t4 < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(*[x["median"]*1e3 for x in r])' "$tmp/true.json")

# A program linking a very large library: clang (libLLVM, libclang-cpp) compiling an empty
# file; the cold start computes their tables (about a million unwind rows) meanwhile.
clang_bin=$(command -v clang || true)
if [ -n "$clang_bin" ]; then
  "$tmp/crashguard" warm --dir "$warm" --library "$lib" "$clang_bin" >/dev/null
  k0=$("$tmp/spawn" 40 "$clang_bin" -c -x c /dev/null -o /dev/null)
  k1=$("$tmp/spawn" 40 CRASHGUARD_CACHE_DIR=$cold LD_PRELOAD=$lib "$clang_bin" -c -x c /dev/null -o /dev/null)
  k2=$("$tmp/spawn" 40 CRASHGUARD_CACHE_DIR=$warm LD_PRELOAD=$lib "$clang_bin" -c -x c /dev/null -o /dev/null)
else
  k0='nan nan nan' k1='nan nan nan' k2='nan nan nan'
fi
s0=$("$tmp/spawn" 200 "$tmp/sleeper")
s1=$("$tmp/spawn" 200 CRASHGUARD_CACHE_DIR=$cold LD_PRELOAD=$lib "$tmp/sleeper")
s2=$("$tmp/spawn" 200 CRASHGUARD_CACHE_DIR=$warm LD_PRELOAD=$lib "$tmp/sleeper")
s3=$("$tmp/spawn" 200 LD_PRELOAD=$tmp/backward.so "$tmp/sleeper")
s4=$("$tmp/spawn" 200 LD_PRELOAD=$tmp/absl.so "$tmp/sleeper")
# VmSize, VmRSS, Threads as the program saw them at 50 ms
status() { env "$@" "$tmp/sleeper" | awk '{printf "%s ", $2}'; }
st0=$(status X=1); st1=$(status CRASHGUARD_CACHE_DIR=$cold LD_PRELOAD=$lib); st2=$(status CRASHGUARD_CACHE_DIR=$warm LD_PRELOAD=$lib)
st3=$(status LD_PRELOAD=$tmp/backward.so); st4=$(status LD_PRELOAD=$tmp/absl.so)

c0=$(python3 bench/crashtime.py 30 -- "$tmp/crash20")
c1=$(python3 bench/crashtime.py 30 CRASHGUARD_CACHE_DIR=$cold LD_PRELOAD=$lib -- "$tmp/crash20" wait)
c2=$(python3 bench/crashtime.py 30 CRASHGUARD_CACHE_DIR=$warm LD_PRELOAD=$lib -- "$tmp/crash20")
# The handler's unwinding per frame: 402 frames against 2 (the report keeps 100 of them but
# unwinds all): the difference stays within run-to-run noise (about 60 us) on this VM.
u2=$(python3 bench/crashtime.py 60 CRASHGUARD_CACHE_DIR=$warm LD_PRELOAD=$lib -- "$tmp/crash20" now 2)
u52=$(python3 bench/crashtime.py 60 CRASHGUARD_CACHE_DIR=$warm LD_PRELOAD=$lib -- "$tmp/crash20" now 402)
bw=$(python3 bench/crashtime.py 30 LD_PRELOAD=$tmp/backward.so -- "$tmp/crash20")
ab=$(python3 bench/crashtime.py 30 LD_PRELOAD=$tmp/absl.so -- "$tmp/crash20")
# Completeness: how many of the 19 frames of `descend` each report names.
named() { env "$@" "$tmp/crash20" 2>&1 >/dev/null | grep -cE '^ *(#[0-9]+|@).*descend' || true; }
n_ours=$(named CRASHGUARD_CACHE_DIR=$warm LD_PRELOAD=$lib); n_bw=$(named LD_PRELOAD=$tmp/backward.so); n_ab=$(named LD_PRELOAD=$tmp/absl.so)

mkdir -p bench/results
python3 - "$k0" "$k1" "$k2" "$i0" "$i1" "$i2" "$t0" "$t1" "$t2" "$s0" "$s1" "$s2" "$st0" "$st1" "$st2" "$c0" "$c1" "$c2" "$u2" "$u52" "$bw" "$ab" "$n_ours" "$n_bw" "$n_ab" "$t3" "$t4" "$s3" "$s4" "$st3" "$st4" "$w0" "$w1" "$w2" "$we" > bench/results/latest.md <<'PY'
import sys
k = [[float(x) for x in v.split()] for v in sys.argv[1:4]]
i = [float(x) for x in sys.argv[4:7]]
a = sys.argv[7:]
t = [float(x) for x in a[0:3]]
s = [[float(x) for x in v.split()] for v in a[3:6]]
st = [v.split() for v in a[6:9]]
c = [v.split() for v in a[9:12]]
print("| measurement | no preload | Go runs (cold) | warm cache (no Go) |")
print("|---|---|---|---|")
print(f"| `/bin/true` instructions (callgrind, incl. the loader) | {i[0]/1e3:.0f} k | {i[1]/1e3:.0f} k ({i[1]/i[0]:.1f}x) | {i[2]/1e3:.0f} k ({i[2]/i[0]:.1f}x) |")
print(f"| `/bin/true` wall, median (hyperfine) | {t[0]:.2f} ms | {t[1]:.2f} ms ({t[1]/t[0]:.2f}x) | {t[2]:.2f} ms ({t[2]/t[0]:.2f}x) |")
w = [float(x) for x in a[25:29]]
print(f"| `/bin/true` wall, interleaved rounds (posix_spawn, no `env`), median | {w[0]:.2f} ms | {w[1]:.2f} ms ({w[1]/w[0]:.2f}x) | {w[2]:.2f} ms ({w[2]/w[0]:.2f}x) |")
print(f"| the same, an empty preload library instead (the floor of any preload) | {w[0]:.2f} ms | — | {w[3]:.2f} ms ({w[3]/w[0]:.2f}x) |")
print(f"| clang compiling an empty file (libLLVM, libclang-cpp): wall, median | {k[0][0]/1e3:.1f} ms | {k[1][0]/1e3:.1f} ms ({k[1][0]/k[0][0]:.2f}x) | {k[2][0]/1e3:.1f} ms ({k[2][0]/k[0][0]:.2f}x) |")
print(f"| clang: CPU (user+sys), mean; max RSS | {k[0][1]/1e3:.1f} ms; {k[0][2]/1024:.0f} MiB | {k[1][1]/1e3:.1f} ms; {k[1][2]/1024:.0f} MiB | {k[2][1]/1e3:.1f} ms; {k[2][2]/1024:.0f} MiB |")
print(f"| 50 ms program: wall, median | {s[0][0]/1e3:.2f} ms | {s[1][0]/1e3:.2f} ms ({s[1][0]/s[0][0]:.2f}x) | {s[2][0]/1e3:.2f} ms ({s[2][0]/s[0][0]:.2f}x) |")
print(f"| 50 ms program: CPU (user+sys), mean | {s[0][1]/1e3:.2f} ms | {s[1][1]/1e3:.2f} ms (+{(s[1][1]-s[0][1])/1e3:.2f} ms) | {s[2][1]/1e3:.2f} ms (+{(s[2][1]-s[0][1])/1e3:.2f} ms) |")
print(f"| 50 ms program: max RSS, median | {s[0][2]/1024:.2f} MiB | {s[1][2]/1024:.2f} MiB (+{(s[1][2]-s[0][2])/1024:.2f}) | {s[2][2]/1024:.2f} MiB (+{(s[2][2]-s[0][2])/1024:.2f}) |")
print(f"| 50 ms program: threads / VmSize / VmRSS at 50 ms | {st[0][2]} / {int(st[0][0])/1024:.1f} MiB / {int(st[0][1])/1024:.2f} MiB | {st[1][2]} / {int(st[1][0])/1024:.0f} MiB / {int(st[1][1])/1024:.2f} MiB | {st[2][2]} / {int(st[2][0])/1024:.1f} MiB / {int(st[2][1])/1024:.2f} MiB |")
print(f"| 20-frame crash: fault → report written, median | — | {float(c[1][0])/1e3:.2f} ms | {float(c[2][0])/1e3:.2f} ms |")
print(f"| 20-frame crash: fault → death seen by parent, median | {float(c[0][1])/1e3:.2f} ms | {float(c[1][1])/1e3:.2f} ms | {float(c[2][1])/1e3:.2f} ms |")
u = [float(v.split()[0]) for v in a[12:14]]
print(f"| fault → report, 2 frames / 402 frames | — | — | {u[0]/1e3:.2f} ms / {u[1]/1e3:.2f} ms |")
bw, ab = float(a[14].split()[1]), float(a[15].split()[1])
n = a[16:19]
print()
print("| same 20-frame crash (19 frames of `descend`) | crashguard (warm) | backward-cpp + libdw | Abseil failure signal handler |")
print("|---|---|---|---|")
print(f"| fault → death, median | {float(c[2][1])/1e3:.2f} ms | {bw/1e3:.2f} ms ({bw/float(c[2][1]):.0f}x) | {ab/1e3:.2f} ms ({ab/float(c[2][1]):.1f}x) |")
print(f"| `descend` frames named | {n[0]} | {n[1]} | {n[2]} |")
pt = [float(x) for x in a[19:21]]
ps = [[float(x) for x in v.split()] for v in a[21:23]]
pst = [v.split() for v in a[23:25]]
print(f"| `/bin/true` wall, median (ratio to no preload) | {t[2]:.2f} ms ({t[2]/t[0]:.2f}x) | {pt[0]:.2f} ms ({pt[0]/t[0]:.2f}x) | {pt[1]:.2f} ms ({pt[1]/t[0]:.2f}x) |")
print(f"| 50 ms program: CPU (user+sys), mean | {s[2][1]/1e3:.2f} ms | {ps[0][1]/1e3:.2f} ms | {ps[1][1]/1e3:.2f} ms |")
print(f"| 50 ms program: max RSS, median | {s[2][2]/1024:.2f} MiB | {ps[0][2]/1024:.2f} MiB | {ps[1][2]/1024:.2f} MiB |")
print(f"| 50 ms program: threads | {st[2][2]} | {pst[0][2]} | {pst[1][2]} |")
PY
cat bench/results/latest.md
