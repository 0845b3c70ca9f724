package tests

// Stale tables: tables are cached by build-id, so debug information installed after they
// were built would never be used. Each cache file records where its debug information came
// from (or where it was looked for); `crashguard warm --refresh` and a helper rebuild an
// entry whose debug information has appeared since.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// strippedWithDebugFile builds inline.c with DWARF, and returns the stripped program and the
// debug file's content, to be put where it is found by build-id.
func strippedWithDebugFile(t *testing.T) (stripped, debugFile, id string) {
	t.Helper()
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if out, err := exec.Command("gcc", "-O2", "-g", "-o", full, filepath.Join(repoDir, "tests", "crashers", "inline.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	stripped, debugFile = filepath.Join(dir, "inl"), filepath.Join(dir, "inl.debug")
	for _, c := range [][]string{{"objcopy", "--only-keep-debug", full, debugFile}, {"strip", "-o", stripped, full}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	return stripped, debugFile, buildIDOf(t, full)
}

func TestWarmRefreshUsesDebugInformationThatAppeared(t *testing.T) {
	stripped, debugFile, id := strippedWithDebugFile(t)
	debugDir, cache := t.TempDir(), t.TempDir()
	env := []string{"CRASHGUARD_DEBUG_DIRS=" + debugDir, "CRASHGUARD_CACHE_DIR=" + cache}
	r := cli(t, env, "warm", "--dir", cache, "--library", libPath, stripped)
	if r.exitCode != 0 || !strings.Contains(r.stdout, "no file:line (no debug information") {
		t.Fatalf("warm: %s", r)
	}
	// The entry says where it looked.
	r = cli(t, env, "inspect", stripped)
	where := filepath.Join(debugDir, ".build-id", id[:2], id[2:]+".debug")
	if !strings.Contains(r.stdout, "debug     no debug information; looked in: the module, "+where) {
		t.Fatalf("inspect: %s", r)
	}
	crashed := run(t, runOpts{preload: true, env: env}, stripped)
	if crashed.signal != syscall.SIGSEGV || strings.Contains(crashed.stderr, "inline.c:") {
		t.Fatalf("file:line without debug information? %s", crashed)
	}

	// The debug file appears (a -dbgsym package): a plain warm leaves the entry alone...
	os.MkdirAll(filepath.Dir(where), 0o755)
	copyFile(t, debugFile, where, 0o644)
	r = cli(t, env, "warm", "--dir", cache, "--library", libPath, stripped)
	if r.exitCode != 0 || !strings.Contains(r.stdout, "already cached "+stripped) {
		t.Fatalf("warm: %s", r)
	}
	r = cli(t, env, "inspect", stripped)
	if !strings.Contains(r.stdout, "stale     built without debug information, which is there now ("+where+")") {
		t.Fatalf("inspect does not call the entry stale: %s", r)
	}
	// ...--refresh rebuilds it, and the next crash has file:line and inlined calls.
	r = cli(t, env, "warm", "--dir", cache, "--library", libPath, "--refresh", stripped)
	if r.exitCode != 0 || !regexp.MustCompile(`(?m)^cached `+regexp.QuoteMeta(stripped)+` .*line rows.*\(debug information appeared: `+regexp.QuoteMeta(where)+`\)$`).MatchString(r.stdout) {
		t.Fatalf("warm --refresh: %s", r)
	}
	crashed = run(t, runOpts{preload: true, env: env}, stripped)
	wantLine(t, crashed, `^#0 0x[0-9a-f]+ in read_cell \[inlined\] \(\S+/inl\+0x[0-9a-f]+\) at \S+inline\.c:11$`)
	// Nothing more to refresh.
	r = cli(t, env, "warm", "--dir", cache, "--library", libPath, "--refresh", stripped)
	if !strings.Contains(r.stdout, "already cached "+stripped) {
		t.Fatalf("refreshed twice: %s", r)
	}
}

// warm --refresh without a PATH refreshes every entry of the cache by the module path it
// records.
func TestWarmRefreshWholeCache(t *testing.T) {
	stripped, debugFile, id := strippedWithDebugFile(t)
	debugDir, cache := t.TempDir(), t.TempDir()
	env := []string{"CRASHGUARD_DEBUG_DIRS=" + debugDir}
	if r := cli(t, env, "warm", "--dir", cache, "--library", libPath, stripped); r.exitCode != 0 {
		t.Fatalf("warm: %s", r)
	}
	r := cli(t, env, "warm", "--dir", cache, "--library", libPath, "--refresh")
	if r.exitCode != 0 || strings.Contains(r.stdout, "cached "+stripped) {
		t.Fatalf("refreshed with nothing new: %s", r)
	}
	where := filepath.Join(debugDir, ".build-id", id[:2], id[2:]+".debug")
	os.MkdirAll(filepath.Dir(where), 0o755)
	copyFile(t, debugFile, where, 0o644)
	r = cli(t, env, "warm", "--dir", cache, "--library", libPath, "--refresh")
	if r.exitCode != 0 || !strings.Contains(r.stdout, "cached "+stripped+" ") || !strings.Contains(r.stdout, "debug information appeared") {
		t.Fatalf("warm --refresh (whole cache): %s", r)
	}
}

// A helper that finds a module's entry built without debug information that is there now
// rebuilds it (it has the file open anyway); one that finds it complete leaves it.
func TestHelperRebuildsStaleEntry(t *testing.T) {
	stripped, debugFile, id := strippedWithDebugFile(t)
	debugDir, cache := t.TempDir(), t.TempDir()
	env := []string{"CRASHGUARD_DEBUG_DIRS=" + debugDir, "CRASHGUARD_DEBUG=1"}
	if r := cli(t, env, "warm", "--dir", cache, "--library", libPath, stripped); r.exitCode != 0 {
		t.Fatalf("warm: %s", r)
	}
	helper := func() result {
		return cliAt(t, "/lib64/ld-linux-x86-64.so.2", env, "--argv0", "crashguard", libPath, "--helper",
			"--library="+libPath, "--urgent", "--dir="+cache, "--", id+":"+stripped)
	}
	if r := helper(); r.exitCode != 0 || !strings.Contains(r.stderr, "0 of 1 modules built") {
		t.Fatalf("helper with nothing new: %s", r)
	}
	where := filepath.Join(debugDir, ".build-id", id[:2], id[2:]+".debug")
	os.MkdirAll(filepath.Dir(where), 0o755)
	copyFile(t, debugFile, where, 0o644)
	r := helper()
	if r.exitCode != 0 || !strings.Contains(r.stderr, "built without debug information, which is there now") ||
		!strings.Contains(r.stderr, "1 of 1 modules built") {
		t.Fatalf("helper: %s", r)
	}
	crashed := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache}}, stripped)
	wantLine(t, crashed, `at \S+inline\.c:11$`)
}
