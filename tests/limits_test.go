package tests

import (
	"encoding/binary"
	"encoding/json"
	"net"
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

// What keeps a crash loop from filling a disk or flooding a journal (issue 15): the storm
// limit and the retention caps (sigsafe/limits.c).

// limitsEnv runs with a cache of the test's own, where the storm state lives.
func limitsEnv(t *testing.T, extra ...string) []string {
	return append([]string{"CRASHGUARD_CACHE_DIR=" + filepath.Join(t.TempDir(), "cache"), "CRASHGUARD_HELPER=off"}, extra...)
}

var repeatLine = regexp.MustCompile(`(?m)^\*\*\* crashguard: SIGSEGV in \S+ \(pid (\d+), signature (0x[0-9a-f]{16})\): crash (\d+) with this signature within 2 s; the first 3 were reported in full, this one only here \(CRASHGUARD_STORM_LIMIT\)$`)

// A service restarted after every crash: past the limit, a crash with the same signature
// gets one line that counts it, no report file; it still dies of its signal.  Another
// signature has its own count, and the first report of the next window says how many
// crashes the last one summarized.
func TestStormLimit(t *testing.T) {
	dir := t.TempDir()
	env := limitsEnv(t, "CRASHGUARD_STORM_LIMIT=3/2s", "CRASHGUARD_OUTPUT=stderr,file:"+dir+"/%e-%p.txt")
	crash := func(mode string) result {
		r := run(t, runOpts{preload: true, env: env}, coreBin(t), mode)
		if r.signal == 0 {
			t.Fatalf("%s: the crash did not kill the process: %s", mode, r)
		}
		return r
	}
	start := time.Now()
	var signature string
	for i := 1; i <= 7; i++ {
		r := crash("null")
		m := repeatLine.FindStringSubmatch(r.stderr)
		if i <= 3 {
			if m != nil || !strings.Contains(r.stderr, "*** end of crashguard report") {
				t.Fatalf("crash %d: want a full report:\n%s", i, r.stderr)
			}
			signature = regexp.MustCompile(`signature: (0x[0-9a-f]{16})`).FindStringSubmatch(r.stderr)[1]
			continue
		}
		if m == nil || m[3] != strconv.Itoa(i) || m[2] != signature || strings.Contains(r.stderr, "end of crashguard report") {
			t.Fatalf("crash %d: want one line counting it (signature %s):\n%s", i, signature, r.stderr)
		}
		if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Fatalf("crash %d: more than one line:\n%s", i, r.stderr)
		}
	}
	// Another signature: its own count.
	if r := crash("fpe"); r.signal != syscall.SIGFPE || !strings.Contains(r.stderr, "*** end of crashguard report") {
		t.Fatalf("another signature: want a full report:\n%s", r)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	if len(files) != 4 {
		t.Fatalf("report files: %d, want 3 full reports and the other signature's: %v", len(files), files)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Skipf("the crashes took %v, longer than the window: the machine is too slow for this test", elapsed)
	}
	time.Sleep(2*time.Second - time.Since(start) + 100*time.Millisecond)
	r := crash("null")
	if !strings.Contains(r.stderr, "*** end of crashguard report") ||
		!strings.Contains(r.stderr, "  storm limit: 4 crashes with this signature in the window that began at ") {
		t.Fatalf("the next window: want a full report saying 4 crashes were summarized:\n%s", r.stderr)
	}
}

// The default is 10 per minute (an empty value is the default), and "off" turns it off.
func TestStormLimitDefaultAndOff(t *testing.T) {
	env := limitsEnv(t, "CRASHGUARD_STORM_LIMIT=")
	full := 0
	for i := 0; i < 12; i++ {
		r := run(t, runOpts{preload: true, env: env}, coreBin(t), "null")
		if strings.Contains(r.stderr, "*** end of crashguard report") {
			full++
		} else if !strings.Contains(r.stderr, "with this signature within 60 s; the first 10 were reported in full") {
			t.Fatalf("crash %d: neither a report nor the storm line:\n%s", i+1, r.stderr)
		}
	}
	if full != 10 {
		t.Fatalf("%d full reports of 12, want 10", full)
	}
	env = limitsEnv(t, "CRASHGUARD_STORM_LIMIT=off")
	for i := 0; i < 12; i++ {
		if r := run(t, runOpts{preload: true, env: env}, coreBin(t), "null"); !strings.Contains(r.stderr, "*** end of crashguard report") {
			t.Fatalf("limit off, crash %d: no report:\n%s", i+1, r.stderr)
		}
	}
}

// In JSON, the line is an object of its own kind (docs/repeat.schema.json); in the journal, an
// entry that counts the crash, with no report.  A minidump is not written for it either.
func TestStormLimitJSONAndJournal(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "journal.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dumps := t.TempDir()
	env := limitsEnv(t, "CRASHGUARD_STORM_LIMIT=1/60s", "CRASHGUARD_FORMAT=json",
		"CRASHGUARD_OUTPUT=stderr,journal:"+sock+",minidump:"+dumps+"/%p.dmp")
	buf := make([]byte, 1<<20)
	var lines []string
	var repeatEntry map[string]string
	for i := 1; i <= 2; i++ {
		r := run(t, runOpts{preload: true, env: env}, coreBin(t), "null")
		if r.signal != syscall.SIGSEGV {
			t.Fatalf("%s", r)
		}
		lines = append(lines, strings.TrimSpace(r.stderr))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("crash %d: no datagram: %v", i, err)
		}
		f := parseJournal(t, buf[:n])
		if i == 1 && (f["CRASHGUARD_REPORT"] == "" || f["CRASHGUARD_REPEAT"] != "") {
			t.Fatalf("first crash: want a report: %v", f)
		}
		if i == 2 && (f["CRASHGUARD_REPORT"] != "" || f["CRASHGUARD_REPEAT"] != "2" || f["CRASHGUARD_STORM_LIMIT"] != "1" ||
			!strings.Contains(f["MESSAGE"], "a crash over CRASHGUARD_STORM_LIMIT") || f["CRASHGUARD_SIGNATURE"] == "") {
			t.Fatalf("second crash: want an entry counting it: %v", f)
		}
		repeatEntry = f
	}
	if !strings.HasPrefix(lines[0], `{"crashguard_report":1,`) || !strings.HasPrefix(lines[1], `{"crashguard_repeat":1,`) || strings.Contains(lines[1], "\n") {
		t.Fatalf("JSON lines:\n%s\n%s", lines[0], lines[1])
	}
	line := filepath.Join(t.TempDir(), "repeat.json")
	os.WriteFile(line, []byte(lines[1]), 0o644)
	check := "import json, sys, jsonschema\n" +
		"s = json.load(open(sys.argv[1])); d = json.load(open(sys.argv[2]))\n" +
		"jsonschema.Draft202012Validator.check_schema(s)\n" +
		"jsonschema.Draft202012Validator(s).validate(d)\n" +
		"assert d['number_in_window'] == 2 and d['storm_limit'] == 1 and d['window_seconds'] == 60, d\n"
	if out, err := exec.Command(jsonValidator(t), "-c", check, filepath.Join(repoDir, "docs", "repeat.schema.json"), line).CombinedOutput(); err != nil {
		t.Fatalf("the repeat line against docs/repeat.schema.json: %v\n%s\n%s", err, out, lines[1])
	}
	if d, _ := filepath.Glob(filepath.Join(dumps, "*.dmp")); len(d) != 1 {
		t.Fatalf("minidumps: %v, want the first crash's only", d)
	}
	// crashguard list and info on that entry, as journalctl -o json would give it.
	entry := map[string]any{"__CURSOR": "s=1;i=9", "__REALTIME_TIMESTAMP": strconv.FormatInt(time.Now().UnixMicro(), 10),
		"_PID": repeatEntry["CRASHGUARD_PID"], "_UID": "0"}
	for k, v := range repeatEntry {
		entry[k] = v
	}
	b, _ := json.Marshal(entry)
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "entries.json"), append(b, '\n'), 0o644)
	os.WriteFile(filepath.Join(bin, "journalctl"), []byte("#!/bin/sh\ncat "+filepath.Join(bin, "entries.json")+"\n"), 0o755)
	path := []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
	r := cli(t, path, "list")
	if r.exitCode != 0 || !strings.Contains(r.stdout, "SIGSEGV (repeat 2, no report)") || !strings.Contains(r.stdout, repeatEntry["CRASHGUARD_SIGNATURE"]) {
		t.Fatalf("list: %s", r)
	}
	r = cli(t, path, "info", repeatEntry["CRASHGUARD_PID"])
	if r.exitCode != 0 || !strings.Contains(r.stdout, "crash 2 with this signature in its storm window, counted but not reported in full") {
		t.Fatalf("info: %s", r)
	}
}

