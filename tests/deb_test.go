package tests

// The Debian package: built with dpkg-deb by packaging/build-deb.sh, installed into a
// scratch root with dpkg --root (which runs maintainer scripts chrooted there), then another
// package installed after it: its programs and libraries must have their tables in the
// system cache of that root, put there by crashguard's file trigger.

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"crashguard/dwarfcache"
)

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// buildDeb makes a package of the files (path in the package → file on disk) with dpkg-deb.
func buildDeb(t *testing.T, name, version string, files map[string]string) string {
	t.Helper()
	stage := t.TempDir()
	os.MkdirAll(filepath.Join(stage, "DEBIAN"), 0o755)
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: amd64\nMaintainer: tests <tests@localhost>\nDescription: %s\n made by the tests\n", name, version, name)
	os.WriteFile(filepath.Join(stage, "DEBIAN", "control"), []byte(control), 0o644)
	for in, from := range files {
		os.MkdirAll(filepath.Join(stage, filepath.Dir(in)), 0o755)
		copyFile(t, from, filepath.Join(stage, in), 0o755)
	}
	deb := filepath.Join(t.TempDir(), name+".deb")
	mustRun(t, "dpkg-deb", "--root-owner-group", "--build", stage, deb)
	return deb
}

// scratchRoot is a directory dpkg can install into and chroot its maintainer scripts into:
// a shell, the C library and the loader (copied from this system), /dev/null, an empty dpkg
// database, and a stand-in libc6 package for crashguard's dependency.
func scratchRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "bin", "lib64",
		"lib/x86_64-linux-gnu", "dev", "tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		os.WriteFile(filepath.Join(root, f), nil, 0o644)
	}
	copyFile(t, "/bin/sh", filepath.Join(root, "bin", "sh"), 0o755)
	libs := mustRun(t, "ldd", "/bin/sh", cmdPath)
	for _, m := range regexp.MustCompile(`(/\S+\.so[.\d]*) \(0x`).FindAllStringSubmatch(libs, -1) {
		dir := "lib/x86_64-linux-gnu"
		if strings.Contains(m[1], "ld-linux") {
			dir = "lib64"
		}
		copyFile(t, m[1], filepath.Join(root, dir, filepath.Base(m[1])), 0o755)
	}
	mustRun(t, "mknod", "-m", "666", filepath.Join(root, "dev", "null"), "c", "1", "3")
	libc6 := buildDeb(t, "libc6", "2.36-9", nil)
	mustRun(t, "dpkg", "--root="+root, "-i", libc6)
	return root
}

func cachedIn(t *testing.T, cache, file string) bool {
	t.Helper()
	id, err := hex.DecodeString(buildIDOf(t, file))
	if err != nil {
		t.Fatal(err)
	}
	_, unmap, err := dwarfcache.Load(cache, id)
	if err != nil {
		return false
	}
	unmap()
	return true
}

