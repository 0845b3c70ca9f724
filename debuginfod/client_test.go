package debuginfod

import (
	"context"
	"debug/elf"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// an ELF file with a GNU build-id to serve
func sample(t *testing.T) ([]byte, []byte) {
	t.Helper()
	data, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	f, err := elf.Open("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id := noteBuildID(f)
	if id == nil {
		t.Skip("/bin/true has no build-id")
	}
	return data, id
}

// server answers /buildid/<id>/debuginfo with handle, counting requests.
func server(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		handle(w, r)
	}))
	t.Cleanup(s.Close)
	return s.URL, &n
}

func client(t *testing.T, urls ...string) *Client {
	t.Helper()
	t.Setenv("DEBUGINFOD_CACHE_PATH", t.TempDir())
	t.Setenv("DEBUGINFOD_TIMEOUT", "")
	c := New(strings.Join(urls, " "))
	if c == nil {
		t.Fatal("no client")
	}
	return c
}

func debris(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(filepath.Base(p), ".tmp.") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func TestNoURLsNoClient(t *testing.T) {
	t.Setenv("DEBUGINFOD_URLS", "")
	if FromEnv() != nil || New("   ") != nil {
		t.Fatal("a client without servers")
	}
	var c *Client
	if _, err := c.DebugInfo(context.Background(), []byte{1, 2}); err == nil {
		t.Fatal("a nil client found something")
	}
}

func TestFetchStoresWhereElfutilsLooks(t *testing.T) {
	data, id := sample(t)
	url, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/buildid/"+strings.ToLower(hexs(id))+"/debuginfo" {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	})
	missing, _ := server(t, http.NotFound)
	c := client(t, missing, url+"/")
	res, err := c.DebugInfo(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(os.Getenv("DEBUGINFOD_CACHE_PATH"), hexs(id), "debuginfo")
	if res.Path != want || res.Server != url {
		t.Fatalf("got %+v, want %s from %s", res, want, url)
	}
	if got, _ := os.ReadFile(want); string(got) != string(data) {
		t.Fatal("cached file differs from what was served")
	}
	debris(t, c.CacheDir)
	// The cache answers next time: no request.
	res, err = c.DebugInfo(context.Background(), id)
	if err != nil || res.Server != "" || n.Load() != 1 {
		t.Fatalf("second lookup: %+v %v, %d requests", res, err, n.Load())
	}
}

func TestNotFoundIsRemembered(t *testing.T) {
	_, id := sample(t)
	url, n := server(t, http.NotFound)
	c := client(t, url)
	_, err := c.DebugInfo(context.Background(), id)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("want not found, got %v", err)
	}
	st, err := os.Stat(c.CachePath(id))
	if err != nil || st.Size() != 0 {
		t.Fatalf("no negative cache entry: %v", err)
	}
	if _, err := c.DebugInfo(context.Background(), id); !errors.Is(err, ErrNotFound) || n.Load() != 1 {
		t.Fatalf("remembered miss asked again: %v, %d requests", err, n.Load())
	}
	// Older than cache_miss_s: asked again.
	os.WriteFile(filepath.Join(c.CacheDir, "cache_miss_s"), []byte("60\n"), 0o644)
	old := time.Now().Add(-2 * time.Minute)
	os.Chtimes(c.CachePath(id), old, old)
	c.DebugInfo(context.Background(), id)
	if n.Load() != 2 {
		t.Fatalf("stale miss not asked again: %d requests", n.Load())
	}
}

func TestGarbageIsNotCached(t *testing.T) {
	_, id := sample(t)
	url, _ := server(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>proxy login</html>")) })
	c := client(t, url)
	_, err := c.DebugInfo(context.Background(), id)
	if err == nil || !strings.Contains(err.Error(), "not an ELF file") {
		t.Fatalf("garbage accepted: %v", err)
	}
	if _, err := os.Stat(c.CachePath(id)); err == nil {
		t.Fatal("garbage (or a miss) was cached")
	}
	debris(t, c.CacheDir)
	// An ELF file of another build-id is garbage too.
	other, _ := os.ReadFile("/bin/true")
	url2, _ := server(t, func(w http.ResponseWriter, r *http.Request) { w.Write(other) })
	c = client(t, url2)
	if _, err := c.DebugInfo(context.Background(), []byte{1, 2, 3, 4}); err == nil || !strings.Contains(err.Error(), "not the one asked for") {
		t.Fatalf("wrong build-id accepted: %v", err)
	}
}

func TestSlowAndDownServers(t *testing.T) {
	_, id := sample(t)
	release := make(chan struct{})
	slow, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	c := client(t, slow, down)
	c.Timeout = 500 * time.Millisecond
	start := time.Now()
	_, err = c.DebugInfo(context.Background(), id)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("took %v with a 0.5 s timeout", took)
	}
	if err == nil || !strings.Contains(err.Error(), "no answer within 500ms") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("want both causes in one line, got %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("more than one line: %q", err)
	}
	if _, err := os.Stat(c.CachePath(id)); err == nil {
		t.Fatal("a failure that was not a 404 was remembered as a miss")
	}
}

func TestMaxSize(t *testing.T) {
	data, id := sample(t)
	url, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-DEBUGINFOD-MAXSIZE") != "100" {
			t.Errorf("no X-DEBUGINFOD-MAXSIZE header")
		}
		w.Write(data)
	})
	t.Setenv("DEBUGINFOD_MAXSIZE", "100")
	c := client(t, url)
	if _, err := c.DebugInfo(context.Background(), id); err == nil || !strings.Contains(err.Error(), "DEBUGINFOD_MAXSIZE") {
		t.Fatalf("want a size refusal, got %v", err)
	}
	debris(t, c.CacheDir)
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}
