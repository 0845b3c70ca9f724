// Package sigsafe is the Go side of the C signal-path code in this directory: the encoders of
// the tables the handler reads (tables.go, formats in docs/tables.md) and the seam through
// which the Go part reads the C part's module registry and publishes tables to it.
//
// The C files here are not part of any Go build: build.sh compiles them into the preloaded C
// part. Nothing in this Go file runs on the signal path: the handler only reads what these
// functions published, with acquire loads, from memory outside the Go heap.
package sigsafe

/*
#cgo CFLAGS: -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wno-trigraphs -Wno-unused-parameter -Werror -fno-omit-frame-pointer
#include <link.h>
#include <string.h>
#include "../seam.h"

// The C part's seam, found through its note (seam.h). None where this package runs outside
// the C part (unit tests, the crashguard command): there is no registry then.
static int find_seam_note(struct dl_phdr_info *info, size_t size, void *out) {
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		uint32_t desc_size;
		const char *desc = info->dlpi_phdr[i].p_type != PT_NOTE ? 0 :
			cg_find_note(&info->dlpi_phdr[i], info->dlpi_addr, CG_SEAM_NOTE_TYPE, CG_SEAM_NOTE_NAME,
			             sizeof CG_SEAM_NOTE_NAME, &desc_size);
		if (desc && desc_size == 8) {
			int64_t distance;
			memcpy(&distance, desc, sizeof distance);
			*(struct cg_seam **)out = (struct cg_seam *)(desc + distance);
			return 1;
		}
	}
	return 0;
}

static struct cg_seam *seam(void) {
	static _Atomic(struct cg_seam *) found;
	static _Atomic int searched;
	if (!atomic_load(&searched)) {
		struct cg_seam *s = 0;
		dl_iterate_phdr(find_seam_note, &s);
		if (s && (s->version != CG_SEAM_VERSION || s->size != sizeof *s))
			s = 0;
		atomic_store(&found, s);
		atomic_store(&searched, 1);
	}
	return atomic_load(&found);
}
static uint32_t module_count(void) {
	struct cg_seam *s = seam();
	return s ? atomic_load_explicit(s->module_count, memory_order_acquire) : 0;
}
static struct cg_module *module_at(uint32_t i) { return &seam()->modules[i]; }
static void publish_table(uint32_t i, int kind, const void *blob) {
	struct cg_table_slot *t = &seam()->modules[i].tables[kind];
	atomic_store_explicit(&t->blob, blob, memory_order_release);
	atomic_store_explicit(&t->state, CG_SYMTAB_READY, memory_order_release);
}
static void copy_note(char *dst, const char *src, size_t n) {
	if (n >= CG_NOTE_MAX)
		n = CG_NOTE_MAX - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}
static void fail_table(uint32_t i, int kind, const char *note, size_t n) {
	struct cg_table_slot *t = &seam()->modules[i].tables[kind];
	copy_note(t->note, note, n);
	atomic_store_explicit(&t->state, CG_SYMTAB_FAILED, memory_order_release);
}
static void set_global_note(const char *note, size_t n) {
	struct cg_seam *s = seam();
	if (!s)
		return;
	copy_note(s->global_note, note, n);
	atomic_store_explicit(s->global_note_set, 1, memory_order_release);
}
static int wait_for_module_change(void) {
	struct cg_seam *s = seam();
	if (!s || !s->wait_for_module_change)
		return 0;
	s->wait_for_module_change();
	return 1;
}
static void module_change_handled(void) {
	struct cg_seam *s = seam();
	if (s && s->module_change_handled)
		s->module_change_handled();
}
static uint32_t table_state(uint32_t i, int kind) {
	return atomic_load_explicit(&seam()->modules[i].tables[kind].state, memory_order_acquire);
}
static const void *module_image(uint32_t i) { return (const void *)seam()->modules[i].lo; }
static int debug_enabled(void) {
	struct cg_seam *s = seam();
	return s && s->config->debug;
}
static void precompute_done(void) {
	struct cg_seam *s = seam();
	if (s)
		atomic_store_explicit(s->precompute_done, 1, memory_order_release);
}
*/
import "C"

import "unsafe"

// Module is one ELF object as the constructor found it mapped in this process.
type Module struct {
	Index   int
	Path    string
	Bias    uintptr // runtime address = Bias + ELF virtual address
	Lo, Hi  uintptr // range of its PT_LOAD segments
	BuildID []byte
}

// Modules returns the registry as the C constructor filled it.
func Modules() []Module {
	n := int(C.module_count())
	mods := make([]Module, 0, n)
	for i := 0; i < n; i++ {
		m := C.module_at(C.uint32_t(i))
		mods = append(mods, Module{
			Index:   i,
			Path:    C.GoString(&m.path[0]),
			Bias:    uintptr(m.bias),
			Lo:      uintptr(m.lo),
			Hi:      uintptr(m.hi),
			BuildID: C.GoBytes(unsafe.Pointer(&m.build_id[0]), C.int(m.build_id_len)),
		})
	}
	return mods
}

// Table kinds, as in enum cg_table_kind.
const (
	Symbols = C.CG_TABLE_SYMBOLS
	Unwind  = C.CG_TABLE_UNWIND
	Lines   = C.CG_TABLE_LINES
)

// Publish hands one of module i's tables to the handler; it is never freed afterwards.
func Publish(i int, kind int, t Table) {
	C.publish_table(C.uint32_t(i), C.int(kind), unsafe.Pointer(&t.Bytes()[0]))
}

// Fail records why module i has no table of this kind; the report prints it.
func Fail(i int, kind int, note string) {
	b := []byte(note)
	if len(b) == 0 {
		b = []byte("unknown reason")
	}
	C.fail_table(C.uint32_t(i), C.int(kind), (*C.char)(unsafe.Pointer(&b[0])), C.size_t(len(b)))
}

// WaitForModuleChange blocks until a module was loaded or unloaded with dlopen/dlclose and
// the registry reflects it. It returns false when there is no loader to watch (tests).
func WaitForModuleChange() bool { return C.wait_for_module_change() != 0 }

// ModuleChangeHandled tells the handler the watcher finished the last change's tables.
func ModuleChangeHandled() { C.module_change_handled() }

// Pending reports whether module i still waits for its tables.
func Pending(i int) bool {
	return C.table_state(C.uint32_t(i), C.CG_TABLE_SYMBOLS) == C.CG_SYMTAB_PENDING
}

// SetGlobalNote records a note about the whole precomputation (e.g. a recovered panic).
func SetGlobalNote(note string) {
	b := []byte(note + "\x00")
	C.set_global_note((*C.char)(unsafe.Pointer(&b[0])), C.size_t(len(b)-1))
}

// PrecomputeDone tells the handler that no more tables are coming, so a crash need not
// wait for them.
func PrecomputeDone() { C.precompute_done() }

// Debug reports whether CRASHGUARD_DEBUG asked for load-time explanations (the constructor
// decided, ignoring the environment in setuid processes).
func Debug() bool { return C.debug_enabled() != 0 }

// ModuleImage copies a module's mapped image (for the vDSO, which has no file; its
// image is a complete ELF file, section headers included).
func ModuleImage(m Module) []byte {
	// The kernel maps whole pages; the section headers sit past the last segment's end.
	end := (m.Hi + 4095) &^ 4095
	if m.Hi <= m.Lo || end-m.Lo > 1<<20 {
		return nil
	}
	return C.GoBytes(C.module_image(C.uint32_t(m.Index)), C.int(end-m.Lo))
}
