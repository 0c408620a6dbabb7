#!/usr/bin/env bash
# The whole test suite, as the README and CI run it: installs the real peers (Postfix, Sendmail,
# miltertest) when missing, compiles, and runs unit, integration and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npm run --silent build
npx tsc -p tsconfig.json --noEmit
# Two workers: each end-to-end file runs its own private MTA instances on ports it picks.
npx jest --maxWorkers=2 "$@"
