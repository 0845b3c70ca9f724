package tests

// The host never runs Go: tables are computed by a helper process the host starts (or by
// `crashguard warm`), written to the cache, and mapped by the host — at load when they are
// there, at a crash when they appeared since. These tests look at the host (threads,
// children, signals, descriptors) and at what the helper leaves behind.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"crashguard/dwarfcache"
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

// helpers lists the running helper processes whose arguments mention dir.
func helpers(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// ld.so --argv0 crashguard .../libcrashguard.so --helper ... (comm is "crashguard")
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), "\x00--helper\x00") && strings.Contains(string(cmdline), "\x00--dir="+dir+"\x00") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitForHelpers waits until no helper writing to dir runs any more.
func waitForHelpers(t testing.TB, dir string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(helpers(dir)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("helpers still running after 60 s: %v", helpers(dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cacheDebris lists what a finished or killed helper must not leave in dir: anything but
// cache files, the Go part's copy and the one lock file.
func cacheDebris(dir string) []string {
	var left []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		name := filepath.Base(p)
		if err == nil && !info.IsDir() && !strings.HasSuffix(name, ".cg") && name != dwarfcache.LockFile &&
			!(strings.HasPrefix(name, "go-part-") && strings.HasSuffix(name, ".so")) {
			left = append(left, p)
		}
		return nil
	})
	return left
}

// validCache checks every cache file in dir with the Go reader (format, build-id,
// checksum) and returns how many there are.
func validCache(t *testing.T, dir string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "??", "*.cg"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := len(data)
		if n < 64 {
			t.Fatalf("%s: %d bytes", f, n)
		}
		idLen := int(data[48])
		if _, err := dwarfcache.Decode(data, data[16:16+idLen]); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return len(files)
}

// No Go and no thread of ours in a host, cold or warm, on or off, before and after dlopen:
// its threads are its own and no mapping holds the Go part.
func TestHostRunsNoGoAndNoThreadOfOurs(t *testing.T) {
	status := compile(t, "status.c", "-O2", "-g")
	host := compile(t, "helperhost.c", "-O2", "-g", "-ldl")
	cold := t.TempDir()
	for _, c := range []struct {
		name string
		env  []string
	}{
		{"cold", []string{"CRASHGUARD_CACHE_DIR=" + cold}},
		{"warm", []string{"CRASHGUARD_CACHE_DIR=" + warmCache(t, status, host)}},
		{"off", []string{"CRASHGUARD=off"}},
	} {
		r := run(t, runOpts{preload: true, env: c.env}, status, "sleep", "200")
		if threads(t, r) != "1" || goPartMappings(t, r) != "0" {
			t.Fatalf("%s start: %s", c.name, r)
		}
		r = run(t, runOpts{preload: true, env: c.env}, host, "threads-dlopen", pluginLib(t))
		if !strings.Contains(r.stdout, "before: 1\n") || !strings.Contains(r.stdout, "after: 1\n") || !strings.Contains(r.stdout, "later: 1 ok") {
			t.Fatalf("%s start, threads around dlopen: %s", c.name, r)
		}
	}
	waitForHelpers(t, cold)
}

// A cold start has no cached tables and starts a helper; the host still gets the report
// with every name and line, and the cache is valid afterwards.
func TestColdStartReportHasNames(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	cache := t.TempDir()
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache}}, bin, "crash")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^#0 0x[0-9a-f]+ in status_crash\+0x[0-9a-f]+ \(\S+\) at \S+status\.c:\d+$`)
	wantChain(t, r, "status_crash", "main")
	waitForHelpers(t, cache)
	warm := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_DEBUG=1"}}, bin, "crash")
	if !strings.Contains(warm.stderr, "every module's tables were cached") {
		t.Fatalf("not warm after the helper:\n%s", warm.stderr)
	}
	if a, b := frameLocations(r.stderr), frameLocations(warm.stderr); strings.Join(a, "|") != strings.Join(b, "|") {
		t.Fatalf("cold and warm reports differ:\n%q\n%q", a, b)
	}
	if n := validCache(t, cache); n == 0 {
		t.Fatal("no cache file written")
	}
}

