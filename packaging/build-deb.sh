#!/usr/bin/env bash
# packaging/build-deb.sh — builds crashguard_<version>_amd64.deb with dpkg-deb (nothing else
# of Debian's tooling), into OUTDIR (default: the repository root).
#
#   packaging/build-deb.sh [OUTDIR]
#
# CRASHGUARD_BUILT=DIR takes libcrashguard.so and crashguard from DIR (as build.sh wrote them)
# instead of building them again (the tests do).
#
# The package: the library in the multiarch directory (/usr/lib/x86_64-linux-gnu), the
# command in /usr/bin, the manual pages crashguard(1) and libcrashguard(8) generated from
# docs/crashguard.md (packaging/manpage), bash completion, the documents, and a dpkg file
# trigger whose postinst warms the system cache with what each later package installs
# (packaging/debian/, docs/crashguard.md "THE DEBIAN PACKAGE").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
outdir=${1:-$root}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
fail() { echo "build-deb.sh: $*" >&2; exit 1; }
for tool in dpkg-deb gzip go; do
  command -v "$tool" >/dev/null || fail "'$tool' not found"
done
version=$(tr -d ' \n' < "$root/VERSION")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
# Reproducible: the pages' date and every file's time are the last commit's (or VERSION's).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || stat -c %Y "$root/VERSION")}

built=${CRASHGUARD_BUILT:-$tmp/build}
if [ -z "${CRASHGUARD_BUILT:-}" ]; then
  mkdir -p "$built"
  "$root/build.sh" "$built/libcrashguard.so" >/dev/null
fi
[ -f "$built/libcrashguard.so" ] && [ -x "$built/crashguard" ] || fail "$built: no libcrashguard.so and crashguard"
install -D -m 0755 "$built/libcrashguard.so" "$stage/usr/lib/x86_64-linux-gnu/libcrashguard.so"
install -D -m 0755 "$built/crashguard" "$stage/usr/bin/crashguard"

man=$stage/usr/share/man
mkdir -p "$man/man1" "$man/man8"
(cd "$root" && go run ./packaging/manpage -name crashguard -section 1 -version "$version" \
   -sections "NAME,SYNOPSIS,COMMANDS,EXIT STATUS,THE DEBIAN PACKAGE,ENVIRONMENT,FILES,SEE ALSO" \
   docs/crashguard.md) | gzip -9n > "$man/man1/crashguard.1.gz"
(cd "$root" && go run ./packaging/manpage -name libcrashguard -section 8 -version "$version" \
   -sections "NAME,SYNOPSIS,ENVIRONMENT,FILES,SEE ALSO" docs/crashguard.md) | gzip -9n > "$man/man8/libcrashguard.8.gz"

install -D -m 0644 "$root/packaging/crashguard.bash-completion" "$stage/usr/share/bash-completion/completions/crashguard"
doc=$stage/usr/share/doc/crashguard
install -d -m 0755 "$doc"
install -m 0644 "$root/README.md" "$root"/docs/*.md "$root/docs/report.schema.json" "$doc/"
install -m 0644 "$root/LICENSE" "$doc/copyright"
# Where the trigger's runs write: shipped, so that postinst needs no other tool to make them.
install -d -m 0755 "$stage/var/cache/crashguard" "$stage/var/log/crashguard"

install -d -m 0755 "$stage/DEBIAN"
install -m 0755 "$root/packaging/debian/postinst" "$root/packaging/debian/postrm" "$stage/DEBIAN/"
install -m 0644 "$root/packaging/debian/triggers" "$stage/DEBIAN/"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" "$root/packaging/debian/control.in" > "$stage/DEBIAN/control"
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb=$outdir/crashguard_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "built $deb"
