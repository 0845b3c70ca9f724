// Package dwarfcache turns DWARF debug information into the compact line and inline tables
// the signal handler reads, finds that information where distributions put it, and keeps
// the results on disk by build-id so later starts parse nothing.
package dwarfcache

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"

	"crashguard/debuginfod"

	"golang.org/x/sys/unix"
)

// debugDirs are searched for separate debug files: CRASHGUARD_DEBUG_DIRS (colon-separated)
// first, then the distribution's /usr/lib/debug.
func debugDirs() []string {
	var dirs []string
	for _, d := range strings.Split(os.Getenv("CRASHGUARD_DEBUG_DIRS"), ":") {
		if filepath.IsAbs(d) {
			dirs = append(dirs, d)
		}
	}
	return append(dirs, "/usr/lib/debug")
}

// DebugInfo says where a module's DWARF lives.
type DebugInfo struct {
	Path   string // the file holding .debug_info (the module itself or a separate file)
	Method string // "embedded", "build-id", "debuglink", "debuginfod"
	Dir    string // build-id: the debug directory it was found under
	Server string // debuginfod: the server it was fetched from now ("" if it was cached)
}

func hasDWARF(f *elf.File) bool {
	return f.Section(".debug_info") != nil || f.Section(".zdebug_info") != nil
}

// FindDebugInfo returns where the DWARF for module (already opened as f, at path) is:
// the module itself, /usr/lib/debug/.build-id/xx/rest.debug, the .gnu_debuglink file
// (next to the module, in .debug/, under /usr/lib/debug, CRC-checked), or a debuginfod
// client cache. ok is false when there is none.
func FindDebugInfo(path string, f *elf.File, buildID []byte) (DebugInfo, bool) {
	if hasDWARF(f) {
		return DebugInfo{Path: path, Method: "embedded"}, true
	}
	if len(buildID) > 1 {
		if info, ok := findByBuildID(buildID); ok {
			return info, true
		}
	}
	if name, crc, ok := debugLink(f); ok {
		dir := filepath.Dir(path)
		candidates := []string{filepath.Join(dir, name), filepath.Join(dir, ".debug", name)}
		for _, d := range debugDirs() {
			candidates = append(candidates, filepath.Join(d, dir, name))
		}
		for _, p := range candidates {
			if p != path && fileCRC(p) == crc {
				return DebugInfo{Path: p, Method: "debuglink"}, true
			}
		}
	}
	return DebugInfo{}, false
}

// findByBuildID looks for buildID's debug file under the debug directories and in the
// debuginfod client caches.
func findByBuildID(buildID []byte) (DebugInfo, bool) {
	id := hex.EncodeToString(buildID)
	for _, dir := range debugDirs() {
		p := filepath.Join(dir, ".build-id", id[:2], id[2:]+".debug")
		if debugFileMatches(p, buildID) {
			return DebugInfo{Path: p, Method: "build-id", Dir: dir}, true
		}
	}
	for _, dir := range debuginfodDirs() {
		p := filepath.Join(dir, id, "debuginfo")
		if debugFileMatches(p, buildID) {
			return DebugInfo{Path: p, Method: "debuginfod"}, true
		}
	}
	return DebugInfo{}, false
}

// debuginfodDirs are the debuginfod client caches read: the one elfutils' client uses
// (debuginfod.CacheDir), then the default ones it would use without DEBUGINFOD_CACHE_PATH.
func debuginfodDirs() []string {
	var dirs []string
	if d := debuginfod.CacheDir(); d != "" {
		dirs = append(dirs, d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		dirs = append(dirs, filepath.Join(d, "debuginfod_client"))
	} else if h := os.Getenv("HOME"); h != "" {
		dirs = append(dirs, filepath.Join(h, ".cache", "debuginfod_client"))
	}
	if len(dirs) == 2 && dirs[0] == dirs[1] {
		dirs = dirs[:1]
	}
	return dirs
}

// debugFileMatches opens p and checks that its build-id is the module's.
func debugFileMatches(p string, buildID []byte) bool {
	data, err := MapFile(p)
	if err != nil {
		return false
	}
	defer unix.Munmap(data)
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return false
	}
	return bytes.Equal(BuildID(f), buildID)
}

// BuildID returns the GNU build-id note of f, or nil.
func BuildID(f *elf.File) []byte {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		d, err := s.Data()
		if err != nil {
			continue
		}
		for len(d) >= 12 {
			namesz, descsz, typ := f.ByteOrder.Uint32(d), f.ByteOrder.Uint32(d[4:]), f.ByteOrder.Uint32(d[8:])
			nameEnd := 12 + (uint64(namesz)+3)&^3
			descEnd := nameEnd + (uint64(descsz)+3)&^3
			if descEnd > uint64(len(d)) {
				break
			}
			if typ == 3 && namesz == 4 && string(d[12:15]) == "GNU" {
				return d[nameEnd : nameEnd+uint64(descsz)]
			}
			d = d[descEnd:]
		}
	}
	return nil
}

func debugLink(f *elf.File) (string, uint32, bool) {
	s := f.Section(".gnu_debuglink")
	if s == nil {
		return "", 0, false
	}
	d, err := s.Data()
	if err != nil {
		return "", 0, false
	}
	i := bytes.IndexByte(d, 0)
	if i <= 0 {
		return "", 0, false
	}
	name := string(d[:i])
	off := (i + 4) &^ 3
	if off+4 > len(d) || strings.ContainsRune(name, '/') {
		return "", 0, false
	}
	return name, f.ByteOrder.Uint32(d[off:]), true
}

func fileCRC(p string) uint32 {
	data, err := MapFile(p)
	if err != nil {
		return 0
	}
	defer unix.Munmap(data)
	return crc32.ChecksumIEEE(data)
}

// MapFile maps a regular file read-only, with unix calls: mapped, a large debug file costs
// the helper page cache, not heap.
func MapFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size <= 0 || st.Size > 4<<30 {
		return nil, unix.EINVAL
	}
	return unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_PRIVATE)
}
