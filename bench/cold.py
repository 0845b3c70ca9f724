#!/usr/bin/env python3
"""cold.py ROUNDS SPAWN LIB WARMDIR -- PROGRAM ARGS: what a first start costs, against no
preload and a warm start in the same rounds.

Each round runs PROGRAM once with no preload, once warm (CRASHGUARD_CACHE_DIR=WARMDIR) and
once cold: an empty cache directory of its own, so the start finds every table missing and
starts a helper, which then builds them in the background as it would in production. Before
the next round the script waits for that helper to finish (untimed): helpers of earlier
rounds never compete with a measurement. Each run is one `SPAWN 1 ...` (bench/spawn.c:
posix_spawn + wait4: wall, user+sys CPU of the host and the relay it reaps, max RSS).

Prints: the medians of wall (us), CPU (us) and max RSS (KiB) for no preload, warm and cold,
then the median time from the cold start to its helper's end (us: time to tables) and how
many rounds saw a helper."""
import shutil, statistics, subprocess, sys, tempfile, time

from helpers import wait_for_helpers

rounds, spawn, lib, warm = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
prog = sys.argv[sys.argv.index("--") + 1:]


def run(env):
    out = subprocess.run([spawn, "1", *env, *prog], capture_output=True, text=True, check=True).stdout.split()
    return [float(x) for x in out[:3]]


none, warm_runs, cold_runs, tables = [], [], [], []
for _ in range(rounds):
    none.append(run([]))
    warm_runs.append(run([f"CRASHGUARD_CACHE_DIR={warm}", f"LD_PRELOAD={lib}"]))
    cache = tempfile.mkdtemp(prefix="cold.")
    start = time.monotonic()
    cold_runs.append(run([f"CRASHGUARD_CACHE_DIR={cache}", f"LD_PRELOAD={lib}"]))
    if wait_for_helpers(cache, start):
        tables.append((time.monotonic() - start) * 1e6)
    shutil.rmtree(cache, ignore_errors=True)

med = lambda rows, i: statistics.median(r[i] for r in rows)
print(*(f"{med(rows, i):.1f}" for rows in (none, warm_runs, cold_runs) for i in range(3)),
      f"{statistics.median(tables) if tables else float('nan'):.0f}", len(tables))
