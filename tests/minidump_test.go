package tests

// CRASHGUARD_OUTPUT=minidump:PATTERN, checked with the ecosystem's own tools: Breakpad's
// dump_syms and minidump_stackwalk (prebuilt in the npm package "minidump", installed by
// tests/run.sh into tests/.tools, or here when missing).

import (
	"bufio"
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
)

const minidumpPackage = "minidump@0.26.0"

var breakpadOnce sync.Once
var breakpadDir string

// breakpadTool returns the path of one of the package's linux-x64 binaries.
func breakpadTool(t testing.TB, name string) string {
	t.Helper()
	breakpadOnce.Do(func() {
		tools := filepath.Join(repoDir, "tests", ".tools")
		dir := filepath.Join(tools, "node_modules", "minidump", "bin", "linux-x64")
		if _, err := os.Stat(filepath.Join(dir, "minidump_stackwalk")); err != nil {
			os.MkdirAll(tools, 0o755)
			cmd := exec.Command("npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", tools, minidumpPackage)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Logf("npm install %s: %v\n%s", minidumpPackage, err, out)
				return
			}
		}
		breakpadDir = dir
	})
	if breakpadDir == "" {
		t.Fatalf("Breakpad's tools are missing: npm install --ignore-scripts --prefix tests/.tools %s", minidumpPackage)
	}
	return filepath.Join(breakpadDir, name)
}

// minidumpRun crashes bin under the preload with the report on stderr and a minidump in a
// directory of its own; returns the run and the minidump's path ("" if none was written).
func minidumpRun(t *testing.T, sig syscall.Signal, env []string, bin string, args ...string) (result, string) {
	t.Helper()
	dir := t.TempDir()
	env = append([]string{"CRASHGUARD_OUTPUT=stderr,minidump:" + filepath.Join(dir, "%e-%p.dmp")}, env...)
	r := run(t, runOpts{preload: true, env: env}, bin, args...)
	if r.signal != sig || !strings.Contains(r.stderr, "*** end of crashguard report") {
		t.Fatalf("want a report and death by signal %d: %s", sig, r)
	}
	dumps, _ := filepath.Glob(filepath.Join(dir, "*.dmp"))
	if len(dumps) > 1 {
		t.Fatalf("more than one minidump: %v", dumps)
	}
	if len(dumps) == 0 {
		return r, ""
	}
	return r, dumps[0]
}

// summary is what `crashguard minidump` says about a dump.
type summary struct {
	text    string
	crashed string // tid of the exception's thread
	threads []mdThread
	modules []mdModule
}

type mdThread struct {
	tid, name string
	stackLo   uint64
	stackHi   uint64
}

type mdModule struct{ buildID, debugID, path string }

func summarize(t *testing.T, dump string) summary {
	t.Helper()
	out, err := exec.Command(cmdPath, "minidump", dump).CombinedOutput()
	if err != nil {
		t.Fatalf("crashguard minidump %s: %v\n%s", dump, err, out)
	}
	s := summary{text: string(out)}
	if m := regexp.MustCompile(`(?m)^exception: .*, thread (\d+)$`).FindStringSubmatch(s.text); m != nil {
		s.crashed = m[1]
	}
	for _, m := range regexp.MustCompile(`(?m)^  tid (\d+) "([^"]*)".* stack (0x[0-9a-f]+)-(0x[0-9a-f]+) `).FindAllStringSubmatch(s.text, -1) {
		lo, _ := strconv.ParseUint(m[3], 0, 64)
		hi, _ := strconv.ParseUint(m[4], 0, 64)
		s.threads = append(s.threads, mdThread{m[1], m[2], lo, hi})
	}
	for _, m := range regexp.MustCompile(`(?m)^  0x[0-9a-f]+ 0x[0-9a-f]+ build-id (\S+) debug-id (\S+) (.*)$`).FindAllStringSubmatch(s.text, -1) {
		s.modules = append(s.modules, mdModule{m[1], m[2], m[3]})
	}
	return s
}

