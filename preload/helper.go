package preload

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"crashguard/debuginfod"
	"crashguard/dwarfcache"
	"crashguard/sigsafe"

	"golang.org/x/sys/unix"
)

var tableKinds = []int{sigsafe.Symbols, sigsafe.Unwind, sigsafe.Lines}

// Module is one module a host asked tables for: its path as the host's loader named it and
// the build-id of the image it mapped.
type Module struct {
	Path    string
	BuildID []byte
}

// HelperRequest is what a host asks of a helper (sigsafe/spawn.c builds the arguments):
//
//	--helper --library=PATH [--urgent] [--dir=DIR]... [--memfd=FD] -- BUILDID:PATH...
type HelperRequest struct {
	Dirs    []string // where to write, in order of preference
	Memfd   int      // the host's memfd archive (dwarfcache.Archive), -1 if none
	Urgent  bool     // a host is waiting at a crash
	Modules []Module
}

// HelperMemoryLimit is the Go heap's soft limit in a helper.
const HelperMemoryLimit = 192 << 20

// ParseHelperArgs reads a helper's arguments (without the program name).
func ParseHelperArgs(args []string) (*HelperRequest, error) {
	r := &HelperRequest{Memfd: -1}
	if len(args) == 0 || args[0] != "--helper" {
		return nil, errors.New("not a helper's arguments (--helper first)")
	}
	i := 1
	for ; i < len(args) && args[i] != "--"; i++ {
		switch a := args[i]; {
		case a == "--urgent":
			r.Urgent = true
		case strings.HasPrefix(a, "--dir="):
			r.Dirs = append(r.Dirs, a[len("--dir="):])
		case strings.HasPrefix(a, "--memfd="):
			fd, err := strconv.Atoi(a[len("--memfd="):])
			if err != nil || fd < 0 {
				return nil, fmt.Errorf("bad option %q", a)
			}
			r.Memfd = fd
		case strings.HasPrefix(a, "--library="):
		default:
			return nil, fmt.Errorf("unknown option %q", a)
		}
	}
	for _, a := range args[min(i+1, len(args)):] {
		id, path, ok := strings.Cut(a, ":")
		raw, err := hex.DecodeString(id)
		if !ok || err != nil || len(raw) < 2 || len(raw) > 32 || path == "" {
			return nil, fmt.Errorf("bad module %q (want BUILDID:PATH)", a)
		}
		r.Modules = append(r.Modules, Module{Path: path, BuildID: raw})
	}
	return r, nil
}

// Helper is the helper process's work: build the tables of every module asked for that no
// other process is building and that is not cached yet, and write each to the cache as soon
// as it is done (a waiting handler maps it at once). It returns the process's exit status.
// Nothing here can harm the host: it is another process, and every failure is a line of
// debug output and a module left without a cache file.
func Helper(args []string) (status int) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			debugf("helper stopped by a Go panic (recovered): %v\n%s", r, debug.Stack())
			status = 2
		}
	}()
	// The helper's memory budget (docs/cache.md): the collector works harder as the heap
	// nears it, instead of letting garbage grow to twice what is live. A soft limit: a
	// module whose tables alone need more still gets them. GOMEMLIMIT never reaches a
	// helper (precompute_setup.c passes on only what it names).
	debug.SetMemoryLimit(HelperMemoryLimit)
	req, err := ParseHelperArgs(args)
	if err != nil {
		debugf("helper: %v", err)
		return 2
	}
	dir := ""
	for _, d := range req.Dirs {
		if err := dwarfcache.PrivateDir(d); err != nil {
			debugf("helper: cache directory %v", err)
			continue
		}
		dir = d
		break
	}
	if dir == "" && req.Memfd >= 0 {
		return intoArchive(req, start)
	}
	if dir == "" {
		debugf("helper: no usable cache directory among %q: tables not computed", req.Dirs)
		return 1
	}
	locks, err := dwarfcache.OpenLocks(dir)
	if err != nil {
		debugf("helper: %v", err)
		return 1
	}
	defer locks.Close()
	dwarfcache.ScratchDir = dir // compressed debug sections are decompressed there, not in memory
	// The host's DEBUGINFOD_URLS (passed on by precompute_setup.c; never by an AT_SECURE
	// host, which starts no helper): debug information found nowhere here is fetched.
	dwarfcache.Debuginfod = debuginfod.FromEnv()
	// Every lock first, so that a waiting handler knows at once what is coming.
	var jobs, fetches []Module
	for _, m := range req.Modules {
		if err := locks.TryLock(m.BuildID); err != nil {
			debugf("%s: %v", m.Path, err)
			continue
		}
		if cached(dir, m) {
			locks.Unlock(m.BuildID)
			continue
		}
		// Modules whose debug information must be downloaded come last: a slow server
		// holds back no other module's tables (a crashing host waits for them).
		if dwarfcache.Debuginfod != nil && !dwarfcache.HasLocalDebugInfo(m.Path, m.BuildID) {
			fetches = append(fetches, m)
		} else {
			jobs = append(jobs, m)
		}
	}
	jobs = append(jobs, fetches...)
	for _, m := range jobs {
		buildAndStore(dir, m)
		locks.Unlock(m.BuildID)
	}
	dwarfcache.RemoveDebris(dir) // of writers killed before us (a service stop kills its cgroup)
	debugf("helper: %d of %d modules built into %s in %v", len(jobs), len(req.Modules), dir,
		time.Since(start).Round(time.Millisecond))
	return 0
}

