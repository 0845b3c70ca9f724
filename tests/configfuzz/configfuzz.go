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
static int note_len(void) { return (int)strnlen(cg_config.config_note, CG_CONFIG_NOTE_MAX); }
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
	On          bool // the format value read as an on/off switch (default on)
	Include     string
	Exclude     string
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
	on := C.cg_parse_switch(sg, f, 1)
	var inBuf, exBuf [1024]C.char
	inList := C.cg_parse_patterns(sg, in, &inBuf[0], C.size_t(len(inBuf)))
	exList := C.cg_parse_patterns(sg, ex, &exBuf[0], C.size_t(len(exBuf)))
	p := Parsed{
		ToStderr:    C.cg_config.to_stderr != 0,
		FilePattern: C.GoString(&C.cg_config.report_file_pattern[0]),
		Journal:     C.GoString(&C.cg_config.journal_socket[0]),
		Minidump:    C.GoString(&C.cg_config.minidump_pattern[0]),
		JSON:        C.cg_config.json != 0,
		Note:        C.GoString(&C.cg_config.config_note[0]),
		NoteLen:     int(C.note_len()),
		Covered:     C.cg_program_covered(inList, exList, e) != 0,
		On:          on != 0,
	}
	if inList != nil {
		p.Include = C.GoString(inList)
	}
	if exList != nil {
		p.Exclude = C.GoString(exList)
	}
	for i := range wanted {
		p.Signals[i] = wanted[i] != 0
	}
	return p
}
