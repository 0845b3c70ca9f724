package tests

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Code built the way production C is: optimized, no frame pointers. Only the call-frame
// rules precomputed from .eh_frame can recover these stacks.
var noFramePointers = []string{"-O2", "-g", "-fomit-frame-pointer", "-fasynchronous-unwind-tables", "-fno-optimize-sibling-calls"}

func unwindBin(t *testing.T) string {
	return compile(t, "unwind.c", append(noFramePointers, "-ldl")...)
}

func pluginLib(t *testing.T) string {
	t.Helper()
	lib := filepath.Join(workDir, "libplugin.so")
	compileMu.Lock()
	defer compileMu.Unlock()
	if _, ok := compiled["libplugin.so"]; !ok {
		args := append([]string{"-shared", "-fPIC", "-o", lib, filepath.Join(repoDir, "tests", "crashers", "plugin.c")}, noFramePointers...)
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc plugin: %v\n%s", err, out)
		}
		compiled["libplugin.so"] = lib
	}
	return lib
}

func TestUnwindWithoutFramePointers(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, unwindBin(t), "chain")
	wantChain(t, r, "fault_here", "second_level", "first_level", "main")
	wantLine(t, r, `\(\d+ frames; outermost frame\)`)
}

func TestUnwindOutOfLibc(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, unwindBin(t), "strlen")
	wantLine(t, r, `^#0 0x[0-9a-f]+ in .* \(\S+libc\.so\.6\+0x[0-9a-f]+\)( at \S+:\d+)?$`)
	wantChain(t, r, "measure_null", "main")
	if f := frames(t, r.stderr); len(f) < 2 || f[1] != "measure_null" {
		t.Fatalf("frame 1 should be strlen's caller: %q", f)
	}
	r = crash(t, syscall.SIGSEGV, unwindBin(t), "memcpy")
	wantLine(t, r, `^#0 0x[0-9a-f]+ in .* \(\S+libc\.so\.6\+0x[0-9a-f]+\)( at \S+:\d+)?$`)
	if f := frames(t, r.stderr); len(f) < 3 || f[1] != "copy_to_null" || f[2] != "main" {
		t.Fatalf("memcpy's callers: %q", f)
	}
}

func TestUnwindAbortThroughLibc(t *testing.T) {
	r := crash(t, syscall.SIGABRT, compile(t, "core.c", noFramePointers...), "assert")
	wantChain(t, r, "raise", "abort")
	wantChain(t, r, "__assert_fail", "check_invariant", "main")
}

func TestUnwindNoreturnAndRealignedFrames(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, unwindBin(t), "noreturn")
	f := frames(t, r.stderr)
	if len(f) < 3 || f[0] != "die_badly" || !strings.HasPrefix(f[1], "calls_noreturn") || f[2] != "main" {
		t.Fatalf("noreturn chain: %q\n%s", f, r.stderr)
	}
	r = crash(t, syscall.SIGSEGV, unwindBin(t), "realign")
	wantChain(t, r, "realigned", "main")
}

func TestUnwindThroughSignalFrame(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, unwindBin(t), "handler")
	wantLine(t, r, `^#1 0x[0-9a-f]+ in <signal handler called> \(\S+libc\.so\.6\+0x[0-9a-f]+\)$`)
	wantChain(t, r, "raise", "raise_usr1", "main")
	if f := frames(t, r.stderr); f[0] != "usr1_in_handler" {
		t.Fatalf("frame 0: %q", f)
	}
}

func TestUnwindIntoLibraryOpenedLater(t *testing.T) {
	// A cache of its own: with the start-up modules cached the process would run no Go,
	// and the library it opens later would get only cached tables (TestDlopenInGoFreeProcess).
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + t.TempDir()}}, unwindBin(t), "dlopen", pluginLib(t))
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantChain(t, r, "plugin_inner", "plugin_entry", "main")
	wantLine(t, r, `(?m)^  \S+libplugin\.so base 0x[0-9a-f]+ build-id [0-9a-f]{40}$`)
}

func TestUnwindStdThread(t *testing.T) {
	bin := compile(t, "thread.cpp", noFramePointers...)
	r := crash(t, syscall.SIGSEGV, bin)
	wantChain(t, r, "worker::process_item(std::vector<int, std::allocator<int> > const*, int)",
		"worker::run(std::vector<int, std::allocator<int> > const*)")
	wantLine(t, r, `^thread: tid \d+ "[^"]*"$`)
}

