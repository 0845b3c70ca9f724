package tests

import (
	"bytes"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// frameLocations returns "function file:line" for every printed frame line, inlined ones
// included, innermost first.
func frameLocations(report string) []string {
	re := regexp.MustCompile(`(?m)^#\d+ 0x[0-9a-f]+ in (.*?)(\+0x[0-9a-f]+)?( \[inlined\])? \(\S+\+0x[0-9a-f]+\)(?: at (\S+))?`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(report, -1) {
		out = append(out, m[1]+" "+m[4])
	}
	return out
}

func moduleOffset(t *testing.T, r result) (string, uint64) {
	t.Helper()
	m := wantLine(t, r, `^#0 0x[0-9a-f]+ in .* \((\S+)\+0x([0-9a-f]+)\)`)
	off, _ := strconv.ParseUint(m[2], 16, 64)
	return m[1], off
}

// llvmChain asks llvm-symbolizer for the inlined chain at a module offset.
func llvmChain(t *testing.T, module string, off uint64) []string {
	t.Helper()
	out, err := exec.Command("llvm-symbolizer", "--inlining", "--obj="+module, "0x"+strconv.FormatUint(off, 16)).Output()
	if err != nil {
		t.Fatalf("llvm-symbolizer: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var chain []string
	for i := 0; i+1 < len(lines); i += 2 {
		loc := lines[i+1]
		if parts := strings.Split(loc, ":"); len(parts) >= 3 {
			loc = strings.Join(parts[:len(parts)-1], ":") // drop the column
		}
		chain = append(chain, lines[i]+" "+loc)
	}
	return chain
}

func requireTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found: tests/run.sh installs the Debian package %s", name, pkg)
	}
}

func TestInlinedFramesMatchLLVMSymbolizer(t *testing.T) {
	requireTool(t, "llvm-symbolizer", "llvm")
	variants := map[string][]string{
		"dwarf5":     {"-O2", "-g"},
		"dwarf4":     {"-O2", "-gdwarf-4"},
		"compressed": {"-O2", "-g", "-gz"},
	}
	for name, flags := range variants {
		t.Run(name, func(t *testing.T) {
			bin := compile(t, "inline.c", flags...)
			r := crash(t, syscall.SIGSEGV, bin)
			module, off := moduleOffset(t, r)
			want := llvmChain(t, module, off)
			got := frameLocations(r.stderr)
			if len(got) < len(want) || strings.Join(got[:len(want)], " | ") != strings.Join(want, " | ") {
				t.Fatalf("report frames %q\nllvm-symbolizer %q\n%s", got, want, r.stderr)
			}
			wantLine(t, r, `^#0 0x[0-9a-f]+ in read_cell \[inlined\] \(\S+\+0x[0-9a-f]+\) at \S+inline\.c:11$`)
			wantLine(t, r, `^#1 0x[0-9a-f]+ in sum_cells \[inlined\] \(\S+\+0x[0-9a-f]+\) at \S+inline\.c:17$`)
			wantLine(t, r, `^#2 0x[0-9a-f]+ in table_total\+0x[0-9a-f]+ \(\S+\+0x[0-9a-f]+\) at \S+inline\.c:23$`)
			wantLine(t, r, `^#3 0x[0-9a-f]+ in main\+0x[0-9a-f]+ \(\S+\+0x[0-9a-f]+\) at \S+inline\.c:\d+$`)
		})
	}
}

func TestClangBuiltInlinedFrames(t *testing.T) {
	requireTool(t, "clang", "clang")
	bin := filepath.Join(workDir, "inline-clang")
	src := filepath.Join(repoDir, "tests", "crashers", "inline.c")
	if out, err := exec.Command("clang", "-O2", "-g", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, out)
	}
	r := crash(t, syscall.SIGSEGV, bin)
	module, off := moduleOffset(t, r)
	want := llvmChain(t, module, off)
	got := frameLocations(r.stderr)
	if len(got) < len(want) || strings.Join(got[:len(want)], " | ") != strings.Join(want, " | ") {
		t.Fatalf("report frames %q\nllvm-symbolizer %q", got, want)
	}
}

// split builds inline.c, moves its debug information to a separate file and strips it.
func split(t *testing.T, name string) (bin, debug string) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, name)
	debug = filepath.Join(dir, name+".debug")
	src := filepath.Join(repoDir, "tests", "crashers", "inline.c")
	for _, c := range [][]string{
		{"gcc", "-O2", "-g", "-o", bin, src},
		{"objcopy", "--only-keep-debug", bin, debug},
		{"strip", "--strip-all", bin},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	return bin, debug
}

