package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
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

const symbolizeHelp = `Reads a report (a file, or standard input), text or JSON (CRASHGUARD_FORMAT=json, one
object per line), written where names or debug information were missing — stripped binaries
in production — and prints it again with function names, file:line and inlined calls. Each
module is found by its build-id: at the path the report names, in the --search directories
and the CRASHGUARD_DEBUG_DIRS directories (each walked for ELF files, an unstripped copy
preferred, and searched as a debug directory: .build-id/xx/rest.debug), in /usr/lib/debug,
a debuginfod cache, or its debuglink file; else from the debuginfod servers
(DEBUGINFOD_URLS, or --debuginfod), which works even for a module not on this machine.
Each module's notes say where its names and lines came from, or why there are none.

  --search DIR       a directory to search, e.g. the build output kept for the release;
                     repeatable. It must exist.
  --debuginfod URL   debuginfod server URL(s), space-separated, asked instead of
                     DEBUGINFOD_URLS

Exit status 1 if the input holds no crashguard report.
`

// symbolize re-symbolizes a text report written where symbols or debug information were
// missing: each module is found by build-id (the path in the report, the debug
// directories, or the --search directories, e.g. the unstripped build output), and every
// frame is printed again with its function, file:line and inlined calls.
func symbolize(args []string) error {
	fs := newFlags("symbolize")
	var search multiFlag
	fs.Var(&search, "search", "")
	servers := fs.String("debuginfod", "", "")
	operands, err := parse(fs, args, false)
	if err != nil {
		return err
	}
	if len(operands) > 1 {
		return usagef("one report at a time, got %d operands", len(operands))
	}
	if *servers != "" {
		dwarfcache.Debuginfod = debuginfod.New(*servers)
	}
	for i, d := range search {
		if st, err := os.Stat(d); err != nil {
			return usagef("--search %s: no such directory", d)
		} else if !st.IsDir() {
			return usagef("--search %s: not a directory", d)
		}
		if abs, err := filepath.Abs(d); err == nil {
			search[i] = abs
		}
	}
	var in io.Reader = os.Stdin
	name := "standard input"
	if len(operands) == 1 && operands[0] != "-" {
		f, err := os.Open(operands[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, operands[0]
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	if !hasReport(data) {
		return fmt.Errorf("%s: no crashguard report in it", name)
	}
	return newSymbolizer(search).report(data, os.Stdout)
}

// hasReport says whether data holds a crashguard report, text or JSON.
func hasReport(data []byte) bool {
	return bytes.Contains(data, []byte("*** crashguard: ")) || bytes.Contains(data, []byte(`"crashguard_report":`))
}

// newSymbolizer looks for modules in the --search directories and, the same way, in
// CRASHGUARD_DEBUG_DIRS: one lookup path for both (an unstripped copy or a debug file
// found there names the functions and gives file:line alike).
func newSymbolizer(search []string) *symbolizer {
	var dirs []string
	for _, d := range search {
		if abs, err := filepath.Abs(d); err == nil {
			dirs = append(dirs, abs)
		}
	}
	for _, d := range strings.Split(os.Getenv("CRASHGUARD_DEBUG_DIRS"), ":") {
		if filepath.IsAbs(d) {
			dirs = append(dirs, d)
		}
	}
	// The debug file lookup (dwarfcache.FindDebugInfo) reads CRASHGUARD_DEBUG_DIRS: the
	// --search directories join it, so a debug file under either is found the same way.
	os.Setenv("CRASHGUARD_DEBUG_DIRS", strings.Join(dirs, ":"))
	if dwarfcache.Debuginfod == nil {
		dwarfcache.Debuginfod = debuginfod.FromEnv()
	}
	return &symbolizer{search: dirs, modules: map[string]*symModule{}}
}

// report prints data again, symbolized: a JSON report (one object per line) or a text one.
func (s *symbolizer) report(data []byte, w io.Writer) error {
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		return s.jsonReports(data, w)
	}
	for _, m := range moduleLine.FindAllStringSubmatch(string(data), -1) {
		id, err := hex.DecodeString(m[2])
		if err == nil {
			s.modules[m[1]] = &symModule{reportPath: m[1], id: id}
		}
	}
	out := bufio.NewWriter(w)
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
		f := reportFrame{hasPC: m[1] != "", module: m[3], was: m[2], guessed: strings.Contains(m[5], " [guessed")}
		f.pc, _ = strconv.ParseUint(m[1], 16, 64)
		f.off, _ = strconv.ParseUint(m[4], 16, 64)
		n = s.frame(out, n, f, strings.TrimRight(line, "\n"))
	}
	return nil
}

// supersededNote: the report's own note about a module's missing symbols or lines, which
// this symbolization replaces with its own (writeNotes).
func (s *symbolizer) supersededNote(line string) bool {
	line = strings.TrimSpace(line)
	for _, m := range s.used {
		for _, what := range []string{": no symbols: ", ": no file:line: ", ": no tables: "} {
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
	// The pc is absent from reports that withhold raw addresses (docs/security.md).
	frameLine = regexp.MustCompile(`^#\d+ (?:0x([0-9a-f]+) )?in (.*?) \((\S+)\+0x([0-9a-f]+)\)(.*)$`)
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
	index   map[string][]indexed // build-id (hex) → ELF files of the search directories
	used    []*symModule         // the modules of the current report's frames, in order
}

// find locates the module's ELF file by build-id: the path in the report, or a file of the
// search directories, an unstripped one preferred.
func (s *symbolizer) find(m *symModule) string {
	if s.index == nil {
		s.indexSearchDirs()
	}
	var candidates []indexed
	if c, ok := elfBuildID(m.reportPath); ok && bytes.Equal(c.id, m.id) {
		candidates = append(candidates, c)
	}
	candidates = append(candidates, s.index[hex.EncodeToString(m.id)]...)
	for _, c := range candidates {
		if c.symtab {
			return c.path
		}
	}
	if len(candidates) > 0 {
		return candidates[0].path
	}
	return ""
}

type indexed struct {
	path   string
	id     []byte
	symtab bool
}

func elfBuildID(p string) (indexed, bool) {
	f, err := elf.Open(p)
	if err != nil {
		return indexed{}, false
	}
	defer f.Close()
	id := dwarfcache.BuildID(f)
	return indexed{path: p, id: id, symtab: f.Section(".symtab") != nil}, len(id) > 0
}

// indexSearchDirs walks the search directories once: every ELF file by build-id.
func (s *symbolizer) indexSearchDirs() {
	s.index = map[string][]indexed{}
	for _, dir := range s.search {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if c, ok := elfBuildID(p); ok {
					key := hex.EncodeToString(c.id)
					s.index[key] = append(s.index[key], c)
				}
			}
			return nil
		})
	}
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

// reportFrame is one frame line of a text report.
type reportFrame struct {
	pc      uint64
	hasPC   bool
	module  string
	off     uint64
	was     string // what the report said: "name+0xOFF", "??", "<signal handler called>"
	guessed bool
}

// frame prints one frame again, in the report's own frame format (docs/report.md):
// "#n 0xPC in name+0xOFF (module+0xOFF) at file:line"; n is the running frame number.
func (s *symbolizer) frame(out *bufio.Writer, n int, f reportFrame, line string) int {
	m := s.modules[f.module]
	if m == nil || strings.HasPrefix(f.was, "<signal handler called>") {
		fmt.Fprintf(out, "#%d%s\n", n, line[strings.IndexByte(line, ' '):])
		return n + 1
	}
	s.load(m)
	// Return addresses are looked up at the call (pc-1), as the handler does; frame 0 and
	// frames after a signal are exact, which the report does not say: frame 0 only.
	lookup := f.off
	if n > 0 {
		lookup--
	}
	// Where the file found has no symbol for the address (a library whose names the report
	// took from its separate debug file), the report's own name stays, offset and all.
	name := f.was
	if sym, symOff, err := m.symbol(lookup); err == nil {
		name = fmt.Sprintf("%s+0x%x", sym, symOff+(f.off-lookup))
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
		if f.hasPC {
			fmt.Fprintf(out, "#%d 0x%016x in %s (%s+0x%x)", n, f.pc, fn, f.module, f.off)
		} else {
			fmt.Fprintf(out, "#%d in %s (%s+0x%x)", n, fn, f.module, f.off)
		}
		if loc != "" && !strings.HasPrefix(loc, "??") {
			fmt.Fprintf(out, " at %s", loc)
		}
		if f.guessed && i == len(chain)-1 {
			out.WriteString(" [guessed: return address taken from the top of the stack]")
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
