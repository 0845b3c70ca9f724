package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"crashguard/debuginfod"
	"crashguard/dwarfcache"
	"crashguard/preload"
	"crashguard/sigsafe"
)

// symbolize re-symbolizes a text report written where symbols or debug information were
// missing: each module is found by build-id (the path in the report, the debug
// directories, or the --search directories, e.g. the unstripped build output), and every
// frame is printed again with its function, file:line and inlined calls.
func symbolize(args []string) error {
	fs := flag.NewFlagSet("symbolize", flag.ExitOnError)
	var search multiFlag
	fs.Var(&search, "search", "directory searched (recursively) for ELF files by build-id; repeatable")
	servers := fs.String("debuginfod", "", "debuginfod server URL(s), space-separated, asked instead of DEBUGINFOD_URLS")
	fs.Parse(args)
	if *servers != "" {
		dwarfcache.Debuginfod = debuginfod.New(*servers)
	} else {
		dwarfcache.Debuginfod = debuginfod.FromEnv()
	}
	var in io.Reader = os.Stdin
	if fs.NArg() > 0 && fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	s := &symbolizer{search: search, modules: map[string]*symModule{}}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		return s.jsonReports(data, os.Stdout)
	}
	for _, m := range moduleLine.FindAllStringSubmatch(string(data), -1) {
		id, err := hex.DecodeString(m[2])
		if err == nil {
			s.modules[m[1]] = &symModule{reportPath: m[1], id: id}
		}
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	n := 0
	notes := false // this report's notes were written
	for _, line := range strings.SplitAfter(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "*** crashguard: "):
			notes = false
			s.used = nil
		case strings.HasPrefix(line, "backtrace:") || strings.HasPrefix(line, "other threads") || strings.HasPrefix(line, "thread: "):
			n = 0
		case strings.HasPrefix(line, "notes:"):
			out.WriteString(line)
			s.writeNotes(out, "  ")
			notes = true
			continue
		case strings.HasPrefix(line, "*** end of crashguard report") && !notes:
			if len(s.used) > 0 {
				out.WriteString("notes:\n")
				s.writeNotes(out, "  ")
			}
		case s.supersededNote(line):
			continue
		}
		m := frameLine.FindStringSubmatch(strings.TrimRight(line, "\n"))
		if m == nil || strings.Contains(line, "[inlined]") {
			if m == nil {
				out.WriteString(line)
			}
			continue
		}
		pc, _ := strconv.ParseUint(m[1], 16, 64)
		off, _ := strconv.ParseUint(m[4], 16, 64)
		n = s.frame(out, n, pc, m[3], off, m[2], strings.TrimRight(line, "\n"))
	}
	return nil
}

// supersededNote: the report's own note about a module's missing symbols or lines, which
// this symbolization replaces with its own (writeNotes).
func (s *symbolizer) supersededNote(line string) bool {
	line = strings.TrimSpace(line)
	for _, m := range s.used {
		for _, what := range []string{": no symbols: ", ": no file:line: "} {
			if strings.HasPrefix(line, "module "+m.reportPath+what) {
				return true
			}
		}
	}
	return false
}

// writeNotes says, for each module symbolized, where its names and lines came from or
// why there are none.
func (s *symbolizer) writeNotes(out io.Writer, indent string) {
	for _, line := range s.notes() {
		fmt.Fprintf(out, "%s%s\n", indent, line)
	}
}

