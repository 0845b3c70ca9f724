package tests

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func hostsDir() string { return filepath.Join(repoDir, "tests", "hosts") }

// Runtimes that handle faults themselves keep working under the preload, with no report —
// on a cold start (a helper computing their tables meanwhile) and a warm one.
func TestJVMCatchesNullPointerExceptions(t *testing.T) {
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("no java on this machine")
	}
	for _, env := range [][]string{coldStart(t), nil} {
		r := run(t, runOpts{preload: true, env: env, timeout: 120 * time.Second}, java, filepath.Join(hostsDir(), "Npe.java"))
		if r.exitCode != 0 || !strings.Contains(r.stdout, "caught 100000") || strings.Contains(r.stderr, "crashguard") {
			t.Fatalf("env %v: %s", env, r)
		}
	}
}

func TestNodeWasmOutOfBoundsTraps(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on this machine")
	}
	for _, env := range [][]string{coldStart(t), nil} {
		r := run(t, runOpts{preload: true, env: env, timeout: 60 * time.Second}, node, filepath.Join(hostsDir(), "wasm_oob.js"))
		if r.exitCode != 0 || !strings.Contains(r.stdout, "in bounds 0, caught 10000") || strings.Contains(r.stderr, "crashguard") {
			t.Fatalf("env %v: %s", env, r)
		}
	}
}

// faulthandler dumps the Python stack, restores the previous handler (ours) and re-raises:
// its dump appears, then our report, and the process dies of SIGSEGV.
func TestPythonFaulthandler(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on this machine")
	}
	r := run(t, runOpts{preload: true, env: coldStart(t)}, py, "-X", "faulthandler", "-c", "import ctypes; ctypes.string_at(0)")
	if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "Fatal Python error: Segmentation fault") {
		t.Fatalf("%s", r)
	}
	if !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") {
		t.Fatalf("no report after faulthandler gave up: %s", r)
	}
}

// Two Go runtimes in one process: a cgo program's goroutines, collector and recovered nil
// dereference work with the library's runtime beside it.
func TestCgoGoProgram(t *testing.T) {
	bin := filepath.Join(workDir, "gocgo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(hostsDir(), "gocgo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, env := range [][]string{coldStart(t), nil} {
		for i := 0; i < 5; i++ {
			r := run(t, runOpts{preload: true, env: env}, bin)
			if r.exitCode != 0 || strings.TrimSpace(r.stdout) != "sum 36 recovered true" || strings.Contains(r.stderr, "crashguard") {
				t.Fatalf("env %v run %d: %s", env, i, r)
			}
		}
	}
}
