#!/usr/bin/env bash
# build.sh — builds libcrashguard.so at the repository root (or at the path given).
#
#   ./build.sh [output.so]
#
# Needs Go (go.mod's version), gcc and binutils.  The library has two parts (go_part.c):
#   1. the Go part: go build -buildmode=c-shared of this module (export.go, preload/,
#      dwarfcache/), exporting nothing; SIGCHLD's "unblock" flag is cleared in the Go
#      runtime's signal table (research go-cshared-preload §12);
#   2. the C part: the handler (sigsafe/), the interposers and the constructor, compiled with
#      gcc, linked with a version script (export only what we interpose) and -z now (no lazy
#      binding: the handler must never enter the loader);
#   3. the Go part embedded in the C part as the non-allocated section .crashguard_go, which
#      the loader never maps: only a process with tables to compute loads it;
#   4. a check of the exported symbols.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
out=${1:-$root/libcrashguard.so}
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

for tool in go gcc nm readelf objcopy strip od sha256sum dd; do
  command -v "$tool" >/dev/null || { echo "build.sh: '$tool' not found (apt-get install golang gcc binutils)" >&2; exit 1; }
done
fail() { echo "build.sh: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"

# 1. The Go part.
echo '{ local: *; };' > "$tmp/go-part.map"
CGO_ENABLED=1 go build -buildmode=c-shared -trimpath \
  -ldflags="-w -extldflags '-Wl,--version-script=$tmp/go-part.map -Wl,-z,now -Wl,-z,relro'" \
  -o "$tmp/go-part.so" .
go_part=$tmp/go-part.so

# File offset of a virtual address, from the section holding it.
file_offset() {
  local a=$((16#$1)) type addr off size
  while read -r type addr off size; do
    if [ "$type" != NOBITS ] && [ $((16#$addr)) -le $a ] && [ $a -lt $((16#$addr + 16#$size)) ]; then
      echo $((a - 16#$addr + 16#$off)); return
    fi
  done < <(readelf -SW "$go_part" | sed -n 's/^ *\[ *[0-9]*\] [^ ]* *\([A-Z_]*\) *\([0-9a-f]*\) \([0-9a-f]*\) \([0-9a-f]*\) .*/\1 \2 \3 \4/p')
}
read_i32() { od -An -t d4 -j "$1" -N 4 "$go_part" | tr -d ' '; }

# runtime.sigtable: 65 entries {flags int32; name string} of 24 bytes.  Go's threads unblock
# every signal marked _SigUnblock, SIGCHLD among them, so a host reading SIGCHLD from a
# signalfd would lose it to a Go thread.  The flag is the one bit SIGCHLD shares with SIGSEGV
# and not with SIGHUP; any other layout fails the build.
read -r table_addr table_size < <(nm -S "$go_part" | awk '$4 == "runtime.sigtable" { print $1, $2; exit }')
[ -n "${table_addr:-}" ] && [ $((16#$table_size)) = $((65 * 24)) ] || fail "runtime.sigtable not found or not 65 x 24 bytes"
table=$(file_offset "$table_addr")
[ -n "$table" ] || fail "runtime.sigtable is not in the file"
hup=$(read_i32 $((table + 1 * 24))) segv=$(read_i32 $((table + 11 * 24))) chld=$(read_i32 $((table + 17 * 24)))
unblock=$(( chld & segv & ~hup ))
[ "$unblock" -gt 0 ] && [ $(( unblock & (unblock - 1) )) = 0 ] || fail "unexpected runtime.sigtable flags (HUP $hup SEGV $segv CHLD $chld)"
le32() { local v=$1 i; for i in 0 1 2 3; do printf "\\x$(printf %02x $(( (v >> (8*i)) & 255 )))"; done; }
le32 $(( chld & ~unblock )) | dd of="$go_part" bs=1 seek=$((table + 17 * 24)) conv=notrunc status=none

strip --strip-all "$go_part"
[ -z "$(nm -D --defined-only "$go_part" 2>/dev/null)" ] || fail "the Go part exports symbols: $(nm -D --defined-only "$go_part" | awk '{print $3}' | tr '\n' ' ')"
# Names the Go part's copy in the cache directory (go_part.c): a new image, a new name.
go_part_id=$(sha256sum "$go_part" | cut -c1-32)

# 2. The C part.
gcc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wno-trigraphs -Wno-unused-parameter \
  -fPIC -ftls-model=initial-exec -fno-omit-frame-pointer -fno-stack-protector \
  -DCG_GO_PART_ID="\"$go_part_id\"" -shared -o "$out" ./*.c sigsafe/*.c \
  -Wl,--version-script="$root/exports.map" -Wl,-z,now -Wl,-z,relro -Wl,--build-id

# 3. The Go part inside it, in a section no segment covers.
objcopy --add-section .crashguard_go="$go_part" --set-section-flags .crashguard_go=contents,readonly "$out"

# 4. Only the interposed functions may be exported.
exported=$(nm -D --defined-only "$out" | awk '{ print $3 }' | LC_ALL=C sort | tr '\n' ' ')
[ "$exported" = "__sigaction __sysv_signal bsd_signal dlclose dlopen pthread_create sigaction sigignore siginterrupt signal sigset ssignal sysv_signal " ] || fail "unexpected exported symbols: $exported"
echo "built $out"
