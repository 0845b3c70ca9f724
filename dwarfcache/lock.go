package dwarfcache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrBusy says another process holds the build lock of a module's tables.
var ErrBusy = errors.New("being built by another process")

// LockFile is the one file under a cache directory that holds every build lock: an
// open-file-description lock (F_OFD_SETLK) on one byte per build-id (docs/cache.md). The
// kernel drops a lock when its holder dies, and nothing per build-id is left on disk, so a
// helper killed at any moment leaves nothing behind.
const LockFile = ".locks"

// LockOffset is the byte a build-id's lock covers: its first 8 bytes, as a 63-bit offset.
func LockOffset(buildID []byte) int64 {
	var b [8]byte
	copy(b[:], buildID)
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
}

// Locks is a process's handle on a cache directory's build locks.
type Locks struct {
	fd int
}

// OpenLocks opens (creating it) the lock file of dir.
func OpenLocks(dir string) (*Locks, error) {
	fd, err := unix.Open(filepath.Join(dir, LockFile), unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return &Locks{fd: fd}, nil
}

func (l *Locks) set(buildID []byte, kind int16, cmd int) error {
	lk := unix.Flock_t{Type: kind, Whence: 0, Start: LockOffset(buildID), Len: 1}
	return unix.FcntlFlock(uintptr(l.fd), cmd, &lk)
}

// TryLock takes the build lock of buildID's tables without waiting; ErrBusy when another
// process holds it. The caller must check the cache again once it holds the lock: the
// previous holder may just have finished.
func (l *Locks) TryLock(buildID []byte) error {
	err := l.set(buildID, unix.F_WRLCK, unix.F_OFD_SETLK)
	if err == unix.EAGAIN || err == unix.EACCES {
		return ErrBusy
	}
	return err
}

// Unlock lets the build lock of buildID's tables go.
func (l *Locks) Unlock(buildID []byte) { l.set(buildID, unix.F_UNLCK, unix.F_OFD_SETLK) }

// Close lets every lock of this handle go.
func (l *Locks) Close() { unix.Close(l.fd) }

// PrivateDir makes sure dir exists (created 0700, with its parents) and is fit to hold
// cache files: a directory owned by us or root that no one else may write.
func PrivateDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("%s: not an absolute path", dir)
	}
	if err := mkdirAll(dir, 0o700); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%s: not a directory", dir)
	case st.Uid != uint32(unix.Geteuid()) && st.Uid != 0:
		return fmt.Errorf("%s: owned by uid %d, not by us", dir, st.Uid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("%s: writable by others (mode %o)", dir, st.Mode&0o777)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}

// RemoveDebris removes the temporary files of writers that no longer exist (only writers
// without O_TMPFILE make them: WriteAtomically). Cache files are never touched.
func RemoveDebris(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, "??", "*.tmp.*"))
	for _, p := range tmps {
		// <name>.tmp.<pid>.<counter>
		parts := strings.Split(filepath.Base(p), ".")
		if len(parts) < 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[len(parts)-2])
		if err == nil && pid > 0 && unix.Kill(pid, 0) == unix.ESRCH {
			unix.Unlink(p)
		}
	}
}
