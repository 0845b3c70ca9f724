package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The core crash zoo, built -O0 with frame pointers: every frame is recoverable by walking
// the frame-pointer chain.
func coreBin(t *testing.T) string {
	return compile(t, "core.c", "-O0", "-g", "-fno-omit-frame-pointer")
}

func TestNullDereferenceThroughNamedFunctions(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, coreBin(t), "null")
	wantLine(t, r, `^\*\*\* crashguard: SIGSEGV \(segmentation fault\), address not mapped to object \[si_code 1\]$`)
	wantLine(t, r, `^fault address: 0x0$`)
	wantLine(t, r, `^diagnosis: NULL-pointer dereference$`)
	wantLine(t, r, `^thread: tid \d+ "core-\d+" \(main thread\)$`)
	wantLine(t, r, `^  rax 0x[0-9a-f]{16}  rbx 0x[0-9a-f]{16}`)
	wantLine(t, r, `^  rip 0x[0-9a-f]{16}`)
	// static_leaf_reads is a static function: only .symtab names it, not .dynsym.
	wantChain(t, r, "static_leaf_reads", "middle_adds", "outer_calls", "main")
	// Frame line shape: #n 0xPC in func+0xOFF (module+0xOFF), module offset = ELF address.
	m := wantLine(t, r, `^#0 0x([0-9a-f]{16}) in static_leaf_reads\+0x[0-9a-f]+ \((/[^+]+)\+0x([0-9a-f]+)\)( at \S+:\d+)?$`)
	if !strings.HasSuffix(m[2], filepath.Base(coreBin(t))) {
		t.Errorf("frame 0 module %q is not the executable", m[2])
	}
	nmOut := runOut(t, "nm", coreBin(t))
	sym := regexp.MustCompile(`(?m)^([0-9a-f]+) t static_leaf_reads$`).FindStringSubmatch(nmOut)
	if sym == nil {
		t.Fatalf("nm does not list static_leaf_reads:\n%s", nmOut)
	}
	start, _ := strconv.ParseUint(sym[1], 16, 64)
	off, _ := strconv.ParseUint(m[3], 16, 64)
	if off < start || off > start+64 {
		t.Errorf("module offset 0x%x is not inside static_leaf_reads at 0x%x", off, start)
	}
	// The modules in the trace are listed with build-ids an offline symbolizer can use.
	wantLine(t, r, `(?m)^  \S+/core-\d+ base 0x[0-9a-f]+ build-id [0-9a-f]{40}$`)
	wantLine(t, r, `(?m)^  \S+libc\.so\.6 base 0x[0-9a-f]+ build-id [0-9a-f]{40}$`)
}

func TestDeathIsUnchanged(t *testing.T) {
	bin := coreBin(t)
	for _, mode := range []string{"null", "fpe", "ill", "assert", "double-free", "kill-self", "bus"} {
		args := []string{mode}
		if mode == "bus" {
			args = append(args, filepath.Join(t.TempDir(), "bus"))
		}
		without := run(t, runOpts{}, bin, args...)
		with := run(t, runOpts{preload: true}, bin, args...)
		if without.signal == 0 || with.signal != without.signal || with.exitCode != without.exitCode {
			t.Errorf("%s: without preload %d/%d, with %d/%d", mode, without.signal, without.exitCode, with.signal, with.exitCode)
		}
		if with.coreDumped != without.coreDumped {
			t.Errorf("%s: core dumped without preload %v, with %v", mode, without.coreDumped, with.coreDumped)
		}
	}
}

// With cores enabled and a plain core_pattern, the core file is still written.
func TestCoreDumpKept(t *testing.T) {
	pattern, err := os.ReadFile("/proc/sys/kernel/core_pattern")
	if err != nil || strings.HasPrefix(string(pattern), "|") {
		t.Skipf("core_pattern %q pipes cores to a helper; WCOREDUMP is compared in TestDeathIsUnchanged", pattern)
	}
	dir := t.TempDir()
	script := "ulimit -c unlimited; cd " + dir + " && " + coreBin(t) + " null; echo status=$?; ls"
	r := run(t, runOpts{preload: true}, "/bin/sh", "-c", script)
	if !strings.Contains(r.stdout, "status=139") || !strings.Contains(r.stdout, "core") {
		t.Fatalf("no core file after a crash under the preload: %s", r)
	}
}

func TestStackOverflowMainThread(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, coreBin(t), "overflow-main")
	wantLine(t, r, `^diagnosis: stack overflow`)
	wantLine(t, r, `^    \.\.\. \d+ frames omitted \.\.\.$`)
	f := frames(t, r.stderr)
	if len(f) < 60 || f[0] != "recurse_forever" || f[1] != "recurse_forever" {
		t.Fatalf("innermost frames: %q", f)
	}
	// The outermost frames show where the recursion started.
	wantChain(t, r, "recurse_forever", "main")
}

func TestStackOverflowOnSmallThreadStack(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, coreBin(t), "overflow-thread")
	wantLine(t, r, `^diagnosis: stack overflow`)
	m := wantLine(t, r, `^thread: tid (\d+) "[^"]*"$`) // not the main thread
	if m == nil {
		t.Fatal("no thread line")
	}
	wantChain(t, r, "recurse_forever", "recurse_forever")
	wantChain(t, r, "recurse_forever", "overflow_thread")
}

