package preload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Call-frame information (.eh_frame) → a sorted list of address ranges, each with one
// unwind rule the signal handler can apply without an unwinder library.
// docs/tables.md specifies the rules; research unwind-symbolize.md §1.5 measured that this
// small rule set covers 99.96% of FDE-described code on Debian 12.

// RuleKind says how the caller's frame is found.
type RuleKind uint8

const (
	RuleInvalid  RuleKind = iota // no usable rule: the handler falls back to frame pointers
	RuleCFA                      // CFA = reg + off
	RuleCFADeref                 // CFA = *(reg + off) + deref_add (stack realignment, DRAP)
	RulePLT                      // CFA = rsp + off + ((rip & 15) >= plt_cmp ? 8 : 0)
	RuleSignal                   // a signal-return trampoline: registers are in a ucontext at sp
	RuleStop                     // the return address is undefined: outermost frame
)

// FP (rbp) restore rules.
const (
	FPSame  uint8 = iota // unchanged in the caller
	FPAtCFA              // saved at CFA + fp_off
	FPLost               // not recoverable
)

// Rule is one unwind rule. Fields mirror struct cg_unwind_rule.
type Rule struct {
	Kind     RuleKind
	CFAReg   uint8 // DWARF register number (x86-64: 7 = rsp, 6 = rbp)
	FPRule   uint8
	CFAOff   int32
	FPOff    int16
	RAOff    int16
	DerefAdd int32 // RuleCFADeref: added after the load; RulePLT: the compared constant
}

// Row says: from Start (ELF address) until the next row, use Rule.
type Row struct {
	Start uint64
	Rule  Rule
}

const (
	dwRegRBP = 6
	dwRegRSP = 7
	dwRegRIP = 16
)

type regRule struct {
	kind uint8 // 0 unspecified/same, 1 offset(N), 2 undefined, 3 other (unsupported)
	off  int64
}

const (
	regSame = iota
	regOffset
	regUndefined
	regOther
)

type cfaState struct {
	reg   uint64
	off   int64
	expr  []byte // non-nil: CFA is a DWARF expression
	fp    regRule
	ra    regRule
	valid bool
}

type cie struct {
	codeAlign   uint64
	dataAlign   int64
	raReg       uint64
	fdeEnc      byte
	signal      bool
	augZ        bool
	initialInsn []byte
}

type ehReader struct {
	data    []byte
	vaddr   uint64 // ELF address of data[0]
	le      binary.ByteOrder
	maxRows int
}

var errTruncated = errors.New("truncated call-frame information")

func uleb(b []byte, pos int) (uint64, int, error) {
	var v uint64
	var shift uint
	for pos < len(b) {
		c := b[pos]
		pos++
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		shift += 7
		if c < 0x80 {
			return v, pos, nil
		}
	}
	return 0, pos, errTruncated
}

func sleb(b []byte, pos int) (int64, int, error) {
	var v int64
	var shift uint
	for pos < len(b) {
		c := b[pos]
		pos++
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c < 0x80 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, pos, nil
		}
	}
	return 0, pos, errTruncated
}

// fixedPointerFormats: DW_EH_PE formats of fixed size, with whether they are sign-extended.
var fixedPointerFormats = map[byte]struct {
	size   int
	signed bool
}{0x00: {8, false}, 0x04: {8, false}, 0x02: {2, false}, 0x03: {4, false},
	0x0a: {2, true}, 0x0b: {4, true}, 0x0c: {8, true}}

