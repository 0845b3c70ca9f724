package dwarfcache

import (
	"math/rand"
	"testing"
)

// Sequences compacted as they are read (addSequence) give the line table that keeping
// every row gives, address by address, whenever compactedOverlap lets them stand; when it
// does not, the DWARF is read again without compaction. Random sequences: several rows per
// address and per line, copies of one sequence (C++ inline functions), overlapping ones,
// code discarded at address 0.
func TestCompactedSequencesLookUpAsRawRows(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	checked, fellBack := 0, 0
	for round := 0; round < 3000; round++ {
		var seqs [][]LineRow
		var raw []bool
		for n := 1 + rng.Intn(6); n > 0; n-- {
			if len(seqs) > 0 && rng.Intn(4) == 0 { // a copy
				seqs = append(seqs, seqs[rng.Intn(len(seqs))])
				raw = append(raw, false)
				continue
			}
			lo := uint32(rng.Intn(200))
			if rng.Intn(5) == 0 {
				lo = 0
			}
			var seq []LineRow
			at := lo
			for k := 2 + rng.Intn(12); k > 0; k-- {
				seq = append(seq, LineRow{Start: at, File: uint32(rng.Intn(2)), Line: uint32(1 + rng.Intn(3))})
				at += uint32(rng.Intn(3)) // rows at one address, too
			}
			seqs = append(seqs, append(seq, LineRow{Start: at + uint32(rng.Intn(2)), File: NoFile}))
			raw = append(raw, lo == 0)
		}
		full := &builder{t: Tables{Files: []string{"a.c", "b.h"}}}
		compact := &builder{compact: true, t: Tables{Files: []string{"a.c", "b.h"}}}
		for i, s := range seqs {
			full.addSequence(s, raw[i])
			compact.addSequence(s, raw[i])
		}
		if compact.compactedOverlap() {
			fellBack++
			continue
		}
		full.finishLines()
		compact.finishLines()
		for addr := uint64(0); addr < 260; addr++ {
			a, b := full.t.Symbolize(addr, "f"), compact.t.Symbolize(addr, "f")
			if a[0] != b[0] {
				t.Fatalf("round %d, address %d: %q with every row, %q compacted\nsequences %v", round, addr, a, b, seqs)
			}
		}
		checked++
	}
	if checked < 500 || fellBack < 100 {
		t.Fatalf("%d cases compared, %d fell back: the cases do not cover both", checked, fellBack)
	}
}