// The setuid-style privilege drop of container entrypoints and user namespaces need a
// single-threaded process: with an empty cache both work as without the library.
func TestPrivilegeDropAndUserNamespaceWithEmptyCache(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop privileges")
	}
	for _, argv := range [][]string{
		{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "true"},
		{"unshare", "-U", "-r", "id", "-u"},
	} {
		without := run(t, runOpts{}, argv[0], argv[1:]...)
		for i := 0; i < 3; i++ {
			cache := t.TempDir()
			with := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache}}, argv[0], argv[1:]...)
			if with.exitCode != without.exitCode || with.signal != 0 || with.stdout != without.stdout {
				t.Fatalf("%v: without %s\nwith %s", argv, without, with)
			}
			waitForHelpers(t, cache)
		}
	}
}

// The helper is invisible to the host: its wait() returns only its own child, its SIGCHLD
// handler runs only for that one, no zombie is left once the helper is done, and the
// host's own handler flags are as it set them.
func TestHelperIsNoChildOfTheHost(t *testing.T) {
	bin := compile(t, "helperhost.c", "-O2", "-g", "-ldl")
	without := run(t, runOpts{}, bin, "children", "1500")
	for i := 0; i < 3; i++ {
		cache := t.TempDir()
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache}}, bin, "children", "1500")
		own := regexp.MustCompile(`own: (\d+)`).FindStringSubmatch(r.stdout)
		if own == nil {
			t.Fatalf("%s", r)
		}
		if !strings.Contains(r.stdout, "waited: "+own[1]+":7\n") || !strings.Contains(r.stdout, "sigchld: 1\n") ||
			!strings.Contains(r.stdout, "children:\n") {
			t.Fatalf("the host saw more than its own child:\n%s", r)
		}
		if got, want := regexp.MustCompile(`usr1 flags: \S+`).FindString(r.stdout), regexp.MustCompile(`usr1 flags: \S+`).FindString(without.stdout); got != want {
			t.Fatalf("handler flags %q, without the library %q", got, want)
		}
		if n := validCache(t, cache); n == 0 {
			t.Fatalf("the helper cached nothing in 1.5 s:\n%s", r)
		}
	}
}

// A host that is PID 1 of a namespace (or a subreaper) would get a helper back as an orphan:
// it starts none while it lives, so its wait() sees only its own children; at its crash it
// does, and the crash is named.
func TestPID1HostGetsNamesAndNoZombie(t *testing.T) {
	status := compile(t, "status.c", "-O2", "-g")
	host := compile(t, "helperhost.c", "-O2", "-g", "-ldl")
	cache := t.TempDir()
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache}}, "unshare", "--pid", "--fork", "--mount-proc", status, "crash")
	if !strings.Contains(r.stderr, "process: pid 1,") || (r.signal != syscall.SIGSEGV && r.exitCode != 128+int(syscall.SIGSEGV)) {
		t.Fatalf("PID 1 crash: %s", r)
	}
	wantChain(t, r, "status_crash", "main")
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + t.TempDir()}}, "unshare", "--pid", "--fork", "--mount-proc", host, "children", "1500")
	own := regexp.MustCompile(`own: (\d+)`).FindStringSubmatch(r.stdout)
	if own == nil || !strings.Contains(r.stdout, "waited: "+own[1]+":7\n") || !strings.Contains(r.stdout, "sigchld: 1\n") {
		t.Fatalf("PID 1 host saw the helper: %s", r)
	}
	if m := regexp.MustCompile(`(?m)^children:(.*)$`).FindStringSubmatch(r.stdout); m == nil || strings.Contains(m[1], ":Z") {
		t.Fatalf("a zombie under PID 1: %s", r)
	}
}

