#!/usr/bin/env bash
# build.sh — builds libcrashguard.so at the repository root (or at the path given), and the
# crashguard command beside it.
#
#   ./build.sh [output.so]        # writes output.so and crashguard in the same directory
#
# Needs Go (go.mod's version), gcc and binutils.  The library has two parts:
#   1. the Go part: go build -buildmode=c-shared of this module (export.go, preload/,
#      dwarfcache/, debuginfod/), exporting nothing.  It only ever runs in the helper
#      process.  Built without net/http's HTTP/2 (tag nethttpomithttp2: debuginfod servers
#      speak HTTP/1.1; 0.45 MB less);
#   2. the C part: the handler (sigsafe/), the interposers, the constructor and the helper's
#      entry (helper_main.c: the library is also a program, run by the dynamic loader),
#      compiled with gcc, linked with a version script (export only what we interpose) and
#      -z now (no lazy binding: the handler must never enter the loader);
#   3. the Go part embedded in the C part as the non-allocated section .crashguard_go, which
#      the loader never maps: only the helper loads it (go_part.c);
#   4. a check of the exported symbols;
#   5. the crashguard command (cmd/crashguard), next to the library.
# Both carry the same version (the VERSION file) and build (a hash of the sources they are
# built from): `crashguard --version` and `libcrashguard.so --version` print the same line.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
out=${1:-$root/libcrashguard.so}
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

for tool in go gcc nm objcopy strip sha256sum; do
  command -v "$tool" >/dev/null || { echo "build.sh: '$tool' not found (apt-get install golang gcc binutils)" >&2; exit 1; }
done
fail() { echo "build.sh: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"

# The version and the build: the same in the library and the command.
version=$(tr -d ' \n' < VERSION)
[[ "$version" =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || fail "VERSION: '$version' is not a version"
build_id=$(find . -path ./tests -prune -o -path ./bench -prune -o -path ./packaging -prune -o \
             -path ./.git -prune -o -type f \( -name '*.c' -o -name '*.h' -o -name '*.go' -o -name '*.map' \
             -o -name go.mod -o -name go.sum -o -name VERSION -o -name build.sh \) ! -name '*_test.go' -print |
           LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)

# 1. The Go part.
echo '{ local: *; };' > "$tmp/go-part.map"
CGO_ENABLED=1 go build -buildmode=c-shared -trimpath -tags nethttpomithttp2 \
  -ldflags="-w -extldflags '-Wl,--version-script=$tmp/go-part.map -Wl,-z,now -Wl,-z,relro'" \
  -o "$tmp/go-part.so" .
go_part=$tmp/go-part.so

strip --strip-all "$go_part"
[ -z "$(nm -D --defined-only "$go_part" 2>/dev/null)" ] || fail "the Go part exports symbols: $(nm -D --defined-only "$go_part" | awk '{print $3}' | tr '\n' ' ')"
# Names the Go part's copy in the cache directory (go_part.c): a new image, a new name.
go_part_id=$(sha256sum "$go_part" | cut -c1-32)

# 2. The C part.
gcc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wno-trigraphs -Wno-unused-parameter \
  -fPIC -ftls-model=initial-exec -fno-omit-frame-pointer -fno-stack-protector \
  -DCG_GO_PART_ID="\"$go_part_id\"" -DCG_VERSION="\"$version\"" -DCG_BUILD="\"$build_id\"" -shared -o "$out" ./*.c sigsafe/*.c \
  -Wl,--version-script="$root/exports.map" -Wl,-z,now -Wl,-z,relro -Wl,--build-id \
  -Wl,-e,cg_helper_entry

# 3. The Go part inside it, in a section no segment covers.
objcopy --add-section .crashguard_go="$go_part" --set-section-flags .crashguard_go=contents,readonly "$out"

# 4. Only the interposed functions may be exported.
exported=$(nm -D --defined-only "$out" | awk '{ print $3 }' | LC_ALL=C sort | tr '\n' ' ')
[ "$exported" = "__sigaction __sysv_signal bsd_signal dlopen pthread_create sigaction sigignore siginterrupt signal sigset ssignal sysv_signal " ] || fail "unexpected exported symbols: $exported"

# 5. The command, beside the library.
cmd_out=$(dirname "$out")/crashguard
go build -trimpath -ldflags="-X main.version=$version -X main.build=$build_id" \
  -o "$cmd_out" ./cmd/crashguard
echo "built $out and $cmd_out (crashguard $version, build $build_id)"
