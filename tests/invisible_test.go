package tests

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func hostBin(t *testing.T) string { return compile(t, "host.c", "-O2", "-g") }

// runDaemon starts the signal-consuming daemon, waits for "ready", sends HUP, USR1 and
// TERM, and returns its output.
func runDaemon(t *testing.T, mode string, preload bool) string {
	t.Helper()
	cmd := exec.Command(hostBin(t), mode)
	cmd.Env = append(os.Environ(), coldStart(t)...)
	if preload {
		cmd.Env = append(cmd.Env, "LD_PRELOAD="+libPath)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		cmd.Process.Kill()
		t.Fatalf("%s: no ready line", mode)
	}
	for _, s := range []struct {
		at  time.Duration
		sig syscall.Signal
	}{{300 * time.Millisecond, syscall.SIGHUP}, {200 * time.Millisecond, syscall.SIGUSR1}, {500 * time.Millisecond, syscall.SIGTERM}} {
		time.Sleep(s.at)
		cmd.Process.Signal(s.sig)
	}
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s (preload %v): %v, output %q", mode, preload, err, rest)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s: daemon did not exit on SIGTERM (preload %v)", mode, preload)
	}
	return strings.Join(rest, "\n")
}

// The sd-event pattern: signals blocked in every thread and read from a signalfd (or
// sigwaitinfo), children reaped on SIGCHLD. A cold start (a helper at work meanwhile) must
// not take a signal from the daemon or send it one: no thread of ours, no SIGCHLD of the
// helper's.
func TestSignalConsumingDaemons(t *testing.T) {
	for _, mode := range []string{"signalfd", "sigwait"} {
		want := runDaemon(t, mode, false)
		if want != "reaped 5 hup 1 usr1 1" {
			t.Fatalf("%s without the preload: %q", mode, want)
		}
		for i := 0; i < 5; i++ {
			if got := runDaemon(t, mode, true); got != want {
				t.Fatalf("%s run %d under the preload: %q, want %q", mode, i, got, want)
			}
		}
	}
}

func statusFields(t *testing.T, r result) map[string]uint64 {
	t.Helper()
	f := map[string]uint64{}
	for _, m := range regexp.MustCompile(`(?m)^(Sig\w+):\s+([0-9a-f]+)$`).FindAllStringSubmatch(r.stdout, -1) {
		v, _ := strconv.ParseUint(m[2], 16, 64)
		f[m[1]] = v
	}
	if len(f) != 3 {
		t.Fatalf("no signal masks: %s", r)
	}
	return f
}

// Masks and dispositions a program sees (and its children inherit) are unchanged, apart
// from our crash handlers; an inherited SIGPIPE ignore stays an ignore.
func TestMasksAndDispositionsUnchanged(t *testing.T) {
	crashBits := uint64(0)
	for _, s := range []syscall.Signal{syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGILL, syscall.SIGFPE, syscall.SIGABRT, syscall.SIGTRAP, syscall.SIGSYS} {
		crashBits |= 1 << (uint(s) - 1)
	}
	for _, env := range [][]string{coldStart(t), nil} {
		without := statusFields(t, run(t, runOpts{env: env}, hostBin(t), "status"))
		with := statusFields(t, run(t, runOpts{preload: true, env: env}, hostBin(t), "status"))
		if with["SigBlk"] != without["SigBlk"] || with["SigIgn"] != without["SigIgn"] {
			t.Errorf("env %v: masks changed: %x/%x -> %x/%x", env, without["SigBlk"], without["SigIgn"], with["SigBlk"], with["SigIgn"])
		}
		if with["SigCgt"]&^crashBits != without["SigCgt"] {
			t.Errorf("env %v: caught signals beyond the crash set: %x (without preload %x)", env, with["SigCgt"], without["SigCgt"])
		}
	}
	script := "trap '' PIPE; LD_PRELOAD=" + libPath + " " + coldStart(t)[0] + " " + hostBin(t) + " status; LD_PRELOAD=" + libPath + " sh -c 'grep SigIgn /proc/self/status'"
	r := run(t, runOpts{}, "/bin/bash", "-c", script)
	pipe := uint64(1) << (uint(syscall.SIGPIPE) - 1)
	for _, m := range regexp.MustCompile(`(?m)^SigIgn:\s+([0-9a-f]+)$`).FindAllStringSubmatch(r.stdout, -1) {
		v, _ := strconv.ParseUint(m[1], 16, 64)
		if v&pipe == 0 {
			t.Fatalf("inherited SIGPIPE ignore lost under the preload:\n%s", r.stdout)
		}
	}
}

