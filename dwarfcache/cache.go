package dwarfcache

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// On-disk cache of a module's tables, keyed by build-id: docs/cache.md specifies the format.
//
//	header (64 bytes): magic "CGCACHE1", u32 version, u32 table count, u8 build-id[32],
//	    u32 build-id length, u32 reserved, u64 checksum of bytes 64..end
//	directory: count × { u32 kind, u32 flags, u64 offset, u64 size }
//	tables: the blobs exactly as published in memory (8-byte aligned); flags bit 0 marks an
//	    entry that holds a one-line note explaining why that table does not exist
//
// Files are written under a temporary name and renamed into place, so a reader sees a whole
// file or none; they are immutable afterwards.

const (
	cacheMagic      = "CGCACHE1"
	cacheVersion    = 1
	cacheHeaderSize = 64
	dirEntrySize    = 24
	FlagNote        = 1
)

// Entry is one table (or the note saying why it is missing) in a cache file.
type Entry struct {
	Kind  uint32
	Flags uint32
	Data  []byte
	// Pieces, when set, are the data instead, written one after the other (a large table
	// is not joined into one buffer to be written). Decode always fills Data.
	Pieces [][]byte
}

func (e Entry) pieces() [][]byte {
	if e.Pieces != nil {
		return e.Pieces
	}
	return [][]byte{e.Data}
}

// Checksum is the cache's content hash: 64-bit words, multiply-xorshift, little-endian;
// the same function is implemented in C for the Go-free start.
func Checksum(b []byte) uint64 {
	h := uint64(0x9e3779b97f4a7c15) ^ uint64(len(b))
	for len(b) >= 8 {
		h ^= binary.LittleEndian.Uint64(b)
		h *= 0xff51afd7ed558ccd
		h ^= h >> 32
		b = b[8:]
	}
	var tail [8]byte
	copy(tail[:], b)
	h ^= binary.LittleEndian.Uint64(tail[:])
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 29
	return h
}

// SystemCacheDir is read by every process and written by `crashguard warm --system`.
const SystemCacheDir = "/var/cache/crashguard"

// CacheDirs returns the user's cache directories in the order a host reads them (the C
// part resolves the same, precompute_setup.c): CRASHGUARD_CACHE_DIR alone when it is set;
// otherwise $XDG_CACHE_HOME/crashguard or ~/.cache/crashguard, then the fallback for
// accounts without a usable home, /var/tmp/crashguard-<euid>. The system directory
// (SystemCacheDir) is read after them.
func CacheDirs() []string {
	if d := os.Getenv("CRASHGUARD_CACHE_DIR"); d != "" {
		return []string{d}
	}
	var dirs []string
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		dirs = append(dirs, filepath.Join(d, "crashguard"))
	} else if h := os.Getenv("HOME"); h != "" && filepath.IsAbs(h) && h != "/" {
		dirs = append(dirs, filepath.Join(h, ".cache", "crashguard"))
	}
	return append(dirs, "/var/tmp/crashguard-"+strconv.Itoa(unix.Geteuid()))
}

