package configfuzz

import (
	"strings"
	"testing"

	"github.com/bmatcuk/doublestar/v4"
)

// splitList splits a kept list (patterns joined by ':') as the C matcher does: at ':' and ','
// outside braces.
func splitList(list string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i <= len(list); i++ {
		if i == len(list) || ((list[i] == ':' || list[i] == ',') && depth == 0) {
			if i > start {
				out = append(out, list[start:i])
			}
			start, depth = i+1, 0
			continue
		}
		if list[i] == '{' {
			depth++
		} else if list[i] == '}' && depth > 0 {
			depth--
		}
	}
	return out
}

func TestDefaultsAndExamples(t *testing.T) {
	for _, c := range []struct {
		include, exclude string
		covered          bool
	}{{"[", "", true}, {"[:/opt/**", "", false}, {"", "[]", true}, {"{a,b", "/usr/**", false}, {"/usr/**,[", "", true}} {
		if p := Parse("", "", "", c.include, c.exclude, "/usr/bin/true"); p.Covered != c.covered || p.Note == "" {
			t.Fatalf("%q / %q: covered %v, note %q", c.include, c.exclude, p.Covered, p.Note)
		}
	}
	for v, on := range map[string]bool{"OFF": false, "no": false, "0": false, "False": false, "yes": true, "": true, "maybe": true} {
		if p := Parse("", "", v, "", "", "/x"); p.On != on {
			t.Fatalf("switch %q: on=%v", v, p.On)
		}
	}
	p := Parse("", "", "", "", "", "/usr/bin/true")
	if !p.ToStderr || p.FilePattern != "" || p.JSON || p.Note != "" || !p.Covered || !p.Signals[11] || !p.Signals[6] {
		t.Fatalf("defaults: %+v", p)
	}
	p = Parse("file:/var/crash/%e-%p,journal", "SEGV,sigabrt", "json", "/opt/**", "", "/opt/app/bin/x")
	if p.ToStderr || p.FilePattern != "/var/crash/%e-%p" || p.Journal != "/run/systemd/journal/socket" || !p.JSON ||
		!p.Signals[11] || !p.Signals[6] || p.Signals[7] || !p.Covered {
		t.Fatalf("example: %+v", p)
	}
	// A minidump alone keeps the report on stderr, without a complaint.
	p = Parse("minidump:/var/crash/%e-%p.dmp", "", "", "", "", "/bin/x")
	if !p.ToStderr || p.Minidump != "/var/crash/%e-%p.dmp" || p.Note != "" {
		t.Fatalf("minidump: %+v", p)
	}
	p = Parse("file:/r/%p,minidump:relative.dmp", "", "", "", "", "/bin/x")
	if p.Minidump != "" || !strings.Contains(p.Note, "minidump pattern must be an absolute path") {
		t.Fatalf("relative minidump: %+v", p)
	}
}

func FuzzConfig(f *testing.F) {
	f.Add("stderr,file:/tmp/%p", "SEGV,BUS", "json", "/opt/**", "/opt/x/**", "/opt/app/y")
	f.Add("file:relative", ",,,", "xml", "[", "**/**/**", "")
	f.Add("minidump:rel,minidump:/x/%p.dmp,minidump:", "", "", "", "", "")
	f.Add(strings.Repeat("journal:/x,", 200), strings.Repeat("SIG", 300), "", strings.Repeat("/**", 100), "*", strings.Repeat("/a", 600))
	f.Add("", "", "", strings.Repeat("{a,b,c,d}", 12), "/{x,{y,{z,}}}/**,{", "/a/b/c")
	f.Fuzz(func(t *testing.T, output, signals, format, include, exclude, exe string) {
		for _, s := range []string{output, signals, format, include, exclude, exe} {
			if strings.IndexByte(s, 0) >= 0 {
				return // the environment cannot hold NUL bytes
			}
		}
		p := Parse(output, signals, format, include, exclude, exe)
		if p.NoteLen >= 400 {
			t.Fatalf("note not bounded: %d", p.NoteLen)
		}
		if !p.ToStderr && p.FilePattern == "" && p.Journal == "" {
			t.Fatalf("no destination at all for %q", output)
		}
		if p.FilePattern != "" && p.FilePattern[0] != '/' {
			t.Fatalf("relative report file pattern %q accepted", p.FilePattern)
		}
		if p.Minidump != "" && p.Minidump[0] != '/' {
			t.Fatalf("relative minidump pattern %q accepted", p.Minidump)
		}
		any := false
		for _, s := range p.Signals {
			any = any || s
		}
		if !any {
			t.Fatalf("no signal handled for %q", signals)
		}
		// What is kept of an include or exclude list is valid patterns only; a list with
		// none left is no list: nothing of it can leave a program out.
		for _, list := range []string{p.Include, p.Exclude} {
			for _, pat := range splitList(list) {
				if !doublestar.ValidatePattern(pat) {
					t.Fatalf("invalid pattern %q kept (from %q / %q)", pat, include, exclude)
				}
			}
		}
		if p.Include == "" && p.Exclude == "" && !p.Covered {
			t.Fatalf("no valid pattern in %q / %q, yet %q is not covered", include, exclude, exe)
		}
	})
}
