package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

func warmCache(t *testing.T, bins ...string) string {
	t.Helper()
	cache := t.TempDir()
	args := append([]string{"warm", "--dir", cache, "--library", libPath}, bins...)
	out, err := exec.Command(cmdPath, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("crashguard warm: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "cached linux-vdso.so.1") {
		t.Fatalf("warm did not cache the vDSO:\n%s", out)
	}
	return cache
}

// statusField is a number status.c printed ("Threads:", "GoPart:").
func statusField(t *testing.T, r result, field string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+)$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no %s count: %s", field, r)
	}
	return m[1]
}

func threads(t *testing.T, r result) string { t.Helper(); return statusField(t, r, "Threads") }

// goPartMappings is how many mappings of the Go part's image the process had.
func goPartMappings(t *testing.T, r result) string { t.Helper(); return statusField(t, r, "GoPart") }

// A process whose modules are all cached starts no Go runtime: no Go threads, not one
// mapping of the Go part, and a crash report as complete as the one the Go side would have
// produced.
func TestWarmStartRunsNoGo(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	cache := warmCache(t, bin)
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_DEBUG=1"}
	r := run(t, runOpts{preload: true, env: env}, bin, "sleep", "200")
	if got := threads(t, r); got != "1" {
		t.Fatalf("threads with every table cached: %s, want 1\n%s", got, r)
	}
	if !strings.Contains(r.stderr, "Go runtime does not start (all ") {
		t.Fatalf("%s", r.stderr)
	}
	if got := goPartMappings(t, r); got != "0" {
		t.Fatalf("a warm start mapped the Go part (%s mappings)\n%s", got, r)
	}
	cold := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + t.TempDir()}}, bin, "sleep", "200")
	if goPartMappings(t, cold) == "0" || threads(t, cold) == "1" {
		t.Fatalf("a cold start should load the Go part and run its threads:\n%s", cold)
	}

	goFree := run(t, runOpts{preload: true, env: env}, bin, "crash")
	withGo := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + t.TempDir()}}, bin, "crash")
	if !strings.Contains(withGo.stderr, "*** crashguard") || goFree.signal != syscall.SIGSEGV {
		t.Fatalf("%s\n%s", goFree, withGo)
	}
	// At least as complete: the same frames, and every location the Go side found (the
	// Go-free one may have more: warm parses large debug files the host does not).
	a, b := frameLocations(goFree.stderr), frameLocations(withGo.stderr)
	if len(a) < 3 || len(a) != len(b) {
		t.Fatalf("Go-free report differs from the Go one:\n%q\n%q", a, b)
	}
	for i := range b {
		if strings.Fields(a[i])[0] != strings.Fields(b[i])[0] || (strings.Contains(b[i], ":") && a[i] != b[i]) {
			t.Fatalf("frame %d: Go-free %q, with Go %q", i, a[i], b[i])
		}
	}
	wantChain(t, goFree, "status_crash", "main")
	wantLine(t, goFree, `^#0 0x[0-9a-f]+ in status_crash\+0x[0-9a-f]+ \(\S+\) at \S+status\.c:\d+$`)
}

// Deleting one module's cache file makes the next start run Go, which rebuilds it; the
// start after that is Go-free again.
func TestMissingCacheFileIsRebuilt(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	cache := warmCache(t, bin)
	files, _ := filepath.Glob(filepath.Join(cache, "*", "*.cg"))
	var victim string
	for _, f := range files {
		if data, _ := os.ReadFile(f); strings.Contains(string(data), "status_crash") {
			victim = f
		}
	}
	if victim == "" {
		t.Fatalf("no cache file for the program in %v", files)
	}
	os.Remove(victim)
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_DEBUG=1"}
	r := run(t, runOpts{preload: true, env: env}, bin, "sleep", "300")
	if !strings.Contains(r.stderr, "Go runtime starts (tables of 1 of ") || !strings.Contains(r.stderr, ": built in ") {
		t.Fatalf("a missing cache file did not start Go to rebuild it:\n%s", r.stderr)
	}
	r = run(t, runOpts{preload: true, env: env}, bin)
	if threads(t, r) != "1" || !strings.Contains(r.stderr, "Go runtime does not start") {
		t.Fatalf("not Go-free after the rebuild:\n%s", r)
	}
}