// WritableCacheDir is the first of CacheDirs that is (or can be made) a private directory
// of ours.
func WritableCacheDir() (string, error) {
	var errs []error
	for _, d := range CacheDirs() {
		err := PrivateDir(d)
		if err == nil {
			return d, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// CachePath is where a module's cache file lives under dir.
func CachePath(dir string, buildID []byte) string {
	id := hex.EncodeToString(buildID)
	return filepath.Join(dir, id[:2], id[2:]+".cg")
}

// Encode lays out a cache file.
func Encode(buildID []byte, entries []Entry) ([]byte, error) {
	pieces, err := layout(buildID, entries)
	if err != nil {
		return nil, err
	}
	var b []byte
	for _, p := range pieces {
		b = append(b, p...)
	}
	return b, nil
}

var zeros [8]byte

// layout returns a cache file as pieces to write one after the other — the header and
// directory, then each entry and its padding — without copying the entries: a large
// module's tables are not held twice.
func layout(buildID []byte, entries []Entry) ([][]byte, error) {
	if len(buildID) == 0 || len(buildID) > 32 {
		return nil, errors.New("build-id missing or longer than 32 bytes")
	}
	off := uint64(cacheHeaderSize + dirEntrySize*len(entries))
	head := make([]byte, (off+7)&^7)
	le := binary.LittleEndian
	copy(head, cacheMagic)
	le.PutUint32(head[8:], cacheVersion)
	le.PutUint32(head[12:], uint32(len(entries)))
	copy(head[16:48], buildID)
	le.PutUint32(head[48:], uint32(len(buildID)))
	pieces := [][]byte{head}
	pos := uint64(len(head))
	for i, e := range entries {
		size := 0
		for _, p := range e.pieces() {
			size += len(p)
			pieces = append(pieces, p)
		}
		d := head[cacheHeaderSize+i*dirEntrySize:]
		le.PutUint32(d, e.Kind)
		le.PutUint32(d[4:], e.Flags)
		le.PutUint64(d[8:], pos)
		le.PutUint64(d[16:], uint64(size))
		pad := (8 - size%8) % 8
		pieces = append(pieces, zeros[:pad])
		pos += uint64(size + pad)
	}
	var h checksummer
	h.start(pos - cacheHeaderSize)
	h.write(head[cacheHeaderSize:])
	for _, p := range pieces[1:] {
		h.write(p)
	}
	le.PutUint64(head[56:], h.sum())
	return pieces, nil
}

// checksummer is Checksum over bytes given in pieces.
type checksummer struct {
	h    uint64
	tail [8]byte
	n    int // bytes in tail
}

func (c *checksummer) start(total uint64) { c.h = 0x9e3779b97f4a7c15 ^ total }

func (c *checksummer) word(w uint64) {
	c.h ^= w
	c.h *= 0xff51afd7ed558ccd
	c.h ^= c.h >> 32
}

func (c *checksummer) write(b []byte) {
	for c.n > 0 && len(b) > 0 {
		c.tail[c.n] = b[0]
		c.n, b = c.n+1, b[1:]
		if c.n == 8 {
			c.word(binary.LittleEndian.Uint64(c.tail[:]))
			c.n = 0
		}
	}
	for len(b) >= 8 {
		c.word(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	c.n = copy(c.tail[:], b)
}

func (c *checksummer) sum() uint64 {
	var t [8]byte
	copy(t[:], c.tail[:c.n])
	h := c.h ^ binary.LittleEndian.Uint64(t[:])
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 29
	return h
}

// Decode validates a cache file for buildID and returns its entries (aliasing b).
func Decode(b []byte, buildID []byte) ([]Entry, error) {
	le := binary.LittleEndian
	if len(b) < cacheHeaderSize || string(b[:8]) != cacheMagic {
		return nil, errors.New("not a crashguard cache file")
	}
	if v := le.Uint32(b[8:]); v != cacheVersion {
		return nil, fmt.Errorf("cache format version %d, want %d", v, cacheVersion)
	}
	n := uint64(le.Uint32(b[12:]))
	idLen := le.Uint32(b[48:])
	if idLen == 0 || idLen > 32 || string(b[16:16+idLen]) != string(buildID) {
		return nil, errors.New("cache file is for another build-id")
	}
	for _, c := range b[16+idLen : 48] {
		if c != 0 {
			return nil, errors.New("cache header padding not zero")
		}
	}
	if le.Uint32(b[52:]) != 0 {
		return nil, errors.New("cache header reserved field not zero")
	}
	if n > 16 || uint64(len(b)) < cacheHeaderSize+n*dirEntrySize {
		return nil, errors.New("cache directory out of bounds")
	}
	if Checksum(b[cacheHeaderSize:]) != le.Uint64(b[56:]) {
		return nil, errors.New("cache checksum mismatch (corrupt or truncated)")
	}
	entries := make([]Entry, n)
	for i := range entries {
		d := b[cacheHeaderSize+uint64(i)*dirEntrySize:]
		off, size := le.Uint64(d[8:]), le.Uint64(d[16:])
		if off%8 != 0 || off > uint64(len(b)) || size > uint64(len(b))-off {
			return nil, errors.New("cache entry out of bounds")
		}
		entries[i] = Entry{Kind: le.Uint32(d), Flags: le.Uint32(d[4:]), Data: b[off : off+size]}
	}
	return entries, nil
}

// Store writes a cache file atomically: a temporary name in the same directory, then
// rename. Directories are created 0700, files 0644.
func Store(dir string, buildID []byte, entries []Entry) error {
	return store(dir, buildID, entries, 0o700)
}

// StoreShared is Store for a cache every user reads (/var/cache/crashguard): directories
// are created 0755.
func StoreShared(dir string, buildID []byte, entries []Entry) error {
	return store(dir, buildID, entries, 0o755)
}

func store(dir string, buildID []byte, entries []Entry, dirMode uint32) error {
	pieces, err := layout(buildID, entries)
	if err != nil {
		return err
	}
	final := CachePath(dir, buildID)
	if err := mkdirAll(filepath.Dir(final), dirMode); err != nil {
		return err
	}
	return writeAtomically(final, pieces, 0o644)
}

// WriteAtomically puts data at path so that a reader sees the whole file or none, and a
// writer killed at any moment (a service stop kills its whole cgroup) leaves no debris: the
// data goes into an unnamed file in the target directory (O_TMPFILE), which is linked into
// place once complete. Where O_TMPFILE is not supported, a temporary name and rename.
func WriteAtomically(path string, data []byte, mode uint32) error {
	return writeAtomically(path, [][]byte{data}, mode)
}

func writeAtomically(path string, data [][]byte, mode uint32) error {
	dir := filepath.Dir(path)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, mode)
	if err != nil {
		return writeByRename(path, data, mode)
	}
	defer unix.Close(fd)
	if err := writeAll(fd, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := unix.Fchmod(fd, mode); err != nil { // the umask may have narrowed it
		return err
	}
	// linkat refuses to replace: an old file (corrupt, or of an older format) goes first.
	// Between the two a reader finds no file and rebuilds, or waits: harmless.
	from := "/proc/self/fd/" + strconv.Itoa(fd)
	err = unix.Linkat(unix.AT_FDCWD, from, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err == unix.EEXIST {
		unix.Unlink(path)
		err = unix.Linkat(unix.AT_FDCWD, from, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
		if err == unix.EEXIST {
			// Another writer linked its file between our unlink and link: a whole file of
			// the same name is in place, which is all a writer must achieve.
			err = nil
		}
	}
	if err == unix.ENOENT { // no /proc
		return writeByRename(path, data, mode)
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	return nil
}

var tmpCounter atomic.Uint64

func writeByRename(path string, data [][]byte, mode uint32) error {
	// pid and a per-process counter: goroutines share OS threads, so a tid is not unique.
	tmp := path + ".tmp." + strconv.Itoa(unix.Getpid()) + "." + strconv.FormatUint(tmpCounter.Add(1), 10)
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	err = writeAll(fd, data)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Rename(tmp, path)
	}
	if err != nil {
		unix.Unlink(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeAll writes the pieces in page-sized writes: a large write fills the page cache with
// large folios, and a process that touches one page of a mapped large folio gets all of it
// mapped (up to 2 MiB of RSS per file, measured), though the handler reads only a few rows.
func writeAll(fd int, pieces [][]byte) error {
	var page [4096]byte
	n := 0
	flush := func() error {
		for b := page[:n]; len(b) > 0; {
			k, err := unix.Write(fd, b)
			if err != nil {
				return err
			}
			b = b[k:]
		}
		n = 0
		return nil
	}
	for _, b := range pieces {
		for len(b) > 0 {
			k := copy(page[n:], b)
			n, b = n+k, b[k:]
			if n == len(page) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

func mkdirAll(dir string, mode uint32) error {
	if err := unix.Mkdir(dir, mode); err == nil || err == unix.EEXIST {
		return nil
	} else if err != unix.ENOENT {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAll(parent, mode); err != nil {
			return err
		}
	}
	if err := unix.Mkdir(dir, mode); err != nil && err != unix.EEXIST {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return nil
}

// Load maps and validates the cache file for buildID under dir. The file must be owned by
// us or root and not writable by group or others; the mapping is private and the file is
// never modified once in place. The returned unmap releases it.
func Load(dir string, buildID []byte) ([]Entry, func(), error) {
	p := CachePath(dir, buildID)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size < cacheHeaderSize || st.Size > 1<<31 {
		return nil, nil, errors.New("not a regular cache file")
	}
	if (st.Uid != uint32(unix.Geteuid()) && st.Uid != 0) || st.Mode&0o022 != 0 {
		return nil, nil, fmt.Errorf("%s: not trusted (owner %d, mode %o)", p, st.Uid, st.Mode&0o777)
	}
	data, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	entries, err := Decode(data, buildID)
	if err != nil {
		unix.Munmap(data)
		return nil, nil, fmt.Errorf("%s: %v", p, err)
	}
	return entries, func() { unix.Munmap(data) }, nil
}
