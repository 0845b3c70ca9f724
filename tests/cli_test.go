package tests

// The crashguard command behaves like a Unix tool: help on stdout with status 0, one line on
// stderr and status 2 for a usage error, the same version as the library, inputs it cannot
// use skipped with one line, and `check` ends as the program it ran.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// cli runs the command with env added to the test's environment (minus LD_PRELOAD).
func cli(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return cliAt(t, cmdPath, env, args...)
}

func cliAt(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "LD_PRELOAD=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		r.signal = ws.Signal()
	} else {
		r.exitCode = ws.ExitStatus()
	}
	return r
}

func TestHelpOnStdoutForEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "warm"}, {"warm", "--help"}, {"inspect", "--help"},
		{"check", "--help"}, {"symbolize", "--help"}, {"list", "--help"}, {"info", "--help"}, {"inspect", "-h"}} {
		r := cli(t, nil, args...)
		if r.exitCode != 0 || r.signal != 0 || r.stderr != "" || !strings.Contains(r.stdout, "usage:") {
			t.Fatalf("%v: want usage on stdout, status 0: %s", args, r)
		}
		if len(args) == 2 && args[1] != "warm" {
			if !strings.HasPrefix(r.stdout, "usage: crashguard "+args[0]) {
				t.Fatalf("%v: help of another command:\n%s", args, r.stdout)
			}
		}
	}
	// check's help is its own, not the program's: PROGRAM's own --help comes after it.
	r := cli(t, nil, "check", "--library", libPath, "/bin/echo", "--help")
	if r.exitCode != 0 || strings.Contains(r.stdout, "usage: crashguard") || !strings.Contains(r.stdout, "--help") {
		t.Fatalf("check PROGRAM --help: %s", r)
	}
}

// The command and the library say the same version and build: run as programs, and the
// library at load with CRASHGUARD_DEBUG.
func TestVersionOfCommandAndLibraryAgree(t *testing.T) {
	want, _ := os.ReadFile(filepath.Join(repoDir, "VERSION"))
	re := regexp.MustCompile(`^crashguard ` + regexp.QuoteMeta(strings.TrimSpace(string(want))) + ` \(build [0-9a-f]{12}\)\n$`)
	r := cli(t, nil, "--version")
	if r.exitCode != 0 || !re.MatchString(r.stdout) {
		t.Fatalf("crashguard --version: %s", r)
	}
	lib := cliAt(t, libPath, nil, "--version") // the library is a program (PT_INTERP)
	if lib.exitCode != 0 || lib.stdout != r.stdout {
		t.Fatalf("libcrashguard.so --version: %q, the command: %q", lib.stdout, r.stdout)
	}
	viaLoader := cliAt(t, "/lib64/ld-linux-x86-64.so.2", nil, libPath, "--version")
	if viaLoader.stdout != r.stdout {
		t.Fatalf("ld.so libcrashguard.so --version: %s", viaLoader)
	}
	// Run without --helper or --version, it says what it is and exits 2.
	if bare := cliAt(t, libPath, nil); bare.exitCode != 2 || !strings.Contains(bare.stderr, "LD_PRELOAD=") {
		t.Fatalf("libcrashguard.so alone: %s", bare)
	}
	loaded := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_DEBUG=1"}}, "/bin/true")
	if !strings.Contains(loaded.stderr, "crashguard: libcrashguard.so, "+strings.TrimSpace(r.stdout)+"\n") {
		t.Fatalf("no version line at load:\n%s", loaded.stderr)
	}
	// Two different builds differ: the build is a hash of the sources, not a constant.
	if strings.Contains(r.stdout, "unknown") {
		t.Fatalf("version not set by build.sh: %s", r.stdout)
	}
}

// A usage error is one line on stderr saying what is wrong, and status 2.
func TestUsageErrorsAreOneLineAndStatus2(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, `no command given`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"warm", "--dir", "/tmp/x", "--system", "/bin/true"}, `--dir and --system`},
		{[]string{"warm"}, `name at least one program, library or directory`},
		{[]string{"warm", "--refresh", "--force", "/bin/true"}, `--refresh and --force`},
		{[]string{"warm", "--frob", "/bin/true"}, `flag provided but not defined: -frob`},
		{[]string{"warm", "--library", "/etc/passwd", "/bin/true"}, `--library /etc/passwd: not an ELF file`},
		{[]string{"warm", "/nonexistent/prog"}, `/nonexistent/prog: no such file or directory`},
		{[]string{"inspect"}, `name one module`},
		{[]string{"inspect", "/bin/true", "/bin/false"}, `only, got 2 operands`},
		{[]string{"symbolize", "--search", "/nonexistent", "/etc/passwd"}, `--search /nonexistent: no such directory`},
		{[]string{"list", "--since", "the day before"}, `--since "the day before"`},
		{[]string{"info"}, `name one crash`},
		{[]string{"help", "frobnicate"}, `no command "frobnicate"`},
	}
	for _, c := range cases {
		r := cli(t, nil, c.args...)
		if r.exitCode != 2 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%q: want status 2 and one line with %q: %s", c.args, c.want, r)
		}
	}
}

