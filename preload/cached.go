package preload

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"crashguard/dwarfcache"
	"crashguard/sigsafe"

	"golang.org/x/sys/unix"
)

var tableKinds = []int{sigsafe.Symbols, sigsafe.Unwind, sigsafe.Lines}

// debugf writes one load-time line to stderr when CRASHGUARD_DEBUG is on (raw write: no
// os package inside the host).
func debugf(format string, args ...any) {
	if sigsafe.Debug() {
		unix.Write(2, []byte("crashguard: "+fmt.Sprintf(format, args...)+"\n"))
	}
}

// blobMagic reads the magic and total size every blob starts with.
func blobOK(b []byte, kind int) bool {
	if len(b) < 16 {
		return false
	}
	magic := map[int]uint32{sigsafe.Symbols: 0x4d595347, sigsafe.Unwind: 0x444e5755, sigsafe.Lines: 0x454e494c}[kind]
	return binary.LittleEndian.Uint32(b) == magic && binary.LittleEndian.Uint64(b[8:]) == uint64(len(b))
}

// fromCache publishes a module's tables from the first valid cache file (user directory,
// then the system one). The mapping is kept for the life of the process: the handler may
// read it at any time.
func fromCache(m sigsafe.Module) bool {
	if len(m.BuildID) == 0 {
		return false
	}
	user, system := dwarfcache.CacheDirs()
	for _, dir := range []string{user, system} {
		if dir == "" {
			continue
		}
		entries, _, err := dwarfcache.Load(dir, m.BuildID)
		if err != nil {
			if !strings.Contains(err.Error(), "no such file") {
				debugf("%s: cache ignored: %v", m.Path, err)
			}
			continue
		}
		seen := map[int]bool{}
		for _, e := range entries {
			kind := int(e.Kind)
			switch {
			case kind < 0 || kind > sigsafe.Lines || seen[kind]:
				continue
			case e.Flags&dwarfcache.FlagNote != 0:
				sigsafe.Fail(m.Index, kind, string(e.Data))
			case blobOK(e.Data, kind):
				sigsafe.Publish(m.Index, kind, sigsafe.Mapped(e.Data))
			default:
				continue
			}
			seen[kind] = true
		}
		for _, kind := range tableKinds {
			if !seen[kind] {
				sigsafe.Fail(m.Index, kind, "missing from the cache file")
			}
		}
		debugf("%s: tables from cache %s", m.Path, dwarfcache.CachePath(dir, m.BuildID))
		return true
	}
	return false
}

// toCache stores what was built for a module, failures as notes, in the user cache.
func toCache(m sigsafe.Module, tables map[int]sigsafe.Table, notes map[int]string, took time.Duration) {
	user, _ := dwarfcache.CacheDirs()
	if len(m.BuildID) == 0 || user == "" {
		debugf("%s: built in %v; not cached (no build-id or no cache directory)", m.Path, took)
		return
	}
	b := &Built{Tables: tables, Notes: notes}
	if err := dwarfcache.Store(user, m.BuildID, b.CacheEntries()); err != nil {
		debugf("%s: built in %v; cache not written (tables stay in memory): %v", m.Path, took, err)
		return
	}
	debugf("%s: built in %v; cached to %s", m.Path, took, dwarfcache.CachePath(user, m.BuildID))
}
