package tests

// Reports people and pipelines can act on (issue 14): grouping, the abort message, the
// context, sizes that stay valid, privacy, and no noise.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func reportsBin(t *testing.T, extra ...string) string {
	return compile(t, "reports.c", append([]string{"-O1", "-g", "-D_FORTIFY_SOURCE=2", "-fstack-protector-all",
		"-fno-omit-frame-pointer"}, extra...)...)
}

func exceptionsBin(t *testing.T) string {
	return compile(t, "exceptions.cpp", "-O1", "-g", "-fno-omit-frame-pointer")
}

// jsonLine is the one JSON line of a report on stderr.
func jsonLine(t *testing.T, r result) string {
	t.Helper()
	var line string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "{") {
			if line != "" {
				t.Fatalf("more than one JSON line:\n%s", r.stderr)
			}
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no JSON report:\n%s", r)
	}
	return line
}

// checkSchema validates one JSON report against docs/report.schema.json and decodes it.
func checkSchema(t *testing.T, line string) map[string]any {
	t.Helper()
	py := jsonValidator(t)
	file := filepath.Join(t.TempDir(), "report.json")
	os.WriteFile(file, []byte(line), 0o644)
	check := "import json, sys, jsonschema\n" +
		"s = json.load(open(sys.argv[1])); d = json.load(open(sys.argv[2]))\n" +
		"jsonschema.Draft202012Validator.check_schema(s)\n" +
		"jsonschema.Draft202012Validator(s).validate(d)\n"
	if out, err := exec.Command(py, "-c", check, filepath.Join(repoDir, "docs", "report.schema.json"), file).CombinedOutput(); err != nil {
		t.Fatalf("report not valid against the schema: %v\n%s\n%.3000s", err, out, line)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(line), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// journal binds a native-protocol socket in dir and returns its path and a receiver.
func journal(t *testing.T, dir string) (string, func() map[string]string) {
	t.Helper()
	sock := filepath.Join(dir, "journal.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return sock, func() map[string]string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1<<20)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no datagram: %v", err)
		}
		return parseJournal(t, buf[:n])
	}
}

func signatureOf(t *testing.T, r result) string {
	t.Helper()
	return wantLine(t, r, `^signature: (0x[0-9a-f]{16})$`)[1]
}

// ---- grouping ----

// The signature groups by bug: two different assertions, two different uncaught C++
// exceptions, main() of two different programs each get their own (the innermost frames of
// all of them used to be the same crash machinery: raise, abort, __assert_fail; std::
// terminate; __libc_start_main); the same crash gets the same one in every run (ASLR moves
// every address) and on a cold start (tables computed by a helper while the crash waits) as
// on a warm one; and one spelling, 0x and 16 hex digits, in text, JSON and the journal.
func TestSignatureGroupsByBug(t *testing.T) {
	bin, other := reportsBin(t), reportsBin(t, "-DSECOND_PROGRAM")
	exc := exceptionsBin(t)
	sig := func(sig syscall.Signal, bin string, args ...string) (string, result) {
		r := run(t, runOpts{preload: true}, bin, args...)
		if r.signal != sig {
			t.Fatalf("%v: %s", args, r)
		}
		return signatureOf(t, r), r
	}
	a1, ra1 := sig(syscall.SIGABRT, bin, "assert-config")
	a2, ra2 := sig(syscall.SIGABRT, bin, "assert-limits")
	e1, _ := sig(syscall.SIGABRT, exc, "runtime")
	e2, _ := sig(syscall.SIGABRT, exc, "parse")
	m1, _ := sig(syscall.SIGSEGV, bin, "main-null")
	m2, _ := sig(syscall.SIGSEGV, other, "main-null")
	if a1 == a2 || e1 == e2 || m1 == m2 {
		t.Fatalf("different bugs, one signature: asserts %s %s, exceptions %s %s, main of two programs %s %s", a1, a2, e1, e2, m1, m2)
	}
	// The same crash again: the same signature although ASLR moved the code.
	a1again, ra1again := sig(syscall.SIGABRT, bin, "assert-config")
	pc := func(r result) string {
		return wantLine(t, r, `^#\d+ (0x[0-9a-f]+) in check_config_has_a_name\+`)[1]
	}
	if pc(ra1) == pc(ra1again) {
		t.Fatalf("the code did not move between runs (no ASLR?): %s", pc(ra1))
	}
	if a1again != a1 {
		t.Fatalf("the same crash, two signatures: %s and %s", a1, a1again)
	}
	// The signature is made of the program's frames, not the machinery.
	wantChain(t, ra2, "check_limits_are_sane", "main")

	// Cold (an empty cache: the crash waits for the helper's tables) and warm.
	cache := coldStart(t)
	cold := run(t, runOpts{preload: true, env: cache}, exc, "parse")
	waitForHelpers(t, strings.TrimPrefix(cache[0], "CRASHGUARD_CACHE_DIR="))
	warm := run(t, runOpts{preload: true, env: append(cache, "CRASHGUARD_DEBUG=1")}, exc, "parse")
	if !strings.Contains(warm.stderr, "every module's tables were cached") {
		t.Fatalf("not warm:\n%s", warm.stderr)
	}
	if signatureOf(t, cold) != e2 || signatureOf(t, warm) != e2 {
		t.Fatalf("cold %s, warm %s, before %s", signatureOf(t, cold), signatureOf(t, warm), e2)
	}

	// One spelling everywhere.
	j := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_FORMAT=json"}}, bin, "assert-config")
	d := checkSchema(t, jsonLine(t, j))
	sock, recv := journal(t, t.TempDir())
	run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=journal:" + sock}}, bin, "assert-config")
	f := recv()
	if d["signature"] != a1 || f["CRASHGUARD_SIGNATURE"] != a1 {
		t.Fatalf("text %s, JSON %v, journal %s", a1, d["signature"], f["CRASHGUARD_SIGNATURE"])
	}
	frames := d["signature_frames"].([]any)
	if len(frames) == 0 || frames[0] != filepath.Base(bin)+"!check_config_has_a_name" {
		t.Fatalf("signature frames: %v", frames)
	}
}

