package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"crashguard/debuginfod"
	"crashguard/dwarfcache"
	"crashguard/preload"
	"crashguard/sigsafe"
)

const warmHelp = `Builds the tables of programs and libraries into a cache, so that processes that preload
libcrashguard.so start without a helper. Each PATH is a program, a library or a directory
(walked; files that are not dynamically linked x86-64 ELF programs or libraries are passed
over). With each program or library go the libraries it needs (as ld.so --list names them,
the loader included), the vDSO, and libcrashguard.so itself, whose Go part is stored there
too. Modules already cached are left alone.

  --dir DIR       the cache directory (default: the user's cache, docs/cache.md)
  --system        the system cache, /var/cache/crashguard, read by every process
                  (directories 0755); not with --dir
  --library LIB   libcrashguard.so (default: LD_PRELOAD's, next to crashguard, or the
                  standard places: crashguard(1)); an error if none is found
  --refresh       also rebuild cached modules built without debug information that can be
                  found now (a -dbgsym package, a debuginfod download); with no PATH, every
                  module of the cache that records its file
  --force         rebuild every module, cached or not
  --dpkg          add what dpkg installed since the last --dpkg run (the package lists newer
                  than DIR/.dpkg-stamp, under the directories of the Debian package's
                  trigger; debug files under /usr/lib/debug refresh their modules)
  --max-time D    stop starting new modules after D (e.g. 5m); exit status 1 if stopped
  --quiet         print only problems

Inputs that are not dynamically linked x86-64 ELF files are skipped with one line each
("not an ELF file: PATH", "statically linked ...: PATH") and do not change the exit status.
Exit status 1 if a module could not be cached (e.g. it has no build-id) or --max-time
stopped the work.
`

const inspectHelp = `Builds and prints what the tables know about one module: symbol count, unwind rows and
rules, line rows, inlined calls, files, sizes, build time, where its debug information is
(or where it was looked for), and which cache file holds it.
`

// dpkgDirs are the directories whose files the Debian package's trigger watches
// (packaging/debian/triggers): where packages install programs, libraries and debug files.
var dpkgDirs = []string{"/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/lib/", "/lib/", "/usr/libexec/",
	"/usr/games/", "/usr/local/", "/opt/"}

type storeFunc func(dir string, id []byte, entries []dwarfcache.Entry) error

type warmer struct {
	dir             string
	store           storeFunc
	refresh, force  bool
	quiet           bool
	deadline        time.Time
	stopped         bool
	seen            map[string]bool // resolved paths
	ids             map[string]bool // build-ids handled
	built, already  int
	skipped, failed int
	notStarted      int
	problems        io.Writer
}

func warm(args []string) error {
	fs := newFlags("warm")
	dir := fs.String("dir", "", "")
	system := fs.Bool("system", false, "")
	library := fs.String("library", "", "")
	refresh := fs.Bool("refresh", false, "")
	force := fs.Bool("force", false, "")
	dpkg := fs.Bool("dpkg", false, "")
	maxTime := fs.Duration("max-time", 0, "")
	quiet := fs.Bool("quiet", false, "")
	operands, err := parse(fs, args, false)
	if err != nil {
		return err
	}
	switch {
	case *dir != "" && *system:
		return usagef("--dir and --system name two different caches: give one")
	case *refresh && *force:
		return usagef("--refresh and --force exclude each other (--force rebuilds everything)")
	case *maxTime < 0:
		return usagef("--max-time %v: not a duration", *maxTime)
	case len(operands) == 0 && !*dpkg && !*refresh:
		return usagef("name at least one program, library or directory")
	}
	// Debug information that is nowhere here comes from DEBUGINFOD_URLS' servers, saved in
	// their client cache.
	dwarfcache.Debuginfod = debuginfod.FromEnv()
	w := &warmer{store: dwarfcache.Store, refresh: *refresh, force: *force, quiet: *quiet,
		seen: map[string]bool{}, ids: map[string]bool{}, problems: os.Stderr}
	if *maxTime > 0 {
		w.deadline = time.Now().Add(*maxTime)
	}
	switch {
	case *system:
		w.dir, w.store = dwarfcache.SystemCacheDir, dwarfcache.StoreShared
	case *dir != "":
		w.dir = *dir
	default:
		d, err := dwarfcache.WritableCacheDir()
		if err != nil {
			return fmt.Errorf("no cache directory (set --dir or CRASHGUARD_CACHE_DIR): %v", err)
		}
		w.dir = d
	}
	for _, p := range operands {
		if _, err := os.Lstat(p); err != nil {
			return usagef("%s: no such file or directory", p)
		}
	}
	lib, libErr := findLibrary(*library)
	var ue usageError
	if errors.As(libErr, &ue) {
		return libErr
	}

	var stamp string
	var scanStart time.Time
	if *dpkg {
		stamp, scanStart = filepath.Join(w.dir, ".dpkg-stamp"), time.Now()
		files, debugFiles, err := dpkgChanged(stamp)
		if err != nil {
			return err
		}
		for _, d := range debugFiles {
			w.debugFile(d)
		}
		for _, f := range files {
			w.walked(f)
		}
	}
	for _, p := range operands {
		w.operand(p)
	}
	if *refresh && len(operands) == 0 && !*dpkg {
		w.refreshAll()
	}
	w.vdso()
	if libErr != nil {
		fmt.Fprintf(w.problems, "crashguard warm: %v\n", libErr)
		w.failed++
	} else {
		w.module(lib, false)
		dirMode := os.FileMode(0o700)
		if *system {
			dirMode = 0o755
		}
		if path, err := storeGoPart(lib, w.dir, dirMode); err != nil {
			fmt.Fprintf(w.problems, "crashguard warm: %s: Go part not stored: %v\n", lib, err)
			w.failed++
		} else {
			w.say("stored the Go part as %s\n", path)
		}
	}
	w.say("crashguard warm: %d built, %d already cached, %d skipped, %d failed, in %s\n",
		w.built, w.already, w.skipped, w.failed, w.dir)
	if w.stopped {
		return exitStatus{1, fmt.Sprintf("stopped by --max-time: %d modules left (run it again)", w.notStarted)}
	}
	if stamp != "" {
		if err := touch(stamp, scanStart); err != nil {
			fmt.Fprintf(w.problems, "crashguard warm: %v\n", err)
		}
	}
	if w.failed > 0 {
		return exitStatus{1, fmt.Sprintf("%d modules not cached", w.failed)}
	}
	return nil
}

