package tests

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
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

// parseJournal decodes systemd's native protocol: KEY=value lines, or KEY, a newline, a
// 64-bit little-endian length and the value (for values with newlines).
func parseJournal(t *testing.T, b []byte) map[string]string {
	t.Helper()
	f := map[string]string{}
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			t.Fatalf("unterminated field: %q", b)
		}
		line := b[:nl]
		if eq := bytes.IndexByte(line, '='); eq >= 0 {
			f[string(line[:eq])] = string(line[eq+1:])
			b = b[nl+1:]
			continue
		}
		key := string(line)
		b = b[nl+1:]
		if len(b) < 8 {
			t.Fatalf("binary field %s without length", key)
		}
		n := binary.LittleEndian.Uint64(b)
		if uint64(len(b)-8) < n+1 || b[8+n] != '\n' {
			t.Fatalf("binary field %s: bad length %d", key, n)
		}
		f[key] = string(b[8 : 8+n])
		b = b[9+n:]
	}
	return f
}

// CRASHGUARD_OUTPUT=journal:SOCKET sends one native-protocol datagram, the way journald
// receives it on /run/systemd/journal/socket; the test binds the socket itself.
func TestJournalSink(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "journal.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=journal:" + sock}}, coreBin(t), "null")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	if strings.Contains(r.stderr, "crashguard") {
		t.Fatalf("report on stderr although the journal took it:\n%s", r.stderr)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1<<20)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	f := parseJournal(t, buf[:n])
	if f["PRIORITY"] != "2" || f["CRASHGUARD_SIGNAL"] != "SIGSEGV" || !strings.HasSuffix(f["CRASHGUARD_EXECUTABLE"], "/"+filepath.Base(coreBin(t))) {
		t.Fatalf("fields: %v", f)
	}
	if !regexp.MustCompile(`^SIGSEGV in \S+: NULL-pointer dereference$`).MatchString(f["MESSAGE"]) {
		t.Fatalf("MESSAGE %q", f["MESSAGE"])
	}
	if !regexp.MustCompile(`^0x[0-9a-f]{16}$`).MatchString(f["CRASHGUARD_SIGNATURE"]) ||
		!strings.Contains(f["CRASHGUARD_REPORT"], "signature: "+f["CRASHGUARD_SIGNATURE"]) {
		t.Fatalf("signature %q / report:\n%s", f["CRASHGUARD_SIGNATURE"], f["CRASHGUARD_REPORT"])
	}
	if !strings.HasPrefix(f["CRASHGUARD_REPORT"], "*** crashguard: SIGSEGV") || !strings.Contains(f["CRASHGUARD_REPORT"], "static_leaf_reads") ||
		!strings.HasSuffix(f["CRASHGUARD_REPORT"], "*** end of crashguard report\n") {
		t.Fatalf("report field:\n%s", f["CRASHGUARD_REPORT"])
	}
	// The context (issue 14), as fields of their own.
	host, _ := os.Hostname()
	for key, want := range map[string]string{"CRASHGUARD_HOSTNAME": host, "CRASHGUARD_UID": fmt.Sprint(os.Getuid()),
		"CRASHGUARD_GID": fmt.Sprint(os.Getgid()), "CRASHGUARD_BOOT_ID": bootID(t)} {
		if f[key] != want {
			t.Fatalf("%s=%q, want %q: %v", key, f[key], want, f)
		}
	}
	for _, key := range []string{"CRASHGUARD_PID", "CRASHGUARD_TIMESTAMP", "CRASHGUARD_PROCESS_START_TIMESTAMP", "CRASHGUARD_KERNEL", "CRASHGUARD_CGROUP"} {
		if f[key] == "" {
			t.Fatalf("no %s: %v", key, f)
		}
	}
	// An abort's message, and the tags.
	run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=journal:" + sock, "CRASHGUARD_TAGS=release=1.4.2"}}, coreBin(t), "assert")
	n, err = conn.Read(buf)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	f = parseJournal(t, buf[:n])
	if !strings.HasSuffix(f["CRASHGUARD_MESSAGE"], "check_invariant: Assertion `x == 42' failed.") || !strings.HasSuffix(f["MESSAGE"], f["CRASHGUARD_MESSAGE"]) ||
		f["CRASHGUARD_TAGS"] != "release=1.4.2" || f["CRASHGUARD_TAG_RELEASE"] != "1.4.2" {
		t.Fatalf("fields: %v", f)
	}
	// No journal listening: the report falls back to stderr.
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=journal:" + sock + ".absent"}}, coreBin(t), "null")
	if !strings.Contains(r.stderr, "*** end of crashguard report") {
		t.Fatalf("report lost when the journal is not there: %s", r)
	}
}

