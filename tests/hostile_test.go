package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Hostile surroundings: the host is never harmed and the report degrades in a stated way.

// stderr closed before the program started: nowhere to report, the death is unchanged.
func TestStderrClosed(t *testing.T) {
	for _, mode := range []string{"null", "assert"} {
		want := map[string]string{"null": "status=139", "assert": "status=134"}[mode]
		out := run(t, runOpts{preload: true}, "/bin/sh", "-c", coreBin(t)+" "+mode+" 2>&-; echo status=$?")
		if !strings.Contains(out.stdout, want) {
			t.Fatalf("%s with stderr closed: %s", mode, out)
		}
	}
}

// Every descriptor used up when the crash comes: the thread name cannot be read (printed
// as "?"), the rest of the report is whole.
func TestDescriptorsExhaustedAtCrash(t *testing.T) {
	// The tables exist before: nothing can be opened at the crash, not even a cache file.
	cache := warmCache(t, hostBin(t))
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache}}, "/bin/bash", "-c", "ulimit -n 64; exec "+hostBin(t)+" nofile")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^thread: tid \d+ "\?" \(main thread\)$`)
	wantChain(t, r, "crash_now", "main")
}

// No /proc (a mount namespace without it): module paths and names still come out; the
// thread name is "?".
func TestNoProc(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) missing")
	}
	script := "umount -l /proc && exec " + coreBin(t) + " null"
	r := run(t, runOpts{preload: true}, "unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script)
	if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") {
		t.Skipf("could not run without /proc here (%s)", r)
	}
	wantChain(t, r, "static_leaf_reads", "middle_adds", "outer_calls", "main")
	wantLine(t, r, `^thread: tid \d+ "\?"`)
}

// A cache on a full filesystem: the helper cannot write the tables; the report is whole and
// says why frames are unnamed, the host dies of its signal, and nothing partial is left.
func TestCacheOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k,mode=0700", "none", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	filler := filepath.Join(dir, "filler")
	os.WriteFile(filler, make([]byte, 12<<10), 0o644)
	bin := compile(t, "inline.c", "-O2", "-g")
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + dir, "CRASHGUARD_DEBUG=1"}}, bin)
	if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** end of crashguard report") {
		t.Fatalf("%s", r)
	}
	waitForHelpers(t, dir)
	if !strings.Contains(r.stderr, "no space left on device") {
		t.Fatalf("no diagnostic for the full disk:\n%s", r.stderr)
	}
	if left := cacheDebris(dir); len(left) != 1 || left[0] != filler {
		t.Fatalf("partial files left on the full disk: %v", left)
	}
}

// A program that sandboxes itself after start (seccomp refusing open/openat), then
// crashes: the report cannot read /proc, create files or open cache files, and says so;
// names (its tables were cached before: mapped at load) and the death are unchanged.
func TestSandboxedProgramRefusingOpen(t *testing.T) {
	dir := t.TempDir()
	cache := warmCache(t, hostBin(t))
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_OUTPUT=stderr,file:" + filepath.Join(dir, "r-%p")}}, hostBin(t), "sandbox")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^thread: tid \d+ "\?" \(main thread\)$`)
	wantLine(t, r, `^report file: \S+ not created: not permitted \(a seccomp filter or a security module\)$`)
	wantLine(t, r, `^  unavailable \(/proc/self/maps could not be opened\)$`)
	wantChain(t, r, "crash_now", "main")
}