// symbolDir runs dump_syms on every module of the dump that is a file, into a Breakpad
// symbol store (NAME/DEBUGID/NAME.sym), as a user uploading symbols would.
func symbolDir(t *testing.T, s summary) string {
	t.Helper()
	dir := t.TempDir()
	for _, m := range s.modules {
		if !strings.HasPrefix(m.path, "/") {
			continue // the vDSO
		}
		out, err := exec.Command(breakpadTool(t, "dump_syms"), m.path).Output()
		if err != nil {
			t.Fatalf("dump_syms %s: %v", m.path, err)
		}
		head := strings.Fields(strings.SplitN(string(out), "\n", 2)[0]) // MODULE Linux x86_64 ID NAME
		if len(head) != 5 {
			t.Fatalf("dump_syms %s: %q", m.path, head)
		}
		if head[3] != m.debugID {
			t.Fatalf("%s: dump_syms says debug identifier %s, the minidump %s", m.path, head[3], m.debugID)
		}
		d := filepath.Join(dir, head[4], head[3])
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, head[4]+".sym"), out, 0o644)
	}
	return dir
}

type swFrame struct{ module, function string }

// stackwalk is minidump_stackwalk -m's view: the crash, the modules and every thread's frames.
type stackwalk struct {
	reason, address string
	crashedIndex    int
	modules         map[string]string // file name → debug identifier
	threads         map[int][]swFrame
}

func walk(t *testing.T, dump, symbols string) stackwalk {
	t.Helper()
	cmd := exec.Command(breakpadTool(t, "minidump_stackwalk"), "-m", dump, symbols)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("minidump_stackwalk -m %s: %v\n%s", dump, err, stderr.String())
	}
	// The parser's own complaints (minidump.cc) mean a malformed stream; the stack walker's
	// (the end of a walk) do not.
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "minidump.cc") && !strings.Contains(line, ": INFO: ") {
			t.Errorf("minidump_stackwalk complains about the minidump: %s", line)
		}
	}
	w := stackwalk{modules: map[string]string{}, threads: map[int][]swFrame{}, crashedIndex: -1}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		switch {
		case f[0] == "Crash" && len(f) >= 4:
			w.reason, w.address = f[1], f[2]
			w.crashedIndex, _ = strconv.Atoi(f[3])
		case f[0] == "Module" && len(f) >= 5:
			w.modules[f[1]] = f[4]
		case len(f) == 7:
			if i, err := strconv.Atoi(f[0]); err == nil {
				w.threads[i] = append(w.threads[i], swFrame{f[2], f[3]})
			}
		}
	}
	return w
}

type textFrame struct{ function, module string }

// reportFrames is the text report's backtrace of the crashing thread as stack frames:
// inlined calls (which Breakpad's symbols, without INLINE records, fold into their caller)
// left out.
func reportFrames(report string) []textFrame {
	section := report
	if i := strings.Index(section, "backtrace:"); i >= 0 {
		section = section[i:]
	}
	if i := strings.Index(section, "\n("); i >= 0 {
		section = section[:i]
	}
	var frames []textFrame
	// The module is the last parenthesis; a C++ name may hold others.
	re := regexp.MustCompile(`(?m)^#\d+ 0x[0-9a-f]+ in (.*) \(([^()\s]+)\+0x[0-9a-f]+\)( at \S+)?( \[guessed[^]]*\])?$`)
	offset := regexp.MustCompile(`\+0x[0-9a-f]+$`)
	for _, m := range re.FindAllStringSubmatch(section, -1) {
		if strings.HasSuffix(m[1], " [inlined]") {
			continue
		}
		frames = append(frames, textFrame{offset.ReplaceAllString(m[1], ""), filepath.Base(m[2])})
	}
	return frames
}

// A function's name as both sides print it: without gcc's clone suffixes (dump_syms drops
// them).
func plainName(s string) string {
	return regexp.MustCompile(` \[clone [^]]*\]`).ReplaceAllString(s, "")
}

