package tests

// The module registry without a watcher thread: modules loaded after start-up are found by
// the dlopen interposer (for earlier calls) and by the handler itself from the loader's link
// maps (review findings 7, 8 and 12).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sharedLib(t *testing.T, out, src string) string {
	t.Helper()
	args := append([]string{"-shared", "-fPIC", "-o", out, filepath.Join(repoDir, "tests", "crashers", src)}, noFramePointers...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	return out
}

// Two dlopens in a row, the second library found at the end of a 2,000-directory
// LD_LIBRARY_PATH; the crash comes from code called back by the second one at once. Every
// run names the frame in it (the watcher of old missed it in 1 run of 5 to 30).
func TestTwoQuickDlopensAreBothRegistered(t *testing.T) {
	dir := t.TempDir()
	liba := sharedLib(t, filepath.Join(dir, "liba.so"), "twodl_liba.c")
	sharedLib(t, filepath.Join(dir, "libb.so"), "twodl_libb.c")
	bin := compile(t, "twodl.c", append(noFramePointers, "-ldl")...)
	var path []string
	for i := 0; i < 2000; i++ {
		path = append(path, filepath.Join(dir, fmt.Sprintf("e%d", i)))
	}
	path = append(path, dir)
	cache := warmCache(t, bin, liba, filepath.Join(dir, "libb.so"))
	for i := 0; i < 30; i++ {
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache, "LD_LIBRARY_PATH=" + strings.Join(path, ":")}}, bin, liba)
		if r.signal != syscall.SIGSEGV {
			t.Fatalf("run %d: %s", i, r)
		}
		wantChain(t, r, "crash", "b_calls_back", "main")
	}
}

// dlopen starts no thread, whether the library is on, off, warm or cold: a program that must
// be single-threaded afterwards (unshare(CLONE_NEWUSER), setns) still is.
func TestDlopenLeavesTheHostSingleThreaded(t *testing.T) {
	bin := compile(t, "dl_unshare.c", "-O2", "-ldl")
	without := run(t, runOpts{}, bin)
	if without.exitCode != 0 {
		t.Skipf("unshare(CLONE_NEWUSER) not possible here: %s", without)
	}
	for _, env := range [][]string{coldStart(t), {"CRASHGUARD_CACHE_DIR=" + warmCache(t, bin)}, {"CRASHGUARD=off"}, {"CRASHGUARD_HELPER=off"}} {
		r := run(t, runOpts{preload: true, env: env}, bin)
		if r.exitCode != 0 || r.stdout != without.stdout {
			t.Fatalf("%v: %s\nwithout: %s", env, r, without)
		}
	}
}

// A library whose constructor calls dlopen before ours has run: no thread appears (there
// used to be two registry refreshers then, a C watcher and the Go one), and the crash that
// follows is named.
func TestDlopenInAConstructorBeforeOurs(t *testing.T) {
	dir := t.TempDir()
	lib := sharedLib(t, filepath.Join(dir, "libdlctor.so"), "libdlctor.c")
	bin := filepath.Join(dir, "dlctor")
	if b, err := exec.Command("gcc", "-O2", "-g", "-fno-optimize-sibling-calls", "-o", bin, filepath.Join(repoDir, "tests", "crashers", "dlctor_main.c"),
		lib, "-Wl,-rpath,"+dir, "-ldl").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	for _, env := range [][]string{coldStart(t), {"CRASHGUARD=off"}} {
		r := run(t, runOpts{preload: true, env: env}, bin)
		if r.exitCode != 0 || r.stdout != "tasks: 1\n" {
			t.Fatalf("%v: %s", env, r)
		}
	}
	r := run(t, runOpts{preload: true, env: coldStart(t)}, bin, "crash")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantChain(t, r, "dlctor_crash", "main")
	os.RemoveAll(dir)
}

// More modules than the registry's first chunk (and the 1,024 it once held): a process that
// loads 1,100 libraries and crashes in the last one gets that frame named and the walk
// through it to main.
func TestMoreThanAThousandModules(t *testing.T) {
	dir := t.TempDir()
	plugin := pluginLib(t)
	data, err := os.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1100; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("lib%d.so", i)), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := compile(t, "manylibs.c", append(noFramePointers, "-ldl")...)
	cache := warmCache(t, bin, plugin) // every copy has the plugin's build-id
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + cache}, timeout: 120 * time.Second}, bin, "1100", dir)
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^#0 0x[0-9a-f]+ in plugin_inner\+0x[0-9a-f]+ \(\S+/lib1099\.so\+0x[0-9a-f]+\)`)
	wantChain(t, r, "plugin_inner", "plugin_entry", "main")
}
