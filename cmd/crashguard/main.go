// Command crashguard works with libcrashguard.so from outside the programs it protects:
//
//	crashguard warm [--dir DIR | --system] [--library LIB] PATH...
//	crashguard inspect MODULE
//	crashguard check [--library LIB] [PROGRAM [ARG...]]
//	crashguard symbolize [--search DIR]... [--debuginfod URL] [REPORT]
//
// docs/crashguard.md describes each command.
package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"crashguard/debuginfod"
	"crashguard/dwarfcache"
	"crashguard/preload"
	"crashguard/sigsafe"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  crashguard warm [--dir DIR | --system] [--library LIB] PATH...
      build the tables of each program or library, its dependencies, the vDSO and
      libcrashguard.so itself into the cache, so that processes start without Go
  crashguard inspect MODULE
      print what the tables know about one module
  crashguard check [--library LIB] [PROGRAM [ARG...]]
      run PROGRAM (default /bin/true) under the library with CRASHGUARD_DEBUG=1
  crashguard symbolize [--search DIR]... [--debuginfod URL] [REPORT]
      print a text report (file or stdin) again with names, file:line and inlined calls,
      finding each module by build-id (its path, the debug directories, the DIRs) and its
      debug information there or from debuginfod (DEBUGINFOD_URLS, or URL)
