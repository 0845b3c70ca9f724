// Package tests runs real programs under LD_PRELOAD=libcrashguard.so and asserts on what an
// operator would see: the report on stderr, the exit signal, and that nothing hangs.
//
// TestMain builds the library and the command once (build.sh) into a temporary directory and compiles the
// C/C++ programs under crashers/ with the system's gcc/g++ on demand.
package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	cmdPath string // the crashguard command
	libPath string // the freshly built libcrashguard.so
	workDir string // compiled programs and scratch files
	repoDir string
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: setup:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	repoDir = filepath.Dir(wd)
	workDir, err = os.MkdirTemp("", "crashguard-tests-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(workDir)
	libPath = filepath.Join(workDir, "libcrashguard.so")
	build := exec.Command(filepath.Join(repoDir, "build.sh"), libPath)
	build.Dir = repoDir
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build.sh: %v\n%s", err, out)
	}
	cmdPath = filepath.Join(workDir, "crashguard") // build.sh builds it beside the library
	return m.Run(), nil
}

var compileMu sync.Mutex
var compiled = map[string]string{}

// compile builds crashers/<src> with gcc (or g++ for .cpp) and the given flags, once per
// (source, flags) combination, and returns the binary's path.
func compile(t testing.TB, src string, flags ...string) string {
	t.Helper()
	key := src + "\x00" + strings.Join(flags, "\x00")
	compileMu.Lock()
	defer compileMu.Unlock()
	if bin, ok := compiled[key]; ok {
		return bin
	}
	cc := "gcc"
	if strings.HasSuffix(src, ".cpp") {
		cc = "g++"
	}
	bin := filepath.Join(workDir, fmt.Sprintf("%s-%d", strings.TrimSuffix(src, filepath.Ext(src)), len(compiled)))
	args := append([]string{"-o", bin, filepath.Join(repoDir, "tests", "crashers", src)}, flags...)
	args = append(args, "-pthread")
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", cc, args, err, out)
	}
	compiled[key] = bin
	return bin
}

// result is what a run left behind.
type result struct {
	stdout, stderr string
	signal         syscall.Signal // 0 when the process exited normally
	exitCode       int
	coreDumped     bool
}

func (r result) String() string {
	return fmt.Sprintf("signal=%d exit=%d\n--- stdout\n%s--- stderr\n%s", r.signal, r.exitCode, r.stdout, r.stderr)
}

type runOpts struct {
	preload bool
	env     []string
	timeout time.Duration
	stdin   string
	setup   func(*exec.Cmd)
}

// run executes bin with args, with or without the library preloaded. A run that exceeds its
// timeout fails the test (a hang is a bug).
func run(t testing.TB, o runOpts, bin string, args ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	// A cache of our own per test run, unless the test brings one.  The suite crashes the
	// same programs hundreds of times a minute: the storm limit is off unless a test
	// (limits_test.go) sets it.
	cmd.Env = append(os.Environ(), "CRASHGUARD_CACHE_DIR="+filepath.Join(workDir, "cache"), "CRASHGUARD_STORM_LIMIT=off")
	cmd.Env = append(cmd.Env, o.env...)
	if o.preload {
		cmd.Env = append(cmd.Env, "LD_PRELOAD="+libPath)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if o.stdin != "" {
		cmd.Stdin = strings.NewReader(o.stdin)
	}
	cmd.Dir = workDir
	if o.setup != nil {
		o.setup(cmd)
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: still running after %v (hang)\n%s%s", bin, args, o.timeout, stdout.String(), stderr.String())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("%s: %v", bin, err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		if ws.Signaled() {
			r.signal = ws.Signal()
			r.coreDumped = ws.CoreDump()
		} else {
			r.exitCode = ws.ExitStatus()
		}
	}
	return r
}

// crash runs bin under the preload and checks the two things every crash must show: a
// complete report, and death by the expected signal exactly as without the library.
func crash(t testing.TB, sig syscall.Signal, bin string, args ...string) result {
	t.Helper()
	r := run(t, runOpts{preload: true}, bin, args...)
	if r.signal != sig {
		t.Fatalf("want death by signal %d, got %s", sig, r)
	}
	if !strings.Contains(r.stderr, "*** crashguard: ") || !strings.Contains(r.stderr, "*** end of crashguard report") {
		t.Fatalf("no complete report:\n%s", r)
	}
	return r
}

// frames returns the function names of the report's first backtrace, innermost first.
func frames(t testing.TB, report string) []string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^#\d+ 0x[0-9a-f]+ in (.*?)(\+0x[0-9a-f]+)? \((.*)\)`)
	var names []string
	section := report
	if i := strings.Index(section, "backtrace:"); i >= 0 {
		section = section[i:]
	}
	if i := strings.Index(section, "modules in the backtrace:"); i >= 0 {
		section = section[:i]
	}
	for _, m := range re.FindAllStringSubmatch(section, -1) {
		names = append(names, m[1])
	}
	return names
}

// wantChain asserts that want appears in the backtrace in this order, consecutively.
func wantChain(t testing.TB, r result, want ...string) {
	t.Helper()
	got := frames(t, r.stderr)
	for i := range got {
		if i+len(want) <= len(got) && equal(got[i:i+len(want)], want) {
			return
		}
	}
	t.Fatalf("backtrace %q lacks the chain %q\n%s", got, want, r.stderr)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func wantLine(t testing.TB, r result, pattern string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)` + pattern).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("report lacks /%s/:\n%s", pattern, r.stderr)
	}
	return m
}

type execCmd = exec.Cmd

// noHelper is the environment of runs that need no names: no helper computes tables.
var noHelper = []string{"CRASHGUARD_HELPER=off"}

// coldStart is the environment of a start with nothing cached: a cache directory of its own,
// which a helper fills while the host runs. The test waits for its helpers before the
// directory is removed.
func coldStart(t testing.TB) []string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { waitForHelpers(t, dir) })
	return []string{"CRASHGUARD_CACHE_DIR=" + dir}
}

// runOut runs a helper tool and returns its stdout, failing the test on error.
func runOut(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}
