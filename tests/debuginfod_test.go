package tests

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Debug information on a debuginfod server (elfutils' own, Debian's debuginfod package),
// started by the test on 127.0.0.1 over a directory holding split debug files.

func buildID(t *testing.T, bin string) string {
	t.Helper()
	m := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindStringSubmatch(runOut(t, "readelf", "-n", bin))
	if m == nil {
		t.Fatalf("%s has no build-id", bin)
	}
	return m[1]
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDebuginfod serves dir (debuginfod -F) and waits until it serves each build-id.
func startDebuginfod(t *testing.T, dir string, ids ...string) string {
	t.Helper()
	requireTool(t, "debuginfod", "debuginfod")
	port := freePort(t)
	cmd := exec.Command("debuginfod", "-F", dir, "-p", fmt.Sprint(port), "-d", filepath.Join(t.TempDir(), "db.sqlite"))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for {
			resp, err := http.Get(url + "/buildid/" + id + "/debuginfo")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("debuginfod does not serve %s after 30 s:\n%s", id, log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return url
}

var servedBuilds atomic.Int32

// served builds a stripped inline.c whose debug file only a debuginfod server has. Its
// build-id is its own: no other test's cache entry (built without the debug file) is
// found for it.
func served(t *testing.T, flags ...string) (bin, id string, debug []byte) {
	t.Helper()
	flags = append(flags, fmt.Sprintf("-Wl,--build-id=0x%08x%08x%016x", os.Getpid(), servedBuilds.Add(1), time.Now().UnixNano()))
	dir := t.TempDir()
	bin = filepath.Join(dir, "stripped")
	debugFile := filepath.Join(dir, "stripped.debug")
	src := filepath.Join(repoDir, "tests", "crashers", "inline.c")
	for _, c := range [][]string{
		append([]string{"gcc", "-g", "-o", bin, src}, flags...),
		{"objcopy", "--only-keep-debug", bin, debugFile},
		{"strip", "--strip-all", bin},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	debug, err := os.ReadFile(debugFile)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(debugFile)
	return bin, buildID(t, bin), debug
}

func serveDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// clientEnv: a debuginfod client cache of the test's own, found the way gdb finds it
// ($XDG_CACHE_HOME/debuginfod_client), and no DEBUGINFOD_* of the caller's.
func clientEnv(t *testing.T, urls string) (env []string, cache string) {
	t.Helper()
	xdg := t.TempDir()
	return []string{"DEBUGINFOD_URLS=" + urls, "DEBUGINFOD_CACHE_PATH=", "XDG_CACHE_HOME=" + xdg,
		"DEBUGINFOD_TIMEOUT=1", "DEBUGINFOD_MAXSIZE=", "DEBUGINFOD_MAXTIME="}, filepath.Join(xdg, "debuginfod_client")
}

var inlinedChain = []string{
	`^#0 0x[0-9a-f]+ in read_cell \[inlined\] \(\S+\) at \S+inline\.c:11$`,
	`^#1 0x[0-9a-f]+ in sum_cells \[inlined\] \(\S+\) at \S+inline\.c:17$`,
	`^#2 0x[0-9a-f]+ in table_total\+0x[0-9a-f]+ \(\S+\) at \S+inline\.c:23$`,
}

func TestDebuginfodSymbolizeStrippedReport(t *testing.T) {
	bin, id, debug := served(t, "-O2")
	url := startDebuginfod(t, serveDir(t, map[string][]byte{"inline.debug": debug}), id)
	r := run(t, runOpts{preload: true, env: coldStart(t)}, bin)
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	if strings.Contains(r.stderr, "inline.c:") {
		t.Fatalf("the stripped program's report has lines without debuginfod:\n%s", r.stderr)
	}
	report := filepath.Join(t.TempDir(), "report.txt")
	os.WriteFile(report, []byte(r.stderr), 0o644)
	symbolize := func(env []string, args ...string) result {
		t.Helper()
		out := run(t, runOpts{env: env}, cmdPath, append([]string{"symbolize"}, args...)...)
		if out.exitCode != 0 {
			t.Fatalf("symbolize: %s", out)
		}
		out.stderr, out.stdout = out.stdout, out.stderr // wantLine reads stderr
		return out
	}
	check := func(out result, cache string) {
		t.Helper()
		for _, p := range inlinedChain {
			wantLine(t, out, p)
		}
		wantLine(t, out, `^  module `+regexp.QuoteMeta(bin)+`: file:line from debuginfod server `+regexp.QuoteMeta(url)+
			` \(saved as `+regexp.QuoteMeta(filepath.Join(cache, id, "debuginfo"))+`\)$`)
		if strings.Contains(out.stderr, "no file:line: no debug information") {
			t.Fatalf("the report's note that there were no lines is kept:\n%s", out.stderr)
		}
	}
	env, cache := clientEnv(t, url)
	check(symbolize(env, report), cache)

	// One-off: --debuginfod, with no DEBUGINFOD_URLS at all.
	env, cache = clientEnv(t, "")
	check(symbolize(env, "--debuginfod", url, report), cache)

	// A report from another machine: the program is not here; the debug file from the
	// server names the functions too.
	os.Rename(bin, bin+".elsewhere")
	env, cache = clientEnv(t, url)
	check(symbolize(env, report), cache)
}

func TestDebuginfodReportHasLinesAndFillsTheClientCache(t *testing.T) {
	bin, id, debug := served(t, "-O2")
	url := startDebuginfod(t, serveDir(t, map[string][]byte{"inline.debug": debug}), id)
	env, cache := clientEnv(t, url)
	r := run(t, runOpts{preload: true, env: append(env, coldStart(t)...)}, bin)
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	for _, p := range inlinedChain {
		wantLine(t, r, p)
	}
	got, err := os.ReadFile(filepath.Join(cache, id, "debuginfo"))
	if err != nil || !bytes.Equal(got, debug) {
		t.Fatalf("the client cache does not hold the debug file where gdb looks: %v", err)
	}
	// elfutils' own client (gdb's) finds it there without asking any server.
	requireTool(t, "debuginfod-find", "debuginfod")
	find := exec.Command("debuginfod-find", "debuginfo", id)
	find.Env = append(os.Environ(), "DEBUGINFOD_URLS=http://127.0.0.1:1", "DEBUGINFOD_CACHE_PATH=", "XDG_CACHE_HOME="+filepath.Dir(cache))
	if out, err := find.Output(); err != nil || strings.TrimSpace(string(out)) != filepath.Join(cache, id, "debuginfo") {
		t.Fatalf("debuginfod-find: %v %q", err, out)
	}
}

// A server that is down, slow, has nothing or answers garbage: one line in the report says
// so, nothing waits longer than DEBUGINFOD_TIMEOUT, and the report is the one without
// debuginfod otherwise.
func TestDebuginfodFailuresAreOneLineNotes(t *testing.T) {
	bin, _, _ := served(t, "-O1")
	// The real server, serving another program's debug file only: 404.
	_, otherID, otherDebug := served(t, "-O2")
	real := startDebuginfod(t, serveDir(t, map[string][]byte{"other.debug": otherDebug}), otherID)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}))
	defer slow.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("garbage "), 1000))
	}))
	defer garbage.Close()
	down := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))

	baseline := run(t, runOpts{preload: true, env: coldStart(t)}, bin)
	for _, c := range []struct{ name, url, cause string }{
		{"down", down, "connection refused"},
		{"slow", slow.URL, `no answer within 1s \(DEBUGINFOD_TIMEOUT\)`},
		{"404", real, `not found \(HTTP 404\)`},
		{"garbage", garbage.URL, "the answer is not an ELF file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env, cache := clientEnv(t, c.url)
			start := time.Now()
			r := run(t, runOpts{preload: true, env: append(env, coldStart(t)...)}, bin)
			if took := time.Since(start); took > 8*time.Second {
				t.Fatalf("the crash took %v with a 1 s timeout", took)
			}
			if r.signal != syscall.SIGSEGV {
				t.Fatalf("%s", r)
			}
			wantLine(t, r, `^  module `+regexp.QuoteMeta(bin)+`: no file:line: no debug information \(not in the module, no build-id or debuglink file\); debuginfod `+
				regexp.QuoteMeta(c.url)+`: `+c.cause+`$`)
			if a, b := frames(t, r.stderr), frames(t, baseline.stderr); strings.Join(a, "|") != strings.Join(b, "|") {
				t.Fatalf("frames differ from the run without debuginfod:\n%q\n%q", a, b)
			}
			if _, err := os.Stat(filepath.Join(cache, buildID(t, bin), "debuginfo")); (err == nil) != (c.name == "404") {
				t.Fatalf("only a 404 is remembered (as elfutils does): %v", err)
			}
		})
	}
}
