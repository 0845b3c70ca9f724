package tests

// The interposers (pthread_create, sigaction and the other ways to set a disposition): what
// they cost a program and what they let it see, each compared with the same run without
// the library.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Crash tests here need no names: the Go part stays out.

func threadsBin(t *testing.T) string {
	return compile(t, "threads.c", "-O0", "-g", "-fno-omit-frame-pointer")
}

// mappingCounts parses "... mappings before B after A".
func mappingCounts(t *testing.T, r result) (before, after int) {
	t.Helper()
	m := regexp.MustCompile(`mappings before (\d+) after (\d+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no mapping counts: %s", r)
	}
	before, _ = strconv.Atoi(m[1])
	after, _ = strconv.Atoi(m[2])
	return
}

// Finding 9: an alternate stack must not cost a thread mappings of its own. With 16 KiB
// thread stacks, 20,000 threads need 40,000 mappings without us (stack and guard page);
// two more per thread hit vm.max_map_count (65530) at 16,380 threads. With the library on,
// off, and without it, the program gets all its threads; off is mapping for mapping the
// same as without.
func TestThreadCeiling(t *testing.T) {
	const n = 20000
	// The interposer's pthread_getattr_np allocates, which gives each of the first threads
	// a malloc arena (glibc: at most 8 per core, 2 mappings each) where a parked thread
	// would have none: one arena, so that what is counted is the cost per thread.
	env := []string{"MALLOC_ARENA_MAX=1", "CRASHGUARD_HELPER=off"}
	count := func(r result) int {
		m := regexp.MustCompile(`created (\d+) threads`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("no thread count: %s", r)
		}
		v, _ := strconv.Atoi(m[1])
		return v
	}
	opts := runOpts{env: env, timeout: 120 * time.Second}
	without := run(t, opts, threadsBin(t), "many", strconv.Itoa(n))
	if count(without) < n {
		t.Skipf("this machine runs fewer than %d threads without the library: %s", n, without.stdout)
	}
	wb, wa := mappingCounts(t, without)
	opts.preload = true
	with := run(t, opts, threadsBin(t), "many", strconv.Itoa(n))
	opts.env = append(opts.env, "CRASHGUARD=off")
	off := run(t, opts, threadsBin(t), "many", strconv.Itoa(n))
	b, a := mappingCounts(t, with)
	ob, oa := mappingCounts(t, off)
	t.Logf("without: %s; with: %s; off: %s", strings.TrimSpace(without.stdout), strings.TrimSpace(with.stdout), strings.TrimSpace(off.stdout))
	t.Logf("mappings added by %d threads: without %d, with %d (%.4f per thread more), off %d", n, wa-wb, a-b,
		float64((a-b)-(wa-wb))/n, oa-ob)
	if count(with) != n || count(off) != n {
		t.Fatalf("threads created: without %d, with %d, off %d", n, count(with), count(off))
	}
	// The pool's chunks: 4, 8, ... 1024 slots, then 1024 a chunk: 27 for 20,000 threads.
	if extra := (a - b) - (wa - wb); extra > 40 {
		t.Fatalf("%d threads cost %d more mappings with the library than without", n, extra)
	}
	if oa-ob != wa-wb {
		t.Fatalf("off: %d threads added %d mappings, without the library %d", n, oa-ob, wa-wb)
	}
}

// Off means untouched: no alternate stack for any thread when the library is off or the
// program not covered — also for a thread a library's constructor creates before ours ran.
// On, every thread has one.
func TestOffMeansNoAlternateStacks(t *testing.T) {
	bin := threadsBin(t)
	none := "main thread: no alternate stack\nnew thread: no alternate stack\n"
	if r := run(t, runOpts{}, bin, "altstack"); r.stdout != none {
		t.Fatalf("without the library: %s", r)
	}
	for _, env := range [][]string{{"CRASHGUARD=off"}, {"CRASHGUARD_EXCLUDE=" + bin}, {"CRASHGUARD_INCLUDE=/nowhere/**"}} {
		if r := run(t, runOpts{preload: true, env: env}, bin, "altstack"); r.stdout != none {
			t.Errorf("%v: %s", env, r)
		}
	}
	on := run(t, runOpts{preload: true, env: noHelper}, bin, "altstack")
	if !regexp.MustCompile(`^main thread: alternate stack of \d+ bytes\nnew thread: alternate stack of \d+ bytes\n$`).MatchString(on.stdout) {
		t.Fatalf("on: %s", on)
	}

	lib := filepath.Join(workDir, "libthreadctor.so")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-pthread", "-o", lib, filepath.Join(repoDir, "tests", "crashers", "libthreadctor.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	early := filepath.Join(workDir, "threads-with-ctor")
	if out, err := exec.Command("gcc", "-o", early, filepath.Join(repoDir, "tests", "crashers", "threads.c"), "-Wl,--no-as-needed", lib, "-pthread", "-Wl,-rpath,"+workDir).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	if r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD=off"}}, early, "altstack"); r.stdout != "constructor's thread: no alternate stack\n"+none {
		t.Fatalf("off, a thread created before our constructor ran: %s", r)
	}
	if r := run(t, runOpts{preload: true, env: noHelper}, early, "altstack"); !strings.HasPrefix(r.stdout, "constructor's thread: alternate stack of ") {
		t.Fatalf("on, a thread created before our constructor ran: %s", r)
	}
}

// Threads that come and go reuse the pool's slots: 10,000 threads, created and joined one
// at a time and by four threads at once, add no mappings beyond what they add without us
// (glibc's cache of thread stacks) and the pool's chunks for the threads alive at once —
// each chunk two mappings where the kernel has no guard markers (before 6.13): one chunk
// (4 slots) for one churner, the main thread and a thread still exiting; two (12 slots) for
// four churners, whose threads overlap as they come and go.
func TestThreadChurnAddsNoMappings(t *testing.T) {
	for _, c := range []struct {
		parallel string
		chunks   int
	}{{"1", 1}, {"4", 2}} {
		parallel := c.parallel
		env := []string{"MALLOC_ARENA_MAX=1", "CRASHGUARD_HELPER=off"}
		without := run(t, runOpts{env: env}, threadsBin(t), "churn", "10000", parallel)
		with := run(t, runOpts{preload: true, env: env}, threadsBin(t), "churn", "10000", parallel)
		if without.exitCode != 0 || with.exitCode != 0 {
			t.Fatalf("without: %s\nwith: %s", without, with)
		}
		wb, wa := mappingCounts(t, without)
		b, a := mappingCounts(t, with)
		t.Logf("%s churners: mappings added without %d, with %d", parallel, wa-wb, a-b)
		if (a - b) > (wa-wb)+2*c.chunks {
			t.Fatalf("%s churners: 10,000 threads added %d mappings, %d without the library", parallel, a-b, wa-wb)
		}
	}
}

// A thread whose alternate stack was another thread's (released at its exit, handed out
// again) still gets its stack overflow reported; so do two threads overflowing at once,
// each on its own slot.
func TestStackOverflowOnReusedAlternateStack(t *testing.T) {
	for _, mode := range []string{"overflow-reused", "overflow-two"} {
		without := run(t, runOpts{}, threadsBin(t), mode)
		if without.signal != syscall.SIGSEGV {
			t.Fatalf("%s without the library: %s", mode, without)
		}
		r := run(t, runOpts{preload: true, env: noHelper}, threadsBin(t), mode)
		if r.signal != syscall.SIGSEGV || strings.Count(r.stderr, "*** end of crashguard report") != 1 {
			t.Fatalf("%s: want one complete report and death by SIGSEGV: %s", mode, r)
		}
		wantLine(t, r, `^diagnosis: stack overflow`)
		wantLine(t, r, `^thread: tid \d+ "[^"]*"$`)
	}
}

