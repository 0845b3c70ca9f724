package dwarfcache

import (
	"bytes"
	"debug/elf"
	"errors"
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

// DebugFile returns the separate debug file of the module at path, if there is one.
func DebugFile(path string, buildID []byte) (string, bool) {
	data, err := MapFile(path)
	if err != nil {
		return "", false
	}
	defer unix.Munmap(data)
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return "", false
	}
	info, ok := FindDebugInfo(path, f, buildID)
	if !ok || info.Path == path {
		return "", false
	}
	return info.Path, true
}

// LineTable finds the module's debug information and builds its line table blob.
// budget < 0 means no limit.
func LineTable(path string, buildID []byte, budget int64) (*sigsafe.LineTable, error) {
	data, err := MapFile(path)
	if err != nil {
		return nil, err
	}
	defer unix.Munmap(data)
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	info, ok := FindDebugInfo(path, f, buildID)
	if !ok {
		return nil, errors.New("no debug information (not in the module, no build-id or debuglink file)")
	}
	df, ddata := f, data
	if info.Path != path {
		if ddata, err = MapFile(info.Path); err != nil {
			return nil, fmt.Errorf("%s: %v", info.Path, err)
		}
		defer unix.Munmap(ddata)
		if df, err = elf.NewFile(bytes.NewReader(ddata)); err != nil {
			return nil, fmt.Errorf("%s: %v", info.Path, err)
		}
	}
	if size := debugSize(df); budget >= 0 && size > budget {
		return nil, fmt.Errorf("debug information of %d KiB exceeds the budget of %d KiB", size>>10, budget>>10)
	}
	limit := ExtractTimeBudget
	if budget < 0 {
		limit = 0 // no size bound: no deadline either
	}
	t, err := ExtractMapped(df, ddata, limit)
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
