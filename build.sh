#!/usr/bin/env bash
# build.sh — builds libcrashguard.so at the repository root (or at the path given).
#
#   ./build.sh [output.so]
#
# Needs Go (go.mod's version) and a C compiler for cgo.  Steps:
#   1. go build -buildmode=c-shared, linked with a version script (export only what we
#      interpose) and -z now (no lazy binding: the handler must never enter the loader);
#   2. write the Go runtime's init-entry and signal-table offsets into the library
#      (go_offsets.h explains why they cannot be linked in);
#   3. check the exported symbols.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
out=${1:-$root/libcrashguard.so}
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

for tool in go gcc nm grep dd; do
  command -v "$tool" >/dev/null || { echo "build.sh: '$tool' not found" >&2; exit 1; }
done

cd "$root"
CGO_ENABLED=1 go build -buildmode=c-shared -trimpath \
  -ldflags="-w -extldflags '-Wl,--version-script=$root/exports.map -Wl,-z,now -Wl,-z,relro'" \
  -o "$out" .
rm -f "${out%.so}.h"

# 2. Offsets, little-endian, right after the 16-byte magic.
sym() { nm "$out" | awk -v s="$1" '$3 == s && !found { print $1; found = 1 }'; }
rt0=$(sym _rt0_amd64_linux_lib)
sigtable=$(sym runtime.sigtable)
if [ -z "$rt0" ] || [ -z "$sigtable" ]; then
  echo "build.sh: Go runtime symbols not found (rt0='$rt0' sigtable='$sigtable')" >&2; exit 1
fi
magic_at=$(grep -obUa 'CRASHGUARD-GOOFF' "$out" | cut -d: -f1)
if [ "$(printf '%s\n' "$magic_at" | wc -l)" != 1 ] || [ -z "$magic_at" ]; then
  echo "build.sh: offset marker not found exactly once" >&2; exit 1
fi
le64() { local v=$((16#$1)) i; for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(( (v >> (8*i)) & 255 )))"; done; }
{ le64 "$rt0"; le64 "$sigtable"; } | dd of="$out" bs=1 seek=$((magic_at + 16)) conv=notrunc status=none

# 3. Only the interposed functions may be exported.
exported=$(nm -D --defined-only "$out" | awk '{ print $3 }' | sort | tr '\n' ' ')
if [ "$exported" != "dlclose dlopen pthread_create sigaction signal " ]; then
  echo "build.sh: unexpected exported symbols: $exported" >&2; exit 1
fi
echo "built $out"