// A program with 8 named threads, one of which crashes: the crashing thread's backtrace
// first, then every other thread's, named, each unwound by the thread itself.
func TestAllThreadsBacktraces(t *testing.T) {
	r := crash(t, syscall.SIGSEGV, coreBin(t), "eight-named")
	wantLine(t, r, `^thread: tid \d+ "worker-7"$`)
	wantLine(t, r, `^other threads \((8|9|1\d)\):$`)
	for i := 0; i < 7; i++ {
		m := wantLine(t, r, fmt.Sprintf(`(?s)thread: tid \d+ "worker-%d"\n#0 .*?\n\(\d+ frames; ([^)]*)\)`, i))
		_ = m
	}
	section := r.stderr[strings.Index(r.stderr, "other threads ("):]
	if n := strings.Count(section, "in worker_waits+"); n != 7 {
		t.Fatalf("want the 7 waiting workers in worker_waits, got %d:\n%s", n, section)
	}
	wantLine(t, r, `(?m)^thread: tid \d+ "core-\d+" \(main thread\)$`)
}

// A report from a stripped binary is turned back into names, lines and inlined frames by
// `crashguard symbolize`, which finds the unstripped build output by build-id.
func TestSymbolizeStrippedReport(t *testing.T) {
	build, deploy := t.TempDir(), t.TempDir()
	bin := filepath.Join(build, "inl")
	if out, err := exec.Command("gcc", "-O2", "-g", "-o", bin, filepath.Join(repoDir, "tests", "crashers", "inline.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	stripped := filepath.Join(deploy, "inl")
	if out, err := exec.Command("strip", "-o", stripped, bin).CombinedOutput(); err != nil {
		t.Fatalf("strip: %v\n%s", err, out)
	}
	// A cache of its own: the same build-id may already be cached, with names, from the
	// unstripped binary of another test.
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + t.TempDir()}}, stripped)
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^#0 0x[0-9a-f]+ in \?\? \(\S+/inl\+0x[0-9a-f]+\)$`)
	report := filepath.Join(t.TempDir(), "report.txt")
	os.WriteFile(report, []byte(r.stderr), 0o644)
	out, err := exec.Command(cmdPath, "symbolize", "--search", build, report).Output()
	if err != nil {
		t.Fatalf("symbolize: %v", err)
	}
	got := result{stderr: string(out)}
	wantLine(t, got, `^#0 0x[0-9a-f]+ in read_cell \[inlined\] \(\S+/inl\+0x[0-9a-f]+\) at \S+inline\.c:11$`)
	wantLine(t, got, `^#1 0x[0-9a-f]+ in sum_cells \[inlined\] .* at \S+inline\.c:17$`)
	wantLine(t, got, `^#2 0x[0-9a-f]+ in table_total\+0x[0-9a-f]+ .* at \S+inline\.c:23$`)
	wantLine(t, got, `^#3 0x[0-9a-f]+ in main\+0x[0-9a-f]+ .* at \S+inline\.c:\d+$`)
	wantLine(t, got, `^\*\*\* end of crashguard report$`)

	// The same from a JSON report.
	r = run(t, runOpts{preload: true, env: []string{"CRASHGUARD_CACHE_DIR=" + t.TempDir(), "CRASHGUARD_FORMAT=json"}}, stripped)
	os.WriteFile(report, []byte(r.stderr), 0o644)
	out, err = exec.Command(cmdPath, "symbolize", "--search", build, report).Output()
	if err != nil {
		t.Fatalf("symbolize json: %v", err)
	}
	var d map[string]any
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("symbolize json output: %v\n%s", err, out)
	}
	f0 := d["threads"].([]any)[0].(map[string]any)["frames"].([]any)[0].(map[string]any)
	inl := f0["inlined"].([]any)
	if f0["function"] != "table_total" || f0["line"].(float64) != 23 || len(inl) != 2 || inl[0].(map[string]any)["function"] != "read_cell" {
		t.Fatalf("symbolized JSON frame 0: %v", f0)
	}
}