// ---- the abort message ----

// What glibc and libstdc++ printed before the abort is in the report (text, JSON, journal):
// glibc 2.36's __abort_msg for assert, malloc checks, fortify and stack smashing; the type
// and what() of an uncaught C++ exception, read without calling anything — what() only
// where it is libstdc++'s own (the message member of logic_error and runtime_error), never
// an override of the program's.
func TestAbortMessage(t *testing.T) {
	bin, exc := reportsBin(t), exceptionsBin(t)
	cases := []struct {
		bin, mode, message string
	}{
		{bin, "assert-config", "reports-\\d+: \\S+reports\\.c:\\d+: check_config_has_a_name: Assertion `x == 1' failed\\."},
		{bin, "double-free", `free\(\): double free detected in tcache 2`},
		{bin, "fortify", `\*\*\* buffer overflow detected \*\*\*: terminated`},
		{bin, "smash", `\*\*\* stack smashing detected \*\*\*: terminated`},
		{exc, "runtime", `C\+\+ exception std::runtime_error: bad config`},
		{exc, "parse", `C\+\+ exception app::ParseError: header too short: 2 bytes`},
		{exc, "thread", `C\+\+ exception std::runtime_error: bad config`},
		{exc, "rethrow", `C\+\+ exception std::out_of_range: basic_string::at: __n \(which is 7\) >= this->size\(\) \(which is 0\)`},
		{exc, "custom", `C\+\+ exception app::Custom \(what\(\) not read: the type has its own what\(\), and calling it from a signal handler is not safe\)`},
		{exc, "int", `C\+\+ exception int`},
		{exc, "literal", `C\+\+ exception char const\*: a string literal`},
	}
	for _, c := range cases {
		r := run(t, runOpts{preload: true, env: noHelper}, c.bin, c.mode)
		if r.signal != syscall.SIGABRT {
			t.Fatalf("%s: %s", c.mode, r)
		}
		// Only names are off: the message is read from memory, not from tables...
		if c.mode != "custom" {
			wantLine(t, r, `^message: `+c.message+`$`)
		}
	}
	// ...except that recognizing libstdc++'s own what() takes its symbol table.
	r := run(t, runOpts{preload: true}, exc, "custom")
	wantLine(t, r, `^message: `+cases[8].message+`$`)
	// (libstdc++'s terminate handler called it and printed it before the abort; the report
	// must not have it.)
	if strings.Contains(r.stderr[strings.Index(r.stderr, "*** crashguard:"):], "computed by the program") {
		t.Fatalf("the program's what() was called:\n%s", r.stderr)
	}
	// No message where there is none: a plain fault.
	if r := run(t, runOpts{preload: true, env: noHelper}, bin, "main-null"); strings.Contains(r.stderr, "message:") {
		t.Fatalf("a message for a NULL dereference:\n%s", r.stderr)
	}

	// JSON: message and exception.
	d := checkSchema(t, jsonLine(t, run(t, runOpts{preload: true, env: []string{"CRASHGUARD_FORMAT=json"}}, exc, "runtime")))
	e := d["exception"].(map[string]any)
	if d["message"] != "C++ exception std::runtime_error: bad config" || e["type"] != "std::runtime_error" ||
		e["mangled_type"] != "St13runtime_error" || e["what"] != "bad config" || e["what_note"] != nil {
		t.Fatalf("message %v, exception %v", d["message"], e)
	}
	d = checkSchema(t, jsonLine(t, run(t, runOpts{preload: true, env: []string{"CRASHGUARD_FORMAT=json"}}, exc, "custom")))
	e = d["exception"].(map[string]any)
	if e["type"] != "app::Custom" || e["mangled_type"] != "N3app6CustomE" || e["what"] != nil ||
		!strings.Contains(e["what_note"].(string), "own what()") {
		t.Fatalf("exception %v", e)
	}
	d = checkSchema(t, jsonLine(t, run(t, runOpts{preload: true, env: []string{"CRASHGUARD_FORMAT=json"}}, bin, "double-free")))
	if d["message"] != "free(): double free detected in tcache 2" || d["exception"] != nil {
		t.Fatalf("message %v, exception %v", d["message"], d["exception"])
	}

	// Journal: CRASHGUARD_MESSAGE, and MESSAGE says it instead of the generic diagnosis.
	sock, recv := journal(t, t.TempDir())
	run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=journal:" + sock}}, bin, "smash")
	f := recv()
	if f["CRASHGUARD_MESSAGE"] != "*** stack smashing detected ***: terminated" ||
		!strings.HasSuffix(f["MESSAGE"], ": *** stack smashing detected ***: terminated") {
		t.Fatalf("journal fields: %v", f)
	}
	run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=journal:" + sock}}, exc, "parse")
	if f := recv(); f["CRASHGUARD_EXCEPTION_TYPE"] != "app::ParseError" || !strings.HasPrefix(f["CRASHGUARD_MESSAGE"], "C++ exception app::ParseError: ") {
		t.Fatalf("journal fields: %v", f)
	}
}

