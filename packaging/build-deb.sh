#!/usr/bin/env bash
# Builds floodgate_<version>_<arch>.deb from this checkout as from a clean one: copies the files
# git knows (tracked, or new and not ignored) to a temporary build directory, puts
# packaging/debian/ at its root, runs `dpkg-buildpackage -us -uc -b` and prints the .deb's path.
# Usage: packaging/build-deb.sh [OUT_DIR]   (default packaging/out; the build log goes there too)
# Needs: dpkg-dev, debhelper, nodejs (>= 18.20) with npm, and the npm registry or a warm npm cache.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$here/packaging/out}" && cd "${1:-$here/packaging/out}" && pwd)

version=$(dpkg-parsechangelog -l "$here/packaging/debian/changelog" -S Version)
npm_version=$(node -p 'require(process.argv[1]).version' "$here/package.json")
if [ "${version%%-*}" != "$npm_version" ]; then
  echo "build-deb: debian/changelog says $version but package.json says $npm_version" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/floodgate-deb.XXXXXX)
cleanup() { if [ "${FLOODGATE_KEEP_BUILD:-}" = 1 ]; then echo "build-deb: kept $tmp" >&2; else rm -rf "$tmp"; fi; }
trap cleanup EXIT
src="$tmp/floodgate-$version"
mkdir -p "$src"

# Only what a fresh clone would hold: never node_modules/, dist/, state/ or test peers.
if git -C "$here" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$here" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"; done | tar --null -T - -cf -) | tar -C "$src" -xf -
else
  tar -C "$here" --exclude=./node_modules --exclude=./dist --exclude=./.test-deps --exclude=./state \
    --exclude=./packaging/out -cf - . | tar -C "$src" -xf -
fi
cp -a "$here/packaging/debian" "$src/debian"

log="$out/build.log"
started=$(date +%s)
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "build-deb: dpkg-buildpackage failed; full log in $log" >&2
  exit 1
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb="floodgate_${version}_${arch}.deb"
for f in "$tmp"/floodgate_"${version}"_*; do mv -f "$f" "$out/"; done
echo "build-deb: built in $(( $(date +%s) - started ))s, log in $log" >&2
echo "$out/$deb"