// jsonValidator returns a python3 that has the jsonschema package (a real validator).
func jsonValidator(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import jsonschema").Run() == nil {
			return py
		}
	}
	t.Fatal("no python3 with jsonschema: tests/run.sh installs python3-jsonschema")
	return ""
}

// CRASHGUARD_FORMAT=json: one object on one line, valid against docs/report.schema.json
// (checked with the jsonschema validator), with the same facts as the text report.
func TestJSONReport(t *testing.T) {
	py := jsonValidator(t)
	schema := filepath.Join(repoDir, "docs", "report.schema.json")
	cases := []struct {
		bin  string
		args []string
		sig  syscall.Signal
		env  []string
	}{
		{compile(t, "inline.c", "-O2", "-g"), nil, syscall.SIGSEGV, nil},
		{coreBin(t), []string{"eight-named"}, syscall.SIGSEGV, nil},
		{coreBin(t), []string{"assert"}, syscall.SIGABRT, nil},
		{coreBin(t), []string{"in-handler"}, syscall.SIGSEGV, nil},
		// The fields of issue 14: message and tags; exception; redacted; threads left out.
		{reportsBin(t), []string{"assert-config"}, syscall.SIGABRT, []string{"CRASHGUARD_TAGS=release=1.4.2,env=prod"}},
		{exceptionsBin(t), []string{"runtime"}, syscall.SIGABRT, nil},
		{reportsBin(t), []string{"not-dumpable"}, syscall.SIGSEGV, nil},
		{reportsBin(t), []string{"threads", "60", "40"}, syscall.SIGSEGV, []string{"CRASHGUARD_STDERR_LIMIT=48K"}},
	}
	var reports []map[string]any
	for _, c := range cases {
		r := run(t, runOpts{preload: true, env: append([]string{"CRASHGUARD_FORMAT=json"}, c.env...)}, c.bin, c.args...)
		if r.signal != c.sig {
			t.Fatalf("%v: %s", c.args, r)
		}
		var line string
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.HasPrefix(l, "{") {
				if line != "" {
					t.Fatalf("more than one JSON line:\n%s", r.stderr)
				}
				line = l
			}
		}
		file := filepath.Join(t.TempDir(), "report.json")
		os.WriteFile(file, []byte(line), 0o644)
		check := "import json, sys, jsonschema\n" +
			"s = json.load(open(sys.argv[1])); d = json.load(open(sys.argv[2]))\n" +
			"jsonschema.Draft202012Validator.check_schema(s)\n" +
			"jsonschema.Draft202012Validator(s).validate(d)\n"
		if out, err := exec.Command(py, "-c", check, schema, file).CombinedOutput(); err != nil {
			t.Fatalf("%v: report not valid against the schema: %v\n%s\n%s", c.args, err, out, line)
		}
		var d map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		reports = append(reports, d)
	}
	// The inlined chain, as in the text report.
	f0 := reports[0]["threads"].([]any)[0].(map[string]any)["frames"].([]any)[0].(map[string]any)
	inl := f0["inlined"].([]any)
	if f0["function"] != "table_total" || f0["line"].(float64) != 23 || len(inl) != 2 ||
		inl[0].(map[string]any)["function"] != "read_cell" || inl[0].(map[string]any)["line"].(float64) != 11 {
		t.Fatalf("frame 0: %v", f0)
	}
	if reports[0]["diagnosis"] != "NULL-pointer dereference" || reports[0]["fault_address"] != "0x0" {
		t.Fatalf("header: %v", reports[0])
	}
	// All threads: the crashing one first, then the others, named.
	threads := reports[1]["threads"].([]any)
	names := map[string]bool{}
	for _, th := range threads {
		names[th.(map[string]any)["name"].(string)] = true
	}
	if threads[0].(map[string]any)["name"] != "worker-7" || !names["worker-0"] || !names["worker-6"] || len(threads) < 9 {
		t.Fatalf("threads: %v", names)
	}
	if reports[2]["fault_address"] != nil || reports[2]["signal"] != "SIGABRT" {
		t.Fatalf("abort report: %v", reports[2])
	}
	// The schema has every field required (null where there is nothing); the values:
	ctx := reports[4]["context"].(map[string]any)
	if !strings.Contains(reports[4]["message"].(string), "Assertion `x == 1' failed") ||
		ctx["tags"].(map[string]any)["env"] != "prod" || ctx["time"] == nil || ctx["boot_id"] == nil {
		t.Fatalf("message %v, context %v", reports[4]["message"], ctx)
	}
	if e := reports[5]["exception"].(map[string]any); e["type"] != "std::runtime_error" || e["what"] != "bad config" {
		t.Fatalf("exception %v", e)
	}
	if r := reports[6]["redacted"].([]any); len(r) != 2 || reports[6]["redacted_why"] == nil {
		t.Fatalf("redacted %v", r)
	}
	if reports[7]["threads_left_out"].(float64) == 0 {
		t.Fatalf("threads left out: %v", reports[7]["threads_left_out"])
	}
	if sig := reports[0]["signature"].(string); len(sig) != 18 || len(reports[0]["signature_frames"].([]any)) == 0 {
		t.Fatalf("signature %s, frames %v", sig, reports[0]["signature_frames"])
	}
}