// Finding 13: every way of giving SIGSEGV back to the default — before or after the
// program installed a handler of its own — is stood in for: the crash is reported and the
// process dies of SIGSEGV, as it does without us.
func TestEveryWayBackToTheDefaultIsReported(t *testing.T) {
	bin := compile(t, "sigdfl.c", "-O0", "-g", "-fno-omit-frame-pointer", "-Wno-deprecated-declarations")
	for _, variant := range []string{"signal", "bsd_signal", "ssignal", "sysv_signal", "__sysv_signal", "sigset", "siginfo", "__sigaction"} {
		for _, own := range []string{"", "own"} {
			without := run(t, runOpts{}, bin, variant, own)
			if without.signal != syscall.SIGSEGV {
				t.Fatalf("%s %s without the library: %s", variant, own, without)
			}
			r := run(t, runOpts{preload: true, env: noHelper}, bin, variant, own)
			if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") ||
				!strings.Contains(r.stderr, "*** end of crashguard report") {
				t.Errorf("%s %s: want a report and death by SIGSEGV: %s", variant, own, r)
				continue
			}
			wantLine(t, r, `^fault address: 0x0$`)
		}
	}
}

// What every one of those calls returns, and what sigaction says after each, is what it
// would be without us: handler, flags, mask, restorer — also while our handler stands in
// for a default the program set. At the end, the crash is reported.
func TestDispositionsAsTheProgramSetThem(t *testing.T) {
	bin := compile(t, "sigdfl.c", "-O0", "-g", "-fno-omit-frame-pointer", "-Wno-deprecated-declarations")
	without := run(t, runOpts{}, bin, "query")
	if without.signal != syscall.SIGSEGV || strings.Count(without.stdout, "\n") < 30 {
		t.Fatalf("without the library: %s", without)
	}
	for _, env := range [][]string{noHelper, {"CRASHGUARD=off"}} {
		with := run(t, runOpts{preload: true, env: env}, bin, "query")
		if with.stdout != without.stdout {
			t.Fatalf("%v: the program was told other dispositions:\nwithout:\n%s\nwith:\n%s", env, without.stdout, with.stdout)
		}
		if with.signal != syscall.SIGSEGV {
			t.Fatalf("%v: %s", env, with)
		}
	}
	with := run(t, runOpts{preload: true, env: noHelper}, bin, "query")
	if !strings.Contains(with.stderr, "*** end of crashguard report") {
		t.Fatalf("the final crash was not reported: %s", with)
	}
}