// A state file that is not ours to trust — garbage, or a link planted at its name — never
// costs a report: garbage is a fresh count, a link is not followed (every crash reported).
func TestStormStateFileDamaged(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	os.MkdirAll(cache, 0o700)
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_HELPER=off", "CRASHGUARD_STORM_LIMIT=1/60s"}
	os.WriteFile(filepath.Join(cache, ".storm"), []byte("garbage, not a state file"), 0o600)
	r := run(t, runOpts{preload: true, env: env}, coreBin(t), "null")
	if !strings.Contains(r.stderr, "*** end of crashguard report") {
		t.Fatalf("garbage state: want a report:\n%s", r)
	}
	if r = run(t, runOpts{preload: true, env: env}, coreBin(t), "null"); !strings.Contains(r.stderr, "crash 2 with this signature") {
		t.Fatalf("garbage state replaced by a count: want the second crash counted:\n%s", r)
	}
	os.Remove(filepath.Join(cache, ".storm"))
	target := filepath.Join(t.TempDir(), "target")
	os.WriteFile(target, nil, 0o600)
	os.Symlink(target, filepath.Join(cache, ".storm"))
	for i := 0; i < 3; i++ {
		if r := run(t, runOpts{preload: true, env: env}, coreBin(t), "null"); !strings.Contains(r.stderr, "*** end of crashguard report") {
			t.Fatalf("a link at .storm: want every crash reported:\n%s", r)
		}
	}
	if st, _ := os.Stat(target); st.Size() != 0 {
		t.Fatalf("the link was written through: %d bytes", st.Size())
	}
}

