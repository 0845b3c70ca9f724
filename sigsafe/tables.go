// Package sigsafe is the Go side of the C signal-path code in this directory: the encoders of
// the tables the handler reads (formats in docs/tables.md), laid out with the C headers' own
// types so that the writer and the reader cannot disagree.
//
// The C files here are not part of any Go build: build.sh compiles them into the preloaded C
// part. The tables are written to cache files by the helper process (or `crashguard warm`);
// the handler maps them.
package sigsafe

/*
#include "crashguard.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Table kinds, as in enum cg_table_kind.
const (
	Symbols = C.CG_TABLE_SYMBOLS
	Unwind  = C.CG_TABLE_UNWIND
	Lines   = C.CG_TABLE_LINES
)

// Symbol is one function for the handler's symbol table.
type Symbol struct {
	Start uint64 // ELF virtual address
	Size  uint32 // 0 when unknown
	Name  string // already demangled
}

// Table is a blob as a cache file stores it and the handler reads it.
type Table interface{ Bytes() []byte }

// newBlob allocates a zeroed blob of total bytes; it holds no Go pointers, so the C layouts
// written into it through unsafe casts are plain bytes to the collector.
func newBlob(total uint64) ([]byte, error) {
	if total > 1<<32-1 {
		return nil, errors.New("table larger than 4 GiB")
	}
	return make([]byte, total), nil
}

// SymbolTable is a cg_symtab_header blob.
type SymbolTable struct {
	mem []byte
}

// Bytes is the blob.
func (t *SymbolTable) Bytes() []byte { return t.mem }

// BuildSymbolTable lays out syms, which must be sorted by Start with no duplicate Start.
func BuildSymbolTable(syms []Symbol) (*SymbolTable, error) {
	if len(syms) > 1<<28 {
		return nil, errors.New("too many symbols")
	}
	var strSize uint64 = 1 // offset 0 is the empty name
	for i, s := range syms {
		if i > 0 && syms[i-1].Start >= s.Start {
			return nil, fmt.Errorf("symbols not sorted at %d", i)
		}
		strSize += uint64(len(s.Name)) + 1
	}
	hdrSize := uint64(unsafe.Sizeof(C.struct_cg_symtab_header{}))
	symSize := uint64(unsafe.Sizeof(C.struct_cg_symbol{}))
	symOff := (hdrSize + 7) &^ 7
	strOff := symOff + uint64(len(syms))*symSize
	total := strOff + strSize
	mem, err := newBlob(total)
	if err != nil {
		return nil, err
	}
	h := (*C.struct_cg_symtab_header)(unsafe.Pointer(&mem[0]))
	h.magic = C.CG_SYMTAB_MAGIC
	h.version = C.CG_SYMTAB_VERSION
	h.total_size = C.uint64_t(total)
	h.count = C.uint32_t(len(syms))
	h.symbols_off = C.uint32_t(symOff)
	h.strings_off = C.uint32_t(strOff)
	h.strings_size = C.uint32_t(strSize)
	out := unsafe.Slice((*C.struct_cg_symbol)(unsafe.Pointer(&mem[symOff])), len(syms))
	strs := mem[strOff:]
	pos := uint64(1)
	for i, s := range syms {
		out[i].start = C.uint64_t(s.Start)
		out[i].size = C.uint32_t(s.Size)
		out[i].name_off = C.uint32_t(pos)
		pos += uint64(copy(strs[pos:], s.Name)) + 1 // the mapping is zero-filled: NUL included
	}
	return &SymbolTable{mem: mem}, nil
}

// UnwindRule and UnwindRow mirror struct cg_unwind_rule and struct cg_unwind_row.
type UnwindRule struct {
	Kind     uint8
	CFAReg   uint8
	FPRule   uint8
	CFAOff   int32
	FPOff    int16
	RAOff    int16
	DerefAdd int32
}

type UnwindRow struct {
	Start uint32
	Rule  uint32
}

// UnwindTable is a cg_unwind_header blob.
type UnwindTable struct {
	mem []byte
}

// Bytes is the blob.
func (t *UnwindTable) Bytes() []byte { return t.mem }

// BuildUnwindTable lays out rows (sorted by Start, Rule indexes into rules).
func BuildUnwindTable(rows []UnwindRow, rules []UnwindRule) (*UnwindTable, error) {
	for i, r := range rows {
		if i > 0 && rows[i-1].Start >= r.Start {
			return nil, fmt.Errorf("unwind rows not sorted at %d", i)
		}
		if int(r.Rule) >= len(rules) {
			return nil, fmt.Errorf("unwind row %d names rule %d of %d", i, r.Rule, len(rules))
		}
	}
	hdrSize := uint64(unsafe.Sizeof(C.struct_cg_unwind_header{}))
	rowSize := uint64(unsafe.Sizeof(C.struct_cg_unwind_row{}))
	ruleSize := uint64(unsafe.Sizeof(C.struct_cg_unwind_rule{}))
	rowsOff := (hdrSize + 7) &^ 7
	rulesOff := (rowsOff + uint64(len(rows))*rowSize + 7) &^ 7
	total := rulesOff + uint64(len(rules))*ruleSize
	mem, err := newBlob(total)
	if err != nil {
		return nil, err
	}
	h := (*C.struct_cg_unwind_header)(unsafe.Pointer(&mem[0]))
	h.magic = C.CG_UNWIND_MAGIC
	h.version = C.CG_UNWIND_VERSION
	h.total_size = C.uint64_t(total)
	h.row_count = C.uint32_t(len(rows))
	h.rows_off = C.uint32_t(rowsOff)
	h.rule_count = C.uint32_t(len(rules))
	h.rules_off = C.uint32_t(rulesOff)
	if len(rows) > 0 {
		out := unsafe.Slice((*C.struct_cg_unwind_row)(unsafe.Pointer(&mem[rowsOff])), len(rows))
		for i, r := range rows {
			out[i].start = C.uint32_t(r.Start)
			out[i].rule = C.uint32_t(r.Rule)
		}
	}
	if len(rules) > 0 {
		out := unsafe.Slice((*C.struct_cg_unwind_rule)(unsafe.Pointer(&mem[rulesOff])), len(rules))
		for i, r := range rules {
			out[i] = C.struct_cg_unwind_rule{kind: C.uint8_t(r.Kind), cfa_reg: C.uint8_t(r.CFAReg),
				fp_rule: C.uint8_t(r.FPRule), cfa_off: C.int32_t(r.CFAOff), fp_off: C.int16_t(r.FPOff),
				ra_off: C.int16_t(r.RAOff), deref_add: C.int32_t(r.DerefAdd)}
		}
	}
	return &UnwindTable{mem: mem}, nil
}

// LineRow, InlineRow and InlineRec mirror struct cg_line_row, cg_inline_row, cg_inline_rec;
// None is CG_NONE.
type LineRow struct{ Start, File, Line uint32 }
type InlineRow struct{ Start, Rec uint32 }
type InlineRec struct {
	Name               string
	CallFile, CallLine uint32
	Parent             uint32
}

const None = C.CG_NONE

// LineTable is a cg_lines_header blob.
type LineTable struct{ mem []byte }

// Bytes is the blob.
func (t *LineTable) Bytes() []byte { return t.mem }

// BuildLineTable lays out a module's line rows, inline rows and records, and file names.
func BuildLineTable(files []string, lines []LineRow, inlines []InlineRow, recs []InlineRec) (*LineTable, error) {
	hdr := uint64(unsafe.Sizeof(C.struct_cg_lines_header{}))
	align := func(v uint64) uint64 { return (v + 7) &^ 7 }
	linesOff := align(hdr)
	inlinesOff := align(linesOff + uint64(len(lines))*uint64(unsafe.Sizeof(C.struct_cg_line_row{})))
	recsOff := align(inlinesOff + uint64(len(inlines))*uint64(unsafe.Sizeof(C.struct_cg_inline_row{})))
	filesOff := align(recsOff + uint64(len(recs))*uint64(unsafe.Sizeof(C.struct_cg_inline_rec{})))
	strOff := align(filesOff + uint64(len(files))*4)
	// Each distinct string once: the same few thousand functions are inlined hundreds of
	// thousands of times in a large C++ library (a name per record made 116 MB of a
	// 4 MB-of-code library's table).
	strSize := uint64(1)
	offsets := make(map[string]uint64, len(files))
	add := func(s string) {
		if _, ok := offsets[s]; !ok {
			offsets[s] = strSize
			strSize += uint64(len(s)) + 1
		}
	}
	for _, f := range files {
		add(f)
	}
	for _, r := range recs {
		add(r.Name)
	}
	total := strOff + strSize
	for i, r := range recs {
		if r.Parent != None && int(r.Parent) >= len(recs) {
			return nil, fmt.Errorf("inline record %d has parent %d of %d", i, r.Parent, len(recs))
		}
	}
	mem, err := newBlob(total)
	if err != nil {
		return nil, err
	}
	h := (*C.struct_cg_lines_header)(unsafe.Pointer(&mem[0]))
	*h = C.struct_cg_lines_header{magic: C.CG_LINES_MAGIC, version: C.CG_LINES_VERSION,
		total_size: C.uint64_t(total), line_count: C.uint32_t(len(lines)), lines_off: C.uint32_t(linesOff),
		inline_count: C.uint32_t(len(inlines)), inlines_off: C.uint32_t(inlinesOff),
		rec_count: C.uint32_t(len(recs)), recs_off: C.uint32_t(recsOff),
		file_count: C.uint32_t(len(files)), files_off: C.uint32_t(filesOff),
		strings_off: C.uint32_t(strOff), strings_size: C.uint32_t(strSize)}
	strs := mem[strOff:]
	for s, off := range offsets {
		copy(strs[off:], s)
	}
	put := func(s string) C.uint32_t { return C.uint32_t(offsets[s]) }
	if len(lines) > 0 {
		out := unsafe.Slice((*C.struct_cg_line_row)(unsafe.Pointer(&mem[linesOff])), len(lines))
		for i, l := range lines {
			out[i] = C.struct_cg_line_row{start: C.uint32_t(l.Start), file: C.uint32_t(l.File), line: C.uint32_t(l.Line)}
		}
	}
	if len(inlines) > 0 {
		out := unsafe.Slice((*C.struct_cg_inline_row)(unsafe.Pointer(&mem[inlinesOff])), len(inlines))
		for i, r := range inlines {
			out[i] = C.struct_cg_inline_row{start: C.uint32_t(r.Start), rec: C.uint32_t(r.Rec)}
		}
	}
	if len(files) > 0 {
		out := unsafe.Slice((*C.uint32_t)(unsafe.Pointer(&mem[filesOff])), len(files))
		for i, f := range files {
			out[i] = put(f)
		}
	}
	if len(recs) > 0 {
		out := unsafe.Slice((*C.struct_cg_inline_rec)(unsafe.Pointer(&mem[recsOff])), len(recs))
		for i, r := range recs {
			out[i] = C.struct_cg_inline_rec{name_off: put(r.Name), call_file: C.uint32_t(r.CallFile),
				call_line: C.uint32_t(r.CallLine), parent: C.uint32_t(r.Parent)}
		}
	}
	return &LineTable{mem: mem}, nil
}