// Finding 6: a SIGSEGV handler that a library's constructor installs before ours stays in
// charge. A fault it resolves produces no report; when it later gives the signal back to
// the default for a real crash, that crash is reported and the process dies of SIGSEGV.
func TestEarlierLibrarysHandlerStaysInCharge(t *testing.T) {
	lib := filepath.Join(workDir, "libearly.so")
	src := func(name string) string { return filepath.Join(repoDir, "tests", "crashers", name) }
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, src("libearly.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	build := func(main string) string {
		bin := filepath.Join(workDir, strings.TrimSuffix(main, ".c"))
		if out, err := exec.Command("gcc", "-O0", "-g", "-o", bin, src(main), lib, "-Wl,-rpath,"+workDir).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, out)
		}
		return bin
	}
	recovered, real := build("early_main.c"), build("early_main2.c")

	without := run(t, runOpts{}, recovered)
	for _, env := range [][]string{noHelper, nil} {
		r := run(t, runOpts{preload: true, env: env}, recovered)
		if r.exitCode != 0 || r.signal != 0 || r.stdout != without.stdout || strings.Contains(r.stderr, "crashguard") {
			t.Fatalf("%v: a fault the library resolved changed the run:\nwithout: %s\nwith: %s", env, without, r)
		}
	}

	if w := run(t, runOpts{}, real); w.signal != syscall.SIGSEGV {
		t.Fatalf("without the library: %s", w)
	}
	r := run(t, runOpts{preload: true, env: noHelper}, real)
	if r.signal != syscall.SIGSEGV || strings.Count(r.stderr, "*** crashguard: ") != 1 || !strings.Contains(r.stderr, "*** end of crashguard report") {
		t.Fatalf("want exactly one report (the real crash) and death by SIGSEGV: %s", r)
	}
	wantLine(t, r, `^fault address: 0x18$`)
}

// The torn read ("also noted" in the review): what die_as_before restores is read while
// another thread may be changing it. Through cg_previous_action a reader never sees an
// action half old and half new; a plain copy of the field, as handler.c made before, does —
// which shows the stress catches tears.
func TestPreviousActionIsNeverTorn(t *testing.T) {
	bin := compile(t, "tornread.c", "-std=gnu11", "-D_GNU_SOURCE", "-O2", "-I"+repoDir)
	parse := func(r result) (reads, writes, torn int) {
		if _, err := fmt.Sscanf(r.stdout, "reads %d writes %d torn %d", &reads, &writes, &torn); err != nil || r.exitCode != 0 {
			t.Fatalf("%v: %s", err, r)
		}
		return
	}
	// Tears need the writer and the reader on two cores at once; on a loaded machine they
	// are rare: up to 10 s for the first.
	_, _, seen := parse(run(t, runOpts{}, bin, "field", "10"))
	if seen == 0 {
		t.Skip("no plain copy caught torn in 10 s (no second core free?): the stress could not catch a torn reader either")
	}
	reads, writes, torn := parse(run(t, runOpts{}, bin, "published", "2"))
	t.Logf("cg_previous_action: %d reads during %d writes, %d torn", reads, writes, torn)
	if torn != 0 || writes < 10000 {
		t.Fatalf("cg_previous_action: %d of %d reads torn (%d writes)", torn, reads, writes)
	}
}