func TestStrippedBinaryWithDebuglink(t *testing.T) {
	bin, debug := split(t, "linked")
	if out, err := exec.Command("objcopy", "--add-gnu-debuglink="+debug, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	r := crash(t, syscall.SIGSEGV, bin)
	// Names of static functions come from the debug file's .symtab; lines from its DWARF.
	wantLine(t, r, `^#2 0x[0-9a-f]+ in table_total\+0x[0-9a-f]+ \(\S+\) at \S+inline\.c:23$`)
	wantLine(t, r, `^#0 0x[0-9a-f]+ in read_cell \[inlined\]`)
}

func TestStrippedBinaryWithBuildIDDebugFile(t *testing.T) {
	bin, debug := split(t, "byid")
	out, err := exec.Command("readelf", "-n", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no build-id:\n%s", out)
	}
	root := t.TempDir()
	dir := filepath.Join(root, ".build-id", m[1][:2])
	os.MkdirAll(dir, 0o755)
	if err := os.Rename(debug, filepath.Join(dir, m[1][2:]+".debug")); err != nil {
		t.Fatal(err)
	}
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_DEBUG_DIRS=" + root}}, bin)
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^#2 0x[0-9a-f]+ in table_total\+0x[0-9a-f]+ \(\S+\) at \S+inline\.c:23$`)
	_ = hex.EncodeToString
}

func TestNoDebugInformationIsNotAnError(t *testing.T) {
	bin := compile(t, "inline.c", "-O2")
	r := crash(t, syscall.SIGSEGV, bin)
	wantLine(t, r, `^#0 0x[0-9a-f]+ in table_total\+0x[0-9a-f]+ \(\S+\)$`)
	wantLine(t, r, `^  module \S+inline-\d+: no file:line: no debug information`)
}

func debugRun(t *testing.T, bin, cache string) result {
	t.Helper()
	return run(t, runOpts{preload: true, env: []string{"CRASHGUARD_DEBUG=1", "CRASHGUARD_CACHE_DIR=" + cache}}, bin)
}

func TestCacheSecondRunParsesNothing(t *testing.T) {
	bin := compile(t, "inline.c", "-O2", "-g")
	cache := t.TempDir()
	first := debugRun(t, bin, cache)
	if !regexp.MustCompile(`crashguard: helper \d+: \S+inline-\d+: built in .*; cached to `).MatchString(first.stderr) {
		t.Fatalf("first run did not build and cache:\n%s", first.stderr)
	}
	// The second start maps every table from the cache and starts no helper.
	second := debugRun(t, bin, cache)
	if strings.Contains(second.stderr, ": built in ") {
		t.Fatalf("second run parsed again:\n%s", second.stderr)
	}
	if !strings.Contains(second.stderr, "every module's tables were cached") {
		t.Fatalf("second run did not use the cache:\n%s", second.stderr)
	}
	if a, b := frameLocations(first.stderr), frameLocations(second.stderr); strings.Join(a, "|") != strings.Join(b, "|") {
		t.Fatalf("cached report differs:\n%q\n%q", a, b)
	}

	// A truncated cache file fails the checks at load: a helper rebuilds it.
	files, _ := filepath.Glob(filepath.Join(cache, "*", "*.cg"))
	var exe string
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if strings.Contains(string(data), "read_cell") { // the crasher's own tables
			exe = f
		}
	}
	if exe == "" {
		t.Fatalf("no cache file for the crasher among %v", files)
	}
	data, _ := os.ReadFile(exe)
	os.WriteFile(exe, data[:len(data)/3], 0o644)
	third := debugRun(t, bin, cache)
	if !strings.Contains(third.stderr, "1 without cached tables") || !strings.Contains(third.stderr, ": built in ") {
		t.Fatalf("truncated cache not ignored and rebuilt:\n%s", third.stderr)
	}
	wantLine(t, third, `^#0 0x[0-9a-f]+ in read_cell \[inlined\]`)

	// A corrupted one passes the cheap checks at load; its checksum is checked when a crash
	// first needs it: the tables are ignored, the file removed, and the next start rebuilds.
	data, _ = os.ReadFile(exe)
	data[len(data)-3] ^= 0xff
	os.WriteFile(exe, data, 0o644)
	fourth := debugRun(t, bin, cache)
	wantLine(t, fourth, `cache file corrupt \(checksum mismatch\): its tables were ignored and the file removed`)
	if _, err := os.Stat(exe); err == nil {
		t.Fatal("corrupt cache file not removed")
	}
	fifth := debugRun(t, bin, cache)
	if !strings.Contains(fifth.stderr, ": built in ") {
		t.Fatalf("removed cache file not rebuilt:\n%s", fifth.stderr)
	}
	wantLine(t, fifth, `^#0 0x[0-9a-f]+ in read_cell \[inlined\]`)
	sixth := debugRun(t, bin, cache)
	if strings.Contains(sixth.stderr, ": built in ") {
		t.Fatalf("the rebuilt cache was not used:\n%s", sixth.stderr)
	}
}

