package dwarfcache

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCacheRoundTripAndCorruption(t *testing.T) {
	dir := t.TempDir()
	id := []byte{0xab, 0xcd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	entries := []Entry{{Kind: 0, Data: []byte("symbols blob....")}, {Kind: 2, Flags: FlagNote, Data: []byte("no debug information")}}
	if err := Store(dir, id, entries); err != nil {
		t.Fatal(err)
	}
	got, unmap, err := Load(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0].Data, entries[0].Data) || got[1].Flags != FlagNote {
		t.Fatalf("round trip: %+v", got)
	}
	unmap()
	if _, _, err := Load(dir, append([]byte{0xab, 0xcd}, make([]byte, 18)...)); err == nil {
		t.Fatal("a missing file loaded")
	}
	// Every single-byte corruption and every truncation is rejected.
	p := CachePath(dir, id)
	orig, _ := os.ReadFile(p)
	for i := 0; i < len(orig); i++ {
		b := append([]byte(nil), orig...)
		b[i] ^= 0x40
		if _, err := Decode(b, id); err == nil {
			t.Fatalf("corruption at byte %d accepted", i)
		}
	}
	for n := 0; n < len(orig); n++ {
		if _, err := Decode(orig[:n], id); err == nil {
			t.Fatalf("truncation to %d bytes accepted", n)
		}
	}
	// A group-writable file is not trusted.
	os.Chmod(p, 0o666)
	if _, _, err := Load(dir, id); err == nil {
		t.Fatal("group/world-writable cache file trusted")
	}
}

func TestConcurrentWritersBothSucceed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	id := bytes.Repeat([]byte{7}, 20)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = Store(dir, id, []Entry{{Kind: 1, Data: bytes.Repeat([]byte{byte(i)}, 4096)}})
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, unmap, err := Load(dir, id); err != nil {
		t.Fatal(err)
	} else {
		unmap()
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*", "*.tmp.*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

func TestUnwritableCacheDirFails(t *testing.T) {
	if os.Geteuid() == 0 {
		dir := t.TempDir()
		os.Chmod(dir, 0o500)
		// root ignores permissions: use a path under a regular file instead
		f := filepath.Join(dir, "file")
		os.WriteFile(f, nil, 0o600)
		if err := Store(filepath.Join(f, "sub"), bytes.Repeat([]byte{1}, 20), nil); err == nil {
			t.Fatal("store under a regular file succeeded")
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	if err := Store(filepath.Join(dir, "c"), bytes.Repeat([]byte{1}, 20), nil); err == nil {
		t.Fatal("store into a read-only directory succeeded")
	}
}

// Entries are written from where they are (no copy of the whole file): sizes across page
// and word boundaries give the file Encode gives, checksum included.
func TestStoreWritesWhatEncodeLaysOut(t *testing.T) {
	dir := t.TempDir()
	id := bytes.Repeat([]byte{7}, 20)
	var entries []Entry
	for i, n := range []int{5000, 3, 8191, 0, 4096} {
		entries = append(entries, Entry{Kind: uint32(i % 3), Data: bytes.Repeat([]byte{byte(i + 1)}, n)})
	}
	if err := Store(dir, id, entries); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(CachePath(dir, id))
	want, _ := Encode(id, entries)
	if !bytes.Equal(got, want) {
		t.Fatal("stored file differs from Encode's")
	}
	if Checksum(want[cacheHeaderSize:]) != binary.LittleEndian.Uint64(want[56:]) {
		t.Fatal("checksum of the laid-out file is not Checksum")
	}
	if _, err := Decode(got, id); err != nil {
		t.Fatal(err)
	}
}
