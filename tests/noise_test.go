package tests

// Noise in reports (issue 14): what is there must not mislead.

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
)

// For a fault address in no mapping, the nearest mappings named are the program's, never
// one of ours (here: the pooled alternate signal stacks right above the address).
func TestNearestMappingIsNeverOurs(t *testing.T) {
	r := run(t, runOpts{preload: true, env: noHelper}, coreBin(t), "below-our-stack")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	m := regexp.MustCompile(`pool ([0-9a-f]+)-([0-9a-f]+) fault ([0-9a-f]+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no pool found: %s", r)
	}
	lo, _ := strconv.ParseUint(m[1], 16, 64)
	hi, _ := strconv.ParseUint(m[2], 16, 64)
	wantLine(t, r, `^  fault address 0x`+m[3]+` is in no mapping; nearest below: `)
	above := wantLine(t, r, `^  nearest above: ([0-9a-f]+)-([0-9a-f]+) `)
	start, _ := strconv.ParseUint(above[1], 16, 64)
	end, _ := strconv.ParseUint(above[2], 16, 64)
	if start < hi && lo < end {
		t.Fatalf("the nearest mapping above is our alternate-stack pool %x-%x:\n%s", lo, hi, r.stderr)
	}
}

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
