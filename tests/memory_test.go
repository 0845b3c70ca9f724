package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The helper streams large debug information (issue 12): on a C++ library with 10 MiB of
// DWARF (bench/bigdwarf.sh, 4 units: std::map, std::sort, std::function... inlined), its
// peak RSS stays far from the 8-10 times the DWARF's size it once took (92 MiB here; 3.1 GiB
// for 374 MiB of DWARF): measured 35 MiB (embedded) and 43 MiB (compressed debug file),
// against 90 and 93 MiB before.
func TestHelperMemoryOnLargeDWARF(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a C++ library (about 20 s of g++)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("bash", filepath.Join(repoDir, "bench", "bigdwarf.sh"), dir, "4").CombinedOutput(); err != nil {
		t.Fatalf("bench/bigdwarf.sh: %v\n%s", err, out)
	}
	lib := filepath.Join(dir, "libbig.so")
	for _, c := range []struct {
		name, module string
		env          []string
	}{
		{"embedded", lib, nil},
		{"compressed debug file", filepath.Join(dir, "stripped", "libbig.so"), []string{"CRASHGUARD_DEBUG_DIRS=" + filepath.Join(dir, "debug")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache := t.TempDir()
			cmd := exec.Command("/lib64/ld-linux-x86-64.so.2", "--argv0", "crashguard", libPath, "--helper", "--library="+libPath,
				"--urgent", "--dir="+cache, "--", buildID(t, c.module)+":"+c.module)
			cmd.Env = append([]string{"HOME=" + cache, "CRASHGUARD_DEBUG=1"}, c.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
			t.Logf("peak RSS %d KiB\n%s", peak, out)
			if peak > 64<<10 {
				t.Fatalf("the helper peaked at %d MiB on 10 MiB of DWARF (budget 64)", peak>>10)
			}
			// Not light because it did less: every table was built, lines included.
			files, _ := filepath.Glob(filepath.Join(cache, "*", "*.cg"))
			if len(files) != 1 || !strings.Contains(string(out), ": file:line from ") {
				t.Fatalf("no cache file with a line table:\n%s", out)
			}
			if data, _ := os.ReadFile(files[0]); !bytes.Contains(data, []byte("big3::work9(")) {
				t.Fatalf("the cache file does not name the library's functions")
			}
		})
	}
}