func TestArithmeticIllegalAndBusErrors(t *testing.T) {
	r := crash(t, syscall.SIGFPE, coreBin(t), "fpe")
	wantLine(t, r, `^\*\*\* crashguard: SIGFPE \(arithmetic exception\), integer divide by zero`)
	wantLine(t, r, `^diagnosis: integer division by zero$`)
	wantChain(t, r, "divide", "main")

	r = crash(t, syscall.SIGILL, coreBin(t), "ill")
	wantLine(t, r, `^\*\*\* crashguard: SIGILL \(illegal instruction\)`)
	wantChain(t, r, "trap_here", "main")

	r = crash(t, syscall.SIGBUS, coreBin(t), "bus", filepath.Join(t.TempDir(), "truncated"))
	wantLine(t, r, `^\*\*\* crashguard: SIGBUS \(bus error\), nonexistent physical address`)
	wantLine(t, r, `^diagnosis: access beyond the end of a memory-mapped file`)
	wantChain(t, r, "touch_past_eof", "main")
}

// abort() runs inside glibc, which has no frame pointers: a frame-pointer walk honestly
// delivers the faulting frame inside libc and nothing it cannot vouch for.
func TestAbortFromAssertAndHeapCorruption(t *testing.T) {
	for _, mode := range []string{"assert", "double-free"} {
		r := crash(t, syscall.SIGABRT, coreBin(t), mode)
		wantLine(t, r, `^\*\*\* crashguard: SIGABRT \(aborted\), sent by tkill\(\)/tgkill\(\) .* from pid \d+`)
		wantLine(t, r, `^diagnosis: the program called abort\(\)`)
		wantLine(t, r, `^#0 0x[0-9a-f]+ in .* \(\S+libc\.so\.6\+0x[0-9a-f]+\)( at \S+:\d+)?$`)
	}
}

func TestCrashWhileThreadsHammerMalloc(t *testing.T) {
	for i := 0; i < 5; i++ {
		r := crash(t, syscall.SIGSEGV, coreBin(t), "malloc-storm")
		wantChain(t, r, "static_leaf_reads", "middle_adds", "outer_calls", "main")
	}
}

func TestDemangledTemplateMethod(t *testing.T) {
	bin := compile(t, "template.cpp", "-O0", "-g", "-fno-omit-frame-pointer")
	r := crash(t, syscall.SIGSEGV, bin)
	wantChain(t, r, "storage::Box<int>::read_value(int) const", "use_box(storage::Box<int> const&)", "main")
}

func TestFaultInsideProgramsSignalHandler(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, coreBin(t), "in-handler")
	if f := frames(t, r.stderr); len(f) == 0 || f[0] != "usr1_handler_faults" {
		t.Fatalf("frame 0 should be the program's handler: %q", f)
	}
}

// Issue 13, item 5: the program's handler runs on an alternate stack of its own, from the
// heap (LLVM's, faulthandler's), and faults there: the backtrace goes on through the signal
// frame into the code the signal interrupted, as glibc's backtrace() does.
func TestFaultInHandlerOnProgramsAlternateStack(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, coreBin(t), "in-handler-altstack")
	wantChain(t, r, "usr1_handler_faults", "usr1_handler_calls")
	f := frames(t, r.stderr)
	if !strings.Contains(strings.Join(f, " "), "raise_from_main_helper main") {
		t.Fatalf("the backtrace stops on the alternate stack: %q\n%s", f, r.stderr)
	}
}

func TestManyThreadsLeakNoAltStacks(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, coreBin(t), "threads")
	m := regexp.MustCompile(`mappings before (\d+) after (\d+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no mapping count: %s", r)
	}
	before, _ := strconv.Atoi(m[1])
	after, _ := strconv.Atoi(m[2])
	// One leaked alternate stack per thread would add 2000+ mappings; glibc's thread-stack
	// cache accounts for a few dozen.
	if after-before > 200 {
		t.Fatalf("mappings grew from %d to %d over 2000 threads: alternate stacks leak", before, after)
	}
	wantChain(t, r, "static_leaf_reads", "middle_adds", "outer_calls", "main")
}

func TestForkedChildCrash(t *testing.T) {
	r := run(t, runOpts{preload: true}, coreBin(t), "fork")
	if r.exitCode != 0 || !strings.Contains(r.stdout, fmt.Sprintf("child signal %d", syscall.SIGSEGV)) {
		t.Fatalf("child did not die of SIGSEGV: %s", r)
	}
	wantLine(t, r, `^\*\*\* crashguard: SIGSEGV`)
	wantLine(t, r, `^#0 0x[0-9a-f]+ in \S+ \(\S+/core-\d+\+0x[0-9a-f]+\)( at \S+:\d+)?$`)
}

