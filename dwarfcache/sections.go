package dwarfcache

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
)

// Go's elf.File.DWARF copies every .debug_* section into the heap (decompressing the
// compressed ones there), the location lists and macros it never reads included. For a
// large library that is hundreds of MB before a single unit is read. mappedDWARF gives
// debug/dwarf only the sections it reads, without copies:
//
//   - an uncompressed section is a slice of the file's mapping;
//   - a compressed one (SHF_COMPRESSED zlib/zstd, or .zdebug) is decompressed, one section at
//     a time through a fixed buffer, into an unnamed temporary file (ScratchDir) that is
//     then mapped; small ones (up to heapSectionMax) into the heap.
//
// Pages of a mapping count in the process's RSS once touched, so the reader drops them
// (madvise MADV_DONTNEED, mappedDWARF.release) every releaseEvery bytes of .debug_info read:
// the kernel's page cache keeps them, and a later read maps them again.

// dwarfSectionNames are the sections debug/dwarf reads for units, lines and ranges.
var dwarfSectionNames = []string{"abbrev", "info", "str", "line", "ranges", "addr", "line_str", "str_offsets", "rnglists"}

// ScratchDir is where compressed debug sections are decompressed to (an unnamed file, gone
// when closed). Empty: os.TempDir's directory. The helper sets its cache directory.
var ScratchDir string

const (
	heapSectionMax = 4 << 20 // a decompressed section up to this size stays in the heap
	maxSectionSize = 4 << 30 // refuse larger (decompressed) sections
	releaseEvery   = 16 << 20
)

type mappedDWARF struct {
	data  *dwarf.Data
	file  []byte   // the ELF file's mapping: the part holding sections is released
	temps [][]byte // mappings of decompressed sections
	lo    uint64   // file range of the sections read from the file mapping
	hi    uint64
}

func dwarfSuffix(name string) string {
	switch {
	case strings.HasPrefix(name, ".debug_"):
		return name[7:]
	case strings.HasPrefix(name, ".zdebug_"):
		return name[8:]
	}
	return ""
}

// needsRelocation: a relocatable object's debug sections need its relocations applied,
// which elf.File.DWARF does.
func needsRelocation(f *elf.File) bool {
	if f.Type == elf.ET_EXEC {
		return false
	}
	for _, r := range f.Sections {
		if (r.Type == elf.SHT_RELA || r.Type == elf.SHT_REL) && int(r.Info) < len(f.Sections) &&
			dwarfSuffix(f.Sections[r.Info].Name) != "" {
			return true
		}
	}
	return false
}

// openMappedDWARF reads f's DWARF over data, the mapping f was parsed from. With nil data
// (or a relocatable object), it is elf.File.DWARF's copy.
func openMappedDWARF(f *elf.File, data []byte) (*mappedDWARF, error) {
	m := &mappedDWARF{file: data, lo: ^uint64(0)}
	if data == nil || needsRelocation(f) {
		d, err := f.DWARF()
		m.data = d
		return m, err
	}
	secs := map[string][]byte{}
	for _, s := range f.Sections {
		suffix := dwarfSuffix(s.Name)
		if suffix == "" || secs[suffix] != nil || !contains(dwarfSectionNames, suffix) {
			continue
		}
		b, err := m.section(s)
		if err != nil {
			m.close()
			return nil, fmt.Errorf("%s: %v", s.Name, err)
		}
		secs[suffix] = b
	}
	d, err := dwarf.New(secs["abbrev"], nil, nil, secs["info"], secs["line"], nil, secs["ranges"], secs["str"])
	if err != nil {
		m.close()
		return nil, err
	}
	for _, name := range dwarfSectionNames[5:] {
		if b := secs[name]; b != nil {
			if err := d.AddSection(".debug_"+name, b); err != nil {
				m.close()
				return nil, err
			}
		}
	}
	m.data = d
	return m, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// section returns one section's bytes: a slice of the file mapping, or decompressed.
func (m *mappedDWARF) section(s *elf.Section) ([]byte, error) {
	if s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	if s.Flags&elf.SHF_COMPRESSED == 0 && !strings.HasPrefix(s.Name, ".zdebug") {
		if s.Offset > uint64(len(m.file)) || s.FileSize > uint64(len(m.file))-s.Offset {
			return nil, errors.New("section past the end of the file")
		}
		m.lo, m.hi = min(m.lo, s.Offset), max(m.hi, s.Offset+s.FileSize)
		return m.file[s.Offset : s.Offset+s.FileSize], nil
	}
	r := s.Open() // decompresses; for .zdebug, sets s.Size from its header
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	defer m.dropFileRange(s.Offset, s.FileSize) // the compressed bytes are read once
	size := s.Size
	if size > maxSectionSize {
		return nil, fmt.Errorf("decompressed size %d out of range", size)
	}
	if size <= heapSectionMax {
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	if b, err := m.decompressToFile(r, size); err == nil {
		return b, nil
	}
	// No usable scratch file (read-only, no O_TMPFILE): the heap, as elf.File.DWARF does.
	r.Seek(0, io.SeekStart)
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (m *mappedDWARF) decompressToFile(r io.Reader, size uint64) ([]byte, error) {
	dir := ScratchDir
	if dir == "" {
		dir = "/var/tmp" // on disk where /tmp may be memory (tmpfs)
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	w := fdWriter(fd)
	if n, err := io.CopyBuffer(w, io.LimitReader(r, int64(size)), make([]byte, 1<<20)); err != nil || uint64(n) != size {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	b, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	m.temps = append(m.temps, b)
	return b, nil
}

type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := unix.Write(int(w), p[n:])
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// dropFileRange drops the pages of the file mapping in [off, off+size).
func (m *mappedDWARF) dropFileRange(off, size uint64) {
	if off >= uint64(len(m.file)) || size > uint64(len(m.file))-off {
		return
	}
	lo := off &^ (uint64(unix.Getpagesize()) - 1)
	unix.Madvise(m.file[lo:off+size], unix.MADV_DONTNEED)
}

// release drops the pages read so far from the process (not from the page cache).
func (m *mappedDWARF) release() {
	if m.lo < m.hi {
		m.dropFileRange(m.lo, m.hi-m.lo)
	}
	for _, t := range m.temps {
		unix.Madvise(t, unix.MADV_DONTNEED)
	}
}

func (m *mappedDWARF) close() {
	for _, t := range m.temps {
		unix.Munmap(t)
	}
	m.temps = nil
}