// /bin/true exits long before its tables are built; the helper outlives it, so the second
// run is warm and starts no helper.
func TestShortProgramIsWarmTheSecondTime(t *testing.T) {
	cache := t.TempDir()
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_DEBUG=1"}
	first := run(t, runOpts{preload: true, env: env}, "/bin/true")
	if !strings.Contains(first.stderr, " started for the missing tables") {
		t.Fatalf("first run: %s", first)
	}
	waitForHelpers(t, cache)
	second := run(t, runOpts{preload: true, env: env}, "/bin/true")
	if !strings.Contains(second.stderr, "every module's tables were cached") || strings.Contains(second.stderr, "started") {
		t.Fatalf("second run not warm: %s", second)
	}
	if left := cacheDebris(cache); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// 32 concurrent cold starts: each behaves exactly as without the library, every build-id is
// computed once across all their helpers, and the cache is valid afterwards.
func TestConcurrentColdStartsComputeEachModuleOnce(t *testing.T) {
	bin := compile(t, "inline.c", "-O2", "-g")
	cache := t.TempDir()
	log := filepath.Join(t.TempDir(), "debug.log")
	without := run(t, runOpts{}, "/bin/sh", "-c", bin+" 2>/dev/null; echo rc=$?")
	var wg sync.WaitGroup
	results := make([]result, 32)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_DEBUG=" + log}},
				"/bin/sh", "-c", bin+" 2>/dev/null; echo rc=$?")
		}(i)
	}
	wg.Wait()
	for _, r := range results {
		if r.stdout != without.stdout || r.exitCode != without.exitCode {
			t.Fatalf("with the library: %s\nwithout: %s", r, without)
		}
	}
	waitForHelpers(t, cache)
	data, _ := os.ReadFile(log)
	built := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m): built in \S+; cached to (\S+)$`).FindAllStringSubmatch(string(data), -1) {
		built[m[1]]++
	}
	for file, n := range built {
		if n != 1 {
			t.Errorf("%s built %d times", file, n)
		}
	}
	if len(built) == 0 || validCache(t, cache) != len(built) {
		t.Fatalf("built %v; cache holds %d files\n%s", built, validCache(t, cache), data)
	}
	if left := cacheDebris(cache); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// A child forked before the tables were ready, and a library opened with dlopen in a
// process whose start-up modules were all cached: both crash with every frame named.
func TestForkedChildAndLateLibraryGetNames(t *testing.T) {
	host := compile(t, "helperhost.c", "-O2", "-g", "-ldl")
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + t.TempDir()}}, host, "fork-crash")
	if r.exitCode != 128+int(syscall.SIGSEGV) {
		t.Fatalf("%s", r)
	}
	wantChain(t, r, "child_crashes", "main")

	unwind := unwindBin(t)
	warm := warmCache(t, unwind)
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + warm, "CRASHGUARD_DEBUG=1"}}, unwind, "dlopen", pluginLib(t))
	if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "every module's tables were cached") {
		t.Fatalf("%s", r)
	}
	wantChain(t, r, "plugin_inner", "plugin_entry", "main")
}

// Where the user's cache directory cannot be used (service accounts: HOME=/nonexistent, which
// root could create: here a path under /dev/null), the helper writes to
// /var/tmp/crashguard-<euid>, and the host finds its tables there. /var/tmp is a private
// tmpfs in a mount namespace of the test's own.
func TestUnusableHomeFallsBackToVarTmp(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	script := fmt.Sprintf(`mount -t tmpfs none /var/tmp || exit 99
env -u CRASHGUARD_CACHE_DIR -u XDG_CACHE_HOME HOME=/dev/null/nonexistent LD_PRELOAD=%s %s crash
echo rc=$?
ls /var/tmp/crashguard-%d/*/*.cg | wc -l`, libPath, bin, os.Geteuid())
	r := run(t, runOpts{}, "unshare", "-m", "/bin/sh", "-c", script)
	if strings.Contains(r.stdout, "rc=99") || r.exitCode == 1 && strings.Contains(r.stderr, "unshare") {
		t.Skipf("no private mount namespace here: %s", r)
	}
	if !strings.Contains(r.stdout, "rc=139") {
		t.Fatalf("%s", r)
	}
	wantChain(t, r, "status_crash", "main")
	if m := regexp.MustCompile(`(?m)^(\d+)$`).FindStringSubmatch(r.stdout); m == nil || m[1] == "0" {
		t.Fatalf("nothing cached under /var/tmp: %s", r)
	}
}

// The helper is harmless when killed at any moment (a service stop kills its whole cgroup):
// every cache file left is valid, no temporary file or lock is left once a later helper
// finished, and that later start gets names.
func TestKilledHelperLeavesNoDebris(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	cache := t.TempDir()
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache}
	for i, delay := range []time.Duration{0, 2, 5, 10, 20, 40, 80, 150, 300} {
		run(t, runOpts{preload: true, env: env}, bin)
		time.Sleep(delay * time.Millisecond)
		for _, pid := range helpers(cache) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		validCache(t, cache)
		if i == 4 { // some files may be complete by now: start again from nothing later
			for _, d := range []string{"??"} {
				dirs, _ := filepath.Glob(filepath.Join(cache, d))
				for _, dd := range dirs {
					files, _ := filepath.Glob(filepath.Join(dd, "*.cg"))
					for _, f := range files {
						os.Remove(f)
					}
				}
			}
		}
	}
	r := run(t, runOpts{preload: true, env: env}, bin, "crash")
	wantChain(t, r, "status_crash", "main")
	waitForHelpers(t, cache)
	validCache(t, cache)
	if left := cacheDebris(cache); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// The helper holds none of the host's descriptors: a parent reading the host's output until
// EOF is not kept waiting while the helper still works (clang's libLLVM takes it a while);
// the helper is named crashguard and runs at idle priority.
func TestHelperHoldsNoDescriptorOfTheHost(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Fatal("clang missing: tests/run.sh installs it")
	}
	cache := t.TempDir()
	log := filepath.Join(t.TempDir(), "debug.log")
	cmd := exec.Command(clang, "--version")
	cmd.Env = append(os.Environ(), "CRASHGUARD_CACHE_DIR="+cache, "LD_PRELOAD="+libPath, "CRASHGUARD_DEBUG="+log)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil { // Run returns once the pipe reached EOF
		t.Fatalf("clang --version: %v", err)
	}
	pids := helpers(cache)
	data, _ := os.ReadFile(log)
	if finished := strings.Contains(string(data), " modules built into "); finished || len(pids) == 0 {
		t.Fatalf("the host's output reached EOF only once the helper had finished (it holds the pipe?):\n%s", data)
	}
	for _, pid := range pids {
		// Named first thing in its own main(): until then the dynamic loader is loading it.
		var comm, sched []byte
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			comm, _ = os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			sched, _ = os.ReadFile(fmt.Sprintf("/proc/%d/sched", pid))
			if strings.TrimSpace(string(comm)) == "crashguard" && regexp.MustCompile(`(?m)^policy\s+:\s+5$`).Match(sched) {
				break
			}
		}
		if strings.TrimSpace(string(comm)) != "crashguard" || !regexp.MustCompile(`(?m)^policy\s+:\s+5$`).Match(sched) {
			t.Errorf("helper %d: comm %q, %s (want SCHED_IDLE, 5)", pid, comm, regexp.MustCompile(`(?m)^policy.*$`).Find(sched))
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if strings.HasPrefix(target, "pipe:") || strings.HasPrefix(target, "socket:") {
				t.Errorf("helper %d holds fd %s -> %s", pid, fd.Name(), target)
			}
		}
	}
	waitForHelpers(t, cache)
}

// Deleting one module's cache file makes the next start compute it again, and only it; the
// start after that is warm again.
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
	if !strings.Contains(r.stderr, "1 without cached tables") || !strings.Contains(r.stderr, ": built in ") ||
		strings.Count(r.stderr, ": built in ") != 1 {
		t.Fatalf("a missing cache file was not rebuilt alone:\n%s", r.stderr)
	}
	waitForHelpers(t, cache)
	r = run(t, runOpts{preload: true, env: env}, bin)
	if !strings.Contains(r.stderr, "every module's tables were cached") {
		t.Fatalf("not warm after the rebuild:\n%s", r)
	}
}

// The helper loads the Go part from its copy in the cache directory, writing the copy first;
// a copy that breaks the cache files' rules is replaced, not used. The host never maps it.
func TestGoPartCopy(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	cache := t.TempDir()
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache}
	r := run(t, runOpts{preload: true, env: env}, bin, "sleep", "100")
	waitForHelpers(t, cache)
	copies, _ := filepath.Glob(filepath.Join(cache, "go-part-*.so"))
	if len(copies) != 1 || goPartMappings(t, r) != "0" {
		t.Fatalf("want one copy written by the helper, none mapped by the host (%v):\n%s", copies, r)
	}
	image, _ := os.ReadFile(copies[0])
	forgetTables := func() { // the next start is cold again: a helper runs
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
		r = run(t, runOpts{preload: true, env: env}, bin, "crash")
		wantChain(t, r, "status_crash", "main")
		waitForHelpers(t, cache)
		st, err := os.Stat(copies[0])
		if err != nil || st.Mode().Perm() != 0o644 || st.Size() != int64(len(image)) {
			t.Fatalf("a spoiled copy was not replaced (%v, %v):\n%s", st, err, r)
		}
	}
}

// Under a 600 MB address-space limit a host runs as without the library and its crash is
// reported, with names when the tables are cached (a helper inherits the limit, and the Go
// runtime cannot start under it: a cold start gets raw frames and a note).
func TestLowAddressSpace(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	for i, cache := range []string{warmCache(t, bin), t.TempDir()} {
		e := []string{"CRASHGUARD_CACHE_DIR=" + cache}
		r := run(t, runOpts{preload: true, env: e}, "/bin/sh", "-c", "ulimit -v 600000; exec "+bin)
		if r.exitCode != 0 || r.signal != 0 || !strings.Contains(r.stdout, "Threads:\t1") {
			t.Fatalf("host under ulimit -v 600000 did not run normally: %s", r)
		}
		r = run(t, runOpts{preload: true, env: e}, "/bin/sh", "-c", "ulimit -v 600000; exec "+bin+" crash")
		if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** end of crashguard report") {
			t.Fatalf("crash under ulimit -v 600000: %s", r)
		}
		if i == 0 {
			wantChain(t, r, "status_crash", "main")
		}
		waitForHelpers(t, cache)
	}
}

func TestCheckCommandExplainsTables(t *testing.T) {
	bin := compile(t, "status.c", "-O2")
	cache := warmCache(t, bin)
	cmd := exec.Command(cmdPath, "check", "--library", libPath, bin)
	cmd.Env = append(os.Environ(), "CRASHGUARD_CACHE_DIR="+cache)
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "every module's tables were cached") {
		t.Fatalf("check:\n%s", out)
	}
	cache = t.TempDir()
	cmd = exec.Command(cmdPath, "check", "--library", libPath, bin)
	cmd.Env = append(os.Environ(), "CRASHGUARD_CACHE_DIR="+cache)
	out, _ = cmd.CombinedOutput()
	if !regexp.MustCompile(`helper \d+ started for the missing tables`).Match(out) {
		t.Fatalf("check:\n%s", out)
	}
	waitForHelpers(t, cache)
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

// Under a seccomp filter that refuses clone3 (as container profiles once did) the host runs
// as without the library and its crash is reported.
func TestSeccompRefusingClone3DoesNotHarmTheHost(t *testing.T) {
	wrapper := compile(t, "noclone3.c", "-O2")
	bin := compile(t, "status.c", "-O2", "-g")
	cache := t.TempDir()
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache}
	without := run(t, runOpts{}, wrapper, bin)
	with := run(t, runOpts{preload: true, env: env}, wrapper, bin)
	if without.exitCode != 0 || with.exitCode != 0 || with.signal != 0 {
		t.Fatalf("without: %s\nwith: %s", without, with)
	}
	r := run(t, runOpts{preload: true, env: env}, wrapper, bin, "crash")
	if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") {
		t.Fatalf("%s", r)
	}
	waitForHelpers(t, cache)
}

// Cache files someone else could have written are not trusted, by the C reader or the Go
// one: group/world-writable, or owned by another user (not root). The helper replaces them.
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
		if !strings.Contains(r.stderr, "1 without cached tables") || !strings.Contains(r.stderr, "not trusted") {
			t.Fatalf("an untrusted cache file was used:\n%s", r.stderr)
		}
		waitForHelpers(t, cache)
		if st, err := os.Stat(victim); err != nil || st.Mode().Perm() != 0o644 || st.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()) {
			t.Fatalf("the untrusted file was not replaced: %v %v", st, err)
		}
	}
}