`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "warm":
		err = warm(os.Args[2:])
	case "inspect":
		err = inspect(os.Args[2:])
	case "check":
		err = check(os.Args[2:])
	case "symbolize":
		err = symbolize(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashguard:", err)
		os.Exit(1)
	}
}

// defaultLibrary is the libcrashguard.so named in LD_PRELOAD, if any.
func defaultLibrary() string {
	for _, p := range strings.FieldsFunc(os.Getenv("LD_PRELOAD"), func(r rune) bool { return r == ':' || r == ' ' }) {
		if strings.Contains(filepath.Base(p), "crashguard") {
			return p
		}
	}
	return ""
}

func warm(args []string) error {
	fs := flag.NewFlagSet("warm", flag.ExitOnError)
	dir := fs.String("dir", "", "cache directory (default: the user cache)")
	system := fs.Bool("system", false, "write the system cache /var/cache/crashguard, readable by every user")
	library := fs.String("library", defaultLibrary(), "libcrashguard.so, cached too (default: from LD_PRELOAD)")
	fs.Parse(args)
	store := dwarfcache.Store
	switch {
	case *system:
		*dir, store = dwarfcache.SystemCacheDir, dwarfcache.StoreShared
	case *dir == "":
		d, err := dwarfcache.WritableCacheDir()
		if err != nil {
			return fmt.Errorf("no cache directory (set --dir or CRASHGUARD_CACHE_DIR): %v", err)
		}
		*dir = d
	}
	if fs.NArg() == 0 {
		return errors.New("warm: name at least one program or library")
	}
	// Debug information that is nowhere here comes from DEBUGINFOD_URLS' servers, saved in
	// their client cache.
	dwarfcache.Debuginfod = debuginfod.FromEnv()
	paths := fs.Args()
	if *library != "" {
		paths = append(paths, *library)
	}
	modules := map[string]bool{}
	var order []string
	add := func(p string) {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if abs, err := filepath.Abs(p); err == nil && !modules[abs] {
			modules[abs] = true
			order = append(order, abs)
		}
	}
	for _, p := range paths {
		add(p)
		deps, err := dependencies(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "crashguard: %s: dependencies not listed: %v\n", p, err)
		}
		for _, d := range deps {
			add(d)
		}
	}
	failed := 0
	for _, p := range order {
		if err := warmOne(p, *dir, store); err != nil {
			fmt.Fprintf(os.Stderr, "crashguard: %s: %v\n", p, err)
			failed++
		}
	}
	if image, id, err := preload.VDSOImage(); err == nil {
		b, err := preload.BuildTables("linux-vdso.so.1", id, image, -1)
		if err == nil {
			err = store(*dir, id, b.CacheEntries())
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "crashguard: vDSO: %v\n", err)
		} else {
			fmt.Printf("cached linux-vdso.so.1 (build-id %x)\n", id)
		}
	}
	if *library != "" {
		dirMode := os.FileMode(0o700)
		if *system {
			dirMode = 0o755
		}
		if path, err := storeGoPart(*library, *dir, dirMode); err != nil {
			fmt.Fprintf(os.Stderr, "crashguard: %s: Go part not stored: %v\n", *library, err)
			failed++
		} else {
			fmt.Printf("stored the Go part as %s\n", path)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d modules not cached", failed, len(order))
	}
	return nil
}

// storeGoPart writes the library's embedded Go part where its cold starts look for it
// (go_part.c): go-part-<first 32 hex digits of its SHA-256>.so, renamed into place. A
// process that may write no cache directory (setuid, read-only home) then still finds it in
// the system cache instead of copying it into memory.
func storeGoPart(library, dir string, dirMode os.FileMode) (string, error) {
	f, err := elf.Open(library)
	if err != nil {
		return "", err
	}
	defer f.Close()
	section := f.Section(".crashguard_go")
	if section == nil {
		return "", errors.New("no .crashguard_go section (not built by build.sh?)")
	}
	image, err := section.Data()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(image)
	final := filepath.Join(dir, fmt.Sprintf("go-part-%x.so", sum[:16]))
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.tmp.%d", final, os.Getpid())
	if err := os.WriteFile(tmp, image, 0o644); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return final, nil
}

func warmOne(path, dir string, store func(string, []byte, []dwarfcache.Entry) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return err
	}
	id := dwarfcache.BuildID(f)
	if len(id) == 0 {
		return errors.New("no GNU build-id: cannot be cached")
	}
	start := time.Now()
	b, err := preload.BuildTables(path, id, nil, -1)
	if err != nil {
		return err
	}
	if err := store(dir, id, b.CacheEntries()); err != nil {
		return err
	}
	fmt.Printf("cached %s (build-id %x) in %v: %s\n", path, id, time.Since(start).Round(time.Millisecond), summary(b))
	return nil
}

// dependencies asks the dynamic loader which libraries path needs (ld.so --list runs
// none of the program's code).
func dependencies(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				interp = strings.TrimRight(string(b), "\x00")
			}
		}
	}
	if interp == "" {
		interp = "/lib64/ld-linux-x86-64.so.2"
	}
	out, err := exec.Command(interp, "--list", path).Output()
	if err != nil {
		return nil, err
	}
	deps := []string{interp}
	re := regexp.MustCompile(`(?m)^\s*(?:\S+ => )?(/\S+) \(0x`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		deps = append(deps, m[1])
	}
	return deps, nil
}

// summary counts what the tables hold, from their headers (docs/tables.md).
func summary(b *preload.Built) string {
	le := binary.LittleEndian
	var parts []string
	if t, ok := b.Tables[sigsafe.Symbols]; ok {
		parts = append(parts, fmt.Sprintf("%d symbols", le.Uint32(t.Bytes()[16:])))
	} else {
		parts = append(parts, "no symbols ("+b.Notes[sigsafe.Symbols]+")")
	}
	if t, ok := b.Tables[sigsafe.Unwind]; ok {
		parts = append(parts, fmt.Sprintf("%d unwind rows, %d rules", le.Uint32(t.Bytes()[16:]), le.Uint32(t.Bytes()[24:])))
	} else {
		parts = append(parts, "no unwind table ("+b.Notes[sigsafe.Unwind]+")")
	}
	if t, ok := b.Tables[sigsafe.Lines]; ok {
		d := t.Bytes()
		parts = append(parts, fmt.Sprintf("%d line rows, %d inlined calls, %d files (debug information %s)",
			le.Uint32(d[16:]), le.Uint32(d[32:]), le.Uint32(d[40:]), b.LinesFrom))
	} else {
		parts = append(parts, "no file:line ("+b.Notes[sigsafe.Lines]+")")
	}
	return strings.Join(parts, "; ")
}

func inspect(args []string) error {
	if len(args) != 1 {
		usage()
	}
	path := args[0]
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	id := dwarfcache.BuildID(f)
	f.Close()
	start := time.Now()
	b, err := preload.BuildTables(path, id, nil, -1)
	if err != nil {
		return err
	}
	fmt.Printf("module    %s\nbuild-id  %x\nbuilt in  %v\ntables    %s\n", path, id, time.Since(start).Round(time.Microsecond), summary(b))
	total := 0
	for _, kind := range []int{sigsafe.Symbols, sigsafe.Unwind, sigsafe.Lines} {
		if t, ok := b.Tables[kind]; ok {
			total += len(t.Bytes())
			fmt.Printf("size      %s %d bytes\n", []string{"symbols", "unwind", "lines"}[kind], len(t.Bytes()))
		}
	}
	fmt.Printf("size      total %d bytes\n", total)
	for _, dir := range append(dwarfcache.CacheDirs(), dwarfcache.SystemCacheDir) {
		if len(id) == 0 {
			continue
		}
		if _, unmap, err := dwarfcache.Load(dir, id); err == nil {
			unmap()
			fmt.Printf("cached    %s\n", dwarfcache.CachePath(dir, id))
		} else if !os.IsNotExist(err) && !strings.Contains(err.Error(), "no such file") {
			fmt.Printf("cache     %s: %v\n", dwarfcache.CachePath(dir, id), err)
		}
	}
	return nil
}

func check(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	library := fs.String("library", defaultLibrary(), "libcrashguard.so")
	fs.Parse(args)
	if *library == "" {
		return errors.New("check: name the library with --library or LD_PRELOAD")
	}
	prog := fs.Args()
	if len(prog) == 0 {
		prog = []string{"/bin/true"}
	}
	cmd := exec.Command(prog[0], prog[1:]...)
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+*library, "CRASHGUARD_DEBUG=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}