func TestDescriptors(t *testing.T) {
	// No descriptor of ours is TestNoDescriptorOfOursInTheHost; here: the report survives a
	// host that closes everything, and follows a host's new fd 2.
	r := run(t, runOpts{preload: true, env: coldStart(t)}, hostBin(t), "closefds")
	if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") {
		t.Fatalf("report lost after the host closed its descriptors: %s", r)
	}
	wantChain(t, r, "crash_now", "main")
	file := filepath.Join(t.TempDir(), "stderr.log")
	r = run(t, runOpts{preload: true}, hostBin(t), "reopen2", file)
	data, _ := os.ReadFile(file)
	if r.signal != syscall.SIGSEGV || !strings.Contains(string(data), "*** end of crashguard report") {
		t.Fatalf("report not written to the host's new fd 2: %s\nfile: %s", r, data)
	}
	// Our descriptor: high and close-on-exec.
	fds := run(t, runOpts{preload: true}, compile(t, "fds.cpp", "-O2"), "300")
	m := regexp.MustCompile(`(?m)^fd (\d+) `).FindAllStringSubmatch(fds.stdout, -1)
	high := 0
	for _, x := range m {
		if n, _ := strconv.Atoi(x[1]); n >= 900 {
			high++
		}
	}
	if high != 1 {
		t.Fatalf("want exactly one high descriptor (ours):\n%s", fds.stdout)
	}
	child := run(t, runOpts{preload: true, env: []string{"CRASHGUARD=off"}}, "/bin/sh", "-c", "ls /proc/self/fd")
	if strings.Contains(child.stdout, "1000") {
		t.Fatalf("our descriptor leaked: %s", child.stdout)
	}
}

// A program that installs its own handler after us, which gives up by restoring the
// default and re-raising, dies exactly as without us — and our report appears, because
// the default it asked for is stood in for by our handler (sigaction_interpose.c).
func TestProgramsOwnHandlerReraises(t *testing.T) {
	without := run(t, runOpts{}, hostBin(t), "reraise")
	for _, env := range [][]string{coldStart(t), nil} {
		with := run(t, runOpts{preload: true, env: env}, hostBin(t), "reraise")
		if without.signal != syscall.SIGSEGV || with.signal != syscall.SIGSEGV || !strings.Contains(with.stdout, "own handler ran") {
			t.Fatalf("without: %s\nwith: %s", without, with)
		}
		wantLine(t, with, `^\*\*\* crashguard: SIGSEGV \(segmentation fault\), sent by tkill`)
	}
}

// What sigaction and signal tell a program about its crash signals is what it would be
// told without us.
func TestProgramSeesItsOwnDispositions(t *testing.T) {
	without := run(t, runOpts{}, hostBin(t), "query")
	for _, env := range [][]string{coldStart(t), nil} {
		with := run(t, runOpts{preload: true, env: env}, hostBin(t), "query")
		if with.stdout != without.stdout || !strings.Contains(with.stdout, "SIGSEGV default") {
			t.Fatalf("env %v: without %q, with %q", env, without.stdout, with.stdout)
		}
	}
}

func TestForkFromMultithreadedHost(t *testing.T) {
	r := run(t, runOpts{preload: true, env: coldStart(t)}, hostBin(t), "fork-threads")
	if !strings.Contains(r.stdout, "child signal 11") || !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") {
		t.Fatalf("%s", r)
	}
	wantChain(t, r, "crash_now", "main")
}