func ourFiles(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// CRASHGUARD_MAX_FILES: the oldest report files go first, the crash's own never; files that
// only look like ours by name (not a report inside) and other names are left alone.
func TestRetentionKeepsTheNewest(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "core-1.txt"), []byte("not a report\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("*** crashguard: not matching the pattern\n"), 0o644)
	env := limitsEnv(t, "CRASHGUARD_STORM_LIMIT=off", "CRASHGUARD_MAX_FILES=3", "CRASHGUARD_OUTPUT=file:"+dir+"/%e-%p.txt")
	var pids []string
	for i := 0; i < 6; i++ {
		before := map[string]bool{}
		for _, n := range ourFiles(t, dir) {
			before[n] = true
		}
		r := run(t, runOpts{preload: true, env: env}, coreBin(t), "null")
		if r.signal != syscall.SIGSEGV {
			t.Fatalf("%s", r)
		}
		for _, n := range ourFiles(t, dir) {
			if !before[n] {
				pids = append(pids, n)
			}
		}
		time.Sleep(20 * time.Millisecond) // modification times a clock tick apart
	}
	if len(pids) != 6 {
		t.Fatalf("new files seen: %v", pids)
	}
	got := ourFiles(t, dir)
	want := append([]string{"core-1.txt", "notes.txt"}, pids[3:]...)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files left: %v, want the 3 newest reports and the others: %v", got, want)
	}
}