// pointer decodes a DW_EH_PE-encoded value at pos.
func (r *ehReader) pointer(enc byte, pos int) (uint64, int, error) {
	if enc == 0xff { // DW_EH_PE_omit
		return 0, pos, nil
	}
	start := pos
	var v uint64
	switch format := enc & 0x0f; format {
	case 0x01:
		var err error
		if v, pos, err = uleb(r.data, pos); err != nil {
			return 0, pos, err
		}
	case 0x09:
		s, p, err := sleb(r.data, pos)
		if err != nil {
			return 0, pos, err
		}
		v, pos = uint64(s), p
	default:
		f, ok := fixedPointerFormats[format]
		if !ok {
			return 0, pos, fmt.Errorf("pointer encoding 0x%x", enc)
		}
		if pos+f.size > len(r.data) {
			return 0, pos, errTruncated
		}
		switch f.size {
		case 2:
			v = uint64(r.le.Uint16(r.data[pos:]))
			if f.signed {
				v = uint64(int64(int16(v)))
			}
		case 4:
			v = uint64(r.le.Uint32(r.data[pos:]))
			if f.signed {
				v = uint64(int64(int32(v)))
			}
		default:
			v = r.le.Uint64(r.data[pos:])
		}
		pos += f.size
	}
	switch enc & 0x70 {
	case 0x00:
	case 0x10: // pcrel
		v += r.vaddr + uint64(start)
	default:
		return 0, pos, fmt.Errorf("pointer application 0x%x", enc&0x70)
	}
	if enc&0x80 != 0 {
		return 0, pos, errors.New("indirect pointer in FDE")
	}
	return v, pos, nil
}

func (r *ehReader) parseCIE(pos, end int) (*cie, error) {
	c := &cie{fdeEnc: 0}
	if pos >= end {
		return nil, errTruncated
	}
	version := r.data[pos]
	pos++
	if version != 1 && version != 3 {
		return nil, fmt.Errorf("CIE version %d", version)
	}
	augStart := pos
	for pos < end && r.data[pos] != 0 {
		pos++
	}
	if pos >= end {
		return nil, errTruncated
	}
	aug := string(r.data[augStart:pos])
	pos++
	var err error
	if len(aug) >= 2 && aug[:2] == "eh" {
		pos += 8
	}
	if c.codeAlign, pos, err = uleb(r.data[:end], pos); err != nil {
		return nil, err
	}
	if c.dataAlign, pos, err = sleb(r.data[:end], pos); err != nil {
		return nil, err
	}
	if version == 1 {
		if pos >= end {
			return nil, errTruncated
		}
		c.raReg = uint64(r.data[pos])
		pos++
	} else if c.raReg, pos, err = uleb(r.data[:end], pos); err != nil {
		return nil, err
	}
	if len(aug) > 0 && aug[0] == 'z' {
		c.augZ = true
		augLen, p, err := uleb(r.data[:end], pos)
		if err != nil {
			return nil, err
		}
		pos = p
		augEnd := pos + int(augLen)
		if augLen > uint64(end-pos) {
			return nil, errTruncated
		}
		for _, ch := range aug[1:] {
			switch ch {
			case 'R':
				if pos >= augEnd {
					return nil, errTruncated
				}
				c.fdeEnc = r.data[pos]
				pos++
			case 'L':
				pos++
			case 'P':
				if pos >= augEnd {
					return nil, errTruncated
				}
				enc := r.data[pos] &^ 0x80 // the personality pointer may be indirect: skip it
				if _, p, err := r.pointer(enc, pos+1); err == nil {
					pos = p
				} else {
					pos = augEnd
				}
			case 'S':
				c.signal = true
			case 'B', 'G':
			default:
				pos = augEnd
			}
		}
		pos = augEnd
	}
	if pos > end {
		return nil, errTruncated
	}
	c.initialInsn = r.data[pos:end]
	return c, nil
}

