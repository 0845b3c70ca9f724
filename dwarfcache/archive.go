package dwarfcache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Archive is where a helper puts cache files when no cache directory can be used: a memfd
// the host created and mapped before starting it, so the tables still reach that host
// (docs/cache.md, "The memfd archive"). Layout: a 64-byte header ("CGMEMFD1", then at 8
// the little-endian count of bytes of complete records, stored last), then records
// { u32 length; u32 reserved; a cache file; padding to 8 }. Records are only appended.
type Archive struct {
	mem  []byte
	used uint64 // bytes of records after the header
}

const archiveHeader = 64

// OpenArchive maps the memfd fd (its size is what the host gave it).
func OpenArchive(fd int) (*Archive, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	if st.Size < archiveHeader || st.Size > 1<<32 {
		return nil, fmt.Errorf("memfd: size %d out of range", st.Size)
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	copy(mem, "CGMEMFD1")
	return &Archive{mem: mem, used: binary.LittleEndian.Uint64(mem[8:])}, nil
}

// Add appends one cache file and publishes it.
func (a *Archive) Add(file []byte) error {
	need := 8 + (uint64(len(file))+7)&^7
	at := archiveHeader + a.used
	if len(file) > 1<<31 || at+need > uint64(len(a.mem)) {
		return errors.New("memfd archive full")
	}
	binary.LittleEndian.PutUint32(a.mem[at:], uint32(len(file)))
	copy(a.mem[at+8:], file)
	a.used += need
	// Last, with a release store: a reader that sees the count sees the record.
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&a.mem[8])), a.used)
	return nil
}

// Find returns the cache file for buildID in the archive, if one was added (tests, inspect).
func (a *Archive) Find(buildID []byte) ([]byte, bool) {
	for at := uint64(archiveHeader); at+8 <= archiveHeader+a.used; {
		n := uint64(binary.LittleEndian.Uint32(a.mem[at:]))
		file := a.mem[at+8 : at+8+n]
		if _, err := Decode(file, buildID); err == nil {
			return file, true
		}
		at += 8 + (n+7)&^7
	}
	return nil, false
}
