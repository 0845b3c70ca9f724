package tests

import (
	"syscall"
	"testing"
	"time"
)

// The crash comes while other threads hold the locks a careless handler would need —
// malloc's, the dynamic loader's, the C++ unwinder's. 200 runs each: every one must end in
// one report and a SIGSEGV death, none may hang.
func TestCrashWhileOthersHoldLocks(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 600 crashes")
	}
	bin := compile(t, "storm.cpp", "-O2", "-g")
	lib := pluginLib(t)
	for _, mode := range []string{"malloc", "dlopen", "throw"} {
		start := time.Now()
		for i := 0; i < 200; i++ {
			r := run(t, runOpts{preload: true, timeout: 15 * time.Second}, bin, mode, lib)
			if r.signal != syscall.SIGSEGV {
				t.Fatalf("%s run %d: %s", mode, i, r)
			}
			wantChain(t, r, "crash_amid_storm", "main")
		}
		t.Logf("%s: 200 crashes in %v", mode, time.Since(start).Round(time.Millisecond))
	}
}