// ---- the context ----

// bootID is the running kernel's boot id as journald spells it (32 hex digits).
func bootID(t *testing.T) string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
}

// A report says when (UTC), who (uid, gid), where (host, kernel, boot), since when the
// process ran, its cgroup, and the tags given at load; text, JSON and journal alike.
func TestReportContext(t *testing.T) {
	bin := reportsBin(t)
	host, _ := os.Hostname()
	var uts syscall.Utsname
	syscall.Uname(&uts)
	var release []byte
	for _, c := range uts.Release {
		if c == 0 {
			break
		}
		release = append(release, byte(c))
	}
	tags := "CRASHGUARD_TAGS=release=1.4.2,env=prod,bad tag,also=ok"
	before := time.Now().UTC().Add(-time.Second)
	r := run(t, runOpts{preload: true, env: append([]string{tags}, noHelper...)}, bin, "main-null")
	after := time.Now().UTC().Add(time.Second)
	m := wantLine(t, r, `^time: (\S+Z), process started (\S+Z)$`)
	at, err1 := time.Parse(time.RFC3339Nano, m[1])
	started, err2 := time.Parse(time.RFC3339Nano, m[2])
	if err1 != nil || err2 != nil || at.Before(before) || at.After(after) || started.After(at) || at.Sub(started) > 10*time.Second {
		t.Fatalf("time %s, started %s (run between %s and %s)", m[1], m[2], before, after)
	}
	wantLine(t, r, fmt.Sprintf(`^user: uid %d gid %d$`, os.Getuid(), os.Getgid()))
	wantLine(t, r, `^host: `+regexp.QuoteMeta(host)+`, kernel `+regexp.QuoteMeta(string(release))+`, boot id `+bootID(t)+`$`)
	wantLine(t, r, `^cgroup: /\S*`)
	wantLine(t, r, `^tags: release=1\.4\.2, env=prod, also=ok$`)
	wantLine(t, r, `configuration: CRASHGUARD_TAGS: 'bad tag' is not key=value`)

	d := checkSchema(t, jsonLine(t, run(t, runOpts{preload: true, env: append([]string{tags, "CRASHGUARD_FORMAT=json"}, noHelper...)}, bin, "main-null")))
	c := d["context"].(map[string]any)
	if c["hostname"] != host || c["kernel"] != string(release) || c["boot_id"] != bootID(t) ||
		c["uid"].(float64) != float64(os.Getuid()) || c["tags"].(map[string]any)["release"] != "1.4.2" {
		t.Fatalf("context %v", c)
	}

	sock, recv := journal(t, t.TempDir())
	run(t, runOpts{preload: true, env: append([]string{tags, "CRASHGUARD_OUTPUT=journal:" + sock}, noHelper...)}, bin, "main-null")
	f := recv()
	usec, _ := strconv.ParseInt(f["CRASHGUARD_TIMESTAMP"], 10, 64)
	start, _ := strconv.ParseInt(f["CRASHGUARD_PROCESS_START_TIMESTAMP"], 10, 64)
	if f["CRASHGUARD_HOSTNAME"] != host || f["CRASHGUARD_KERNEL"] != string(release) || f["CRASHGUARD_BOOT_ID"] != bootID(t) ||
		f["CRASHGUARD_UID"] != strconv.Itoa(os.Getuid()) || f["CRASHGUARD_GID"] != strconv.Itoa(os.Getgid()) ||
		f["CRASHGUARD_PID"] == "" || f["CRASHGUARD_CGROUP"] == "" || time.Since(time.UnixMicro(usec)) > time.Minute ||
		start > usec || start == 0 || f["CRASHGUARD_TAGS"] != "release=1.4.2,env=prod,also=ok" ||
		f["CRASHGUARD_TAG_RELEASE"] != "1.4.2" || f["CRASHGUARD_TAG_ENV"] != "prod" {
		t.Fatalf("journal fields: %v", f)
	}
	if _, ok := f["CRASHGUARD_MESSAGE"]; ok {
		t.Fatalf("a message for a NULL dereference: %v", f)
	}
}

