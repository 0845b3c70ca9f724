package tests

// Crash history: `crashguard list` and `crashguard info` over report directories and the
// journal (read through journalctl -o json; a fake journalctl on PATH stands in for journald,
// which does not run here).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type listed struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	PID        int       `json:"pid"`
	UID        int       `json:"uid"`
	Signal     string    `json:"signal"`
	Executable string    `json:"executable"`
	Signature  string    `json:"signature"`
	Unit       string    `json:"unit"`
	Source     string    `json:"source"`
}

func listJSON(t *testing.T, env []string, args ...string) []listed {
	t.Helper()
	r := cli(t, env, append([]string{"list", "--json"}, args...)...)
	if r.exitCode != 0 {
		t.Fatalf("list: %s", r)
	}
	var out []listed
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var l listed
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("list --json line %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

// reportFacts reads pid and signature from a text or JSON report.
func reportFacts(t *testing.T, report string) (int, string) {
	t.Helper()
	if m := regexp.MustCompile(`(?m)^process: pid (\d+),`).FindStringSubmatch(report); m != nil {
		pid, _ := strconv.Atoi(m[1])
		return pid, regexp.MustCompile(`(?m)^signature: (0x[0-9a-f]{16})$`).FindStringSubmatch(report)[1]
	}
	var d struct {
		PID       int    `json:"pid"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(report)), &d); err != nil {
		t.Fatalf("not a report: %v\n%s", err, report)
	}
	return d.PID, d.Signature
}

func TestListAndInfoFromReportFiles(t *testing.T) {
	dir := t.TempDir()
	pattern := "file:" + filepath.Join(dir, "%e-%p.crash")
	stripped, debugFile, _ := strippedWithDebugFile(t)
	build := filepath.Dir(debugFile)
	// Two crashes as text, one as JSON, and a file that is no report.
	var pids []int
	var sigs []string
	for _, c := range []struct {
		bin  string
		args []string
		env  []string
	}{
		{coreBin(t), []string{"null"}, nil},
		{stripped, nil, []string{"CRASHGUARD_CACHE_DIR=" + t.TempDir()}},
		{coreBin(t), []string{"assert"}, []string{"CRASHGUARD_FORMAT=json"}},
	} {
		before, _ := filepath.Glob(filepath.Join(dir, "*.crash"))
		r := run(t, runOpts{preload: true, env: append(c.env, "CRASHGUARD_OUTPUT="+pattern)}, c.bin, c.args...)
		if r.signal == 0 {
			t.Fatalf("no crash: %s", r)
		}
		after, _ := filepath.Glob(filepath.Join(dir, "*.crash"))
		if len(after) != len(before)+1 {
			t.Fatalf("report files: %v", after)
		}
		var file string
		for _, f := range after {
			if !contains(before, f) {
				file = f
			}
		}
		data, _ := os.ReadFile(file)
		pid, sig := reportFacts(t, string(data))
		pids, sigs = append(pids, pid), append(sigs, sig)
		time.Sleep(20 * time.Millisecond) // distinct modification times: the order is theirs
	}
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a report\n"), 0o644)
	// The oldest crash is from three days ago: its report says so (the time list shows is the
	// report's own, not the file's, which a copy or a backup changes).
	old := time.Now().Add(-72 * time.Hour).UTC().Truncate(time.Millisecond)
	oldFile, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("*-%d.crash", pids[0])))
	data, _ := os.ReadFile(oldFile[0])
	data = regexp.MustCompile(`(?m)^time: \S+?,`).ReplaceAll(data, []byte("time: "+old.Format("2006-01-02T15:04:05.000Z")+","))
	// ...and that it was a service's (the unit list shows is the report's cgroup line's).
	data = regexp.MustCompile(`(?m)^cgroup: .*$`).ReplaceAll(data, []byte("cgroup: /system.slice/myservice.service, unit myservice.service"))
	os.WriteFile(oldFile[0], data, 0o600)

	got := listJSON(t, nil, "--no-journal", "--dir", dir)
	if len(got) != 3 {
		t.Fatalf("want 3 crashes, got %+v", got)
	}
	wantSignals := []string{"SIGSEGV", "SIGSEGV", "SIGABRT"}
	for i, c := range got {
		if c.PID != pids[i] || c.Signature != sigs[i] || c.Signal != wantSignals[i] || c.UID != os.Geteuid() ||
			!strings.HasPrefix(c.ID, "f-") || !strings.HasPrefix(c.Source, dir+"/") || c.Executable == "" {
			t.Fatalf("crash %d: %+v (want pid %d, signature %s)", i, c, pids[i], sigs[i])
		}
	}
	if got[0].Unit != "myservice.service" || got[1].Unit != "" {
		t.Fatalf("units: %q, %q", got[0].Unit, got[1].Unit)
	}
	if !got[0].Time.Equal(old) {
		t.Fatalf("time of the oldest: %v, want %v", got[0].Time, old)
	}
	// --since leaves the old one out.
	if recent := listJSON(t, nil, "--no-journal", "--dir", dir, "--since", "2d"); len(recent) != 2 || recent[0].PID != pids[1] {
		t.Fatalf("--since 2d: %+v", recent)
	}
	// The default directory: CRASHGUARD_OUTPUT's file pattern.
	if byEnv := listJSON(t, []string{"CRASHGUARD_OUTPUT=stderr," + pattern}, "--no-journal"); len(byEnv) != 3 {
		t.Fatalf("default directory: %+v", byEnv)
	}
	// The table: a header and one line per crash.
	r := cli(t, nil, "list", "--no-journal", "--dir", dir)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.exitCode != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") ||
		!regexp.MustCompile(`\s`+strconv.Itoa(pids[2])+`\s+\d+\s+SIGABRT\s+\S+core-\d+\s+`+sigs[2]+`\s+-\s+f-[0-9a-f]{8}$`).MatchString(lines[3]) {
		t.Fatalf("list: %s", r)
	}

	// info by pid (symbolized with --search), by signature, by ID; no match is status 1.
	r = cli(t, nil, "info", "--no-journal", "--dir", dir, "--search", build, strconv.Itoa(pids[1]))
	if r.exitCode != 0 {
		t.Fatalf("info PID: %s", r)
	}
	wantLine(t, result{stderr: r.stdout}, `^#0 0x[0-9a-f]+ in read_cell \[inlined\] \(\S+/inl\+0x[0-9a-f]+\) at \S+inline\.c:11$`)
	r = cli(t, nil, "info", "--no-journal", "--dir", dir, sigs[0])
	if r.exitCode != 0 || !strings.Contains(r.stdout, "process: pid "+strconv.Itoa(pids[0])+",") {
		t.Fatalf("info SIGNATURE: %s", r)
	}
	r = cli(t, nil, "info", "--no-journal", "--dir", dir, got[2].ID)
	if r.exitCode != 0 || !strings.Contains(r.stdout, `"signal":"SIGABRT"`) {
		t.Fatalf("info ID: %s", r)
	}
	r = cli(t, nil, "info", "--no-journal", "--dir", dir, "999999999")
	if r.exitCode != 1 || !strings.Contains(r.stderr, `no recorded crash matches "999999999"`) {
		t.Fatalf("info of nothing: %s", r)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The journal, through a fake journalctl that prints what journalctl -o json would and
// records how it was asked.
func TestListAndInfoFromJournal(t *testing.T) {
	r := run(t, runOpts{preload: true}, coreBin(t), "null")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	report := r.stderr[strings.Index(r.stderr, "\n*** crashguard"):]
	pid, sig := reportFacts(t, report)
	when := time.Now().Add(-time.Hour)
	entry := map[string]any{
		"__CURSOR": "s=1;i=2", "__REALTIME_TIMESTAMP": strconv.FormatInt(when.UnixMicro(), 10),
		"_PID": strconv.Itoa(pid), "_UID": "1234", "_SYSTEMD_UNIT": "myservice.service",
		"SYSLOG_IDENTIFIER": "crashguard", "PRIORITY": "2", "MESSAGE": "SIGSEGV in x: NULL-pointer dereference",
		"CRASHGUARD_SIGNAL": "SIGSEGV", "CRASHGUARD_EXECUTABLE": "/srv/app/bin/server", "CRASHGUARD_SIGNATURE": sig,
		"CRASHGUARD_REPORT": report,
	}
	// A second entry whose report is not valid UTF-8: journalctl gives it as an array of bytes.
	binary := map[string]any{"__CURSOR": "s=1;i=3", "__REALTIME_TIMESTAMP": strconv.FormatInt(time.Now().UnixMicro(), 10),
		"_PID": "77", "_UID": "0", "SYSLOG_IDENTIFIER": "crashguard", "CRASHGUARD_SIGNAL": "SIGABRT",
		"CRASHGUARD_EXECUTABLE": "/usr/bin/x", "CRASHGUARD_SIGNATURE": "0x00000000000000aa",
		"CRASHGUARD_REPORT": []int{'\n', '*', '*', '*', ' ', 'c', 'r', 'a', 's', 'h', 'g', 'u', 'a', 'r', 'd', ':', ' ', 'S', 'I', 'G', 'A', 'B', 'R', 'T', ' ', 0xff, '\n'}}
	var lines []string
	for _, e := range []map[string]any{entry, binary} {
		b, _ := json.Marshal(e)
		lines = append(lines, string(b))
	}
	bin := t.TempDir()
	data := filepath.Join(bin, "entries.json")
	os.WriteFile(data, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	argsFile := filepath.Join(bin, "args")
	fake := "#!/bin/sh\necho \"$@\" >> " + argsFile + "\ncat " + data + "\n"
	os.WriteFile(filepath.Join(bin, "journalctl"), []byte(fake), 0o755)
	env := []string{"PATH=" + bin + ":" + os.Getenv("PATH")}

	got := listJSON(t, env)
	if len(got) != 2 || got[0].PID != pid || got[0].UID != 1234 || got[0].Unit != "myservice.service" ||
		got[0].Signature != sig || got[0].Executable != "/srv/app/bin/server" || got[0].Source != "journal" ||
		got[0].Time.UnixMicro() != when.UnixMicro() || !strings.HasPrefix(got[0].ID, "j-") || got[1].Signal != "SIGABRT" {
		t.Fatalf("from the journal: %+v", got)
	}
	asked, _ := os.ReadFile(argsFile)
	if !strings.Contains(string(asked), "-o json") || !strings.Contains(string(asked), "SYSLOG_IDENTIFIER=crashguard") ||
		!strings.Contains(string(asked), "--all") {
		t.Fatalf("journalctl asked %q", asked)
	}
	since := listJSON(t, env, "--since", "30m")
	asked, _ = os.ReadFile(argsFile)
	if len(since) != 1 || since[0].PID != 77 || !regexp.MustCompile(`--since @\d+`).Match(asked) {
		t.Fatalf("--since 30m: %+v, journalctl asked %q", since, asked)
	}
	r = cli(t, env, "info", got[0].ID)
	if r.exitCode != 0 || !strings.Contains(r.stdout, "signature: "+sig) || !strings.Contains(r.stdout, "static_leaf_reads") {
		t.Fatalf("info from the journal: %s", r)
	}
	// No journalctl at all: one line, and the directories still listed.
	empty := t.TempDir()
	r = cli(t, []string{"PATH=" + empty}, "list")
	if r.exitCode != 0 || !strings.Contains(r.stderr, "the journal was not read: no journalctl") {
		t.Fatalf("without journalctl: %s", r)
	}
}