// checkAgainstReport: the crashing thread's frames are the report's, the crash reason and
// address match, every thread the report shows is in the dump, every module has the debug
// identifier dump_syms gives it.
func checkAgainstReport(t *testing.T, r result, dump, bin string) (summary, stackwalk) {
	t.Helper()
	s := summarize(t, dump)
	w := walk(t, dump, symbolDir(t, s))

	sig := wantLine(t, r, `^\*\*\* crashguard: (SIG[A-Z]+) .*\[si_code (-?\d+)\]`)
	if !strings.HasPrefix(w.reason, sig[1]) {
		t.Errorf("crash reason %q, the report says %s", w.reason, sig[1])
	}
	if m := regexp.MustCompile(`(?m)^fault address: (0x[0-9a-f]+)$`).FindStringSubmatch(r.stderr); m != nil && m[1] != w.address {
		t.Errorf("crash address %s, the report says %s", w.address, m[1])
	}
	tid := wantLine(t, r, `^thread: tid (\d+) `)[1]
	if s.crashed != tid || w.crashedIndex < 0 || w.crashedIndex >= len(s.threads) || s.threads[w.crashedIndex].tid != tid {
		t.Fatalf("crashing thread %s: the dump says %s (index %d)\n%s", tid, s.crashed, w.crashedIndex, s.text)
	}

	want := reportFrames(r.stderr)
	got := w.threads[w.crashedIndex]
	if len(got) < len(want) {
		t.Fatalf("minidump_stackwalk found %d frames, the report %d:\n%v\n%v", len(got), len(want), got, want)
	}
	own := filepath.Base(bin)
	for i, f := range want {
		g := got[i]
		if g.module != f.module {
			t.Fatalf("frame %d: module %q, the report %q\nstackwalk: %v\nreport: %v", i, g.module, f.module, got, want)
		}
		// The program's own functions by name; in system libraries, whose symbols dump_syms
		// takes from .dynsym alone, aliases and neighbours may name the same code differently.
		if g.module == own && plainName(g.function) != plainName(f.function) {
			t.Fatalf("frame %d: %q, the report %q\nstackwalk: %v\nreport: %v", i, g.function, f.function, got, want)
		}
	}

	// Every thread the report shows (unwound by itself when asked) is in the dump.
	inDump := map[string]bool{}
	for _, th := range s.threads {
		inDump[th.tid] = true
	}
	for _, m := range regexp.MustCompile(`(?m)^thread: tid (\d+) "`).FindAllStringSubmatch(r.stderr, -1) {
		if !inDump[m[1]] {
			t.Errorf("thread %s of the report is not in the minidump:\n%s", m[1], s.text)
		}
	}
	// Every module the process had loaded, with its debug identifier.
	trace := exec.Command(bin)
	trace.Env = append(os.Environ(), "LD_TRACE_LOADED_OBJECTS=1", "LD_PRELOAD="+libPath)
	out, _ := trace.Output()
	loaded := []string{bin}
	for _, m := range regexp.MustCompile(`(?m)=> (/\S+) \(`).FindAllStringSubmatch(string(out), -1) {
		loaded = append(loaded, m[1])
	}
	for _, m := range regexp.MustCompile(`(?m)^\s+(/\S+) \(`).FindAllStringSubmatch(string(out), -1) {
		loaded = append(loaded, m[1])
	}
	for _, p := range loaded {
		real, _ := filepath.EvalSymlinks(p)
		found := false
		for _, m := range s.modules {
			if mr, _ := filepath.EvalSymlinks(m.path); mr == real {
				found = true
				if w.modules[filepath.Base(m.path)] != m.debugID {
					t.Errorf("%s: minidump_stackwalk reads debug identifier %q, want %s", m.path, w.modules[filepath.Base(m.path)], m.debugID)
				}
			}
		}
		if !found {
			t.Errorf("loaded module %s is not in the minidump:\n%s", p, s.text)
		}
	}
	return s, w
}

var minidumpFlags = []string{"-O2", "-g", "-fomit-frame-pointer"}