func (w *warmer) say(format string, args ...any) {
	if !w.quiet {
		fmt.Printf(format, args...)
	}
}

// operand is a PATH of the command line: a directory is walked, a file must be a module.
func (w *warmer) operand(p string) {
	st, err := os.Stat(p)
	if err != nil {
		fmt.Fprintf(w.problems, "crashguard warm: %s: %v\n", p, err)
		w.failed++
		return
	}
	if st.IsDir() {
		filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				w.walked(path)
			}
			return nil
		})
		return
	}
	if why := classify(p); why != "" {
		fmt.Fprintf(w.problems, "crashguard warm: %s: %s\n", why, p)
		w.skipped++
		return
	}
	w.module(p, true)
}

// walked is a file found in a directory: passed over quietly unless it is a module.
func (w *warmer) walked(p string) {
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return
	}
	if classify(p) != "" {
		w.skipped++
		return
	}
	w.module(p, true)
}

// classify says why the file at p is no module LD_PRELOAD applies to, or "" if it is one.
func classify(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return "not readable (" + err.Error() + ")"
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != elf.ELFMAG {
		return "not an ELF file"
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return "not a readable ELF file (" + err.Error() + ")"
	}
	if ef.Class != elf.ELFCLASS64 || ef.Machine != elf.EM_X86_64 {
		return "not an x86-64 ELF file (" + ef.Class.String() + " " + ef.Machine.String() + ")"
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return "not a program or shared library (" + ef.Type.String() + ")"
	}
	dynamic, interp := false, false
	for _, prog := range ef.Progs {
		dynamic = dynamic || prog.Type == elf.PT_DYNAMIC
		interp = interp || prog.Type == elf.PT_INTERP
	}
	if !dynamic {
		return "statically linked (LD_PRELOAD never applies)"
	}
	if ef.Type == elf.ET_DYN && !interp {
		if flags, err := ef.DynValue(elf.DT_FLAGS_1); err == nil && len(flags) > 0 && flags[0]&uint64(elf.DF_1_PIE) != 0 {
			return "statically linked, static-pie (LD_PRELOAD never applies)"
		}
	}
	return ""
}

// module caches one module's tables (unless cached and not to be rebuilt) and, with deps,
// those of the libraries it needs.
func (w *warmer) module(p string, deps bool) {
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if w.seen[p] {
		return
	}
	w.seen[p] = true
	id, err := fileBuildID(p)
	if err != nil {
		fmt.Fprintf(w.problems, "crashguard warm: %s: %v\n", p, err)
		w.failed++
		return
	}
	key := hex.EncodeToString(id)
	if !w.ids[key] {
		w.ids[key] = true
		w.build(p, id, "")
	}
	if !deps {
		return
	}
	list, err := dependencies(p)
	if err != nil {
		fmt.Fprintf(w.problems, "crashguard warm: %s: dependencies not listed: %v\n", p, err)
		w.failed++
	}
	for _, d := range list {
		w.module(d, false)
	}
}