// The systemd unit and the container come from the cgroup path, by systemd's rules for
// COREDUMP_UNIT (slices skipped; the user manager's units are user units) and the cgroup
// drivers' patterns of docker, containerd, cri-o and podman; checked on the rules' code
// itself, then on a process moved into such a cgroup.
func TestUnitAndContainerFromCgroup(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	cases := map[string]string{
		"/system.slice/nginx.service":                                            "nginx.service|||",
		"/system.slice/system-getty.slice/getty@tty1.service":                    "getty@tty1.service|||",
		"/user.slice/user-1000.slice/user@1000.service/app.slice/editor.service": "user@1000.service|editor.service||",
		"/user.slice/user-1000.slice/session-3.scope":                            "session-3.scope|||",
		"/system.slice/docker-" + id + ".scope":                                  "docker-" + id + ".scope||docker|" + id,
		"/docker/" + id:                                                          "||docker|" + id,
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-" + id + ".scope": "cri-containerd-" + id + ".scope||containerd|" + id,
		"/kubepods.slice/kubepods-pod1.slice/crio-" + id + ".scope":                                              "crio-" + id + ".scope||cri-o|" + id,
		"/kubepods/besteffort/pod1/" + id:                                                                        "||kubernetes|" + id,
		"/machine.slice/libpod-" + id + ".scope/container":                                                       "libpod-" + id + ".scope||podman|" + id,
		"/machine.slice/libpod-conmon-" + id + ".scope":                                                          "libpod-conmon-" + id + ".scope|||",
		"/":                        "|||",
		"/init.scope":              "init.scope|||",
		"/system.slice":            "|||",
		"/_weird.service":          "|||",
		"/a b.service":             "|||",
		"/system.slice/x@.service": "|||",
	}
	harness := filepath.Join(t.TempDir(), "rules")
	if out, err := exec.Command("gcc", "-std=gnu11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-Wno-trigraphs",
		"-o", harness, filepath.Join(repoDir, "tests", "crashers", "cgroup_rules.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	var paths []string
	for p := range cases {
		paths = append(paths, p)
	}
	out := strings.Split(runOut(t, harness, paths...), "\n")
	for i, p := range paths {
		if out[i] != cases[p] {
			t.Errorf("%s: got %q, want %q", p, out[i], cases[p])
		}
	}

	// A real process in a real cgroup: the hierarchy systemd's path is read from
	// (name=systemd on cgroup v1 and hybrid systems, the unified one otherwise).
	root := "/sys/fs/cgroup/systemd"
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		root = "/sys/fs/cgroup"
	}
	slice := filepath.Join(root, fmt.Sprintf("cgtest-%d.slice", os.Getpid()))
	scope := filepath.Join(slice, "docker-"+id+".scope")
	if err := os.MkdirAll(scope, 0o755); err != nil {
		t.Skipf("the rules hold; a real cgroup needs root and a writable cgroup file system: %v", err)
	}
	defer os.Remove(slice)
	defer os.Remove(scope)
	bin := reportsBin(t)
	sock, recv := journal(t, t.TempDir())
	r := run(t, runOpts{preload: true, env: append([]string{"CRASHGUARD_OUTPUT=stderr,journal:" + sock}, noHelper...)},
		"sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" main-null`, "sh", scope, bin)
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^cgroup: /cgtest-\d+\.slice/docker-`+id+`\.scope, unit docker-`+id+`\.scope$`)
	wantLine(t, r, `^container: docker `+id+`$`)
	f := recv()
	if f["CRASHGUARD_UNIT"] != "docker-"+id+".scope" || f["CRASHGUARD_CONTAINER_ID"] != id || f["CRASHGUARD_CONTAINER_RUNTIME"] != "docker" {
		t.Fatalf("journal fields: %v", f)
	}
}

// ---- sizes ----

// A bounded report is still whole: the journal's datagram (64 KiB) keeps the crashing
// thread and as many other threads as fit, then says how many it left out — valid JSON in
// the JSON format, the closing line in the text format; where the crashing thread alone is
// larger, whole frames are left out. CRASHGUARD_STDERR_LIMIT bounds stderr the same way,
// the crashing thread always complete.
func TestBoundedReportsStayWhole(t *testing.T) {
	bin := reportsBin(t)
	args := []string{"threads", "60", "40"}
	sock, recv := journal(t, t.TempDir())
	for _, format := range []string{"json", "text"} {
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_FORMAT=" + format, "CRASHGUARD_OUTPUT=stderr,journal:" + sock}}, bin, args...)
		if r.signal != syscall.SIGSEGV {
			t.Fatalf("%s", r)
		}
		f := recv()
		report := f["CRASHGUARD_REPORT"]
		if len(report) > 64<<10 || len(r.stderr) < 200<<10 {
			t.Fatalf("%s: journal report %d bytes, stderr %d bytes", format, len(report), len(r.stderr))
		}
		if format == "text" {
			if !strings.HasSuffix(report, "*** end of crashguard report\n") ||
				!regexp.MustCompile(`(?m)^  \d+ threads left out: the report is bounded to 65536 bytes$`).MatchString(report) ||
				!strings.Contains(report, "in crash_in_the_main_thread+") {
				t.Fatalf("text journal report:\n%s", report)
			}
			continue
		}
		d := checkSchema(t, strings.TrimSuffix(report, "\n"))
		threads := d["threads"].([]any)
		crashing := threads[0].(map[string]any)
		left := int(d["threads_left_out"].(float64))
		if left == 0 || len(threads)+left != 61 || crashing["frames_left_out"].(float64) != 0 ||
			len(crashing["frames"].([]any)) != int(crashing["frames_total"].(float64)) {
			t.Fatalf("threads %d, left out %d, crashing thread %v", len(threads), left, crashing["frames_left_out"])
		}
		// Unbounded on stderr: every thread.
		if all := checkSchema(t, jsonLine(t, r)); len(all["threads"].([]any)) != 61 || all["threads_left_out"].(float64) != 0 {
			t.Fatalf("stderr: %d threads, %v left out", len(all["threads"].([]any)), all["threads_left_out"])
		}
	}

	// stderr bounded to 48K (journald's default LineMax): one parseable line.
	r := run(t, runOpts{preload: true, env: append([]string{"CRASHGUARD_FORMAT=json", "CRASHGUARD_STDERR_LIMIT=48K"}, noHelper...)}, bin, args...)
	line := jsonLine(t, r)
	d := checkSchema(t, line)
	if len(line)+1 > 48<<10 || d["threads_left_out"].(float64) == 0 {
		t.Fatalf("bounded stderr: %d bytes, %v threads left out", len(line), d["threads_left_out"])
	}
	r = run(t, runOpts{preload: true, env: append([]string{"CRASHGUARD_STDERR_LIMIT=16K"}, noHelper...)}, bin, args...)
	wantLine(t, r, `^  \d+ threads left out: the report is bounded to 16384 bytes$`)
	wantLine(t, r, `^\*\*\* end of crashguard report$`)

	// The crashing thread alone is some 300 KB: the journal's copy keeps whole frames.
	wide := compile(t, "widenames.cpp", "-O1", "-g", "-fno-omit-frame-pointer")
	for _, format := range []string{"json", "text"} {
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_FORMAT=" + format, "CRASHGUARD_OUTPUT=stderr,journal:" + sock}}, wide)
		report := recv()["CRASHGUARD_REPORT"]
		if len(report) > 64<<10 || len(r.stderr) < 200<<10 {
			t.Fatalf("%s: journal report %d bytes, stderr %d", format, len(report), len(r.stderr))
		}
		if format == "text" {
			if !regexp.MustCompile(`(?m)^    \.\.\. \d+ frames left out: the report is bounded to 65536 bytes \.\.\.\n\(10\d frames; `).MatchString(report) ||
				!strings.HasSuffix(report, "*** end of crashguard report\n") {
				t.Fatalf("text:\n%s", report)
			}
			continue
		}
		d := checkSchema(t, strings.TrimSuffix(report, "\n"))
		th := d["threads"].([]any)[0].(map[string]any)
		kept, left := len(th["frames"].([]any)), int(th["frames_left_out"].(float64))
		if kept == 0 || left == 0 || kept+left != int(th["frames_total"].(float64)) {
			t.Fatalf("frames kept %d, left out %d, total %v", kept, left, th["frames_total"])
		}
	}
}

// ---- privacy ----

var rawAddress = regexp.MustCompile(`0x[0-9a-f]{9,}`)

// checkRedacted: no registers, no raw address (module offsets are short; the signature is
// not an address), no memory map; names and module+offset stay.
func checkRedacted(t *testing.T, where, report string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(report, "\n") {
		if !strings.HasPrefix(l, "signature: ") {
			lines = append(lines, l)
		}
	}
	rest := strings.Join(lines, "\n")
	if strings.Contains(rest, "registers:") || strings.Contains(rest, "memory map (the fault") || rawAddress.MatchString(rest) ||
		!strings.Contains(rest, "redacted: registers, raw addresses and the memory map (privileged process") ||
		!regexp.MustCompile(`(?m)^#0 in privileged_reads\+0x[0-9a-f]+ \(\S+/reports-\d+\+0x[0-9a-f]+\)`).MatchString(rest) ||
		!regexp.MustCompile(`(?m)^  \S+/reports-\d+ build-id [0-9a-f]{40}$`).MatchString(rest) {
		t.Fatalf("%s: not redacted as it should be:\n%s", where, report)
	}
}

func checkFull(t *testing.T, where, report string) {
	t.Helper()
	if !strings.Contains(report, "registers:") || !strings.Contains(report, "memory map (the fault") ||
		!regexp.MustCompile(`(?m)^#0 0x[0-9a-f]{16} in privileged_reads\+`).MatchString(report) || strings.Contains(report, "redacted:") {
		t.Fatalf("%s: not the full report:\n%s", where, report)
	}
}

// A privileged process (here: not dumpable, as the kernel makes a setuid program for its
// caller) sends its caller no registers, raw addresses or memory-map lines — on stderr, in a
// file in a directory others may write, to a socket of theirs; the full report goes only to
// root-owned destinations. CRASHGUARD_REDACT=registers leaves registers out everywhere.
func TestPrivilegedReportsAreRedacted(t *testing.T) {
	bin := reportsBin(t)
	if os.Getuid() != 0 {
		// Only root can make a root-owned destination: the redacted side alone.
		dir := t.TempDir()
		r := run(t, runOpts{preload: true, env: []string{"CRASHGUARD_OUTPUT=stderr,file:" + dir + "/r-%p"}}, bin, "not-dumpable")
		checkRedacted(t, "stderr", r.stderr)
		files, _ := filepath.Glob(filepath.Join(dir, "r-*"))
		if len(files) != 1 {
			t.Fatalf("report files: %v", files)
		}
		data, _ := os.ReadFile(files[0])
		checkRedacted(t, "file in a directory of the user's", string(data))
		t.Skip("root-owned destinations need root (tests/run.sh runs as root)")
	}
	rootDir := t.TempDir() // 0700, root's
	openDir := t.TempDir()
	os.Chmod(openDir, 0o1777) // like /tmp: anyone may create files there
	rootSock, rootRecv := journal(t, rootDir)
	openSock, openRecv := journal(t, openDir)
	out := "CRASHGUARD_OUTPUT=stderr,file:" + rootDir + "/r-%p,journal:" + rootSock
	r := run(t, runOpts{preload: true, env: []string{out}}, bin, "not-dumpable")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	checkRedacted(t, "stderr", r.stderr)
	files, _ := filepath.Glob(filepath.Join(rootDir, "r-*"))
	if len(files) != 1 {
		t.Fatalf("report files: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	checkFull(t, "file in a root-owned directory", string(data))
	f := rootRecv()
	checkFull(t, "root-owned journal socket", f["CRASHGUARD_REPORT"])
	if _, ok := f["CRASHGUARD_REDACTED"]; ok {
		t.Fatalf("journal fields: %v", f)
	}

	// Destinations others can read.
	out = "CRASHGUARD_OUTPUT=file:" + openDir + "/r-%p,journal:" + openSock
	run(t, runOpts{preload: true, env: []string{out}}, bin, "not-dumpable")
	files, _ = filepath.Glob(filepath.Join(openDir, "r-*"))
	if len(files) != 1 {
		t.Fatalf("report files: %v", files)
	}
	data, _ = os.ReadFile(files[0])
	checkRedacted(t, "file in a world-writable directory", string(data))
	f = openRecv()
	checkRedacted(t, "journal socket in a world-writable directory", f["CRASHGUARD_REPORT"])
	if f["CRASHGUARD_REDACTED"] != "registers,addresses" {
		t.Fatalf("journal fields: %v", f)
	}

	// JSON: no registers, pc and base null, what was left out said.
	d := checkSchema(t, jsonLine(t, run(t, runOpts{preload: true, env: []string{"CRASHGUARD_FORMAT=json"}}, bin, "not-dumpable")))
	th := d["threads"].([]any)[0].(map[string]any)
	fr := th["frames"].([]any)[0].(map[string]any)
	if _, has := th["registers"]; has || fr["pc"] != nil || fr["function"] != "privileged_reads" || fr["module_offset"] == nil ||
		d["modules"].([]any)[0].(map[string]any)["base"] != nil || len(d["redacted"].([]any)) != 2 || d["redacted_why"] == nil {
		t.Fatalf("JSON: %v", d)
	}

	// The same program, dumpable: the full report on stderr.
	checkFull(t, "stderr of a dumpable process", strings.ReplaceAll(
		run(t, runOpts{preload: true, env: noHelper}, bin, "main-null").stderr, "in main+", "in privileged_reads+"))

	// CRASHGUARD_REDACT=registers: nowhere, whatever the destination.
	out = "CRASHGUARD_OUTPUT=stderr,file:" + rootDir + "/q-%p,journal:" + rootSock
	r = run(t, runOpts{preload: true, env: append([]string{out, "CRASHGUARD_REDACT=registers"}, noHelper...)}, bin, "main-null")
	files, _ = filepath.Glob(filepath.Join(rootDir, "q-*"))
	data, _ = os.ReadFile(files[0])
	f = rootRecv()
	for where, report := range map[string]string{"stderr": r.stderr, "file": string(data), "journal": f["CRASHGUARD_REPORT"]} {
		if strings.Contains(report, "registers:") || strings.Contains(report, " rax ") ||
			!strings.Contains(report, "redacted: registers (CRASHGUARD_REDACT)") || !strings.Contains(report, "memory map (the fault") {
			t.Fatalf("%s with CRASHGUARD_REDACT=registers:\n%s", where, report)
		}
	}
	if f["CRASHGUARD_REDACTED"] != "registers" {
		t.Fatalf("journal fields: %v", f)
	}
	d = checkSchema(t, jsonLine(t, run(t, runOpts{preload: true, env: append([]string{"CRASHGUARD_FORMAT=json", "CRASHGUARD_REDACT=registers"}, noHelper...)}, bin, "main-null")))
	if _, has := d["threads"].([]any)[0].(map[string]any)["registers"]; has || d["redacted_why"] != "CRASHGUARD_REDACT" {
		t.Fatalf("JSON with CRASHGUARD_REDACT=registers: %v", d)
	}

	// A redacted report is still symbolized offline (no pcs in its frame lines).
	report := filepath.Join(t.TempDir(), "report.txt")
	os.WriteFile(report, []byte(run(t, runOpts{preload: true}, bin, "not-dumpable").stderr), 0o644)
	sym := result{stderr: runOut(t, cmdPath, "symbolize", report)}
	wantLine(t, sym, `^#0 in privileged_reads\+0x[0-9a-f]+ \(\S+/reports-\d+\+0x[0-9a-f]+\) at \S+reports\.c:\d+$`)
}

// ---- noise ----

// A report file starts with the report, not an empty line (stderr keeps one: the report
// starts on a line of its own after the program's output).
func TestReportFileStartsWithTheReport(t *testing.T) {
	dir := t.TempDir()
	r := run(t, runOpts{preload: true, env: append([]string{"CRASHGUARD_OUTPUT=stderr,file:" + dir + "/r-%p"}, noHelper...)}, reportsBin(t), "main-null")
	files, _ := filepath.Glob(filepath.Join(dir, "r-*"))
	if len(files) != 1 {
		t.Fatalf("report files: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	if !strings.HasPrefix(string(data), "*** crashguard: SIGSEGV") || !strings.HasPrefix(r.stderr, "\n*** crashguard: SIGSEGV") {
		t.Fatalf("file starts %q, stderr %q", string(data)[:20], r.stderr[:20])
	}
}

// A setuid program run by an unprivileged caller (AT_SECURE: the environment is ignored, so
// no destination can be configured): the caller's stderr gets the redacted report, and the
// full one goes to the system journal when its socket is root's — as systemd-coredump keeps
// the core. Arranged in a mount namespace of the test's own: glibc preloads into a setuid
// program only a set-user-ID library from a system directory (so a copy of ours is mounted
// over one there), and /run/systemd/journal is the test's socket.
func TestSetuidProgramsFullReportGoesToTheSystemJournal(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: a setuid-root program and mounts (tests/run.sh runs as root)")
	}
	for _, tool := range []string{"unshare", "setpriv", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	const shadow = "/usr/lib/x86_64-linux-gnu/libz.so.1" // in a system directory; none of the programs here uses it
	target, err := filepath.EvalSymlinks(shadow)
	if err != nil {
		t.Skipf("no %s to mount over: %v", shadow, err)
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // the caller (nobody) runs the program from here
	os.Chmod(dir, 0o755)
	copyMode := func(from, to string, mode uint32) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Chmod(to, mode); err != nil { // os.Chmod takes the setuid bit as os.ModeSetuid only
			t.Fatal(err)
		}
	}
	lib, prog := filepath.Join(dir, "lib.so"), filepath.Join(dir, "reports-9")
	copyMode(libPath, lib, 0o4755)
	copyMode(reportsBin(t), prog, 0o4755)
	jdir := filepath.Join(dir, "journal") // root's, 0755: written by no one else
	os.Mkdir(jdir, 0o755)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(jdir, "socket"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	script := fmt.Sprintf("mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && mount --bind %s /run/systemd/journal && "+
		"mount --bind %s %s && exec setpriv --reuid=65534 --regid=65534 --clear-groups env LD_PRELOAD=%s %s main-null",
		jdir, lib, target, filepath.Base(shadow), prog)
	r := run(t, runOpts{}, "unshare", "-m", "--propagation", "private", "sh", "-c", script)
	if r.signal != syscall.SIGSEGV && r.exitCode != 128+int(syscall.SIGSEGV) {
		t.Fatalf("want a death by SIGSEGV: %s", r)
	}
	if !strings.Contains(r.stderr, "*** end of crashguard report") {
		t.Skipf("the library was not preloaded into the setuid program here:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "registers:") || !strings.Contains(r.stderr, "redacted: registers, raw addresses and the memory map (privileged process") {
		t.Fatalf("stderr, the caller's: want the redacted report:\n%s", r.stderr)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1<<20)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("nothing in the system journal: %v\n%s", err, r.stderr)
	}
	f := parseJournal(t, buf[:n])
	if rep := f["CRASHGUARD_REPORT"]; !strings.Contains(rep, "registers:") || strings.Contains(rep, "redacted:") || f["CRASHGUARD_REDACTED"] != "" {
		t.Fatalf("the journal's report is not the full one: %v", f)
	}
}