// intoArchive builds every module into the host's memfd archive: no cache directory could be
// used, so these tables serve that host alone (and cannot be shared or locked).
func intoArchive(req *HelperRequest, start time.Time) int {
	a, err := dwarfcache.OpenArchive(req.Memfd)
	if err != nil {
		debugf("helper: %v", err)
		return 1
	}
	for _, m := range req.Modules {
		b := build(m)
		if b == nil {
			continue
		}
		file, err := dwarfcache.Encode(m.BuildID, b.CacheEntries())
		if err == nil {
			err = a.Add(file)
		}
		if err != nil {
			debugf("%s: not handed to the host: %v", m.Path, err)
			continue
		}
		debugf("%s: handed to the host in its memfd (no cache directory could be used)", m.Path)
	}
	debugf("helper: %d modules into the host's memory in %v", len(req.Modules), time.Since(start).Round(time.Millisecond))
	return 0
}

// cached says whether dir holds a valid cache file for m (another helper may just have
// written it); an invalid one is said and then replaced. So is one built without debug
// information that can be found now: the helper is running and has the file open anyway,
// so that check costs nothing a host would pay (docs/cache.md, "Stale tables").
func cached(dir string, m Module) bool {
	entries, unmap, err := dwarfcache.Load(dir, m.BuildID)
	if err == nil {
		stale, now := dwarfcache.Stale(entries, m.Path, m.BuildID)
		unmap()
		if stale {
			debugf("%s: built without debug information, which is there now (%s): building it again", m.Path, now.Debug)
		}
		return !stale
	}
	if !errors.Is(err, unix.ENOENT) {
		debugf("%s: cache file ignored, building it again: %v", m.Path, err)
	}
	return false
}

// build builds one module's tables; a module that cannot be read at all gets notes saying
// why, so that no later host asks again. nil after a recovered panic.
func build(m Module) (b *Built) {
	defer func() {
		if r := recover(); r != nil {
			debugf("%s: reading it failed (recovered panic: %v)", m.Path, r)
			b = nil
		}
	}()
	defer debug.FreeOSMemory() // one module's garbage is not the next one's peak
	var image []byte
	if !strings.HasPrefix(m.Path, "/") {
		img, id, err := VDSOImage() // the vDSO has no file: the kernel maps the same image everywhere
		if err != nil || !bytes.Equal(id, m.BuildID) {
			debugf("%s: no file and not this kernel's vDSO", m.Path)
			return nil
		}
		image = img
	}
	b, err := BuildTables(m.Path, m.BuildID, image, -1)
	if err != nil {
		debugf("%s: %v", m.Path, err)
		b = &Built{Tables: map[int]sigsafe.Table{}, Notes: map[int]string{},
			Source: dwarfcache.Source{Module: m.Path, LookedIn: []string{"nowhere (" + err.Error() + ")"}}}
		for _, kind := range tableKinds {
			b.Notes[kind] = err.Error()
		}
	}
	return b
}

// buildAndStore builds one module's tables and writes its cache file.
func buildAndStore(dir string, m Module) {
	start := time.Now()
	b := build(m)
	if b == nil {
		return
	}
	if err := dwarfcache.Store(dir, m.BuildID, b.CacheEntries()); err != nil {
		debugf("%s: built in %v; cache not written: %v", m.Path, time.Since(start).Round(time.Millisecond), err)
		return
	}
	lines := "no file:line: " + b.Notes[sigsafe.Lines]
	if b.LinesFrom != "" {
		lines = "file:line " + b.LinesFrom
	}
	debugf("%s: built in %v; cached to %s", m.Path, time.Since(start).Round(time.Millisecond),
		dwarfcache.CachePath(dir, m.BuildID))
	debugf("%s: %s", m.Path, lines)
}

// debugf writes one line when CRASHGUARD_DEBUG is on: to stderr for "1" (the helper keeps
// the host's stderr only then), appended to the file it names when it is a path.
func debugf(format string, args ...any) {
	v := os.Getenv("CRASHGUARD_DEBUG")
	if v == "" || v == "0" {
		return
	}
	line := fmt.Sprintf("crashguard: helper %d: "+format+"\n", append([]any{os.Getpid()}, args...)...)
	if strings.HasPrefix(v, "/") {
		if f, err := os.OpenFile(v, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			f.WriteString(line)
			f.Close()
		}
		return
	}
	os.Stderr.WriteString(line)
}

// VDSOImage copies this process's vDSO (the same image in every process on this kernel) and
// returns it with its build-id.
func VDSOImage() ([]byte, []byte, error) {
	auxv, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return nil, nil, err
	}
	var base uint64
	for i := 0; i+16 <= len(auxv); i += 16 {
		if binary.LittleEndian.Uint64(auxv[i:]) == 33 { // AT_SYSINFO_EHDR
			base = binary.LittleEndian.Uint64(auxv[i+8:])
		}
	}
	if base == 0 {
		return nil, nil, errors.New("no vDSO")
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		return nil, nil, err
	}
	defer mem.Close()
	image := make([]byte, 2*4096)
	for {
		n, err := mem.ReadAt(image, int64(base))
		if err != nil && n < len(image) {
			image = image[:n]
			break
		}
		if f, err := elf.NewFile(bytes.NewReader(image)); err == nil && len(f.Sections) > 0 {
			if id := dwarfcache.BuildID(f); id != nil {
				return image, id, nil
			}
		}
		if len(image) >= 1<<20 {
			break
		}
		image = make([]byte, 2*len(image))
	}
	return nil, nil, errors.New("vDSO image unreadable")
}