func (s *symbolizer) notes() []string {
	var out []string
	for _, m := range s.used {
		if m.symsWhy != "" {
			out = append(out, "module "+m.reportPath+": no symbols: "+m.symsWhy)
		}
		if m.lines != nil {
			out = append(out, "module "+m.reportPath+": file:line "+m.linesFrom)
		} else {
			out = append(out, "module "+m.reportPath+": no file:line: "+m.linesWhy)
		}
	}
	return out
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

var (
	moduleLine = regexp.MustCompile(`(?m)^  (\S+) base 0x[0-9a-f]+ build-id ([0-9a-f]+)$`)
	frameLine  = regexp.MustCompile(`^#\d+ 0x([0-9a-f]+) in (.*?) \((\S+)\+0x([0-9a-f]+)\)`)
)

type symModule struct {
	reportPath string
	id         []byte
	loaded     bool
	file       string
	syms       []sigsafe.Symbol
	symsWhy    string // why there are no symbols
	lines      *dwarfcache.Tables
	linesFrom  string // where the lines came from (dwarfcache.DebugInfo.Source)
	linesWhy   string // why there are none
}

type symbolizer struct {
	search  []string
	modules map[string]*symModule
	used    []*symModule // the modules of the current report's frames, in order
}

// find locates the module's ELF file by build-id.
func (s *symbolizer) find(m *symModule) string {
	matches := func(p string) bool {
		f, err := elf.Open(p)
		if err != nil {
			return false
		}
		defer f.Close()
		return bytes.Equal(dwarfcache.BuildID(f), m.id)
	}
	var unstripped, any string
	consider := func(p string) {
		if !matches(p) {
			return
		}
		if any == "" {
			any = p
		}
		if f, err := elf.Open(p); err == nil {
			if f.Section(".symtab") != nil && unstripped == "" {
				unstripped = p
			}
			f.Close()
		}
	}
	consider(m.reportPath)
	for _, dir := range s.search {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				consider(p)
			}
			return nil
		})
	}
	if unstripped != "" {
		return unstripped
	}
	return any
}

// load finds a module's symbols and lines: its file by build-id (the report's path, the
// --search directories), its debug information there, in the debug directories, the
// debuginfod caches, or from the debuginfod servers; without the file, the debug file alone
// gives both.
func (s *symbolizer) load(m *symModule) {
	if !m.loaded {
		m.loaded = true
		s.read(m)
	}
	for _, u := range s.used {
		if u == m {
			return
		}
	}
	s.used = append(s.used, m)
}

func (s *symbolizer) read(m *symModule) {
	m.file = s.find(m)
	var info dwarfcache.DebugInfo
	var locErr, err error
	if m.file != "" {
		info, locErr = dwarfcache.Locate(m.file, m.id)
	} else {
		info, locErr = dwarfcache.LocateByBuildID(m.id)
	}
	debugFile := ""
	if locErr == nil && info.Path != m.file {
		debugFile = info.Path
	}
	switch {
	case m.file != "":
		m.syms, err = preload.ModuleSymbolsWithDebugFile(m.file, debugFile, m.id)
	case debugFile != "":
		m.syms, err = preload.ModuleSymbolsWithDebugFile(debugFile, "", nil)
	default:
		err = fmt.Errorf("no file of build-id %x here (--search DIR), and no debug file", m.id)
	}
	if err != nil {
		m.symsWhy = err.Error()
	}
	if locErr != nil {
		m.linesWhy = locErr.Error()
		return
	}
	if m.lines, err = extract(info.Path); err != nil {
		m.linesWhy = info.Path + ": " + err.Error()
		return
	}
	m.linesFrom = info.Source()
}

func extract(path string) (*dwarfcache.Tables, error) {
	data, err := dwarfcache.MapFile(path)
	if err != nil {
		return nil, err
	}
	defer syscall.Munmap(data)
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return dwarfcache.ExtractMapped(f, data, 0)
}

func (m *symModule) symbol(addr uint64) (string, uint64, error) {
	i := sort.Search(len(m.syms), func(i int) bool { return m.syms[i].Start > addr }) - 1
	if i < 0 {
		return "", 0, errors.New("no symbol")
	}
	s := m.syms[i]
	if s.Size == 0 && addr != s.Start || s.Size > 0 && addr-s.Start >= uint64(s.Size) {
		return "", 0, errors.New("past the symbol")
	}
	return s.Name, addr - s.Start, nil
}