// CRASHGUARD_MAX_USE, over reports and minidumps in one directory: the total stays under the
// cap, and the newest crash's files stay even when they alone are over it.
func TestRetentionBySize(t *testing.T) {
	dir := t.TempDir()
	env := limitsEnv(t, "CRASHGUARD_STORM_LIMIT=off", "CRASHGUARD_MAX_USE=40K",
		"CRASHGUARD_OUTPUT=file:"+dir+"/%p.txt,minidump:"+dir+"/%p.dmp")
	total := func() (n int64, names []string) {
		for _, name := range ourFiles(t, dir) {
			st, _ := os.Stat(filepath.Join(dir, name))
			n += st.Size()
			names = append(names, name)
		}
		return
	}
	var last result
	for i := 0; i < 8; i++ {
		last = run(t, runOpts{preload: true, env: env}, coreBin(t), "null")
		if last.signal != syscall.SIGSEGV {
			t.Fatalf("%s", last)
		}
		time.Sleep(20 * time.Millisecond)
		if n, names := total(); n > 40<<10 && len(names) > 2 {
			t.Fatalf("after crash %d: %d bytes in %v, over the 40K cap", i+1, n, names)
		}
	}
	_, names := total()
	if len(names) < 2 || len(names) >= 16 {
		t.Fatalf("files left: %v", names)
	}
	// The last crash's pair is there.
	newest := names[len(names)-1]
	base := strings.TrimSuffix(strings.TrimSuffix(newest, ".txt"), ".dmp")
	for _, ext := range []string{".txt", ".dmp"} {
		if _, err := os.Stat(filepath.Join(dir, base+ext)); err != nil {
			t.Fatalf("the newest crash's %s is gone: %v", ext, names)
		}
	}
	// A cap smaller than one crash's files: they stay, everything older goes.
	env = limitsEnv(t, "CRASHGUARD_STORM_LIMIT=off", "CRASHGUARD_MAX_USE=1K",
		"CRASHGUARD_OUTPUT=file:"+dir+"/%p.txt,minidump:"+dir+"/%p.dmp")
	run(t, runOpts{preload: true, env: env}, coreBin(t), "null")
	if _, names := total(); len(names) != 2 {
		t.Fatalf("a 1K cap: want only the last crash's report and minidump, got %v", names)
	}
}

// Crashes at once — a service's workers, a loop restarting faster than crashes end — are
// counted in the order they take the state: exactly the limit in full, no false note that
// a window was summarized.
func TestStormLimitConcurrentCrashes(t *testing.T) {
	for round := 0; round < 5; round++ {
		// The helper on, a cache of the round's own: the crashes wait for the same tables and
		// are counted together, not in the order their times were read.
		env := []string{"CRASHGUARD_CACHE_DIR=" + filepath.Join(t.TempDir(), "cache"), "CRASHGUARD_STORM_LIMIT=3/60s"}
		results := make(chan result, 30)
		for i := 0; i < 30; i++ {
			go func() { results <- run(t, runOpts{preload: true, env: env}, coreBin(t), "null") }()
		}
		full, lines := 0, 0
		for i := 0; i < 30; i++ {
			r := <-results
			if r.signal != syscall.SIGSEGV {
				t.Fatalf("%s", r)
			}
			switch {
			case strings.Contains(r.stderr, "storm limit:"):
				t.Fatalf("round %d: a false note of a summarized window:\n%s", round, r.stderr)
			case strings.Contains(r.stderr, "*** end of crashguard report"):
				full++
			case strings.Contains(r.stderr, "with this signature within 60 s"):
				lines++
			default:
				t.Fatalf("round %d: neither a report nor the line:\n%s", round, r.stderr)
			}
		}
		if full != 3 || lines != 27 {
			t.Fatalf("round %d: %d full reports and %d lines, want 3 and 27", round, full, lines)
		}
	}
}

// A crash counted after one whose time is later (it waited longer for the lock, or the
// clock stepped back a little) belongs to that window: it is counted there, not taken for a
// new window with a full report and a false note of crashes summarized. The state is written
// as docs/cache.md lays it out: one slot, this signature, 5 crashes in a window that began
// 5 s from now.
func TestStormLimitWindowStartedLaterByAFewSeconds(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	env := []string{"CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_HELPER=off", "CRASHGUARD_STORM_LIMIT=3/60s"}
	r := run(t, runOpts{preload: true, env: env}, coreBin(t), "null")
	m := regexp.MustCompile(`signature: 0x([0-9a-f]{16})`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no signature: %s", r)
	}
	sig, _ := strconv.ParseUint(m[1], 16, 64)
	state := make([]byte, 16+32*64)
	copy(state, "CGSTORM1")
	binary.LittleEndian.PutUint64(state[16:], sig)
	binary.LittleEndian.PutUint64(state[24:], uint64(time.Now().Add(5*time.Second).UnixMicro()))
	binary.LittleEndian.PutUint32(state[32:], 5)
	if err := os.WriteFile(filepath.Join(cache, ".storm"), state, 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, runOpts{preload: true, env: env}, coreBin(t), "null")
	if strings.Contains(r.stderr, "storm limit:") || !strings.Contains(r.stderr, "): crash 6 with this signature within 60 s") {
		t.Fatalf("want crash 6 of that window, in one line:\n%s", r.stderr)
	}
}

