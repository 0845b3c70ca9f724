package dwarfcache

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"crashguard/sigsafe"

	"golang.org/x/sys/unix"
)

// KindSource is the cache entry that says where a module's tables came from (docs/cache.md):
// text lines
//
//	module PATH
//	debug METHOD PATH            (METHOD: embedded, build-id, debuglink, debuginfod)
//	debug none; looked in: A, B, ...
//
// Tables are cached by build-id, so a debug file installed after they were built (a -dbgsym
// package, a debuginfod download) would never be used: this entry lets `crashguard warm
// --refresh` (and a helper that finds the file already there) tell that an entry built
// without debug information can now have it. The C reader ignores kinds it does not know.
const KindSource = 3

// Source is what a KindSource entry records.
type Source struct {
	Module   string   // the file the tables were built from ("" if not recorded)
	Method   string   // how the debug information was found; "" when there was none
	Debug    string   // the file that held it
	LookedIn []string // where it was looked for, when there was none
}

// Encode is the entry's text.
func (s Source) Encode() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n", s.Module)
	if s.Method != "" {
		fmt.Fprintf(&b, "debug %s %s\n", s.Method, s.Debug)
	} else {
		fmt.Fprintf(&b, "debug none; looked in: %s\n", strings.Join(s.LookedIn, ", "))
	}
	return []byte(b.String())
}

// String is one line for people.
func (s Source) String() string {
	if s.Method != "" {
		return fmt.Sprintf("debug information from %s (%s)", s.Debug, s.Method)
	}
	return "no debug information; looked in: " + strings.Join(s.LookedIn, ", ")
}

// ParseSource reads a KindSource entry.
func ParseSource(data []byte) (Source, bool) {
	var s Source
	ok := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "module "):
			s.Module = line[len("module "):]
		case strings.HasPrefix(line, "debug none; looked in: "):
			s.LookedIn = strings.Split(line[len("debug none; looked in: "):], ", ")
			ok = true
		case strings.HasPrefix(line, "debug "):
			method, path, found := strings.Cut(line[len("debug "):], " ")
			if found {
				s.Method, s.Debug, ok = method, path, true
			}
		}
	}
	return s, ok
}

// SourceOf says where the debug information of the module at path is, or where it was
// looked for: the same search as the tables' (FindDebugInfo).
func SourceOf(path string, buildID []byte) Source {
	s := Source{Module: path}
	data, err := MapFile(path)
	if err != nil {
		s.LookedIn = []string{"nowhere (" + path + ": " + err.Error() + ")"}
		return s
	}
	defer unix.Munmap(data)
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		s.LookedIn = []string{"nowhere (" + path + ": " + err.Error() + ")"}
		return s
	}
	if info, ok := FindDebugInfo(path, f, buildID); ok {
		s.Method, s.Debug = info.Method, info.Path
		return s
	}
	s.LookedIn = []string{"the module"}
	if len(buildID) > 1 {
		id := hex.EncodeToString(buildID)
		for _, dir := range debugDirs() {
			s.LookedIn = append(s.LookedIn, filepath.Join(dir, ".build-id", id[:2], id[2:]+".debug"))
		}
		for _, dir := range debuginfodDirs() {
			s.LookedIn = append(s.LookedIn, filepath.Join(dir, id, "debuginfo"))
		}
	}
	if name, _, ok := debugLink(f); ok {
		s.LookedIn = append(s.LookedIn, "debuglink "+name+" (next to the module, in .debug/, under the debug directories)")
	}
	return s
}

// EntrySource returns the KindSource entry among a cache file's entries.
func EntrySource(entries []Entry) (Source, bool) {
	for _, e := range entries {
		if e.Kind == KindSource {
			return ParseSource(e.Data)
		}
	}
	return Source{}, false
}

// Stale says whether a cache file's entries were built without debug information that can
// now be found for the module at path (its build-id is the file's): the tables would gain
// file:line and inlined calls if built again. Entries of an older writer, without a source
// entry, are judged by their line table: a note instead of a table means none was found.
func Stale(entries []Entry, path string, buildID []byte) (bool, Source) {
	src, recorded := EntrySource(entries)
	hadDebug := recorded && src.Method != ""
	if !recorded {
		for _, e := range entries {
			if e.Kind == sigsafe.Lines && e.Flags&FlagNote == 0 {
				hadDebug = true
			}
		}
	}
	if hadDebug || !strings.HasPrefix(path, "/") {
		return false, src
	}
	now := SourceOf(path, buildID)
	return now.Method != "", now
}
