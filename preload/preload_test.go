package preload

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A module that is truncated or not ELF at all yields a one-line reason, never a panic.
func TestBadModulesGiveReasons(t *testing.T) {
	data, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	cases := map[string][]byte{
		"truncated": data[:len(data)/2],
		"garbage":   []byte(strings.Repeat("not an elf file ", 64)),
		"header":    data[:64],
	}
	for name, content := range cases {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o644)
		b, err := BuildTables(p, nil, nil, -1)
		switch {
		case err != nil:
			if strings.Contains(err.Error(), "\n") || err.Error() == "" {
				t.Errorf("%s: reason not one line: %q", name, err)
			}
		case len(b.Tables) == 3:
			t.Errorf("%s: every table built from a damaged file", name)
		}
		t.Logf("%s: err=%v notes=%v", name, err, b)
	}
	if _, err := BuildTables(dir, nil, nil, -1); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
}