var gdbFrame = regexp.MustCompile(`(?m)^#(\d+)\s+0x([0-9a-f]+) in `)
var ourFrame = regexp.MustCompile(`(?m)^#(\d+) 0x([0-9a-f]+) in `)

// gdbAgreement stops each crasher under gdb at the fault (same process, same addresses),
// takes gdb's backtrace as ground truth, then lets the signal through to our handler and
// compares the two frame by frame, by pc. It returns frames agreed and gdb frames seen.
func gdbAgreement(t *testing.T, cases [][]string) (int, int) {
	t.Helper()
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Fatal("gdb not installed (tests/run.sh installs it)")
	}
	// A cache of its own, each case run once first: tables are then ready at the fault.
	cache := t.TempDir()
	agreed, total := 0, 0
	for _, c := range cases {
		run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache}}, c[0], c[1:]...)
		args := []string{"-batch", "-nx", "-ex", "set env LD_PRELOAD=" + libPath, "-ex", "set env CRASHGUARD_CACHE_DIR=" + cache,
			"-ex", "handle SIGUSR1 nostop noprint pass", "-ex", "set backtrace limit 100", "-ex", "run",
			"-ex", "bt -frame-info location-and-address", "-ex", "continue", "--args"}
		out, _ := exec.Command("gdb", append(args, c...)...).CombinedOutput()
		text := string(out)
		split := strings.Index(text, "*** crashguard:")
		if split < 0 {
			t.Fatalf("%v: no report under gdb:\n%s", c[1:], text)
		}
		var gdbPCs []string
		for _, m := range gdbFrame.FindAllStringSubmatch(text[:split], -1) {
			pc := strings.TrimLeft(m[2], "0")
			if len(gdbPCs) == 0 || gdbPCs[len(gdbPCs)-1] != pc { // inlined frames share a pc
				gdbPCs = append(gdbPCs, pc)
			}
		}
		var ours []string
		for _, m := range ourFrame.FindAllStringSubmatch(text[split:], -1) {
			pc := strings.TrimLeft(m[2], "0")
			if len(ours) == 0 || ours[len(ours)-1] != pc {
				ours = append(ours, pc)
			}
		}
		// Every gdb frame must be found, in order; gdb may add frames it synthesizes from
		// debug information (tail calls), which no stack walk can see: those are counted
		// as disagreement, not failure, and must stay rare.
		j, matched := 0, 0
		for _, pc := range gdbPCs {
			for k := j; k < len(ours); k++ {
				if ours[k] == pc {
					matched++
					j = k + 1
					break
				}
			}
		}
		agreed += matched
		total += len(gdbPCs)
		if len(gdbPCs) == 0 || matched < len(gdbPCs)-1 {
			t.Errorf("%v: gdb frames %v, ours %v\n%s", c[1:], gdbPCs, ours, text[split:])
		}
	}
	return agreed, total
}

func TestUnwindAgreesWithGdb(t *testing.T) {
	cases := [][]string{{unwindBin(t), "dlopen", pluginLib(t)}, {unwindBin(t), "chain"}, {unwindBin(t), "strlen"},
		{unwindBin(t), "memcpy"}, {unwindBin(t), "realign"}, {unwindBin(t), "noreturn"}, {unwindBin(t), "handler"},
		{compile(t, "thread.cpp", noFramePointers...)}, {compile(t, "core.c", noFramePointers...), "assert"}}
	agreed, total := gdbAgreement(t, cases)
	pct := 100 * float64(agreed) / float64(total)
	t.Logf("frame agreement with gdb: %d/%d (%.1f%%)", agreed, total, pct)
	// glibc's __pthread_kill_internal tail-calls __pthread_kill_implementation: gdb shows
	// it from DWARF call-site information in the two cases that pass through raise().
	if pct < 90 {
		t.Errorf("agreement %.1f%% < 90%%", pct)
	}
}

