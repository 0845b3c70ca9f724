// Package debuginfod is a client of debuginfod servers (elfutils' protocol, spoken by gdb,
// systemd-coredump, perf and Valgrind): it fetches a module's separate debug file by
// build-id into the client cache those tools share, so that one download serves them all.
//
// The contract is elfutils' (debuginfod-find(1)):
//
//   - DEBUGINFOD_URLS: space-separated server URLs, asked in order; unset or empty: no
//     request at all;
//   - DEBUGINFOD_TIMEOUT (seconds, default 90): a server that sends nothing for that long
//     is given up; DEBUGINFOD_MAXTIME (seconds, default none): a whole download's bound;
//     DEBUGINFOD_MAXSIZE (bytes, default none): larger files are refused;
//   - the cache: $DEBUGINFOD_CACHE_PATH, else ~/.debuginfod_client_cache when it exists,
//     else $XDG_CACHE_HOME/debuginfod_client, else ~/.cache/debuginfod_client; a file is
//     <cache>/<build-id>/debuginfo, written under a temporary name and renamed into place;
//     an empty file there is a remembered "not found", trusted for <cache>/cache_miss_s
//     seconds (default 600) and then asked again.
//
// Only the standard library is used.
package debuginfod

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults of elfutils' client.
const (
	DefaultTimeout   = 90 * time.Second
	DefaultCacheMiss = 600 * time.Second
)

// Client fetches debug files. A nil *Client asks nothing.
type Client struct {
	URLs     []string      // servers, asked in order
	Timeout  time.Duration // no progress for this long: the server is given up
	MaxTime  time.Duration // a whole download (0: no bound)
	MaxSize  int64         // largest file accepted (0: no bound)
	CacheDir string        // where files are kept (<CacheDir>/<build-id>/debuginfo)
}

// ErrNotFound: no server has the file (or that was remembered).
var ErrNotFound = errors.New("not found")

// FromEnv is the client DEBUGINFOD_URLS and the other variables describe; nil when
// DEBUGINFOD_URLS is unset or empty, or in a setuid/AT_SECURE process (whose environment
// is its caller's to set).
func FromEnv() *Client {
	return New(os.Getenv("DEBUGINFOD_URLS"))
}

// New is FromEnv with these server URLs (space-separated) instead of DEBUGINFOD_URLS.
func New(urls string) *Client {
	if secure() {
		return nil
	}
	var list []string
	for _, u := range strings.Fields(urls) {
		list = append(list, strings.TrimRight(u, "/"))
	}
	if len(list) == 0 {
		return nil
	}
	c := &Client{URLs: list, Timeout: DefaultTimeout, CacheDir: CacheDir()}
	if s, err := strconv.Atoi(os.Getenv("DEBUGINFOD_TIMEOUT")); err == nil && s > 0 {
		c.Timeout = time.Duration(s) * time.Second
	}
	if s, err := strconv.Atoi(os.Getenv("DEBUGINFOD_MAXTIME")); err == nil && s > 0 {
		c.MaxTime = time.Duration(s) * time.Second
	}
	if n, err := strconv.ParseInt(os.Getenv("DEBUGINFOD_MAXSIZE"), 10, 64); err == nil && n > 0 {
		c.MaxSize = n
	}
	return c
}

// CacheDir is the client cache elfutils' client uses ("" when there is no home either).
func CacheDir() string {
	if d := os.Getenv("DEBUGINFOD_CACHE_PATH"); d != "" {
		return d
	}
	home := os.Getenv("HOME")
	if home != "" {
		if st, err := os.Stat(filepath.Join(home, ".debuginfod_client_cache")); err == nil && st.IsDir() {
			return filepath.Join(home, ".debuginfod_client_cache")
		}
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "debuginfod_client")
	}
	if home != "" {
		return filepath.Join(home, ".cache", "debuginfod_client")
	}
	return ""
}

// CachePath is where the debug file of buildID is kept.
func (c *Client) CachePath(buildID []byte) string {
	return filepath.Join(c.CacheDir, hex.EncodeToString(buildID), "debuginfo")
}

// Result is a fetched (or already cached) debug file.
type Result struct {
	Path   string // in the client cache
	Server string // the server it came from; "" when it was in the cache already
}

// DebugInfo returns the debug file of buildID: from the cache, or from the first server
// that has it, saved to the cache. The error says, in one line, what each server answered.
func (c *Client) DebugInfo(ctx context.Context, buildID []byte) (Result, error) {
	if c == nil || len(c.URLs) == 0 {
		return Result{}, errors.New("no debuginfod server (DEBUGINFOD_URLS is empty)")
	}
	if len(buildID) == 0 {
		return Result{}, errors.New("no build-id to ask debuginfod for")
	}
	if c.CacheDir == "" {
		return Result{}, errors.New("no debuginfod client cache (set DEBUGINFOD_CACHE_PATH or HOME)")
	}
	target := c.CachePath(buildID)
	if st, err := os.Stat(target); err == nil {
		if st.Size() > 0 {
			return Result{Path: target}, nil
		}
		if time.Since(st.ModTime()) <= c.cacheMiss() {
			return Result{}, fmt.Errorf("%w (remembered since %s)", ErrNotFound, st.ModTime().Format(time.TimeOnly))
		}
		os.Remove(target) // stale: ask again
	}
	var why []string
	allNotFound := true
	for _, server := range c.URLs {
		err := c.fetch(ctx, server, buildID, target)
		if err == nil {
			return Result{Path: target, Server: server}, nil
		}
		if !errors.Is(err, ErrNotFound) {
			allNotFound = false
		}
		why = append(why, server+": "+err.Error())
	}
	if allNotFound {
		c.rememberNotFound(target)
	}
	return Result{}, &answers{strings.Join(why, "; "), allNotFound}
}