func TestCacheTwoProcessesBuildAtOnce(t *testing.T) {
	bin := compile(t, "inline.c", "-O2", "-g")
	cache := t.TempDir()
	var wg sync.WaitGroup
	results := make([]result, 4)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = debugRun(t, bin, cache)
		}(i)
	}
	wg.Wait()
	for _, r := range results {
		wantLine(t, r, `^#0 0x[0-9a-f]+ in read_cell \[inlined\]`)
	}
	after := debugRun(t, bin, cache)
	if strings.Contains(after.stderr, ": built in ") || strings.Contains(after.stderr, "cache ignored") {
		t.Fatalf("cache not usable after concurrent builds:\n%s", after.stderr)
	}
}

// No cache directory can be used (a path under a regular file; a read-only file system is
// the same): the helper hands the tables to the host in a memfd the host maps, and the report
// has every name and line.
func TestNoUsableCacheDirectory(t *testing.T) {
	bin := compile(t, "inline.c", "-O2", "-g")
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o600)
	r := debugRun(t, bin, filepath.Join(blocker, "cache"))
	if !strings.Contains(r.stderr, "handed to the host in its memfd") || r.signal != syscall.SIGSEGV {
		t.Fatalf("no memfd route for the unusable cache:\n%s", r.stderr)
	}
	wantLine(t, r, `^#0 0x[0-9a-f]+ in read_cell \[inlined\] .* at \S+inline\.c:11$`)
}

// A stripped binary carrying MiniDebugInfo (.gnu_debugdata: an xz-compressed ELF with the
// local function symbols, as Fedora and RHEL ship them) still names its static functions.
func TestMiniDebugInfoNamesStrippedFunctions(t *testing.T) {
	requireTool(t, "xz", "xz-utils")
	dir := t.TempDir()
	bin := filepath.Join(dir, "mini")
	src := filepath.Join(repoDir, "tests", "crashers", "core.c")
	// The recipe of Fedora's find-debuginfo: keep only function symbols, compress, attach.
	steps := [][]string{
		{"gcc", "-O0", "-fno-omit-frame-pointer", "-o", bin, src, "-pthread"},
		{"sh", "-c", "nm " + bin + " --format=posix --defined-only | awk '$2 ~ /[Tt]/ {print $1}' | sort > " + dir + "/funcs"},
		{"objcopy", "--only-keep-debug", bin, dir + "/debug"},
		{"objcopy", "-S", "--remove-section", ".gdb_index", "--remove-section", ".comment", "--keep-symbols=" + dir + "/funcs", dir + "/debug", dir + "/mini.debug"},
		{"xz", "-f", dir + "/mini.debug"},
		{"strip", "--strip-all", bin},
		{"objcopy", "--add-section", ".gnu_debugdata=" + dir + "/mini.debug.xz", bin},
	}
	for _, c := range steps {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	if out := runOut(t, "nm", bin); strings.Contains(out, "static_leaf_reads") {
		t.Fatal("the binary was not stripped")
	}
	r := crash(t, syscall.SIGSEGV, bin, "null")
	wantChain(t, r, "static_leaf_reads", "middle_adds", "outer_calls", "main")
}

// Review, also noted: a corrupt cache file is removed by the handler only if its name still
// names the file that was mapped. One replaced since (a helper or `crashguard warm` wrote a
// good one meanwhile) stays.
func TestCorruptCacheFileReplacedSinceIsKept(t *testing.T) {
	cache := t.TempDir()
	bin := coreBin(t)
	if r := cli(t, nil, "warm", "--dir", cache, "--library", libPath, bin); r.exitCode != 0 {
		t.Fatalf("warm: %s", r)
	}
	var own string
	files, _ := filepath.Glob(filepath.Join(cache, "*", "*.cg"))
	for _, f := range files {
		if data, _ := os.ReadFile(f); strings.Contains(string(data), "static_leaf_reads") {
			own = f
		}
	}
	if own == "" {
		t.Fatalf("no cache file for the crasher among %v", files)
	}
	good, _ := os.ReadFile(own)
	bad := append([]byte(nil), good...)
	bad[len(bad)-3] ^= 0xff // passes the checks at load; the checksum at the crash fails
	os.WriteFile(own, bad, 0o644)

	cmd := exec.Command(bin, "null-after-input")
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+libPath, "CRASHGUARD_CACHE_DIR="+cache, "CRASHGUARD_HELPER=off", "CRASHGUARD_STORM_LIMIT=off")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make([]byte, 6)
	if _, err := io.ReadFull(stdout, ready); err != nil || string(ready) != "ready\n" {
		t.Fatalf("the crasher did not start: %v %q", err, ready)
	}
	// A good file now has the name: written beside and renamed over the corrupt one.
	tmp := own + ".new"
	os.WriteFile(tmp, good, 0o644)
	if err := os.Rename(tmp, own); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte("go\n"))
	stdin.Close()
	cmd.Wait()
	if !strings.Contains(stderr.String(), "cache file corrupt (checksum mismatch)") {
		t.Fatalf("the mapped file's corruption not noticed:\n%s", stderr.String())
	}
	if data, err := os.ReadFile(own); err != nil || !bytes.Equal(data, good) {
		t.Fatalf("the good file that replaced the corrupt one was removed (%v)", err)
	}
}
