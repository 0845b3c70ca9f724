package tests

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bmatcuk/doublestar/v4"
)

// The constructor matches CRASHGUARD_INCLUDE/EXCLUDE in C (before any Go may run); its
// answers must be doublestar's on every pattern/path pair of this corpus.
func TestGlobMatcherAgreesWithDoublestar(t *testing.T) {
	bin := filepath.Join(workDir, "globcheck")
	if out, err := exec.Command("gcc", "-O2", "-I", repoDir, "-o", bin, filepath.Join(repoDir, "tests", "crashers", "globcheck.c"),
		filepath.Join(repoDir, "globmatch.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	patterns := []string{"**", "/opt/app/**", "/opt/**/bin/*", "/usr/bin/*", "/usr/*/python3*", "/a/[bc]/x", "/a/[!b]/x",
		"/a/?/x", "/srv/**/*.so", "/**/lib*", "/opt/app", "/opt/*", "**/bin/**", "/x/**/y/**/z", "*",
		"/opt/{app,srv}/**", "/usr/{bin,sbin,local/*}/*", "/{a,x}/{[bc],y}/{x,z}", "{/opt/app,/usr/bin/true}",
		"/x/{y,}/z", "/srv/{lib/,}lib*.so", "/{opt/{app,bin},usr}/**", "/a/{b,[!z]}/x", "/usr/bin/{tr{ue,ix},x}"}
	paths := []string{"/opt/app", "/opt/app/", "/opt/app/bin/server", "/opt/bin/x", "/opt/a/b/bin/x", "/usr/bin/true",
		"/usr/bin/sub/true", "/usr/local/python3.11", "/a/c/x", "/a/b/x", "/a/bb/x", "/srv/lib/libx.so", "/srv/libx.so",
		"/lib/libc.so.6", "/x/y/z", "/x/1/y/2/z", "/x/y", "relative/bin/tool", "bin", ""}
	var in strings.Builder
	for _, p := range patterns {
		for _, s := range paths {
			in.WriteString(p + "\t" + s + "\n")
		}
	}
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(out))
	i, checked := 0, 0
	for _, p := range patterns {
		for _, s := range paths {
			want, err := doublestar.Match(p, s)
			if err != nil {
				t.Fatalf("doublestar %q: %v", p, err)
			}
			if (got[i] == "1") != want {
				t.Errorf("%q against %q: C says %s, doublestar %v", p, s, got[i], want)
			}
			i++
			checked++
		}
	}
	t.Logf("%d pattern/path pairs agree with doublestar", checked)
}

// Loaded everywhere, armed only where the executable's path matches.
func TestIncludeExcludePrograms(t *testing.T) {
	bin := coreBin(t)
	dir := filepath.Dir(bin)
	cases := []struct {
		env      []string
		reported bool
	}{
		{[]string{"CRASHGUARD_INCLUDE=" + dir + "/**"}, true},
		{[]string{"CRASHGUARD_INCLUDE=/opt/app/**"}, false},
		{[]string{"CRASHGUARD_INCLUDE=/opt/app/**:" + dir + "/core-*"}, true},
		{[]string{"CRASHGUARD_EXCLUDE=" + dir + "/**"}, false},
		{[]string{"CRASHGUARD_INCLUDE=/**", "CRASHGUARD_EXCLUDE=/usr/**"}, true},
		// Braces hold commas that do not separate the list's patterns.
		{[]string{"CRASHGUARD_INCLUDE=/opt/{a,b}/**," + dir + "/{nothing,core-*}"}, true},
		{[]string{"CRASHGUARD_EXCLUDE=/opt/x:{/usr/bin/*," + dir + "/core-*}"}, false},
	}
	for _, c := range cases {
		r := run(t, runOpts{preload: true, env: append(c.env, "CRASHGUARD_DEBUG=1")}, bin, "null")
		if r.signal != syscall.SIGSEGV {
			t.Fatalf("%v: %s", c.env, r)
		}
		if got := strings.Contains(r.stderr, "*** crashguard: SIGSEGV"); got != c.reported {
			t.Fatalf("%v: reported %v, want %v\n%s", c.env, got, c.reported, r.stderr)
		}
		if !c.reported && !strings.Contains(r.stderr, "not covered by CRASHGUARD_INCLUDE/CRASHGUARD_EXCLUDE") {
			t.Fatalf("%v: no explanation at load:\n%s", c.env, r.stderr)
		}
	}
}