// With the journal as the only destination and no journal there, the line goes to stderr,
// as a report would: a counted crash never leaves no trace.
func TestStormLineFallsBackToStderr(t *testing.T) {
	env := limitsEnv(t, "CRASHGUARD_STORM_LIMIT=1/60s", "CRASHGUARD_OUTPUT=journal:"+filepath.Join(t.TempDir(), "absent.sock"))
	run(t, runOpts{preload: true, env: env}, coreBin(t), "null")
	r := run(t, runOpts{preload: true, env: env}, coreBin(t), "null")
	if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "): crash 2 with this signature within 60 s") {
		t.Fatalf("want the line on stderr: %s", r)
	}
}

// Crashes at once each remove only what the caps require: with CRASHGUARD_MAX_FILES=2, eight
// concurrent crashes leave two report files.
func TestRetentionConcurrentCrashes(t *testing.T) {
	for round := 0; round < 5; round++ {
		dir := t.TempDir()
		// The helper on, a cache of the round's own: the crashes wait for the same tables and
		// go on together.
		env := []string{"CRASHGUARD_CACHE_DIR=" + filepath.Join(t.TempDir(), "cache"), "CRASHGUARD_STORM_LIMIT=off",
			"CRASHGUARD_MAX_FILES=2", "CRASHGUARD_OUTPUT=file:" + dir + "/%p.txt"}
		done := make(chan result, 8)
		for i := 0; i < 8; i++ {
			go func() { done <- run(t, runOpts{preload: true, env: env}, coreBin(t), "null") }()
		}
		for i := 0; i < 8; i++ {
			if r := <-done; r.signal != syscall.SIGSEGV {
				t.Fatalf("%s", r)
			}
		}
		if got := ourFiles(t, dir); len(got) != 2 {
			t.Fatalf("round %d: %d files left, want 2: %v", round, len(got), got)
		}
	}
}

// A report file of an earlier version began with an empty line: it still counts as ours.
// A directory holding both kinds has one budget even for a crash that wrote only one.
func TestRetentionCountsOlderReportsAndBothKinds(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "1.txt")
	os.WriteFile(old, []byte("\n*** crashguard: SIGSEGV (an earlier version's report)\n"), 0o600)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	dump := filepath.Join(dir, "dX.dmp")
	os.WriteFile(dump, []byte("MDMP an earlier minidump"), 0o600)
	os.Chtimes(dump, past.Add(time.Minute), past.Add(time.Minute))
	// This crash's minidump is not written (its name is taken, by a file that is not ours):
	// the report alone, counted with the minidumps of the directory.
	taken := "d" + filepath.Base(coreBin(t)) + ".dmp"
	os.WriteFile(filepath.Join(dir, taken), []byte("not ours"), 0o600)
	env := limitsEnv(t, "CRASHGUARD_STORM_LIMIT=off", "CRASHGUARD_MAX_FILES=2",
		"CRASHGUARD_OUTPUT=file:"+dir+"/%p.txt,minidump:"+dir+"/d%e.dmp")
	r := run(t, runOpts{preload: true, env: env}, coreBin(t), "null")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	got := strings.Join(ourFiles(t, dir), " ")
	want := regexp.MustCompile(`^\d+\.txt dX\.dmp ` + regexp.QuoteMeta(taken) + `$`)
	if !want.MatchString(got) || strings.HasPrefix(got, "1.txt") {
		t.Fatalf("files left: %s; want the oldest (the earlier version's report) removed, the minidump, the file not ours and the new report kept", got)
	}
}

// Invalid values are the defaults, with a note in the report.
func TestLimitsConfigNotes(t *testing.T) {
	r := run(t, runOpts{preload: true, env: limitsEnv(t, "CRASHGUARD_STORM_LIMIT=lots", "CRASHGUARD_MAX_FILES=-3", "CRASHGUARD_MAX_USE=big")}, coreBin(t), "null")
	for _, note := range []string{"CRASHGUARD_STORM_LIMIT: not N or N/WINDOW (10/60s), so 10/60s", "CRASHGUARD_MAX_FILES: not a count, so 100",
		"CRASHGUARD_MAX_USE: not a size (bytes, or with K, M or G), so 256M"} {
		if !strings.Contains(r.stderr, note) {
			t.Fatalf("no note %q:\n%s", note, r.stderr)
		}
	}
}
