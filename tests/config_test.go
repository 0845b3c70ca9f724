package tests

// Configuration is strict and says so: the usual spellings of off are off; every other
// invalid value is the documented default plus a note, in every report and at load with
// CRASHGUARD_DEBUG.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/bmatcuk/doublestar/v4"
)

func TestOffSpellings(t *testing.T) {
	for _, v := range []string{"off", "OFF", "Off", "0", "false", "FALSE", "no", "No"} {
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD=" + v, "CRASHGUARD_DEBUG=1"}}, coreBin(t), "null")
		if r.signal != syscall.SIGSEGV || strings.Contains(r.stderr, "*** crashguard") ||
			!strings.Contains(r.stderr, "crashguard: off (CRASHGUARD="+v+")") {
			t.Fatalf("CRASHGUARD=%s: %s", v, r)
		}
	}
	for _, v := range []string{"on", "1", "yes", "TRUE"} {
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD=" + v}}, coreBin(t), "null")
		if !strings.Contains(r.stderr, "*** end of crashguard report") || strings.Contains(r.stderr, "configuration:") {
			t.Fatalf("CRASHGUARD=%s noted: %s", v, r)
		}
	}
	// Neither: on, said in the report and at load.
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD=maybe", "CRASHGUARD_DEBUG=1"}}, coreBin(t), "null")
	wantLine(t, r, `^crashguard: configuration: CRASHGUARD: 'maybe' is not on or off, so on$`)
	wantLine(t, r, `^  configuration: CRASHGUARD: 'maybe' is not on or off, so on$`)
	// The helper's switch too: CRASHGUARD_HELPER=No never starts one.
	cache := t.TempDir()
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_HELPER=No", "CRASHGUARD_CACHE_DIR=" + cache}}, compile(t, "status.c", "-O2"), "crash")
	wantLine(t, r, `no tables: tables are not computed here \(CRASHGUARD_HELPER=off\)`)
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_FORMAT=JSON"}}, coreBin(t), "null")
	if !strings.Contains(r.stderr, `{"crashguard_report":1`) {
		t.Fatalf("CRASHGUARD_FORMAT=JSON: %s", r)
	}
}

