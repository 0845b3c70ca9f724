#!/usr/bin/env python3
"""crashtime.py N ENV... -- PROGRAM ARGS: median microseconds from the fault (the time the
crasher prints, CLOCK_MONOTONIC) to (a) the last report line read and (b) the process's
death seen by the parent, over N runs. A value "{fresh}" in ENV is a new empty directory for
each run (a cold start every time), and the helper it starts is waited for (untimed) before
the next run."""
import os, shutil, statistics, subprocess, sys, tempfile, time

from helpers import wait_for_helpers

n = int(sys.argv[1])
sep = sys.argv.index("--")
env = dict(os.environ)
for kv in sys.argv[2:sep]:
    k, v = kv.split("=", 1)
    env[k] = v
prog = sys.argv[sep + 1:]


to_report, to_death, fresh = [], [], []
for _ in range(n):
    run_env = {k: (fresh.append(tempfile.mkdtemp()) or fresh[-1] if v == "{fresh}" else v) for k, v in env.items()}
    p = subprocess.Popen(prog, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    fault = int(p.stdout.readline())
    reported = None
    for line in p.stderr:
        if line.startswith(b"*** end of crashguard report"):
            reported = time.monotonic_ns()
            break
    p.wait()
    dead = time.monotonic_ns()
    if fresh:
        wait_for_helpers(fresh[-1], time.monotonic())
    if reported:
        to_report.append((reported - fault) / 1000)
    to_death.append((dead - fault) / 1000)
for d in fresh:
    shutil.rmtree(d, ignore_errors=True)
med = lambda v: statistics.median(v) if v else float("nan")
print(f"{med(to_report):.0f} {med(to_death):.0f} {len(to_report)}")
