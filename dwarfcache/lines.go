package dwarfcache

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"hash/maphash"
	"path"
	"slices"
	"sort"
	"time"

	"crashguard/sigsafe"

	"github.com/ianlancetaylor/demangle"
)

// NoRec marks an address with no inlined function, NoFile an address with no line.
const (
	NoRec  = ^uint32(0)
	NoFile = ^uint32(0)
)

// LineRow: from Start until the next row, code comes from Files[File]:Line (NoFile: no
// line information here). The handler's layout (sigsafe), so that the tables are not copied
// to be published: addresses are 32-bit (a module's code above 4 GiB is refused).
type LineRow = sigsafe.LineRow

// InlineRow: from Start until the next row, the innermost inlined function is Recs[Rec]
// (NoRec: not inside inlined code).
type InlineRow = sigsafe.InlineRow

// InlineRec is one inlined call: the inlined function's name (Tables.RecName), where it
// was called from, and the inlined call it sits in (Parent NoRec at the top: then the
// caller is the real function). The handler's layout: the name is an offset into the
// table's strings.
type InlineRec = sigsafe.InlineRecRow

// errAbove4GiB: the tables hold 32-bit addresses.
var errAbove4GiB = errors.New("code above 4 GiB")

// Tables is what a module's DWARF contributes to a report.
type Tables struct {
	Files      []string
	Lines      []LineRow
	InlineRows []InlineRow
	Recs       []InlineRec
	strs       *sigsafe.Strings // the names of Recs, as the line table's string section holds them
}

// RecName is the name of the inlined function of Recs[i].
func (t *Tables) RecName(i uint32) string { return t.strs.At(t.Recs[i].NameOff) }

type builder struct {
	compact bool      // sequences are compacted as they are read (addSequence)
	seq     []LineRow // the sequence being read
	spans   []span    // every sequence's address range
	err     error     // errAbove4GiB
	compDir string    // of the compilation unit being read: relative file names are under it
	d       *dwarf.Data
	t       Tables
	fileIdx map[string]uint32
	names   map[dwarf.Offset]string // of the current unit
	// demangled: the hash of a linkage name → its demangled form, as interned (the same
	// functions are inlined in unit after unit: each is demangled once, and its name is
	// held once, in the line table's string section).
	demangled map[uint64]string
	seed      maphash.Seed
}

func (b *builder) intern(s string) string {
	_, kept, err := b.t.strs.Add(s)
	if err != nil {
		b.err = err
		return ""
	}
	return kept
}

// offset is s's offset in the strings (s is interned already: a lookup).
func (b *builder) offset(s string) uint32 {
	off, _, err := b.t.strs.Add(s)
	if err != nil {
		b.err = err
	}
	return off
}

func (b *builder) file(name string) uint32 {
	if !path.IsAbs(name) && b.compDir != "" {
		name = path.Join(b.compDir, name)
	}
	if i, ok := b.fileIdx[name]; ok {
		return i
	}
	i := uint32(len(b.t.Files))
	b.t.Files = append(b.t.Files, name)
	b.fileIdx[name] = i
	return i
}

// ExtractTimeBudget bounds how long Extract may run; a module that needs longer is left
// to `crashguard warm`, which calls ExtractWithin with no deadline.
var ExtractTimeBudget = 2 * time.Second

// Extract reads the line tables and the inlined-call tree of every compilation unit,
// within ExtractTimeBudget.
func Extract(f *elf.File) (*Tables, error) { return ExtractWithin(f, ExtractTimeBudget) }

// ExtractWithin is Extract with a time budget (0: none). Malformed DWARF that makes Go's
// reader panic is reported as an error.
func ExtractWithin(f *elf.File, budget time.Duration) (t *Tables, err error) {
	return ExtractMapped(f, nil, budget)
}

// ExtractMapped is ExtractWithin for f parsed from data, a mapping of the whole file: the
// DWARF sections are read in place (sections.go), not copied into the heap.
func ExtractMapped(f *elf.File, data []byte, budget time.Duration) (t *Tables, err error) {
	var m *mappedDWARF
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("malformed DWARF: %v", r)
		}
		if m != nil {
			m.close()
		}
	}()
	var deadline time.Time
	if budget > 0 {
		deadline = time.Now().Add(budget)
	}
	m, err = openMappedDWARF(f, data)
	if err != nil {
		return nil, fmt.Errorf("DWARF: %v", err)
	}
	t, err = extract(m, deadline, budget, true)
	if err == errSequencesOverlap {
		t, err = extract(m, deadline, budget, false) // rows as they are, as many as they are
	}
	return t, err
}

