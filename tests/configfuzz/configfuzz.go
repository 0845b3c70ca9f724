// Package configfuzz exposes the library's configuration parsing (config.c, globmatch.c)
// to Go's fuzzer: the values come from the environment of any process, so no value may
// crash, overflow or loop the constructor.
package configfuzz

/*
#cgo CFLAGS: -std=gnu11 -D_GNU_SOURCE -I${SRCDIR}/../.. -Wall -Wno-unused-parameter
#include <stdlib.h>
#include "../../config.c"
#include "../../globmatch.c"

struct cg_config cg_config;

static void reset(void) { memset(&cg_config, 0, sizeof cg_config); }
static int note_len(void) { return (int)strnlen(cg_config.config_note, CG_NOTE_MAX); }
*/
import "C"

import "unsafe"

// Parsed is what the parser made of one set of values.
type Parsed struct {
	ToStderr    bool
	FilePattern string
	Journal     string
	Minidump    string
	JSON        bool
	Signals     [C.CG_NSIG]bool
	Note        string
	NoteLen     int
	Covered     bool
}

// Parse runs the constructor's parsers on the given values.
func Parse(output, signals, format, include, exclude, exe string) Parsed {
	C.reset()
	cs := func(s string) *C.char { return C.CString(s) }
	o, sg, f, in, ex, e := cs(output), cs(signals), cs(format), cs(include), cs(exclude), cs(exe)
	defer func() {
		for _, p := range []*C.char{o, sg, f, in, ex, e} {
			C.free(unsafe.Pointer(p))
		}
	}()
	var wanted [C.CG_NSIG]C.int
	C.cg_parse_output(o)
	C.cg_parse_signals(sg, &wanted[0])
	C.cg_parse_format(f)
	p := Parsed{
		ToStderr:    C.cg_config.to_stderr != 0,
		FilePattern: C.GoString(&C.cg_config.report_file_pattern[0]),
		Journal:     C.GoString(&C.cg_config.journal_socket[0]),
		Minidump:    C.GoString(&C.cg_config.minidump_pattern[0]),
		JSON:        C.cg_config.json != 0,
		Note:        C.GoString(&C.cg_config.config_note[0]),
		NoteLen:     int(C.note_len()),
		Covered:     C.cg_program_covered(in, ex, e) != 0,
	}
	for i := range wanted {
		p.Signals[i] = wanted[i] != 0
	}
	return p
}