// A cold start loads the Go part from its copy in the cache directory, writing the copy
// first; a copy that breaks the cache files' rules is replaced, not used; where no copy can
// be written the Go part comes from a memfd and the report is as good.
func TestGoPartCopy(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	cache := t.TempDir()
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache}
	r := run(t, runOpts{preload: true, env: env}, bin, "sleep", "100")
	copies, _ := filepath.Glob(filepath.Join(cache, "go-part-*.so"))
	if len(copies) != 1 || goPartMappings(t, r) == "0" {
		t.Fatalf("no copy of the Go part written and mapped (%v):\n%s", copies, r)
	}
	image, _ := os.ReadFile(copies[0])
	forgetTables := func() { // the next start is cold again: Go loads
		dirs, _ := filepath.Glob(filepath.Join(cache, "??"))
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}
	for _, spoil := range []func() error{
		func() error { return os.Chmod(copies[0], 0o666) },
		func() error { return os.Truncate(copies[0], int64(len(image)/2)) },
	} {
		if err := spoil(); err != nil {
			t.Fatal(err)
		}
		forgetTables()
		r = run(t, runOpts{preload: true, env: env}, bin, "sleep", "100")
		st, err := os.Stat(copies[0])
		if err != nil || st.Mode().Perm() != 0o644 || st.Size() != int64(len(image)) || goPartMappings(t, r) == "0" {
			t.Fatalf("a spoiled copy was not replaced (%v, %v):\n%s", st, err, r)
		}
	}

	noCopy := []string{"CRASHGUARD_CACHE_DIR=/proc/crashguard-cannot-write-here"}
	r = run(t, runOpts{preload: true, env: noCopy}, bin, "crash")
	if r.signal != syscall.SIGSEGV || goPartMappings(t, r) == "0" {
		t.Fatalf("without a writable cache directory the Go part should come from a memfd:\n%s", r)
	}
	wantLine(t, r, `^#0 0x[0-9a-f]+ in status_crash\+0x[0-9a-f]+ \(\S+\) at \S+status\.c:\d+$`)
}

// Where the Go runtime could not run (a 600 MB address-space limit, PID 1 of a namespace),
// the host runs normally and its crash is still reported, with cached names.
func TestLowAddressSpaceAndPID1(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	cache := warmCache(t, bin)
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache}
	for _, cold := range []bool{false, true} {
		c := cache
		if cold {
			c = t.TempDir() // nothing cached: raw frames, but still a report
		}
		e := []string{"CRASHGUARD_CACHE_DIR=" + c}
		r := run(t, runOpts{preload: true, env: e}, "/bin/sh", "-c", "ulimit -v 600000; exec "+bin)
		if r.exitCode != 0 || r.signal != 0 || !strings.Contains(r.stdout, "Threads:") {
			t.Fatalf("host under ulimit -v 600000 (cold=%v) did not run normally: %s", cold, r)
		}
		r = run(t, runOpts{preload: true, env: e}, "/bin/sh", "-c", "ulimit -v 600000; exec "+bin+" crash")
		if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") {
			t.Fatalf("crash under ulimit -v 600000 (cold=%v): %s", cold, r)
		}
		if !cold {
			wantChain(t, r, "status_crash", "main")
		} else {
			wantLine(t, r, `precomputation did not run: RLIMIT_AS below 3 GiB`)
		}
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) missing")
	}
	r := run(t, runOpts{preload: true, env: env}, "unshare", "--pid", "--fork", "--mount-proc", bin, "crash")
	if !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") || !strings.Contains(r.stderr, "process: pid 1,") {
		t.Fatalf("PID 1 crash not reported: %s", r)
	}
	wantChain(t, r, "status_crash", "main")
	if r.signal != syscall.SIGSEGV && r.exitCode != 128+int(syscall.SIGSEGV) {
		t.Fatalf("PID 1 did not die of SIGSEGV: %s", r)
	}
}