func extract(m *mappedDWARF, deadline time.Time, budget time.Duration, compact bool) (*Tables, error) {
	d := m.data
	b := &builder{d: d, fileIdx: map[string]uint32{}, demangled: map[uint64]string{}, seed: maphash.MakeSeed(), compact: compact}
	b.t.strs = sigsafe.NewStrings()
	var inl []inlineRange
	r := d.Reader()
	released := dwarf.Offset(0)
	for {
		cu, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("DWARF: %v", err)
		}
		if cu == nil {
			break
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return nil, fmt.Errorf("DWARF needs more than the time budget of %v", budget)
		}
		if cu.Offset-released >= releaseEvery {
			m.release()
			released = cu.Offset
		}
		if cu.Tag != dwarf.TagCompileUnit && cu.Tag != dwarf.TagPartialUnit {
			r.SkipChildren()
			continue
		}
		b.compDir, _ = cu.Val(dwarf.AttrCompDir).(string)
		b.names = map[dwarf.Offset]string{} // origins are (nearly always) in their own unit
		var files []*dwarf.LineFile
		if lr, err := d.LineReader(cu); err == nil && lr != nil {
			files = lr.Files()
			if b.lines(lr); b.err != nil {
				return nil, b.err
			}
		}
		if cu.Children {
			got, err := b.inlines(r, files)
			if err == nil {
				err = b.err
			}
			if err != nil {
				return nil, err
			}
			inl = append(inl, got...)
		}
	}
	if b.compact && b.compactedOverlap() {
		return nil, errSequencesOverlap
	}
	b.spans = nil
	b.finishLines()
	b.flattenInlines(inl)
	if len(b.t.Lines) == 0 && len(b.t.InlineRows) == 0 {
		return nil, errors.New("DWARF has no line information")
	}
	return &b.t, nil
}

// lines reads one unit's line program, a sequence (the rows of one stretch of code, ending
// in an end-of-sequence row) at a time.
func (b *builder) lines(lr *dwarf.LineReader) {
	var e dwarf.LineEntry
	seq := b.seq[:0]
	raw := false // the sequence began at address 0 (code the linker discarded)
	first := true
	defer func() { b.seq = seq[:0] }()
	for {
		if err := lr.Next(&e); err != nil {
			b.addSequence(seq, true) // unterminated: as it is
			return
		}
		if first {
			raw, first = e.Address == 0, false
		}
		if e.Address > 1<<32-1 && (e.EndSequence || e.File != nil && e.Line > 0) {
			b.err = errAbove4GiB
			return
		}
		if e.EndSequence {
			seq = append(seq, LineRow{Start: uint32(e.Address), File: NoFile})
			b.addSequence(seq, raw)
			seq, first = seq[:0], true
			continue
		}
		if e.File == nil || e.Line <= 0 || e.Address == 0 {
			continue
		}
		seq = append(seq, LineRow{Start: uint32(e.Address), File: b.file(e.File.Name), Line: uint32(e.Line)})
	}
}

