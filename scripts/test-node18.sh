#!/usr/bin/env bash
# Runs the built service and the integration tests under Debian 12's own Node.js 18, the oldest
# runtime the Debian package's Depends allows. Debian's nodejs and libnode are unpacked into
# .test-deps/node18 with apt-get download and dpkg -x: the machine's installed node is untouched.
# Usage: scripts/test-node18.sh [jest options]   (after npm install and npm run build; as root)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root="$here/.test-deps/node18"
cd "$here"

if [ ! -x "$root/usr/bin/node" ]; then
  version=$(apt-cache madison nodejs | awk -F' *[|] *' '$2 ~ /^18\./ {print $2; exit}')
  if [ -z "$version" ]; then echo "test-node18: apt knows no nodejs 18 (apt-get update?)" >&2; exit 1; fi
  libnode=$(apt-cache depends "nodejs=$version" | awk '/Depends: libnode/ {print $2; exit}')
  pkgs=("nodejs=$version" "$libnode=$version")
  # libnode's libraries the machine lacks, and the node-* packages: the JavaScript builtins (acorn,
  # cjs-module-lexer, undici) that Debian's node loads from /usr/share/nodejs when it starts.
  for dep in $(apt-cache depends "nodejs=$version" "$libnode=$version" | awk '/ Depends: [^<]/ {print $2}' | sort -u); do
    case "$dep" in
      nodejs | "$libnode") ;;
      node-*) pkgs+=("$dep") ;;
      *) dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'ok installed' || pkgs+=("$dep") ;;
    esac
  done
  echo "test-node18: unpacking ${pkgs[*]} into $root"
  tmp=$(mktemp -d)
  chmod 777 "$tmp" # apt-get download writes as the unprivileged _apt user
  (cd "$tmp" && apt-get download "${pkgs[@]}" >/dev/null)
  rm -rf "$root.partial" && mkdir -p "$root.partial"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$root.partial"; done
  rm -rf "$tmp" && mv "$root.partial" "$root"
fi
libdir=$(dirname "$(find "$root/usr/lib" -name 'libnode.so.*' -print -quit)")

# Debian's node 18 opens its builtins at paths compiled in (/usr/share/nodejs/...). In a private
# mount namespace the unpacked /usr/share is laid over the machine's, which nothing else sees.
# unshare and sh exec: the PID of "${node18[@]}" & is node's own.
node18=(unshare --mount --propagation private -- sh -ec '
  root=$1 libdir=$2; shift 2
  mount -t overlay overlay -o "lowerdir=$root/usr/share:/usr/share" /usr/share
  PATH="$root/usr/bin:$PATH" LD_LIBRARY_PATH="$libdir" exec "$root/usr/bin/node" "$@"' sh "$root" "$libdir")

v=$("${node18[@]}" --version)
case "$v" in v18.*) echo "test-node18: Debian's node $v" ;; *) echo "test-node18: expected node 18, got $v" >&2; exit 1 ;; esac

# The built service: LevelDB on disk, a unix socket, the admin socket, a clean SIGTERM.
[ -f dist/cli/main.js ] || { echo "test-node18: run npm run build first" >&2; exit 1; }
work=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
printf 'listen: unix:%s/milter.sock\nstate_dir: state\n' "$work" >"$work/floodgate.yml"
# With the node flags of main.js's #! line, as every launcher passes them (Node 18 must accept them too).
read -r -a flags <<<"$(head -1 dist/cli/main.js | sed -n 's|^#!/usr/bin/env -S node||p')"
"${node18[@]}" "${flags[@]}" dist/cli/main.js run --config "$work/floodgate.yml" >"$work/service.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '"listening"' "$work/service.log" && break; sleep 0.1; done
grep -q '"listening"' "$work/service.log" || { cat "$work/service.log" >&2; echo "test-node18: the service did not start" >&2; exit 1; }
"${node18[@]}" dist/cli/main.js scores top --config "$work/floodgate.yml" | grep -q 'no scores'
kill -TERM "$pid"
wait "$pid" && pid= || { cat "$work/service.log" >&2; echo "test-node18: the service did not stop cleanly" >&2; exit 1; }
grep -q '"stopped"' "$work/service.log"
echo "test-node18: service started, answered the admin socket and stopped under node $v"

"${node18[@]}" node_modules/jest/bin/jest.js --selectProjects integration --maxWorkers=2 "$@"
# The wire fuzzer, alone as in the main run; 100,000 conversations ran there, 20,000 check node 18.
FLOODGATE_FUZZ_CONVERSATIONS=${FLOODGATE_FUZZ_CONVERSATIONS:-20000} \
  "${node18[@]}" node_modules/jest/bin/jest.js --selectProjects fuzz --runInBand
