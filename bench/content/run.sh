#!/usr/bin/env bash
# The content stage's benchmarks (issue 17, "Measure"); writes bench/results/content.json.
#
#   sudo bash bench/content/run.sh memory       # 50 MB messages with a 40 MB attachment, 16 at once: RSS rise (~1 min)
#   sudo bash bench/content/run.sh throughput   # 20 KiB and 1 MiB messages: Floodgate, C libmilter, rspamd, Node floor (~7 min)
#   sudo bash bench/content/run.sh envelope     # envelope sessions, shipped rules: this build against CONTENT_BASE_REF (~4 min)
#   sudo bash bench/content/run.sh all          # the three above
#   sudo bash bench/content/run.sh profile      # node --cpu-prof of Floodgate with content rules (CONTENT_PROFILE_SIZE=20k|1m)
#   sudo CONTENT_QUICK=1 bash bench/content/run.sh all   # a short run that proves the benches work (~6 min)
#
# Needs root: installs what is missing from Debian's packages (rspamd, redis-server, libmilter-dev,
# gcc), runs rspamd as user _rspamd. Builds into bench/results/tmp/ (git-ignored): the load generator,
# ref-body (bench/ref-milter/ref-body.c), Floodgate from the work tree, and Floodgate at
# CONTENT_BASE_REF (default 1c6bdec, the build before the content stage) for `envelope`.
# Settings of each part: the header of bench/content/content-bench.ts.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
tmp=bench/results/tmp
part=${1:-all}
if [ "$(id -u)" != 0 ]; then echo "run.sh: run as root (it installs packages and starts rspamd as _rspamd)" >&2; exit 1; fi

need=()
for pkg in rspamd redis-server libmilter-dev gcc libc6-dev; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ -d node_modules ] || npm install --no-audit --no-fund

mkdir -p "$tmp/bin"
rm -f "$tmp/bin/milter-load"   # rebuilt by ensureGenerator below, from the current sources
gcc -O2 -Wall -Wextra -o "$tmp/bin/ref-body" bench/ref-milter/ref-body.c -lmilter -lpthread

echo "building Floodgate from the work tree"
rm -rf "$tmp/floodgate"
npx tsc -p tsconfig.build.json --outDir "$tmp/floodgate"
export FLOODGATE_CLI="$repo/$tmp/floodgate/cli/main.js"

if [ "$part" = envelope ] || [ "$part" = all ]; then
  export CONTENT_BASE_REF=${CONTENT_BASE_REF:-1c6bdec}
  echo "building Floodgate at $CONTENT_BASE_REF"
  src="$tmp/src-base"
  rm -rf "$src" && mkdir -p "$src"
  git archive "$CONTENT_BASE_REF" src rules config package.json tsconfig.json tsconfig.build.json | tar -x -C "$src"
  (cd "$src" && npx tsc -p tsconfig.build.json)
  export CONTENT_BASE_CLI="$repo/$src/dist/cli/main.js"
fi

npx tsc -p tsconfig.json --outDir "$tmp/js" || echo "run.sh: tsc reported type errors (above); going on with the emitted JavaScript"
node -e 'console.log(require(process.argv[1]).ensureGenerator())' "$repo/$tmp/js/bench/milter-load/bench-support.js"

if [ "${CONTENT_QUICK:-0}" = 1 ]; then
  export CONTENT_RUNS=${CONTENT_RUNS:-1} CONTENT_DURATION=${CONTENT_DURATION:-4} CONTENT_ENVELOPE_PAIRS=${CONTENT_ENVELOPE_PAIRS:-3} CONTENT_MEMORY_SECONDS=${CONTENT_MEMORY_SECONDS:-20}
fi
node "$tmp/js/bench/content/content-bench.js" "$part"