// build writes p's tables unless they are cached and stay as they are; why, when given,
// says why a cached module is rebuilt.
func (w *warmer) build(p string, id []byte, why string) {
	if why == "" && !w.force {
		if entries, unmap, err := dwarfcache.Load(w.dir, id); err == nil {
			stale, now := false, dwarfcache.Source{}
			if w.refresh {
				stale, now = dwarfcache.Stale(entries, p, id)
			}
			unmap()
			if !stale {
				w.already++
				w.say("already cached %s\n", p)
				return
			}
			why = "debug information appeared: " + now.Debug
		}
	}
	if !w.deadline.IsZero() && time.Now().After(w.deadline) {
		w.stopped = true
		w.notStarted++
		return
	}
	start := time.Now()
	b, err := preload.BuildTables(p, id, nil, -1)
	if err == nil {
		err = w.store(w.dir, id, b.CacheEntries())
	}
	if err != nil {
		fmt.Fprintf(w.problems, "crashguard warm: %s: %v\n", p, err)
		w.failed++
		return
	}
	w.built++
	if why != "" {
		why = " (" + why + ")"
	}
	w.say("cached %s (build-id %x) in %v: %s%s\n", p, id, time.Since(start).Round(time.Millisecond), summary(b), why)
}

func (w *warmer) vdso() {
	image, id, err := preload.VDSOImage()
	if err != nil {
		fmt.Fprintf(w.problems, "crashguard warm: vDSO not cached: %v\n", err)
		return
	}
	if !w.force {
		if _, unmap, err := dwarfcache.Load(w.dir, id); err == nil {
			unmap()
			w.say("already cached linux-vdso.so.1\n")
			return
		}
	}
	b, err := preload.BuildTables("linux-vdso.so.1", id, image, -1)
	if err == nil {
		err = w.store(w.dir, id, b.CacheEntries())
	}
	if err != nil {
		fmt.Fprintf(w.problems, "crashguard warm: vDSO: %v\n", err)
		return
	}
	w.say("cached linux-vdso.so.1 (build-id %x)\n", id)
}

// refreshAll rebuilds every module of the cache whose debug information appeared since it was
// built, found by the module path its source entry records.
func (w *warmer) refreshAll() {
	files, _ := filepath.Glob(filepath.Join(w.dir, "??", "*.cg"))
	for _, f := range files {
		id, err := hex.DecodeString(filepath.Base(filepath.Dir(f)) + strings.TrimSuffix(filepath.Base(f), ".cg"))
		if err != nil {
			continue
		}
		w.refreshID(id, "")
	}
}

// debugFile is a debug file dpkg installed: the module it belongs to is rebuilt if its tables
// lack it. /usr/lib/debug/.build-id/xx/rest.debug names the build-id; other files under
// /usr/lib/debug mirror the module's path.
func (w *warmer) debugFile(p string) {
	if m := buildIDDebugFile.FindStringSubmatch(p); m != nil {
		if id, err := hex.DecodeString(m[1] + m[2]); err == nil {
			w.refreshID(id, p)
		}
		return
	}
	module := strings.TrimSuffix(strings.TrimPrefix(p, "/usr/lib/debug"), ".debug")
	id, err := fileBuildID(module)
	if err != nil {
		return
	}
	w.refreshID(id, p)
}

var buildIDDebugFile = regexp.MustCompile(`/\.build-id/([0-9a-f]{2})/([0-9a-f]+)\.debug$`)

// refreshID rebuilds the cached module of build-id id when debug information can be found
// for it now and its tables were built without.
func (w *warmer) refreshID(id []byte, debugFile string) {
	key := hex.EncodeToString(id)
	if w.ids[key] {
		return
	}
	entries, unmap, err := dwarfcache.Load(w.dir, id)
	if err != nil {
		return // not cached here: the module's first start (or warm) builds it with the file
	}
	src, _ := dwarfcache.EntrySource(entries)
	stale := false
	if src.Module != "" {
		stale, _ = dwarfcache.Stale(entries, src.Module, id)
	}
	unmap()
	if !stale {
		return
	}
	if now, err := fileBuildID(src.Module); err != nil || !bytes.Equal(now, id) {
		return // the module's file was replaced since: its new build-id is another entry
	}
	w.ids[key] = true
	w.seen[src.Module] = true
	why := "debug information appeared"
	if debugFile != "" {
		why += ": " + debugFile
	}
	w.build(src.Module, id, why)
}

