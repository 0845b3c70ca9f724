// Package preload builds a module's tables — symbols from its ELF symbol tables (demangled),
// unwind rules from its .eh_frame, lines and inlined calls from its DWARF (dwarfcache) — for
// the C signal handler (sigsafe). It runs in the helper process a host starts for the tables
// it lacks (helper.go), and in the crashguard command; never inside a host.
package preload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"crashguard/dwarfcache"
	"crashguard/sigsafe"

	"github.com/ianlancetaylor/demangle"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// maxModuleFile bounds what we map: a larger file is skipped with a note.
const maxModuleFile = 4 << 30

// Built is what BuildTables made of one module: a table per kind, or a note saying why not.
type Built struct {
	Tables map[int]sigsafe.Table
	Notes  map[int]string
	Source dwarfcache.Source // where its debug information came from, or where it was looked for
	// LinesFrom says where the line table's debug information came from
	// (dwarfcache.DebugInfo.Source), when there is a line table.
	LinesFrom string
}

// CacheEntries turns a build into the entries of a cache file.
func (b *Built) CacheEntries() []dwarfcache.Entry {
	var entries []dwarfcache.Entry
	for _, kind := range tableKinds {
		if t, ok := b.Tables[kind]; ok {
			entries = append(entries, dwarfcache.Entry{Kind: uint32(kind), Pieces: t.Pieces()})
		} else {
			entries = append(entries, dwarfcache.Entry{Kind: uint32(kind), Flags: dwarfcache.FlagNote, Data: []byte(b.Notes[kind])})
		}
	}
	if b.Source.Module != "" {
		entries = append(entries, dwarfcache.Entry{Kind: dwarfcache.KindSource, Flags: dwarfcache.FlagNote, Data: b.Source.Encode()})
	}
	return entries
}

// BuildTables builds a module's symbol, unwind and line tables from the file at path (or
// from image, an ELF image in memory, when there is no file). It fails only when the module
// cannot be read at all; a missing table is a note. budget bounds the DWARF parsed (< 0:
// no bound).
func BuildTables(path string, buildID []byte, image []byte, budget int64) (*Built, error) {
	var f *elfFile
	unmap := func() {}
	var err error
	if image != nil {
		f, err = parseELF(image)
	} else {
		f, unmap, err = openModule(path, buildID)
	}
	if err != nil {
		return nil, err
	}
	defer unmap()
	b := &Built{Tables: map[int]sigsafe.Table{}, Notes: map[int]string{}}
	record := func(kind int, t sigsafe.Table, err error) {
		if err != nil {
			b.Notes[kind] = err.Error()
		} else {
			b.Tables[kind] = t
		}
	}
	// Where the DWARF is: in the module, a debug file here, or one debuginfod fetches now.
	info, infoErr := dwarfcache.DebugInfo{}, errors.New("no debug information (in-memory image)")
	if image == nil {
		info, infoErr = dwarfcache.Locate(path, buildID)
	}
	debugPath := ""
	if infoErr == nil && info.Path != path {
		debugPath = info.Path
	}
	syms, err := symbolTable(f, debugPath)
	record(sigsafe.Symbols, syms, err)
	unw, err := unwindTable(f)
	record(sigsafe.Unwind, unw, err)
	switch {
	case image != nil:
		b.Source = dwarfcache.Source{Module: path, LookedIn: []string{"nowhere (an image in memory)"}}
	case infoErr == nil:
		b.Source = dwarfcache.Source{Module: path, Method: info.Method, Debug: info.Path}
	default:
		b.Source = dwarfcache.SourceOf(path, buildID) // where it was looked for
	}
	if infoErr != nil {
		record(sigsafe.Lines, nil, infoErr)
	} else {
		lines, err := dwarfcache.LineTable(info, budget)
		record(sigsafe.Lines, lines, err)
		if err == nil {
			b.LinesFrom = info.Source()
		}
	}
	return b, nil
}

