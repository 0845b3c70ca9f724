#include "go_offsets.h"

/* volatile: the compiler must read the patched bytes, not fold the zeros below. */
__attribute__((used)) volatile const struct cg_go_offsets cg_go_offsets = {"CRASHGUARD-GOOFF", 0, 0};