// exec runs call-frame instructions from state st, emitting a row at every location
// change. loc is the current address; limit the FDE's end.
func (r *ehReader) exec(c *cie, insn []byte, st *cfaState, initial *cfaState, loc, limit uint64, emit func(uint64, *cfaState)) error {
	var stack []cfaState
	pos := 0
	for pos < len(insn) {
		op := insn[pos]
		pos++
		var err error
		advance := func(delta uint64) {
			next := loc + delta*c.codeAlign
			if next > loc && emit != nil {
				emit(loc, st)
			}
			loc = next
		}
		regRuleSet := func(reg uint64, rr regRule) {
			switch reg {
			case dwRegRBP:
				st.fp = rr
			case c.raReg:
				st.ra = rr
			}
		}
		switch op >> 6 {
		case 1: // advance_loc
			advance(uint64(op & 0x3f))
			continue
		case 2: // offset
			var v uint64
			if v, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			regRuleSet(uint64(op&0x3f), regRule{regOffset, int64(v) * c.dataAlign})
			continue
		case 3: // restore
			reg := uint64(op & 0x3f)
			if reg == dwRegRBP {
				st.fp = initial.fp
			} else if reg == c.raReg {
				st.ra = initial.ra
			}
			continue
		}
		switch op {
		case 0x00: // nop
		case 0x01: // set_loc
			var v uint64
			if v, pos, err = r.pointerIn(insn, c.fdeEnc, pos); err != nil {
				return err
			}
			if v > loc && emit != nil {
				emit(loc, st)
			}
			loc = v
		case 0x02, 0x03, 0x04: // advance_loc1/2/4
			n := 1 << (op - 2)
			if pos+n > len(insn) {
				return errTruncated
			}
			var d uint64
			switch n {
			case 1:
				d = uint64(insn[pos])
			case 2:
				d = uint64(r.le.Uint16(insn[pos:]))
			case 4:
				d = uint64(r.le.Uint32(insn[pos:]))
			}
			pos += n
			advance(d)
		case 0x05, 0x11: // offset_extended(_sf)
			var reg uint64
			if reg, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			var off int64
			if op == 0x05 {
				var v uint64
				v, pos, err = uleb(insn, pos)
				off = int64(v)
			} else {
				off, pos, err = sleb(insn, pos)
			}
			if err != nil {
				return err
			}
			regRuleSet(reg, regRule{regOffset, off * c.dataAlign})
		case 0x06: // restore_extended
			var reg uint64
			if reg, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			if reg == dwRegRBP {
				st.fp = initial.fp
			} else if reg == c.raReg {
				st.ra = initial.ra
			}
		case 0x07, 0x08: // undefined, same_value
			var reg uint64
			if reg, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			if op == 0x07 {
				regRuleSet(reg, regRule{kind: regUndefined})
			} else {
				regRuleSet(reg, regRule{kind: regSame})
			}
		case 0x09: // register
			var reg uint64
			if reg, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			if _, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			regRuleSet(reg, regRule{kind: regOther})
		case 0x0a: // remember_state
			if len(stack) >= 64 {
				return errors.New("remember_state nested too deep")
			}
			stack = append(stack, *st)
		case 0x0b: // restore_state
			if len(stack) == 0 {
				return errors.New("restore_state without remember_state")
			}
			*st = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		case 0x0c, 0x12: // def_cfa(_sf)
			if st.reg, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			if op == 0x0c {
				var v uint64
				v, pos, err = uleb(insn, pos)
				st.off = int64(v)
			} else {
				var v int64
				v, pos, err = sleb(insn, pos)
				st.off = v * c.dataAlign
			}
			if err != nil {
				return err
			}
			st.expr = nil
		case 0x0d: // def_cfa_register
			if st.reg, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			st.expr = nil
		case 0x0e, 0x13: // def_cfa_offset(_sf)
			if op == 0x0e {
				var v uint64
				v, pos, err = uleb(insn, pos)
				st.off = int64(v)
			} else {
				var v int64
				v, pos, err = sleb(insn, pos)
				st.off = v * c.dataAlign
			}
			if err != nil {
				return err
			}
		case 0x0f: // def_cfa_expression
			var n uint64
			if n, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			if n > uint64(len(insn)-pos) {
				return errTruncated
			}
			st.expr = insn[pos : pos+int(n)]
			pos += int(n)
		case 0x10, 0x16: // expression, val_expression
			var reg, n uint64
			if reg, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			if n, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			if n > uint64(len(insn)-pos) {
				return errTruncated
			}
			pos += int(n)
			regRuleSet(reg, regRule{kind: regOther})
		case 0x14, 0x15: // val_offset(_sf)
			var reg uint64
			if reg, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			if op == 0x14 {
				_, pos, err = uleb(insn, pos)
			} else {
				_, pos, err = sleb(insn, pos)
			}
			if err != nil {
				return err
			}
			regRuleSet(reg, regRule{kind: regOther})
		case 0x2e: // GNU_args_size
			if _, pos, err = uleb(insn, pos); err != nil {
				return err
			}
		case 0x2f: // GNU_negative_offset_extended
			var reg, v uint64
			if reg, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			if v, pos, err = uleb(insn, pos); err != nil {
				return err
			}
			regRuleSet(reg, regRule{regOffset, -int64(v) * c.dataAlign})
		default:
			return fmt.Errorf("unknown call-frame instruction 0x%02x", op)
		}
	}
	if emit != nil && loc < limit {
		emit(loc, st)
	}
	return nil
}

