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
	"bytes"
	"errors"
	"fmt"
	"sort"
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

// Table is a blob as a cache file stores it and the handler reads it: Pieces are its bytes,
// to be written one after the other; Bytes joins them.
type Table interface {
	Bytes() []byte
	Pieces() [][]byte
}

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

// Pieces is the blob, in one piece.
func (t *SymbolTable) Pieces() [][]byte { return [][]byte{t.mem} }

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

// Pieces is the blob, in one piece.
func (t *UnwindTable) Pieces() [][]byte { return [][]byte{t.mem} }

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

// InlineRecRow is struct cg_inline_rec itself: the name is an offset into the strings.
type InlineRecRow struct{ NameOff, CallFile, CallLine, Parent uint32 }

const None = C.CG_NONE

// LineTable is a cg_lines_header blob, kept as the pieces it is made of (Pieces): the
// rows of a large module are written to the cache where they are, not copied into one
// buffer first.
type LineTable struct {
	pieces [][]byte
	size   uint64
}

// Pieces are the blob's bytes, in order.
func (t *LineTable) Pieces() [][]byte { return t.pieces }

// Bytes is the blob, joined.
func (t *LineTable) Bytes() []byte {
	b := make([]byte, 0, t.size)
	for _, p := range t.pieces {
		b = append(b, p...)
	}
	return b
}

// Strings is a line table's string section as it is built: each distinct string once, in
// chunks that never move, so that the strings Add returns are the section's own bytes (a
// large C++ library's hundreds of thousands of inlined functions' names are held once).
type Strings struct {
	chunks [][]byte
	bases  []uint64 // each chunk's offset
	size   uint64   // offset 0 is the empty string
	index  map[string]stringRef
}

type stringRef struct {
	s   string // in a chunk
	off uint32
}

const stringChunk = 1 << 20

// NewStrings starts a string section.
func NewStrings() *Strings {
	return &Strings{chunks: [][]byte{make([]byte, 1, stringChunk)}, bases: []uint64{0}, size: 1, index: map[string]stringRef{}}
}

// At is the string at off ("" when off is not in the section).
func (t *Strings) At(off uint32) string {
	i := sort.Search(len(t.bases), func(i int) bool { return t.bases[i] > uint64(off) }) - 1
	if i < 0 {
		return ""
	}
	c := t.chunks[i][uint64(off)-t.bases[i]:]
	if n := bytes.IndexByte(c, 0); n >= 0 {
		return unsafe.String(unsafe.SliceData(c), n)
	}
	return ""
}

// Add puts s in the section (once) and returns its offset and the section's copy of it.
func (t *Strings) Add(s string) (uint32, string, error) {
	if r, ok := t.index[s]; ok {
		return r.off, r.s, nil
	}
	if t.size+uint64(len(s))+1 > 1<<32-1 {
		return 0, "", errors.New("strings of a line table larger than 4 GiB")
	}
	last := t.chunks[len(t.chunks)-1]
	if cap(last)-len(last) < len(s)+1 {
		last = make([]byte, 0, max(stringChunk, len(s)+1))
		t.chunks = append(t.chunks, last)
		t.bases = append(t.bases, t.size)
	}
	pos := len(last)
	last = append(append(last, s...), 0)
	t.chunks[len(t.chunks)-1] = last
	kept := unsafe.String(&last[pos], len(s))
	if len(s) == 0 {
		kept = ""
	}
	r := stringRef{kept, uint32(t.size)}
	t.size += uint64(len(s)) + 1
	t.index[kept] = r
	return r.off, kept, nil
}

// BuildLineTable lays out a module's line rows, inline rows and records, and file names.
func BuildLineTable(files []string, lines []LineRow, inlines []InlineRow, recs []InlineRec) (*LineTable, error) {
	strs := NewStrings()
	rows := make([]InlineRecRow, len(recs))
	for i, r := range recs {
		off, _, err := strs.Add(r.Name)
		if err != nil {
			return nil, err
		}
		rows[i] = InlineRecRow{NameOff: off, CallFile: r.CallFile, CallLine: r.CallLine, Parent: r.Parent}
	}
	return BuildLineTableWith(strs, files, lines, inlines, rows)
}