// Inputs warm cannot use are skipped with one line each and do not fail it; in a directory
// they are passed over quietly.
func TestWarmSkipsWhatIsNoModule(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "a-script")
	os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello\n"), 0o644)
	static := filepath.Join(dir, "static")
	if out, err := exec.Command("gcc", "-static", "-O2", "-o", static, filepath.Join(repoDir, "tests", "crashers", "status.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc -static: %v\n%s", err, out)
	}
	obj := filepath.Join(dir, "status.o")
	if out, err := exec.Command("gcc", "-c", "-o", obj, filepath.Join(repoDir, "tests", "crashers", "status.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc -c: %v\n%s", err, out)
	}
	bin := compile(t, "status.c", "-O2", "-g")
	cache := t.TempDir()
	r := cli(t, nil, "warm", "--dir", cache, "--library", libPath, script, text, static, obj, bin)
	if r.exitCode != 0 {
		t.Fatalf("warm: %s", r)
	}
	for _, want := range []string{"not an ELF file: " + script, "not an ELF file: " + text,
		"statically linked (LD_PRELOAD never applies): " + static, "not a program or shared library (ET_REL): " + obj} {
		if strings.Count(r.stderr, want+"\n") != 1 {
			t.Errorf("want the line %q once:\n%s", want, r.stderr)
		}
	}
	if strings.Count(r.stderr, "\n") != 4 || strings.Contains(r.stderr, "magic") {
		t.Fatalf("more than one line per skipped input:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "cached "+bin) || !strings.Contains(r.stdout, "4 skipped, 0 failed") {
		t.Fatalf("warm did not cache the program:\n%s", r.stdout)
	}
	// Again: everything is cached already; a directory is walked and its non-modules passed.
	os.Link(bin, filepath.Join(dir, "prog"))
	r = cli(t, nil, "warm", "--dir", cache, "--library", libPath, dir)
	if r.exitCode != 0 || r.stderr != "" || !strings.Contains(r.stdout, "already cached "+filepath.Join(dir, "prog")) ||
		!strings.Contains(r.stdout, "0 built, 4 already cached, 4 skipped, 0 failed") {
		t.Fatalf("warm DIR: %s", r)
	}
}

// inspect and symbolize on the wrong kind of file: a clean line and status 1.
func TestWrongInputsSayWhat(t *testing.T) {
	r := cli(t, nil, "inspect", "/etc/passwd")
	if r.exitCode != 1 || r.stderr != "crashguard inspect: /etc/passwd: not an ELF file\n" {
		t.Fatalf("inspect /etc/passwd: %s", r)
	}
	noReport := filepath.Join(t.TempDir(), "log.txt")
	os.WriteFile(noReport, []byte("an ordinary log\nwith no report\n"), 0o644)
	r = cli(t, nil, "symbolize", noReport)
	if r.exitCode != 1 || r.stdout != "" || r.stderr != "crashguard symbolize: "+noReport+": no crashguard report in it\n" {
		t.Fatalf("symbolize without a report: %s", r)
	}
}

// check ends as the program did: its exit status, or death by its signal.
func TestCheckExitsAsTheProgramDid(t *testing.T) {
	bin := compile(t, "status.c", "-O2", "-g")
	cache := warmCache(t, bin)
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache}
	r := cli(t, env, "check", "--library", libPath, bin, "crash")
	if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") {
		t.Fatalf("check on a crashing program: %s", r)
	}
	r = cli(t, env, "check", "--library", libPath, coreBin(t), "assert")
	if r.signal != syscall.SIGABRT {
		t.Fatalf("check on an aborting program: %s", r)
	}
	r = cli(t, env, "check", "--library", libPath, "/bin/sh", "-c", "exit 7")
	if r.exitCode != 7 || r.signal != 0 {
		t.Fatalf("check on exit 7: %s", r)
	}
	r = cli(t, env, "check", "--library", libPath)
	if r.exitCode != 0 || !strings.Contains(r.stderr, "handlers installed") {
		t.Fatalf("check: %s", r)
	}
	// From a shell: 128 + the signal, as for the program itself.
	sh := cliAt(t, "/bin/sh", env, "-c", cmdPath+" check --library "+libPath+" "+bin+" crash 2>/dev/null; echo status=$?")
	if !strings.Contains(sh.stdout, "status=139") {
		t.Fatalf("shell status: %s", sh)
	}
}