func (r *ehReader) pointerIn(insn []byte, enc byte, pos int) (uint64, int, error) {
	// set_loc inside an FDE: only absolute encodings make sense without a base address.
	sub := &ehReader{data: insn, le: r.le}
	return sub.pointer(enc&0x0f, pos)
}

// ruleFor converts the interpreter's state into a table rule.
func ruleFor(st *cfaState, signal bool) Rule {
	if signal {
		return Rule{Kind: RuleSignal}
	}
	if st.ra.kind == regUndefined {
		return Rule{Kind: RuleStop}
	}
	if st.ra.kind != regOffset || st.ra.off < -32768 || st.ra.off > 32767 {
		return Rule{Kind: RuleInvalid}
	}
	rule := Rule{RAOff: int16(st.ra.off)}
	switch st.fp.kind {
	case regSame:
		rule.FPRule = FPSame
	case regOffset:
		if st.fp.off < -32768 || st.fp.off > 32767 {
			rule.FPRule = FPLost
		} else {
			rule.FPRule, rule.FPOff = FPAtCFA, int16(st.fp.off)
		}
	default:
		rule.FPRule = FPLost
	}
	if st.expr == nil {
		if st.reg > 16 || st.off < -1<<31 || st.off > 1<<31-1 {
			return Rule{Kind: RuleInvalid}
		}
		rule.Kind, rule.CFAReg, rule.CFAOff = RuleCFA, uint8(st.reg), int32(st.off)
		return rule
	}
	if reg, off, add, ok := derefExpr(st.expr); ok {
		rule.Kind, rule.CFAReg, rule.CFAOff, rule.DerefAdd = RuleCFADeref, reg, off, add
		return rule
	}
	if off, cmp, ok := pltExpr(st.expr); ok {
		rule.Kind, rule.CFAReg, rule.CFAOff, rule.DerefAdd = RulePLT, dwRegRSP, off, cmp
		return rule
	}
	return Rule{Kind: RuleInvalid}
}

// derefExpr matches "DW_OP_breg<R> off; DW_OP_deref [; DW_OP_plus_uconst k]".
func derefExpr(e []byte) (reg uint8, off int32, add int32, ok bool) {
	if len(e) < 3 || e[0] < 0x70 || e[0] > 0x80 {
		return
	}
	v, pos, err := sleb(e, 1)
	if err != nil || v < -1<<31 || v > 1<<31-1 || pos >= len(e) || e[pos] != 0x06 {
		return
	}
	pos++
	if pos < len(e) {
		if e[pos] != 0x23 {
			return
		}
		k, p, err := uleb(e, pos+1)
		if err != nil || p != len(e) || k > 1<<31-1 {
			return
		}
		add = int32(k)
	}
	return e[0] - 0x70, int32(v), add, true
}

// pltExpr matches the PLT rule gcc/binutils emit: "breg7 off; breg16 0; lit15; and;
// lit<N>; ge; lit3; shl; plus".
func pltExpr(e []byte) (off int32, cmp int32, ok bool) {
	if len(e) < 2 || e[0] != 0x77 {
		return
	}
	v, pos, err := sleb(e, 1)
	if err != nil || v < -1<<31 || v > 1<<31-1 {
		return
	}
	rest := e[pos:]
	if len(rest) != 9 || rest[0] != 0x80 || rest[1] != 0 || rest[2] != 0x3f || rest[3] != 0x1a ||
		rest[4] < 0x30 || rest[4] > 0x4f || rest[5] != 0x2a || rest[6] != 0x33 || rest[7] != 0x24 || rest[8] != 0x22 {
		return
	}
	return int32(v), int32(rest[4] - 0x30), true
}