// BuildLineTableWith is BuildLineTable with the strings section built so far (names added
// while the rows were read); the rows are used in place, not copied.
func BuildLineTableWith(strs *Strings, files []string, lines []LineRow, inlines []InlineRow, recs []InlineRecRow) (*LineTable, error) {
	hdr := uint64(unsafe.Sizeof(C.struct_cg_lines_header{}))
	align := func(v uint64) uint64 { return (v + 7) &^ 7 }
	linesOff := align(hdr)
	linesEnd := linesOff + uint64(len(lines))*uint64(unsafe.Sizeof(C.struct_cg_line_row{}))
	inlinesOff := align(linesEnd)
	inlinesEnd := inlinesOff + uint64(len(inlines))*uint64(unsafe.Sizeof(C.struct_cg_inline_row{}))
	recsOff := align(inlinesEnd)
	recsEnd := recsOff + uint64(len(recs))*uint64(unsafe.Sizeof(C.struct_cg_inline_rec{}))
	filesOff := align(recsEnd)
	filesEnd := filesOff + uint64(len(files))*4
	for i, r := range recs {
		if r.Parent != None && int(r.Parent) >= len(recs) {
			return nil, fmt.Errorf("inline record %d has parent %d of %d", i, r.Parent, len(recs))
		}
		if uint64(r.NameOff) >= strs.size {
			return nil, fmt.Errorf("inline record %d names string %d of %d bytes", i, r.NameOff, strs.size)
		}
	}
	fileOffs := make([]uint32, len(files))
	for i, f := range files {
		off, _, err := strs.Add(f)
		if err != nil {
			return nil, err
		}
		fileOffs[i] = off
	}
	strOff := align(filesEnd)
	total := strOff + strs.size
	if total > 1<<32-1 {
		return nil, errors.New("table larger than 4 GiB")
	}
	head, _ := newBlob(linesOff)
	h := (*C.struct_cg_lines_header)(unsafe.Pointer(&head[0]))
	*h = C.struct_cg_lines_header{magic: C.CG_LINES_MAGIC, version: C.CG_LINES_VERSION,
		total_size: C.uint64_t(total), line_count: C.uint32_t(len(lines)), lines_off: C.uint32_t(linesOff),
		inline_count: C.uint32_t(len(inlines)), inlines_off: C.uint32_t(inlinesOff),
		rec_count: C.uint32_t(len(recs)), recs_off: C.uint32_t(recsOff),
		file_count: C.uint32_t(len(files)), files_off: C.uint32_t(filesOff),
		strings_off: C.uint32_t(strOff), strings_size: C.uint32_t(strs.size)}
	var zeros [8]byte
	pieces := [][]byte{head, rowBytes(lines), zeros[:inlinesOff-linesEnd], rowBytes(inlines), zeros[:recsOff-inlinesEnd],
		rowBytes(recs), zeros[:filesOff-recsEnd], rowBytes(fileOffs), zeros[:strOff-filesEnd]}
	for _, c := range strs.chunks {
		pieces = append(pieces, c)
	}
	return &LineTable{pieces: pieces, size: total}, nil
}

// The Go rows are the C rows, field for field (checked below): their bytes are written as
// they are.
var _ = [1]struct{}{}[unsafe.Sizeof(LineRow{})-unsafe.Sizeof(C.struct_cg_line_row{})]
var _ = [1]struct{}{}[unsafe.Sizeof(InlineRow{})-unsafe.Sizeof(C.struct_cg_inline_row{})]
var _ = [1]struct{}{}[unsafe.Offsetof(LineRow{}.Line)-unsafe.Offsetof(C.struct_cg_line_row{}.line)]
var _ = [1]struct{}{}[unsafe.Offsetof(LineRow{}.File)-unsafe.Offsetof(C.struct_cg_line_row{}.file)]
var _ = [1]struct{}{}[unsafe.Offsetof(InlineRow{}.Rec)-unsafe.Offsetof(C.struct_cg_inline_row{}.rec)]
var _ = [1]struct{}{}[unsafe.Sizeof(InlineRecRow{})-unsafe.Sizeof(C.struct_cg_inline_rec{})]
var _ = [1]struct{}{}[unsafe.Offsetof(InlineRecRow{}.CallFile)-unsafe.Offsetof(C.struct_cg_inline_rec{}.call_file)]
var _ = [1]struct{}{}[unsafe.Offsetof(InlineRecRow{}.CallLine)-unsafe.Offsetof(C.struct_cg_inline_rec{}.call_line)]
var _ = [1]struct{}{}[unsafe.Offsetof(InlineRecRow{}.Parent)-unsafe.Offsetof(C.struct_cg_inline_rec{}.parent)]

// rowBytes views rows of plain 32-bit fields as the little-endian bytes the handler reads.
func rowBytes[T LineRow | InlineRow | InlineRecRow | uint32](rows []T) []byte {
	if len(rows) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&rows[0])), len(rows)*int(unsafe.Sizeof(rows[0])))
}
