package tests

// Noise in reports (issue 14): what is there must not mislead.

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// `crashguard symbolize` keeps the report's one frame format: a frame keeps its "+0x..."
// offset whether or not the file found names it (libc's names come from its debug file,
// the file on disk has fewer).
func TestSymbolizeKeepsTheFrameFormat(t *testing.T) {
	r := run(t, runOpts{preload: true}, coreBin(t), "null")
	named := regexp.MustCompile(`(?m)^#\d+ 0x[0-9a-f]{16} in (\S+)\+0x[0-9a-f]+ \(`).FindAllStringSubmatch(r.stderr, -1)
	if len(named) < 3 {
		t.Fatalf("too few named frames:\n%s", r.stderr)
	}
	report := filepath.Join(t.TempDir(), "report.txt")
	os.WriteFile(report, []byte(r.stderr), 0o644)
	out := runOut(t, cmdPath, "symbolize", report)
	for _, n := range named {
		if !regexp.MustCompile(`(?m)^#\d+ 0x[0-9a-f]{16} in ` + regexp.QuoteMeta(n[1]) + `\+0x[0-9a-f]+ \(`).MatchString(out) {
			t.Fatalf("frame %s lost its offset:\n%s", n[1], out)
		}
	}
}