// answers is what the servers said, in one line; it is ErrNotFound when each said so.
type answers struct {
	msg      string
	notFound bool
}

func (a *answers) Error() string        { return a.msg }
func (a *answers) Is(target error) bool { return a.notFound && target == ErrNotFound }

func (c *Client) cacheMiss() time.Duration {
	if b, err := os.ReadFile(filepath.Join(c.CacheDir, "cache_miss_s")); err == nil {
		if s, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
	}
	return DefaultCacheMiss
}

// rememberNotFound leaves the empty file elfutils' client leaves for a miss.
func (c *Client) rememberNotFound(target string) {
	if os.MkdirAll(filepath.Dir(target), 0o700) != nil {
		return
	}
	if f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
		f.Close()
	}
}

// progressReader fails a read that brings nothing for longer than the timeout: cancel is
// armed while each read waits.
type progressReader struct {
	r       io.Reader
	timer   *time.Timer
	timeout time.Duration
}

func (p *progressReader) Read(b []byte) (int, error) {
	p.timer.Reset(p.timeout)
	n, err := p.r.Read(b)
	p.timer.Stop()
	return n, err
}

// fetch downloads one server's answer into target.
func (c *Client) fetch(ctx context.Context, server string, buildID []byte, target string) (err error) {
	if c.MaxTime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.MaxTime)
		defer cancel()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := fmt.Errorf("no answer within %v (DEBUGINFOD_TIMEOUT)", c.Timeout)
	timer := time.AfterFunc(c.Timeout, func() { cancel(stalled) })
	defer timer.Stop()
	defer func() { // a cancelled download says why it was cancelled
		if cause := context.Cause(ctx); err != nil && cause != nil {
			if errors.Is(cause, context.DeadlineExceeded) && c.MaxTime > 0 {
				err = fmt.Errorf("download not done within %v (DEBUGINFOD_MAXTIME)", c.MaxTime)
			} else {
				err = cause
			}
		}
	}()
	url := server + "/buildid/" + hex.EncodeToString(buildID) + "/debuginfo"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "crashguard")
	if c.MaxSize > 0 {
		req.Header.Set("X-DEBUGINFOD-MAXSIZE", strconv.FormatInt(c.MaxSize, 10))
	}
	// The timer above bounds connecting, the TLS handshake and the headers together (and
	// says so); the transport's own bounds are only a backstop behind it.
	backstop := c.Timeout + time.Second
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: backstop}).DialContext,
		TLSHandshakeTimeout:   backstop,
		ResponseHeaderTimeout: backstop,
		DisableKeepAlives:     true,
	}
	defer transport.CloseIdleConnections()
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return brief(err)
	}
	defer resp.Body.Close()
	timer.Stop()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w (HTTP 404)", ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("HTTP %s", resp.Status)
	case c.MaxSize > 0 && resp.ContentLength > c.MaxSize:
		return fmt.Errorf("%d bytes, more than DEBUGINFOD_MAXSIZE (%d)", resp.ContentLength, c.MaxSize)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "debuginfo.tmp.*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var body io.Reader = &progressReader{r: resp.Body, timer: timer, timeout: c.Timeout}
	limit := c.MaxSize
	if limit <= 0 {
		limit = 1 << 40
	}
	n, err := io.Copy(tmp, io.LimitReader(body, limit+1))
	if err != nil {
		return err
	}
	if n > limit {
		return fmt.Errorf("more than DEBUGINFOD_MAXSIZE (%d bytes)", c.MaxSize)
	}
	if err := checkDebugFile(tmp, buildID); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}

// brief words a failed request's cause without repeating the URL (notes are one short line).
func brief(err error) error {
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused")
	case errors.As(err, &dns):
		return errors.New("host " + dns.Name + " not found")
	case errors.As(err, &op):
		return op.Err
	}
	var wrapped interface{ Unwrap() error }
	if errors.As(err, &wrapped) && wrapped.Unwrap() != nil {
		return wrapped.Unwrap() // without "Get <url>:"
	}
	return err
}

// checkDebugFile: what a server sent must be an ELF file with the build-id asked for.
func checkDebugFile(f *os.File, buildID []byte) error {
	ef, err := elf.NewFile(f)
	if err != nil {
		return errors.New("the answer is not an ELF file")
	}
	if id := noteBuildID(ef); !bytes.Equal(id, buildID) {
		return fmt.Errorf("the answer is an ELF file of build-id %x, not the one asked for", id)
	}
	return nil
}

func noteBuildID(f *elf.File) []byte {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		d, err := s.Data()
		if err != nil {
			continue
		}
		for len(d) >= 12 {
			namesz, descsz, typ := uint64(f.ByteOrder.Uint32(d)), uint64(f.ByteOrder.Uint32(d[4:])), f.ByteOrder.Uint32(d[8:])
			nameEnd := 12 + (namesz+3)&^3
			descEnd := nameEnd + (descsz+3)&^3
			if namesz > uint64(len(d)) || descsz > uint64(len(d)) || descEnd > uint64(len(d)) {
				break
			}
			if typ == 3 && namesz == 4 && string(d[12:15]) == "GNU" {
				return d[nameEnd : nameEnd+descsz]
			}
			d = d[descEnd:]
		}
	}
	return nil
}

// secure says whether this process runs with AT_SECURE (setuid, setgid, capabilities):
// its environment is not to be trusted to point it at servers.
func secure() bool {
	auxv, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return false
	}
	for i := 0; i+16 <= len(auxv); i += 16 {
		if binary.LittleEndian.Uint64(auxv[i:]) == 23 { // AT_SECURE
			return binary.LittleEndian.Uint64(auxv[i+8:]) != 0
		}
	}
	return false
}