// An include list of nothing but invalid patterns does not disarm every program: it is the
// default (every program), with a note. Valid patterns beside an invalid one still apply.
func TestInvalidIncludePatterns(t *testing.T) {
	bin := coreBin(t)
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_INCLUDE=[", "CRASHGUARD_DEBUG=1"}}, bin, "null")
	if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") {
		t.Fatalf("CRASHGUARD_INCLUDE=[ disarmed the program: %s", r)
	}
	wantLine(t, r, `^  configuration: CRASHGUARD_INCLUDE: '\[' is not a valid pattern \(ignored\); CRASHGUARD_INCLUDE: no valid pattern left, so every program is included$`)
	wantLine(t, r, `^crashguard: configuration: CRASHGUARD_INCLUDE: '\['`)
	// A valid pattern left: it decides (this program is not under /nowhere), and the note
	// is said at load.
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_INCLUDE=/nowhere/**:{a,b", "CRASHGUARD_DEBUG=1"}}, bin, "null")
	if strings.Contains(r.stderr, "*** crashguard:") || !strings.Contains(r.stderr, "not covered by CRASHGUARD_INCLUDE") {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^crashguard: configuration: CRASHGUARD_INCLUDE: '\{a,b' is not a valid pattern \(ignored\)$`)
	// An invalid exclude pattern excludes nothing, and says so.
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_EXCLUDE=/opt/[]"}}, bin, "null")
	wantLine(t, r, `^\*\*\* crashguard: SIGSEGV`)
	wantLine(t, r, `configuration: CRASHGUARD_EXCLUDE: '/opt/\[\]' is not a valid pattern \(ignored\); CRASHGUARD_EXCLUDE: no valid pattern left, so no program is excluded$`)
}

// The C validity check agrees with doublestar's ValidatePattern.
func TestPatternValidityAgreesWithDoublestar(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "globcheck")
	if out, err := exec.Command("gcc", "-O2", "-I", repoDir, "-o", bin, filepath.Join(repoDir, "tests", "crashers", "globcheck.c"),
		filepath.Join(repoDir, "globmatch.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	patterns := []string{"[", "[]", "[!]", "[^]", "[a", "[a]", "[]a]", "[!a]", "{", "}", "{a,b}", "{a,{b,c}}", "{a,{b,c}",
		"a}", "\\", "a\\", "\\[", "[\\]", "[\\]]", "/opt/**", "**", "/a/[bc]/x", "{[}]", "[{]", "x\\{", "{}", "/usr/{bin,sbin}/*"}
	var in strings.Builder
	for _, p := range patterns {
		in.WriteString(p + "\n") // a line without a tab: is the pattern valid?
	}
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(out))
	if len(got) != len(patterns) {
		t.Fatalf("globcheck printed %d answers for %d patterns", len(got), len(patterns))
	}
	for i, p := range patterns {
		if want := doublestar.ValidatePattern(p); (got[i] == "1") != want {
			t.Errorf("%q: C says valid=%s, doublestar %v", p, got[i], want)
		}
	}
}

// A report file pattern with an unknown %x, or a name that cannot fit NAME_MAX, is noted at
// once; at the crash the name that is too long is said as such.
func TestReportFilePatternNotes(t *testing.T) {
	dir := t.TempDir()
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=stderr,file:" + filepath.Join(dir, "%e-%q.txt")}}, coreBin(t), "null")
	wantLine(t, r, `^  configuration: CRASHGUARD_OUTPUT: '%q' is not one of %p %t %e %h %% \(kept as 'q'\)$`)
	files, _ := filepath.Glob(filepath.Join(dir, "*-q.txt"))
	if len(files) != 1 {
		t.Fatalf("report file: %v", files)
	}
	long := filepath.Join(dir, strings.Repeat("n", 300)+"-%p")
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=file:" + long}}, coreBin(t), "null")
	wantLine(t, r, `configuration: CRASHGUARD_OUTPUT: the report file name has 302 bytes or more, over NAME_MAX \(255\)`)
	wantLine(t, r, `^report file: \S+ not created: the name is too long \(over NAME_MAX`)
	// An expansion that makes the name too long is said at the crash only.
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=file:" + filepath.Join(dir, strings.Repeat("m", 250)+"-%e")}}, coreBin(t), "null")
	wantLine(t, r, `^report file: \S+ not created: the name is too long`)
	if strings.Contains(r.stderr, "configuration:") {
		t.Fatalf("noted although the pattern alone fits: %s", r)
	}
}

// A journal that is not there: the report on stderr, after one line saying why.
func TestJournalFallbackSaysWhy(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "no-journal.sock")
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=journal:" + sock}}, coreBin(t), "null")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	m := regexp.MustCompile(`(?s)^crashguard: the journal did not take the report \(` + regexp.QuoteMeta(sock) +
		`: no such socket: journald is not running here\)\n\n\*\*\* crashguard: SIGSEGV.*\*\*\* end of crashguard report\n$`)
	if !m.MatchString(r.stderr) {
		t.Fatalf("want the reason, then the report:\n%s", r.stderr)
	}
	// With stderr configured too, the report is there already; the reason follows it.
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=stderr,journal:" + sock}}, coreBin(t), "null")
	if strings.Count(r.stderr, "*** end of crashguard report") != 1 || !strings.HasSuffix(r.stderr, "journald is not running here)\n") {
		t.Fatalf("stderr and a missing journal:\n%s", r.stderr)
	}
}

// INCLUDE/EXCLUDE match the resolved executable path: a program started through a symbolic
// link is matched by its target, as docs/crashguard.md says.
func TestIncludeMatchesTheResolvedPath(t *testing.T) {
	bin := coreBin(t)
	link := filepath.Join(t.TempDir(), "via-link")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_INCLUDE=" + link, "CRASHGUARD_DEBUG=1"}}, link, "null")
	if strings.Contains(r.stderr, "*** crashguard:") || !strings.Contains(r.stderr, bin+" is not covered") {
		t.Fatalf("matched by the link's path: %s", r)
	}
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_INCLUDE=" + bin}}, link, "null")
	wantLine(t, r, `^\*\*\* crashguard: SIGSEGV`)
}

// A relative CRASHGUARD_CACHE_DIR would put a cache under every working directory a process
// starts in: it is ignored with a note, and nothing is created there.
func TestRelativeCacheDirIsIgnored(t *testing.T) {
	wd := t.TempDir()
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=relative/cache", "CRASHGUARD_HELPER=off"},
		setup: func(c *exec.Cmd) { c.Dir = wd }}, coreBin(t), "null")
	wantLine(t, r, `configuration: CRASHGUARD_CACHE_DIR: not an absolute path, ignored`)
	if entries, _ := os.ReadDir(wd); len(entries) != 0 {
		t.Fatalf("created in the working directory: %v", entries)
	}
}