func TestDebianPackageKeepsTheSystemCacheWarm(t *testing.T) {
	for _, tool := range []string{"dpkg", "dpkg-deb", "groff", "ldd", "mknod"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (tests/run.sh installs it)", tool)
		}
	}
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(repoDir, "packaging", "build-deb.sh"), out)
	cmd.Env = append(os.Environ(), "CRASHGUARD_BUILT="+workDir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, b)
	}
	version, _ := os.ReadFile(filepath.Join(repoDir, "VERSION"))
	deb := filepath.Join(out, "crashguard_"+strings.TrimSpace(string(version))+"_amd64.deb")
	contents := mustRun(t, "dpkg-deb", "-c", deb)
	for _, want := range []string{"./usr/lib/x86_64-linux-gnu/libcrashguard.so", "./usr/bin/crashguard",
		"./usr/share/man/man1/crashguard.1.gz", "./usr/share/man/man8/libcrashguard.8.gz",
		"./usr/share/bash-completion/completions/crashguard", "./usr/share/doc/crashguard/copyright",
		"./usr/share/doc/crashguard/crashguard.md"} {
		if !strings.Contains(contents, want+"\n") {
			t.Fatalf("the package lacks %s:\n%s", want, contents)
		}
	}
	control := mustRun(t, "dpkg-deb", "-I", deb)
	if !strings.Contains(control, "postinst") || !strings.Contains(control, "triggers") || !strings.Contains(control, "Depends: libc6") {
		t.Fatalf("control:\n%s", control)
	}

	// The manual pages: the sections of docs/crashguard.md, formatted without a warning.
	extract := t.TempDir()
	mustRun(t, "dpkg-deb", "-x", deb, extract)
	for page, want := range map[string][]string{
		"usr/share/man/man1/crashguard.1.gz":    {".TH CRASHGUARD 1", `crashguard \- `, ".SH COMMANDS", ".SH EXIT STATUS", `crashguard list`},
		"usr/share/man/man8/libcrashguard.8.gz": {".TH LIBCRASHGUARD 8", `libcrashguard.so \- `, ".SH ENVIRONMENT", "CRASHGUARD_INCLUDE"},
	} {
		f, err := os.Open(filepath.Join(extract, page))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		roff, _ := io.ReadAll(zr)
		f.Close()
		for _, w := range want {
			if !bytes.Contains(roff, []byte(w)) {
				t.Fatalf("%s lacks %q", page, w)
			}
		}
		groff := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
		groff.Stdin = bytes.NewReader(roff)
		if warnings, err := groff.CombinedOutput(); err != nil || len(warnings) > 0 {
			t.Fatalf("groff on %s: %v\n%s", page, err, warnings)
		}
	}
	// The completion is bash that loads.
	mustRun(t, "bash", "-c", "source "+filepath.Join(extract, "usr/share/bash-completion/completions/crashguard")+" && complete -p crashguard")

	// Installed into a scratch root: its postinst warms the system cache there.
	root := scratchRoot(t)
	mustRun(t, "dpkg", "--root="+root, "-i", deb)
	cache := filepath.Join(root, "var", "cache", "crashguard")
	if !cachedIn(t, cache, filepath.Join(root, "usr/lib/x86_64-linux-gnu/libcrashguard.so")) {
		t.Fatalf("the library's own tables are not in the system cache: %v", mustRun(t, "ls", "-laR", cache))
	}
	if parts, _ := filepath.Glob(filepath.Join(cache, "go-part-*.so")); len(parts) != 1 {
		t.Fatalf("the Go part is not stored in the system cache")
	}
	if got := mustRun(t, "chroot", root, "/usr/bin/crashguard", "--version"); got != cli(t, nil, "--version").stdout {
		t.Fatalf("the installed command says %q", got)
	}

	// Another package afterwards: a program, a library, a script, and a program without a
	// build-id (which cannot be cached: the installation must succeed all the same).
	prog := compile(t, "status.c", "-O2", "-g")
	lib := compile(t, "plugin.c", "-O2", "-shared", "-fPIC")
	noID := filepath.Join(t.TempDir(), "no-build-id")
	mustRun(t, "gcc", "-O2", "-Wl,--build-id=none", "-o", noID, filepath.Join(repoDir, "tests", "crashers", "status.c"))
	script := filepath.Join(t.TempDir(), "tool.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho tool\n"), 0o755)
	other := buildDeb(t, "cg-test-app", "1.0", map[string]string{
		"usr/bin/cg-test-prog":                      prog,
		"usr/lib/x86_64-linux-gnu/libcgtestplug.so": lib,
		"usr/bin/cg-test-tool":                      script,
		"usr/sbin/cg-test-noid":                     noID,
	})
	if cachedIn(t, cache, prog) || cachedIn(t, cache, lib) {
		t.Fatalf("cached before the package was installed?")
	}
	install := mustRun(t, "dpkg", "--root="+root, "-i", other)
	if !strings.Contains(install, "Processing triggers for crashguard") {
		t.Fatalf("the trigger did not run:\n%s", install)
	}
	if !cachedIn(t, cache, filepath.Join(root, "usr/bin/cg-test-prog")) || !cachedIn(t, cache, filepath.Join(root, "usr/lib/x86_64-linux-gnu/libcgtestplug.so")) {
		t.Fatalf("the new package's modules are not in the system cache:\n%s", install)
	}
	status := mustRun(t, "dpkg", "--root="+root, "-s", "cg-test-app", "crashguard")
	if strings.Count(status, "Status: install ok installed") != 2 {
		t.Fatalf("after the trigger:\n%s", status)
	}
	log, _ := os.ReadFile(filepath.Join(root, "var", "log", "crashguard", "warm.log"))
	if !strings.Contains(string(log), "/usr/sbin/cg-test-noid: no GNU build-id") {
		t.Fatalf("warm.log does not say why a module was not cached:\n%s", log)
	}
	// The next package's trigger run does not build the first one's again.
	third := buildDeb(t, "cg-test-empty", "1.0", map[string]string{"usr/bin/cg-test-tool2": script})
	before, _ := os.Stat(filepath.Join(cache, ".dpkg-stamp"))
	mustRun(t, "dpkg", "--root="+root, "-i", third)
	after, _ := os.Stat(filepath.Join(cache, ".dpkg-stamp"))
	if !after.ModTime().After(before.ModTime()) {
		t.Fatalf("the stamp did not move: %v, %v", before.ModTime(), after.ModTime())
	}
}