func TestCheckCommandExplainsGoDecision(t *testing.T) {
	bin := compile(t, "status.c", "-O2")
	cache := warmCache(t, bin)
	cmd := exec.Command(cmdPath, "check", "--library", libPath, bin)
	cmd.Env = append(os.Environ(), "CRASHGUARD_CACHE_DIR="+cache)
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "Go runtime does not start (all ") {
		t.Fatalf("check:\n%s", out)
	}
	cmd = exec.Command(cmdPath, "check", "--library", libPath, bin)
	cmd.Env = append(os.Environ(), "CRASHGUARD_CACHE_DIR="+t.TempDir())
	out, _ = cmd.CombinedOutput()
	if !strings.Contains(string(out), "Go runtime starts (tables of") {
		t.Fatalf("check:\n%s", out)
	}
}

// A cache file truncated under a running process (by someone who owns the cache): the
// handler faults reading the mapping; that fault must end in the original signal, at once,
// with no loop and no second report.
func TestFaultInsideHandlerEndsInOriginalSignal(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	cache := warmCache(t, bin)
	// The largest file is glibc's (megabytes): its checksum, verified when the report first
	// needs it, reads pages that are no longer there after the truncation.
	files, _ := filepath.Glob(filepath.Join(cache, "*", "*.cg"))
	var victim string
	var biggest int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Size() > biggest {
			victim, biggest = f, st.Size()
		}
	}
	if biggest < 1<<20 {
		t.Fatalf("no large cache file among %v", files)
	}
	script := bin + " sleep-crash 400 & sleep 0.2; truncate -s 4096 " + victim + "; wait $!; echo status=$?"
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache}}, "/bin/bash", "-c", script)
	if !strings.Contains(r.stdout, "status=139") { // 128 + SIGSEGV, not 135 (SIGBUS)
		t.Fatalf("want death by the original SIGSEGV: %s", r)
	}
	if strings.Count(r.stderr, "*** end of crashguard report") > 1 {
		t.Fatalf("more than one report: %s", r)
	}
}

// Under a seccomp filter that refuses clone3 (as container profiles once did), the Go
// runtime cannot create its threads and would abort the host: it must not start, and the
// host runs as without us.
func TestSeccompRefusingThreadsKeepsGoOut(t *testing.T) {
	wrapper := compile(t, "noclone3.c", "-O2")
	bin := compile(t, "status.c", "-O2", "-g")
	env := []string{"CRASHGUARD_CACHE_DIR=/dev/null/never", "CRASHGUARD_DEBUG=1"}
	without := run(t, runOpts{}, wrapper, bin)
	with := run(t, runOpts{preload: true, env: env}, wrapper, bin)
	if without.exitCode != 0 || with.exitCode != 0 || with.signal != 0 {
		t.Fatalf("without: %s\nwith: %s", without, with)
	}
	if !strings.Contains(with.stderr, "a seccomp filter refuses thread creation") {
		t.Fatalf("no explanation: %s", with.stderr)
	}
	r := run(t, runOpts{preload: true, env: env}, wrapper, bin, "crash")
	if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") {
		t.Fatalf("%s", r)
	}
}

// Cache files someone else could have written are not trusted, by the C reader or the Go
// one: group/world-writable, or owned by another user (not root).
func TestUntrustedCacheFilesIgnored(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	for _, spoil := range []func(string) error{
		func(p string) error { return os.Chmod(p, 0o666) },
		func(p string) error { return os.Chown(p, 65534, 65534) },
	} {
		cache := warmCache(t, bin)
		files, _ := filepath.Glob(filepath.Join(cache, "*", "*.cg"))
		var victim string
		for _, f := range files {
			if data, _ := os.ReadFile(f); strings.Contains(string(data), "status_crash") {
				victim = f
			}
		}
		if err := spoil(victim); err != nil {
			t.Fatal(err)
		}
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_DEBUG=1"}}, bin, "sleep", "300")
		if !strings.Contains(r.stderr, "no valid cached tables") || !strings.Contains(r.stderr, "not trusted") {
			t.Fatalf("an untrusted cache file was used:\n%s", r.stderr)
		}
	}
}
