"""helpers.py — the helper processes a cold start leaves running (docs/helper.md), found by
the cache directory their command line names; shared by cold.py and crashtime.py."""
import os
import time


def helpers_of(cache):
    """Pids of the helpers writing into cache."""
    mark = ("--dir=" + cache).encode()
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if mark in f.read():
                    pids.append(pid)
        except OSError:
            pass
    return pids


def wait_for_helpers(cache, start, grace=0.1, limit=60):
    """Waits until the helpers of cache are gone; one may not have reached execve when its
    host is gone, so it is given grace seconds from start to show. Returns whether one was
    seen."""
    seen, deadline = False, time.monotonic() + limit
    while time.monotonic() < deadline:
        if helpers_of(cache):
            seen = True
        elif seen or time.monotonic() - start > grace:
            break
        time.sleep(0.002)
    return seen