// C, C++ and a multi-threaded crash, built without frame pointers: Breakpad's own tools read
// the minidump and, with dump_syms's symbols, walk the crashing thread through the same
// functions as the report.
func TestMinidumpMatchesReport(t *testing.T) {
	breakpadTool(t, "minidump_stackwalk")
	cases := []struct {
		name, src string
		args      []string
	}{
		{"c", "minidump.c", []string{"deep"}},
		{"cpp", "minidump.cpp", nil},
		{"threads", "minidump.c", []string{"threads", "8"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bin := compile(t, c.src, minidumpFlags...)
			r, dump := minidumpRun(t, syscall.SIGSEGV, nil, bin, c.args...)
			if dump == "" {
				t.Fatalf("no minidump written:\n%s", r)
			}
			if st, _ := os.Stat(dump); st.Mode().Perm() != 0o600 {
				t.Errorf("minidump mode %v, want 0600", st.Mode().Perm())
			}
			s, w := checkAgainstReport(t, r, dump, bin)
			if c.name != "threads" {
				return
			}
			// 8 workers and main: each thread's own stack, walked through its own code.
			if len(s.threads) != 9 {
				t.Fatalf("%d threads in the minidump, want 9:\n%s", len(s.threads), s.text)
			}
			for i, th := range s.threads {
				frames := w.threads[i]
				names := ""
				for _, f := range frames {
					names += f.function + " "
				}
				if th.stackHi <= th.stackLo || len(frames) < 3 {
					t.Errorf("thread %s %q: stack %#x-%#x, frames %v", th.tid, th.name, th.stackLo, th.stackHi, frames)
				}
				switch {
				case i == w.crashedIndex:
					if !strings.Contains(names, "descend worker ") || th.name != "md-worker-7" {
						t.Errorf("crashed thread %q: %s", th.name, names)
					}
				case !strings.Contains(names, "worker_waits"):
					t.Errorf("thread %q is not in worker_waits: %s", th.name, names)
				}
			}
		})
	}
}

// What must not break a minidump, or the report beside it.
func TestMinidumpFaultInjection(t *testing.T) {
	breakpadTool(t, "minidump_stackwalk")
	bin := compile(t, "minidump.c", minidumpFlags...)

	t.Run("unreadable stack page", func(t *testing.T) {
		r, dump := minidumpRun(t, syscall.SIGSEGV, nil, bin, "unreadable")
		if dump == "" {
			t.Fatalf("no minidump:\n%s", r)
		}
		s := summarize(t, dump)
		walk(t, dump, symbolDir(t, s))
		// The copy stops below the page made unreadable: at most the three pages of the
		// array lie between the stack pointer and the end of the copy.
		crashed := s.threads[0]
		if crashed.stackHi-crashed.stackLo > 4*4096 {
			t.Errorf("crashed stack copied past the unreadable page: %#x-%#x", crashed.stackLo, crashed.stackHi)
		}
	})
	t.Run("threads exiting during the dump", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			start := time.Now()
			r, dump := minidumpRun(t, syscall.SIGSEGV, nil, bin, "churn")
			if time.Since(start) > 10*time.Second {
				t.Errorf("run %d took %v", i, time.Since(start))
			}
			if dump == "" {
				t.Fatalf("run %d: no minidump:\n%s", i, r)
			}
			walk(t, dump, t.TempDir())
		}
	})
	t.Run("directory does not exist", func(t *testing.T) {
		dir := t.TempDir()
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=minidump:" + filepath.Join(dir, "missing", "%p.dmp")}}, bin, "deep")
		if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** end of crashguard report") {
			t.Fatalf("report lost: %s", r)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("left %v", entries)
		}
	})
	t.Run("full disk", func(t *testing.T) {
		full := t.TempDir()
		if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k", "none", full).Run(); err != nil {
			t.Skipf("cannot mount a small tmpfs: %v", err)
		}
		defer exec.Command("umount", full).Run()
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=stderr,minidump:" + filepath.Join(full, "%p.dmp")}}, bin, "threads", "8")
		if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** end of crashguard report") {
			t.Fatalf("report lost: %s", r)
		}
		entries, _ := os.ReadDir(full)
		for _, e := range entries {
			// A file left there must be a whole minidump: the dump is named only when whole.
			out, err := exec.Command(cmdPath, "minidump", filepath.Join(full, e.Name())).CombinedOutput()
			if err != nil {
				t.Errorf("a partial minidump was left: %s: %v\n%s", e.Name(), err, out)
			}
		}
	})
	t.Run("name taken", func(t *testing.T) {
		dir := t.TempDir()
		victim := filepath.Join(dir, "fixed.dmp")
		os.WriteFile(victim, []byte("precious\n"), 0o644)
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=minidump:" + victim}}, bin, "deep")
		if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** end of crashguard report") {
			t.Fatalf("report lost: %s", r)
		}
		if data, _ := os.ReadFile(victim); string(data) != "precious\n" {
			t.Fatalf("an existing file was overwritten")
		}
	})
}

