#!/usr/bin/env bash
# tests/run.sh — the whole test suite, from a fresh machine.
#
# Installs what the tests compile and run with when missing (gcc, g++, binutils, gdb and
# llvm-symbolizer as ground truth, clang for clang-built crashers, util-linux tools, groff
# to check the manual pages, dpkg to build and install the Debian package, Breakpad's
# minidump tools from npm, the debuginfod server and client of elfutils),
# checks formatting and static analysis (gofmt, go vet, the C sources with -Wall -Wextra
# -Werror), then runs every Go test: unit tests of the parsers and the integration tests in
# tests/, which build libcrashguard.so and run small crashers under it.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in gcc:gcc g++:g++ nm:binutils objcopy:binutils gdb:gdb setpriv:util-linux \
            unshare:util-linux llvm-symbolizer:llvm clang:clang xz:xz-utils groff:groff-base \
            dpkg-deb:dpkg debuginfod:debuginfod debuginfod-find:debuginfod; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! python3 -c 'import jsonschema' 2>/dev/null && ! /usr/bin/python3 -c 'import jsonschema' 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-jsonschema >/dev/null
fi
command -v go >/dev/null || { echo "tests/run.sh: Go is required (see go.mod)" >&2; exit 1; }
# Breakpad's dump_syms and minidump_stackwalk (prebuilt, linux-x64) check the minidumps
# (tests/minidump_test.go); tests/.tools is ignored by git.
if [ ! -x tests/.tools/node_modules/minidump/bin/linux-x64/minidump_stackwalk ]; then
  command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
  mkdir -p tests/.tools
  npm install --ignore-scripts --no-audit --no-fund --prefix tests/.tools minidump@0.26.0 >/dev/null
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed: $unformatted" >&2; exit 1
fi
echo "== go vet"
go vet ./...
echo "== C: -std=gnu11 -Wall -Wextra -Werror"
for f in *.c sigsafe/*.c; do
  gcc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-trigraphs -fsyntax-only "$f"
done
echo "== go test"
go test -count=1 -timeout 40m ./...
echo "== fuzz (bounded): parsers of files a host can present"
for target in preload:FuzzELFSymbols preload:FuzzEhFrame dwarfcache:FuzzDecodeCache dwarfcache:FuzzExtract \
              tests/configfuzz:FuzzConfig tests/cachefuzz:FuzzCacheReader; do
  go test -run '^$' -fuzz "^${target#*:}\$" -fuzztime 10s "./${target%%:*}"
done