// Without --library and LD_PRELOAD, warm finds the library next to the command (or in the
// standard places), or says it found none and fails.
func TestWarmFindsTheLibraryOrSaysSo(t *testing.T) {
	bin := compile(t, "status.c", "-O2")
	dir := t.TempDir()
	cmd := filepath.Join(dir, "crashguard")
	copyFile(t, cmdPath, cmd, 0o755)
	copyFile(t, libPath, filepath.Join(dir, "libcrashguard.so"), 0o755)
	cache := t.TempDir()
	r := cliAt(t, cmd, nil, "warm", "--dir", cache, bin)
	if r.exitCode != 0 || !strings.Contains(r.stdout, "cached "+filepath.Join(dir, "libcrashguard.so")) ||
		!strings.Contains(r.stdout, "stored the Go part") {
		t.Fatalf("warm next to the library: %s", r)
	}
	// A process of that program now starts with every table cached.
	started := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_DEBUG=1"}}, bin)
	if !strings.Contains(started.stderr, "every module's tables were cached") {
		t.Fatalf("the library itself was not cached:\n%s", started.stderr)
	}
	alone := filepath.Join(t.TempDir(), "crashguard")
	copyFile(t, cmdPath, alone, 0o755)
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libcrashguard.so"); err == nil {
		t.Skip("a libcrashguard.so is installed in a standard place here")
	}
	r = cliAt(t, alone, nil, "warm", "--dir", t.TempDir(), bin)
	if r.exitCode != 1 || !strings.Contains(r.stderr, "libcrashguard.so not found") || !strings.Contains(r.stderr, "--library") {
		t.Fatalf("warm without a library anywhere: %s", r)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}

// symbolize finds a debug file in CRASHGUARD_DEBUG_DIRS exactly as in a --search directory:
// names, file:line and inlined calls alike.
func TestSymbolizeDebugDirsAsSearch(t *testing.T) {
	build, deploy, debugDir := t.TempDir(), t.TempDir(), t.TempDir()
	bin := filepath.Join(build, "inl")
	if out, err := exec.Command("gcc", "-O2", "-g", "-o", bin, filepath.Join(repoDir, "tests", "crashers", "inline.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	id := buildIDOf(t, bin)
	debugFile := filepath.Join(debugDir, ".build-id", id[:2], id[2:]+".debug")
	os.MkdirAll(filepath.Dir(debugFile), 0o755)
	stripped := filepath.Join(deploy, "inl")
	for _, c := range [][]string{{"objcopy", "--only-keep-debug", bin, debugFile}, {"strip", "-o", stripped, bin}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + t.TempDir()}}, stripped)
	wantLine(t, r, `^#0 0x[0-9a-f]+ in \?\? \(\S+/inl\+0x[0-9a-f]+\)$`)
	report := filepath.Join(t.TempDir(), "report.txt")
	os.WriteFile(report, []byte(r.stderr), 0o644)
	viaEnv := cli(t, []string{"CRASHGUARD_DEBUG_DIRS=" + debugDir}, "symbolize", report)
	viaSearch := cli(t, nil, "symbolize", "--search", debugDir, report)
	if viaEnv.exitCode != 0 || viaSearch.exitCode != 0 {
		t.Fatalf("symbolize: %s\n%s", viaEnv, viaSearch)
	}
	for _, got := range []result{{stderr: viaEnv.stdout}, {stderr: viaSearch.stdout}} {
		wantLine(t, got, `^#0 0x[0-9a-f]+ in read_cell \[inlined\] \(\S+/inl\+0x[0-9a-f]+\) at \S+inline\.c:11$`)
		wantLine(t, got, `^#2 0x[0-9a-f]+ in table_total\+0x[0-9a-f]+ .* at \S+inline\.c:23$`)
	}
	if viaEnv.stdout != viaSearch.stdout {
		t.Fatalf("CRASHGUARD_DEBUG_DIRS and --search differ:\n%s\n---\n%s", viaEnv.stdout, viaSearch.stdout)
	}
}

func buildIDOf(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command("readelf", "-n", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no build-id in %s", bin)
	}
	return string(m[1])
}