// UnwindRows parses an .eh_frame section (data, loaded at ELF address vaddr) into rows
// sorted by address; gaps between FDEs get RuleInvalid rows. Malformed entries are
// skipped; the count of skipped FDEs is returned with the rows.
func UnwindRows(data []byte, vaddr uint64, maxRows int) ([]Row, int, error) {
	r := &ehReader{data: data, vaddr: vaddr, le: binary.LittleEndian, maxRows: maxRows}
	type fdeRows struct {
		start, end uint64
		rows       []Row
	}
	var fdes []fdeRows
	cies := map[int]*cie{}
	skipped, total := 0, 0
	for pos := 0; pos+4 <= len(data); {
		length := uint64(r.le.Uint32(data[pos:]))
		hdr := 4
		if length == 0 {
			break // terminator
		}
		if length == 0xffffffff {
			if pos+12 > len(data) {
				break
			}
			length, hdr = r.le.Uint64(data[pos+4:]), 12
		}
		if length > uint64(len(data)-pos-hdr) || length < 4 {
			return nil, skipped, errors.New("entry length past the end of .eh_frame")
		}
		body, end := pos+hdr, pos+hdr+int(length)
		id := r.le.Uint32(data[body:])
		if id == 0 { // CIE
			pos = end
			continue
		}
		ciePos := body - int(id)
		c, ok := cies[ciePos]
		if !ok {
			var err error
			if ciePos < 0 || ciePos+8 > len(data) {
				skipped++
				pos = end
				continue
			}
			cl := int(r.le.Uint32(data[ciePos:]))
			if cl < 4 || cl > len(data)-ciePos-4 || r.le.Uint32(data[ciePos+4:]) != 0 {
				skipped++
				pos = end
				continue
			}
			if c, err = r.parseCIE(ciePos+8, ciePos+4+cl); err != nil {
				c = nil
			}
			cies[ciePos] = c
		}
		if c == nil {
			skipped++
			pos = end
			continue
		}
		sub := &ehReader{data: data[:end], vaddr: vaddr, le: r.le}
		start, p, err := sub.pointer(c.fdeEnc, body+4)
		if err != nil {
			skipped++
			pos = end
			continue
		}
		rng, p, err := sub.pointer(c.fdeEnc&0x0f, p)
		if err != nil || start == 0 || rng == 0 || rng > 1<<32 {
			skipped++
			pos = end
			continue
		}
		if c.augZ { // the FDE's augmentation data (an LSDA pointer): skipped
			n, q, err := uleb(data[:end], p)
			if err != nil || uint64(end-q) < n {
				skipped++
				pos = end
				continue
			}
			p = q + int(n)
		}
		var initial cfaState
		if err := r.exec(c, c.initialInsn, &initial, &initial, start, start+rng, nil); err != nil {
			skipped++
			pos = end
			continue
		}
		st := initial
		var rows []Row
		emit := func(loc uint64, s *cfaState) {
			rule := ruleFor(s, c.signal)
			if len(rows) > 0 && rows[len(rows)-1].Rule == rule {
				return
			}
			if len(rows) > 0 && rows[len(rows)-1].Start == loc {
				rows[len(rows)-1].Rule = rule
				return
			}
			rows = append(rows, Row{Start: loc, Rule: rule})
		}
		if err := r.exec(c, data[p:end], &st, &initial, start, start+rng, emit); err != nil {
			skipped++
			pos = end
			continue
		}
		total += len(rows)
		if maxRows > 0 && total > maxRows {
			return nil, skipped, fmt.Errorf("more than %d unwind rows", maxRows)
		}
		fdes = append(fdes, fdeRows{start: start, end: start + rng, rows: rows})
		pos = end
	}
	sort.Slice(fdes, func(i, j int) bool { return fdes[i].start < fdes[j].start })
	out := make([]Row, 0, total+len(fdes))
	for i, f := range fdes {
		for _, row := range f.rows {
			if row.Start < f.end {
				if len(out) > 0 && out[len(out)-1].Start >= row.Start {
					continue // overlapping FDEs: keep the first
				}
				out = append(out, row)
			}
		}
		if i+1 == len(fdes) || fdes[i+1].start > f.end {
			if len(out) == 0 || out[len(out)-1].Start < f.end {
				out = append(out, Row{Start: f.end, Rule: Rule{Kind: RuleInvalid}})
			}
		}
	}
	// Merge neighbours with equal rules.
	merged := out[:0]
	for _, row := range out {
		if len(merged) > 0 && merged[len(merged)-1].Rule == row.Rule {
			continue
		}
		merged = append(merged, row)
	}
	return merged, skipped, nil
}