// Only the interposed functions are exported, and the glibc symbol versions the library
// needs are known (README states the oldest glibc).
func TestExportsAndGlibcVersions(t *testing.T) {
	out := runOut(t, "nm", "-D", "--defined-only", libPath)
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			names = append(names, f[2])
		}
	}
	sort.Strings(names)
	if strings.Join(names, " ") != "__sigaction __sysv_signal bsd_signal dlopen pthread_create sigaction sigignore siginterrupt signal sigset ssignal sysv_signal" {
		t.Fatalf("exported: %q", names)
	}
	// The Go part travels as a section no segment maps (no 'A' flag) and exports nothing.
	sections := runOut(t, "readelf", "-SW", libPath)
	if m := regexp.MustCompile(`(?m)^\s*\[\s*\d+\] \.crashguard_go\s+PROGBITS\s+\S+ \S+ \S+ \S+\s+(\S*)`).FindStringSubmatch(sections); m == nil || strings.Contains(m[1], "A") {
		t.Fatalf("no non-allocated .crashguard_go section:\n%s", sections)
	}
	goPart := filepath.Join(t.TempDir(), "go-part.so")
	runOut(t, "objcopy", "--dump-section", ".crashguard_go="+goPart, libPath, filepath.Join(t.TempDir(), "copy.so"))
	runOut(t, "readelf", "-h", goPart) // an ELF file, so nm's silence below means no symbols
	if out, _ := exec.Command("nm", "-D", "--defined-only", goPart).Output(); strings.TrimSpace(string(out)) != "" {
		t.Fatalf("the Go part exports symbols:\n%s", out)
	}
	vers := regexp.MustCompile(`GLIBC_2\.(\d+)`).FindAllStringSubmatch(runOut(t, "objdump", "-T", libPath)+runOut(t, "objdump", "-T", goPart), -1)
	max := 0
	for _, v := range vers {
		if n, _ := strconv.Atoi(v[1]); n > max {
			max = n
		}
	}
	t.Logf("newest glibc symbol version required: GLIBC_2.%d", max)
	if max > 34 {
		t.Fatalf("the library now needs GLIBC_2.%d; README says 2.34", max)
	}
}

// As an unprivileged user with a low process limit, and under a 1 GB address-space limit,
// a host runs as it does without the library.
func TestResourceLimits(t *testing.T) {
	dir, err := os.MkdirTemp("", "crashguard-limits-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	lib := filepath.Join(dir, "libcrashguard.so")
	bin := filepath.Join(dir, "status")
	for _, c := range [][2]string{{libPath, lib}, {compile(t, "status.c", "-O2"), bin}} {
		data, _ := os.ReadFile(c[0])
		os.WriteFile(c[1], data, 0o755)
	}
	for _, limit := range []string{"ulimit -v 1000000", "ulimit -v 600000"} {
		r := run(t, runOpts{}, "/bin/sh", "-c", limit+"; LD_PRELOAD="+lib+" exec "+bin)
		if r.exitCode != 0 || !strings.Contains(r.stdout, "Threads:\t1") {
			t.Fatalf("%s: %s", limit, r)
		}
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("setpriv (util-linux) missing")
	}
	script := "ulimit -u 16; LD_PRELOAD=" + lib + " exec " + bin
	r := run(t, runOpts{}, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/bash", "-c", script)
	if r.exitCode != 0 || !strings.Contains(r.stdout, "Threads:\t1") {
		t.Fatalf("ulimit -u 16 as nobody: %s", r)
	}
	r = run(t, runOpts{}, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/bash", "-c", "ulimit -u 16; LD_PRELOAD="+lib+" exec "+bin+" crash")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	if !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") {
		t.Fatalf("crash as nobody under ulimit -u 16 not reported: %s", r)
	}
}

// stderr is a pipe nobody reads, already full: a plain write() would block the crashing
// process forever. The report is given up after a bounded wait and the process still dies
// of its signal.
func TestFullStderrPipeDoesNotHang(t *testing.T) {
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	fd := int(wr.Fd())
	syscall.SetNonblock(fd, true)
	chunk := make([]byte, 4096)
	for {
		if _, err := syscall.Write(fd, chunk); err != nil {
			break // full
		}
	}
	syscall.SetNonblock(fd, false)
	start := time.Now()
	cmd := exec.Command(compile(t, "core.c", "-O0", "-g", "-fno-omit-frame-pointer"), "null")
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+libPath, "CRASHGUARD_CACHE_DIR="+filepath.Join(workDir, "cache"))
	cmd.Stderr = wr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wr.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the crashing process hung on a full stderr pipe")
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGSEGV {
		t.Fatalf("died of %v, want SIGSEGV", cmd.ProcessState)
	}
	t.Logf("died after %v", time.Since(start).Round(time.Millisecond))
}