// openModule maps and parses the ELF file at path and checks that it is the file that was
// loaded (same build-id, when the loaded image has one).
func openModule(path string, loadedBuildID []byte) (*elfFile, func(), error) {
	if !strings.HasPrefix(path, "/") {
		return nil, nil, fmt.Errorf("no file to read (%q is not a path)", path)
	}
	data, err := mapFile(path)
	if err != nil {
		return nil, nil, err
	}
	unmap := func() { unix.Munmap(data) }
	f, err := parseELF(data)
	if err != nil {
		unmap()
		return nil, nil, err
	}
	if id := f.buildID(); len(loadedBuildID) > 0 && len(id) > 0 && !bytes.Equal(id, loadedBuildID) {
		unmap()
		return nil, nil, errors.New("the file on disk is not the one loaded (build-id differs; replaced since start?)")
	}
	return f, unmap, nil
}

// ModuleSymbols returns the function symbols of the ELF file at path, sorted, one per
// address, demangled.
func ModuleSymbols(path string, loadedBuildID []byte) ([]sigsafe.Symbol, error) {
	f, unmap, err := openModule(path, loadedBuildID)
	if err != nil {
		return nil, err
	}
	defer unmap()
	return collectSymbols(f)
}

// symbolTable names the module's functions from its own symbol tables and, for a stripped
// module, from the .symtab of its separate debug file or of its MiniDebugInfo.
func symbolTable(f *elfFile, debugPath string) (sigsafe.Table, error) {
	files, release := symbolFiles(f, debugPath)
	defer release()
	syms, err := collectSymbols(files...)
	if err != nil {
		return nil, err
	}
	return sigsafe.BuildSymbolTable(syms)
}

// symbolFiles are the files naming f's functions: f, and for a stripped f its separate
// debug file (debugPath, "" for none) or else its MiniDebugInfo.
func symbolFiles(f *elfFile, debugPath string) ([]*elfFile, func()) {
	files, release := []*elfFile{f}, func() {}
	if _, has := f.section(".symtab"); !has {
		if debugPath != "" {
			if df, unmap, err := openModule(debugPath, nil); err == nil {
				files, release = append(files, df), unmap
			}
		} else if mini, err := miniDebugInfo(f); err == nil && mini != nil {
			files = append(files, mini)
		}
	}
	return files, release
}

// maxUnwindRows bounds one module's table (libLLVM has about 1.3 million rows).
const maxUnwindRows = 8 << 20

func unwindTable(f *elfFile) (sigsafe.Table, error) {
	s, ok := f.section(".eh_frame")
	if !ok {
		return nil, errors.New("no .eh_frame (built without unwind tables)")
	}
	data, err := f.sectionData(s)
	if err != nil {
		return nil, err
	}
	rows, skipped, err := UnwindRows(data, s.addr, maxUnwindRows)
	if err != nil {
		return nil, fmt.Errorf(".eh_frame: %v", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf(".eh_frame describes no code (%d entries unusable)", skipped)
	}
	index := map[Rule]uint32{}
	var rules []sigsafe.UnwindRule
	out := make([]sigsafe.UnwindRow, 0, len(rows))
	for _, r := range rows {
		if r.Start > 1<<32-1 {
			return nil, errors.New("code above 4 GiB: not representable in the unwind table")
		}
		id, ok := index[r.Rule]
		if !ok {
			id = uint32(len(rules))
			index[r.Rule] = id
			rules = append(rules, sigsafe.UnwindRule{Kind: uint8(r.Rule.Kind), CFAReg: r.Rule.CFAReg,
				FPRule: r.Rule.FPRule, CFAOff: r.Rule.CFAOff, FPOff: r.Rule.FPOff, RAOff: r.Rule.RAOff,
				DerefAdd: r.Rule.DerefAdd})
		}
		out = append(out, sigsafe.UnwindRow{Start: uint32(r.Start), Rule: id})
	}
	return sigsafe.BuildUnwindTable(out, rules)
}

func mapFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fstat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, errors.New("not a regular file")
	}
	if st.Size <= 0 || st.Size > maxModuleFile {
		return nil, fmt.Errorf("file size %d out of range", st.Size)
	}
	data, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	return data, nil
}

