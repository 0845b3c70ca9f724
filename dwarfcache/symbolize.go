package dwarfcache

import (
	"sort"
	"strconv"
)

// Symbolize answers like llvm-symbolizer --inlining, for ELF address addr: the inlined
// calls innermost first, then outerName, each as "function file:line" ("??:0" unknown).
func (t *Tables) Symbolize(addr uint64, outerName string) []string {
	line := sort.Search(len(t.Lines), func(i int) bool { return uint64(t.Lines[i].Start) > addr }) - 1
	file, ln := NoFile, uint32(0)
	if line >= 0 {
		file, ln = t.Lines[line].File, t.Lines[line].Line
	}
	loc := func(f, l uint32) string {
		if f == NoFile {
			return "??:0"
		}
		return t.Files[f] + ":" + strconv.Itoa(int(l))
	}
	var out []string
	rec := NoRec
	if i := sort.Search(len(t.InlineRows), func(i int) bool { return uint64(t.InlineRows[i].Start) > addr }) - 1; i >= 0 {
		rec = t.InlineRows[i].Rec
	}
	for depth := 0; rec != NoRec && depth < 64; depth++ {
		r := t.Recs[rec]
		out = append(out, t.RecName(rec)+" "+loc(file, ln))
		file, ln = r.CallFile, r.CallLine
		rec = r.Parent
	}
	return append(out, outerName+" "+loc(file, ln))
}