// frame prints one frame again; n is the running frame number.
func (s *symbolizer) frame(out *bufio.Writer, n int, pc uint64, module string, off uint64, was, line string) int {
	m := s.modules[module]
	if m == nil || strings.HasPrefix(was, "<signal handler called>") {
		fmt.Fprintf(out, "#%d%s\n", n, line[strings.IndexByte(line, ' '):])
		return n + 1
	}
	s.load(m)
	// Return addresses are looked up at the call (pc-1), as the handler does; frame 0 and
	// frames after a signal are exact, which the report does not say: frame 0 only.
	lookup := off
	if n > 0 {
		lookup--
	}
	name, symOff, err := m.symbol(lookup)
	if err != nil {
		name = strings.SplitN(was, "+0x", 2)[0]
	} else {
		name = fmt.Sprintf("%s+0x%x", name, symOff+(off-lookup))
	}
	chain := []string{name + " "}
	if m.lines != nil {
		chain = m.lines.Symbolize(lookup, name)
	}
	for i, c := range chain {
		sp := strings.LastIndexByte(c, ' ')
		fn, loc := c[:sp], c[sp+1:]
		if i < len(chain)-1 {
			fn += " [inlined]"
		}
		fmt.Fprintf(out, "#%d 0x%016x in %s (%s+0x%x)", n, pc, fn, module, off)
		if loc != "" && !strings.HasPrefix(loc, "??") {
			fmt.Fprintf(out, " at %s", loc)
		}
		out.WriteString("\n")
		n++
	}
	return n
}

// jsonReports re-symbolizes JSON reports (CRASHGUARD_FORMAT=json), one object per line:
// every frame with a module gets function, function_offset, file, line and inlined[] again.
func (s *symbolizer) jsonReports(data []byte, w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var report map[string]any
		if err := json.Unmarshal(line, &report); err != nil {
			return fmt.Errorf("not a JSON report line: %v", err)
		}
		mods, _ := report["modules"].([]any)
		for _, m := range mods {
			mm, _ := m.(map[string]any)
			path, _ := mm["path"].(string)
			idHex, _ := mm["build_id"].(string)
			if id, err := hex.DecodeString(idHex); err == nil && path != "" {
				s.modules[path] = &symModule{reportPath: path, id: id}
			}
		}
		s.used = nil
		threads, _ := report["threads"].([]any)
		for _, th := range threads {
			frames, _ := th.(map[string]any)["frames"].([]any)
			for i, f := range frames {
				s.jsonFrame(f.(map[string]any), i == 0)
			}
		}
		if len(s.used) > 0 {
			old, _ := report["notes"].([]any)
			notes := []any{}
			for _, n := range old {
				if text, _ := n.(string); !s.supersededNote(text) {
					notes = append(notes, n)
				}
			}
			for _, n := range s.notes() {
				notes = append(notes, n)
			}
			report["notes"] = notes
		}
		if err := enc.Encode(report); err != nil {
			return err
		}
	}
	return nil
}

func (s *symbolizer) jsonFrame(f map[string]any, first bool) {
	path, _ := f["module"].(string)
	offHex, _ := f["module_offset"].(string)
	m := s.modules[path]
	off, err := strconv.ParseUint(strings.TrimPrefix(offHex, "0x"), 16, 64)
	if m == nil || err != nil || f["how"] == "signal-trampoline" {
		return
	}
	s.load(m)
	lookup := off
	if !first && f["how"] != "context" {
		lookup--
	}
	if name, symOff, err := m.symbol(lookup); err == nil {
		f["function"] = name
		f["function_offset"] = fmt.Sprintf("0x%x", symOff+(off-lookup))
	}
	if m.lines == nil {
		return
	}
	name, _ := f["function"].(string)
	chain := m.lines.Symbolize(lookup, name)
	var inlined []any
	for i, c := range chain {
		sp := strings.LastIndexByte(c, ' ')
		fn, loc := c[:sp], c[sp+1:]
		file, line := any(nil), any(nil)
		if c := strings.LastIndexByte(loc, ':'); c > 0 && !strings.HasPrefix(loc, "??") {
			file = loc[:c]
			if n, err := strconv.Atoi(loc[c+1:]); err == nil {
				line = n
			}
		}
		if i < len(chain)-1 {
			inlined = append(inlined, map[string]any{"function": fn, "file": file, "line": line})
		} else {
			f["file"], f["line"] = file, line
		}
	}
	if inlined == nil {
		inlined = []any{}
	}
	f["inlined"] = inlined
}