// better reports whether a should name an address rather than b (aliases share addresses):
// exported over weak over local, sized over unsized, fewer leading underscores.
func better(a, b rawSymbol) bool {
	rank := func(s rawSymbol) int {
		switch s.bind {
		case stbLocal:
			return 0
		case stbWeak:
			return 1
		default:
			return 2
		}
	}
	if rank(a) != rank(b) {
		return rank(a) > rank(b)
	}
	if (a.size > 0) != (b.size > 0) {
		return a.size > 0
	}
	ua, ub := leadingUnderscores(a.name), leadingUnderscores(b.name)
	if ua != ub {
		return ua < ub
	}
	return len(a.name) < len(b.name)
}

func leadingUnderscores(b []byte) int {
	n := 0
	for n < len(b) && b[n] == '_' {
		n++
	}
	return n
}

func collectSymbols(files ...*elfFile) ([]sigsafe.Symbol, error) {
	var raw []rawSymbol
	var tables int
	var err error
	for _, f := range files {
		n, ferr := f.functionSymbols(func(s rawSymbol) { raw = append(raw, s) })
		tables += n
		if ferr != nil {
			err = ferr
		}
	}
	if err != nil && len(raw) == 0 {
		return nil, err
	}
	if tables == 0 {
		return nil, errors.New("the file has no symbol table (.symtab or .dynsym)")
	}
	if len(raw) == 0 {
		return nil, errors.New("the symbol tables name no functions")
	}
	sort.Slice(raw, func(i, j int) bool { return raw[i].value < raw[j].value })
	out := make([]sigsafe.Symbol, 0, len(raw))
	for i := 0; i < len(raw); {
		best, maxSize := raw[i], raw[i].size
		j := i + 1
		for ; j < len(raw) && raw[j].value == raw[i].value; j++ {
			if better(raw[j], best) {
				best = raw[j]
			}
			if raw[j].size > maxSize {
				maxSize = raw[j].size
			}
		}
		size := best.size
		if size == 0 {
			size = maxSize
		}
		if size > 1<<32-1 {
			size = 1<<32 - 1
		}
		out = append(out, sigsafe.Symbol{Start: best.value, Size: uint32(size), Name: demangled(best.name)})
		i = j
	}
	return out, nil
}

// demangled turns C++ (_Z) and Rust (_R, and legacy _ZN...E) names into source form; any
// other name, or one the demangler rejects, is kept as it is.
func demangled(name []byte) string {
	if len(name) > 2 && name[0] == '_' && (name[1] == 'Z' || name[1] == 'R') {
		if s, err := demangle.ToString(string(name)); err == nil {
			return s
		}
	}
	return string(name)
}

// maxMiniDebugInfo bounds the decompressed MiniDebugInfo (Fedora's are tens of KiB to a few
// MiB: local function symbols only).
const maxMiniDebugInfo = 32 << 20

// miniDebugInfo reads .gnu_debugdata: an xz-compressed ELF file holding the .symtab of a
// stripped module (Fedora/RHEL ship it, so stripped binaries still name their static
// functions). nil when there is none.
func miniDebugInfo(f *elfFile) (*elfFile, error) {
	s, ok := f.section(".gnu_debugdata")
	if !ok {
		return nil, nil
	}
	compressed, err := f.sectionData(s)
	if err != nil {
		return nil, err
	}
	r, err := xz.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf(".gnu_debugdata: %v", err)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxMiniDebugInfo+1))
	if err != nil {
		return nil, fmt.Errorf(".gnu_debugdata: %v", err)
	}
	if len(data) > maxMiniDebugInfo {
		return nil, errors.New(".gnu_debugdata larger than 32 MiB")
	}
	return parseELF(data)
}

// ModuleSymbolsWithDebugFile is ModuleSymbols, with a stripped module's names also taken
// from its separate debug file (debugPath, "" for none) or else its MiniDebugInfo, as its
// tables are built.
func ModuleSymbolsWithDebugFile(path, debugPath string, loadedBuildID []byte) ([]sigsafe.Symbol, error) {
	f, unmap, err := openModule(path, loadedBuildID)
	if err != nil {
		return nil, err
	}
	defer unmap()
	files, release := symbolFiles(f, debugPath)
	defer release()
	return collectSymbols(files...)
}