// Crashes inside callbacks that libc and libstdc++ call (qsort's merge sort recursing,
// nftw, twalk, exit handlers, pthread_once, C++ exception unwinding into std::terminate):
// the stacks run through system-library code without frame pointers.
func TestSystemLibrarySweepAgreesWithGdb(t *testing.T) {
	bin := compile(t, "sweep.cpp", "-O2", "-g")
	var cases [][]string
	for _, mode := range []string{"qsort", "bsearch", "nftw", "twalk", "atexit", "call_once", "std_sort", "std_function", "terminate"} {
		cases = append(cases, []string{bin, mode})
	}
	agreed, total := gdbAgreement(t, cases)
	pct := 100 * float64(agreed) / float64(total)
	// The differences seen are gdb's tail-call frames synthesized from DWARF call-site
	// information (glibc's __pthread_kill_internal on the abort path): no stack walk can
	// see them, gdb's own unwinder included.
	t.Logf("system-library sweep: %d/%d frames agree with gdb (%.1f%%)", agreed, total, pct)
	if pct < 95 {
		t.Errorf("agreement %.1f%% < 95%%", pct)
	}
}

// A library opened after start-up gets its tables from a helper the dlopen interposer (for
// earlier libraries) or the handler (for the last one) starts, and from the cache the next
// time; a library without a build-id cannot be cached: raw frames and a note saying so.
func TestDlopenedLibraryTables(t *testing.T) {
	cache := t.TempDir()
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_DEBUG=1"}
	plugin := pluginLib(t)
	other := filepath.Join(t.TempDir(), "libother.so")
	if out, err := exec.Command("cp", plugin, other).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	first := run(t, runOpts{preload: true, env: env}, unwindBin(t), "dlopen", plugin)
	wantChain(t, first, "plugin_inner", "plugin_entry", "main")
	waitForHelpers(t, cache)
	warm := run(t, runOpts{preload: true, env: env}, unwindBin(t), "dlopen", plugin)
	if !strings.Contains(warm.stderr, "every module's tables were cached") || strings.Contains(warm.stderr, ": built in ") {
		t.Fatalf("second start computed again:\n%s", warm.stderr)
	}
	wantChain(t, warm, "plugin_inner", "plugin_entry", "main")
	bin := filepath.Join(t.TempDir(), "stripped-id")
	exec.Command("objcopy", "--remove-section=.note.gnu.build-id", other, bin).Run()
	r := run(t, runOpts{preload: true, env: env}, unwindBin(t), "dlopen", bin)
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^#0 0x[0-9a-f]+ in \?\? \(\S+stripped-id\+0x[0-9a-f]+\)$`)
	wantLine(t, r, `no build-id, so no cached tables`)
}

func TestCrashAfterDlcloseNamesTheLiveModule(t *testing.T) {
	first := filepath.Join(t.TempDir(), "libfirst.so")
	second := filepath.Join(t.TempDir(), "libsecond.so")
	for _, p := range []string{first, second} {
		args := append([]string{"-shared", "-fPIC", "-o", p, filepath.Join(repoDir, "tests", "crashers", "plugin.c")}, noFramePointers...)
		if p == second {
			args = append(args, "-DSECOND") // a different build-id
		}
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, out)
		}
	}
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + t.TempDir()}}, unwindBin(t), "dlclose", first, second)
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^#0 0x[0-9a-f]+ in plugin_inner\+0x[0-9a-f]+ \(\S+libsecond\.so\+0x[0-9a-f]+\)`)
	wantChain(t, r, "plugin_inner", "plugin_entry", "main")
	if strings.Contains(r.stderr, "libfirst.so") {
		t.Fatalf("the unloaded library appears in the report:\n%s", r.stderr)
	}
}

// A host that opens and closes the same library 300 times: each reopening revives the
// module's registry entry and tables (no new entry, no new cache mapping), and a crash in
// the library afterwards is fully named.
func TestDlopenDlcloseLoop(t *testing.T) {
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + t.TempDir()}, timeout: 60 * time.Second},
		unwindBin(t), "dlopen-loop", pluginLib(t))
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantChain(t, r, "plugin_inner", "plugin_entry", "main")
	m := regexp.MustCompile(`mappings (\d+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no mapping count: %s", r)
	}
	if n, _ := strconv.Atoi(m[1]); n > 200 {
		t.Fatalf("%d mappings after 300 dlopen/dlclose cycles: something is mapped per cycle", n)
	}
}