// The off switches: CRASHGUARD=off installs nothing; CRASHGUARD_HELPER=off (or its old
// name CRASHGUARD_GO=off) never computes tables: the handler still reports, with names from
// the cache if there.
func TestOffSwitches(t *testing.T) {
	r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD=off", "CRASHGUARD_DEBUG=1"}}, coreBin(t), "null")
	if r.signal != syscall.SIGSEGV || strings.Contains(r.stderr, "*** crashguard") || !strings.Contains(r.stderr, "off (CRASHGUARD=off)") {
		t.Fatalf("CRASHGUARD=off: %s", r)
	}
	bin := compile(t, "status.c", "-O2", "-g")
	for _, off := range []string{"CRASHGUARD_HELPER=off", "CRASHGUARD_GO=off"} {
		cache := t.TempDir()
		r = run(t, runOpts{preload: true, env: []string{off, "CRASHGUARD_CACHE_DIR=" + cache, "CRASHGUARD_DEBUG=1"}}, bin, "crash")
		if r.signal != syscall.SIGSEGV || !strings.Contains(r.stderr, "*** crashguard: SIGSEGV") || strings.Contains(r.stderr, "helper") {
			t.Fatalf("%s: %s", off, r)
		}
		wantLine(t, r, `no tables: tables are not computed here \(CRASHGUARD_HELPER=off\)`)
		if files, _ := filepath.Glob(filepath.Join(cache, "*")); len(files) != 0 {
			t.Fatalf("%s: something computed into the cache: %v", off, files)
		}
	}
}
