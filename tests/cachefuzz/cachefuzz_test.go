package cachefuzz

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"crashguard/dwarfcache"
	"crashguard/preload"
)

// realCacheFile is the cache file crashguard would write for the given ELF file.
func realCacheFile(t testing.TB, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	id := dwarfcache.BuildID(f)
	b, err := preload.BuildTables(path, id, nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	out, err := dwarfcache.Encode(id, b.CacheEntries())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withChecksum fixes the content checksum after a mutation, so that the fuzzer reaches the
// lookups the handler makes once a file passed it (a file failing it is never used).
func withChecksum(b []byte) []byte {
	if len(b) >= 64 {
		binary.LittleEndian.PutUint64(b[56:], dwarfcache.Checksum(b[64:]))
	}
	return b
}

// identity is the build-id the file's header claims (offset 16, length at 48).
func identity(b []byte) []byte {
	if len(b) < 64 {
		return nil
	}
	n := binary.LittleEndian.Uint32(b[48:])
	if n == 0 || n > 32 {
		return nil
	}
	return b[16 : 16+n]
}

func addresses(b []byte) []uint64 {
	addrs := []uint64{0, 1, 0x1000, 0x1135, 0xffffffff, 1 << 40}
	for i := 0; i+8 <= len(b) && len(addrs) < 64; i += 97 {
		addrs = append(addrs, binary.LittleEndian.Uint64(b[i:])&0xffffff)
	}
	return addrs
}

// scratch is the one file each fuzzing process rewrites: a directory per run would cost
// more than the run.
var scratch = filepath.Join(os.TempDir(), fmt.Sprintf("crashguard-cachefuzz-%d.cg", os.Getpid()))

func load(t *testing.T, data []byte, addrs []uint64) (status, named int) {
	return loadAs(t, data, addrs, false)
}

// loadAs loads as the constructor does, or as the handler does at a crash.
func loadAs(t *testing.T, data []byte, addrs []uint64, atCrash bool) (status, named int) {
	if err := os.WriteFile(scratch, data, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(scratch)
	return LoadAndQuery(scratch, identity(data), addrs, atCrash)
}

// smallProgram compiles a small C program with symbols, unwind rules, lines and an
// inlined call: the seed of the fuzzer (a large seed makes every run slow).
func smallProgram(tb testing.TB) string {
	dir := tb.TempDir()
	src := filepath.Join(dir, "small.c")
	code := `static inline int twice(int x) { return 2 * x; }
__attribute__((noinline)) int leaf(int *p) { return twice(*p) + 1; }
__attribute__((noinline)) int middle(int *p) { return leaf(p) * 3; }
int main(int argc, char **argv) { (void)argv; return middle(argc > 5 ? &argc : 0); }
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(dir, "small")
	if out, err := exec.Command("gcc", "-O1", "-g", "-o", bin, src).CombinedOutput(); err != nil {
		tb.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

func TestRealFileLoadsAndDamagedOnesAreRefusedOrIgnored(t *testing.T) {
	good := realCacheFile(t, smallProgram(t))
	var text []uint64 // every 16 bytes of the first 64 KiB: some of it is the program's code
	for a := uint64(0); a < 1<<16; a += 16 {
		text = append(text, a)
	}
	if got, named := load(t, good, text); got != 1 || named == 0 {
		t.Fatalf("a file crashguard wrote was not loaded (%d) or named nothing (%d)", got, named)
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-1] ^= 0xff // in a table's body: only the checksum can tell
	if got, _ := load(t, flipped, text); got != 2 {
		t.Fatalf("a flipped byte passed the checksum: %d", got)
	}
	flipped[len(flipped)-1] ^= 0xff
	flipped[72] ^= 0xff // in the directory: refused outright, or ignored by its checksum
	if got, _ := load(t, flipped, text); got == 1 {
		t.Fatalf("a damaged directory was used: %d", got)
	}
	if got, _ := load(t, good[:len(good)/2], text); got != 0 {
		t.Fatalf("a truncated file was loaded: %d", got)
	}
}

// A table whose header lies past the first 4 KiB of its file is not checked at load (one
// pread less per table at every start); its header's own total_size must still never be what
// bounds the handler's reads, whatever the checksum says (review finding 5: a table claiming
// 2^40 bytes and 0xF0000000 rows made the handler read far outside the mapping).
func TestTableHeaderPastFirstPageIsBoundedByTheDirectory(t *testing.T) {
	bin := smallProgram(t)
	data, _ := os.ReadFile(bin)
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	id := dwarfcache.BuildID(f)
	b, err := preload.BuildTables(bin, id, nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	// The symbol table as a long note first: the unwind table then starts past 4 KiB.
	entries := []dwarfcache.Entry{{Kind: 0, Flags: dwarfcache.FlagNote, Data: bytes.Repeat([]byte("n"), 6000)}}
	for _, e := range b.CacheEntries() {
		if e.Kind != 0 {
			entries = append(entries, e)
		}
	}
	file, err := dwarfcache.Encode(id, entries)
	if err != nil {
		t.Fatal(err)
	}
	dir := file[64:]
	off := binary.LittleEndian.Uint64(dir[24+8:]) // the second entry: the unwind table
	if binary.LittleEndian.Uint32(dir[24:]) != 1 || off < 4096 {
		t.Fatalf("layout: unwind table at %d", off)
	}
	binary.LittleEndian.PutUint64(file[off+8:], 1<<40)       // total_size
	binary.LittleEndian.PutUint32(file[off+16:], 0xF0000000) // row_count
	file = withChecksum(file)
	var addrs []uint64
	for a := uint64(0); a < 1<<14; a += 4 {
		addrs = append(addrs, a)
	}
	for _, atCrash := range []bool{false, true} {
		// A fault here kills the test binary: the assertion is that we get back at all.
		if got, _ := loadAs(t, file, addrs, atCrash); atCrash && got != 0 {
			t.Errorf("at a crash, a table whose size disagrees with the directory was accepted (%d)", got)
		}
	}
}

func FuzzCacheReader(f *testing.F) {
	good := realCacheFile(f, smallProgram(f))
	f.Add(good, false)
	f.Add(good[:200], true)
	f.Add([]byte("CGCACHE1"), false)
	f.Fuzz(func(t *testing.T, data []byte, atCrash bool) {
		b := withChecksum(append([]byte(nil), data...))
		loadAs(t, b, addresses(b), atCrash)
	})
}
