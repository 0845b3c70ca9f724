package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// CRASHGUARD_OUTPUT=stderr,file:PATTERN: the report goes to both; the file is named by
// every placeholder, created 0600.
func TestReportFileWithEveryPlaceholder(t *testing.T) {
	dir := t.TempDir()
	pattern := filepath.Join(dir, "%e.%p.%t.%h.%%.crash")
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=stderr,file:" + pattern}}, coreBin(t), "null")
	if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** end of crashguard report") {
		t.Fatalf("%s", r)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.crash"))
	if len(files) != 1 {
		t.Fatalf("report files: %v", files)
	}
	host, _ := os.Hostname()
	re := regexp.MustCompile(`^core-\d+\.(\d+)\.(\d{9,})\.` + regexp.QuoteMeta(host) + `\.%\.crash$`)
	m := re.FindStringSubmatch(filepath.Base(files[0]))
	if m == nil {
		t.Fatalf("file name %q does not expand the pattern %q", filepath.Base(files[0]), pattern)
	}
	wantLine(t, r, `^process: pid `+m[1]+`,`)
	wantLine(t, r, `^report file: `+regexp.QuoteMeta(files[0])+`$`)
	st, _ := os.Stat(files[0])
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("report file mode %v", st.Mode().Perm())
	}
	data, _ := os.ReadFile(files[0])
	if !strings.Contains(string(data), "*** end of crashguard report") || !strings.Contains(string(data), "static_leaf_reads") {
		t.Fatalf("report file content:\n%s", data)
	}
	// Only a file: nothing on stderr.
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=file:" + filepath.Join(dir, "only-%p")}}, coreBin(t), "null")
	if strings.Contains(r.stderr, "crashguard") {
		t.Fatalf("report on stderr although only a file was configured:\n%s", r.stderr)
	}
}

// A report file that cannot be created — missing directory, read-only file system, a file
// or a planted symbolic link at the name — never loses the report: it goes to stderr with
// the reason, and nothing existing is written through.
func TestReportFileCannotBeCreated(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o644)
	os.Symlink(victim, filepath.Join(dir, "fixed.crash"))
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o755)
	mounted := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=64k", "none", ro).Run() == nil
	if mounted {
		defer exec.Command("umount", ro).Run()
	}
	cases := map[string]string{
		filepath.Join(dir, "missing", "r-%p"): "the directory does not exist",
		filepath.Join(dir, "fixed.crash"):     "a file or link of that name exists",
	}
	if mounted {
		cases[filepath.Join(ro, "r-%p")] = "read-only file system"
	}
	for pattern, why := range cases {
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=file:" + pattern}}, coreBin(t), "null")
		if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** end of crashguard report") {
			t.Fatalf("%s: %s", pattern, r)
		}
		wantLine(t, r, `^report file: \S+ not created: `+regexp.QuoteMeta(why))
	}
	if data, _ := os.ReadFile(victim); string(data) != "precious\n" {
		t.Fatalf("written through a planted symbolic link: %q", data)
	}
}

// Which signals: a subset leaves the others alone; invalid values are noted in the report
// and replaced by the defaults, never stopping the host.
func TestSignalsAndInvalidValues(t *testing.T) {
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_SIGNALS=ABRT"}}, coreBin(t), "null")
	if r.signal != syscall.SIGSEGV || strings.Contains(r.stderr, "crashguard") {
		t.Fatalf("SIGSEGV reported although only ABRT was asked for: %s", r)
	}
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_SIGNALS=abrt"}}, coreBin(t), "assert")
	if r.signal != syscall.SIGABRT || !strings.Contains(r.stderr, "*** crashguard: SIGABRT") {
		t.Fatalf("%s", r)
	}
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_SIGNALS=SEGV,BOGUS", "CRASHGUARD_OUTPUT=stderr,carrier-pigeon"}}, coreBin(t), "null")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^  configuration: CRASHGUARD_OUTPUT: unknown destination 'carrier-pigeon'; CRASHGUARD_SIGNALS: 'BOGUS' is not one of`)
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_SIGNALS=,,"}}, coreBin(t), "null")
	wantLine(t, r, `CRASHGUARD_SIGNALS: no valid signal, handling all`)
}
