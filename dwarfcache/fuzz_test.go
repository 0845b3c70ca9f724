package dwarfcache

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Debug files and cache files are read from disk a host can be pointed at: malformed input
// must give an error, never a panic or a runaway.

func FuzzExtract(f *testing.F) {
	dir := f.TempDir()
	bin := filepath.Join(dir, "seed")
	if out, err := exec.Command("gcc", "-O2", "-g", "-o", bin, "../tests/crashers/inline.c").CombinedOutput(); err == nil {
		if data, err := os.ReadFile(bin); err == nil {
			f.Add(data)
		}
	} else {
		f.Logf("gcc: %v %s", err, out)
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		if tab, err := ExtractWithin(ef, time.Second); err == nil {
			if _, err := tab.Blob(); err != nil {
				return
			}
		}
		// The helper's way: sections read in place from a mapping of the file.
		mem, err := unix.Mmap(-1, 0, len(data), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err != nil {
			return
		}
		defer unix.Munmap(mem)
		copy(mem, data)
		mf, err := elf.NewFile(bytes.NewReader(mem))
		if err != nil {
			return
		}
		if tab, err := ExtractMapped(mf, mem, time.Second); err == nil {
			tab.Blob()
		}
	})
}

func FuzzDecodeCache(f *testing.F) {
	id := bytes.Repeat([]byte{0xab}, 20)
	if b, err := Encode(id, []Entry{{Kind: 0, Data: []byte("GSYM....0123456789abcdef")}, {Kind: 2, Flags: FlagNote, Data: []byte("note")}}); err == nil {
		f.Add(b)
	}
	f.Add([]byte("CGCACHE1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := Decode(data, id)
		if err != nil {
			return
		}
		for _, e := range entries {
			_ = e.Data[len(e.Data):] // every entry lies inside the file
		}
	})
}