// A line program has several rows per line of source (statement boundaries, columns,
// views): about three rows are read for each row kept. addSequence drops the redundant
// ones of a sequence as it is read, instead of holding them all until finishLines: the rows
// strictly inside the sequence's address range (its rows at its first and last address are
// kept as they are) become one row per address — the last, as finishLines keeps — and a row
// that repeats the previous row's file and line is dropped. That is finishLines' result
// only if no other sequence has rows inside that range: compactedOverlap checks it at the
// end, and the DWARF is read again without compaction if one does (sequences of code the
// linker discarded, at address 0, are never compacted).
func (b *builder) addSequence(seq []LineRow, raw bool) {
	if len(seq) == 0 {
		return
	}
	lo, hi := seq[0].Start, seq[len(seq)-1].Start
	ascending := true
	for i := 1; i < len(seq); i++ {
		if seq[i].Start < seq[i-1].Start {
			ascending = false
			break
		}
	}
	if !b.compact || raw || !ascending || len(seq) < 4 {
		b.t.Lines = append(b.t.Lines, seq...)
		if b.compact {
			b.spans = append(b.spans, span{lo: min(lo, hi), hi: max(lo, hi)})
		}
		return
	}
	i := 0
	for i < len(seq) && seq[i].Start == lo {
		i++
	}
	j := len(seq)
	for j > i && seq[j-1].Start == hi {
		j--
	}
	start := len(b.t.Lines)
	b.t.Lines = append(b.t.Lines, seq[:i]...)
	kept := len(b.t.Lines)
	for _, row := range seq[i:j] { // each has a file: the end row is at hi
		if n := len(b.t.Lines); n > kept {
			last := &b.t.Lines[n-1]
			if last.Start == row.Start {
				*last = row
				continue
			}
			if last.File == row.File && last.Line == row.Line {
				continue
			}
		}
		b.t.Lines = append(b.t.Lines, row)
	}
	b.t.Lines = append(b.t.Lines, seq[j:]...)
	b.spans = append(b.spans, span{lo: lo, hi: hi, compacted: true, first: start, n: len(b.t.Lines) - start})
}

// span is the address range of one sequence's rows; a compacted one's rows are
// Lines[first:first+n].
type span struct {
	lo, hi    uint32
	compacted bool
	first, n  int
}

// errSequencesOverlap: a compacted sequence shares addresses with another one.
var errSequencesOverlap = errors.New("line sequences overlap")

// compactedOverlap says whether some sequence has rows strictly inside a compacted
// sequence's range. Copies of one sequence are not: C++ inline functions are compiled in
// every unit that uses them, and the linker points the debug information of the copies it
// discards at the copy it keeps; identical rows at identical addresses change nothing.
func (b *builder) compactedOverlap() bool {
	spans := b.spans
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].lo != spans[j].lo {
			return spans[i].lo < spans[j].lo
		}
		return spans[i].hi < spans[j].hi
	})
	same := func(x, y span) bool {
		return x.compacted && y.compacted && x.lo == y.lo && x.hi == y.hi && x.n == y.n &&
			slices.Equal(b.t.Lines[x.first:x.first+x.n], b.t.Lines[y.first:y.first+y.n])
	}
	out := spans[:0]
	for _, c := range spans {
		if n := len(out); n > 0 && same(out[n-1], c) {
			continue
		}
		out = append(out, c)
	}
	spans = out
	var maxHi uint32
	for k, c := range spans {
		if k > 0 && c.compacted && maxHi > c.lo { // one that starts no later reaches inside
			return true
		}
		if c.compacted {
			for _, s := range spans[k+1:] {
				if s.lo >= c.hi {
					break
				}
				if s.hi > c.lo {
					return true
				}
			}
		}
		maxHi = max(maxHi, c.hi)
	}
	return false
}

// finishLines sorts the rows; at one address the last row wins (earlier ones cover no
// bytes), except that a sequence's start beats the previous sequence's end.
func (b *builder) finishLines() {
	rows := b.t.Lines
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Start < rows[j].Start })
	out := rows[:0]
	for _, row := range rows {
		if n := len(out); n > 0 && out[n-1].Start == row.Start {
			if row.File != NoFile || out[n-1].File == NoFile {
				out[n-1] = row
			}
			continue
		}
		if n := len(out); n > 0 && out[n-1].File == row.File && out[n-1].Line == row.Line {
			continue
		}
		out = append(out, row)
	}
	b.t.Lines = out
}

type inlineRange struct {
	lo, hi uint32
	rec    uint32
	depth  int32
}