// minidump: alone keeps the report on stderr without a complaint; a relative pattern is
// refused with a note.
func TestMinidumpConfiguration(t *testing.T) {
	bin := compile(t, "minidump.c", minidumpFlags...)
	dir := t.TempDir()
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=minidump:" + filepath.Join(dir, "%e.dmp")}}, bin, "deep")
	if !strings.Contains(r.stderr, "*** end of crashguard report") || strings.Contains(r.stderr, "configuration:") {
		t.Fatalf("%s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.Base(bin)+".dmp")); err != nil {
		t.Fatalf("%%e not expanded: %v", err)
	}
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=stderr,minidump:relative/%p.dmp"}}, bin, "deep")
	wantLine(t, r, `^  configuration: CRASHGUARD_OUTPUT: a minidump pattern must be an absolute path`)
}

// crashguard minidump FILE: the summary a user checks a dump with.
func TestMinidumpCommand(t *testing.T) {
	bin := compile(t, "minidump.c", minidumpFlags...)
	r, dump := minidumpRun(t, syscall.SIGSEGV, nil, bin, "threads", "3")
	if dump == "" {
		t.Fatalf("no minidump:\n%s", r)
	}
	s := summarize(t, dump)
	tid := wantLine(t, r, `^thread: tid (\d+) `)[1]
	for _, want := range []string{
		`(?m)^exception: SIGSEGV, si_code 1, address 0x0, thread ` + tid + `$`,
		`(?m)^system: Linux .*; \d+ CPUs, `,
		`(?m)^threads \(4\):$`,
		`(?m)^  tid ` + tid + ` "md-worker-2" \(crashed\) rip 0x[0-9a-f]+ rsp 0x[0-9a-f]+ stack `,
		`(?m)^  0x[0-9a-f]+ 0x[0-9a-f]+ build-id [0-9a-f]{40} debug-id [0-9A-F]{33} ` + regexp.QuoteMeta(bin) + `$`,
		`(?m)^memory: \d+ ranges, \d+ bytes$`,
		`(?m)^linux maps: \d+ bytes$`,
		`(?m)^linux cmdline: \d+ bytes "` + regexp.QuoteMeta(bin) + ` threads 3"$`,
	} {
		if !regexp.MustCompile(want).MatchString(s.text) {
			t.Errorf("summary lacks /%s/:\n%s", want, s.text)
		}
	}
	// Not the environment: no stream of it, and not in the copied memory either.
	secret := "CRASHGUARD_TEST_SECRET=hunter2-" + strconv.Itoa(os.Getpid())
	_, dump = minidumpRun(t, syscall.SIGSEGV, []string{secret}, bin, "deep")
	data, _ := os.ReadFile(dump)
	if len(data) == 0 || strings.Contains(string(data), "hunter2") || strings.Contains(string(data), utf16le("hunter2")) {
		t.Fatalf("the environment is in the minidump")
	}
}

func utf16le(s string) string {
	b := make([]byte, 0, 2*len(s))
	for _, c := range []byte(s) {
		b = append(b, c, 0)
	}
	return string(b)
}