// dpkgChanged lists the files under dpkgDirs that packages installed since the stamp was
// written: from dpkg's file lists (DPKG_ADMINDIR, default /var/lib/dpkg) modified after it.
// Debug files under /usr/lib/debug come back apart.
func dpkgChanged(stamp string) (files, debugFiles []string, err error) {
	admin := os.Getenv("DPKG_ADMINDIR")
	if admin == "" {
		admin = "/var/lib/dpkg"
	}
	var since time.Time
	if st, err := os.Stat(stamp); err == nil {
		since = st.ModTime()
	}
	lists, err := filepath.Glob(filepath.Join(admin, "info", "*.list"))
	if err != nil || lists == nil {
		return nil, nil, fmt.Errorf("--dpkg: no package lists in %s/info", admin)
	}
	seen := map[string]bool{}
	for _, l := range lists {
		st, err := os.Stat(l)
		if err != nil || !st.ModTime().After(since) {
			continue
		}
		data, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		for _, p := range strings.Split(string(data), "\n") {
			if p == "" || seen[p] || !underAny(p, dpkgDirs) {
				continue
			}
			seen[p] = true
			if strings.HasPrefix(p, "/usr/lib/debug/") {
				if strings.HasSuffix(p, ".debug") || !strings.Contains(p, "/.build-id/") {
					debugFiles = append(debugFiles, p)
				}
				continue
			}
			files = append(files, p)
		}
	}
	return files, debugFiles, nil
}

func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}

func touch(p string, t time.Time) error {
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		return err
	}
	return os.Chtimes(p, t, t)
}

func fileBuildID(p string) ([]byte, error) {
	f, err := elf.Open(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, err
		}
		return nil, errors.New("not an ELF file")
	}
	defer f.Close()
	id := dwarfcache.BuildID(f)
	if len(id) == 0 {
		return nil, errors.New("no GNU build-id: cannot be cached (link with -Wl,--build-id)")
	}
	return id, nil
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
	if st, err := os.Lstat(final); err == nil && st.Mode().IsRegular() && st.Size() == int64(len(image)) &&
		st.Mode().Perm() == 0o644 && ownedByUsOrRoot(st) {
		return final, nil // what go_part.c would use as it is
	}
	tmp := fmt.Sprintf("%s.tmp.%d", final, os.Getpid())
	if err := os.WriteFile(tmp, image, 0o644); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Chmod(tmp, 0o644); err != nil { // the umask may have narrowed it
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return final, nil
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
	var stderr bytes.Buffer
	cmd := exec.Command(interp, "--list", path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	deps := []string{interp}
	re := regexp.MustCompile(`(?m)^\s*(?:\S+ => )?(/\S+) \(0x`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		deps = append(deps, m[1])
	}
	if err != nil {
		if msg := strings.TrimSpace(strings.SplitN(stderr.String(), "\n", 2)[0]); msg != "" {
			err = errors.New(msg)
		}
		return deps, err
	}
	if missing := regexp.MustCompile(`(?m)^\s*(\S+) => not found`).FindAllStringSubmatch(string(out), -1); missing != nil {
		var names []string
		for _, m := range missing {
			names = append(names, m[1])
		}
		return deps, fmt.Errorf("not found: %s", strings.Join(names, ", "))
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
	operands, err := parse(newFlags("inspect"), args, false)
	if err != nil {
		return err
	}
	path, err := one(operands, "one module (a program or library)")
	if err != nil {
		return err
	}
	if st, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s: no such file", path)
	} else if st.IsDir() {
		return fmt.Errorf("%s: a directory, not a module", path)
	}
	if why := classify(path); strings.HasPrefix(why, "not ") {
		return fmt.Errorf("%s: %s", path, why)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: not an ELF file", path)
	}
	id := dwarfcache.BuildID(f)
	f.Close()
	start := time.Now()
	b, err := preload.BuildTables(path, id, nil, -1)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	fmt.Printf("module    %s\nbuild-id  %x\nbuilt in  %v\ntables    %s\n", path, id, time.Since(start).Round(time.Microsecond), summary(b))
	fmt.Printf("debug     %s\n", b.Source)
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
		if entries, unmap, err := dwarfcache.Load(dir, id); err == nil {
			stale, now := dwarfcache.Stale(entries, path, id)
			unmap()
			fmt.Printf("cached    %s\n", dwarfcache.CachePath(dir, id))
			if stale {
				fmt.Printf("stale     built without debug information, which is there now (%s): crashguard warm --refresh\n", now.Debug)
			}
		} else if !os.IsNotExist(err) && !strings.Contains(err.Error(), "no such file") {
			fmt.Printf("cache     %s: %v\n", dwarfcache.CachePath(dir, id), err)
		}
	}
	return nil
}

func ownedByUsOrRoot(st os.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && (sys.Uid == 0 || int(sys.Uid) == os.Geteuid())
}