func TestOwnSegvHandlerWithSiglongjmpKeepsWorking(t *testing.T) {
	r := run(t, runOpts{preload: true}, coreBin(t), "own-handler")
	if r.signal != 0 || r.exitCode != 0 || !strings.Contains(r.stdout, "recovered 100") {
		t.Fatalf("program's own recovery broke: %s", r)
	}
	if strings.Contains(r.stderr, "crashguard") {
		t.Fatalf("a report for a fault the program handled:\n%s", r.stderr)
	}
}

func TestSignalSentByKill(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, coreBin(t), "kill-self")
	wantLine(t, r, `^\*\*\* crashguard: SIGSEGV \(segmentation fault\), sent by kill\(\) \[si_code 0\] from pid \d+ uid \d+$`)
	wantLine(t, r, `^diagnosis: the signal was sent by software`)
}

// A host whose tables are computed (a cold start: a helper process works for it) holds no
// descriptor of ours afterwards: no lock, no cache file, no copy of the Go part, no memfd,
// no poller of a Go runtime.
func TestNoDescriptorOfOursInTheHost(t *testing.T) {
	bin := compile(t, "fds.cpp", "-O2")
	cache := t.TempDir()
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_DEBUG=1"}}, bin, "1500")
	if r.exitCode != 0 || !strings.Contains(r.stderr, "started for the missing tables") {
		t.Fatalf("%s", r)
	}
	if !strings.Contains(r.stdout, "fd 0 ") {
		t.Fatalf("no descriptor listing: %s", r)
	}
	for _, bad := range []string{"eventpoll", "eventfd", "cpu.max", "cfs_quota", "go-part-", "memfd:", "libcrashguard", ".lock", ".cg"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("descriptor %q open in the host after precomputation:\n%s", bad, r.stdout)
		}
	}
	waitForHelpers(t, cache)
}

// A handler some library installed before ours stays in charge (finding 6): it sees the
// fault first, with the kernel's own siginfo, exactly as without the library. This one ends
// the process itself (exit 42), so there is nothing to report; one that gives the signal
// back to the default gets its crash reported (TestEarlierLibrarysHandlerStaysInCharge).
func TestEarlierHandlerStillCalled(t *testing.T) {
	lib := filepath.Join(workDir, "libprev.so")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, filepath.Join(repoDir, "tests", "crashers", "prev_handler.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	bin := filepath.Join(workDir, "core-with-prev")
	src := filepath.Join(repoDir, "tests", "crashers", "core.c")
	if out, err := exec.Command("gcc", "-O0", "-g", "-o", bin, src, "-Wl,--no-as-needed", lib, "-pthread", "-Wl,-rpath,"+workDir).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	without := run(t, runOpts{}, bin, "null")
	r := run(t, runOpts{preload: true}, bin, "null")
	if r.exitCode != 42 || !strings.Contains(r.stdout, "earlier handler called for address 0") ||
		r.stdout != without.stdout || r.exitCode != without.exitCode || r.signal != without.signal {
		t.Fatalf("the earlier handler was not called as without the library:\nwithout: %s\nwith: %s", without, r)
	}
	if strings.Contains(r.stderr, "crashguard") {
		t.Fatalf("a report, though the earlier handler handled the fault:\n%s", r.stderr)
	}
}

// Eight threads fault at the same moment, 200 times: one report each time, the process
// dies of SIGSEGV, nothing hangs (the others wait for the reporter, which ends the process).
func TestEightThreadsCrashAtOnce(t *testing.T) {
	for i := 0; i < 200; i++ {
		r := run(t, runOpts{preload: true, timeout: 20 * time.Second}, coreBin(t), "storm")
		if r.signal != syscall.SIGSEGV {
			t.Fatalf("run %d: %s", i, r)
		}
		if n := strings.Count(r.stderr, "*** crashguard: "); n != 1 {
			t.Fatalf("run %d: %d reports:\n%s", i, n, r.stderr)
		}
		wantChain(t, r, "static_leaf_reads", "storm_thread")
	}
}

// The crash signature names the bug, not the run: the same crash gives the same signature
// in every process (addresses differ with ASLR), another crash another one.
func TestCrashSignatureIsStable(t *testing.T) {
	sig := func(mode string) string {
		r := crash(t, map[string]syscall.Signal{"null": syscall.SIGSEGV, "fpe": syscall.SIGFPE}[mode], coreBin(t), mode)
		return wantLine(t, r, `^signature: (0x[0-9a-f]{16})$`)[1]
	}
	a, b, c := sig("null"), sig("null"), sig("fpe")
	if a != b || a == c {
		t.Fatalf("signatures: null %s and %s, fpe %s", a, b, c)
	}
}

// The memory-map lines that matter: for a stack overflow, the fault address lies in no
// mapping, just below the stack's.
func TestMemoryMapLines(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, coreBin(t), "overflow-main")
	wantLine(t, r, `^memory map \(the fault address, the stack pointer, the frames\):$`)
	wantLine(t, r, `^  fault address 0x[0-9a-f]+ is in no mapping; nearest below: .*$`)
	wantLine(t, r, `^  nearest above: [0-9a-f]+-[0-9a-f]+ rw-p .*\[stack\]$`)
	wantLine(t, r, `^  [0-9a-f]+-[0-9a-f]+ r-xp .*/core-\d+$`)
}
