// Package cachefuzz drives the C cache reader (sigsafe/cachefile.c) and the handler's table
// lookups (sigsafe/symbols.c, lines.c) with arbitrary cache files, from go test -fuzz: a
// cache file is written by any process of the user, and the constructor and the handler of
// every later process read it, so no content may crash, hang or mislead them into reading
// outside the file.
package cachefuzz

/*
#cgo CFLAGS: -std=gnu11 -D_GNU_SOURCE -I${SRCDIR}/../.. -Wall -Wno-unused-parameter -Wno-unused-function
#include <stdlib.h>
#include <sys/mman.h>
#include "../../sigsafe/cachefile.c"
#include "../../sigsafe/registry.c"
#include "../../sigsafe/memread.c"
#include "../../sigsafe/symbols.c"
#include "../../sigsafe/lines.c"
#include "../../sigsafe/out.c"

struct cg_config cg_config;

// Loads the file as module 0's cache (build-id taken from the file's own header, so the
// identity check passes and the rest is exercised) as the constructor does (verify_now 0:
// table headers past the first 4 KiB are left to the lookups) or as the handler does at a
// crash (verify_now 1), then asks every table about n addresses. Returns 0 if the file was refused, 1 if loaded, 2 if loaded but failing its
// checksum (the handler then ignores it).
static struct cg_cache_scratch scratch;

static int load_and_query(const char *path, const unsigned char *id, unsigned id_len, const uint64_t *addrs, int n,
                          int verify_now, int *named) {
	*named = 0;
	struct cg_module *m = cg_module_at(0);
	memset(m, 0, sizeof *m);
	m->build_id_len = id_len;
	memcpy(m->build_id, id, id_len);
	m->lo = 0x1000;
	m->hi = 0x100000000ull;
	atomic_store(&cg_module_count, 1);
	if (!cg_map_cache_file(m, path, &scratch, verify_now))
		return 0;
	int result = 1;
	if (module_cache_corrupt(m)) {
		result = 2;
		m->cache_state = 1; // query anyway: the lookups must hold even then
	}
	for (int i = 0; i < n; i++) {
		uint64_t off;
		size_t name_max;
		const char *name = find_symbol(m, addrs[i], &off, &name_max);
		if (name)
			++*named;
		if (name)
			for (size_t k = 0; k < name_max && name[k]; k++)
				(void)*(volatile const char *)&name[k];
		const struct cg_unwind_rule *rule = find_unwind_rule(m, addrs[i]);
		if (rule)
			(void)*(volatile const char *)rule;
		const struct cg_lines_header *h = module_lines(m);
		if (h) {
			struct cg_location loc;
			if (find_line(h, addrs[i], &loc))
				for (size_t k = 0; k < loc.file.len; k++)
					(void)*(volatile const char *)&loc.file.s[k];
			uint32_t rec = find_inline(h, addrs[i]);
			for (int depth = 0; rec != CG_NONE && depth < 64; depth++) {
				struct cg_str fn;
				struct cg_location site;
				uint32_t parent = CG_NONE;
				if (!inline_call(h, rec, &fn, &site, &parent))
					break;
				for (size_t k = 0; k < fn.len; k++)
					(void)*(volatile const char *)&fn.s[k];
				rec = parent;
			}
		}
	}
	munmap((void *)m->cache_map, m->cache_size);
	return result;
}
*/
import "C"

import "unsafe"

// LoadAndQuery loads the cache file at path with the C reader, as module 0 whose build-id
// is id (as the handler does at a crash when atCrash), and queries every table it publishes
// at each address. It returns 0 if the reader
// refused the file, 1 if it loaded it, 2 if it loaded it but the checksum failed; and at
// how many of the addresses a symbol was found.
func LoadAndQuery(path string, id []byte, addrs []uint64, atCrash bool) (status, named int) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	if len(id) == 0 {
		id = []byte{0}
	}
	if len(addrs) == 0 {
		addrs = []uint64{0}
	}
	var n C.int
	verify := C.int(0)
	if atCrash {
		verify = 1
	}
	status = int(C.load_and_query(cpath, (*C.uchar)(unsafe.Pointer(&id[0])), C.uint(len(id)),
		(*C.uint64_t)(unsafe.Pointer(&addrs[0])), C.int(len(addrs)), verify, &n))
	return status, int(n)
}