// inlines walks one compilation unit's DIEs, recording every inlined call with its ranges.
func (b *builder) inlines(r *dwarf.Reader, files []*dwarf.LineFile) ([]inlineRange, error) {
	var out []inlineRange
	var stack []uint32 // per open DIE with children: the inlined call it is, or NoRec
	current := func() (uint32, int) {
		depth := 0 // inlined calls open around this DIE
		rec := NoRec
		for _, o := range stack {
			if o != NoRec {
				rec = o
				depth++
			}
		}
		return rec, depth
	}
	for depth := 1; depth > 0; {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("DWARF: %v", err)
		}
		if e == nil {
			break
		}
		if e.Tag == 0 { // end of a sibling list
			depth--
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		rec := NoRec
		if e.Tag == dwarf.TagInlinedSubroutine {
			parent, d := current()
			rec = uint32(len(b.t.Recs))
			b.t.Recs = append(b.t.Recs, InlineRec{NameOff: b.offset(b.originName(e)), Parent: parent,
				CallFile: b.callFile(e, files), CallLine: uint32(intAttr(e, dwarf.AttrCallLine))})
			if ranges, err := b.d.Ranges(e); err == nil {
				for _, rg := range ranges {
					if rg[1] > rg[0] {
						if rg[1] > 1<<32-1 {
							return nil, errAbove4GiB
						}
						out = append(out, inlineRange{lo: uint32(rg[0]), hi: uint32(rg[1]), rec: rec, depth: int32(d + 1)})
					}
				}
			}
		}
		if e.Children {
			depth++
			stack = append(stack, rec)
		}
	}
	return out, nil
}

func intAttr(e *dwarf.Entry, a dwarf.Attr) int64 {
	switch v := e.Val(a).(type) {
	case int64:
		return v
	case uint64:
		return int64(v)
	}
	return 0
}

func (b *builder) callFile(e *dwarf.Entry, files []*dwarf.LineFile) uint32 {
	i := intAttr(e, dwarf.AttrCallFile)
	if i < 0 || i >= int64(len(files)) || files[i] == nil {
		return NoFile
	}
	return b.file(files[i].Name)
}

// originName is the inlined function's name: demangled linkage name when there is one,
// following DW_AT_abstract_origin and DW_AT_specification.
func (b *builder) originName(e *dwarf.Entry) string {
	origin, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
	if !ok {
		return b.nameOf(e)
	}
	if n, ok := b.names[origin]; ok {
		return n
	}
	name := "??"
	r := b.d.Reader()
	for off, hops := origin, 0; hops < 4; hops++ {
		r.Seek(off)
		o, err := r.Next()
		if err != nil || o == nil {
			break
		}
		if n := b.nameOf(o); n != "" {
			name = n
			break
		}
		next, ok := o.Val(dwarf.AttrSpecification).(dwarf.Offset)
		if !ok {
			if next, ok = o.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); !ok {
				break
			}
		}
		off = next
	}
	b.names[origin] = name
	return name
}

// nameOf is e's name: its linkage name demangled (once per distinct name), or DW_AT_name;
// one copy of each.
func (b *builder) nameOf(e *dwarf.Entry) string {
	if ln, ok := e.Val(dwarf.AttrLinkageName).(string); ok && ln != "" {
		key := maphash.String(b.seed, ln)
		if s, ok := b.demangled[key]; ok {
			return s
		}
		s, err := demangle.ToString(ln)
		if err != nil {
			s = ln
		}
		s = b.intern(s)
		b.demangled[key] = s
		return s
	}
	if n, ok := e.Val(dwarf.AttrName).(string); ok {
		return b.intern(n)
	}
	return ""
}

// flattenInlines turns nested ranges into non-overlapping rows naming the innermost call.
func (b *builder) flattenInlines(ranges []inlineRange) {
	if len(ranges) == 0 {
		return
	}
	type event struct {
		at    uint32
		start bool
		r     int32
	}
	events := make([]event, 0, 2*len(ranges))
	for i, r := range ranges {
		events = append(events, event{r.lo, true, int32(i)}, event{r.hi, false, int32(i)})
	}
	sort.Slice(events, func(i, j int) bool {
		if events[i].at != events[j].at {
			return events[i].at < events[j].at
		}
		return !events[i].start && events[j].start // ends before starts at one address
	})
	var active []int32
	for i := 0; i < len(events); {
		at := events[i].at
		for ; i < len(events) && events[i].at == at; i++ {
			ev := events[i]
			if ev.start {
				active = append(active, ev.r)
				continue
			}
			for k, a := range active {
				if a == ev.r {
					active = append(active[:k], active[k+1:]...)
					break
				}
			}
		}
		rec := NoRec
		best := int32(-1)
		for _, a := range active {
			if ranges[a].depth > best {
				best, rec = ranges[a].depth, ranges[a].rec
			}
		}
		if n := len(b.t.InlineRows); n > 0 && b.t.InlineRows[n-1].Rec == rec {
			continue
		}
		b.t.InlineRows = append(b.t.InlineRows, InlineRow{Start: at, Rec: rec})
	}
}
