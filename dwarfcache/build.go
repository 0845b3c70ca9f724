package dwarfcache

import (
	"bytes"
	"debug/elf"
	"fmt"

	"crashguard/sigsafe"

	"golang.org/x/sys/unix"
)

func debugSize(f *elf.File) int64 {
	var n int64
	for _, s := range f.Sections {
		if len(s.Name) > 7 && (s.Name[:7] == ".debug_" || (len(s.Name) > 8 && s.Name[:8] == ".zdebug_")) {
			n += int64(s.FileSize)
		}
	}
	return n
}

// LineTable builds the line table blob from the debug information Locate found.
// budget < 0 means no limit.
func LineTable(info DebugInfo, budget int64) (*sigsafe.LineTable, error) {
	data, err := MapFile(info.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", info.Path, err)
	}
	defer unix.Munmap(data)
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", info.Path, err)
	}
	if size := debugSize(f); budget >= 0 && size > budget {
		return nil, fmt.Errorf("debug information of %d KiB exceeds the budget of %d KiB", size>>10, budget>>10)
	}
	limit := ExtractTimeBudget
	if budget < 0 {
		limit = 0 // no size bound: no deadline either
	}
	t, err := ExtractMapped(f, data, limit)
	if err != nil {
		return nil, err
	}
	return t.Blob()
}

// Blob lays the tables out for the handler.
func (t *Tables) Blob() (*sigsafe.LineTable, error) {
	strs := t.strs
	if strs == nil {
		strs = sigsafe.NewStrings()
	}
	return sigsafe.BuildLineTableWith(strs, t.Files, t.Lines, t.InlineRows, t.Recs)
}
